"""WebSocket glue: Sanic's WebSocket objects behind engineio-core's ``AsyncWebSocket``.

Sanic routes a request to one handler whatever its ``Upgrade`` header says, so
the Engine.IO route serves polling and WebSocket on the same path and performs
the upgrade itself, only once the engine has accepted the request. That is what
lets a refused upgrade (unknown sid, bad version, forbidden origin...) get the
engine's plain HTTP 400/403 JSON answer instead of a WebSocket that closes.

* :class:`SanicWebSocket` drives Sanic's own server (``WebSocketProtocol``, the
  ``websockets`` sans-I/O protocol underneath).
* Under an ASGI server (``app.asgi``), the WebSocket scope is driven with
  engineio-core's ASGI WebSocket (see :func:`asgi_websocket`).
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import MutableMapping
from typing import Any

from sanic import Request as SanicRequest
from sanic.exceptions import SanicException, ServerError, WebsocketClosed
from sanic.server.websockets.impl import WebsocketImplProtocol
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from engineio_core.asgi import ASGIWebSocket
from engineio_core.async_server import AsyncWebSocket
from engineio_core.protocol.http import Response
from engineio_core.tcp import abort_transport

__all__ = ["CLOSE_TIMEOUT", "SanicWebSocket", "asgi_scope", "asgi_websocket"]

CLOSE_TIMEOUT = 5.0
"""Seconds a peer has to answer the server's close frame before the connection is dropped."""


class SanicWebSocket:
    """:class:`~engineio_core.AsyncWebSocket` over Sanic's own HTTP/WebSocket server.

    Args:
        request: the upgrade request (still plain HTTP).
        max_size: the largest message the ``websockets`` protocol assembles. Set it
            above the engine's limit so that the engine sees oversized messages and
            closes the session itself (1009, ``transport error``).
    """

    __slots__ = ("_cut_off", "_request", "_ws", "max_size", "refusal")

    def __init__(self, request: SanicRequest[Any, Any], max_size: int) -> None:
        self._request = request
        self._ws: WebsocketImplProtocol | None = None
        self._cut_off: asyncio.TimerHandle | None = None
        self.max_size = max_size
        self.refusal: Response | None = None
        """The HTTP response to send instead of the upgrade, when there is one."""

    @property
    def upgraded(self) -> bool:
        """Whether the WebSocket handshake was completed."""
        return self._ws is not None

    async def accept(self) -> None:
        """Complete the handshake on the connection (Sanic's ``WebSocketProtocol``)."""
        protocol: Any = self._request.transport.get_protocol()
        if not hasattr(protocol, "websocket_handshake"):
            self.refusal = _plain(500, "WebSocket support is not enabled on this Sanic server")
            raise ConnectionError("Sanic served this connection without WebSocket support")
        # Per connection: the protocol object belongs to this TCP connection.
        protocol.websocket_max_size = self.max_size
        try:
            self._ws = await protocol.websocket_handshake(self._request, None)
        except SanicException as exc:
            if exc.status_code >= 500:
                # Sanic answers 500 to anything the websockets handshake raises, and
                # the handshake only reads the client's request (header values it
                # cannot take: non-ASCII, a bare LF...): the client's fault.
                self.refusal = _plain(400, "Bad WebSocket upgrade request")
            else:
                self.refusal = _plain(exc.status_code, str(exc))
            raise ConnectionError("the WebSocket handshake failed") from exc

    async def refuse(self, response: Response) -> None:
        """Keep ``response``: the route handler returns it as plain HTTP."""
        self.refusal = response

    async def receive(self) -> str | bytes | None:
        """The next message, or ``None`` once the peer closed or the connection failed."""
        ws = self._ws
        if ws is None:
            return None
        try:
            data = await ws.recv()
        except asyncio.CancelledError:
            # Sanic's recv() raises CancelledError itself when a close frame
            # arrives; only a real cancellation of this task propagates.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            return None
        except (ConnectionClosed, WebsocketClosed, ServerError):
            return None
        return data

    def idle(self) -> bool:
        """Whether Sanic holds no message that :meth:`receive` has not returned:
        it feeds the frames of one read to its assembler in a task, one message at
        a time, the next only after the last was taken (a probe's ``2probe`` and
        ``5`` that arrived together reach ``receive()`` a few loop turns apart)."""
        mutex = getattr(self._ws, "process_event_mutex", None)
        return mutex is None or not mutex.locked()

    async def send(self, data: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message."""
        assert self._ws is not None
        await self._ws.send(data)

    async def close(self, code: int) -> None:
        """Send a close frame with ``code``.

        Sanic closes the TCP connection once the peer answers; a peer that never
        answers is cut off after :data:`CLOSE_TIMEOUT` seconds.
        """
        ws = self._ws
        if ws is None:
            return
        await ws.close(code)
        # A weak reference, in an empty context (the handler's holds Sanic's current
        # request): an open connection keeps ``ws`` alive anyway (through its transport),
        # and a closed one has nothing left to cut off.
        self._cut_off = asyncio.get_running_loop().call_later(
            CLOSE_TIMEOUT, _cut_off, weakref.ref(ws), code, context=contextvars.Context())

    def finished(self) -> None:
        """The handler is done with the connection (Sanic closes it next, see
        ``WebSocketProtocol.close()``): drop the timers that would keep the closed
        connection's objects alive.

        Sanic's ``WebSocketProtocol.close()`` does not cancel the connection's pending
        ``check_timeouts`` call (``HttpProtocol.close()`` does), which holds the protocol
        for up to half the request timeout (30 s by default): 1,000 WebSocket sessions a
        second then kept 700 MB alive (benchmarks/RESULTS.md, 2026-12-06). The cut-off
        timer of :meth:`close` is moot too: Sanic ends the connection itself now.
        """
        protocol: Any = self._request.transport.get_protocol()
        check = getattr(protocol, "_callback_check_timeouts", None)
        if check is not None:
            check.cancel()
            protocol._callback_check_timeouts = None
        if self._cut_off is not None:
            self._cut_off.cancel()
            self._cut_off = None

    def end(self) -> None:
        """Drop the connection at once (the handler task is going away)."""
        ws: Any = self._ws
        if ws is not None:
            ws.end_connection(1000)

    def abort(self) -> None:
        """Reset the connection now (its unsent data is dropped)."""
        abort_transport(self._request.transport)


def asgi_scope(request: SanicRequest[Any, Any]) -> MutableMapping[str, Any] | None:
    """The ASGI scope of a request served under an ASGI server, else ``None``."""
    scope = getattr(request.transport, "scope", None)
    return scope if isinstance(scope, MutableMapping) else None


def asgi_websocket(request: SanicRequest[Any, Any],
                   scope: MutableMapping[str, Any]) -> AsyncWebSocket:
    """:class:`~engineio_core.AsyncWebSocket` for a Sanic app running under an ASGI server.

    Sanic's own ASGI WebSocket object neither reads ``websocket.connect`` nor sends
    a close, so the scope is driven directly, as engineio-core's ``ASGIApp`` does.
    """
    transport: Any = request.transport
    return ASGIWebSocket(scope, transport.receive, transport.send)


def _cut_off(ref: weakref.ref[Any], code: int) -> None:
    ws = ref()
    if ws is not None and ws.ws_proto.state is not State.CLOSED:
        ws.end_connection(code)


def _plain(status: int, text: str) -> Response:
    body = text.encode()
    return Response(status, [("Content-Type", "text/plain; charset=utf-8")], body)
