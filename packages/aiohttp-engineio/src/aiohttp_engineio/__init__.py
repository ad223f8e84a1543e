"""aiohttp-engineio: Engine.IO (v3 and v4) for aiohttp applications.

Quick start::

    from aiohttp import web
    import aiohttp_engineio

    app = web.Application()
    eio = aiohttp_engineio.setup(app, cors_allowed_origins="*")   # serves /engine.io/

    @eio.on("message")
    async def message(sid, data):
        await eio.send(sid, data)

    web.run_app(app)

In a handler, ``aiohttp_engineio.get_server(request.app)`` returns the server.
"""

from __future__ import annotations

from .adapter import AiohttpWebSocket, make_handler
from .backend import AiohttpBackend
from .extension import SERVER_KEY, get_server, setup

__all__ = [
    "SERVER_KEY",
    "AiohttpBackend",
    "AiohttpWebSocket",
    "get_server",
    "make_handler",
    "setup",
]

__version__ = "0.1.0"
