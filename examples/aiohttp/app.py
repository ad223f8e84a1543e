"""aiohttp-engineio example: an echo and broadcast page on aiohttp.

Run it from the repository root (the page loads engine.io-client from the demo's
``node_modules``: ``scripts/demo.sh`` or ``npm ci --prefix examples/demo`` installs it)::

    python examples/aiohttp/app.py            # http://127.0.0.1:8080/

What it shows:

* ``aiohttp_engineio.setup(app, ...)`` returns the server to register handlers on;
* the server is reached from an ordinary aiohttp route with ``get_server(request.app)``
  (``POST /broadcast`` sends its body to every connected client);
* ``web.run_app`` runs it; Ctrl+C closes every session (WebSockets with 1001) on the
  way out, through the hooks ``setup`` installed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from aiohttp import web

import aiohttp_engineio
import engineio_core

CLIENT_JS = (Path(__file__).resolve().parents[1]
             / "demo/node_modules/engine.io-client/dist/engine.io.min.js")

PAGE = (Path(__file__).resolve().parent.parent / "echo.html").read_text()
"""The shared example page (the real engine.io-client, served from the demo's node_modules)."""


def make_app() -> web.Application:
    """The example application."""
    app = web.Application()
    eio = aiohttp_engineio.setup(app, cors_allowed_origins=None)
    clients: set[str] = set()

    @eio.on("connect")
    def connect(sid: str, request: engineio_core.Request) -> None:
        clients.add(sid)
        print(f"{sid} connected from {request.client}")

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        await eio.send(sid, data)  # echo

    @eio.on("disconnect")
    def disconnect(sid: str, reason: engineio_core.DisconnectReason) -> None:
        clients.discard(sid)
        print(f"{sid} left: {reason.value}")

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def client_js(request: web.Request) -> web.StreamResponse:
        if not CLIENT_JS.is_file():
            raise web.HTTPNotFound(text="run `npm ci --prefix examples/demo` first")
        return web.FileResponse(CLIENT_JS)

    async def broadcast(request: web.Request) -> web.Response:
        server = aiohttp_engineio.get_server(request.app)
        text = await request.text()
        for sid in list(clients):
            with contextlib.suppress(engineio_core.SessionUnknown):
                await server.send(sid, f"broadcast: {text}")
        return web.Response(text="sent\n")

    app.router.add_get("/", index)
    app.router.add_get("/engine.io.js", client_js)
    app.router.add_post("/broadcast", broadcast)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=8080)
