"""What the sync and async servers share: options, the engine, handler registration.

Nothing here waits; the subclasses add the waiting of their runtime.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .protocol.config import ServerConfig
from .protocol.engine import Engine, Handshake, PostBody, SessionInfo
from .protocol.errors import EngineIOError, SessionUnknown
from .protocol.events import Disconnect, Event, Message, Refusal, Upgraded

if TYPE_CHECKING:
    from .protocol.http import Response
    from .protocol.session import Channel, TransportName

__all__ = [
    "EVENTS", "MAX_QUEUED_EVENTS", "BaseServer", "BodyTooLarge", "ConnectionRefused",
    "MessageTooLarge", "Rejection", "check_event",
]

EVENTS = ("connect", "message", "disconnect", "upgrade", "connection_error")
"""Events a handler can be registered for with :meth:`BaseServer.on`.

``connection_error`` is not a session event: its handler gets the
:class:`~engineio_core.protocol.events.Refusal` of each refused request.
"""


MAX_QUEUED_EVENTS = 256
"""With ``async_handlers``: how many messages may wait for a session's running handler.

At this bound the session stops reading (a WebSocket's reader waits, a polling
POST is answered late) until the handler has worked the queue down to half,
so a client that sends faster than its handler runs is slowed down by TCP
rather than growing the server's memory. The session's disconnect and upgrade
events join the queue past the bound (at most one of each).
"""


HELD_POLL_WATCH_DELAY = 0.5
"""Seconds a GET is held before ``handle_http`` starts watching its connection
(``disconnected``), then how often it looks again: a GET answered sooner costs no
watcher."""


PROBE_CATCH_UP = 0.05
"""Seconds a GET of a session with a probe WebSocket may wait for that socket's
reader to feed the engine what has already arrived on it.

A client may send ``2probe`` and ``5`` and then a GET at once; the GET must
find the upgrade done (400), as it does when frames are read in the order they
arrive, whatever order the server's connections are served in.
"""


SETTLED_TURNS = 3
"""How many turns in a row (loop turns, green-thread yields) a probe's reader must be
found waiting, with nothing left unread, before a GET of its session goes on."""


V3_WEBSOCKET_OPEN_DELAY = 0.005
"""Seconds between the 101 and the open packet of a WebSocket-only EIO 3 session.

