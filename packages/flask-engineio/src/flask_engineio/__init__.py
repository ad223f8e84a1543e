"""flask-engineio: Engine.IO (v3 and v4) for Flask, on every server Flask deploys with.

Quick start::

    from flask import Flask
    from flask_engineio import FlaskEngineIO

    app = Flask(__name__)
    eio = FlaskEngineIO(app)          # or FlaskEngineIO() + eio.init_app(app)

    @eio.on("message")
    def message(sid, data):
        eio.send(sid, data)

Run it with ``flask run`` (WebSocket included), ``eio.run(app)``, gunicorn or
uWSGI (docs/flask.md). The in-memory test client is
:class:`flask_engineio.testing.EngineIOTestClient` (``eio.test_client(app)``).
"""

from __future__ import annotations

from engineio_core import ConfigError, ConnectionRefused, DisconnectReason, SessionUnknown

from .config import CONFIG_PREFIX, DEFAULT_PATH, config_defaults
from .extension import EXTENSION_KEY, EngineIOState, FlaskEngineIO, get_server, get_state
from .testing import EngineIOTestClient

__all__ = [
    "CONFIG_PREFIX",
    "DEFAULT_PATH",
    "EXTENSION_KEY",
    "ConfigError",
    "ConnectionRefused",
    "DisconnectReason",
    "EngineIOState",
    "EngineIOTestClient",
    "FlaskEngineIO",
    "SessionUnknown",
    "config_defaults",
    "get_server",
    "get_state",
]

__version__ = "0.1.0"
