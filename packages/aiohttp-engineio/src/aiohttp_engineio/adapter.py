"""Glue between aiohttp and :class:`~engineio_core.AsyncServer`: no protocol logic here.

* :func:`make_handler` builds the aiohttp request handler that serves one
  Engine.IO path: a WebSocket upgrade goes to ``AsyncServer.handle_websocket``,
  everything else (polling, preflight, errors) to ``AsyncServer.handle_http``.
* :func:`to_engine_request` turns an aiohttp request into the engine's neutral
  :class:`~engineio_core.Request` (the client address is ``request.remote``, so
  ``request.clone(remote=...)`` from a proxy middleware is honoured).
* POST bodies are read from ``request.content`` chunk by chunk until EOF, however
  the client chunked them, and stop with :class:`BodyTooLarge` past the limit.
* :class:`AiohttpWebSocket` wraps ``web.WebSocketResponse`` as an
  :class:`~engineio_core.AsyncWebSocket`. A refusal before the upgrade is a plain
  ``web.Response`` (the WebSocketResponse is never prepared).

Message size: aiohttp is given ``max_msg_size = max_http_buffer_size + 1``, so it
accepts exactly the messages the engine accepts and rejects a larger one from its
frame header, before buffering a byte of it (memory stays bounded by the engine's
limit). aiohttp then closes with 1009 and reports the error; the wrapper raises
``MessageTooLarge``, so the session ends exactly as the engine ends it on any
runtime: ``transport error``, "message too large", close code 1009.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Coroutine, Sized
from functools import partial
from typing import Any

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web

from engineio_core import AsyncServer, Request, Response
from engineio_core.base_server import BodyTooLarge, MessageTooLarge
from engineio_core.protocol.errors import BadRequest
from engineio_core.protocol.http import error_response, parse_query, request_headers
from engineio_core.tcp import CORK_AVAILABLE, abort_transport, set_cork

__all__ = [
    "AiohttpWebSocket", "Handler", "make_handler", "to_aiohttp_response", "to_engine_request",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp request handler."""

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_ERROR = WSMsgType.ERROR


def make_handler(server: AsyncServer) -> Handler:
    """The aiohttp handler serving ``server`` (route it for every method).

    :func:`aiohttp_engineio.setup` routes it for you; use this to route it yourself.

    Args:
        server: the Engine.IO server.

    Returns:
        A coroutine function ``handler(request) -> web.StreamResponse``.
    """
    limit = server.config.max_http_buffer_size
    handle_http = server.handle_http
    handle_websocket = server.handle_websocket

    async def engineio_handler(request: web.Request) -> web.StreamResponse:
        if "Upgrade" in request.headers:
            ws = web.WebSocketResponse(compress=False, max_msg_size=limit + 1)
            if _can_prepare(ws, request):
                socket = AiohttpWebSocket(request, ws)
                await handle_websocket(to_engine_request(request), socket)
                if socket.response is ws and not ws.prepared:  # the upgrade itself failed
                    return web.Response(status=400, text="WebSocket upgrade failed")
                return socket.response
            # Not a valid upgrade: the engine answers it as plain HTTP (400).
        eio_request = to_engine_request(request)
        try:
            response = await handle_http(eio_request, _body_reader(request),
                                         partial(_disconnected, request))
        except _BodyUnreadable:
            # The engine dropped the POST; nothing more can be read on this connection.
            response = error_response(server.config, eio_request,
                                      BadRequest(detail="malformed request body"))
            response.headers.append(("Connection", "close"))
        return to_aiohttp_response(response)

    return engineio_handler


DISCONNECT_CHECK_INTERVAL = 1.0
"""Seconds between two looks at a held GET's connection (aiohttp tells no one when
a client goes away, unless the application runs with ``handler_cancellation``)."""


async def _disconnected(request: web.BaseRequest) -> None:
    """Returns once the request's connection is closing (checked every second)."""
    while (transport := request.transport) is not None and not transport.is_closing():
        await asyncio.sleep(DISCONNECT_CHECK_INTERVAL)


def _can_prepare(ws: web.WebSocketResponse, request: web.Request) -> bool:
    """Whether aiohttp would accept this upgrade (a header it cannot decode: no)."""
    try:
        return ws.can_prepare(request).ok
    except ValueError:
        # aiohttp's handshake check raises for non-ASCII header values (base64 of a
        # Sec-WebSocket-Key of b"\xff"..., an error text with an Upgrade of b"\xff")
        # instead of reporting "not ready": the engine answers 400 instead.
        return False


def to_engine_request(request: web.BaseRequest) -> Request:
    """The engine's view of an aiohttp request (the body is read later, on demand)."""
    raw = request.headers
    headers = {name.lower(): value for name, value in raw.items()}
    if len(headers) != len(raw):  # a repeated header: its values joined, in order
        headers = request_headers(raw.items())
    # Positional (method, query, headers, body, client, scheme, path, native):
    # half the cost of keywords, on every request.
    return Request(
        request.method,
        parse_query(request.rel_url.raw_query_string),
        headers,
        b"",
        _client(request),
        request.scheme,
        request.path,
        request,
    )


def _client(request: web.BaseRequest) -> tuple[str, int] | None:
    remote = request.remote
    if remote is None:
        return None
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    # The port is the socket's, unless a proxy middleware replaced the address.
    if isinstance(peer, (tuple, list)) and len(peer) >= 2 and peer[0] == remote:
        return remote, int(peer[1])
    return remote, 0


