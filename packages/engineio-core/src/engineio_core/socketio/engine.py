"""python-engineio's ``Server`` and ``AsyncServer`` surface, served by engineio-core.

:class:`EngineServer` and :class:`AsyncEngineServer` are what python-socketio
finds in ``sio.eio`` once it runs on our engine: they take python-engineio's
options (:mod:`.options`), call its handlers the way it does (``connect(sid,
environ)``, ``message(sid, data)``, ``disconnect(sid, reason)``), and answer
requests in each of its calling conventions. The engine under them is an
ordinary :class:`engineio_core.Server` / :class:`engineio_core.AsyncServer`
(``.server``): every framework package of ours hosts it as it hosts any other.

What they do not have: python-engineio's internals (``sockets``,
``_get_socket``, ``_ok``), which python-socketio's admin instrumentation
(``sio.instrument()``) patches; that feature does not run on our engine.
"""

from __future__ import annotations

import asyncio
import inspect
import json as std_json
import logging
import queue
import re
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from ..asgi import ASGIApp
from ..async_server import AsyncServer as CoreAsyncServer
from ..base_server import ConnectionRefused
from ..protocol.errors import SessionUnknown
from ..protocol.http import Request
from ..server import Server as CoreServer
from ..wsgi import WSGIApp
from .environ import environ_of
from .options import EngineOptions, translate

if TYPE_CHECKING:
    from ..wsgi import Environ, StartResponse

__all__ = ["AsyncEngineServer", "EngineServer"]

logger = logging.getLogger("engineio_core.socketio")

F = TypeVar("F", bound=Callable[..., Any])

#: python-engineio's packet types that ``send_packet`` is given
_CLOSE, _MESSAGE, _NOOP = 1, 4, 6

#: a Socket.IO binary event or binary ack (``5``/``6``) and its number of attachments
_ATTACHMENTS = re.compile(r"[56](\d+)-")


class _Reason:
    """Why a session ended: python-engineio's ``Server.reason`` constants (our
    :class:`~engineio_core.DisconnectReason` values are these strings, plus
    ``"parse error"`` and ``"send buffer full"``)."""

    SERVER_DISCONNECT = "server disconnect"
    CLIENT_DISCONNECT = "client disconnect"
    PING_TIMEOUT = "ping timeout"
    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"


def _verdict(result: object) -> object:
    """A python-engineio connect handler's answer as an engineio-core one: ``False``
    refuses; any other value but ``None`` and ``True`` refuses with it as message."""
    if result is None or result is True or result is False:
        return result
    raise ConnectionRefused(result if isinstance(result, str) else std_json.dumps(result))


