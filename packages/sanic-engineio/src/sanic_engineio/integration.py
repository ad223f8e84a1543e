"""``SanicEngineIO``: an Engine.IO server mounted on a Sanic app.

Glue only: the route turns Sanic requests into engineio-core ``Request``
objects, streams POST bodies against the engine's limit, hands upgrade requests
to the engine with a :class:`~sanic_engineio.websocket.SanicWebSocket`, and
writes the engine's ``Response`` back as a Sanic ``HTTPResponse``. Every
protocol decision is the engine's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, overload

from sanic import HTTPResponse, Sanic
from sanic import Request as SanicRequest
from sanic.compat import Header
from sanic.constants import HTTP_METHODS

from engineio_core import AsyncServer, ConfigError, ServerConfig, ServerNotFound
from engineio_core.base_server import BodyTooLarge, check_event
from engineio_core.hosting import hosted_server
from engineio_core.protocol.config import unknown_options
from engineio_core.protocol.http import Request, Response, parse_query, request_headers
from engineio_core.protocol.session import TransportName

from .websocket import SanicWebSocket, asgi_scope, asgi_websocket

__all__ = ["CONFIG_PREFIX", "SanicEngineIO", "get_server"]

F = TypeVar("F", bound=Callable[..., Any])
SanicApp = Sanic[Any, Any]

CONFIG_PREFIX = "ENGINEIO_"
"""``app.config`` keys starting with this configure the server (``ENGINEIO_PING_INTERVAL``...)."""

DEFAULT_PATH = "/engine.io/"

WS_SIZE_FACTOR = 2
"""The WebSocket protocol assembles messages up to this many times the engine's limit,
so the engine itself rejects the oversized ones (close 1009, ``transport error``)."""


def get_server(app: SanicApp) -> AsyncServer:
    """The :class:`~engineio_core.AsyncServer` that :class:`SanicEngineIO` set up on ``app``.

    Raises:
        ServerNotFound: ``app`` has no Engine.IO server (``init_app`` was not called).
    """
    server = getattr(app.ctx, "engineio", None)
    if not isinstance(server, AsyncServer):
        raise ServerNotFound(f"no Engine.IO server on the Sanic app {app.name!r}: "
                             "call SanicEngineIO(app) or init_app(app) first")
    return server


class SanicEngineIO:
    """Engine.IO (v3 and v4) for a Sanic app: polling and WebSocket on one path.

    Options come from ``app.config`` keys ``ENGINEIO_<OPTION>`` (``ENGINEIO_PATH``,
    ``ENGINEIO_PING_INTERVAL``, ``ENGINEIO_CORS_ALLOWED_ORIGINS``... so also from
    ``SANIC_ENGINEIO_*`` environment variables); keyword arguments override them.
    An unknown option raises :class:`~engineio_core.ConfigError`.

    Handlers can be registered before :meth:`init_app`. Each ``init_app`` gives its
    app its own :class:`~engineio_core.AsyncServer` (in ``app.ctx.engineio``, see
    :func:`get_server`); :attr:`server` is the one of the app initialised last.

    Args:
        app: the Sanic app; ``None`` to call :meth:`init_app` later (app factories).
        path: where Engine.IO is served, matched with and without the trailing
            slash (default ``/engine.io/``; config ``ENGINEIO_PATH``).
        server: serve this server (ours, or a python-socketio server on our engine,
            ``engineio_core.socketio.AsyncServer``) instead of making one; the
            ``ENGINEIO_*`` options other than ``ENGINEIO_PATH`` are then not used.
        **options: server options (``ping_interval``, ``ping_timeout``,
            ``max_http_buffer_size``, ``cors_allowed_origins``, ``logger``...), see
            :class:`~engineio_core.ServerConfig`.

    Example::

        app = Sanic("chat")
        eio = SanicEngineIO(app, cors_allowed_origins="*")

        @eio.on("message")
        async def message(sid, data):
            await eio.send(sid, data)
    """

    def __init__(self, app: SanicApp | None = None, *, path: str | None = None,
                 server: AsyncServer | Any | None = None, **options: Any) -> None:
        if "async_mode" in options:
            raise ConfigError("SanicEngineIO always uses async_mode='sanic'")
        if server is not None and options:
            raise TypeError(f"SanicEngineIO got options {sorted(options)} and a server: "
                            "give the options to the server instead")
        self._given = None if server is None else hosted_server(server, AsyncServer,
                                                                 "SanicEngineIO")
        self.path = path
        self.options = options
        self.handlers: dict[str, Callable[..., Any]] = {}
        self._server: AsyncServer | None = None
        self.mounted_path: str | None = None
        """The path of the app initialised last (``/engine.io/``), once mounted."""
        if app is not None:
            self.init_app(app)

    # ------------------------------------------------------------------ setup
    def init_app(self, app: SanicApp) -> AsyncServer:
        """Create the app's server and mount its route and listeners.

        Registers one route (every HTTP method, WebSocket upgrades included) at the
        Engine.IO path and a
        ``before_server_stop`` listener that closes every session (WebSockets with
        close code 1001). Call it before the server starts.

        Returns:
            The app's :class:`~engineio_core.AsyncServer` (also ``app.ctx.engineio``).

        Raises:
            ConfigError: an unknown or invalid option (keyword or ``ENGINEIO_*`` key).
            RuntimeError: ``app`` already has an Engine.IO server.
        """
        if isinstance(getattr(app.ctx, "engineio", None), AsyncServer):
            raise RuntimeError(f"the Sanic app {app.name!r} already has an Engine.IO server")
        options = {
            key[len(CONFIG_PREFIX):].lower(): value
            for key, value in app.config.items()
            if key.startswith(CONFIG_PREFIX)
        }
        known = ServerConfig.option_names() | _PACKAGE_OPTIONS
        unknown = sorted(set(options) - known)
        if unknown:  # named as the user wrote them: ENGINEIO_PING_INTERVL
            raise unknown_options(unknown, known, spell=lambda name: CONFIG_PREFIX + name.upper())
        options.update(self.options)
        path = options.pop("path", DEFAULT_PATH)
        if self.path is not None:
            path = self.path
        if not isinstance(path, str) or not path.strip("/"):
            raise ConfigError(f"path must be a non-empty URL path, got {path!r}")
        if "async_mode" in options:
            raise ConfigError("ENGINEIO_ASYNC_MODE is not an option: SanicEngineIO uses 'sanic'")
        if self._given is not None:
            server = self._given
        else:
            server = AsyncServer(async_mode="sanic", **options)
        for event, handler in self.handlers.items():
            server.on(event, handler)
        app.ctx.engineio = server
        self._server = server

        handler = make_handler(server)
        app.enable_websocket()  # serve with Sanic's WebSocketProtocol
        self.mounted_path = "/" + path.strip("/") + "/"
        app.add_route(handler, "/" + path.strip("/"), methods=HTTP_METHODS,
                      strict_slashes=False, stream=True, name="engineio")

        async def before_server_stop(app: SanicApp) -> None:
            await server.shutdown(close_code=1001)

        app.register_listener(before_server_stop, "before_server_stop")
        return server

    @property
    def server(self) -> AsyncServer:
        """The :class:`~engineio_core.AsyncServer` of the app initialised last.

        Raises:
            RuntimeError: :meth:`init_app` was not called yet.
        """
        if self._server is None:
            raise RuntimeError("SanicEngineIO is not initialised: call init_app(app)")
        return self._server

    # ------------------------------------------------------------------ handlers
    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> F | Callable[[F], F]:
        """Register a handler, directly or as a decorator (also before :meth:`init_app`).

        Handlers: ``connect(sid, request)`` (``request.native`` is the Sanic request;
        return ``False`` or raise :class:`~engineio_core.ConnectionRefused` to refuse),
        ``message(sid, data)``, ``disconnect(sid, reason)``, ``upgrade(sid)``,
        ``connection_error(refusal)`` (each refused request, an
        :class:`engineio_core.Refusal`).

        Raises:
            ValueError: unknown event name.
        """
        check_event(event)

        def register(fn: F) -> F:
            self.handlers[event] = fn
            if self._server is not None:
                self._server.on(event, fn)
            return fn

        if handler is None:
            return register
        return register(handler)

    # ------------------------------------------------------------------ server API
    async def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to a session (see :meth:`engineio_core.AsyncServer.send`)."""
        await self.server.send(sid, data)

    async def disconnect(self, sid: str | None = None) -> None:
        """Close one session, or every session when ``sid`` is ``None``."""
        await self.server.disconnect(sid)

    @asynccontextmanager
    async def session(self, sid: str) -> AsyncIterator[dict[str, Any]]:
        """The application's dict for a session, as an async context manager."""
        async with self.server.session(sid) as data:
            yield data

    async def get_session(self, sid: str) -> dict[str, Any]:
        """The application's dict for a session."""
        return await self.server.get_session(sid)

    async def save_session(self, sid: str, data: dict[str, Any]) -> None:
        """Replace the application's dict for a session."""
        await self.server.save_session(sid, data)

    def transport(self, sid: str) -> TransportName:
        """``"polling"`` or ``"websocket"``."""
        return self.server.transport(sid)

    def start_background_task(self, target: Callable[..., Any], *args: Any,
                              **kwargs: Any) -> asyncio.Task[Any]:
        """Run a coroutine function in the background; returns its task."""
        return self.server.start_background_task(target, *args, **kwargs)

    async def sleep(self, seconds: float = 0) -> None:
        """Sleep without blocking other sessions."""
        await self.server.sleep(seconds)


