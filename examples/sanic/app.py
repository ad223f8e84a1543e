"""sanic-engineio example: an echo and broadcast page on Sanic.

Run it from the repository root (the page loads engine.io-client from the demo's
``node_modules``: ``scripts/demo.sh`` or ``npm ci --prefix examples/demo`` installs it)::

    python examples/sanic/app.py              # http://127.0.0.1:8000/
    PORT=9000 HOST=0.0.0.0 python examples/sanic/app.py

What it shows:

* ``ENGINEIO_*`` keys in ``app.config`` configure the server (``SANIC_ENGINEIO_*``
  environment variables too); ``SanicEngineIO(app)`` mounts it on ``/engine.io/``;
* handlers are registered on the extension object (``@eio.on(...)``), and ordinary
  Sanic routes reach its server (``eio.server``), which keeps the sessions itself:
  ``POST /broadcast`` sends its body to every session (``broadcast``), ``GET /sessions``
  lists them (``session_ids()``, ``count_sessions()``) as JSON;
* ``app.run`` serves polling and WebSocket on the same path; Ctrl+C closes every
  session (WebSockets with 1001) through the ``before_server_stop`` listener.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sanic import Request, Sanic, response
from sanic.response import HTTPResponse

import engineio_core
from sanic_engineio import SanicEngineIO

CLIENT_JS = (Path(__file__).resolve().parents[1]
             / "demo/node_modules/engine.io-client/dist/engine.io.min.js")

PAGE = (Path(__file__).resolve().parent.parent / "echo.html").read_text()
"""The shared example page (the real engine.io-client, served from the demo's node_modules)."""


def make_app() -> Sanic[Any, Any]:
    """The example application."""
    app: Sanic[Any, Any] = Sanic("sanic_engineio_example")
    app.config.ENGINEIO_PING_INTERVAL = 25
    app.config.ENGINEIO_CORS_ALLOWED_ORIGINS = None  # same origin only
    eio = SanicEngineIO(app)

    @eio.on("connect")
    def connect(sid: str, request: engineio_core.Request) -> None:
        print(f"{sid} connected from {request.client}")

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        await eio.send(sid, data)  # echo

    @eio.on("disconnect")
    def disconnect(sid: str, reason: engineio_core.DisconnectReason) -> None:
        print(f"{sid} left: {reason.value}")

    @app.get("/")
    async def index(request: Request) -> HTTPResponse:
        return response.html(PAGE)

    @app.get("/engine.io.js")
    async def client_js(request: Request) -> HTTPResponse:
        if not CLIENT_JS.is_file():
            return response.text("run `npm ci --prefix examples/demo` first", status=404)
        return await response.file(CLIENT_JS, mime_type="application/javascript")

    @app.post("/broadcast")
    async def broadcast(request: Request) -> HTTPResponse:
        await eio.server.broadcast(request.body.decode())
        return response.text(f"sent to {await eio.server.count_sessions()}\n")

    @app.get("/sessions")
    async def sessions(request: Request) -> HTTPResponse:
        server = eio.server
        listing = {sid: server.transport(sid) for sid in server.session_ids()}
        return response.json({"count": await server.count_sessions(), "sessions": listing})

    return app


app = make_app()

if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")),
            single_process=True)