class _Common:
    """What both adapters share: options, handler registration, ids, encoding."""

    reason = _Reason
    event_names = ("connect", "disconnect", "message")
    valid_transports = ("polling", "websocket")

    def _setup(self, settings: EngineOptions) -> None:
        self.async_mode = settings.async_mode
        self.json = settings.json or std_json
        self.handlers: dict[str, Callable[..., Any]] = {}
        # (sender, sid) -> a binary packet's pieces so far, and how many it has in all
        self._pieces: dict[tuple[object, str], tuple[list[str | bytes], int]] = {}

    def _together(self, sender: object, sid: str, data: str | bytes) -> list[str | bytes] | None:
        """The messages to send now: python-socketio sends a binary packet as its text
        header (``51-[...]``: one attachment) then each attachment, in separate calls;
        they are kept until complete and sent together, so that no other thread's or
        task's message to the session comes between them (the client would read it as
        an attachment). ``sender``: the thread sending (pieces are collected per
        sender and session). ``None``: more pieces are due."""
        key = (sender, sid)
        pending = self._pieces.get(key)
        if pending is not None:
            pieces, total = pending
            pieces.append(data)
            if len(pieces) < total:
                return None
            del self._pieces[key]
            return pieces
        if isinstance(data, str) and data[:1] in ("5", "6"):
            match = _ATTACHMENTS.match(data)
            if match is not None and int(match[1]) > 0:
                self._pieces[key] = ([data], int(match[1]) + 1)
                return None
        return [data]

    @property
    def async_handlers(self) -> bool:
        """Run message handlers off the session's read path (python-socketio sets it
        to ``False`` and runs its own handlers in tasks)."""
        return self.server.async_handlers

    @async_handlers.setter
    def async_handlers(self, value: bool) -> None:
        self.server.async_handlers = bool(value)

    @property
    def server(self) -> CoreServer | CoreAsyncServer:
        raise NotImplementedError

    @property
    def engineio_core_server(self) -> CoreServer | CoreAsyncServer:
        """The engineio-core server (what our framework packages host)."""
        return self.server

    def on(self, event: str, handler: F | None = None) -> Any:
        """Register a handler for ``connect``, ``message`` or ``disconnect``, directly
        or as a decorator (python-engineio's signatures: ``connect(sid, environ)``)."""
        if event not in self.event_names:
            raise ValueError(f"invalid event {event!r}; expected one of {self.event_names}")

        def register(fn: F) -> F:
            self.handlers[event] = fn
            self.server.on(event, self._connect(fn) if event == "connect" else fn)
            return fn

        if handler is None:
            return register
        register(handler)
        return None

    def _connect(self, fn: Callable[..., Any]) -> Callable[[str, Request], Any]:
        raise NotImplementedError

    def generate_id(self) -> str:
        """A new random id (20 url-safe characters), as python-socketio asks for one."""
        return secrets.token_urlsafe(15)

    def transport(self, sid: str) -> str:
        """``"polling"`` or ``"websocket"``.

        Raises:
            SessionUnknown: no session has this id (python-engineio raises ``KeyError``).
        """
        return self.server.transport(sid)

    def _encode(self, data: Any) -> str | bytes:
        if isinstance(data, str | bytes):
            return data
        if isinstance(data, bytearray | memoryview):
            return bytes(data)
        return str(self.json.dumps(data, separators=(",", ":")))

    def _packet_data(self, pkt: Any) -> str | bytes | None:
        """The message of a python-engineio ``Packet`` (``None``: a close; a ``NOOP``
        is left to the caller: it sends nothing)."""
        kind = pkt.packet_type
        if kind == _MESSAGE:
            return self._encode(pkt.data)
        if kind == _CLOSE:
            return None
        raise ValueError(f"send_packet: engineio-core sends only MESSAGE, CLOSE and NOOP "
                         f"packets, got type {kind}")

    def _gone(self, sid: str) -> None:
        logger.debug("not sending to %s: the session is gone", sid)


