"""Cluster mode on ``AsyncServer``: two servers joined by the in-memory bus,
every request of a session sent to the node that does not hold it.

The edge forwards the request whole and writes the owner's answer, so each
answer here is checked against what the owner itself answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tests.core.holding_cluster import HoldingCluster

from engineio_core import AsyncServer, BodyTooLarge, DisconnectReason, Request
from engineio_core.cluster import BusUnavailable, MemoryCluster
from engineio_core.cluster.bus import AsyncBus, Deliver
from engineio_core.cluster.ids import NODE_ID_LENGTH, SID_LENGTH, owner_of
from engineio_core.cluster.node import OWNER_CHECK
from engineio_core.cluster.wire import Kind
from engineio_core.protocol.http import Response

WAIT = 3.0


def body_of(data: bytes) -> Callable[[int], Awaitable[bytes]]:
    async def read(limit: int) -> bytes:
        if len(data) > limit:
            raise BodyTooLarge(limit)
        return data

    return read


NO_BODY = body_of(b"")


def polling(sid: str | None = None, **extra: str) -> dict[str, str]:
    query = {"EIO": "4", "transport": "polling", **extra}
    if sid is not None:
        query["sid"] = sid
    return query


async def handshake(eio: AsyncServer, eio_version: str = "4") -> str:
    response = await eio.handle_http(
        Request("GET", polling(EIO=eio_version), {}), NO_BODY)
    assert response.status == 200, response
    body = response.body.decode()
    start = body.index("{")
    sid: str = json.loads(body[start:body.rindex("}") + 1])["sid"]
    return sid


async def post(eio: AsyncServer, sid: str, payload: bytes, **extra: str) -> Response:
    return await eio.handle_http(Request("POST", polling(sid, **extra), {}), body_of(payload))


async def get(eio: AsyncServer, sid: str, **extra: str) -> Response:
    return await eio.handle_http(Request("GET", polling(sid, **extra), {}), NO_BODY)


class Node:
    """A server of the cluster and what its handlers saw."""

    def __init__(self, cluster: Any, **options: Any) -> None:
        self.cluster = cluster
        self.eio = AsyncServer(cluster=cluster, ping_interval=60, ping_timeout=60, **options)
        self.messages: asyncio.Queue[tuple[str, str | bytes]] = asyncio.Queue()
        self.gone: asyncio.Queue[tuple[str, DisconnectReason]] = asyncio.Queue()

        @self.eio.on("message")
        async def message(sid: str, data: str | bytes) -> None:
            await self.messages.put((sid, data))

        @self.eio.on("disconnect")
        async def disconnect(sid: str, reason: DisconnectReason) -> None:
            await self.gone.put((sid, reason))


@asynccontextmanager
async def started(cluster: Any, **options: Any) -> AsyncIterator[tuple[Node, Node]]:
    """Two started servers of ``cluster`` (built with ``options``), A first."""
    a, b = Node(cluster, **options), Node(cluster, **options)
    await a.eio.start()
    await b.eio.start()
    try:
        yield a, b
    finally:
        await a.eio.shutdown()
        await b.eio.shutdown()


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Node, Node]]:
    async with started(MemoryCluster()) as nodes:
        yield nodes


async def test_session_ids_name_their_node(pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = await handshake(a.eio)
    other = await handshake(b.eio)
    assert len(sid) == len(other) == SID_LENGTH
    assert owner_of(sid) == sid[:NODE_ID_LENGTH] != owner_of(other)
    assert sid.replace("-", "").replace("_", "").isalnum()


async def test_every_request_on_the_other_node_reaches_the_session(
        pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = await handshake(a.eio)
    assert not b.eio.has_session(sid)
    response = await post(b.eio, sid, b"4hello\x1e4world")
    assert (response.status, response.body) == (200, b"ok")
    assert [await a.messages.get() for _ in range(2)] == [(sid, "hello"), (sid, "world")]
    assert b.messages.empty()

    await a.eio.send(sid, "from a")
    await b.eio.send(sid, "from b")  # a send from any node
    response = await get(b.eio, sid)
    assert (response.status, response.body) == (200, b"4from a\x1e4from b")


async def test_a_get_held_on_the_edge_waits_for_the_owners_outbox(
        pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = await handshake(a.eio)
    held = asyncio.ensure_future(get(b.eio, sid))
    await asyncio.sleep(0.05)
    assert not held.done()
    assert a.eio.session_info(sid).poll_held  # the GET is held on the owner
    await b.eio.send(sid, "late")
    response = await asyncio.wait_for(held, WAIT)
    assert response.body == b"4late"


async def test_a_client_that_drops_its_held_get_on_the_edge_is_reported(
        pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = await handshake(a.eio)

    async def client_gone() -> None:
        return None

    held = asyncio.ensure_future(
        b.eio.handle_http(Request("GET", polling(sid), {}), NO_BODY, client_gone))
    gone_sid, reason = await asyncio.wait_for(a.gone.get(), WAIT)
    assert (gone_sid, reason) == (sid, DisconnectReason.TRANSPORT_ERROR)
    await asyncio.wait_for(held, WAIT)
    assert not a.eio.has_session(sid)


async def test_answers_are_the_owners_own(pair: tuple[Node, Node]) -> None:
    """CORS, JSONP, v3 payloads, the 413 and protocol errors: the edge writes
    what the owner's engine answers, byte for byte."""
    a, b = pair
    for eio in (a.eio, b.eio):
        object.__setattr__(eio.config, "cors_allowed_origins", ("https://app.example",))
    sid = await handshake(a.eio, "3")
    origin = {"origin": "https://app.example"}
    for target in (a.eio, b.eio):
        await a.eio.send(sid, "x" * 3)
        response = await target.handle_http(
            Request("GET", polling(sid, EIO="3"), origin), NO_BODY)
        assert response.status == 200
        assert ("Access-Control-Allow-Origin", "https://app.example") in response.headers
        assert response.body == b"4:4xxx"
    too_large = b"4" * (a.eio.config.max_http_buffer_size + 1)
    on_owner = await post(a.eio, sid, too_large, EIO="3")  # closes the session
    on_edge = await post(b.eio, await handshake(a.eio, "3"), too_large, EIO="3")
    assert on_owner.status == on_edge.status == 413
    assert on_owner.body == on_edge.body


