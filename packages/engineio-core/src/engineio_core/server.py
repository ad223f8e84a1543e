"""``Server``: the engine driven by blocking threads (threading, eventlet, gevent).

The sync twin of :class:`~engineio_core.async_server.AsyncServer`, with the
same public API without ``async``. The engine is not thread-safe, so every
engine call goes through one choke point, :meth:`Server._run`: the call runs
under one backend lock; what it produced (channels to serve, application
events) is taken under that same lock and handled outside it: held GETs are
released, WebSocket frames written and handlers called without holding the
lock. One background thread fires the heartbeat deadlines.

With ``async_handlers`` (the default) the thread that reads a session never
runs its message handler: a worker (``backend.spawn``) runs it, then whatever
queued up for that session meanwhile, in order, so heartbeats, closes and
upgrades are processed while a handler blocks.

Only the backend's primitives are used (spawn, sleep, event, lock,
monotonic), so green-thread backends plug in through ``async_mode``.
WSGI servers are served by :class:`~engineio_core.wsgi.WSGIApp`; other
adapters call :meth:`Server.handle_http` and :meth:`Server.handle_websocket`.
"""

from __future__ import annotations

from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .backends import SyncBackend, load_backend
from .backends.base import NoLock
from .base_server import (
    HELD_POLL_WATCH_DELAY,
    MAX_QUEUED_EVENTS,
    OPEN_DELIVERY_TIMEOUT,
    PROBE_CATCH_UP,
    SETTLED_TURNS,
    BaseServer,
    BodyTooLarge,
    MessageTooLarge,
    PendingEvents,
    open_delay,
)
from .cluster.bus import BusUnavailable
from .protocol.engine import Handshake, PostBody, SessionBusy, SessionInfo, SessionSnapshot
from .protocol.errors import BadRequest, ClusterUnavailable, ProtocolError
from .protocol.events import Disconnect, Event, Message
from .protocol.http import Request, Response
from .protocol.session import Channel, TransportName

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Callable, Iterator, Sequence

    from .backends.base import Event as BackendEvent
    from .backends.base import Lock
    from .cluster.bus import Cluster
    from .cluster.sync_node import SyncNode

__all__ = ["Server", "SyncWebSocket"]

T = TypeVar("T")