class EngineServer(_Common):
    """python-engineio's ``engineio.Server``, served by :class:`engineio_core.Server`.

    Args:
        **options: python-engineio's options (``async_mode``, ``ping_interval``
            as seconds or ``(interval, grace)``, ``cors_allowed_origins`` with
            ``[]`` for "any origin", ``logger``, ``json``, ``monitor_clients``...)
            and engineio-core's own (``cluster``, ``allowed_hosts``...); a name
            that means nothing here warns (:class:`~.options.IgnoredOptionWarning`).
    """

    def __init__(self, **options: Any) -> None:
        settings = translate(options, asyncio=False)
        self._server = CoreServer(async_mode=settings.backend, logger=settings.logger,
                                  async_handlers=settings.async_handlers, **settings.core)
        settings.async_mode = self._server.async_mode
        self._setup(settings)
        self._wsgi = WSGIApp(self._server)

    @property
    def server(self) -> CoreServer:
        return self._server

    def is_asyncio_based(self) -> bool:
        return False

    def _connect(self, fn: Callable[..., Any]) -> Callable[[str, Request], Any]:
        def connect(sid: str, request: Request) -> object:
            return _verdict(fn(sid, environ_of(request)))
        return connect

    def send(self, sid: str, data: Any) -> None:
        """Send a message; a session that is gone is skipped (as python-engineio does).
        A binary packet's pieces leave together (see ``_together``)."""
        messages = self._together(self._server.backend.current(), sid, self._encode(data))
        if messages is None:
            return
        try:
            if len(messages) == 1:
                self._server.send(sid, messages[0])
            else:
                self._server.send_many(sid, messages)
        except SessionUnknown:
            self._gone(sid)

    def send_packet(self, sid: str, pkt: Any) -> None:
        """Send a python-engineio ``Packet`` (``MESSAGE``; ``CLOSE`` disconnects)."""
        if pkt.packet_type == _NOOP:
            return
        data = self._packet_data(pkt)
        if data is None:
            self.disconnect(sid)
        else:
            self.send(sid, data)  # an empty message too

    def get_session(self, sid: str) -> dict[str, Any]:
        """The live session dict (changes are kept)."""
        return self._server.get_session(sid)

    def save_session(self, sid: str, session: dict[str, Any]) -> None:
        self._server.save_session(sid, session)

    def session(self, sid: str) -> AbstractContextManager[dict[str, Any]]:
        return self._server.session(sid)

    def disconnect(self, sid: str | None = None) -> None:
        """Close one session (a gone one is skipped), or all of them."""
        try:
            self._server.disconnect(sid)
        except SessionUnknown:
            self._gone(sid or "")

    def handle_request(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Serve a WSGI request (python-socketio's ``WSGIApp`` and Flask-SocketIO call it)."""
        return self._wsgi.serve(environ, start_response)

    def start_background_task(self, target: Callable[..., Any], *args: Any,
                              **kwargs: Any) -> Any:
        return self._server.start_background_task(target, *args, **kwargs)

    def sleep(self, seconds: float = 0) -> None:
        self._server.sleep(seconds)

    def create_event(self, *args: Any, **kwargs: Any) -> Any:
        """An event of the server's backend (a green one under eventlet and gevent)."""
        return self._server.backend.event()

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        """A queue of the server's backend."""
        return _queue_class(self.async_mode)(*args, **kwargs)

    def get_queue_empty_exception(self) -> type[Exception]:
        return _queue_empty(self.async_mode)

    def shutdown(self) -> None:
        """Close every session."""
        self._server.shutdown()


class AsyncEngineServer(_Common):
    """python-engineio's ``engineio.AsyncServer``, served by :class:`engineio_core.AsyncServer`.

    ``handle_request`` takes an ASGI ``(scope, receive, send)``, an aiohttp or a
    Sanic request, or python-socketio's Tornado handler; ``attach(app)`` serves an
    aiohttp or Sanic application (with the aiohttp-engineio or sanic-engineio
    package). On Tornado, ``tornado_engineio.engineio_routes(sio, "/socket.io/")``
    is faster than ``socketio.get_tornado_handler(sio)`` and answers refused
    upgrades with 400 (see :mod:`.tornado`).

    Args:
        **options: as :class:`EngineServer`'s; ``async_mode`` is one of ``asgi``
            (the default), ``aiohttp``, ``sanic`` or ``tornado``.
    """

    def __init__(self, **options: Any) -> None:
        settings = translate(options, asyncio=True)
        self._server = CoreAsyncServer(async_mode=settings.backend, logger=settings.logger,
                                       async_handlers=settings.async_handlers, **settings.core)
        self._setup(settings)
        self._asgi = ASGIApp(self._server)
        self._framework_handlers: dict[str, Callable[[Any], Awaitable[Any]]] = {}

    @property
    def server(self) -> CoreAsyncServer:
        return self._server

    @property
    def cors_allowed_origins(self) -> str | list[str] | None:
        """The origins option as python-engineio's Tornado handler reads it (for its
        ``check_origin``): a callable, which it cannot call, reads as ``None`` (every
        origin passes Tornado; the engine checks each request itself)."""
        origins = self._server.config.cors_allowed_origins
        if origins is None or isinstance(origins, str):
            return origins
        return None if callable(origins) else list(origins)

    def is_asyncio_based(self) -> bool:
        return True

    def _connect(self, fn: Callable[..., Any]) -> Callable[[str, Request], Any]:
        async def connect(sid: str, request: Request) -> object:
            result = fn(sid, environ_of(request))
            if inspect.isawaitable(result):
                result = await result
            return _verdict(result)
        return connect

    async def send(self, sid: str, data: Any) -> None:
        """Send a message; a session that is gone is skipped (as python-engineio does).
        A binary packet's pieces leave together (see ``_together``)."""
        # By session only: python-socketio may send each piece from a task of its own
        # (AsyncManager.emit), created in order; they reach this point in that order,
        # and a piece kept here returns without suspending, so nothing comes between.
        messages = self._together(None, sid, self._encode(data))
        if messages is None:
            return
        try:
            if len(messages) == 1:
                await self._server.send(sid, messages[0])
            else:
                await self._server.send_many(sid, messages)
        except SessionUnknown:
            self._gone(sid)

    async def send_packet(self, sid: str, pkt: Any) -> None:
        """Send a python-engineio ``Packet`` (``MESSAGE``; ``CLOSE`` disconnects)."""
        if pkt.packet_type == _NOOP:
            return
        data = self._packet_data(pkt)
        if data is None:
            await self.disconnect(sid)
        else:
            await self.send(sid, data)  # an empty message too

    async def get_session(self, sid: str) -> dict[str, Any]:
        """The live session dict (changes are kept)."""
        return await self._server.get_session(sid)

    async def save_session(self, sid: str, session: dict[str, Any]) -> None:
        await self._server.save_session(sid, session)

    def session(self, sid: str) -> AbstractAsyncContextManager[dict[str, Any]]:
        return self._server.session(sid)

    async def disconnect(self, sid: str | None = None) -> None:
        """Close one session (a gone one is skipped), or all of them."""
        try:
            await self._server.disconnect(sid)
        except SessionUnknown:
            self._gone(sid or "")

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        """Serve a request in python-engineio's calling conventions: ASGI
        ``(scope, receive, send)`` (python-socketio's ``ASGIApp``), an aiohttp
        request, a Sanic request (routes made by :meth:`attach`), or the Tornado
        handler of ``socketio.get_tornado_handler(sio)`` (:mod:`.tornado`).

        Raises:
            TypeError: arguments of no convention served here.
        """
        if len(args) == 3 and isinstance(args[0], dict):
            await self._asgi.serve(*args)
            return None
        if len(args) == 1:
            framework = type(args[0]).__module__.partition(".")[0]
            handler = self._framework_handlers.get(framework)
            if handler is None and framework in ("aiohttp", "sanic"):
                handler = self._framework_handlers[framework] = _framework_handler(
                    framework, self._server)
            if handler is not None:
                return await handler(*args, **kwargs)
            tornado_web = sys.modules.get("tornado.web")
            if tornado_web is not None and isinstance(args[0], tornado_web.RequestHandler):
                from .tornado import serve_tornado_handler

                await serve_tornado_handler(self._server, args[0])
                return None
        raise TypeError(f"handle_request: no calling convention takes {args!r}")

    def attach(self, app: Any, engineio_path: str = "engine.io") -> None:
        """Serve an aiohttp ``web.Application`` or a Sanic app at ``/engineio_path/``
        (python-socketio's ``sio.attach(app)`` calls it with ``"socket.io"``).

        Raises:
            TypeError: ``app`` is neither.
            ImportError: the framework's package (aiohttp-engineio, sanic-engineio)
                is not installed.
        """
        path = "/" + engineio_path.strip("/") + "/"
        framework = type(app).__module__.partition(".")[0]
        if framework == "aiohttp":
            aiohttp_engineio = _import("aiohttp_engineio", "aiohttp-engineio")
            aiohttp_engineio.setup(app, self._server, path=path)
        elif framework == "sanic":
            sanic_engineio = _import("sanic_engineio", "sanic-engineio")
            sanic_engineio.SanicEngineIO(app, path=path, server=self._server)
        else:
            raise TypeError(f"attach: {type(app).__qualname__} is neither an aiohttp "
                            "Application nor a Sanic app (ASGI: use socketio.ASGIApp(sio))")

    def start_background_task(self, target: Callable[..., Awaitable[Any]], *args: Any,
                              **kwargs: Any) -> Any:
        return self._server.start_background_task(target, *args, **kwargs)

    async def sleep(self, seconds: float = 0) -> None:
        await self._server.sleep(seconds)

    def create_event(self, *args: Any, **kwargs: Any) -> asyncio.Event:
        return asyncio.Event(*args, **kwargs)

    def create_queue(self, *args: Any, **kwargs: Any) -> asyncio.Queue[Any]:
        return asyncio.Queue(*args, **kwargs)

    def get_queue_empty_exception(self) -> type[Exception]:
        return asyncio.QueueEmpty

    async def shutdown(self) -> None:
        """Close every session."""
        await self._server.shutdown()


def _import(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"serving python-socketio there needs {package}: "
                          f"pip install {package}") from exc


def _framework_handler(framework: str, server: CoreAsyncServer) -> Callable[[Any], Awaitable[Any]]:
    """The request handler our package for ``framework`` serves ``server`` with."""
    if framework == "aiohttp":
        return _import("aiohttp_engineio", "aiohttp-engineio").make_handler(server)  # type: ignore[no-any-return]
    return _import("sanic_engineio", "sanic-engineio").make_handler(server)  # type: ignore[no-any-return]


def _queue_class(mode: str) -> Callable[..., Any]:
    if mode == "eventlet":
        import eventlet.queue

        return eventlet.queue.Queue  # type: ignore[no-any-return]
    if mode.startswith("gevent"):
        import gevent.queue

        return gevent.queue.JoinableQueue  # type: ignore[no-any-return]
    return queue.Queue


def _queue_empty(mode: str) -> type[Exception]:
    if mode == "eventlet":
        import eventlet.queue

        return eventlet.queue.Empty  # type: ignore[no-any-return]
    if mode.startswith("gevent"):
        import gevent.queue

        return gevent.queue.Empty  # type: ignore[no-any-return]
    return queue.Empty

