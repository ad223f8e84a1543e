"""engineio-core: a sans-I/O Engine.IO (v3 and v4) server with ASGI and WSGI runtimes.

Quick start (ASGI)::

    import engineio_core

    eio = engineio_core.AsyncServer(cors_allowed_origins="*")

    @eio.on("message")
    async def message(sid, data):
        await eio.send(sid, data)

    app = engineio_core.ASGIApp(eio)   # uvicorn module:app
"""

from __future__ import annotations

from .asgi import ASGIApp
from .async_server import AsyncServer, AsyncWebSocket
from .backends import BackendUnavailable
from .base_server import MAX_QUEUED_EVENTS, BodyTooLarge, ConnectionRefused, MessageTooLarge
from .protocol.config import CookieOptions, ServerConfig
from .protocol.engine import SessionInfo
from .protocol.errors import (
    ConfigError,
    EngineIOError,
    ParseError,
    ProtocolError,
    ServerNotFound,
    SessionUnknown,
)
from .protocol.events import DisconnectReason, Refusal
from .protocol.http import Request, Response
from .protocol.session import State
from .server import Server, SyncWebSocket
from .wsgi import WSGIApp

__all__ = [
    "MAX_QUEUED_EVENTS",
    "ASGIApp",
    "AsyncServer",
    "AsyncWebSocket",
    "BackendUnavailable",
    "BodyTooLarge",
    "ConfigError",
    "ConnectionRefused",
    "CookieOptions",
    "DisconnectReason",
    "EngineIOError",
    "MessageTooLarge",
    "ParseError",
    "ProtocolError",
    "Refusal",
    "Request",
    "Response",
    "Server",
    "ServerConfig",
    "ServerNotFound",
    "SessionInfo",
    "SessionUnknown",
    "State",
    "SyncWebSocket",
    "WSGIApp",
]

__version__ = "0.1.0"
