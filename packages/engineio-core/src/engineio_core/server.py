"""``Server``: the engine driven by blocking threads (threading, eventlet, gevent).

The sync twin of :class:`~engineio_core.async_server.AsyncServer`, with the
same public API without ``async``. The engine is not thread-safe, so every
engine call runs under one backend lock; what the call produced (channels to
serve, application events) is taken under that same lock and handled outside
it: held GETs are released, WebSocket frames written and handlers called
without holding the lock. One background thread fires the heartbeat deadlines.

Only the backend's primitives are used (spawn, sleep, event, lock,
monotonic), so green-thread backends plug in through ``async_mode``.
WSGI servers are served by :class:`~engineio_core.wsgi.WSGIApp`; other
adapters call :meth:`Server.handle_http` and :meth:`Server.handle_websocket`.
"""

from __future__ import annotations

from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .backends import SyncBackend, load_backend
from .base_server import BaseServer, BodyTooLarge, ConnectionRefused
from .protocol.engine import Handshake, PostBody
from .protocol.errors import SessionUnknown
from .protocol.events import Disconnect, Event, Message, Upgraded
from .protocol.http import Request, Response
from .protocol.session import Channel

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .backends.base import Event as BackendEvent
    from .backends.base import Lock

__all__ = ["Server", "SyncWebSocket"]

T = TypeVar("T")


