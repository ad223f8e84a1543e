"""``ASGIApp``: serves an :class:`AsyncServer` under any ASGI server (uvicorn, hypercorn, daphne).

Engine.IO requests (the configured path, with or without its trailing slash,
under the scope's ``root_path``) go to the server; lifespan events run the
startup and shutdown hooks; static files are served from a mapping; anything
else goes to ``other_asgi_app`` (or gets a 404).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any

from .async_server import AsyncServer
from .base_server import BodyTooLarge
from .protocol.http import Headers, Request, Response, parse_query, request_headers
from .static import StaticFiles, static_file
from .tcp import abort_transport

__all__ = ["ASGIApp", "ASGIWebSocket", "to_engine_request"]

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
ASGICallable = Callable[[Scope, Receive, Send], Awaitable[None]]
Hook = Callable[[], Any]


class _ClientGone(ConnectionError):
    """The client went away before its request body was complete: nobody to answer."""


class ASGIApp:
    """An ASGI application serving an :class:`AsyncServer`.

    Args:
        server: the Engine.IO server.
        other_asgi_app: an ASGI app for every request that is not Engine.IO traffic
            (its lifespan events are forwarded to it too).
        static_files: URL path → file path, or → ``{"filename": ..., "content_type": ...}``.
            A path ending in ``/`` maps to a directory.
        engineio_path: where Engine.IO is served; matched with and without the trailing slash.
        on_startup: called (awaited if it returns an awaitable) at lifespan startup.
        on_shutdown: called at lifespan shutdown, before the server closes its sessions.
    """

    def __init__(
        self,
        server: AsyncServer,
        other_asgi_app: ASGICallable | None = None,
        static_files: StaticFiles | None = None,
        engineio_path: str = "engine.io",
        on_startup: Hook | None = None,
        on_shutdown: Hook | None = None,
    ) -> None:
        from .async_server import AsyncServer
        from .hosting import hosted_server

        self.server = hosted_server(server, AsyncServer, "ASGIApp")
        self.other_asgi_app = other_asgi_app
        self.static_files = dict(static_files or {})
        path = "/" + engineio_path.strip("/")
        self._paths = (path, path + "/")
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        path: str = scope.get("path", "/")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        if path in self._paths and kind in ("http", "websocket"):
            await self.serve(scope, receive, send)
            return
        if kind == "http" and await self._static(path, send):
            return
        if self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == "http":
            await _send_response(send, Response(404, [("Content-Type", "text/plain")],
                                                b"Not Found"))
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    def serve(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        """Serve an ``http`` or ``websocket`` scope as an Engine.IO request, whatever
        its path (``__call__`` does for the Engine.IO path; an app that routes by
        itself can call this): ``await`` what this returns."""
        # Not a coroutine itself: one coroutine less on every request.
        if scope["type"] == "http":
            return self._http(scope, receive, send)
        return self.server.handle_websocket(to_engine_request(scope),
                                            ASGIWebSocket(scope, receive, send))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = to_engine_request(scope)

        async def read_body(limit: int) -> bytes:
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone("the client went away while sending the body")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
                more = message.get("more_body", False)
            return b"".join(chunks)

        async def disconnected() -> None:  # only for a held GET: its body was never read
            while (await receive())["type"] != "http.disconnect":
                pass

        try:
            response = await self.server.handle_http(request, read_body, disconnected)
        except _ClientGone:
            return  # the engine dropped the POST; the ASGI server expects no response now
        # _send_response() inlined: a coroutine less on every request.
        await send({
            "type": "http.response.start",
            "status": response.status,
            "headers": _encoded(response.headers),
        })
        await send({"type": "http.response.body", "body": response.body})

    async def _static(self, path: str, send: Send) -> bool:
        found = static_file(self.static_files, path) if self.static_files else None
        if found is None:
            return False
        filename, content_type = found
        with open(filename, "rb") as f:
            body = f.read()
        await _send_response(send, Response(200, [("Content-Type", content_type)], body))
        return True

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def run(hook: Hook | None) -> None:
            if hook is not None:
                result = hook()
                if hasattr(result, "__await__"):
                    await result

        if self.other_asgi_app is None:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    try:
                        await self.server.start()  # joins its cluster, if it has one
                        await run(self.on_startup)
                    except Exception as exc:
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await run(self.on_shutdown)
                    await self.server.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

        async def wrapped_receive() -> ASGIMessage:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.server.start()
                await run(self.on_startup)
            return message

        async def wrapped_send(message: ASGIMessage) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await run(self.on_shutdown)
                await self.server.shutdown()
            await send(message)

        await self.other_asgi_app(scope, wrapped_receive, wrapped_send)


def _message_data(message: ASGIMessage) -> str | bytes | None:
    """An ASGI ``websocket.receive`` message's text or bytes; ``None`` for anything else."""
    if message["type"] == "websocket.receive":
        text: str | None = message.get("text")
        if text is not None:
            return text
        return message.get("bytes") or b""
    return None


