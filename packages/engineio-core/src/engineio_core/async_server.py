"""``AsyncServer``: the engine driven by asyncio, for ASGI servers and asyncio frameworks.

Framework adapters (the ASGI app here, aiohttp/tornado/sanic packages) turn
their requests into :class:`~engineio_core.protocol.http.Request` objects and
call :meth:`AsyncServer.handle_http` or :meth:`AsyncServer.handle_websocket`
with an object that satisfies :class:`AsyncWebSocket`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol, TypeVar

from .backends import AsyncBackend, load_backend
from .base_server import BaseServer, BodyTooLarge, MessageTooLarge
from .protocol.engine import Handshake, PostBody
from .protocol.events import Event
from .protocol.http import Request, Response
from .protocol.session import Channel

__all__ = ["AsyncServer", "AsyncWebSocket"]

T = TypeVar("T")


class AsyncWebSocket(Protocol):
    """The WebSocket a framework adapter hands to :meth:`AsyncServer.handle_websocket`."""

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

    async def send(self, data: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message."""
        ...

    async def close(self, code: int) -> None:
        """Close the WebSocket with ``code``."""
        ...


class _Writer:
    """Writes a channel's frames to its WebSocket, one flush at a time (keeps order)."""

    __slots__ = ("busy", "channel", "close_task", "closed", "pending", "send_many", "take",
                 "task", "ws")

    def __init__(self, ws: AsyncWebSocket, channel: Channel,
                 take: Callable[[Channel], list[str | bytes]]) -> None:
        self.ws = ws
        self.channel = channel
        self.take = take  # the engine's data_to_send
        self.busy = False
        self.closed = False
        self.close_task: asyncio.Task[None] | None = None
        self.task = asyncio.current_task()  # the connection's own task (receives)
        self.pending = False  # a deferred flush is scheduled
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
                self.close_task = _spawn_close(self.ws, channel.close_code)
        except Exception:
            self.closed = True
            return False
        finally:
            self.busy = False
        return True


_closing: set[asyncio.Task[None]] = set()


def _spawn_close(ws: AsyncWebSocket, code: int) -> asyncio.Task[None]:
    """Close ``ws`` in the background, keeping the task alive and its errors quiet."""

    async def close() -> None:
        with suppress(Exception):
            await ws.close(code)

    task = asyncio.ensure_future(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)
    return task


def _nothing() -> None:
    return None