async def test_a_session_of_a_node_that_is_gone_is_unknown_at_once(
        pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = await handshake(a.eio)
    await a.eio.shutdown()  # leaves the bus
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await post(b.eio, sid, b"4hello")
    assert loop.time() - started < 0.5
    assert response.status == 400
    assert json.loads(response.body) == {"code": 1, "message": "Session ID unknown"}
    with pytest.raises(Exception, match="not in the cluster"):
        await b.eio.send(sid, "nobody")


async def test_the_session_dict_and_the_count_work_from_any_node(
        pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = await handshake(a.eio)
    await handshake(b.eio)
    await handshake(b.eio)
    (await a.eio.get_session(sid))["user"] = "ada"
    assert await b.eio.get_session(sid) == {"user": "ada"}
    async with b.eio.session(sid) as data:
        data["seen"] = 1
    assert await a.eio.get_session(sid) == {"user": "ada", "seen": 1}
    assert await a.eio.count_sessions() == await b.eio.count_sessions() == 3


async def test_disconnect_from_any_node(pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = await handshake(a.eio)
    await b.eio.disconnect(sid)
    gone = await asyncio.wait_for(a.gone.get(), WAIT)
    assert gone == (sid, DisconnectReason.SERVER_DISCONNECT)


class DownBus:
    """A bus that joined, then lost its broker."""

    def __init__(self) -> None:
        self.down = False

    async def join(self, node: str, deliver: Deliver) -> bool:
        return True

    async def publish(self, node: str | None, message: bytes) -> int:
        raise BusUnavailable("cannot reach Redis at redis://127.0.0.9:1/0: refused")

    async def alive(self, node: str) -> bool:
        raise BusUnavailable("down")

    async def leave(self) -> None:
        return None


class DownCluster:
    def async_bus(self) -> AsyncBus:
        return DownBus()

    def describe(self) -> str:
        return "down"


async def test_bus_lost_remote_sessions_fail_fast_local_ones_work() -> None:
    node = Node(DownCluster())
    await node.eio.start()
    try:
        mine = await handshake(node.eio)
        response = await post(node.eio, mine, b"4still here")
        assert response.status == 200
        assert await node.messages.get() == (mine, "still here")
        foreign = "ZZZZ" + mine[NODE_ID_LENGTH:]
        response = await post(node.eio, foreign, b"4hello")
        assert response.status == 503
        assert json.loads(response.body) == {"code": 3, "message": "Cluster unavailable"}
    finally:
        await node.eio.shutdown()


def test_sid_generator_and_cluster_do_not_mix() -> None:
    with pytest.raises(ValueError, match="sid_generator cannot be combined with cluster"):
        AsyncServer(cluster=MemoryCluster(), sid_generator=lambda request: "x" * 20)


async def test_a_cluster_given_as_a_url_is_a_redis_cluster() -> None:
    eio = AsyncServer(cluster="redis://127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(BusUnavailable, match=r"redis://127\.0\.0\.1:1/0"):
        await eio.start()


def test_a_cluster_that_is_neither_url_nor_cluster_is_refused() -> None:
    with pytest.raises(ValueError, match="cluster must be a Redis URL or a Cluster"):
        AsyncServer(cluster={"url": "redis://127.0.0.1:6379"})  # type: ignore[arg-type]


class MemoryWebSocket:
    """An ``AsyncWebSocket`` fed by the test; records what the server sent."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.got: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.refused: Response | None = None
        self.aborted = False

    async def accept(self) -> None:
        return None

    async def refuse(self, response: Response) -> None:
        self.refused = response

    async def receive(self) -> str | bytes | None:
        return await self.incoming.get()

    async def send(self, data: str | bytes) -> None:
        self.got.put_nowait(data)

    async def close(self, code: int) -> None:
        self.incoming.put_nowait(None)

    def abort(self) -> None:
        self.aborted = True
        self.incoming.put_nowait(None)

    async def next(self) -> str | bytes:
        return await asyncio.wait_for(self.got.get(), WAIT)


async def probed(a: Node, b: Node) -> tuple[str, MemoryWebSocket, asyncio.Task[None]]:
    """A session of A whose WebSocket reached B (A itself, or relayed from B),
    probed: its id, the WebSocket and the task serving it on B."""
    sid = await handshake(a.eio)
    ws = MemoryWebSocket()
    request = Request("GET", {"EIO": "4", "transport": "websocket", "sid": sid}, {})
    served = asyncio.ensure_future(b.eio.handle_websocket(request, ws))
    await ws.incoming.put("2probe")
    assert await ws.next() == "3probe"
    return sid, ws, served


async def test_an_upgrade_on_the_other_node_takes_the_session_over(
        pair: tuple[Node, Node]) -> None:
    a, b = pair
    upgraded: list[str] = []
    b.eio.on("upgrade", upgraded.append)
    sid = await handshake(a.eio)
    (await a.eio.get_session(sid))["user"] = "ada"
    held = asyncio.ensure_future(get(b.eio, sid))  # a GET held on A, through B
    await asyncio.sleep(0.05)
    ws = MemoryWebSocket()
    request = Request("GET", {"EIO": "4", "transport": "websocket", "sid": sid}, {})
    served = asyncio.ensure_future(b.eio.handle_websocket(request, ws))
    response = await asyncio.wait_for(held, WAIT)
    assert response.body == b"6"  # the held GET released with a noop by the hand-over
    assert b.eio.has_session(sid)
    assert not a.eio.has_session(sid)
    await ws.incoming.put("2probe")
    assert await ws.next() == "3probe"
    await ws.incoming.put("5")
    await ws.incoming.put("4over the socket")
    assert await b.messages.get() == (sid, "over the socket")
    assert upgraded == [sid]
    assert await b.eio.get_session(sid) == {"user": "ada"}
    await a.eio.send(sid, "sent on A")  # the first node forwards to where it went
    assert await ws.next() == "4sent on A"
    response = await post(a.eio, sid, b"4late poll")  # and so do its requests
    assert response.status == 400  # on WebSocket now: a POST is refused, as on one node
    assert a.gone.empty()
    await ws.incoming.put(None)
    await asyncio.wait_for(served, WAIT)
    assert (await b.gone.get())[0] == sid
    await asyncio.sleep(0.05)
    with pytest.raises(Exception, match="Session ID unknown"):
        await a.eio.send(sid, "after the end")  # A forgot where it went: its own sid, unknown


async def test_a_second_websocket_on_another_node_is_accepted_then_closed(
        pair: tuple[Node, Node]) -> None:
    """As the owner's engine treats a second WebSocket of an upgraded session: the
    official suite's "ignores WebSocket connection with same sid after upgrade"."""
    a, b = pair
    sid, first, served = await probed(a, a)
    request = Request("GET", {"EIO": "4", "transport": "websocket", "sid": sid}, {})
    await first.incoming.put("5")
    second = MemoryWebSocket()
    await asyncio.wait_for(b.eio.handle_websocket(request, second), WAIT)
    assert second.refused is None  # accepted, then closed: no HTTP refusal
    assert await asyncio.wait_for(second.incoming.get(), WAIT) is None  # closed
    assert a.eio.has_session(sid)  # the first WebSocket keeps its session
    await first.incoming.put("4still mine")
    assert await a.messages.get() == (sid, "still mine")
    await first.incoming.put(None)
    await asyncio.wait_for(served, WAIT)


async def test_a_session_moves_only_once_its_handlers_have_run(pair: tuple[Node, Node]) -> None:
    """An EIO 3 polling message's handler runs off the POST's path: the upgrade on
    the other node waits for it, so that what it sends leaves first, in order."""
    a, b = pair
    release = asyncio.Event()

    @a.eio.on("message")
    async def slow_echo(sid: str, data: str | bytes) -> None:
        if data == "slow":
            await release.wait()
        await a.eio.send(sid, f"echo:{data!s}")

    @b.eio.on("message")
    async def echo(sid: str, data: str | bytes) -> None:
        await b.eio.send(sid, f"echo:{data!s}")

    sid = await handshake(a.eio, "3")
    response = await post(a.eio, sid, b"5:4slow", EIO="3")
    assert response.status == 200  # answered while the handler waits
    ws = MemoryWebSocket()
    request = Request("GET", {"EIO": "3", "transport": "websocket", "sid": sid}, {})
    served = asyncio.ensure_future(b.eio.handle_websocket(request, ws))
    await asyncio.sleep(0.1)
    assert a.eio.has_session(sid)  # not handed over while its handler runs
    assert not b.eio.has_session(sid)
    release.set()
    await ws.incoming.put("2probe")
    assert await ws.next() == "3probe"
    await ws.incoming.put("5")
    await ws.incoming.put("4after")
    assert [await ws.next(), await ws.next()] == ["4echo:slow", "4echo:after"]
    await ws.incoming.put(None)
    await asyncio.wait_for(served, WAIT)


# ---------------------------------------------------------------- broadcasts across a take-over
@pytest.fixture
async def held() -> AsyncIterator[tuple[Node, Node, HoldingCluster]]:
    cluster = HoldingCluster()
    async with started(cluster) as (a, b):
        yield a, b, cluster


async def move(a: Node, b: Node, sid: str) -> asyncio.Task[None]:
    """Have B take A's polling session ``sid`` over (a WebSocket for it reaches B);
    the task serving that WebSocket."""
    request = Request("GET", {"EIO": "4", "transport": "websocket", "sid": sid}, {})
    served = asyncio.ensure_future(b.eio.handle_websocket(request, MemoryWebSocket()))
    for _ in range(int(WAIT / 0.01)):
        if b.eio.has_session(sid):
            break
        await asyncio.sleep(0.01)
    assert b.eio.has_session(sid)
    assert not a.eio.has_session(sid)
    return served


async def polled(b: Node, sid: str) -> list[bytes]:
    """What the session's next GET (on B) brings, then a broadcast sent after it all:
    a late second copy of anything would show up between the two."""
    first = (await asyncio.wait_for(get(b.eio, sid), WAIT)).body
    await b.eio.broadcast("end")
    return [first, (await asyncio.wait_for(get(b.eio, sid), WAIT)).body]


@pytest.mark.parametrize(("late", "sender", "text"), [
    # B serves the broadcast before the session arrives, A after it left: A relays it.
    (0, 1, "while it moves"),
    # A serves it before the session leaves (it moves with it), B after it arrived:
    # B skips it for that session.
    (1, 0, "before it moves"),
], ids=["relayed-by-the-old-node", "not-again-from-the-new-node"])
async def test_a_broadcast_reaches_a_session_moving_while_it_travels_once(
        held: tuple[Node, Node, HoldingCluster], late: int, sender: int, text: str) -> None:
    """The broadcast reaches node ``late`` only after the session moved from A to B."""
    a, b, cluster = held
    sid = await handshake(a.eio)
    cluster.gates[late].hold()
    await (a, b)[sender].eio.broadcast(text)
    _served = await move(a, b, sid)
    cluster.gates[late].release()
    assert await polled(b, sid) == [f"4{text}".encode(), b"4end"]


@pytest.mark.parametrize("sender", [0, 1])
async def test_a_broadcast_after_the_move_reaches_the_session_once(
        held: tuple[Node, Node, HoldingCluster], sender: int) -> None:
    """B serves it, and A relays it too (the session left A lately): B keeps one."""
    a, b, _ = held
    sid = await handshake(a.eio)
    _served = await move(a, b, sid)
    await (a, b)[sender].eio.broadcast("after the move")
    assert await polled(b, sid) == [b"4after the move", b"4end"]


async def test_without_takeover_an_upgrade_on_another_node_is_refused() -> None:
    """``cluster_upgrades="refuse"``: the session stays where it is, on polling."""
    async with started(MemoryCluster(), cluster_upgrades="refuse") as (a, b):
        sid = await handshake(a.eio)
        ws = MemoryWebSocket()
        request = Request("GET", {"EIO": "4", "transport": "websocket", "sid": sid}, {})
        await asyncio.wait_for(b.eio.handle_websocket(request, ws), WAIT)
        assert ws.refused is not None
        assert ws.refused.status == 400
        assert json.loads(ws.refused.body)["message"] == "Bad request"
        assert a.eio.has_session(sid)
        assert not b.eio.has_session(sid)
        assert (await post(b.eio, sid, b"4still polling")).status == 200
        assert await a.messages.get() == (sid, "still polling")
        own = MemoryWebSocket()  # on its own node, the upgrade goes on as ever
        served = asyncio.ensure_future(a.eio.handle_websocket(request, own))
        await own.incoming.put("2probe")
        assert await own.next() == "3probe"
        await own.incoming.put(None)
        await asyncio.wait_for(served, WAIT)


@pytest.fixture
async def relaying() -> AsyncIterator[tuple[Node, Node]]:
    async with started(HoldingCluster(), cluster_upgrades="relay") as nodes:
        yield nodes


async def test_a_relayed_websocket_leaves_the_session_on_its_node(
        relaying: tuple[Node, Node]) -> None:
    """``cluster_upgrades="relay"``: B carries the WebSocket's messages; A serves it."""
    a, b = relaying
    upgraded: list[str] = []
    a.eio.on("upgrade", upgraded.append)
    sid, ws, served = await probed(a, b)
    (await a.eio.get_session(sid))["user"] = "ada"
    await ws.incoming.put("5")
    await ws.incoming.put("4over the relay")
    assert await a.messages.get() == (sid, "over the relay")  # A's handler
    assert upgraded == [sid]
    assert a.eio.has_session(sid)
    assert not b.eio.has_session(sid)
    assert await a.eio.get_session(sid) == {"user": "ada"}
    await a.eio.send(sid, "from A")
    await b.eio.send(sid, b"from B")
    assert [await ws.next(), await ws.next()] == ["4from A", b"from B"]
    await ws.incoming.put(None)  # the client goes away
    await asyncio.wait_for(served, WAIT)
    assert (await asyncio.wait_for(a.gone.get(), WAIT))[0] == sid
    assert not b.eio.has_session(sid)


async def test_the_owner_closing_a_relayed_websocket_closes_it_on_the_edge(
        relaying: tuple[Node, Node]) -> None:
    a, b = relaying
    sid, ws, served = await probed(a, b)
    await ws.incoming.put("5")
    await ws.incoming.put("4ready")
    assert await a.messages.get() == (sid, "ready")
    await a.eio.disconnect(sid)
    assert await ws.next() == "1"  # the close packet, then the close
    await asyncio.wait_for(served, WAIT)
    assert (await asyncio.wait_for(a.gone.get(), WAIT))[0] == sid


async def test_a_relayed_websocket_of_an_unknown_session_is_refused_as_the_owner_would(
        relaying: tuple[Node, Node]) -> None:
    a, b = relaying
    sid = await handshake(a.eio)
    await a.eio.disconnect(sid)
    ws = MemoryWebSocket()
    request = Request("GET", {"EIO": "4", "transport": "websocket", "sid": sid}, {})
    await asyncio.wait_for(b.eio.handle_websocket(request, ws), WAIT)
    assert ws.refused is not None
    assert ws.refused.status == 400
    assert json.loads(ws.refused.body) == {"code": 1, "message": "Session ID unknown"}


async def test_a_relayed_websocket_is_dropped_when_its_owner_is_gone(
        relaying: tuple[Node, Node]) -> None:
    a, b = relaying
    _sid, ws, served = await probed(a, b)
    node = a.eio._node
    assert node is not None
    await node.leave()  # as if killed: its subscription ends, nothing is said
    await asyncio.wait_for(served, OWNER_CHECK + WAIT)
    assert ws.aborted


def test_cluster_upgrades_names_its_choices() -> None:
    with pytest.raises(ValueError, match="one of 'take-over', 'relay', 'refuse', got 'move'"):
        AsyncServer(cluster=MemoryCluster(), cluster_upgrades="move")


async def test_a_get_after_a_relayed_upgrade_finds_it_done(relaying: tuple[Node, Node]) -> None:
    """The official suite's "ignores HTTP requests with same sid after upgrade": ``5``
    on the relayed WebSocket, then at once a GET on the session's node, which must
    first have what the edge read passed on."""
    a, b = relaying
    sid, ws, served = await probed(a, b)
    assert isinstance(a.cluster, HoldingCluster)
    gate = a.cluster.gates[0]  # A's: the first server built on it
    gate.hold((Kind.WS_IN,))  # the edge is slow to pass the client's messages on
    asyncio.get_running_loop().call_later(0.02, gate.release)
    ws.incoming.put_nowait("5")
    response = await asyncio.wait_for(get(a.eio, sid), WAIT)
    assert response.status == 400, response
    await ws.incoming.put(None)
    await asyncio.wait_for(served, WAIT)
