"""Engine.IO on Tornado: an echo server with a one-page client.

Run it from the repository root (``scripts/demo.sh`` installs the npm client the
page loads from ``examples/demo/node_modules``)::

    .venv/bin/python examples/tornado/app.py        # then open http://127.0.0.1:8000/
    PORT=9000 HOST=0.0.0.0 .venv/bin/python examples/tornado/app.py

Messages starting with ``all:`` go to every session (``eio.broadcast``); anything
else is echoed to its sender. ``GET /sessions`` lists the server's sessions
(``eio.session_ids()``, ``eio.count_sessions()``) as JSON: the server keeps them, the
example keeps no list of its own. Ctrl-C (or SIGTERM) closes every session before
exiting.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import tornado.web

import engineio_core
from tornado_engineio import engineio_routes, shutdown

CLIENT_JS = Path(__file__).resolve().parents[1] / "demo/node_modules/engine.io-client/dist"

PAGE = (Path(__file__).resolve().parent.parent / "echo.html").read_text()
"""The shared example page (the real engine.io-client, served from the demo's node_modules)."""

eio = engineio_core.AsyncServer(async_mode="tornado")


@eio.on("message")
async def message(sid: str, data: str | bytes) -> None:
    if isinstance(data, str) and data.startswith("all:"):
        await eio.broadcast(f"{sid[:4]}: {data[4:]}")
    else:
        await eio.send(sid, data)


class IndexHandler(tornado.web.RequestHandler):
    """The client page."""

    def get(self) -> None:
        self.write(PAGE)


class SessionsHandler(tornado.web.RequestHandler):
    """The open sessions and their transports, as JSON."""

    async def get(self) -> None:
        listing = {sid: eio.transport(sid) for sid in eio.session_ids()}
        self.write({"count": await eio.count_sessions(), "sessions": listing})


def make_app() -> tornado.web.Application:
    """The application: the page, the client script, the session list and Engine.IO at
    ``/engine.io/``."""
    return tornado.web.Application([
        (r"/", IndexHandler),
        (r"/sessions", SessionsHandler),
        (r"/static/(.*)", tornado.web.StaticFileHandler, {"path": str(CLIENT_JS)}),
        *engineio_routes(eio),
    ])


async def main(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until Ctrl-C or SIGTERM, then close every session."""
    http_server = make_app().listen(port, address=host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"serving on http://{host}:{port}/", flush=True)
    await stop.wait()
    await shutdown(eio, http_server)


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))))
