"""The benchmark / conformance contract app (``../shared/bench/CONTRACT.md``) on Tornado.

::

    python -m benchmarks.tornado_app --port 18050

Settings come from the environment (``EIO_PING_INTERVAL``, ``EIO_PING_TIMEOUT`` in
ms, ``EIO_MAX_PAYLOAD`` in bytes); CORS allows any origin; EIO 3 and 4 are served;
permessage-deflate is off. Listens on 127.0.0.1 (backlog 1024), no access log;
SIGTERM closes every session and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal

import tornado.web
from tornado.httpserver import HTTPServer

import engineio_core
from benchmarks.contract_app import options, register_async
from tornado_engineio import engineio_routes, shutdown


def make_app() -> tuple[tornado.web.Application, engineio_core.AsyncServer]:
    """The contract app as a Tornado application, and its Engine.IO server."""
    eio = engineio_core.AsyncServer(async_mode="tornado", **options())
    register_async(eio)

    app = tornado.web.Application(engineio_routes(eio), log_function=lambda handler: None)
    return app, eio


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until SIGTERM or SIGINT."""
    app, eio = make_app()
    http_server: HTTPServer = app.listen(port, address="127.0.0.1", backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(shutdown(eio, http_server), 3)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
