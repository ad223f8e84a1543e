"""``AsyncServer`` message handlers off the read path (``async_handlers``).

Against a real uvicorn server with python-engineio's client: a handler that
awaits longer than the heartbeat allows keeps its session (the client's pongs
are processed meanwhile) and the messages sent meanwhile follow in order;
with ``async_handlers=False`` the same handler costs the session its life
(which shows the test can fail). The rest drives the real server with an
in-memory WebSocket: the queue's bound, the order of a disconnect behind
queued messages, handlers that raise, and handlers whose first await enters
a task-bound context (``asyncio.timeout``, ``TaskGroup``, an anyio cancel scope).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from tests.helpers import EngineIOPeer as Peer
from tests.helpers import drain
from tests.helpers import serve_asgi as serve

from engineio_core import MAX_QUEUED_EVENTS, ASGIApp, AsyncServer, DisconnectReason, Request

WAIT = 5.0
PING: dict[str, Any] = {"ping_interval": 0.3, "ping_timeout": 0.2}
SLOW = 0.6  # three times ping_timeout: longer than ping_interval + ping_timeout
TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling"]}


def slow_server(async_handlers: bool) -> tuple[AsyncServer, queue.Queue[Any]]:
    """A server whose handler takes SLOW seconds for "slow"; what it saw, in order."""
    eio = AsyncServer(async_handlers=async_handlers, **PING)
    seen: queue.Queue[Any] = queue.Queue()

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        if data == "slow":
            seen.put("slow:start")
            await asyncio.sleep(SLOW)
            seen.put("slow:end")
        else:
            seen.put(data)
        await eio.send(sid, f"done:{data!s}")

    @eio.on("disconnect")
    def disconnect(sid: str, reason: DisconnectReason) -> None:
        seen.put(("disconnect", reason))

    return eio, seen


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_slow_handler_keeps_the_session_and_the_order(transport: str) -> None:
    # Over polling the handler runs on its POST's path, and the session's
    # heartbeat waits for that POST's answer (the client sends one POST at a time).
    eio, seen = slow_server(async_handlers=True)
    with serve(ASGIApp(eio)) as port:
        peer = Peer(port, TRANSPORTS[transport])
        try:
            for data in ("slow", "a", "b", "c"):
                peer.client.send(data)
            for data in ("slow", "a", "b", "c"):
                peer.expect(f"done:{data}")
            assert peer.client.state == "connected"
            # The session lived through the slow handler on its pongs: it is still
            # answering after another two heartbeats.
            peer.client.sleep(2 * SLOW)
            peer.client.send("d")
            peer.expect("done:d")
            assert drain(seen) == ["slow:start", "slow:end", "a", "b", "c", "d"]
        finally:
            peer.close()


def test_without_async_handlers_a_slow_handler_times_the_session_out() -> None:
    transport = "websocket"  # over polling the heartbeat waits for the POST's answer
    eio, seen = slow_server(async_handlers=False)
    with serve(ASGIApp(eio)) as port:
        peer = Peer(port, TRANSPORTS[transport])
        try:
            peer.client.send("slow")
            events = [seen.get(timeout=WAIT) for _ in range(3)]
            assert ("disconnect", DisconnectReason.PING_TIMEOUT) in events
        finally:
            peer.close()


def test_a_silent_polling_client_still_times_out_after_its_post() -> None:
    """The heartbeat hold of a POST ends with its answer: a client that POSTs a
    message and then goes silent is still closed by ping timeout."""
    eio, seen = slow_server(async_handlers=True)
    with serve(ASGIApp(eio)) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        try:
            conn.request("GET", "/engine.io/?EIO=4&transport=polling")
            opened = conn.getresponse().read()
            sid = json.loads(opened[1:])["sid"]
            conn.request("POST", f"/engine.io/?EIO=4&transport=polling&sid={sid}", body=b"4a")
            assert conn.getresponse().read() == b"ok"
            assert seen.get(timeout=WAIT) == "a"
            assert seen.get(timeout=WAIT) == ("disconnect", DisconnectReason.PING_TIMEOUT)
        finally:
            conn.close()


# ---------------------------------------------------------------------- in-memory WebSocket
class FakeWebSocket:
    """An ``AsyncWebSocket`` fed from a list: counts what the server read and sent."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.sent: list[str | bytes] = []
        self.reads = 0
        self.got: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def accept(self) -> None:
        return None

    async def refuse(self, response: Any) -> None:
        raise AssertionError(f"refused: {response}")

    async def receive(self) -> str | bytes | None:
        data = await self.incoming.get()
        self.reads += 1
        return data

    async def send(self, data: str | bytes) -> None:
        self.sent.append(data)
        self.got.put_nowait(data)

    async def close(self, code: int) -> None:
        return None

    def abort(self) -> None:
        self.incoming.put_nowait(None)

    async def expect(self, data: str) -> None:
        while True:
            frame = await asyncio.wait_for(self.got.get(), WAIT)
            if frame != "2":  # not a ping
                assert frame == data
                return


