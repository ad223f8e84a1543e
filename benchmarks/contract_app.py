"""The benchmark / conformance contract app (``../shared/bench/CONTRACT.md``) on our runtimes.

One command per runtime::

    python -m benchmarks.contract_app --runtime uvicorn --port 18050
    python -m benchmarks.contract_app --runtime hypercorn --port 18050
    python -m benchmarks.contract_app --runtime daphne --port 18050
    python -m benchmarks.contract_app --runtime werkzeug --port 18050

Settings come from the environment: ``EIO_PING_INTERVAL`` and ``EIO_PING_TIMEOUT``
(ms), ``EIO_MAX_PAYLOAD`` (bytes). CORS allows any origin; EIO 3 and 4 are served.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from typing import Any

import engineio_core

RUNTIMES = ("uvicorn", "hypercorn", "daphne", "werkzeug")


def options() -> dict[str, Any]:
    """Server options from the contract's environment variables."""
    return {
        "ping_interval": int(os.environ.get("EIO_PING_INTERVAL", "25000")) / 1000,
        "ping_timeout": int(os.environ.get("EIO_PING_TIMEOUT", "20000")) / 1000,
        "max_http_buffer_size": int(os.environ.get("EIO_MAX_PAYLOAD", "1000000")),
        "cors_allowed_origins": "*",
        "cors_credentials": False,
    }


def register_async(eio: engineio_core.AsyncServer) -> set[str]:
    """Register the contract's handlers on an async server; returns the live sid set."""
    clients: set[str] = set()

    @eio.on("connect")
    def connect(sid: str, request: engineio_core.Request) -> None:
        clients.add(sid)

    @eio.on("disconnect")
    def disconnect(sid: str) -> None:
        clients.discard(sid)

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        command = _command(data)
        try:
            if command is None:
                await eio.send(sid, data)
            elif command[0] == "broadcast":
                for other in list(clients):
                    with contextlib.suppress(engineio_core.SessionUnknown):
                        await eio.send(other, command[1])
            elif command[0] == "count":
                await eio.send(sid, f"count:{len(clients)}")
            elif command[0] == "sleep":
                await eio.sleep(int(command[1]) / 1000)  # the handler itself waits
                await eio.send(sid, f"slept:{command[1]}")
            else:
                await eio.disconnect(sid)
        except engineio_core.SessionUnknown:
            pass  # closed meanwhile: a POST of `4hi<RS>1` delivers `hi` after its close

    return clients


def register_sync(eio: engineio_core.Server) -> set[str]:
    """Register the contract's handlers on a sync server; returns the live sid set."""
    clients: set[str] = set()

    @eio.on("connect")
    def connect(sid: str, request: engineio_core.Request) -> None:
        clients.add(sid)

    @eio.on("disconnect")
    def disconnect(sid: str) -> None:
        clients.discard(sid)

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        command = _command(data)
        try:
            if command is None:
                eio.send(sid, data)
            elif command[0] == "broadcast":
                for other in list(clients):
                    with contextlib.suppress(engineio_core.SessionUnknown):
                        eio.send(other, command[1])
            elif command[0] == "count":
                eio.send(sid, f"count:{len(clients)}")
            elif command[0] == "sleep":
                eio.sleep(int(command[1]) / 1000)  # the handler itself waits (blocks its thread)
                eio.send(sid, f"slept:{command[1]}")
            else:
                eio.disconnect(sid)
        except engineio_core.SessionUnknown:
            pass  # closed meanwhile: a POST of `4hi<RS>1` delivers `hi` after its close

    return clients


def _command(data: str | bytes) -> tuple[str, str] | None:
    """``("broadcast", text)``, ``("count", "")``, ``("close", "")``, ``("sleep", MS)``
    (MS all digits), or ``None`` to echo."""
    if not isinstance(data, str) or not data.startswith("cmd:"):
        return None
    if data.startswith("cmd:broadcast:"):
        return ("broadcast", data[len("cmd:broadcast:"):])
    if data.startswith("cmd:sleep:"):
        ms = data[len("cmd:sleep:"):]
        return ("sleep", ms) if ms.isascii() and ms.isdigit() else None
    if data in ("cmd:count", "cmd:close"):
        return (data[4:], "")
    return None


def make_async_app() -> engineio_core.ASGIApp:
    """The contract app as an ASGI application."""
    eio = engineio_core.AsyncServer(**options())
    register_async(eio)
    return engineio_core.ASGIApp(eio)


def make_wsgi_app() -> engineio_core.WSGIApp:
    """The contract app as a WSGI application (threading backend)."""
    eio = engineio_core.Server(async_mode="threading", **options())
    register_sync(eio)
    return engineio_core.WSGIApp(eio)


def serve(runtime: str, port: int) -> None:
    """Run the contract app on ``runtime`` at 127.0.0.1:``port`` until SIGTERM."""
    host = "127.0.0.1"
    if runtime == "uvicorn":
        import uvicorn

        uvicorn.run(make_async_app(), host=host, port=port, backlog=1024,
                    log_level="warning", access_log=False, lifespan="on",
                    ws_per_message_deflate=False)
    elif runtime == "hypercorn":
        import asyncio

        from hypercorn.asyncio import serve as hypercorn_serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"{host}:{port}"]
        config.backlog = 1024
        config.accesslog = None
        config.loglevel = "WARNING"
        stop = asyncio.Event()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            loop.add_signal_handler(signal.SIGINT, stop.set)
            app: Any = make_async_app()
            await hypercorn_serve(app, config, shutdown_trigger=stop.wait)

        asyncio.run(main())
    elif runtime == "daphne":
        from daphne.cli import CommandLineInterface

        sys.argv = ["daphne", "-b", host, "-p", str(port), "--verbosity", "0",
                    "benchmarks.contract_app:asgi_app"]
        CommandLineInterface.entrypoint()
    elif runtime == "werkzeug":
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log
        server = make_server(host, port, make_wsgi_app(), threaded=True)
        server.socket.listen(1024)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        server.serve_forever()
    else:
        raise SystemExit(f"unknown runtime {runtime!r}; choose from {RUNTIMES}")


def __getattr__(name: str) -> Any:
    if name == "asgi_app":  # for daphne's "module:attribute" loader
        return make_async_app()
    raise AttributeError(name)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runtime", choices=RUNTIMES, default="uvicorn")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    serve(args.runtime, args.port)


if __name__ == "__main__":
    main()
