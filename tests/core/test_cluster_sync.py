"""Cluster mode on the sync ``Server`` (threading backend): two servers joined by
the in-memory bus, every request of a session sent to the node that does not
hold it; the same guarantees as ``test_cluster_async.py``."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.core.holding_cluster import HoldingCluster

from engineio_core import BodyTooLarge, DisconnectReason, Request, Server
from engineio_core.cluster import BusUnavailable, MemoryCluster
from engineio_core.cluster.ids import NODE_ID_LENGTH
from engineio_core.protocol.http import Response

WAIT = 5.0


def body_of(data: bytes) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        if len(data) > limit:
            raise BodyTooLarge(limit)
        return data

    return read


def polling(sid: str | None = None, **extra: str) -> dict[str, str]:
    query = {"EIO": "4", "transport": "polling", **extra}
    if sid is not None:
        query["sid"] = sid
    return query


def handshake(eio: Server) -> str:
    response = eio.handle_http(Request("GET", polling(), {}), body_of(b""))
    assert response.status == 200, response
    sid: str = json.loads(response.body[1:])["sid"]
    return sid


def post(eio: Server, sid: str, payload: bytes) -> Response:
    return eio.handle_http(Request("POST", polling(sid), {}), body_of(payload))


def get(eio: Server, sid: str) -> Response:
    return eio.handle_http(Request("GET", polling(sid), {}), body_of(b""))


class Node:
    def __init__(self, cluster: MemoryCluster, **options: Any) -> None:
        self.eio = Server(async_mode="threading", cluster=cluster, ping_interval=60,
                          ping_timeout=60, **options)
        self.messages: queue.Queue[tuple[str, str | bytes]] = queue.Queue()
        self.gone: queue.Queue[tuple[str, DisconnectReason]] = queue.Queue()
        self.eio.on("message", lambda sid, data: self.messages.put((sid, data)))
        self.eio.on("disconnect", lambda sid, reason: self.gone.put((sid, reason)))


@pytest.fixture
def pair() -> Iterator[tuple[Node, Node]]:
    cluster = MemoryCluster()
    a, b = Node(cluster), Node(cluster)
    a.eio.start()
    b.eio.start()
    try:
        yield a, b
    finally:
        a.eio.shutdown()
        b.eio.shutdown()


def in_thread(fn: Callable[[], Any]) -> queue.Queue[Any]:
    """Run ``fn`` in a thread; its result arrives in the queue returned."""
    result: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=lambda: result.put(fn()), daemon=True).start()
    return result


def test_every_request_on_the_other_node_reaches_the_session(pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = handshake(a.eio)
    assert sid[:NODE_ID_LENGTH] != handshake(b.eio)[:NODE_ID_LENGTH]
    response = post(b.eio, sid, b"4hello\x1e4world")
    assert (response.status, response.body) == (200, b"ok")
    assert [a.messages.get(timeout=WAIT) for _ in range(2)] == [(sid, "hello"), (sid, "world")]
    held = in_thread(lambda: get(b.eio, sid))  # held on A, through B
    b.eio.send(sid, "from b")
    assert held.get(timeout=WAIT).body == b"4from b"
    (a.eio.get_session(sid))["user"] = "ada"
    with b.eio.session(sid) as data:
        data["seen"] = 1
    assert a.eio.get_session(sid) == {"user": "ada", "seen": 1}
    assert a.eio.count_sessions() == b.eio.count_sessions() == 2
    b.eio.disconnect(sid)
    assert a.gone.get(timeout=WAIT) == (sid, DisconnectReason.SERVER_DISCONNECT)


def test_a_session_of_a_node_that_is_gone_is_unknown_at_once(pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = handshake(a.eio)
    a.eio.shutdown()
    response = post(b.eio, sid, b"4hello")
    assert response.status == 400
    assert json.loads(response.body) == {"code": 1, "message": "Session ID unknown"}


class MemoryWebSocket:
    def __init__(self) -> None:
        self.incoming: queue.Queue[str | bytes | None] = queue.Queue()
        self.got: queue.Queue[str | bytes] = queue.Queue()
        self.refused: Response | None = None
        self.closed = threading.Event()

    def accept(self) -> None:
        return None

    def refuse(self, response: Response) -> None:
        self.refused = response

    def receive(self) -> str | bytes | None:
        return self.incoming.get(timeout=4 * WAIT)

    def send(self, data: str | bytes) -> None:
        self.got.put(data)

    def close(self, code: int) -> None:
        self.closed.set()
        self.incoming.put(None)

    def abort(self) -> None:
        self.incoming.put(None)


def test_an_upgrade_on_the_other_node_takes_the_session_over(pair: tuple[Node, Node]) -> None:
    a, b = pair
    sid = handshake(a.eio)
    held = in_thread(lambda: get(b.eio, sid))
    ws = MemoryWebSocket()
    request = Request("GET", {"EIO": "4", "transport": "websocket", "sid": sid}, {})
    served = threading.Thread(target=b.eio.handle_websocket, args=(request, ws), daemon=True)
    served.start()
    assert held.get(timeout=WAIT).body == b"6"  # released with a noop by the hand-over
    ws.incoming.put("2probe")
    assert ws.got.get(timeout=WAIT) == "3probe"
    ws.incoming.put("5")
    ws.incoming.put("4over the socket")
    assert b.messages.get(timeout=WAIT) == (sid, "over the socket")
    assert not a.eio.has_session(sid)
    a.eio.send(sid, "sent on A")  # forwarded to where it went
    assert ws.got.get(timeout=WAIT) == "4sent on A"
    second = MemoryWebSocket()  # a second WebSocket on A: accepted, then closed
    a.eio.handle_websocket(request, second)
    assert second.refused is None
    assert second.closed.is_set()
    ws.incoming.put(None)
    served.join(WAIT)
    assert b.gone.get(timeout=WAIT)[0] == sid


def test_a_cluster_given_as_a_url_is_a_redis_cluster() -> None:
    eio = Server(async_mode="threading", cluster="redis://127.0.0.1:1/0")  # nothing on port 1
    with pytest.raises(BusUnavailable, match=r"redis://127\.0\.0\.1:1/0"):
        eio.start()


# ---------------------------------------------------------------- broadcasts across a take-over
@pytest.fixture
def held() -> Iterator[tuple[Node, Node, HoldingCluster]]:
    cluster = HoldingCluster()
    a, b = Node(cluster), Node(cluster)
    a.eio.start()
    b.eio.start()
    try:
        yield a, b, cluster
    finally:
        a.eio.shutdown()
        b.eio.shutdown()


def move(a: Node, b: Node, sid: str) -> None:
    """Have B take A's polling session ``sid`` over (a WebSocket for it reaches B)."""
    request = Request("GET", {"EIO": "4", "transport": "websocket", "sid": sid}, {})
    ws = MemoryWebSocket()
    threading.Thread(target=b.eio.handle_websocket, args=(request, ws), daemon=True).start()
    deadline = time.monotonic() + WAIT
    while not b.eio.has_session(sid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b.eio.has_session(sid)
    assert not a.eio.has_session(sid)


def polled(b: Node, sid: str) -> list[bytes]:
    """The session's next GET on B, then one after a last broadcast (see the async twin)."""
    first = get(b.eio, sid).body
    b.eio.broadcast("end")
    return [first, get(b.eio, sid).body]


@pytest.mark.parametrize(("late", "sender", "text"), [
    (0, 1, "while it moves"), (1, 0, "before it moves"),
], ids=["relayed-by-the-old-node", "not-again-from-the-new-node"])
def test_a_broadcast_reaches_a_session_moving_while_it_travels_once(
        held: tuple[Node, Node, HoldingCluster], late: int, sender: int, text: str) -> None:
    """See the async twin."""
    a, b, cluster = held
    sid = handshake(a.eio)
    cluster.gates[late].hold()
    (a, b)[sender].eio.broadcast(text)
    move(a, b, sid)
    cluster.gates[late].release()
    assert polled(b, sid) == [f"4{text}".encode(), b"4end"]


@pytest.mark.parametrize("sender", [0, 1])
def test_a_broadcast_after_the_move_reaches_the_session_once(
        held: tuple[Node, Node, HoldingCluster], sender: int) -> None:
    a, b, _ = held
    sid = handshake(a.eio)
    move(a, b, sid)
    (a, b)[sender].eio.broadcast("after the move")
    assert polled(b, sid) == [b"4after the move", b"4end"]


def test_without_takeover_an_upgrade_on_another_node_is_refused() -> None:
    cluster = MemoryCluster()
    a = Node(cluster, cluster_upgrades="refuse")
    b = Node(cluster, cluster_upgrades="refuse")
    a.eio.start()
    b.eio.start()
    try:
        sid = handshake(a.eio)
        ws = MemoryWebSocket()
        request = Request("GET", {"EIO": "4", "transport": "websocket", "sid": sid}, {})
        b.eio.handle_websocket(request, ws)
        assert ws.refused is not None
        assert ws.refused.status == 400
        assert a.eio.has_session(sid)
        assert not b.eio.has_session(sid)
        assert post(b.eio, sid, b"4still polling").status == 200
        assert a.messages.get(timeout=WAIT) == (sid, "still polling")
    finally:
        a.eio.shutdown()
        b.eio.shutdown()


def test_cluster_upgrades_names_what_this_server_can_do() -> None:
    with pytest.raises(ValueError, match="cluster_upgrades must be one of 'take-over', 'refuse'"):
        Server(async_mode="threading", cluster=MemoryCluster(), cluster_upgrades="relay")