_PACKAGE_OPTIONS = frozenset({"path", "logger", "async_handlers", "cluster", "async_mode"})
"""``ENGINEIO_*`` keys that are not :class:`~engineio_core.ServerConfig` options."""


# ---------------------------------------------------------------------- the route
def make_handler(server: AsyncServer) -> Callable[..., Any]:
    """The Sanic handler serving ``server``: polling and WebSocket upgrades on one route.

    :meth:`SanicEngineIO.init_app` routes it for you; to route it yourself, add it
    for every HTTP method with ``stream=True`` and call ``app.enable_websocket()``.

    Args:
        server: the Engine.IO server.

    Returns:
        A coroutine function ``handler(request) -> HTTPResponse | None``.
    """
    ws_max_size = server.config.max_http_buffer_size * WS_SIZE_FACTOR

    async def engineio(request: SanicRequest[Any, Any]) -> HTTPResponse | None:
        eio_request = to_engine_request(request)
        scope = asgi_scope(request)
        if scope is not None and scope.get("type") == "websocket":
            await server.handle_websocket(eio_request, asgi_websocket(request, scope))
            return None
        if (request.method == "GET"
                and request.headers.get("upgrade", "").lower() == "websocket"):
            return await _websocket(server, request, eio_request, ws_max_size)

        async def read_body(limit: int) -> bytes:
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise BodyTooLarge
            stream: Any = request.stream  # Http, or ASGIApp under ASGI: both iterate chunks
            if stream is None:
                return b""
            chunks: list[bytes] = []
            size = 0
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
            return b"".join(chunks)

        return to_sanic(await server.handle_http(eio_request, read_body))

    # Sanic sends nothing for a handler marked as a WebSocket handler that returns
    # None (the upgraded connection); HTTP answers are returned as usual.
    engineio.is_websocket = True  # type: ignore[attr-defined]
    return engineio


