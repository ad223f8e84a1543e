"""The contract app (``../shared/bench/CONTRACT.md``) on aiohttp with aiohttp-engineio.

::

    python -m benchmarks.aiohttp_app --port 18050

Started with ``web.run_app`` like the ``raw-aiohttp-ws`` limit it is compared
with: 127.0.0.1, backlog 1024, no access log, the default asyncio loop; exits on
SIGTERM (``run_app`` handles it and runs the application's shutdown hooks).
Settings come from ``EIO_PING_INTERVAL`` / ``EIO_PING_TIMEOUT`` (ms) and
``EIO_MAX_PAYLOAD`` (bytes), and ``EIO_CLUSTER_REDIS`` for the cluster mode; the
handlers are the contract's (:func:`benchmarks.contract_app.register_async`).
"""

from __future__ import annotations

import argparse
import os

from aiohttp import web

import aiohttp_engineio
from benchmarks.contract_app import cluster_option, options, register_async


def make_app() -> web.Application:
    """The contract app as an aiohttp application."""
    app = web.Application()
    register_async(aiohttp_engineio.setup(app, **options(), **cluster_option()))
    return app


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, backlog=1024, access_log=None,
                print=None)


if __name__ == "__main__":
    main()