REQUEST = Request("GET", {"EIO": "4", "transport": "websocket"}, {}, path="/engine.io/")


async def connected(eio: AsyncServer) -> tuple[FakeWebSocket, asyncio.Task[None], str]:
    ws = FakeWebSocket()
    task = asyncio.ensure_future(eio.handle_websocket(REQUEST, ws))
    opened = await asyncio.wait_for(ws.got.get(), WAIT)
    assert isinstance(opened, str)
    assert opened.startswith("0{")
    return ws, task, eio.session_ids()[-1]


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 4 * WAIT))


def test_the_queue_is_bounded_and_keeps_its_order() -> None:
    async def test() -> None:
        eio = AsyncServer()
        release = asyncio.Event()
        handled: list[str] = []

        @eio.on("message")
        async def message(sid: str, data: str | bytes) -> None:
            assert isinstance(data, str)
            if data == "block":
                await release.wait()
            handled.append(data)

        ws, task, _ = await connected(eio)
        count = MAX_QUEUED_EVENTS + 100
        ws.incoming.put_nowait("4block")
        for n in range(count):
            ws.incoming.put_nowait(f"4{n}")
        # The reader stops once the queue holds the bound: "block" and 256 messages read.
        for _ in range(50):
            await asyncio.sleep(0.005)
        assert ws.reads == 1 + MAX_QUEUED_EVENTS
        assert ws.incoming.qsize() == count - MAX_QUEUED_EVENTS
        assert handled == []
        release.set()
        while len(handled) < count + 1:
            await asyncio.sleep(0.005)
        assert handled == ["block"] + [str(n) for n in range(count)]
        assert ws.reads == 1 + count
        ws.incoming.put_nowait(None)
        await asyncio.wait_for(task, WAIT)

    run(test)


def test_disconnect_comes_after_the_queued_messages() -> None:
    async def test() -> None:
        eio = AsyncServer()
        release = asyncio.Event()
        events: list[Any] = []

        @eio.on("message")
        async def message(sid: str, data: str | bytes) -> None:
            if data == "block":
                await release.wait()
            events.append(data)

        @eio.on("disconnect")
        async def disconnect(sid: str, reason: DisconnectReason) -> None:
            events.append(reason)

        ws, task, sid = await connected(eio)
        for frame in ("4block", "4a", "4b", None):
            ws.incoming.put_nowait(frame)
        while eio.has_session(sid):  # the connection ends while the handler waits
            await asyncio.sleep(0.005)
        assert ws.reads == 4
        assert events == []
        release.set()
        # The connection's task carried the handler: it returns once the queue is done.
        await asyncio.wait_for(task, WAIT)
        assert events == ["block", "a", "b", DisconnectReason.TRANSPORT_CLOSE]

    run(test)


def test_a_handler_that_raises_is_logged_and_the_session_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="engineio_core")

    async def test() -> None:
        eio = AsyncServer()

        @eio.on("message")
        async def message(sid: str, data: str | bytes) -> None:
            if data == "fail now":
                raise ValueError("boom before awaiting")
            if data == "fail later":
                await asyncio.sleep(0.01)
                raise ValueError("boom after awaiting")
            await eio.send(sid, data)

        ws, task, sid = await connected(eio)
        for frame in ("4fail now", "4one", "4fail later", "4two"):
            ws.incoming.put_nowait(frame)
        await ws.expect("4one")
        await ws.expect("4two")
        assert eio.has_session(sid)
        ws.incoming.put_nowait(None)
        await asyncio.wait_for(task, WAIT)

    run(test)
    failures = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert len(failures) == 2
    for record, text in zip(failures, ("boom before awaiting", "boom after awaiting"),
                            strict=True):
        assert record.getMessage().startswith("message handler failed (session ")
        assert record.exc_info is not None
        assert str(record.exc_info[1]) == text
    sids = {r.getMessage().rsplit(" ", 1)[1].rstrip(")") for r in failures}
    assert len(sids) == 1


