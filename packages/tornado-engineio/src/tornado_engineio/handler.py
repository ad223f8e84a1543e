"""``EngineIOHandler``: one Tornado handler for Engine.IO polling and WebSocket.

The handler turns Tornado's request into an :class:`engineio_core.Request` and
hands it to :meth:`AsyncServer.handle_http` (GET/POST/OPTIONS) or, when the
request asks for ``Upgrade: websocket``, to :meth:`AsyncServer.handle_websocket`
with a small :class:`~engineio_core.AsyncWebSocket` adapter. The engine decides
first; only an accepted upgrade reaches Tornado's own ``WebSocketHandler.get``,
so a refusal is the engine's plain HTTP answer (400/403 with a JSON body).

:func:`engineio_routes` puts a :class:`~tornado_engineio.SessionPollingRouter`
before the handler: it serves the polling GETs and POSTs of established
sessions without a ``RequestHandler`` and leaves everything else to the handler.

No protocol logic lives here: this module is glue between Tornado and the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Coroutine
from typing import Any

import tornado.web
import tornado.websocket
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.routing import PathMatches, Rule

from engineio_core.async_server import AsyncServer
from engineio_core.hosting import hosted_server
from engineio_core.protocol.http import Request, Response, origin_allowed
from engineio_core.tcp import reset_on_close, set_cork
from engineio_core.websocket_frames import encode_frame

from .polling import SessionPollingRouter
from .request import RequestBody, put_headers, to_engine_request

__all__ = ["EngineIOHandler", "engineio_routes", "shutdown"]


@tornado.web.stream_request_body
class EngineIOHandler(tornado.websocket.WebSocketHandler):
    """Serves Engine.IO (polling and WebSocket) on one URL.

    Route it with :func:`engineio_routes`, or by hand with the server in the
    handler's keyword arguments::

        Application([(r"/engine.io/?", EngineIOHandler, {"server": eio})])

    Request bodies are streamed: at most the server's ``max_http_buffer_size``
    bytes of a POST body are kept, and a larger body is answered with 413 (keep
    the HTTP server's ``max_body_size``, 100 MB by default, above that limit).
    WebSocket messages are capped at the same size (close code 1009).

    The :class:`engineio_core.Request` handlers receive has ``native`` set to
    this handler (``native.request`` is Tornado's request, ``native.application``
    the application). Handshakes always come through the handler, even with
    :func:`engineio_routes`' session polling router in front of it.
    """

    SUPPORTED_METHODS = ("GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD")

    def initialize(self, server: AsyncServer,
                   compression_options: dict[str, Any] | None = None) -> None:
        """Take the handler's arguments from its URL spec.

        Args:
            server: the Engine.IO server (or a python-socketio server on our engine,
                ``engineio_core.socketio.AsyncServer``, with ``path="/socket.io/"``).
            compression_options: WebSocket permessage-deflate options (``{}`` turns it
                on with Tornado's defaults); ``None`` (the default) keeps it off.
        """
        self.server = server
        self.compression_options = compression_options
        self._body = RequestBody(server.config.max_http_buffer_size)
        self._ws: _TornadoWebSocket | None = None
        self._engine_view: Request | None = None
        self._closed = False  # the connection closed (Tornado called on_close)
        self._gone: asyncio.Future[None] | None = None  # a held GET waits on it

    # ------------------------------------------------------------------ HTTP
    # The methods return the coroutine that serves the request (Tornado awaits
    # it): one coroutine less per request than an ``async def`` around it.
    def get(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, None]:
        """A long-poll (or handshake) GET, or a WebSocket upgrade."""
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket(args, kwargs)
        return self._polling()

    def post(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, None]:
        """A polling POST (its body has been streamed in by :meth:`data_received`)."""
        return self._polling()

    def options(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, None]:
        """A CORS preflight."""
        return self._polling()

    def put(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, None]:
        """Not an Engine.IO method: the engine answers it (400 with the protocol's
        error body, as PROTOCOL.md §8 asks), not Tornado (405)."""
        return self._polling()

    delete = patch = head = put

    def data_received(self, chunk: bytes) -> None:
        """Keep the body up to the server's limit; past it, only count."""
        self._body.add(chunk)

    def check_xsrf_cookie(self) -> None:
        """No XSRF token on Engine.IO POSTs: sessions are bound by sid and CORS."""

    def compute_etag(self) -> str | None:
        """No ETag: polling responses are never cacheable."""
        return None

    async def _polling(self) -> None:
        response = await self.server.handle_http(self._engine_request(), self._body.read,
                                                 self._disconnected)
        if not self._closed:
            self._write_response(response)

    async def _disconnected(self) -> None:
        """Returns once the client has gone away (Tornado calls :meth:`on_close`)."""
        if not self._closed:
            self._gone = asyncio.get_running_loop().create_future()
            await self._gone

    def _write_response(self, response: Response) -> None:
        self.set_status(response.status)
        self.clear_header("Content-Type")
        put_headers(response, self.set_header, self.add_header)
        self.finish(response.body or None)

    def _engine_request(self) -> Request:
        # Built once: an upgrade asks for it twice (the engine, then check_origin).
        view = self._engine_view
        if view is None:
            view = self._engine_view = to_engine_request(self.request, self)
        return view

    # ------------------------------------------------------------------ WebSocket
    async def _websocket(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ws = self._ws = _TornadoWebSocket(self, args, kwargs)
        try:
            await self.server.handle_websocket(self._engine_request(), ws)
        finally:
            await ws.finished()

    @property
    def max_message_size(self) -> int:
        """Tornado's cap: twice ``max_http_buffer_size``.

        Messages up to the cap reach the engine, which closes an oversized one
        with 1009 and ``transport error``; past the cap Tornado drops the frame
        itself (1009, ``transport close``) so no buffer grows without bound.
        """
        return 2 * self.server.config.max_http_buffer_size

    def get_compression_options(self) -> dict[str, Any] | None:
        """permessage-deflate options from :meth:`initialize` (off by default)."""
        return self.compression_options

    def check_origin(self, origin: str) -> bool:
        """Follow the server's ``cors_allowed_origins`` (the engine checks it first)."""
        return origin_allowed(self.server.config, self._engine_request())

    def open(self, *args: str, **kwargs: str) -> None:
        """Tornado completed the upgrade: no Nagle delay on small frames, as engine.io's ``ws``."""
        self.set_nodelay(True)
        if self._ws is not None:
            self._ws.opened()

    def on_message(self, message: str | bytes) -> asyncio.Future[None] | None:
        """Hand a message to the engine's receive loop (Tornado awaits a returned future)."""
        ws = self._ws
        return None if ws is None else ws.push(message)

    def on_close(self) -> None:
        """The WebSocket (or the HTTP connection) closed."""
        self._closed = True
        if self._ws is not None:
            self._ws.ended()
        gone = self._gone
        if gone is not None and not gone.done():
            gone.set_result(None)


class _TornadoWebSocket:
    """:class:`engineio_core.AsyncWebSocket` over an :class:`EngineIOHandler`.

    ``accept()`` runs Tornado's ``WebSocketHandler.get`` (the upgrade, then its
    frame loop) as a task and waits for ``open()``. Messages travel from
    ``on_message`` to ``receive()`` through one slot: straight into a waiting
    ``receive()``, or parked with a future Tornado awaits before it reads the
    next frame (back pressure without a queue).
    """

    __slots__ = ("_args", "_consumed", "_handler", "_kwargs", "_loop", "_opened", "_pending",
                 "_upgrade", "_waiter", "closed", "done")

    def __init__(self, handler: EngineIOHandler, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self._handler = handler
        self._args = args
        self._kwargs = kwargs
        self._loop = asyncio.get_running_loop()
        self._opened: asyncio.Future[None] | None = None
        self._upgrade: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[str | bytes | None] | None = None
        self._pending: str | bytes | None = None
        self._consumed: asyncio.Future[None] | None = None
        self.closed = False  # the connection is gone
        self.done = False  # the engine stopped reading

    # -------------------------------------------------------------- AsyncWebSocket
    async def accept(self) -> None:
        opened = self._opened = self._loop.create_future()
        upgrade = tornado.websocket.WebSocketHandler.get(self._handler, *self._args,
                                                         **self._kwargs)
        task = self._upgrade = asyncio.ensure_future(upgrade)
        task.add_done_callback(self._upgrade_ended)
        await opened

    async def refuse(self, response: Response) -> None:
        self._handler._write_response(response)

    async def receive(self) -> str | bytes | None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            consumed = self._consumed
            self._consumed = None
            if consumed is not None and not consumed.done():
                consumed.set_result(None)
            return pending
        if self.closed:
            return None
        waiter: asyncio.Future[str | bytes | None] = self._loop.create_future()
        self._waiter = waiter
        return await waiter

    async def send(self, data: str | bytes) -> None:
        stream = self._plain_stream()
        if stream is None:  # compression, or not Tornado's usual protocol object
            handler = self._handler
            future = handler.write_message(data, binary=not isinstance(data, str))
            connection = handler.ws_connection
            stream = None if connection is None else connection.stream
        else:
            future = stream.write(encode_frame(data))
        if stream is None or stream.writing() or stream.closed():
            await future  # a backlog (or an error): wait for the socket to drain

    async def send_many(self, messages: list[str | bytes]) -> None:
        """Send several messages in order, in one write when frames are plain."""
        stream = self._plain_stream()
        if stream is not None:
            future = stream.write(b"".join([encode_frame(data) for data in messages]))
            if stream.writing() or stream.closed():
                await future
            return
        connection = self._handler.ws_connection
        sock = getattr(getattr(connection, "stream", None), "socket", None)
        corked = set_cork(sock, True)
        try:
            for data in messages:
                await self.send(data)
        finally:
            if corked:
                set_cork(sock, False)

    def _plain_stream(self) -> IOStream | None:
        """The connection's stream when frames can be written to it as they are built by
        :func:`~engineio_core.websocket_sync.encode_frame` (server frames, no extension).

        ``write_message`` costs a task per message (Tornado wraps each write's future
        in a coroutine); writing the frame to the stream skips that. Anything unusual
        (permessage-deflate, another protocol class) goes through ``write_message``.
        """
        connection = self._handler.ws_connection
        if (type(connection) is not tornado.websocket.WebSocketProtocol13
                or connection._compressor is not None or connection.mask_outgoing):
            return None
        stream = connection.stream
        return stream if isinstance(stream, IOStream) else None

    async def close(self, code: int) -> None:
        self._handler.close(code)

    def abort(self) -> None:
        """Reset the connection now (its unsent data is dropped)."""
        connection = self._handler.ws_connection
        stream = getattr(connection, "stream", None)
        if stream is not None and not stream.closed():
            reset_on_close(stream.socket)
            stream.close()

    # -------------------------------------------------------------- handler side
    def opened(self) -> None:
        opened = self._opened
        if opened is not None and not opened.done():
            opened.set_result(None)

    def push(self, message: str | bytes) -> asyncio.Future[None] | None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(message)
                return None
        if self.done:
            return None
        self._pending = message
        consumed = self._consumed = self._loop.create_future()
        return consumed

    def ended(self) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _upgrade_ended(self, task: asyncio.Future[None]) -> None:
        opened = self._opened
        if opened is not None and not opened.done():
            opened.set_exception(ConnectionError("the WebSocket upgrade did not complete"))
        self.ended()

    async def finished(self) -> None:
        """The engine is done with this socket: release Tornado's frame loop, await it."""
        self.done = True
        self._pending = None
        consumed = self._consumed
        if consumed is not None and not consumed.done():
            consumed.set_result(None)
        upgrade = self._upgrade
        if upgrade is not None:
            with contextlib.suppress(Exception):
                await upgrade


def engineio_routes(server: AsyncServer | Any, path: str = "/engine.io/", *,
                    compression_options: dict[str, Any] | None = None,
                    fast_polling: bool = True) -> list[Rule]:
    """Rules that serve ``server``, to splice into ``tornado.web.Application([...])``.

    Args:
        server: the Engine.IO server (or a python-socketio server on our engine,
            ``engineio_core.socketio.AsyncServer``, with ``path="/socket.io/"``).
        path: where Engine.IO is served; matched with and without the trailing slash.
        compression_options: WebSocket permessage-deflate options (``None``: off).
        fast_polling: serve the polling GETs and POSTs of established sessions with a
            :class:`~tornado_engineio.SessionPollingRouter`, below ``RequestHandler``
            (faster; such requests skip the access log and ``RequestHandler`` hooks).
            ``False`` sends every request through :class:`EngineIOHandler`.

    Returns:
        A :class:`~tornado.routing.Rule` for the :class:`SessionPollingRouter` (unless
        ``fast_polling`` is false), then the :class:`tornado.routing.URLSpec` for
        :class:`EngineIOHandler`, which serves everything the router leaves.
    """
    server = hosted_server(server, AsyncServer, "tornado_engineio.engineio_routes()")
    pattern = re.escape("/" + path.strip("/")).rstrip("/") + "/?"
    kwargs = {"server": server, "compression_options": compression_options}
    spec = tornado.web.url(pattern, EngineIOHandler, kwargs)
    if not fast_polling:
        return [spec]
    return [Rule(PathMatches(pattern), SessionPollingRouter(server)), spec]


async def shutdown(server: AsyncServer | Any, http_server: HTTPServer | None = None, *,
                   close_code: int = 1001) -> None:
    """Stop serving: Tornado has no application lifecycle, so call this before exiting.

    Stops accepting connections (when ``http_server`` is given), closes every
    Engine.IO session (WebSocket clients get a close packet, then a close frame
    with ``close_code``; held long-polls their close packet) and stops the
    heartbeat timer, then closes the remaining HTTP connections.

    Args:
        server: the Engine.IO server (or a python-socketio server on our engine,
            ``engineio_core.socketio.AsyncServer``, with ``path="/socket.io/"``).
        http_server: what ``Application.listen`` returned, if it should be stopped too.
        close_code: the WebSocket close code (1001, "going away").
    """
    engine = hosted_server(server, AsyncServer, "tornado_engineio.shutdown()")
    if http_server is not None:
        http_server.stop()
    await engine.shutdown(close_code)
    if http_server is not None:
        await http_server.close_all_connections()
