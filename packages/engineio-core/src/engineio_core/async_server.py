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
from typing import Any, Protocol

from .backends import AsyncBackend, load_backend
from .base_server import BaseServer, BodyTooLarge, ConnectionRefused, MessageTooLarge
from .protocol.engine import Handshake, PostBody
from .protocol.errors import SessionUnknown
from .protocol.events import Disconnect, Event, Message, Upgraded
from .protocol.http import Request, Response
from .protocol.session import Channel

__all__ = ["AsyncServer", "AsyncWebSocket"]


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

    __slots__ = ("busy", "channel", "close_task", "closed", "pending", "send_many", "task", "ws")

    def __init__(self, ws: AsyncWebSocket, channel: Channel) -> None:
        self.ws = ws
        self.channel = channel
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
            while channel.frames:
                frames = channel.frames
                channel.frames = []
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


class AsyncServer(BaseServer):
    """An Engine.IO server for asyncio.

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
        self.engine.inline_messages = True  # WebSocket messages skip the event queue
        self.async_mode = backend.name
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flushes: set[asyncio.Task[None]] = set()  # deferred WebSocket writes

    # ------------------------------------------------------------------ public API
    async def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to a session.

        Raises:
            SessionUnknown: no open session has this id.
        """
        self.engine.send(sid, data)
        await self._process()

    async def disconnect(self, sid: str | None = None) -> None:
        """Close one session, or every session when ``sid`` is ``None``."""
        now = self._now()
        if sid is None:
            for each in list(self.engine.sessions):
                self.engine.close(each, now)
        else:
            self.engine.close(sid, now)
        await self._process()

    @asynccontextmanager
    async def session(self, sid: str) -> AsyncIterator[dict[str, Any]]:
        """The application's dict for a session, as an async context manager."""
        yield self._session_data(sid)

    async def get_session(self, sid: str) -> dict[str, Any]:
        """The application's dict for a session."""
        return self._session_data(sid)

    async def save_session(self, sid: str, data: dict[str, Any]) -> None:
        """Replace the application's dict for a session."""
        self.engine.session(sid).data = dict(data)

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
        self.engine.shutdown(self._now(), close_code)
        await self._process()
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
        outcome = engine.handle_request(request, self._now())
        if isinstance(outcome, Response):
            await self._process()
            return outcome
        if isinstance(outcome, PostBody):
            try:
                body = await read_body(outcome.limit)
            except BodyTooLarge:
                response = engine.body_too_large(outcome, self._now())
                response.headers.append(("Connection", "close"))
            except BaseException:
                engine.post_dropped(outcome, self._now())
                await self._process()
                raise
            else:
                response = engine.handle_body(outcome, body, self._now())
            await self._process()
            return response
        if isinstance(outcome, Handshake):
            result = await self._handshake(outcome)
            assert isinstance(result, Response)
            return result
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        outcome.owner = future
        await self._process()
        if outcome.response is not None:
            return outcome.response
        try:
            return await future
        except asyncio.CancelledError:
            engine.poll_dropped(outcome, self._now())
            await self._process()
            raise

    async def handle_websocket(self, request: Request, ws: AsyncWebSocket) -> None:
        """Serve one WebSocket request from upgrade to close."""
        engine = self.engine
        outcome = engine.handle_websocket(request, self._now())
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
        writer = _Writer(ws, channel)
        channel.owner = writer
        try:
            await ws.accept()
        except Exception:
            engine.ws_closed(channel, self._now())
            await self._process()
            return
        await self._flush(writer)
        loop = asyncio.get_running_loop()
        receive = ws.receive
        process = self._process
        receive_ws = engine.receive_ws
        has_output = engine.has_output
        sid = channel.sid
        try:
            while not writer.closed:
                try:
                    data = await receive()
                except MessageTooLarge:
                    engine.ws_too_large(channel, loop.time())
                    break
                if data is None:
                    break
                message = receive_ws(channel, data, loop.time())
                if has_output():
                    await process()
                if message is not None:
                    await self._deliver(sid, message)
        finally:
            writer.closed = True
            engine.ws_closed(channel, self._now())
            await self._process()
            if writer.close_task is not None:
                await writer.close_task  # the connection's own task waits for its close

    # ------------------------------------------------------------------ internals
    def _now(self) -> float:
        # The running loop's clock (never a cached loop: an app may be served again
        # on a new loop, as Sanic's and aiohttp's test clients do).
        return asyncio.get_running_loop().time()

    async def _deferred_flush(self, writer: _Writer) -> None:
        writer.pending = False
        await self._flush(writer)

    async def _flush(self, writer: _Writer) -> None:
        if not await writer.flush():
            self.engine.ws_closed(writer.channel, self._now())
            await self._process()

    async def _handshake(self, handshake: Handshake) -> Response | Channel:
        refusal: str | None = None
        refused = False
        if "connect" in self.handlers:
            try:
                result = await self._call("connect", handshake.sid, handshake.request)
            except ConnectionRefused as exc:
                refused, refusal = True, exc.message
            except Exception:
                self.logger.exception("connect handler failed; refusing %s", handshake.sid)
                refused = True
            else:
                refused = result is False
        if refused:
            response = self.engine.reject(handshake, refusal)
            await self._process()
            return response
        try:
            accepted = self.engine.accept(handshake, self._now())
        except SessionUnknown as exc:
            return self.engine.reject(handshake, exc.message)
        await self._process()
        return accepted

    async def _call(self, event: str, *args: Any) -> Any:
        result = self.handlers[event](*self._handler_args(event, *args))
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _process(self) -> None:
        engine = self.engine
        while engine.has_output():
            for channel in engine.take_ready():
                owner = channel.owner
                if owner is None:
                    continue
                if channel.websocket:
                    if owner.send_many is None or owner.task is asyncio.current_task():
                        await self._flush(owner)  # the connection's own task (an echo)
                    elif not owner.pending:
                        # Another session's task (a broadcast): write once it yields, so
                        # that a burst reaches this socket in one send_many().
                        owner.pending = True
                        task = asyncio.ensure_future(self._deferred_flush(owner))
                        self._flushes.add(task)
                        task.add_done_callback(self._flushes.discard)
                elif not owner.done() and channel.response is not None:
                    owner.set_result(channel.response)
            for event in engine.events_received():
                await self._dispatch(event)
        if engine.timer_changed or self._timer is None:
            self._schedule_timer()

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
        if type(event) is Message:
            await self._deliver(event.sid, event.data)
            return
        try:
            if isinstance(event, Disconnect):
                self._log_disconnect(event.sid, event.reason, event.detail)
                if "disconnect" in self.handlers:
                    await self._call("disconnect", event.sid, event.reason)
            elif isinstance(event, Upgraded) and "upgrade" in self.handlers:
                await self._call("upgrade", event.sid)
        except Exception:
            self.logger.exception("%s handler failed", type(event).__name__.lower())

    def _schedule_timer(self) -> None:
        engine = self.engine
        engine.timer_changed = False
        when = engine.get_timer()
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
        self._timer = self._timer_at = None
        self.engine.handle_timer(self._now())
        self.backend.spawn(self._process)