async def _websocket(server: AsyncServer, request: SanicRequest[Any, Any],
                     eio_request: Request, max_size: int) -> HTTPResponse | None:
    ws = SanicWebSocket(request, max_size)
    try:
        await server.handle_websocket(eio_request, ws)
    except asyncio.CancelledError:
        if not ws.upgraded:
            raise
        # The connection was lost (Sanic cancels its task): like Sanic's own
        # WebSocket handlers, end here rather than answer on an upgraded socket.
        ws.end()
        return None
    finally:
        if ws.upgraded:
            ws.finished()
    if ws.refusal is not None:
        return to_sanic(ws.refusal)
    return None


def to_engine_request(request: SanicRequest[Any, Any]) -> Request:
    """An engineio-core :class:`~engineio_core.Request` for a Sanic request (body not read).

    The client address is ``request.remote_addr`` (set when Sanic trusts a proxy:
    ``PROXIES_COUNT``, ``REAL_IP_HEADER``, ``FORWARDED_SECRET``), else the peer's.
    """
    headers = request_headers(request.headers.items())
    host = request.remote_addr or request.ip
    scheme = request.scheme
    return Request(
        method=request.method,
        query=parse_query(request.query_string),
        headers=headers,
        client=(host, request.port) if host else None,
        scheme={"ws": "http", "wss": "https"}.get(scheme, scheme),
        path=request.path,
        native=request,
    )


def to_sanic(response: Response) -> HTTPResponse:
    """A Sanic ``HTTPResponse`` for an engine :class:`~engineio_core.Response`.

    ``Content-Length`` is left to Sanic (it computes it, and omits it on 204).
    """
    headers = Header([(k, v) for k, v in response.headers if k.lower() != "content-length"])
    return HTTPResponse(response.body, status=response.status, headers=headers,
                        content_type=headers.get("content-type", "text/plain; charset=utf-8"))


