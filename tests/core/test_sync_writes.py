"""How ``Server`` writes to WebSockets when a peer stops reading: the thread that
sends to it never waits on its socket, its session closes at the send buffer
bound (``send buffer full``) and its connection is dropped, even while a write
to it is blocked; the other sessions go on."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Message

from engineio_core import DisconnectReason, Request, Server
from engineio_core.websocket_sync import WebSocket

WAIT = 5.0
REQUEST = Request("GET", {"EIO": "4", "transport": "websocket"}, {})


class Peer:
    """An in-memory ``SyncWebSocket``; a stalled one blocks every write after ``room``
    writes until it is aborted (the write then fails, as on a reset connection)."""

    def __init__(self, server: Server, room: int | None = None) -> None:
        self.room = room
        self.written: list[str | bytes] = []
        self.ended: Any = server.backend.event()  # the peer sends nothing, then goes
        self.aborted: Any = server.backend.event()
        self.writes = 0

    def accept(self) -> None:
        pass

    def refuse(self, response: object) -> None:
        raise AssertionError(response)

    def receive(self) -> str | bytes | None:
        self.ended.wait(WAIT)
        return None

    def send(self, data: str | bytes) -> None:
        self.send_many([data])

    def send_many(self, frames: list[str | bytes]) -> None:
        if self.room is not None and self.writes >= self.room:
            self.aborted.wait(WAIT)
            raise ConnectionResetError
        self.writes += 1
        self.written.extend(frames)

    def close(self, code: int) -> None:
        self.ended.set()

    def abort(self) -> None:
        self.aborted.set()
        self.ended.set()


# eventlet warns that it is deprecated when imported (it is, and we still serve it).
@pytest.mark.filterwarnings("ignore:\\s*Eventlet is deprecated")
@pytest.mark.parametrize("mode", ["threading", "eventlet", "gevent"])
def test_a_stalled_peer_never_holds_up_the_sender(mode: str) -> None:
    server = Server(async_mode=mode, ping_interval=60, ping_timeout=60,
                    max_send_buffer_size=10_000)
    backend = server.backend
    sids: list[str] = []
    reasons: dict[str, DisconnectReason] = {}
    server.on("connect", lambda sid, request: sids.append(sid))
    server.on("disconnect", lambda sid, reason: reasons.__setitem__(sid, reason))
    stalled, healthy = Peer(server, room=2), Peer(server)
    for peer in (stalled, healthy):  # one after the other: sids in this order
        backend.spawn(server.handle_websocket, REQUEST, peer)
        deadline = backend.monotonic() + WAIT
        while len(sids) < (1 if peer is stalled else 2) and backend.monotonic() < deadline:
            backend.sleep(0.001)
    stalled_sid, healthy_sid = sids
    for n in range(40):  # 40 x 1 KB to each; the stalled peer's bound is 10 KB
        for sid in sids:
            if server.has_session(sid):
                server.send(sid, f"{n:04}" + "x" * 1000)  # returns: never waits on a socket
        backend.sleep(0)
    assert stalled.aborted.wait(WAIT)
    deadline = backend.monotonic() + WAIT
    while len(healthy.written) < 41 and backend.monotonic() < deadline:
        backend.sleep(0.01)
    assert reasons == {stalled_sid: DisconnectReason.SEND_BUFFER_FULL}
    assert [str(f)[1:5] for f in healthy.written[1:]] == [f"{n:04}" for n in range(40)]
    assert server.session_info(healthy_sid).buffered == 0
    server.shutdown()


def test_os_threads_write_inline_what_the_socket_takes() -> None:
    """Under OS threads, real sockets: a send to a session whose peer reads is written
    by the sending thread itself (``send_nowait``, no thread per connection), while
    the session whose peer stopped reading gets the one writer thread that waits on
    its socket; the sender never waits."""
    server = Server(async_mode="threading", ping_interval=60, ping_timeout=60,
                    max_send_buffer_size=10_000_000)
    sids: list[str] = []
    reasons: dict[str, DisconnectReason] = {}
    server.on("connect", lambda sid, request: sids.append(sid))
    server.on("disconnect", lambda sid, reason: reasons.__setitem__(sid, reason))
    pairs = [socket.socketpair() for _ in range(2)]  # (server side, client side): healthy, stalled
    for server_sock, _ in pairs:
        ws = WebSocket(server_sock, "dGhlIHNhbXBsZSBub25jZQ==")
        threading.Thread(target=server.handle_websocket, args=(REQUEST, ws), daemon=True).start()
        deadline = server.backend.monotonic() + WAIT
        while len(sids) < pairs.index((server_sock, _)) + 1:
            assert server.backend.monotonic() < deadline
            server.backend.sleep(0.001)
    healthy_sid, stalled_sid = sids
    received: list[str] = []

    def read_healthy() -> None:
        conn = Connection(ConnectionType.CLIENT)
        sock = pairs[0][1]
        sock.settimeout(WAIT)
        buffered = b""
        while b"\r\n\r\n" not in buffered:
            buffered += sock.recv(65536)
        conn.receive_data(buffered.split(b"\r\n\r\n", 1)[1])
        while len(received) < 101:  # the open packet and 100 messages
            for event in conn.events():
                assert isinstance(event, Message)
                received.append(str(event.data))
            if len(received) < 101:
                conn.receive_data(sock.recv(65536))

    reader = threading.Thread(target=read_healthy, daemon=True)
    reader.start()
    before = set(threading.enumerate())
    for n in range(100):
        server.send(healthy_sid, f"{n:04}")
        server.send(stalled_sid, "x" * 10_000)  # 1 MB in all: its socket fills up
    reader.join(WAIT)
    assert not reader.is_alive()
    assert received[1:] == [f"4{n:04}" for n in range(100)]
    assert reasons == {}
    assert server.session_info(stalled_sid).buffered > 0
    # One writer thread (the stalled connection's), none for the healthy one.
    assert len(set(threading.enumerate()) - before - {reader}) == 1
    server.shutdown()
    for a, b in pairs:
        a.close()
        b.close()