def test_a_timeout_entered_before_the_first_await_stays_with_the_handler() -> None:
    # The handler starts in the reading task; the task that carries it on after
    # its first suspension must be that same task, or asyncio.timeout() would
    # cancel the WebSocket's reader instead of the handler.
    async def test() -> None:
        eio = AsyncServer()

        @eio.on("message")
        async def message(sid: str, data: str | bytes) -> None:
            try:
                async with asyncio.timeout(0.05):
                    await asyncio.sleep(1)
                await eio.send(sid, "no timeout")
            except TimeoutError:
                await eio.send(sid, f"timed out: {data!s}")

        ws, task, sid = await connected(eio)
        ws.incoming.put_nowait("4first")
        await ws.expect("4timed out: first")
        ws.incoming.put_nowait("4second")  # the helper reads this one: the same again
        await ws.expect("4timed out: second")
        ws.incoming.put_nowait("4third")
        await ws.expect("4timed out: third")
        assert eio.has_session(sid)
        assert not task.done()
        ws.incoming.put_nowait(None)
        await asyncio.wait_for(task, WAIT)

    run(test)


def test_a_task_group_and_an_anyio_scope_in_a_handler() -> None:
    async def test() -> None:
        eio = AsyncServer()

        async def fail() -> None:
            await asyncio.sleep(0.01)
            raise KeyError("child")

        @eio.on("message")
        async def message(sid: str, data: str | bytes) -> None:
            if data == "group":
                try:
                    async with asyncio.TaskGroup() as group:
                        group.create_task(fail())
                        await asyncio.sleep(1)
                except* KeyError:
                    await eio.send(sid, "group failed")
            else:
                with anyio.fail_after(1):
                    await asyncio.sleep(0.01)
                await eio.send(sid, "scope ok")

        ws, task, sid = await connected(eio)
        for frame in ("4group", "4scope", "4group", "4scope"):
            ws.incoming.put_nowait(frame)
        for text in ("group failed", "scope ok", "group failed", "scope ok"):
            await ws.expect(f"4{text}")
        assert eio.has_session(sid)
        ws.incoming.put_nowait(None)
        await asyncio.wait_for(task, WAIT)

    run(test)


def test_plain_functions_and_other_awaitables_are_handlers_too() -> None:
    async def test() -> None:
        eio = AsyncServer()
        loop = asyncio.get_running_loop()
        order: list[str] = []

        @eio.on("message")
        def message(sid: str, data: str | bytes) -> Any:
            assert isinstance(data, str)
            order.append(data)
            if data == "future":  # a plain function returning a future
                future = loop.create_future()
                loop.call_later(0.02, future.set_result, None)
                return future
            return None

        ws, task, _ = await connected(eio)
        for frame in ("4future", "4a", "4b"):
            ws.incoming.put_nowait(frame)
        while len(order) < 3:
            await asyncio.sleep(0.005)
        assert order == ["future", "a", "b"]
        ws.incoming.put_nowait(None)
        await asyncio.wait_for(task, WAIT)

    run(test)


def test_one_argument_handler_and_cancelled_connection() -> None:
    async def test() -> None:
        eio = AsyncServer()
        started = asyncio.Event()
        seen: list[str] = []

        @eio.on("message")
        async def message(sid: str) -> None:
            seen.append(sid)
            started.set()
            await asyncio.sleep(0.05)
            seen.append("done")

        ws, task, sid = await connected(eio)
        ws.incoming.put_nowait("4x")
        await asyncio.wait_for(started.wait(), WAIT)
        # The connection's task carries the handler: cancelling it (a server
        # shutting down) cancels the handler and ends the reading helper too.
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert seen == [sid]
        assert not eio.has_session(sid)

    run(test)


def test_polling_messages_wait_behind_a_running_handler() -> None:
    # Through ASGI with real HTTP: messages of later POSTs reach the handler in order.
    eio = AsyncServer()
    release = threading.Event()
    handled: queue.Queue[str] = queue.Queue()

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        if data == "block":
            while not release.is_set():
                await asyncio.sleep(0.01)
        handled.put(str(data))

    with serve(ASGIApp(eio)) as port:
        peer = Peer(port, ["polling"])
        try:
            peer.client.send("block")
            for n in range(5):
                peer.client.send(str(n))
            peer.client.sleep(0.2)
            assert handled.empty()
            release.set()
            assert [handled.get(timeout=WAIT) for _ in range(6)] == ["block", "0", "1", "2",
                                                                      "3", "4"]
        finally:
            peer.close()


def test_contract_app_sleep_command() -> None:
    from benchmarks.contract_app import register_async

    async def test() -> None:
        eio = AsyncServer()
        register_async(eio)
        ws, task, _ = await connected(eio)
        for frame in ("4cmd:sleep:50", "4cmd:sleep:x", "4after"):
            ws.incoming.put_nowait(frame)
        await ws.expect("4slept:50")  # the handler slept: what followed waited for it
        await ws.expect("4cmd:sleep:x")  # not a number: echoed
        await ws.expect("4after")
        ws.incoming.put_nowait(None)
        await asyncio.wait_for(task, WAIT)

    run(test)
