"""How AsyncServer writes to WebSockets: a session's own task writes at once; other
tasks' writes to a WebSocket that offers ``send_many`` are deferred and batched;
a peer that stops reading never holds up the task that sends to it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from engineio_core import AsyncServer, DisconnectReason, MessageTooLarge, Request

WAIT = 5.0


class RecordingWebSocket:
    """An in-memory peer: one entry per write call the server makes."""

    def __init__(self, batching: bool) -> None:
        self.writes: list[list[str | bytes]] = []
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        if batching:
            self.send_many = self._send_many

    async def accept(self) -> None:
        pass

    async def refuse(self, response: object) -> None:
        raise AssertionError(response)

    async def receive(self) -> str | bytes | None:
        return await self.inbox.get()

    async def send(self, data: str | bytes) -> None:
        self.writes.append([data])

    async def _send_many(self, messages: list[str | bytes]) -> None:
        self.writes.append(list(messages))

    async def close(self, code: int) -> None:
        self.inbox.put_nowait(None)

    def abort(self) -> None:
        self.inbox.put_nowait(None)


async def _connect(server: AsyncServer, peers: Sequence[RecordingWebSocket],
                   opened: Callable[[], bool] | None = None) -> list[asyncio.Task[None]]:
    """Connect the peers; wait until each has its open packet (or ``opened()``)."""
    request = Request(method="GET", query={"EIO": "4", "transport": "websocket"},
                      headers={"upgrade": "websocket"})
    tasks = [asyncio.ensure_future(server.handle_websocket(request, p)) for p in peers]
    if opened is None:
        def opened() -> bool:
            return all(p.writes for p in peers)
    async with asyncio.timeout(WAIT):
        while not opened():
            await asyncio.sleep(0)
    for peer in peers:
        peer.writes.clear()
    return tasks


async def _broadcast_and_echo(batching: bool) -> tuple[list[RecordingWebSocket], list[bool]]:
    server = AsyncServer(ping_interval=60, ping_timeout=60)
    sids: list[str] = []
    echoed_at_once: list[bool] = []
    server.on("connect", lambda sid, request: sids.append(sid))
    peers = [RecordingWebSocket(batching) for _ in range(3)]

    @server.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        peer = peers[sids.index(sid)]
        before = len(peer.writes)
        await server.send(sid, f"echo:{data!s}")
        echoed_at_once.append(len(peer.writes) == before + 1)

    tasks = await _connect(server, peers)
    for n in range(5):  # a burst from a task that is none of the sessions' own
        for sid in sids:
            await server.send(sid, f"b{n}")
    written_before_yield = sum(len(p.writes) for p in peers)
    async with asyncio.timeout(WAIT):
        while sum(len(w) for p in peers for w in p.writes) < 15:
            await asyncio.sleep(0)
    if batching:
        assert written_before_yield == 0
    peers[0].inbox.put_nowait("4hi")
    async with asyncio.timeout(WAIT):
        while not echoed_at_once:
            await asyncio.sleep(0)
    await server.shutdown()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*tasks)
    return peers, echoed_at_once


async def test_burst_to_other_sessions_is_one_send_many_each() -> None:
    peers, echoed_at_once = await _broadcast_and_echo(batching=True)
    burst = ["4b0", "4b1", "4b2", "4b3", "4b4"]
    assert [p.writes[0] for p in peers] == [burst] * 3
    assert all(len(p.writes[0]) == 5 for p in peers)
    assert echoed_at_once == [True]  # the session's own task wrote before the handler returned
    assert peers[0].writes[1] == ["4echo:hi"]


async def test_websockets_without_send_many_are_written_at_once() -> None:
    peers, echoed_at_once = await _broadcast_and_echo(batching=False)
    assert [p.writes[:5] for p in peers] == [[["4b0"], ["4b1"], ["4b2"], ["4b3"], ["4b4"]]] * 3
    assert echoed_at_once == [True]


class StalledWebSocket(RecordingWebSocket):
    """A peer that stopped reading: after ``room`` writes, every write waits until
    the connection is aborted (then fails, as a reset connection's does)."""

    def __init__(self, batching: bool, room: int) -> None:
        super().__init__(batching)
        self.room = room
        self.aborted = asyncio.Event()
        self.closed_with: list[int] = []

    async def send(self, data: str | bytes) -> None:
        await self._write([data])

    async def _send_many(self, messages: list[str | bytes]) -> None:
        await self._write(list(messages))

    async def _write(self, frames: list[str | bytes]) -> None:
        if len(self.writes) >= self.room:
            await self.aborted.wait()
            raise ConnectionResetError
        self.writes.append(frames)

    async def close(self, code: int) -> None:
        self.closed_with.append(code)
        await self.aborted.wait()  # the close frame waits behind the unread data too

    def abort(self) -> None:
        self.aborted.set()
        self.inbox.put_nowait(None)


@pytest.mark.parametrize("batching", [True, False])
async def test_a_stalled_peer_never_holds_up_the_sender(batching: bool) -> None:
    server = AsyncServer(ping_interval=60, ping_timeout=60, max_send_buffer_size=10_000)
    sids: list[str] = []
    reasons: dict[str, DisconnectReason] = {}
    server.on("connect", lambda sid, request: sids.append(sid))
    server.on("disconnect", lambda sid, reason: reasons.__setitem__(sid, reason))
    stalled = StalledWebSocket(batching, room=2)
    healthy = RecordingWebSocket(batching)
    tasks = await _connect(server, [stalled, healthy])
    stalled_sid, healthy_sid = sids
    async with asyncio.timeout(WAIT):
        for n in range(40):  # 40 x 1 KB to each: the stalled peer's bound is 10 KB
            for sid in sids:
                if server.has_session(sid):
                    await server.send(sid, f"{n:04}" + "x" * 1000)
            await asyncio.sleep(0)  # deferred writes run
        await stalled.aborted.wait()
        await tasks[0]  # the stalled connection's task ended: nothing left of it
    assert reasons == {stalled_sid: DisconnectReason.SEND_BUFFER_FULL}
    assert not server.has_session(stalled_sid)
    received = [frame for write in healthy.writes for frame in write]
    assert [str(f)[1:5] for f in received] == [f"{n:04}" for n in range(40)]
    assert server.session_info(healthy_sid).buffered == 0
    await server.shutdown()
    async with asyncio.timeout(WAIT):
        await tasks[1]


async def test_an_unresponsive_peer_is_dropped_when_its_close_cannot_be_written() -> None:
    server = AsyncServer(ping_interval=0.05, ping_timeout=0.05)
    stalled = StalledWebSocket(batching=False, room=0)  # not even the open packet
    [task] = await _connect(server, [stalled], opened=lambda: server.session_count() == 1)
    async with asyncio.timeout(WAIT):
        await stalled.aborted.wait()  # ping timeout: dropped, not waited for
        await task
    assert server.session_count() == 0




class UnwrappingWebSocket(RecordingWebSocket):
    """A peer whose messages come wrapped, as a framework's own receive returns them:
    it offers ``receive_message``/``message_data``, and ``receive`` must not be used."""

    def __init__(self) -> None:
        super().__init__(batching=False)
        self.wrapped: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def receive(self) -> str | bytes | None:
        raise AssertionError("read through receive_message()")

    async def receive_message(self) -> tuple[str, str]:
        return await self.wrapped.get()

    @staticmethod
    def message_data(message: tuple[str, str]) -> str | bytes | None:
        kind, data = message
        if kind == "too large":
            raise MessageTooLarge
        return data if kind == "text" else None

    async def close(self, code: int) -> None:
        self.closed_with = code
        self.wrapped.put_nowait(("closed", ""))


async def test_a_websocket_offering_receive_message_is_read_through_message_data() -> None:
    server = AsyncServer(ping_interval=60, ping_timeout=60)
    got: list[str | bytes] = []
    reasons: list[DisconnectReason] = []
    server.on("message", lambda sid, data: got.append(data))
    server.on("disconnect", lambda sid, reason: reasons.append(reason))
    peer = UnwrappingWebSocket()
    [task] = await _connect(server, [peer])
    for data in ("4one", "4two"):
        peer.wrapped.put_nowait(("text", data))
    peer.wrapped.put_nowait(("too large", ""))  # message_data raises as receive() would
    async with asyncio.timeout(WAIT):
        await task
    assert got == ["one", "two"]
    assert reasons == [DisconnectReason.TRANSPORT_ERROR]
    assert peer.closed_with == 1009
