"""aiohttp-engineio example: an echo and broadcast page on aiohttp.

Run it from the repository root (the page loads engine.io-client from the demo's
``node_modules``: ``scripts/demo.sh`` or ``npm ci --prefix examples/demo`` installs it)::

    python examples/aiohttp/app.py                     # http://127.0.0.1:8080/
    PORT=9000 HOST=0.0.0.0 python examples/aiohttp/app.py

What it shows:

* ``aiohttp_engineio.setup(app, ...)`` returns the server to register handlers on;
* the server is reached from ordinary aiohttp routes with ``get_server(request.app)``,
  and keeps the sessions itself: ``POST /broadcast`` sends its body to every session
  (``server.broadcast``), ``GET /sessions`` lists them (``server.session_ids()``,
  ``server.count_sessions()``) as JSON;
* ``web.run_app`` runs it; Ctrl+C closes every session (WebSockets with 1001) on the
  way out, through the hooks ``setup`` installed.
"""

from __future__ import annotations

import os
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

    @eio.on("connect")
    def connect(sid: str, request: engineio_core.Request) -> None:
        print(f"{sid} connected from {request.client}")

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        await eio.send(sid, data)  # echo

    @eio.on("disconnect")
    def disconnect(sid: str, reason: engineio_core.DisconnectReason) -> None:
        print(f"{sid} left: {reason.value}")

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def client_js(request: web.Request) -> web.StreamResponse:
        if not CLIENT_JS.is_file():
            raise web.HTTPNotFound(text="run `npm ci --prefix examples/demo` first")
        return web.FileResponse(CLIENT_JS)

    async def broadcast(request: web.Request) -> web.Response:
        server = aiohttp_engineio.get_server(request.app)
        await server.broadcast(f"broadcast: {await request.text()}")
        return web.Response(text=f"sent to {await server.count_sessions()}\n")

    async def sessions(request: web.Request) -> web.Response:
        server = aiohttp_engineio.get_server(request.app)
        listing = {sid: server.transport(sid) for sid in server.session_ids()}
        return web.json_response({"count": await server.count_sessions(), "sessions": listing})

    app.router.add_get("/", index)
    app.router.add_get("/engine.io.js", client_js)
    app.router.add_post("/broadcast", broadcast)
    app.router.add_get("/sessions", sessions)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host=os.environ.get("HOST", "127.0.0.1"),
                port=int(os.environ.get("PORT", "8080")))