class SyncWebSocket(Protocol):
    """The WebSocket an adapter hands to :meth:`Server.handle_websocket`.

    Optional, used when present (see :class:`~engineio_core.websocket_sync.WebSocket`):
    ``send_many``, ``send_nowait``, ``send_kept``, ``kept``, ``receive_ready``,
    ``buffered``, ``idle``, and ``wait_delivered(timeout)`` (wait until a proxy in the
    same server has taken what was written: uWSGI's HTTP router).
    """

    def accept(self) -> None:
        """Complete the WebSocket handshake."""
        ...

    def refuse(self, response: Response) -> None:
        """Answer the upgrade request with a plain HTTP response instead."""
        ...

    def receive(self) -> str | bytes | None:
        """Block for the next message; ``None`` once the peer closed or the connection failed.

        Raises:
            MessageTooLarge: a message over the size limit arrived (the WebSocket
                closed it with 1009).
        """
        ...

    def send(self, data: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message (callable from any thread)."""
        ...

    def close(self, code: int) -> None:
        """Close the WebSocket with ``code`` (callable from any thread)."""
        ...

    def abort(self) -> None:
        """Drop the connection at once, from any thread, even while a ``send`` to it
        is blocked: unsent data is discarded, that ``send`` fails and ``receive``
        returns ``None``. Used when the peer stopped reading or answering pings."""
        ...


class _Writer:
    """Writes a channel's frames to its WebSocket; its lock keeps writes whole and in order.

    Writes from other sessions' threads never wait on this socket: under green
    threads each burst is written by a green thread of its own (``defer``); under
    OS threads the other thread writes what the socket takes at once
    (``send_nowait``) and this connection's writer thread, started at the first
    such need, writes the rest.
    """

    __slots__ = (
        "buffered",
        "channel",
        "closed",
        "done",
        "held",
        "kept",
        "lock",
        "open",
        "pending",
        "reader",
        "reading",
        "receive_ready",
        "send_kept",
        "send_many",
        "send_nowait",
        "wake",
        "ws",
    )

    def __init__(self, ws: SyncWebSocket, channel: Channel, lock: Lock, reader: object) -> None:
        self.ws = ws
        self.channel = channel
        self.lock = lock
        self.reader = reader  # the thread receiving from this WebSocket
        self.reading = False  # ... and it waits in receive()
        self.open = False  # the handshake is done: frames may be written
        self.closed = False
        self.pending = False  # a deferred flush is scheduled
        # The reader ran a handler while more of its messages were read already: its
        # frames wait in the engine until that batch of messages is handled (_work).
        self.held = False
        self.wake: BackendEvent | None = None  # the writer thread's (OS threads only)
        self.done: BackendEvent | None = None  # set once reading is over (after a hand-over)
        # WebSockets that can write several messages at once say so with send_many().
        self.send_many: Callable[[list[str | bytes]], None] | None = getattr(
            ws, "send_many", None)
        # ... and those that can write without waiting on the socket, send_nowait()
        # (keeping what the socket does not take) and send_kept().
        self.send_nowait: Callable[[list[str | bytes]], bool] | None = getattr(
            ws, "send_nowait", None)
        self.send_kept: Callable[[], None] | None = getattr(ws, "send_kept", None)
        self.kept: Callable[[], int] | None = getattr(ws, "kept", None)
        # ... and those that can tell what they read off the socket already, buffered(),
        # and hand over a whole message of it, receive_ready().
        self.receive_ready: Callable[[], str | bytes | None] | None = getattr(
            ws, "receive_ready", None)
        self.buffered: Callable[[], bool] | None = getattr(ws, "buffered", None)


SLOW_HANDLER = 0.1
"""Seconds a message handler may run in the thread that reads its WebSocket before
another thread takes the reading over (``async_handlers``)."""


class Server(BaseServer):
    """An Engine.IO server for threads and green threads.

    With ``async_handlers`` (the default) a slow message handler does not hold
    up its session's reading. Over WebSocket the handler runs in the reading
    thread (an echo costs no thread switch); one that runs longer than
    :data:`SLOW_HANDLER` is noticed by a watchdog, which has another (green)
    thread read on meanwhile. Over polling each message's handler runs in a
    thread of its own. Either way the messages of a session reach its handler
    one at a time, in order, with its disconnect and upgrade events in that order too.

    Args:
        async_mode: the sync backend (``"threading"``, or ``"eventlet"``/``"gevent"``
            when installed); ``None`` picks the best installed one.
        async_handlers: ``False`` to read a session's next packet only once its
            message handler has returned (a handler that blocks longer than the
            ping timeout then gets its session closed).
        cluster: join a cluster of servers (several processes) that share their
            sessions, e.g. :class:`~engineio_core.cluster.RedisCluster`, or a Redis
            URL for one: any of them may receive any request of any session
            (see ``docs/cluster.md``; the process must be monkey-patched under
            eventlet and gevent, as their gunicorn workers do).
        cluster_upgrades: as :class:`~engineio_core.AsyncServer`'s, but
            ``"take-over"`` or ``"refuse"`` only (no relay on this server yet).
        **options: server options (``ping_interval``, ``ping_timeout``,
            ``max_http_buffer_size``, ``cors_allowed_origins``...), see
            :class:`~engineio_core.protocol.config.ServerConfig`. Unknown options raise.

    Keyword Args:
        logger (logging.Logger | None): a ``logging.Logger`` (default ``engineio_core.server``).
    """

    def __init__(self, async_mode: str | None = None, *, async_handlers: bool = True,
                 cluster: Cluster | str | None = None, cluster_upgrades: str = "take-over",
                 **options: Any) -> None:
        backend = load_backend(async_mode, "sync")
        assert backend.kind == "sync"
        self.backend: SyncBackend = backend
        node: SyncNode | None = None
        if cluster is not None:
            from .cluster.sync_node import SyncNode

            node = SyncNode(self, cluster)
            node.name_sessions(options)
            node.set_upgrades(cluster_upgrades, ("take-over", "refuse"))
        super().__init__(async_handlers=async_handlers, **options)
        self._node = node
        self.async_mode = backend.name
        # Guards the engine, the maps and the timer fields below; every section under
        # it is short and never waits (no I/O, no handler), so green threads need none.
        self._lock = backend.state_lock()
        # Only a real engine lock is worth saving a round of (send(), _take_own).
        self._take_own_frames = not isinstance(self._lock, NoLock)
        self._wake: BackendEvent = backend.event()  # an earlier deadline appeared, or stop
        self._timer_at: float | None = None  # the deadline the timer thread waits for
        self._timer_token: object | None = None  # identifies the running timer thread
        self._timer_thread: Any = None
        self._writers: dict[Channel, _Writer] = {}  # the WebSockets being served
        self._probes: dict[str, _Writer] = {}  # sid -> its upgrade's WebSocket, while probing
        self._waiters: dict[Channel, BackendEvent] = {}  # the held GETs
        # WebSockets whose reading thread runs a handler, since when (async_handlers)
        self._inline: dict[_Writer, float] = {}
        self._watchdog: object | None = None  # the running watchdog's token

    # ------------------------------------------------------------------ public API
    def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to a session.

        Raises:
            SessionUnknown: no open session has this id.
        """
        node = self._node
        if node is not None and not self.engine.has_session(sid):
            node.join()
            node.send(sid, data)
            return
        if not self._take_own_frames:  # green threads: the engine lock is a no-op
            self._run(self.engine.send, sid, data)
            return
        # _run, with one step more under the engine lock for the common echo: the
        # session's own thread also takes the frames to write (one lock round less).
        error: Exception | None = None
        taken: tuple[_Writer, list[str | bytes], int | None] | bool = False
        with self._lock:
            try:
                self.engine.send(sid, data)
            except Exception as exc:
                error = exc
            ready, events = self._take()
            if error is None and len(ready) == 1 and not events:
                taken = self._take_own(ready[0])
        if taken is True:
            pass  # held: the reader writes its batch once handled
        elif taken:
            self._write_taken(*taken)
        else:
            self._serve_output(ready, events)
        if error is not None:
            raise error

    def send_many(self, sid: str, messages: Sequence[str | bytes]) -> None:
        """Send several messages to a session together: no message another thread sends
        to it comes between them (a python-socketio binary packet and its attachments).

        In a cluster, messages for another node's session leave one by one.

        Raises:
            SessionUnknown: no open session has this id.
        """
        node = self._node
        if node is not None and not self.engine.has_session(sid):
            node.join()
            for data in messages:
                node.send(sid, data)
            return
        self._run(self._send_each, sid, messages)

    def disconnect(self, sid: str | None = None) -> None:
        """Close one session (in a cluster: of any node), or every session of this
        server when ``sid`` is ``None``."""
        node = self._node
        if node is not None and sid is not None and not self.engine.has_session(sid):
            node.join()
            node.close(sid)
            return

        def close() -> None:
            now = self._now()
            for each in self.engine.session_ids() if sid is None else [sid]:
                self.engine.close(each, now)

        self._run(close)

    @contextmanager
    def session(self, sid: str) -> Iterator[dict[str, Any]]:
        """The application's dict for a session, as a context manager.

        In a cluster, another node's session gives a copy, saved back on exit.
        """
        if self._node is None or self.engine.has_session(sid):
            yield self.get_session(sid)
            return
        data = self.get_session(sid)
        yield data
        self.save_session(sid, data)

    def get_session(self, sid: str) -> dict[str, Any]:
        """The application's dict for a session (in a cluster, another node's
        session gives a copy: change it with :meth:`save_session`).

        Raises:
            SessionUnknown: no open session has this id.
        """
        node = self._node
        if node is not None and not self.engine.has_session(sid):
            node.join()
            return node.get_data(sid)
        with self._lock:
            return self._session_data(sid)

    def save_session(self, sid: str, data: dict[str, Any]) -> None:
        """Replace the application's dict for a session (in a cluster: of any node).

        Raises:
            SessionUnknown: no open session has this id.
        """
        node = self._node
        if node is not None and not self.engine.has_session(sid):
            node.join()
            node.save_data(sid, data)
            return
        with self._lock:
            self.engine.session(sid).replace_data(data)

    def broadcast(self, data: str | bytes) -> None:
        """Send a message to every open session (in a cluster: of every node)."""
        node = self._node
        if node is not None:
            node.join()
            node.broadcast(data)  # here too
            return
        self._run(self._send_all, data)

    def count_sessions(self) -> int:
        """How many sessions are open: in a cluster, on all its nodes together;
        else :meth:`session_count`."""
        node = self._node
        if node is None:
            return self.session_count()
        node.join()
        return node.count()

    def start(self) -> None:
        """Join the cluster now (with ``cluster=``; else nothing to do); without
        it the first request does.

        Raises:
            BusUnavailable: the cluster's bus (Redis) cannot be reached; the
                message names its URL.
        """
        if self._node is not None:
            self._node.join()

    def transport(self, sid: str) -> TransportName:
        """The transport of a session: ``"polling"`` or ``"websocket"``.

        Raises:
            SessionUnknown: no open session has this id.
        """
        with self._lock:
            return self.engine.transport(sid)

    def session_ids(self) -> list[str]:
        """The ids of every session this server holds."""
        with self._lock:
            return self.engine.session_ids()

    def session_info(self, sid: str) -> SessionInfo:
        """A read-only view of a session: state, transport, held GET, WebSocket, probe.

        Raises:
            SessionUnknown: no session has this id.
        """
        with self._lock:
            return self.engine.session_info(sid)

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
        if self._node is not None:
            self._node.leave()

    # ------------------------------------------------------------------ adapters
    def handle_http(self, request: Request, read_body: Callable[[int], bytes],
                    disconnected: Callable[[], bool] | None = None) -> Response:
        """Serve one polling (or preflight) request; blocks while a GET is held.

        Args:
            request: the request, ``body`` not yet read.
            read_body: reads the whole body; raises :class:`BodyTooLarge` past its argument.
            disconnected: says, without blocking, whether the client has gone away
                (where the adapter can tell). A GET held longer than
                :data:`HELD_POLL_WATCH_DELAY` asks it that often: a dead one ends its
                session at once (``transport error``, "poll connection dropped")
                instead of at the next heartbeat; the answer returned then goes nowhere.
        """
        node = self._node
        if node is not None:
            sid = request.query.get("sid")
            try:
                node.join()
                if sid and request.method in ("GET", "POST") and not self.engine.has_session(sid):
                    node.arrived(sid)  # being taken over here: served once it is
                    if not self.engine.has_session(sid):
                        routed = node.route_http(request, read_body, disconnected)
                        if routed is not None:
                            return routed
                elif sid and request.method == "GET":
                    node.before_get(sid, node.id)
            except BusUnavailable as exc:
                return self._refuse(request, ClusterUnavailable(detail=str(exc)))
        return self._handle_http_here(request, read_body, disconnected)

    def _handle_http_here(self, request: Request, read_body: Callable[[int], bytes],
                          disconnected: Callable[[], bool] | None = None) -> Response:
        """:meth:`handle_http` for a session of this server (or a handshake)."""
        self._start_timer()
        engine = self.engine
        run = self._run
        if self._probes and request.method == "GET":
            self._catch_up(request)

        def handle() -> Any:
            outcome = engine.handle_request(request, self._now())
            if isinstance(outcome, Channel):
                self._waiters[outcome] = self.backend.event()
            return outcome

        outcome = run(handle)
        if isinstance(outcome, Response):
            if outcome.status >= 400:
                self._refused()
            return outcome
        if isinstance(outcome, PostBody):
            try:
                body = read_body(outcome.limit)
            except BodyTooLarge:
                response = run(self._too_large, outcome, self._now())
                self._refused()
                return response
            except BaseException:
                run(engine.post_dropped, outcome, self._now())
                raise
            try:
                response = run(engine.handle_body, outcome, body, self._now())
            finally:
                run(engine.post_handled, outcome, self._now())
            if response.status >= 400:
                self._refused()
            if self.async_handlers:
                self._wait_for_room(outcome.sid)  # the client waits for this answer to send more
            return response
        if isinstance(outcome, Handshake):
            result = self._handshake(outcome)
            assert isinstance(result, Response)
            return result
        assert isinstance(outcome, Channel)
        waiter = self._waiters[outcome]
        try:
            if disconnected is None:
                waiter.wait()
            else:
                while not waiter.wait(HELD_POLL_WATCH_DELAY):
                    if disconnected():
                        run(engine.poll_dropped, outcome, self._now())
                        return Response(400, [], b"")  # nobody reads it
        finally:
            with self._lock:
                del self._waiters[outcome]
        assert outcome.response is not None
        return outcome.response

    def handle_websocket(self, request: Request, ws: SyncWebSocket) -> None:
        """Serve one WebSocket request from upgrade to close; blocks meanwhile.

        In a cluster, the upgrade of another node's session takes the session
        over (see :meth:`AsyncServer.handle_websocket`).
        """
        node = self._node
        if node is not None:
            try:
                node.join()
                sid = request.query.get("sid")
                if sid and not self.engine.has_session(sid) and not node.take_over(sid):
                    with suppress(Exception):  # on a WebSocket elsewhere: accept, close
                        ws.accept()
                        ws.close(1000)
                    return
            except BusUnavailable as exc:
                ws.refuse(self._refuse(request, ClusterUnavailable(detail=str(exc))))
                return
            except BadRequest as exc:  # another node's session, and no take-over
                ws.refuse(self._refuse(request, exc))
                return
        self._start_timer()
        engine = self.engine
        run = self._run
        if self._probes:  # another WebSocket, maybe for an upgrading (or upgraded) session
            self._catch_up(request)
        outcome = run(engine.handle_websocket, request, self._now())
        if isinstance(outcome, Handshake):
            result = self._handshake(outcome)
            if isinstance(result, Response):
                ws.refuse(result)
                return
            channel = result
        elif isinstance(outcome, Response):
            self._refused()
            ws.refuse(outcome)
            return
        else:
            channel = outcome
        writer = _Writer(ws, channel, self.backend.lock(), self.backend.current())
        probing = not isinstance(outcome, Handshake)  # an upgrade of a polling session
        with self._lock:
            self._writers[channel] = writer
            if probing:
                self._probes[channel.sid] = writer
        try:
            try:
                ws.accept()
            except Exception:
                run(engine.ws_closed, channel, self._now())
                return
            if isinstance(outcome, Handshake) and (delay := open_delay(outcome)):
                # A proxy in between (uWSGI's router) must have taken the 101 first.
                delivered: Callable[[float], None] | None = getattr(ws, "wait_delivered", None)
                if delivered is not None:
                    delivered(OPEN_DELIVERY_TIMEOUT)
                self.backend.sleep(delay)  # nothing is written before writer.open
            with writer.lock:
                writer.open = True
            self._flush(writer)
            self._receive(channel, writer)
        finally:
            with self._lock:
                del self._writers[channel]
                if probing and self._probes.get(channel.sid) is writer:
                    del self._probes[channel.sid]
                writer.closed = True
                wake = writer.wake
            if wake is not None:
                wake.set()  # the writer thread ends

    # ------------------------------------------------------------------ cluster
    def _hand_over(self, sid: str) -> SessionSnapshot:
        """Stop serving a polling session: another node takes it over. Raises like
        ``Engine.hand_over``, and ``SessionBusy`` while a handler of the session runs
        here (what it sends must leave first, in order)."""

        def hand_over() -> SessionSnapshot:
            if sid in self._pending:
                raise SessionBusy(f"a handler of session {sid} is running")
            return self.engine.hand_over(sid, self._now())

        return self._run(hand_over)

    def _adopt(self, snapshot: SessionSnapshot) -> None:
        """Serve a session another node handed over."""
        self._start_timer()
        self._run(self.engine.import_session, snapshot, self._now())

    def _release_poll(self, sid: str) -> None:
        """Answer a session's held GET with a noop (see ``Engine.release_poll``)."""
        self._run(self.engine.release_poll, sid)

    # ------------------------------------------------------------------ internals
    def _now(self) -> float:
        return self.backend.monotonic()

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """The choke point: call ``fn`` under the engine lock, then serve what it produced
        outside the lock (and wake the timer thread for an earlier deadline)."""
        error: Exception | None = None
        result: Any = None
        with self._lock:
            try:
                result = fn(*args)
            except Exception as exc:
                error = exc
            ready, events = self._take()
        self._serve_output(ready, events)
        if error is not None:
            raise error
        return result  # type: ignore[no-any-return]

    def _catch_up(self, request: Request) -> None:
        """Before a GET or another WebSocket of a session with a probe WebSocket: what
        that WebSocket already sent is handled first (:meth:`_caught_up`)."""
        probe = self._probes.get(request.query.get("sid", ""))
        if probe is not None:
            self._caught_up(probe)

    def _caught_up(self, probe: _Writer) -> None:
        """Let a probe's reader process the frames that arrived before a GET of its session.

        Waits (at most :data:`PROBE_CATCH_UP`) until, :data:`SETTLED_TURNS` short
        sleeps in a row, the probe's reader was found waiting in ``receive()`` and
        its WebSocket, if it can tell, ``idle()`` (its reader waits for bytes that
        have not arrived). Under green threads each sleep lets the hub serve the
        sockets that are ready.
        """
        idle: Callable[[], bool] | None = getattr(probe.ws, "idle", None)
        sleep = self.backend.sleep
        until = self._now() + PROBE_CATCH_UP
        settled = 0
        while settled < SETTLED_TURNS and not probe.closed and self._now() < until:
            sleep(0.0005)
            settled = settled + 1 if probe.reading and (idle is None or idle()) else 0

    def _receive(self, channel: Channel, writer: _Writer) -> None:
        """Serve the WebSocket until it closes, in the request's own thread.

        When the watchdog hands the reading to another thread (a slow handler),
        this thread finishes the handler and what queued up behind it, then
        waits for the connection's end: the WSGI server closes the socket when
        the application returns.
        """
        if self._read(channel, writer):
            return
        done = writer.done
        assert done is not None
        done.wait()

    def _read_on(self, channel: Channel, writer: _Writer, held: bool) -> None:
        """A thread the watchdog started: read while a slow handler runs elsewhere
        (after writing what the slow handler's thread held, if it did)."""
        with self._lock:
            writer.reader = self.backend.current()
        if held:
            self._flush(writer)
        self._read(channel, writer)

    def _read(self, channel: Channel, writer: _Writer) -> bool:
        """Feed the WebSocket's messages to the engine; returns ``True`` once the
        connection ended (the channel is then closed in the engine), ``False``
        when this thread ran a slow handler and another reads on."""
        engine = self.engine
        run = self._run
        receive = writer.ws.receive
        sid = channel.sid
        frame_in = self._frame_in
        async_handlers = self.async_handlers
        handed = False
        try:
            while not writer.closed:
                writer.reading = True
                try:
                    data = receive()
                except MessageTooLarge:
                    writer.reading = False
                    run(engine.ws_too_large, channel, self._now())
                    break
                writer.reading = False
                if data is None:
                    break
                if not async_handlers:  # this thread runs the handler, then reads on
                    message = run(engine.receive_ws, channel, data, self._now())
                    if message is not None:
                        self._deliver(sid, message)
                    continue
                todo = run(frame_in, channel, data, self._now(), writer)
                if todo is None:
                    continue
                if isinstance(todo, str | bytes):
                    # The session was idle: run its handler here (the watchdog
                    # hands the reading over if it is slow), then what queued up.
                    if not self._work(sid, todo, writer):
                        handed = True
                        return False
                else:
                    todo.wait()  # its queue is at the bound: wait for the worker
        finally:
            if not handed:
                run(engine.ws_closed, channel, self._now())
                with self._lock:
                    writer.closed = True
                    done = writer.done
                if done is not None:
                    done.set()
        return True

    def _frame_in(self, channel: Channel, data: str | bytes, now: float,
                  writer: _Writer | None = None) -> str | bytes | BackendEvent | None:
        """Feed a frame to the engine and queue a message it carries (under the lock).

        Returns the message when the session was idle (this thread runs its
        handler: a reader, watched through ``_inline``), an event to wait on when
        the session's queue reached its bound, else ``None``.
        """
        message = self.engine.receive_ws(channel, data, now)
        if message is None or self._message_handler is None:
            return None
        sid = channel.sid
        pending = self._pending.get(sid)
        if pending is None:
            pending = self._pending[sid] = PendingEvents()  # busy from now on
            # The reading thread (writer.reader while it hands a frame in: a hand-over
            # to another reader happens only while a handler runs), or a request's.
            pending.worker = writer.reader if writer is not None else self.backend.current()
            if writer is not None:
                self._inline[writer] = now
                if self._watchdog is None:
                    token = self._watchdog = object()
                    self.backend.spawn(self._watch, token)
            return message
        pending.items.append(message)
        if len(pending.items) < MAX_QUEUED_EVENTS:
            return None
        if pending.room is None:
            pending.room = self.backend.event()
        room: BackendEvent = pending.room
        return room

    def _watch(self, token: object) -> None:
        """The watchdog: a reading thread whose handler runs longer than
        :data:`SLOW_HANDLER` hands the reading to a new thread, which first writes
        the frames the reader held (see :meth:`_take_own`). Runs while WebSockets
        are served; started again by the next handler."""
        backend = self.backend
        while True:
            backend.sleep(SLOW_HANDLER / 2)
            slow: list[tuple[_Writer, bool]] = []
            with self._lock:
                if self._watchdog is not token:
                    return
                if not self._writers:
                    self._watchdog = None
                    return
                now = self._now()
                for writer, since in list(self._inline.items()):
                    if now - since >= SLOW_HANDLER:
                        del self._inline[writer]
                        writer.reader = None  # the new thread sets itself
                        if writer.done is None:
                            writer.done = backend.event()
                        slow.append((writer, writer.held))
                        writer.held = False
            for writer, held in slow:
                backend.spawn(self._read_on, writer.channel, writer, held)

    def _wait_for_room(self, sid: str) -> None:
        """Wait while the session's queue is at its bound (a polling POST's messages)."""
        with self._lock:
            pending = self._pending.get(sid)
            if pending is None or len(pending.items) < MAX_QUEUED_EVENTS:
                return
            if pending.room is None:
                pending.room = self.backend.event()
            room: BackendEvent = pending.room
        room.wait()

    def _divert(self, events: list[Event]) -> list[Event]:
        """Queue the events of sessions whose handler runs (under the lock); a polling
        message for an idle session marks it busy and stays, for a worker to run."""
        pending = self._pending
        kept: list[Event] = []
        for event in events:
            queue = pending.get(event.sid)
            if queue is not None:
                queue.items.append(event.data if type(event) is Message else event)
            elif type(event) is Message:
                if self._message_handler is not None:
                    pending[event.sid] = PendingEvents()
                    kept.append(event)
            else:
                kept.append(event)
        return kept

    def _work(self, sid: str, item: str | bytes | Event | None,
              reader: _Writer | None = None) -> bool:
        """A worker: run ``item``, then what queued up for the session meanwhile, in
        order; the session is idle again once its queue is empty.

        A reading thread passes its ``reader``: it returns ``False`` when the
        watchdog handed the reading to another thread meanwhile.
        """
        lock = self._lock
        done = False
        me = self._pending[sid].worker = self.backend.current()  # writes from here are its own
        try:
            while True:
                if item is not None:
                    if type(item) is str or type(item) is bytes:
                        self._deliver(sid, item)
                    else:
                        self._call_event(item)  # type: ignore[arg-type]
                output = None
                with lock:
                    pending = self._pending[sid]
                    items = pending.items
                    if not items and reader is not None and reader.reader is me:
                        output = self._read_ready(reader, items)
                    room = pending.room
                    if not items:
                        del self._pending[sid]
                        done = True
                        if reader is not None:
                            self._inline.pop(reader, None)
                            still_reading = reader.reader is me
                    else:
                        item = items.popleft()
                        if room is not None and len(items) <= MAX_QUEUED_EVENTS // 2:
                            pending.room = None
                        else:
                            room = None
                if output is not None:
                    self._serve_output(*output)
                if reader is not None and reader.held and (done or output is None):
                    reader.held = False  # the batch is handled: write what it sent
                    self._flush(reader)
                if room is not None:
                    room.set()
                if done:
                    return reader is None or still_reading
        finally:
            if not done:  # the worker was killed: the rest still reaches the handlers
                self.backend.spawn(self._work, sid, None)

    def _read_ready(self, reader: _Writer, items: deque[str | bytes | Event],
                    ) -> tuple[list[Channel], list[Event]] | None:
        """Under the lock, in a reading thread that ran its session's handler and
        found its queue empty: feed the engine the frames its WebSocket has already
        read (pipelined messages), until one carries a message. Saves the idle and
        busy turns between them; ``None`` if nothing was read (else the output)."""
        ready = reader.receive_ready
        if ready is None or (data := ready()) is None:
            return None
        now = self._now()
        receive_ws = self.engine.receive_ws
        channel = reader.channel
        while True:
            message = receive_ws(channel, data, now)
            if message is not None:
                items.append(message)
                self._inline[reader] = now  # a new handler call starts: watched from now
                break
            if (data := ready()) is None:
                break
        return self._take()

    def _take(self) -> tuple[list[Channel], list[Event]]:
        """Collect the engine's output (under the lock); wake the timer for an earlier deadline."""
        engine = self.engine
        ready = engine.take_ready()
        events = engine.events_received()
        if events and self.async_handlers:
            events = self._divert(events)
        when = engine.get_timer()
        if when is not None and (self._timer_at is None or when < self._timer_at):
            self._timer_at = when
            self._wake.set()
        return ready, events

    def _serve_output(self, ready: list[Channel], events: list[Event]) -> None:
        current: object = None
        for channel in ready:
            if channel.websocket:
                writer = self._writers.get(channel)
                if writer is None:
                    continue  # not accepted yet: its first flush writes everything
                if channel.abort:
                    # Unresponsive (send buffer full, ping timeout): drop the connection
                    # now, even while a write to it is blocked; nothing more is written.
                    writer.closed = True
                    with suppress(Exception):
                        writer.ws.abort()
                    continue
                # A session's own thread writes at once (an echo). Writes to other
                # sessions (a broadcast) are deferred where green threads make that
                # cheap, so that a burst reaches each socket in one write.
                if current is None:
                    current = self.backend.current()
                if writer.reader is current or (
                        (pending := self._pending.get(channel.sid)) is not None
                        and pending.worker is current):
                    self._flush(writer)  # the session's reader or its handlers' worker
                elif not writer.pending:
                    writer.pending = True
                    if not self.backend.defer(self._flush, writer) and (
                            not self._flush_nowait(writer)):
                        self._write_later(writer)
            elif channel.response is not None:
                waiter = self._waiters.get(channel)
                if waiter is not None:
                    waiter.set()
        for event in events:
            self._dispatch(event)

    def _flush_nowait(self, writer: _Writer) -> bool:
        """OS threads, another session's thread: write the channel's frames as far as
        the socket takes them without waiting; ``False`` if the writer thread must
        write (the rest, a close, or all of it while another thread writes)."""
        send_nowait = writer.send_nowait
        if send_nowait is None:
            return False
        lock = writer.lock
        if not lock.acquire(blocking=False):
            return False  # being written: the caller wakes the writer thread to flush again
        try:
            writer.pending = False
            if not writer.open or writer.closed:
                return True
            if writer.kept is not None and writer.kept():
                # Bytes an earlier call kept still wait (and still count, as taken):
                # new frames stay in the engine, counted, for the writer thread.
                return False
            channel = writer.channel
            with self._lock:
                if channel.close_code is not None:
                    return False  # closing: the writer thread writes the rest and closes
                frames = self.engine.data_to_send(channel)
            if not frames:
                return True
            try:
                if not send_nowait(frames):
                    return False  # the writer thread writes what the socket kept
            except Exception:
                return False  # the writer thread finds the connection closed
            self.engine.frames_written(channel)  # under the write lock: see its docs
            return True
        finally:
            lock.release()

    def _write_later(self, writer: _Writer) -> None:
        """OS threads: have the connection's writer thread write (start it if need be)."""
        with self._lock:
            wake = writer.wake
            if wake is None and not writer.closed:
                wake = writer.wake = self.backend.event()
                self.backend.spawn(self._write_loop, writer, wake)
        if wake is not None:
            wake.set()

    def _write_loop(self, writer: _Writer, wake: BackendEvent) -> None:
        """A connection's writer thread: write what other threads queued, until it closes."""
        while not writer.closed:
            wake.wait()
            wake.clear()
            self._flush(writer)

    def _flush(self, writer: _Writer) -> None:
        """Write the channel's frames (then close it if it is closed).

        One batch: frames queued while it is written are another flush's (whoever
        queues them finds ``pending`` unset, or the lock taken, and schedules one).
        """
        channel = writer.channel
        with writer.lock:
            writer.pending = False
            if not writer.open or writer.closed:
                return
            written = self._write_kept(writer)
            if written:
                with self._lock:
                    frames = self.engine.data_to_send(channel)
                    code = channel.close_code
                written = self._write_frames(writer, frames, code)
        if not written:
            self._write_failed(writer)

    def _write_kept(self, writer: _Writer) -> bool:
        """With the write lock held: first write what ``send_nowait`` kept (it counts
        against the send buffer, as taken, until written); ``False`` if that failed."""
        if writer.kept is None or writer.send_kept is None or not writer.kept():
            return True
        try:
            writer.send_kept()
        except Exception:
            writer.closed = True
            return False
        self.engine.frames_written(writer.channel)  # under the write lock: see its docs
        return True

    def _take_own(self, channel: Channel) -> tuple[_Writer, list[str | bytes], int | None] | bool:
        """Under the engine lock, after a send: when ``channel`` is the current thread's
        own WebSocket (its reader, or its handlers' worker) and nobody writes to it,
        take its write lock and its frames now; ``True`` when its reader holds them
        for the rest of a batch (see :meth:`_work`); else ``False`` (``_serve_output``)."""
        if not channel.websocket or channel.abort:
            return False
        writer = self._writers.get(channel)
        if writer is None or not writer.open or writer.closed:
            return False
        current = self.backend.current()
        pending = self._pending.get(channel.sid)
        if writer.reader is not current and (pending is None or pending.worker is not current):
            return False
        if (writer.reader is current and pending is not None and pending.worker is current
                and writer.buffered is not None and writer.buffered()):
            # A handler run by the reader while its next messages wait, read already
            # (pipelined): hold the frames, written in one go after the batch.
            writer.held = True
            return True
        if not writer.lock.acquire(blocking=False):
            return False  # another thread writes: it is served the usual way
        writer.pending = False
        return writer, self.engine.data_to_send(channel), channel.close_code

    def _write_taken(self, writer: _Writer, frames: list[str | bytes], code: int | None) -> None:
        """Write what :meth:`_take_own` took, then release the write lock it took."""
        try:
            written = self._write_frames(writer, frames, code)
        finally:
            writer.lock.release()
        if not written:
            self._write_failed(writer)

    def _write_frames(self, writer: _Writer, frames: list[str | bytes], code: int | None) -> bool:
        """With the write lock held: write a batch (then close if the channel is closed);
        ``False`` if the connection failed."""
        try:
            if len(frames) > 1 and writer.send_many is not None:
                writer.send_many(frames)
            elif frames:
                send = writer.ws.send
                for frame in frames:
                    send(frame)  # (after what another thread's send_nowait() kept)
            elif writer.send_kept is not None:
                writer.send_kept()  # nothing new: what send_nowait() kept, if any
            if code is not None:
                writer.closed = True
                if writer.channel.abort:
                    writer.ws.abort()
                else:
                    writer.ws.close(code)
            elif frames:
                self.engine.frames_written(writer.channel)  # under the write lock: see its docs
            return True
        except Exception:
            writer.closed = True
            return False

    def _write_failed(self, writer: _Writer) -> None:
        with suppress(Exception):
            writer.ws.close(1011)
        self._run(self.engine.ws_closed, writer.channel, self._now())

    def _handshake(self, handshake: Handshake) -> Response | Channel:
        rejection = None
        if "connect" in self.handlers:
            try:
                result = self._call("connect", handshake.sid, handshake.request)
            except Exception as exc:
                rejection = self._connect_verdict(handshake.sid, error=exc)
            else:
                rejection = self._connect_verdict(handshake.sid, result)
        outcome = self._run(self._conclude_handshake, handshake, rejection, self._now())
        if isinstance(outcome, Response) and outcome.status >= 400:
            self._refused()
        return outcome

    def _refused(self) -> None:
        """Log and report the requests the engine refused (after an error answer).

        Taken under the engine lock; whichever thread takes a refusal reports it,
        outside the lock (the handler may block).
        """
        with self._lock:
            refusals = self.engine.refusals_received()
        for refusal in refusals:
            self._report_refusal(refusal)

    def _refuse(self, request: Request, error: ProtocolError) -> Response:
        """Answer a request an adapter refuses itself, reported like the engine's refusals."""
        with self._lock:
            response = self.engine.refuse(request, error)
        self._refused()
        return response

    def _call(self, event: str, *args: Any) -> Any:
        return self.handlers[event](*self._handler_args(event, *args))

    def _deliver(self, sid: str, data: str | bytes) -> None:
        """Run the message handler in this thread."""
        handler = self._message_handler
        if handler is None:
            return
        try:
            handler(sid, data)
        except Exception:
            self._handler_failed("message", sid)

    def _dispatch(self, event: Event) -> None:
        if self.async_handlers and type(event) is Message:
            # _divert marked the session busy: a worker runs the handler.
            self.backend.spawn(self._work, event.sid, event.data)
            return
        self._call_event(event)

    def _call_event(self, event: Event) -> None:
        if self._node is not None and type(event) is Disconnect:
            self._node.ended(event.sid)
        routed = self._route(event)
        if routed is None:
            return
        handler, args = routed
        try:
            handler(*args)
        except Exception:
            self._handler_failed(type(event).__name__.lower(), event.sid)

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
        due: float | None = None  # the deadline the last wait ran out for
        while True:
            with self._lock:
                if self._timer_token is not token:
                    return
                self._wake.clear()
                now = self._now()
                if due is not None and now < due:
                    now = due  # the wait ran out a little early: the deadline is reached
                engine.handle_timer(now)
                ready = engine.take_ready()
                events = engine.events_received()
                if events and self.async_handlers:
                    events = self._divert(events)
                when = self._timer_at = engine.get_timer()
            if ready or events:
                # Writes and handlers may block; never hold up the other sessions' deadlines.
                self.backend.spawn(self._serve_output, ready, events)
            timeout = None if when is None else max(0.0, when - self._now())
            due = None if self._wake.wait(timeout) else when
