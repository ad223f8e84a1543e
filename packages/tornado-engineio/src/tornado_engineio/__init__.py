"""tornado-engineio: Engine.IO (v3 and v4) for Tornado.

Quick start::

    import asyncio

    import engineio_core
    import tornado.web
    from tornado_engineio import engineio_routes, shutdown

    eio = engineio_core.AsyncServer(async_mode="tornado", cors_allowed_origins="*")

    @eio.on("message")
    async def message(sid, data):
        await eio.send(sid, data)

    async def main():
        app = tornado.web.Application([*engineio_routes(eio), ...])
        http_server = app.listen(8000)
        try:
            await asyncio.Event().wait()
        finally:
            await shutdown(eio, http_server)

    asyncio.run(main())
"""

from __future__ import annotations

from .backend import TornadoBackend
from .handler import EngineIOHandler, engineio_routes, shutdown
from .polling import SessionPollingRouter

__all__ = ["EngineIOHandler", "SessionPollingRouter", "TornadoBackend", "engineio_routes",
           "shutdown"]

__version__ = "0.1.0"
