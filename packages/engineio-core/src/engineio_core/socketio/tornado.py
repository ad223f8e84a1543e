"""python-socketio's Tornado handler (``socketio.get_tornado_handler(sio)``) on our engine.

That handler is python-engineio's own ``tornado.websocket.WebSocketHandler``
subclass: it calls ``sio.eio.handle_request(self)`` for every polling request
and, once Tornado has completed a WebSocket handshake, from ``open()``; frames
reach it through ``on_message`` and are read back with ``get_next_message()``.
Served here with the request helpers of tornado-engineio. Because Tornado has
already answered 101 when the engine first sees an upgrade, a refused upgrade
(an unknown sid, a second WebSocket) is closed at once instead of answered 400:
``tornado_engineio.engineio_routes(sio, "/socket.io/")`` serves such requests
exactly, and faster.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Any

from ..base_server import BodyTooLarge
from ..protocol.http import Response

if TYPE_CHECKING:
    from ..async_server import AsyncServer

__all__ = ["serve_tornado_handler"]

_POLICY_VIOLATION = 1008


async def serve_tornado_handler(server: AsyncServer, handler: Any) -> None:
    """Serve the request of python-engineio's Tornado ``handler`` with ``server``."""
    from tornado_engineio.request import put_headers, to_engine_request

    request = to_engine_request(handler.request, handler)
    if handler.ws_connection is not None:  # called from open(): the WebSocket is up
        await server.handle_websocket(request, _HandlerWebSocket(handler))
        return
    body: bytes = handler.request.body or b""

    async def read_body(limit: int) -> bytes:
        if len(body) > limit:
            raise BodyTooLarge
        return body

    response = await server.handle_http(request, read_body)
    handler.set_status(response.status)
    handler.clear_header("Content-Type")
    put_headers(response, handler.set_header, handler.add_header)
    handler.finish(response.body or None)


class _HandlerWebSocket:
    """python-engineio's Tornado handler as the engine's ``AsyncWebSocket``."""

    __slots__ = ("_handler",)

    def __init__(self, handler: Any) -> None:
        self._handler = handler

    async def accept(self) -> None:
        """Tornado has completed the handshake already."""

    async def refuse(self, response: Response) -> None:
        """Too late for an HTTP answer: close (see the module docstring)."""
        self._handler.close(_POLICY_VIOLATION, response.body.decode("utf-8", "replace")[:120])

    async def receive(self) -> str | bytes | None:
        message: str | bytes | None = await self._handler.get_next_message()
        return message

    async def send(self, data: str | bytes) -> None:
        from tornado.websocket import WebSocketClosedError

        with suppress(WebSocketClosedError):  # the reader sees the close
            await self._handler.write_message(data, binary=isinstance(data, bytes))

    async def close(self, code: int) -> None:
        self._handler.close(code)

    def abort(self) -> None:
        stream = getattr(self._handler.ws_connection, "stream", None)
        if stream is not None:
            stream.close()
        self._handler.on_close()  # wakes get_next_message()