class SyncWebSocket(Protocol):
    """The WebSocket an adapter hands to :meth:`Server.handle_websocket`."""

    def accept(self) -> None:
        """Complete the WebSocket handshake."""
        ...

    def refuse(self, response: Response) -> None:
        """Answer the upgrade request with a plain HTTP response instead."""
        ...

    def receive(self) -> str | bytes | None:
        """Block for the next message; ``None`` once the peer closed or the connection failed."""
        ...

    def send(self, data: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message (callable from any thread)."""
        ...

    def close(self, code: int) -> None:
        """Close the WebSocket with ``code`` (callable from any thread)."""
        ...


class _Writer:
    """Writes a channel's frames to its WebSocket; its lock keeps writes whole and in order."""

    __slots__ = ("channel", "closed", "lock", "open", "pending", "reader", "send_many", "ws")

    def __init__(self, ws: SyncWebSocket, channel: Channel, lock: Lock, reader: object) -> None:
        self.ws = ws
        self.channel = channel
        self.lock = lock
        self.reader = reader  # the thread receiving from this WebSocket
        self.open = False  # the handshake is done: frames may be written
        self.closed = False
        self.pending = False  # a deferred flush is scheduled
        # WebSockets that can write several messages at once say so with send_many().
        self.send_many: Callable[[list[str | bytes]], None] | None = getattr(
            ws, "send_many", None)


class Server(BaseServer):
    """An Engine.IO server for threads and green threads.

    Args:
        async_mode: the sync backend (``"threading"``, or ``"eventlet"``/``"gevent"``
            when installed); ``None`` picks the best installed one.
        logger: a ``logging.Logger`` (default ``engineio_core.server``).
        **options: server options (``ping_interval``, ``ping_timeout``,
            ``max_http_buffer_size``, ``cors_allowed_origins``...), see
            :class:`~engineio_core.protocol.config.ServerConfig`. Unknown options raise.
    """

    def __init__(self, async_mode: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        backend = load_backend(async_mode, "sync")
        assert backend.kind == "sync"
        self.backend: SyncBackend = backend
        self.async_mode = backend.name
        self._lock = backend.lock()  # guards the engine and the timer fields below
        self._wake: BackendEvent = backend.event()  # an earlier deadline appeared, or stop
        self._timer_at: float | None = None  # the deadline the timer thread waits for
        self._timer_token: object | None = None  # identifies the running timer thread
        self._timer_thread: Any = None

    # ------------------------------------------------------------------ public API
    def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to a session.

        Raises:
            SessionUnknown: no open session has this id.
        """
        self._run(self.engine.send, sid, data)

    def disconnect(self, sid: str | None = None) -> None:
        """Close one session, or every session when ``sid`` is ``None``."""

        def close() -> None:
            now = self._now()
            for each in list(self.engine.sessions) if sid is None else [sid]:
                self.engine.close(each, now)

        self._run(close)

    @contextmanager
    def session(self, sid: str) -> Iterator[dict[str, Any]]:
        """The application's dict for a session, as a context manager."""
        yield self.get_session(sid)

    def get_session(self, sid: str) -> dict[str, Any]:
        """The application's dict for a session.

        Raises:
            SessionUnknown: no open session has this id.
        """
        with self._lock:
            return self._session_data(sid)

    def save_session(self, sid: str, data: dict[str, Any]) -> None:
        """Replace the application's dict for a session.

        Raises:
            SessionUnknown: no open session has this id.
        """
        with self._lock:
            self.engine.session(sid).data = dict(data)

    def transport(self, sid: str) -> str:
        """The transport of a session: ``"polling"`` or ``"websocket"``.

        Raises:
            SessionUnknown: no open session has this id.
        """
        with self._lock:
            return self.engine.transport(sid)

    def start_background_task(self, target: Callable[..., Any], *args: Any,
                              **kwargs: Any) -> Any:
        """Run ``target(*args, **kwargs)`` in the background; returns a handle with ``join()``."""
        return self.backend.spawn(target, *args, **kwargs)

    def sleep(self, seconds: float = 0) -> None:
        """Sleep the way the backend sleeps (a green thread yields to the others)."""
        self.backend.sleep(seconds)

    def shutdown(self, close_code: int = 1000) -> None:
        """Close every session and stop the heartbeat thread.

        Args:
            close_code: the WebSocket close code (1001 "going away" when the process exits).
        """

        def stop() -> Any:
            self.engine.shutdown(self._now(), close_code)
            thread, self._timer_thread = self._timer_thread, None
            self._timer_token = None
            self._wake.set()
            return thread

        thread = self._run(stop)
        if thread is not None:
            thread.join()

    # ------------------------------------------------------------------ adapters
    def handle_http(self, request: Request, read_body: Callable[[int], bytes]) -> Response:
        """Serve one polling (or preflight) request; blocks while a GET is held.

        Args:
            request: the request, ``body`` not yet read.
            read_body: reads the whole body; raises :class:`BodyTooLarge` past its argument.
        """
        self._start_timer()
        engine = self.engine

        def handle() -> Any:
            outcome = engine.handle_request(request, self._now())
            if isinstance(outcome, Channel):
                outcome.owner = self.backend.event()
            return outcome

        outcome = self._run(handle)
        if isinstance(outcome, Response):
            return outcome
        if isinstance(outcome, PostBody):
            try:
                body = read_body(outcome.limit)
            except BodyTooLarge:
                return self._run(lambda: engine.body_too_large(outcome, self._now()))
            except BaseException:
                self._run(lambda: engine.post_dropped(outcome, self._now()))
                raise
            response: Response = self._run(lambda: engine.handle_body(outcome, body, self._now()))
            return response
        if isinstance(outcome, Handshake):
            result = self._handshake(outcome)
            assert isinstance(result, Response)
            return result
        assert isinstance(outcome, Channel)
        outcome.owner.wait()
        assert outcome.response is not None
        return outcome.response

    def handle_websocket(self, request: Request, ws: SyncWebSocket) -> None:
        """Serve one WebSocket request from upgrade to close; blocks meanwhile."""
        self._start_timer()
        engine = self.engine
        outcome = self._run(lambda: engine.handle_websocket(request, self._now()))
        if isinstance(outcome, Handshake):
            result = self._handshake(outcome)
            if isinstance(result, Response):
                ws.refuse(result)
                return
            channel = result
        elif isinstance(outcome, Response):
            ws.refuse(outcome)
            return
        else:
            channel = outcome
        writer = _Writer(ws, channel, self.backend.lock(), self.backend.current())
        with self._lock:
            channel.owner = writer
        try:
            ws.accept()
        except Exception:
            self._run(lambda: engine.ws_closed(channel, self._now()))
            return
        with writer.lock:
            writer.open = True
        self._flush(writer)
        try:
            while not writer.closed:
                data = ws.receive()
                if data is None:
                    break
                self._run(engine.receive_ws, channel, data, self._now())
        finally:
            self._run(lambda: engine.ws_closed(channel, self._now()))

    # ------------------------------------------------------------------ internals
    def _now(self) -> float:
        return self.backend.monotonic()

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn`` under the engine lock, then serve what it produced outside the lock."""
        error: Exception | None = None
        result: Any = None
        with self._lock:
            try:
                result = fn(*args)
            except Exception as exc:
                error = exc
            ready, events = self._take()
        self._process(ready, events)
        if error is not None:
            raise error
        return result  # type: ignore[no-any-return]

    def _take(self) -> tuple[list[Channel], list[Event]]:
        """Collect the engine's output (under the lock); wake the timer for an earlier deadline."""
        engine = self.engine
        ready = engine.take_ready()
        events = engine.events_received()
        when = engine.get_timer()
        if when is not None and (self._timer_at is None or when < self._timer_at):
            self._timer_at = when
            self._wake.set()
        return ready, events

    def _process(self, ready: list[Channel], events: list[Event]) -> None:
        current: object = None
        for channel in ready:
            owner = channel.owner
            if owner is None:
                continue
            if channel.websocket:
                # A session's own thread writes at once (an echo). Writes to other
                # sessions (a broadcast) are deferred where green threads make that
                # cheap, so that a burst reaches each socket in one write.
                if current is None:
                    current = self.backend.current()
                if owner.reader is current:
                    self._flush(owner)
                elif not owner.pending:
                    owner.pending = True
                    if not self.backend.defer(self._flush, owner):
                        owner.pending = False
                        self._flush(owner)
            elif channel.response is not None:
                owner.set()
        for event in events:
            self._dispatch(event)

    def _flush(self, writer: _Writer) -> None:
        channel = writer.channel
        with writer.lock:
            writer.pending = False
            if not writer.open or writer.closed:
                return
            with self._lock:
                frames, channel.frames = channel.frames, []
                code = channel.close_code
            try:
                if len(frames) > 1 and writer.send_many is not None:
                    writer.send_many(frames)
                else:
                    send = writer.ws.send
                    for frame in frames:
                        send(frame)
                if code is not None:
                    writer.closed = True
                    writer.ws.close(code)
                return
            except Exception:
                writer.closed = True
        with suppress(Exception):
            writer.ws.close(1011)
        self._run(lambda: self.engine.ws_closed(channel, self._now()))

    def _handshake(self, handshake: Handshake) -> Response | Channel:
        refusal: str | None = None
        refused = False
        if "connect" in self.handlers:
            try:
                result = self._call("connect", handshake.sid, handshake.request)
            except ConnectionRefused as exc:
                refused, refusal = True, exc.message
            except Exception:
                self.logger.exception("connect handler failed; refusing %s", handshake.sid)
                refused = True
            else:
                refused = result is False
        engine = self.engine
        if refused:
            return self._run(engine.reject, handshake, refusal)

        def accept() -> Response | Channel:
            try:
                return engine.accept(handshake, self._now())
            except SessionUnknown as exc:
                return engine.reject(handshake, exc.message)

        return self._run(accept)

    def _call(self, event: str, *args: Any) -> Any:
        return self.handlers[event](*self._handler_args(event, *args))

    def _dispatch(self, event: Event) -> None:
        try:
            if isinstance(event, Message):
                if "message" in self.handlers:
                    self._call("message", event.sid, event.data)
            elif isinstance(event, Disconnect):
                self._log_disconnect(event.sid, event.reason, event.detail)
                if "disconnect" in self.handlers:
                    self._call("disconnect", event.sid, event.reason)
            elif isinstance(event, Upgraded) and "upgrade" in self.handlers:
                self._call("upgrade", event.sid)
        except Exception:
            self.logger.exception("%s handler failed", type(event).__name__.lower())

    # ------------------------------------------------------------------ heartbeat timer
    def _start_timer(self) -> None:
        if self._timer_token is not None:
            return
        with self._lock:
            if self._timer_token is None:
                token = self._timer_token = object()
                self._timer_thread = self.backend.spawn(self._timer_loop, token)

    def _timer_loop(self, token: object) -> None:
        """Fire the engine's deadlines, each at its time, until :meth:`shutdown`."""
        engine = self.engine
        while True:
            with self._lock:
                if self._timer_token is not token:
                    return
                self._wake.clear()
                engine.handle_timer(self._now())
                ready = engine.take_ready()
                events = engine.events_received()
                when = self._timer_at = engine.get_timer()
            if ready or events:
                # Writes and handlers may block; never hold up the other sessions' deadlines.
                self.backend.spawn(self._process, ready, events)
            timeout = None if when is None else max(0.0, when - self._now())
            self._wake.wait(timeout)
