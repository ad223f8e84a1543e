"""sanic-engineio: Engine.IO (v3 and v4) for Sanic, polling and WebSocket on one path.

Quick start::

    from sanic import Sanic
    from sanic_engineio import SanicEngineIO

    app = Sanic("chat")
    app.config.ENGINEIO_CORS_ALLOWED_ORIGINS = "*"
    eio = SanicEngineIO(app)

    @eio.on("message")
    async def message(sid, data):
        await eio.send(sid, data)

The optional sanic-ext extension lives in :mod:`sanic_engineio.extension`
(it imports ``sanic_ext``; this module does not).
"""

from __future__ import annotations

from engineio_core import ConnectionRefused, DisconnectReason

from .backend import SanicBackend
from .integration import (
    CONFIG_PREFIX,
    SanicEngineIO,
    get_server,
    make_handler,
    to_engine_request,
    to_sanic,
)
from .websocket import SanicWebSocket

__all__ = [
    "CONFIG_PREFIX",
    "ConnectionRefused",
    "DisconnectReason",
    "SanicBackend",
    "SanicEngineIO",
    "SanicWebSocket",
    "get_server",
    "make_handler",
    "to_engine_request",
    "to_sanic",
]

__version__ = "0.1.0"
