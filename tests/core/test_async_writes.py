"""How AsyncServer writes to WebSockets: a session's own task writes at once; other
tasks' writes to a WebSocket that offers ``send_many`` are deferred and batched."""

from __future__ import annotations

import asyncio

from engineio_core import AsyncServer, Request

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


async def _connect(server: AsyncServer,
                   peers: list[RecordingWebSocket]) -> list[asyncio.Task[None]]:
    request = Request(method="GET", query={"EIO": "4", "transport": "websocket"},
                      headers={"upgrade": "websocket"})
    tasks = [asyncio.ensure_future(server.handle_websocket(request, p)) for p in peers]
    async with asyncio.timeout(WAIT):
        while any(not p.writes for p in peers):  # the open packet
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
