"""Channels consumers: Engine.IO polling and WebSocket under ASGI (daphne, uvicorn, hypercorn).

Both are ordinary Channels consumers (``as_asgi()``, usable inside Channels
middleware such as ``AuthMiddlewareStack``) that adapt a scope to the process's
:class:`~engineio_core.AsyncServer` (:func:`~django_engineio.get_async_server`);
every session lives in that server, not in the per-request consumer instances.

* :class:`EngineIOHttpConsumer` (an ``AsyncHttpConsumer``): polling requests and
  CORS preflights. The body arrives through Channels' ``http.request`` dispatch; a
  body past ``MAX_HTTP_BUFFER_SIZE`` is answered 413 as soon as it is seen.
* :class:`EngineIOWebsocketConsumer`: the WebSocket transport. It hands the scope
  and the ASGI ``receive``/``send`` to the server's connection loop through
  engineio-core's ``ASGIWebSocket`` instead of dispatching each message to a
  method (the server owns the connection from upgrade to close; one hop less per
  message). It therefore has no channel layer name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer

from engineio_core import AsyncServer, Response
from engineio_core.asgi import ASGIWebSocket
from engineio_core.base_server import BodyTooLarge

from .requests import to_engine_request
from .servers import get_async_server

__all__ = ["EngineIOHttpConsumer", "EngineIOWebsocketConsumer"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class EngineIOHttpConsumer(AsyncHttpConsumer):  # type: ignore[misc]
    """Serves Engine.IO polling (and CORS preflight) requests on an ``http`` scope."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server: AsyncServer = get_async_server()
        self._size = 0
        self._receive: Callable[[], Awaitable[Message]] | None = None

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        # Kept for _disconnected(): Channels reads no message while a handler runs.
        self._receive = receive
        await super().__call__(scope, receive, send)

    async def http_request(self, message: Message) -> None:
        """Gather the body (at most the server's limit), then serve the request."""
        chunk = message.get("body", b"")
        self._size += len(chunk)
        too_large = self._size > self.server.config.max_http_buffer_size
        if not too_large:
            self.body.append(chunk)
        if too_large or not message.get("more_body"):
            try:
                await self._serve(None if too_large else b"".join(self.body))
            finally:
                await self.disconnect()
            raise StopConsumer

    async def handle(self, body: bytes) -> None:
        """Serve a request whose whole ``body`` arrived (Channels' entry point)."""
        await self._serve(body)

    async def _serve(self, body: bytes | None) -> None:
        async def read_body(limit: int) -> bytes:
            if body is None or len(body) > limit:
                raise BodyTooLarge
            return body

        response = await self.server.handle_http(to_engine_request(self.scope), read_body,
                                                 self._disconnected)
        await self._respond(response)

    async def _disconnected(self) -> None:
        """Returns once the client went away: the server watches a held GET with it
        (the whole request was read, so the next ASGI message is ``http.disconnect``)."""
        receive = self._receive
        if receive is None:  # not called through __call__: cannot tell
            await asyncio.Future()
            return
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _respond(self, response: Response) -> None:
        await self.send_response(
            response.status, response.body,
            headers=[(k.lower().encode("latin-1"), v.encode("latin-1"))
                     for k, v in response.headers])


class EngineIOWebsocketConsumer(AsyncConsumer):  # type: ignore[misc]
    """Serves the Engine.IO WebSocket transport on a ``websocket`` scope."""

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        """Run the session's WebSocket from upgrade to close (the server accepts or refuses)."""
        self.scope = scope
        self.base_send = send
        server = get_async_server()
        await server.handle_websocket(to_engine_request(scope), ASGIWebSocket(scope, receive, send))
