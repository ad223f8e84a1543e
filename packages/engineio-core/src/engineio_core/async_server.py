"""``AsyncServer``: the engine driven by asyncio, for ASGI servers and asyncio frameworks.

Framework adapters (the ASGI app here, aiohttp/tornado/sanic packages) turn
their requests into :class:`~engineio_core.protocol.http.Request` objects and
call :meth:`AsyncServer.handle_http` or :meth:`AsyncServer.handle_websocket`
with an object that satisfies :class:`AsyncWebSocket`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .backends import AsyncBackend, load_backend
from .base_server import (
    HELD_POLL_WATCH_DELAY,
    MAX_QUEUED_EVENTS,
    PROBE_CATCH_UP,
    SETTLED_TURNS,
    BaseServer,
    BodyTooLarge,
    MessageTooLarge,
    PendingEvents,
    open_delay,
)
from .cluster.bus import BusUnavailable
from .coroutines import Started, start
from .protocol.engine import Handshake, PostBody, SessionBusy, SessionSnapshot
from .protocol.errors import BadRequest, ClusterUnavailable, SessionUnknown
from .protocol.events import Disconnect, Event, Message
from .protocol.http import Request, Response
from .protocol.session import Channel

if TYPE_CHECKING:
    from .cluster.async_node import AsyncNode
    from .cluster.bus import Cluster

__all__ = ["AsyncServer", "AsyncWebSocket"]

T = TypeVar("T")


class AsyncWebSocket(Protocol):
    """The WebSocket a framework adapter hands to :meth:`AsyncServer.handle_websocket`.

    Two optional members make the hot path cheaper: ``send_many(messages)`` writes
    several messages at once (a burst leaves together), and ``receive_message()``
    (the framework's own receive, awaited) with ``message_data(message)`` (what
    :meth:`receive` returns for that message, raising as it would) are called
    instead of :meth:`receive`, one coroutine less per message.
    """

    async def accept(self) -> None:
        """Complete the WebSocket handshake."""
        ...

    async def refuse(self, response: Response) -> None:
        """Answer the upgrade request with a plain HTTP response instead."""
        ...

    async def receive(self) -> str | bytes | None:
        """The next message, or ``None`` once the peer closed or the connection failed.

        Raises:
            MessageTooLarge: the WebSocket library refused a message over the size limit.
        """
        ...

    def send(self, data: str | bytes) -> Awaitable[None]:
        """Send one text (``str``) or binary (``bytes``) message (an ``async def`` will do)."""
        ...

    async def close(self, code: int) -> None:
        """Close the WebSocket with ``code``."""
        ...

    def abort(self) -> None:
        """Drop the connection at once: unsent data is discarded, no close handshake.

        The peer stopped reading (its send buffer filled up) or answering pings;
        a pending ``send`` fails and ``receive`` returns ``None``.
        """
        ...


UNRESPONSIVE_CLOSE_TIMEOUT = 1.0
"""Seconds the close frame to an unresponsive peer (``Channel.abort``) may take
before the connection is dropped."""


class _Writer:
    """Writes a channel's frames to its WebSocket, one flush at a time (keeps order).

    It also tracks who reads the WebSocket. The connection's own task (``task``)
    reads it until a message handler suspends: that task then carries the
    handler on (so the handler stays in the task it started in), and a helper
    task (``helper``) reads meanwhile. Once the handler and what queued up
    behind it are done, the connection's task waits (``idle``) to take the
    reading back, which the helper hands it when its own handler suspends.
    """

    __slots__ = ("busy", "channel", "close_task", "closed", "ended", "helper", "idle",
                 "pending", "reader", "reading", "send_many", "take", "task", "ws")

    def __init__(self, ws: AsyncWebSocket, channel: Channel,
                 take: Callable[[Channel], list[str | bytes]]) -> None:
        self.ws = ws
        self.channel = channel
        self.take = take  # the engine's data_to_send
        self.busy = False
        self.closed = False
        self.close_task: asyncio.Task[None] | None = None
        self.task = asyncio.current_task()  # the connection's own task
        self.reader = self.task  # the task that reads the WebSocket now
        self.helper: asyncio.Task[Any] | None = None  # reads while the own task carries a handler
        self.idle: asyncio.Future[bool] | None = None  # the own task waits to read again
        self.ended = False  # reading is over: the channel is closed in the engine
        self.pending = False  # a deferred flush is scheduled
        self.reading = False  # the reader waits in receive(): it has fed the engine all it got
        # WebSockets that write several messages at once cheaply offer send_many().
        self.send_many: Callable[[list[str | bytes]], Awaitable[None]] | None = getattr(
            ws, "send_many", None)

    async def flush(self) -> bool:
        """Write what is queued; returns ``False`` when the connection failed."""
        if self.busy or self.closed:
            return True
        self.busy = True
        channel = self.channel
        try:
            while frames := self.take(channel):
                if len(frames) > 1 and self.send_many is not None:
                    await self.send_many(frames)
                    continue
                send = self.ws.send
                for frame in frames:
                    await send(frame)
            if channel.close_code is not None:
                self.closed = True
                # Not awaited here: a close can wait seconds for the peer's close frame,
                # and the caller may be closing many sessions (shutdown, broadcast).
                self.close_task = _spawn_close(self.ws, channel.close_code, channel.abort)
        except Exception:
            self.closed = True
            return False
        finally:
            self.busy = False
        return True


_closing: set[asyncio.Task[None]] = set()


def _spawn_close(ws: AsyncWebSocket, code: int, unresponsive: bool) -> asyncio.Task[None]:
    """Close ``ws`` in the background, keeping the task alive and its errors quiet.

    An unresponsive peer's connection is dropped if the close does not finish
    within :data:`UNRESPONSIVE_CLOSE_TIMEOUT`.
    """

    async def close() -> None:
        try:
            if unresponsive:
                await asyncio.wait_for(ws.close(code), UNRESPONSIVE_CLOSE_TIMEOUT)
            else:
                await ws.close(code)
        except Exception:
            if unresponsive:
                _abort(ws)

    task = asyncio.ensure_future(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)
    return task


async def _caught_up(probe: _Writer) -> None:
    """Let a probe's reader process the frames that arrived before a GET of its session.

    A client may send ``2probe`` and ``5`` and then a GET at once; the GET must
    find the upgrade done (400), as it does when frames are read in the order
    they arrive, whatever order the server's sockets are served in. Waits until,
    for :data:`SETTLED_TURNS` loop turns in a row, its reader has waited in
    ``receive()`` and the WebSocket, if it can tell, was ``idle()`` (the server
    holds no message that ``receive()`` has not returned), for at most
    :data:`PROBE_CATCH_UP`. In a row: a server may pass a message on through
    tasks of its own (Sanic's ``recv()`` waits for another task that reads it),
    which takes a turn or two after the socket was read.
    """
    until = asyncio.get_running_loop().time() + PROBE_CATCH_UP
    catch_up: Callable[[float], Awaitable[None]] | None = getattr(probe.ws, "catch_up", None)
    if catch_up is not None:  # a relayed WebSocket: what its edge read first comes here
        await catch_up(until)
    idle: Callable[[], bool] | None = getattr(probe.ws, "idle", None)
    await settle(lambda: probe.reading and (idle is None or idle()), until,
                 lambda: probe.closed)


async def settle(ready: Callable[[], bool], until: float,
                 gone: Callable[[], bool] | None = None) -> None:
    """Wait until ``ready()`` held for :data:`SETTLED_TURNS` loop turns in a row, until
    the loop time ``until`` at most (or until ``gone()``): a WebSocket's reader has
    passed on what had arrived (see :func:`_caught_up`)."""
    loop = asyncio.get_running_loop()
    settled = 0
    while settled < SETTLED_TURNS and not (gone is not None and gone()) and loop.time() < until:
        await asyncio.sleep(0)
        settled = settled + 1 if ready() else 0


def _abort(ws: AsyncWebSocket) -> None:
    with suppress(Exception):
        ws.abort()


async def _carry_on(started: Started[Any]) -> None:
    """A task's body: finish a coroutine that was started by hand and suspended."""
    with suppress(Exception):
        await started


def _nothing() -> None:
    return None


async def _awaiting(awaitable: Awaitable[T]) -> T:
    """A coroutine for a handler's other awaitable (a future, an object with ``__await__``)."""
    return await awaitable


class AsyncServer(BaseServer):
    """An Engine.IO server for asyncio.

    Every engine call goes through one choke point, :meth:`_run`: call the
    engine, write what it produced (WebSocket frames, answers to held GETs),
    dispatch its events, re-arm the one ``loop.call_at`` timer.

    With ``async_handlers`` (the default) a message handler does not hold up
    its session's reading: it starts at once in the reading task, and only if
    it suspends does that task carry it on while another reads. Messages that
    arrive meanwhile wait in the session's queue (at most
    :data:`~engineio_core.base_server.MAX_QUEUED_EVENTS`) and reach the handler
    afterwards, in order, as do the session's disconnect and upgrade events.

    Args:
        async_mode: the backend name (``"asyncio"``, or one a framework package
            registers); ``None`` picks the best installed one.
        cluster: join a cluster of servers (several processes) that share their
            sessions, e.g. :class:`~engineio_core.cluster.RedisCluster`, or a Redis
            URL for one: any of them may receive any request of any session
            (see ``docs/cluster.md``).
        cluster_upgrades: in a cluster, what becomes of a WebSocket upgrade that
            reaches another node than the session's: ``"take-over"`` (the default:
            the session moves there with its session dict), ``"relay"`` (the session
            stays; that node carries the WebSocket's messages to and from the
            session's node) or ``"refuse"`` (400; the client stays on long-polling).
            Applications that keep per-session state in process memory need
            ``"relay"`` (the :mod:`engineio_core.socketio` servers use it:
            python-socketio does).
        **options: server options (``ping_interval``, ``ping_timeout``,
            ``max_http_buffer_size``, ``cors_allowed_origins``...), see
            :class:`~engineio_core.protocol.config.ServerConfig`. Unknown options raise.

    Keyword Args:
        logger (logging.Logger | None): a ``logging.Logger`` (default ``engineio_core.server``).
        async_handlers (bool): ``False`` to read a session's next packet only once its
            message handler has returned.
    """

    def __init__(self, async_mode: str | None = None, *, cluster: Cluster | str | None = None,
                 cluster_upgrades: str = "take-over", **options: Any) -> None:
        node: AsyncNode | None = None
        if cluster is not None:
            from .cluster.async_node import AsyncNode

            node = AsyncNode(self, cluster)
            node.name_sessions(options)
            node.set_upgrades(cluster_upgrades, ("take-over", "relay", "refuse"))
        super().__init__(**options)
        self._node = node
        backend = load_backend(async_mode, "async")
        assert backend.kind == "async"
        self.backend: AsyncBackend = backend
        self.async_mode = backend.name
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None  # the loop it is armed on
        self._flushes: set[asyncio.Task[None]] = set()  # deferred WebSocket writes
        self._writers: dict[Channel, _Writer] = {}  # the WebSockets being served
        # The writer whose reading task runs a message handler inline right now (see
        # _read): what that handler sends to its own session is written in this task
        # without asking asyncio for the current task.
        self._inline: _Writer | None = None
        self._waiters: dict[Channel, asyncio.Future[Response]] = {}  # the held GETs
        self._probes: dict[str, _Writer] = {}  # sid -> the WebSocket it is upgrading to
        # Held GETs an adapter can watch, oldest first: since when, answer, disconnected()
        self._held: dict[Channel, tuple[float, asyncio.Future[Response],
                                        Callable[[], Awaitable[object]]]] = {}
        # The sweep timer and the loop it runs on (an app may be served on a new loop).
        self._sweeper: tuple[asyncio.TimerHandle, asyncio.AbstractEventLoop] | None = None

    # ------------------------------------------------------------------ public API
    async def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to a session (in a cluster: of any node).

        Raises:
            SessionUnknown: no open session has this id (in a cluster: its node
                is gone; a message for another node's session that ended just
                before is dropped there).
            BusUnavailable: in a cluster, the session is another node's and the
                bus cannot reach it.
        """
        node = self._node
        if node is not None and not self.engine.has_session(sid):
            await node.join()
            await node.send(sid, data)
            return
        # _run inlined: this is every message's path.
        try:
            self.engine.send(sid, data)
        finally:
            if self._rearm():
                await self._serve_output()

    async def send_many(self, sid: str, messages: Sequence[str | bytes]) -> None:
        """Send several messages to a session together: no message another task sends
        to it comes between them (a python-socketio binary packet and its attachments).

        In a cluster, messages for another node's session leave one by one.

        Raises:
            SessionUnknown: no open session has this id.
        """
        node = self._node
        if node is not None and not self.engine.has_session(sid):
            await node.join()
            for data in messages:
                await node.send(sid, data)
            return
        await self._run(self._send_each, sid, messages)

    async def broadcast(self, data: str | bytes) -> None:
        """Send a message to every open session (in a cluster: of every node; the
        other nodes send it to theirs when it reaches them)."""
        node = self._node
        if node is not None:
            await node.join()
            await node.broadcast(data)  # here too
            return
        await self._run(self._send_all, data)

    async def disconnect(self, sid: str | None = None) -> None:
        """Close one session (in a cluster: of any node), or every session of this
        server when ``sid`` is ``None``."""
        node = self._node
        if node is not None and sid is not None and not self.engine.has_session(sid):
            await node.join()
            await node.close(sid)
            return
        await self._run(self._close_sessions, sid, self._now())

    @asynccontextmanager
    async def session(self, sid: str) -> AsyncIterator[dict[str, Any]]:
        """The application's dict for a session, as an async context manager.

        In a cluster, another node's session gives a copy, saved back on exit.
        """
        if self._node is None or self.engine.has_session(sid):
            yield self._session_data(sid)
            return
        data = await self.get_session(sid)
        yield data
        await self.save_session(sid, data)

    async def get_session(self, sid: str) -> dict[str, Any]:
        """The application's dict for a session (in a cluster, another node's
        session gives a copy: change it with :meth:`save_session`)."""
        node = self._node
        if node is not None and not self.engine.has_session(sid):
            await node.join()
            return await node.get_data(sid)
        return self._session_data(sid)

    async def save_session(self, sid: str, data: dict[str, Any]) -> None:
        """Replace the application's dict for a session (in a cluster: of any node)."""
        node = self._node
        if node is not None and not self.engine.has_session(sid):
            await node.join()
            await node.save_data(sid, data)
            return
        self.engine.session(sid).replace_data(data)

    async def count_sessions(self) -> int:
        """How many sessions are open: in a cluster, on all its nodes together
        (nodes that do not answer within a few seconds are left out); else
        :meth:`session_count`."""
        node = self._node
        if node is None:
            return self.session_count()
        await node.join()
        return await node.count()

    async def start(self) -> None:
        """Join the cluster now (with ``cluster=``; else nothing to do). ``ASGIApp``
        calls it at lifespan startup; without it the first request does.

        Raises:
            BusUnavailable: the cluster's bus (Redis) cannot be reached; the
                message names its URL.
        """
        if self._node is not None:
            await self._node.join()

    def start_background_task(self, target: Callable[..., Awaitable[Any]], *args: Any,
                              **kwargs: Any) -> asyncio.Task[Any]:
        """Run a coroutine function in the background; returns its task."""
        task: asyncio.Task[Any] = self.backend.spawn(target, *args, **kwargs)
        return task

    async def sleep(self, seconds: float = 0) -> None:
        """Sleep without blocking other sessions."""
        await self.backend.sleep(seconds)

    async def shutdown(self, close_code: int = 1000) -> None:
        """Close every session and stop the heartbeat timer.

        Args:
            close_code: the WebSocket close code (1001 "going away" when the process exits).
        """
        await self._run(self.engine.shutdown, self._now(), close_code)
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
        if self._node is not None:
            await self._node.leave()

    # ------------------------------------------------------------------ adapters
    def handle_http(
        self, request: Request, read_body: Callable[[int], Awaitable[bytes]],
        disconnected: Callable[[], Awaitable[object]] | None = None,
    ) -> Coroutine[Any, Any, Response]:
        """Serve one polling (or preflight) request: ``await`` what this returns.

        Args:
            request: the request, ``body`` not yet read.
            read_body: reads the whole body; raises :class:`BodyTooLarge` past its argument.
            disconnected: returns once the client has gone away (where the adapter
                can tell). A GET still held at a sweep at least
                :data:`HELD_POLL_WATCH_DELAY` after it arrived (sweeps run that often
                while GETs are held) is watched with it: a dead one ends its session at once
                (``transport error``, "poll connection dropped") instead of at
                the next heartbeat; the answer returned then goes nowhere.
        """
        # Not a coroutine itself: one coroutine less on every request off a cluster.
        if self._node is None:
            return self._handle_http_here(request, read_body, disconnected)
        return self._handle_http_clustered(request, read_body, disconnected)

    async def _handle_http_clustered(
        self, request: Request, read_body: Callable[[int], Awaitable[bytes]],
        disconnected: Callable[[], Awaitable[object]] | None,
    ) -> Response:
        """:meth:`handle_http` on a cluster node: a session of another node is routed there."""
        node = self._node
        assert node is not None
        sid = request.query.get("sid")
        if sid and request.method in ("GET", "POST") and not self.engine.has_session(sid):
            try:
                await node.join()
                await node.arrived(sid)  # being taken over here: served once it is
                if self.engine.has_session(sid):
                    return await self._handle_http_here(request, read_body, disconnected)
                routed = await node.route_http(request, read_body, disconnected)
            except BusUnavailable as exc:
                routed = self.engine.refuse(request, ClusterUnavailable(detail=str(exc)))
                await self._refused()
            if routed is not None:
                return routed
        else:
            await node.join()
            if sid and request.method == "GET":
                await node.before_get(sid, node.id)
        return await self._handle_http_here(request, read_body, disconnected)

    async def _handle_http_here(
        self, request: Request, read_body: Callable[[int], Awaitable[bytes]],
        disconnected: Callable[[], Awaitable[object]] | None = None,
    ) -> Response:
        """:meth:`handle_http` for a session of this server (or a handshake)."""
        engine = self.engine
        run = self._run
        if self._probes and request.method == "GET":
            await self._catch_up(request)
        # _run inlined here and for handle_body: a coroutine less on every request.
        try:
            outcome = engine.handle_request(request, self._now())
        finally:
            if self._rearm():
                await self._serve_output()
        if isinstance(outcome, Response):
            if outcome.status >= 400:
                await self._refused()
            return outcome
        if isinstance(outcome, PostBody):
            try:
                body = await read_body(outcome.limit)
            except BodyTooLarge:
                response = await run(self._too_large, outcome, self._now())
                await self._refused()
                return response
            except BaseException:
                await run(engine.post_dropped, outcome, self._now())
                raise
            try:
                try:
                    response = engine.handle_body(outcome, body, self._now())
                finally:
                    if self._rearm():
                        await self._serve_output()
            finally:
                # Its messages' handlers have run: the client may answer pings again.
                # (Only deadlines can change: re-armed here, no output to serve.)
                if engine.post_handled(outcome, self._now()):
                    self._rearm()
            if response.status >= 400:
                await self._refused()
            pending = self._pending.get(outcome.sid)
            if pending is not None and len(pending.items) >= MAX_QUEUED_EVENTS:
                await self._room(pending)  # the client waits for this answer to send more
            return response
        if isinstance(outcome, Handshake):
            result = await self._handshake(outcome)
            assert isinstance(result, Response)
            return result
        if outcome.response is not None:  # released while the output was served
            return outcome.response
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()
        self._waiters[outcome] = future
        if disconnected is not None:
            # One sweep timer for every held GET, not a timer each (a GET per round trip).
            self._held[outcome] = (loop.time(), future, disconnected)
            sweeper = self._sweeper
            if sweeper is None or sweeper[1] is not loop:  # none yet, or a former loop's
                self._sweeper = (loop.call_later(HELD_POLL_WATCH_DELAY, self._sweep_held), loop)
        try:
            return await future
        except asyncio.CancelledError:
            await run(engine.poll_dropped, outcome, self._now())
            raise
        finally:
            del self._waiters[outcome]
            if disconnected is not None:
                self._held.pop(outcome, None)

    def _sweep_held(self) -> None:
        """Watch the GETs held since the last sweep or longer; sweep again while any is held."""
        loop = asyncio.get_running_loop()
        held = self._held
        cutoff = loop.time() - HELD_POLL_WATCH_DELAY
        while held:
            channel = next(iter(held))
            since, future, disconnected = held[channel]
            if since > cutoff:
                break  # the rest arrived later
            del held[channel]
            self._watch_poll(channel, future, disconnected)
        self._sweeper = (loop.call_later(HELD_POLL_WATCH_DELAY, self._sweep_held), loop) if (
            held) else None

    def _watch_poll(self, channel: Channel, future: asyncio.Future[Response],
                    disconnected: Callable[[], Awaitable[object]]) -> None:
        """A GET is still held: end its session if its client goes away meanwhile."""
        if future.done():
            return

        async def watch() -> None:
            try:
                await disconnected()
            except Exception:
                return  # the adapter cannot tell: the heartbeat will
            if not future.done():
                await self._run(self.engine.poll_dropped, channel, self._now())
                if not future.done():
                    future.set_result(Response(400, [], b""))  # nobody reads it

        task = asyncio.ensure_future(watch())
        future.add_done_callback(lambda _: task.cancel())

    async def handle_websocket(self, request: Request, ws: AsyncWebSocket) -> None:
        """Serve one WebSocket request from upgrade to close.

        In a cluster, the upgrade of another node's session is served as
        ``cluster_upgrades`` says: taken over (served here from then on; its node
        forwards what still reaches it), relayed to the session's node, or refused.
        """
        node = self._node
        if node is not None:
            try:
                await node.join()
                sid = request.query.get("sid")
                if (sid and not self.engine.has_session(sid)
                        and await node.websocket_elsewhere(sid, request, ws)):
                    return
            except BusUnavailable as exc:
                await ws.refuse(self.engine.refuse(request, ClusterUnavailable(detail=str(exc))))
                await self._refused()
                return
            except BadRequest as exc:  # another node's session, and no take-over
                await ws.refuse(self.engine.refuse(request, exc))
                await self._refused()
                return
        await self._handle_websocket_here(request, ws)

    async def _handle_websocket_here(self, request: Request, ws: AsyncWebSocket) -> None:
        """Serve a WebSocket of a session of this server (or a new one)."""
        engine = self.engine
        run = self._run
        if self._probes:  # another WebSocket, maybe for an upgrading (or upgraded) session
            await self._catch_up(request)
        outcome = await run(engine.handle_websocket, request, self._now())
        if isinstance(outcome, Handshake):
            result = await self._handshake(outcome)
            if isinstance(result, Response):
                await ws.refuse(result)
                return
            channel = result
        elif isinstance(outcome, Response):
            await self._refused()
            await ws.refuse(outcome)
            return
        else:
            channel = outcome
        writer = _Writer(ws, channel, engine.data_to_send)
        delay = open_delay(outcome) if isinstance(outcome, Handshake) else 0.0
        if not delay:
            self._writers[channel] = writer
        probing = not isinstance(outcome, Handshake)  # an upgrade of a polling session
        if probing:
            self._probes[channel.sid] = writer
        try:
            try:
                await ws.accept()
            except Exception:
                await run(engine.ws_closed, channel, self._now())
                return
            if delay:
                await asyncio.sleep(delay)  # nothing is written to it until registered
                self._writers[channel] = writer
            await self._flush(writer)
            await self._receive(channel, writer)
        finally:
            self._writers.pop(channel, None)
            if probing and self._probes.get(channel.sid) is writer:
                del self._probes[channel.sid]

    # ------------------------------------------------------------------ cluster
    async def _hand_over(self, sid: str) -> SessionSnapshot:
        """Stop serving a polling session: another node takes it over (its held GET
        gets a noop). Raises like :meth:`Engine.hand_over`, and ``SessionBusy`` while
        a handler of the session runs here (what it sends must leave first, in order)."""
        if sid in self._pending:
            raise SessionBusy(f"a handler of session {sid} is running")
        return await self._run(self.engine.hand_over, sid, self._now())

    async def _release_poll(self, sid: str) -> None:
        """Answer a session's held GET with a noop (see :meth:`Engine.release_poll`)."""
        await self._run(self.engine.release_poll, sid)

    async def _adopt(self, snapshot: SessionSnapshot) -> None:
        """Serve a session another node handed over."""
        await self._run(self.engine.import_session, snapshot, self._now())

    # ------------------------------------------------------------------ internals
    async def _catch_up(self, request: Request) -> None:
        """Before a GET or another WebSocket of a session with a probe WebSocket: what
        that WebSocket already sent is handled first (:func:`_caught_up`)."""
        probe = self._probes.get(request.query.get("sid", ""))
        if probe is not None:
            await _caught_up(probe)

    def _now(self) -> float:
        # The running loop's clock (never a cached loop: an app may be served again
        # on a new loop, as Sanic's and aiohttp's test clients do).
        return asyncio.get_running_loop().time()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """The choke point: call the engine, re-arm the timer, serve what the call produced."""
        try:
            return fn(*args)
        finally:
            if self._rearm():
                await self._serve_output()

    def _rearm(self) -> bool:
        """After an engine call: re-arm the timer; returns whether output waits to be served."""
        engine = self.engine
        when = engine.get_timer()
        at = self._timer_at
        # A later deadline leaves the armed timer alone: it fires early, finds
        # nothing due and re-arms then (a session closing costs no cancel + call_at),
        # unless it was armed on another loop (an app served again on a new one).
        if when != at and (when is None or at is None or when < at
                           or self._timer_loop is not asyncio.get_running_loop()):
            self._arm_timer(when)
        return engine.has_output()

    async def _receive(self, channel: Channel, writer: _Writer) -> None:
        """Serve the WebSocket until it closes, in the connection's own task.

        The task reads; when a handler suspends it carries the handler (and what
        queued up behind it) on while a helper reads, then takes the reading back.
        """
        sid = channel.sid
        try:
            while True:
                started = await self._read(channel, writer)
                if started is None:
                    return  # the connection ended while this task read it
                await self._carry(sid, started)
                if writer.ended:
                    return
                writer.idle = idle = asyncio.get_running_loop().create_future()
                if not await idle:
                    return  # the helper read to the end
        except BaseException:
            if not writer.ended:  # cancelled while not reading
                reader = writer.reader
                if reader is writer.task:
                    await self._finish(channel, writer)  # handed the reading, not started
                elif reader is not None:
                    reader.cancel()  # the helper: it closes the channel
            raise

    async def _read(self, channel: Channel, writer: _Writer) -> Started[Any] | None:
        """Feed the WebSocket's messages to the engine (the hot path).

        Returns ``None`` once the connection ended (the channel is then closed in
        the engine), or a message handler that suspended, for this task to carry
        on: another task reads from then on.
        """
        engine = self.engine
        ws = writer.ws
        loop = asyncio.get_running_loop()
        # A WebSocket that offers its framework's own receive and a function that
        # unwraps its messages is read through them: one coroutine less per message.
        unwrap: Callable[[Any], str | bytes | None] | None = getattr(ws, "message_data", None)
        receive: Callable[[], Awaitable[Any]] = (
            ws.receive if unwrap is None else ws.receive_message)  # type: ignore[attr-defined]
        run = self._run
        receive_ws = engine.receive_ws
        rearm = self._rearm
        serve_output = self._serve_output
        pending = self._pending
        awaiting = not self.async_handlers
        coroutine = CoroutineType
        sid = channel.sid
        handed = False
        try:
            while not writer.closed:
                writer.reading = True
                try:
                    data = await receive()
                    if unwrap is not None:
                        data = unwrap(data)
                except MessageTooLarge:
                    writer.reading = False
                    await run(engine.ws_too_large, channel, loop.time())
                    break
                writer.reading = False
                if data is None:
                    break
                # _run inlined for the hot path: a frame that is an application
                # message changes nothing else in the engine (its contract), so
                # there is nothing to serve before the handler runs.
                message = receive_ws(channel, data, loop.time())
                if message is None:
                    if rearm():
                        await serve_output()
                    continue
                handler = self._message_handler
                if handler is None:
                    continue
                if sid in pending:  # its handler is running: the message waits its turn
                    await self._queue(sid, message)
                    continue
                try:
                    result = handler(sid, message)
                except Exception:
                    self._handler_failed("message", sid)
                    continue
                if result is None:
                    continue  # a plain function
                if type(result) is not coroutine:
                    if not inspect.isawaitable(result):
                        continue
                    result = _awaiting(result)
                if awaiting:  # async_handlers=False: reading waits for the handler
                    try:
                        await result
                    except Exception:
                        self._handler_failed("message", sid)
                    continue
                # coroutines.start(), inlined: run the handler up to its first
                # suspension right here; most (an echo) finish without one.
                self._inline = writer
                try:
                    suspended = result.send(None)
                except StopIteration:
                    continue
                except Exception:
                    self._handler_failed("message", sid)
                    continue
                finally:
                    self._inline = None
                self._hand_off(writer, sid)
                handed = True
                return Started(result, suspended)
            return None
        finally:
            if not handed:
                await self._finish(channel, writer)

    def _hand_off(self, writer: _Writer, sid: str) -> None:
        """A handler suspended in the reading task: mark the session busy and have
        another task read (the connection's own task if it waits idle, else a helper)."""
        self._pending[sid] = PendingEvents()
        idle = writer.idle
        writer.idle = None
        if idle is not None and not idle.done():
            writer.reader = writer.task
            idle.set_result(True)
        else:
            helper: asyncio.Task[Any] = self.backend.spawn(self._read_elsewhere, writer)
            writer.helper = writer.reader = helper

    async def _read_elsewhere(self, writer: _Writer) -> None:
        """A helper task: read while the connection's task carries a handler on."""
        try:
            started = await self._read(writer.channel, writer)
            if started is not None:  # its own handler suspended: it carries it on
                await self._carry(writer.channel.sid, started)
        finally:
            if writer.helper is asyncio.current_task():
                writer.helper = None

    async def _finish(self, channel: Channel, writer: _Writer) -> None:
        """Reading is over: close the channel in the engine, wait for the socket's close."""
        if writer.ended:
            return
        writer.ended = writer.closed = True
        writer.reader = None
        try:
            await self._run(self.engine.ws_closed, channel, self._now())
            if writer.close_task is not None:
                await writer.close_task  # the connection's task returns once it is closed
        finally:
            idle = writer.idle
            writer.idle = None
            if idle is not None and not idle.done():
                idle.set_result(False)

    async def _queue(self, sid: str, data: str | bytes) -> None:
        """Queue a message behind its session's running handler; wait at the bound."""
        pending = self._pending[sid]
        pending.items.append(data)
        if len(pending.items) >= MAX_QUEUED_EVENTS:
            await self._room(pending)

    async def _room(self, pending: PendingEvents) -> None:
        """Wait until the handler has worked the session's queue down to half."""
        room = pending.room
        if room is None:
            pending.room = room = asyncio.get_running_loop().create_future()
        await asyncio.shield(room)

    async def _carry(self, sid: str, first: Awaitable[Any] | None) -> None:
        """Finish a session's running handler, then run what queued up behind it, in
        order, in this task; the session is no longer busy once its queue is empty."""
        pending = self._pending[sid]
        items = pending.items
        try:
            if first is not None:
                try:
                    await first
                except Exception:
                    self._handler_failed("message", sid)
            while items:
                item = items.popleft()
                room = pending.room
                if room is not None and len(items) <= MAX_QUEUED_EVENTS // 2:
                    pending.room = None
                    room.set_result(None)
                if type(item) is str or type(item) is bytes:
                    await self._deliver(sid, item)
                else:
                    await self._call_event(item)  # type: ignore[arg-type]
        finally:
            if items:  # cancelled: the rest still reaches the handlers, in a task of its own
                self.backend.spawn(self._carry, sid, None)
            else:
                del self._pending[sid]
                room = pending.room
                if room is not None:
                    pending.room = None
                    room.set_result(None)

    def _close_sessions(self, sid: str | None, now: float) -> None:
        engine = self.engine
        for each in engine.session_ids() if sid is None else [sid]:
            engine.close(each, now)

    async def _deferred_flush(self, writer: _Writer) -> None:
        writer.pending = False
        await self._flush(writer)

    async def _flush(self, writer: _Writer) -> None:
        if not await writer.flush():
            await self._run(self.engine.ws_closed, writer.channel, self._now())

    async def _handshake(self, handshake: Handshake) -> Response | Channel:
        rejection = None
        connect = self.handlers.get("connect")
        if connect is not None:
            try:  # _call() inlined, as _run() below: a coroutine less per handshake
                result = connect(*self._handler_args("connect", handshake.sid,
                                                     handshake.request))
                if result is not None and inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                rejection = self._connect_verdict(handshake.sid, error=exc)
            else:
                rejection = self._connect_verdict(handshake.sid, result)
        try:
            outcome = self._conclude_handshake(handshake, rejection, self._now())
        finally:
            if self._rearm():
                await self._serve_output()
        if isinstance(outcome, Response) and outcome.status >= 400:
            await self._refused()
        return outcome

    async def _refused(self) -> None:
        """Log and report the requests the engine refused (after an error answer)."""
        for refusal in self.engine.refusals_received():
            result = self._report_refusal(refusal)
            if result is not None and inspect.isawaitable(result):
                try:
                    await result
                except Exception:
                    self.logger.exception("connection_error handler failed (%s)",
                                          refusal.reason)

    async def _serve_output(self) -> None:
        """Write the ready channels and dispatch the events, until the engine has none."""
        engine = self.engine
        writers = self._writers
        while engine.has_output():
            for channel in engine.take_ready():
                if channel.websocket:
                    writer = writers.get(channel)
                    if writer is None:
                        continue  # not accepted yet: its first flush writes everything
                    if channel.abort and writer.busy:
                        # Closed as unresponsive while a write to it is stuck: drop it now.
                        writer.closed = True
                        _abort(writer.ws)
                        continue
                    if writer is self._inline or (
                            (current := asyncio.current_task()) is writer.task
                            or current is writer.helper):
                        # The connection's own tasks (an echo); _flush inlined.
                        if not await writer.flush():
                            await self._run(engine.ws_closed, channel, self._now())
                    elif writer.send_many is None:
                        # Another session's task: write as far as the socket takes it
                        # without waiting; a write that has to wait (the peer reads
                        # slowly or not at all) goes on in a task of its own.
                        started = start(self._flush(writer))
                        if type(started) is Started:
                            task = asyncio.ensure_future(_carry_on(started))
                            self._flushes.add(task)
                            task.add_done_callback(self._flushes.discard)
                    elif not writer.pending:
                        # Another session's task (a broadcast): write once it yields, so
                        # that a burst reaches this socket in one send_many().
                        writer.pending = True
                        task = asyncio.ensure_future(self._deferred_flush(writer))
                        self._flushes.add(task)
                        task.add_done_callback(self._flushes.discard)
                else:
                    waiter = self._waiters.get(channel)
                    if waiter is not None and not waiter.done() and channel.response is not None:
                        waiter.set_result(channel.response)
            for event in engine.events_received():  # after the writes: they may add some
                if not self._queued(event):
                    await self._call_event(event)

    async def _deliver(self, sid: str, data: str | bytes) -> None:
        """Run the message handler to its end, in this task."""
        handler = self._message_handler
        if handler is None:
            return
        try:
            result = handler(sid, data)
            if result is not None and inspect.isawaitable(result):
                await result
        except Exception:
            self._handler_failed("message", sid)

    def _queued(self, event: Event) -> bool:
        """Queue an engine event behind its session's running handler (or start it in a
        task of its own); ``False``: the caller runs its handler, on its own path."""
        if self._node is not None and type(event) is Disconnect:
            self._node.ended(event.sid)
        if self.async_handlers:
            sid = event.sid
            pending = self._pending.get(sid)
            if pending is not None:
                pending.items.append(event.data if type(event) is Message else event)
                return True
            if type(event) is Message and self._client_pings(sid):
                # An EIO 3 polling client sends its pings itself, one POST at a time,
                # and gives up when a pong is late: its POST is answered at once and
                # its messages run in a task, in order (what follows queues behind).
                pending = self._pending[sid] = PendingEvents()
                pending.items.append(event.data)
                self.backend.spawn(self._carry, sid, None)
                return True
        # A polling POST's message runs here, on the POST's path (a task per
        # message would cost ~8 us a round trip, measured); its handler cannot
        # be moved to another task once started (asyncio.timeout, TaskGroup and
        # anyio scopes belong to the task that enters them). EIO 4 clients answer
        # the server's pings, which wait for the POST meanwhile (the heartbeat hold).
        return False

    def _client_pings(self, sid: str) -> bool:
        """Whether ``sid`` is a polling session whose client times its own pings (EIO 3)."""
        try:
            session = self.engine.session(sid)
        except SessionUnknown:
            return False
        return not session.traits.server_pings and session.transport == "polling"

    async def _call_event(self, event: Event) -> None:
        routed = self._route(event)
        if routed is None:
            return
        handler, args = routed
        try:
            result = handler(*args)
            if result is not None and inspect.isawaitable(result):
                await result
        except Exception:
            self._handler_failed(type(event).__name__.lower(), event.sid)

    # ------------------------------------------------------------------ the timer
    def _arm_timer(self, when: float | None) -> None:
        """One ``loop.call_at`` for the engine's earliest deadline ``when`` (none: no timer)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        if when is None:
            self._timer = self._timer_loop = None
        else:
            loop = self._timer_loop = asyncio.get_running_loop()
            self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        due = self._timer_at
        self._timer = self._timer_at = None
        # asyncio runs a call_at callback up to its clock resolution early: the
        # deadline counts as reached, or it would be re-armed for the same instant
        # again and again until the clock catches up.
        now = self._now()
        if due is not None and now < due:
            now = due
        self.engine.handle_timer(now)
        self.backend.spawn(self._run, _nothing)