class ASGIWebSocket:
    """:class:`AsyncWebSocket` over an ASGI ``websocket`` scope.

    ASGI gives an application no way to drop a connection or to see how much
    its server still has to write. Where the server's ``send`` is a method or
    a partial of the connection's protocol object (uvicorn, hypercorn, daphne),
    the connection's transport is found behind it (:func:`server_transport`):
    :meth:`abort` resets it, and under daphne, whose ``send`` never waits,
    :meth:`send` waits while Twisted holds more than :data:`TWISTED_HIGH_WATER`
    bytes for the peer, so that a client that does not read fills the engine's
    send buffer (which is bounded) instead of daphne's (which is not).
    """

    __slots__ = ("_receive", "_send", "_transport", "_twisted", "scope")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self._transport: Any = _UNKNOWN
        self._twisted: bool | None = None  # the transport is Twisted's (daphne)

    async def accept(self) -> None:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            raise ConnectionError("the client went away before the WebSocket was accepted")
        await self._send({"type": "websocket.accept"})
        if self._is_twisted():
            # daphne hands the 101 to Twisted, which would write it in one piece with
            # the open packet sent next: node's `ws` client then emits 'open' and the
            # packet in one tick, and a listener attached on 'open' misses it (the
            # official v3 suite does that). Let the 101 go out on its own first.
            for _ in range(_ACCEPT_FLUSH_TURNS):
                if not _twisted_backlog(self._transport):
                    break
                await asyncio.sleep(0)

    async def refuse(self, response: Response) -> None:
        if "websocket.http.response" in self.scope.get("extensions", {}):
            await self._send({
                "type": "websocket.http.response.start",
                "status": response.status,
                "headers": _encoded(response.headers),
            })
            await self._send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await self._send({"type": "websocket.close", "code": 1008})

    async def receive(self) -> str | bytes | None:
        return _message_data(await self._receive())

    def receive_message(self) -> Awaitable[ASGIMessage]:
        """The ASGI server's own ``receive()`` (what :meth:`message_data` unwraps)."""
        return self._receive()

    message_data = staticmethod(_message_data)

    def send(self, data: str | bytes) -> Awaitable[None]:
        # Not a coroutine itself: the ASGI server's send, with no frame of ours
        # around it (one coroutine less on every message), except under daphne.
        message = ({"type": "websocket.send", "text": data} if isinstance(data, str)
                   else {"type": "websocket.send", "bytes": data})
        if self._twisted:  # accept() found out whether it is Twisted's
            return self._send_under_twisted(message)
        return self._send(message)

    async def _send_under_twisted(self, message: ASGIMessage) -> None:
        await self._send(message)
        if _twisted_backlog(self._transport) > TWISTED_HIGH_WATER:
            await _twisted_drained(self._transport)

    async def close(self, code: int) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code})
        except Exception:
            if code == 1000:
                raise
            # daphne (autobahn) only lets applications send 1000 or 3000-4999.
            await self._send({"type": "websocket.close", "code": 1000})

    def abort(self) -> None:
        """Reset the connection now where the server's transport can be found, else
        close it in the background (the server then drops the connection when its
        own close timeout expires)."""
        transport = self._find_transport()
        if transport is not None:
            abort_transport(transport)
            return
        task = asyncio.ensure_future(self._close_quietly())
        _aborting.add(task)
        task.add_done_callback(_aborting.discard)

    def _is_twisted(self) -> bool:
        """Whether the server's transport is Twisted's (daphne)."""
        twisted = self._twisted
        if twisted is None:
            twisted = self._twisted = hasattr(self._find_transport(), "abortConnection")
        return twisted

    def _find_transport(self) -> Any:
        transport = self._transport
        if transport is _UNKNOWN:
            transport = self._transport = server_transport(self._send)
        return transport

    async def _close_quietly(self) -> None:
        with contextlib.suppress(Exception):
            await self.close(1000)


_aborting: set[asyncio.Task[None]] = set()
_UNKNOWN: Any = object()

TWISTED_HIGH_WATER = 256 * 1024
"""Bytes daphne's Twisted transport may hold for a peer before :meth:`ASGIWebSocket.send`
waits for it to drain (to :data:`TWISTED_LOW_WATER`)."""
TWISTED_LOW_WATER = 64 * 1024
_ACCEPT_FLUSH_TURNS = 10  # loop turns an accept waits at most for Twisted to write the 101


