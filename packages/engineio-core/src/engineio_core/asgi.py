"""``ASGIApp``: serves an :class:`AsyncServer` under any ASGI server (uvicorn, hypercorn, daphne).

Engine.IO requests (the configured path, with or without its trailing slash,
under the scope's ``root_path``) go to the server; lifespan events run the
startup and shutdown hooks; static files are served from a mapping; anything
else goes to ``other_asgi_app`` (or gets a 404).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .async_server import AsyncServer
from .base_server import BodyTooLarge
from .protocol.http import Request, Response, parse_query
from .static import StaticFiles, static_file

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
        self.server = server
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
        if path in self._paths:
            if kind == "http":
                await self._http(scope, receive, send)
                return
            if kind == "websocket":
                await self.server.handle_websocket(to_engine_request(scope),
                                                   ASGIWebSocket(scope, receive, send))
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

        try:
            response = await self.server.handle_http(request, read_body)
        except _ClientGone:
            return  # the engine dropped the POST; the ASGI server expects no response now
        await _send_response(send, response)

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
                await run(self.on_startup)
            return message

        async def wrapped_send(message: ASGIMessage) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await run(self.on_shutdown)
                await self.server.shutdown()
            await send(message)

        await self.other_asgi_app(scope, wrapped_receive, wrapped_send)


class ASGIWebSocket:
    """:class:`AsyncWebSocket` over an ASGI ``websocket`` scope."""

    __slots__ = ("_receive", "_send", "scope")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send

    async def accept(self) -> None:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            raise ConnectionError("the client went away before the WebSocket was accepted")
        await self._send({"type": "websocket.accept"})

    async def refuse(self, response: Response) -> None:
        if "websocket.http.response" in self.scope.get("extensions", {}):
            await self._send({
                "type": "websocket.http.response.start",
                "status": response.status,
                "headers": [(k.lower().encode(), v.encode()) for k, v in response.headers],
            })
            await self._send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await self._send({"type": "websocket.close", "code": 1008})

    async def receive(self) -> str | bytes | None:
        message = await self._receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            if text is not None:
                return text  # type: ignore[no-any-return]
            return message.get("bytes") or b""
        return None

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            await self._send({"type": "websocket.send", "text": data})
        else:
            await self._send({"type": "websocket.send", "bytes": data})

    async def close(self, code: int) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code})
        except Exception:
            if code == 1000:
                raise
            # daphne (autobahn) only lets applications send 1000 or 3000-4999.
            await self._send({"type": "websocket.close", "code": 1000})


def to_engine_request(scope: Scope) -> Request:
    """The engine's :class:`~engineio_core.Request` for an ASGI ``http``/``websocket`` scope."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    scheme: str = scope.get("scheme") or "http"
    client = scope.get("client")
    return Request(
        method=scope.get("method", "GET"),
        query=parse_query(scope.get("query_string", b"")),
        headers=headers,
        client=(client[0], client[1]) if client else None,
        scheme={"ws": "http", "wss": "https"}.get(scheme, scheme),
        path=scope.get("path", "/"),
        native=scope,
    )


async def _send_response(send: Send, response: Response) -> None:
    await send({
        "type": "http.response.start",
        "status": response.status,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in response.headers],
    })
    await send({"type": "http.response.body", "body": response.body})
