"""flask-engineio example: an echo and broadcast page on Flask.

Run it from the repository root (the page loads engine.io-client from the demo's
``node_modules``: ``scripts/demo.sh`` or ``npm ci --prefix examples/demo`` installs it)::

    flask --app examples/flask/app.py run        # http://127.0.0.1:5000/
    python examples/flask/app.py                 # the same through eio.run(app)
    PORT=9000 HOST=0.0.0.0 python examples/flask/app.py

What it shows:

* the app-factory pattern: ``eio = FlaskEngineIO()`` at module level, handlers
  registered on it, ``eio.init_app(app)`` in ``create_app``;
* ``ENGINEIO_*`` keys in ``app.config`` configure the server;
* handlers run in the app context (``current_app``), the connect handler in the
  handshake's request context (``flask.request``);
* ordinary views reach the server, which keeps the sessions itself: ``POST /broadcast``
  sends its body to every session (``eio.broadcast``), ``GET /sessions`` lists them
  (``eio.session_ids()``, ``eio.count_sessions()``) as JSON; views have an app
  context, so ``eio`` finds the app's server.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from flask import Flask, current_app, request, send_file
from flask.typing import ResponseReturnValue

import engineio_core
from flask_engineio import FlaskEngineIO

CLIENT_JS = (Path(__file__).resolve().parents[1]
             / "demo/node_modules/engine.io-client/dist/engine.io.min.js")

PAGE = (Path(__file__).resolve().parent.parent / "echo.html").read_text()
"""The shared example page (the real engine.io-client, served from the demo's node_modules)."""

eio = FlaskEngineIO()


@eio.on("connect")
def connect(sid: str) -> None:
    current_app.logger.info("%s connected from %s (%s)", sid, request.remote_addr,
                            request.user_agent.string)


@eio.on("message")
def message(sid: str, data: str | bytes) -> None:
    eio.send(sid, data)  # echo


@eio.on("disconnect")
def disconnect(sid: str, reason: engineio_core.DisconnectReason) -> None:
    current_app.logger.info("%s left: %s", sid, reason.value)


def create_app() -> Flask:
    """The example application."""
    app = Flask(__name__)
    app.config["ENGINEIO_PING_INTERVAL"] = 25
    app.config["ENGINEIO_CORS_ALLOWED_ORIGINS"] = None  # same origin only
    eio.init_app(app)

    @app.get("/")
    def index() -> str:
        return PAGE

    @app.get("/engine.io.js")
    def client_js() -> ResponseReturnValue:
        if not CLIENT_JS.is_file():
            return "run `npm ci --prefix examples/demo` first", 404
        return send_file(CLIENT_JS, mimetype="application/javascript")

    @app.post("/broadcast")
    def broadcast() -> str:
        eio.broadcast(request.get_data(as_text=True))
        return f"sent to {eio.count_sessions()}\n"

    @app.get("/sessions")
    def sessions() -> dict[str, object]:
        listing = {}
        for sid in eio.session_ids():
            with contextlib.suppress(engineio_core.SessionUnknown):  # closed meanwhile
                listing[sid] = eio.transport(sid)
        return {"count": eio.count_sessions(), "sessions": listing}

    return app


app = create_app()

if __name__ == "__main__":
    eio.run(app, host=os.environ.get("HOST", "127.0.0.1"),
            port=int(os.environ.get("PORT", "5000")))