def server_transport(send: Any, depth: int = 6) -> Any:
    """The transport of the connection behind an ASGI ``send`` callable, or ``None``.

    Follows bound methods (``__self__``), partials (``args``) and the protocol
    objects' own ``send``/``writer`` to the first object with a ``transport``
    that can be aborted: an asyncio transport (uvicorn, hypercorn) or a
    Twisted one (daphne). Nothing here is ASGI: it only works where a server
    happens to be built that way, and finds nothing elsewhere.
    """
    todo = [send]
    for _ in range(depth):
        found = []
        for obj in todo:
            transport = getattr(obj, "transport", None)
            if transport is None:
                transport = getattr(getattr(obj, "writer", None), "transport", None)
            if transport is not None and (hasattr(transport, "abort")
                                          or hasattr(transport, "abortConnection")):
                return transport
            found += [getattr(obj, "__self__", None), getattr(obj, "send", None),
                      *getattr(obj, "args", ())]
        todo = [obj for obj in found if obj is not None]
    return None


def _twisted_backlog(transport: Any) -> int:
    """Bytes a Twisted transport holds unwritten (0 for any other transport)."""
    buffer = getattr(transport, "dataBuffer", None)
    if buffer is None:
        return 0
    try:
        return len(buffer) - int(transport.offset) + int(transport._tempDataLen)
    except (AttributeError, TypeError, ValueError):
        return 0


async def _twisted_drained(transport: Any) -> None:
    """Wait until a Twisted transport has written down to the low-water mark, or closed."""
    while _twisted_backlog(transport) > TWISTED_LOW_WATER and not getattr(
            transport, "disconnected", True):
        await asyncio.sleep(0.01)


# Request header names as ASGI servers give them (lower case), decoded once: most
# requests carry only these. Any other name is decoded per request.
_HEADER_NAMES: dict[bytes, str] = {name.encode("latin-1"): name for name in (
    "host", "connection", "user-agent", "accept", "accept-encoding", "accept-language",
    "origin", "referer", "cookie", "content-type", "content-length", "cache-control",
    "pragma", "upgrade", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol", "sec-fetch-site", "sec-fetch-mode",
    "sec-fetch-dest", "x-forwarded-for", "x-forwarded-proto", "x-real-ip", "authorization",
)}
_HTTP_SCHEMES = {"ws": "http", "wss": "https"}  # a WebSocket scope's scheme, as HTTP's


def to_engine_request(scope: Scope) -> Request:
    """The engine's :class:`~engineio_core.Request` for an ASGI ``http``/``websocket`` scope."""
    raw = scope.get("headers", ())
    if type(raw) is not list and type(raw) is not tuple:
        raw = list(raw)
    names = _HEADER_NAMES
    headers = {names.get(name) or name.decode("latin-1").lower(): value.decode("latin-1")
               for name, value in raw}
    if len(headers) != len(raw):  # a repeated header: its values joined, in order
        headers = request_headers((name.decode("latin-1"), value.decode("latin-1"))
                                  for name, value in raw)
    scheme: str = scope.get("scheme") or "http"
    client = scope.get("client")
    # Positional (method, query, headers, body, client, scheme, path, native):
    # half the cost of keywords, on every request.
    return Request(
        scope.get("method", "GET"),
        parse_query(scope.get("query_string", b"")),
        headers,
        b"",
        (client[0], client[1]) if client else None,
        _HTTP_SCHEMES.get(scheme, scheme),
        scope.get("path", "/"),
        scope,
    )


_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_ENCODED_KEPT = 256  # emptied when full: the engine's own headers come back at once


def _encoded(headers: Headers) -> list[tuple[bytes, bytes]]:
    """Response headers as ASGI wants them: lower-case latin-1 bytes.

    Most pairs repeat on every response (``Content-Type``, ``Cache-Control``, the
    usual lengths and origins): each is encoded once and remembered.
    """
    known = _ENCODED
    out = []
    for pair in headers:
        encoded = known.get(pair)
        if encoded is None:
            if len(known) >= _ENCODED_KEPT:
                known.clear()
            name, value = pair
            encoded = known[pair] = (name.lower().encode("latin-1"), value.encode("latin-1"))
        out.append(encoded)
    return out


async def _send_response(send: Send, response: Response) -> None:
    await send({
        "type": "http.response.start",
        "status": response.status,
        "headers": _encoded(response.headers),
    })
    await send({"type": "http.response.body", "body": response.body})
