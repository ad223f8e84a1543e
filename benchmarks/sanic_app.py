"""The benchmark / conformance contract app (``../shared/bench/CONTRACT.md``) on Sanic.

One process, Sanic's own server, no access log::

    python -m benchmarks.sanic_app --port 18050

Settings come from the environment: ``EIO_PING_INTERVAL`` and ``EIO_PING_TIMEOUT``
(ms), ``EIO_MAX_PAYLOAD`` (bytes). CORS allows any origin; EIO 3 and 4 are served.
Sanic stops on SIGTERM (its own signal handlers), closing every session first.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sanic import Sanic

from sanic_engineio import SanicEngineIO

from .contract_app import options, register_async


def make_app(name: str = "eio_contract") -> Sanic[Any, Any]:
    """The contract app as a Sanic application."""
    app: Sanic[Any, Any] = Sanic(name)
    app.config.MOTD = False
    SanicEngineIO(app, **options())
    register_async(app.ctx.engineio)
    return app


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    make_app().run(host="127.0.0.1", port=args.port, single_process=True, access_log=False,
                   backlog=1024, motd=False)


if __name__ == "__main__":
    main()