A client whose 101 response and first frame arrive in one read may emit its
``open`` and ``message`` events in one tick: node's ``ws`` does, so code that
attaches its ``message`` listener once ``open`` has fired (the official v3
test suite does) misses the open packet, whatever server sends it (measured:
the node reference server loses it in 1 connection of 3 when nothing delays
it; ours in 2 of 3). A pause this long puts the two in separate reads. Only
EIO 3 sessions that start on a WebSocket wait for it: engine.io-client 3
starts on polling, and the EIO 4 handshake (the benchmarks' ``handshakes_ws``)
is not delayed.
"""


OPEN_DELIVERY_TIMEOUT = 0.1
"""At most this long, before that pause, a WebSocket whose connection ends at a proxy
in the same server (uWSGI's HTTP router) waits for the proxy to take the 101: a
proxy that reads the 101 and the open packet together relays them in one write."""


def open_delay(handshake: Handshake) -> float:
    """How long a new session's first frame waits after the 101 (see above)."""
    if handshake.websocket and handshake.request.query.get("EIO") == "3":
        return V3_WEBSOCKET_OPEN_DELAY
    return 0.0


def check_event(event: str) -> None:
    """Raise ``ValueError`` unless ``event`` is one of :data:`EVENTS`."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; expected one of {EVENTS}")


F = TypeVar("F", bound=Callable[..., Any])

default_logger = logging.getLogger("engineio_core.server")


class BodyTooLarge(EngineIOError):
    """Raised by an adapter's body reader when the body exceeds the limit it was given."""


class MessageTooLarge(EngineIOError):
    """Raised by a WebSocket adapter's ``receive`` when its library refused a message
    over the size limit; the session then ends like any oversized message
    (close 1009, ``transport error``)."""


class ConnectionRefused(EngineIOError):
    """Raise from a connect handler to refuse the connection (HTTP 403) with a message."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Forbidden")
        self.message = message


class Rejection:
    """The connect handler refused a handshake: the answer's message (or the
    default), and why, for the :class:`~engineio_core.protocol.events.Refusal`."""

    __slots__ = ("context", "detail", "message")

    def __init__(self, message: str | None, detail: str,
                 context: dict[str, Any] | None = None) -> None:
        self.message = message
        self.detail = detail
        self.context = context if context is not None else {"name": "CONNECT_REFUSED",
                                                            "message": message}


class PendingEvents:
    """A session whose handler is running: what arrived for it meanwhile, in order.

    ``items`` holds message data (``str`` / ``bytes``) and ``Disconnect`` /
    ``Upgraded`` events; ``room`` is what a reader waiting at
    :data:`MAX_QUEUED_EVENTS` waits on (a future or a backend event);
    ``worker`` the (green) thread running the handlers (``Server`` only).
    """

    __slots__ = ("items", "room", "worker")

    def __init__(self) -> None:
        self.items: deque[str | bytes | Event] = deque()
        self.room: Any = None
        self.worker: object = None


def _fewer_args(fn: Callable[..., Any], count: int) -> Callable[[str, str | bytes], Any]:
    """A ``(sid, data)`` message handler calling ``fn`` with its first ``count`` arguments."""

    def call(sid: str, data: str | bytes) -> Any:
        return fn(*(sid, data)[:count])

    return call


class BaseServer:
    """Options, engine and handlers of an Engine.IO server (runtime independent).

    Both runtimes share every decision made here (the connect verdict, which
    handler an event reaches, the 413 answer) and differ only in how they wait:
    each calls the engine through one choke point (``_run``) that then writes
    what the engine produced and dispatches its events.

    Args:
        logger: a ``logging.Logger`` to log to (default ``engineio_core.server``).
        async_handlers: run message handlers off the session's read path (the
            default of both servers):
            heartbeats, closes and upgrades are processed while a
            handler runs, and the messages of one session still reach its
            handler one at a time, in the order they arrived (with the
            session's disconnect and upgrade events in that order too).
            ``False``: the session reads its next packet only once the handler
            has returned.
        **options: server options, see :class:`engineio_core.protocol.config.ServerConfig`.
    """

    def __init__(self, *, logger: logging.Logger | None = None, async_handlers: bool = True,
                 **options: Any) -> None:
        self.config = ServerConfig.from_options(**options)
        self.engine = Engine(self.config)
        self.logger = logger or default_logger
        self.async_handlers = bool(async_handlers)
        self.handlers: dict[str, Callable[..., Any]] = {}
        self._arity: dict[str, int] = {}
        # The message handler as (sid, data), whatever its own arity: the hot path.
        self._message_handler: Callable[[str, str | bytes], Any] | None = None
        # With async_handlers: the sessions whose handler is running, and what waits for it.
        self._pending: dict[str, PendingEvents] = {}

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> F | Callable[[F], F]:
        """Register a handler, directly or as a decorator.

        Handlers: ``connect(sid, request)`` (return ``False`` or raise
        :class:`ConnectionRefused` to refuse), ``message(sid, data)``,
        ``disconnect(sid, reason)`` (``reason`` is a :class:`DisconnectReason`;
        a one-argument ``disconnect(sid)`` works too), ``upgrade(sid)`` and
        ``connection_error(refusal)``: each request the server refused (a
        :class:`~engineio_core.protocol.events.Refusal`), called before the
        answer is sent; what it returns or raises never changes the answer.

        Raises:
            ValueError: unknown event name.
        """
        check_event(event)

        def register(fn: F) -> F:
            self.handlers[event] = fn
            try:
                params = inspect.signature(fn).parameters.values()
                positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                              p.POSITIONAL_OR_KEYWORD)]
                varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
                self._arity[event] = 99 if varargs else len(positional)
            except (TypeError, ValueError):
                self._arity[event] = 99
            if event == "message":
                arity = self._arity[event]
                self._message_handler = fn if arity >= 2 else _fewer_args(fn, arity)
            return fn

        if handler is None:
            return register
        return register(handler)

    def _handler_args(self, event: str, *args: Any) -> tuple[Any, ...]:
        return args[: self._arity.get(event, len(args))]

    # ------------------------------------------------------------------ shared decisions
    def _connect_verdict(self, sid: str, result: object = None,
                         error: Exception | None = None) -> Rejection | None:
        """What the connect handler's return value (or exception) means: ``None`` accepts."""
        if error is not None:
            if isinstance(error, ConnectionRefused):
                return Rejection(error.message,
                                 f"the connect handler raised ConnectionRefused({error.message!r})")
            self.logger.error("connect handler failed; refusing %s", sid, exc_info=error)
            return Rejection(None, f"the connect handler failed: {error!r}",
                             {"name": "CONNECT_HANDLER_FAILED", "error": error})
        if result is False:
            return Rejection(None, "the connect handler returned False")
        return None

    def _conclude_handshake(self, handshake: Handshake, rejection: Rejection | None,
                            now: float) -> Response | Channel:
        """Accept or reject the handshake (an engine call: run it through ``_run``)."""
        engine = self.engine
        if rejection is not None:
            return engine.reject(handshake, rejection.message, detail=rejection.detail,
                                 context=rejection.context)
        try:
            return engine.accept(handshake, now)
        except SessionUnknown as exc:  # closed while the handler decided
            return engine.reject(handshake, exc.message,
                                 detail="the session closed while the connect handler ran",
                                 context={"name": "SESSION_CLOSED"})

    def _too_large(self, post: PostBody, now: float) -> Response:
        """The 413 answer to a body past the limit; the connection is not reused."""
        response = self.engine.body_too_large(post, now)
        response.headers.append(("Connection", "close"))
        return response

    def _route(self, event: Event) -> tuple[Callable[..., Any], tuple[Any, ...]] | None:
        """The handler an engine event reaches and its arguments (``None``: no handler)."""
        args: tuple[Any, ...]
        if type(event) is Message:
            name, args = "message", (event.sid, event.data)
        elif type(event) is Disconnect:
            self._log_disconnect(event)
            name, args = "disconnect", (event.sid, event.reason)
        elif type(event) is Upgraded:
            name, args = "upgrade", (event.sid,)
        else:  # pragma: no cover - Event is a closed union
            raise TypeError(f"unknown event {event!r}")
        handler = self.handlers.get(name)
        if handler is None:
            return None
        return handler, self._handler_args(name, *args)

    def transport(self, sid: str) -> TransportName:
        """The transport of a session: ``"polling"`` or ``"websocket"``.

        Raises:
            SessionUnknown: no open session has this id.
        """
        return self.engine.transport(sid)

    def has_session(self, sid: str) -> bool:
        """Whether this server holds a session with this id (not yet closed)."""
        return self.engine.has_session(sid)

    def session_ids(self) -> list[str]:
        """The ids of every session this server holds."""
        return self.engine.session_ids()

    def session_count(self) -> int:
        """How many sessions this server holds."""
        return self.engine.session_count()

    def session_info(self, sid: str) -> SessionInfo:
        """A read-only view of a session: state, transport, held GET, WebSocket, probe.

        Raises:
            SessionUnknown: no session has this id.
        """
        return self.engine.session_info(sid)

    def _send_each(self, sid: str, messages: Sequence[str | bytes]) -> None:
        """Queue ``messages`` for ``sid`` back to back (under the server's choke point)."""
        send = self.engine.send
        for data in messages:
            send(sid, data)

    def _send_all(self, data: str | bytes, lacks: Callable[[str], bool] | None = None) -> None:
        """Queue ``data`` for every open session (under the server's choke point), or
        for those ``lacks`` says lack it (a cluster's broadcast: see its node)."""
        send = self.engine.send
        for sid in self.engine.session_ids():
            if lacks is not None and not lacks(sid):
                continue
            try:
                send(sid, data)
            except SessionUnknown:
                continue  # closing: it takes no more messages

    def _session_data(self, sid: str) -> dict[str, Any]:
        return self.engine.session(sid).data

    def _handler_failed(self, event: str, sid: str) -> None:
        """Log the exception a handler raised (the session stays open)."""
        self.logger.exception("%s handler failed (session %s)", event, sid)

    def _report_refusal(self, refusal: Refusal) -> Any:
        """Log a refusal at INFO and call the ``connection_error`` handler.

        Returns what the handler returned (the async server awaits an
        awaitable); a handler that raises is logged, and ``None`` returned.
        """
        request = refusal.request
        client = request.client
        self.logger.info(
            "refused %s %s%s%s: %s [%s; HTTP %d, code %d %r]",
            request.method, request.path, f" from {client[0]}" if client else "",
            f" (session {refusal.sid})" if refusal.sid else "", refusal.reason,
            refusal.context.get("name"), refusal.status, refusal.code, refusal.message)
        handler = self.handlers.get("connection_error")
        if handler is None:
            return None
        try:
            return handler(*self._handler_args("connection_error", refusal))
        except Exception:
            self.logger.exception("connection_error handler failed (%s)", refusal.reason)
            return None

    def _log_disconnect(self, event: Disconnect) -> None:
        logger = self.logger
        if logger.isEnabledFor(logging.INFO):  # (every close: skip building the arguments)
            logger.info("session %s closed: %s%s", event.sid, event.reason.value,
                        f" ({event.detail})" if event.detail else "")