class _BodyUnreadable(Exception):
    """The body could not be read: malformed (chunks, content encoding) or the client left."""


def _body_reader(request: web.BaseRequest) -> Callable[[int], Awaitable[bytes]]:
    async def read_body(limit: int) -> bytes:
        declared = request.content_length
        if declared is not None and declared > limit:
            raise BodyTooLarge
        content = request.content
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := await content.readany():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
        except (web.RequestPayloadError, ConnectionError) as exc:
            raise _BodyUnreadable(str(exc)) from exc
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    return read_body


def to_aiohttp_response(response: Response) -> web.Response:
    """An engine :class:`~engineio_core.Response` as an aiohttp ``web.Response``."""
    out = web.Response(status=response.status, body=response.body, headers=response.headers)
    if response.status >= 400:  # only error answers close their connection
        for name, value in response.headers:
            if name.lower() == "connection" and value.lower() == "close":
                # The engine gave up on the body (413): do not drain it, drop the connection.
                out.force_close()
    return out


class AiohttpWebSocket:
    """:class:`~engineio_core.AsyncWebSocket` over an aiohttp ``web.WebSocketResponse``.

    Args:
        request: the upgrade request.
        ws: an unprepared ``web.WebSocketResponse``; prepared by :meth:`accept`.

    Attributes:
        response: what the aiohttp handler returns: the WebSocketResponse, or the
            plain HTTP response given to :meth:`refuse`.
    """

    __slots__ = ("_buffered", "_corked", "_receive", "_request", "_sock", "response", "ws")

    def __init__(self, request: web.BaseRequest, ws: web.WebSocketResponse) -> None:
        self._request = request
        self.ws = ws
        self._receive = ws.receive
        self.response: web.StreamResponse = ws
        self._buffered: Sized | None = None  # aiohttp's queue of parsed, unread messages
        self._sock: socket.socket | None = None
        self._corked = False

    async def accept(self) -> None:
        """Complete the upgrade (``101 Switching Protocols``)."""
        writer = await self.ws.prepare(self._request)
        # aiohttp (3.10+) holds the 101 back to send it with the first frame. Sent
        # together, node's `ws` client emits 'open' and the open packet in one tick,
        # and a listener attached once 'open' fired misses the packet (the official
        # v3 suite does that): send the 101 on its own, as the reference server does.
        send_headers = getattr(writer, "send_headers", None)
        if send_headers is not None:
            send_headers()
        if CORK_AVAILABLE:
            # Coalescing replies needs aiohttp's message queue (not public API: when
            # it is not where expected, every reply is simply written at once).
            buffered = getattr(getattr(self.ws, "_reader", None), "_buffer", None)
            transport = self._request.transport
            sock = transport.get_extra_info("socket") if transport is not None else None
            if isinstance(buffered, Sized) and sock is not None:
                self._buffered, self._sock = buffered, sock

    async def refuse(self, response: Response) -> None:
        """Answer with ``response`` instead of upgrading."""
        self.response = to_aiohttp_response(response)

    async def receive(self) -> str | bytes | None:
        """The next text (``str``) or binary (``bytes``) message; ``None`` once closed.

        When a client pipelines, one read brings several messages: while they are
        handled the socket is corked (``TCP_CORK``), so that the answers to all of
        them leave together (one transmit instead of one per message); it is
        uncorked before waiting for more.
        """
        buffered = self._buffered
        if self._corked and not buffered:
            self._cork(False)  # nothing more queued: let the answers go before waiting
        msg = await self._receive()
        kind = msg.type
        if kind is _TEXT or kind is _BINARY:
            if buffered and not self._corked:
                self._cork(True)  # more already queued: hold the answers until they are done
            data: str | bytes = msg.data
            return data
        if self._corked:
            self._cork(False)
        if (kind is _ERROR and isinstance(msg.data, WebSocketError)
                and msg.data.code == WSCloseCode.MESSAGE_TOO_BIG):
            # aiohttp refused a message over the limit from its header (and closed
            # with 1009); the engine ends the session as for any oversized message.
            raise MessageTooLarge
        return None

    def _cork(self, on: bool) -> None:
        if on is self._corked or self._sock is None:
            return
        self._corked = on
        if not set_cork(self._sock, on):
            self._sock = None  # closed, or not TCP: no more corking

    def send(self, data: str | bytes) -> Coroutine[Any, Any, None]:
        """Send one text or binary message (returns aiohttp's coroutine: one frame less)."""
        if isinstance(data, str):
            return self.ws.send_str(data)
        return self.ws.send_bytes(data)

    async def send_many(self, messages: list[str | bytes]) -> None:
        """Send several messages in order, corked so that they leave together."""
        was_corked = self._corked
        self._cork(True)
        try:
            ws = self.ws
            for data in messages:
                if isinstance(data, str):
                    await ws.send_str(data)
                else:
                    await ws.send_bytes(data)
        finally:
            if not was_corked:
                self._cork(False)

    async def close(self, code: int) -> None:
        """Close with ``code`` (a no-op when aiohttp already closed the socket)."""
        self._cork(False)
        await self.ws.close(code=code)

    def abort(self) -> None:
        """Reset the connection now (its unsent data is dropped)."""
        abort_transport(self._request.transport)