class AsyncServer(BaseServer):
    """An Engine.IO server for asyncio.

    Every engine call goes through one choke point, :meth:`_run`: call the
    engine, write what it produced (WebSocket frames, answers to held GETs),
    dispatch its events, re-arm the one ``loop.call_at`` timer.

    Args:
        async_mode: the backend name (``"asyncio"``, or one a framework package
            registers); ``None`` picks the best installed one.
        logger: a ``logging.Logger`` (default ``engineio_core.server``).
        **options: server options (``ping_interval``, ``ping_timeout``,
            ``max_http_buffer_size``, ``cors_allowed_origins``...), see
            :class:`~engineio_core.protocol.config.ServerConfig`. Unknown options raise.
    """

    def __init__(self, async_mode: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        backend = load_backend(async_mode, "async")
        assert backend.kind == "async"
        self.backend: AsyncBackend = backend
        self.async_mode = backend.name
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flushes: set[asyncio.Task[None]] = set()  # deferred WebSocket writes
        self._writers: dict[Channel, _Writer] = {}  # the WebSockets being served
        self._waiters: dict[Channel, asyncio.Future[Response]] = {}  # the held GETs

    # ------------------------------------------------------------------ public API
    async def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to a session.

        Raises:
            SessionUnknown: no open session has this id.
        """
        await self._run(self.engine.send, sid, data)

    async def disconnect(self, sid: str | None = None) -> None:
        """Close one session, or every session when ``sid`` is ``None``."""
        await self._run(self._close_sessions, sid, self._now())

    @asynccontextmanager
    async def session(self, sid: str) -> AsyncIterator[dict[str, Any]]:
        """The application's dict for a session, as an async context manager."""
        yield self._session_data(sid)

    async def get_session(self, sid: str) -> dict[str, Any]:
        """The application's dict for a session."""
        return self._session_data(sid)

    async def save_session(self, sid: str, data: dict[str, Any]) -> None:
        """Replace the application's dict for a session."""
        self.engine.session(sid).replace_data(data)

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

    # ------------------------------------------------------------------ adapters
    async def handle_http(
        self, request: Request, read_body: Callable[[int], Awaitable[bytes]]
    ) -> Response:
        """Serve one polling (or preflight) request.

        Args:
            request: the request, ``body`` not yet read.
            read_body: reads the whole body; raises :class:`BodyTooLarge` past its argument.
        """
        engine = self.engine
        run = self._run
        outcome = await run(engine.handle_request, request, self._now())
        if isinstance(outcome, Response):
            return outcome
        if isinstance(outcome, PostBody):
            try:
                body = await read_body(outcome.limit)
            except BodyTooLarge:
                return await run(self._too_large, outcome, self._now())
            except BaseException:
                await run(engine.post_dropped, outcome, self._now())
                raise
            return await run(engine.handle_body, outcome, body, self._now())
        if isinstance(outcome, Handshake):
            result = await self._handshake(outcome)
            assert isinstance(result, Response)
            return result
        if outcome.response is not None:  # released while the output was served
            return outcome.response
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiters[outcome] = future
        try:
            return await future
        except asyncio.CancelledError:
            await run(engine.poll_dropped, outcome, self._now())
            raise
        finally:
            del self._waiters[outcome]

    async def handle_websocket(self, request: Request, ws: AsyncWebSocket) -> None:
        """Serve one WebSocket request from upgrade to close."""
        engine = self.engine
        run = self._run
        outcome = await run(engine.handle_websocket, request, self._now())
        if isinstance(outcome, Handshake):
            result = await self._handshake(outcome)
            if isinstance(result, Response):
                await ws.refuse(result)
                return
            channel = result
        elif isinstance(outcome, Response):
            await ws.refuse(outcome)
            return
        else:
            channel = outcome
        writer = _Writer(ws, channel, engine.data_to_send)
        self._writers[channel] = writer
        try:
            try:
                await ws.accept()
            except Exception:
                await run(engine.ws_closed, channel, self._now())
                return
            await self._flush(writer)
            await self._receive(channel, writer)
        finally:
            del self._writers[channel]

    # ------------------------------------------------------------------ internals
    def _now(self) -> float:
        # The running loop's clock (never a cached loop: an app may be served again
        # on a new loop, as Sanic's and aiohttp's test clients do).
        return asyncio.get_running_loop().time()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """The choke point: call the engine, re-arm the timer, serve what the call produced."""
        engine = self.engine
        try:
            return fn(*args)
        finally:  # _rearm(), inlined: this runs after every engine call
            if engine.get_timer() != self._timer_at:
                self._arm_timer()
            if engine.has_output():
                await self._serve_output()

    def _rearm(self) -> bool:
        """After an engine call: re-arm the timer; returns whether output waits to be served."""
        engine = self.engine
        if engine.get_timer() != self._timer_at:
            self._arm_timer()
        return engine.has_output()

    async def _receive(self, channel: Channel, writer: _Writer) -> None:
        """Feed the WebSocket's messages to the engine until it closes (the hot path)."""
        engine = self.engine
        ws = writer.ws
        loop = asyncio.get_running_loop()
        receive = ws.receive
        run = self._run
        receive_ws = engine.receive_ws
        rearm = self._rearm
        serve_output = self._serve_output
        sid = channel.sid
        try:
            while not writer.closed:
                try:
                    data = await receive()
                except MessageTooLarge:
                    await run(engine.ws_too_large, channel, loop.time())
                    break
                if data is None:
                    break
                # _run inlined for the hot path: a frame that is an application
                # message changes nothing else in the engine (its contract), so
                # there is nothing to serve before the handler runs.
                message = receive_ws(channel, data, loop.time())
                if message is not None:
                    await self._deliver(sid, message)
                elif rearm():
                    await serve_output()
        finally:
            writer.closed = True
            await run(engine.ws_closed, channel, self._now())
            if writer.close_task is not None:
                await writer.close_task  # the connection's own task waits for its close

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
        refusal = None
        if "connect" in self.handlers:
            try:
                result = await self._call("connect", handshake.sid, handshake.request)
            except Exception as exc:
                refusal = self._connect_verdict(handshake.sid, error=exc)
            else:
                refusal = self._connect_verdict(handshake.sid, result)
        return await self._run(self._conclude_handshake, handshake, refusal, self._now())

    async def _call(self, event: str, *args: Any) -> Any:
        result = self.handlers[event](*self._handler_args(event, *args))
        if inspect.isawaitable(result):
            result = await result
        return result

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
                    if writer.send_many is None or writer.task is asyncio.current_task():
                        await self._flush(writer)  # the connection's own task (an echo)
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
                await self._dispatch(event)

    async def _deliver(self, sid: str, data: str | bytes) -> None:
        """Run the message handler (the hot path: no event object, no lookups)."""
        try:
            handler = self._message_handler
            if handler is not None:
                result = handler(sid, data)
                if result is not None and inspect.isawaitable(result):
                    await result
            elif "message" in self.handlers:
                await self._call("message", sid, data)
        except Exception:
            self.logger.exception("message handler failed")

    async def _dispatch(self, event: Event) -> None:
        routed = self._route(event)
        if routed is None:
            return
        handler, args = routed
        try:
            result = handler(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.logger.exception("%s handler failed", type(event).__name__.lower())

    # ------------------------------------------------------------------ the timer
    def _arm_timer(self) -> None:
        """One ``loop.call_at`` for the engine's earliest deadline."""
        when = self.engine.get_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        if when is None:
            self._timer = None
        else:
            self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

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
