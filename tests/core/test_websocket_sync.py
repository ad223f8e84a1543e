"""The blocking WebSocket of the WSGI runtime: our data framing read back by wsproto's client."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, TextMessage

from engineio_core import MessageTooLarge
from engineio_core.websocket_frames import encode_frame
from engineio_core.websocket_sync import WebSocket


def _decode(stream: bytes) -> list[str | bytes]:
    """What a client sees in ``stream`` (server frames), one entry per message."""
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(stream)
    out: list[str | bytes] = []
    for event in client.events():
        assert isinstance(event, Message)
        assert event.message_finished
        out.append(event.data)
    return out


messages = st.one_of(st.text(max_size=300), st.binary(max_size=300))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_frame_lengths_around_the_header_forms(size: int, kind: str) -> None:
    data: str | bytes = "é" * (size // 2) + "a" * (size % 2) if kind == "text" else bytes(size)
    assert _decode(encode_frame(data)) == [data]


@settings(max_examples=200)
@given(st.lists(messages, max_size=20))
def test_any_sequence_of_frames_decodes_in_order(batch: list[str | bytes]) -> None:
    assert _decode(b"".join(encode_frame(m) for m in batch)) == batch


def _accepted(server_sock: socket.socket,
              client_sock: socket.socket) -> Iterator[tuple[WebSocket, socket.socket]]:
    """A WebSocket on ``server_sock`` that has sent its 101, and the client's end."""
    ws = WebSocket(server_sock, "dGhlIHNhbXBsZSBub25jZQ==")
    ws.accept()
    try:
        yield ws, client_sock
    finally:
        server_sock.close()
        client_sock.close()


@pytest.fixture
def pair() -> Iterator[tuple[WebSocket, socket.socket]]:
    yield from _accepted(*socket.socketpair())


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    sock.settimeout(5)
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_send_many_writes_every_message_in_order(pair: tuple[WebSocket, socket.socket]) -> None:
    ws, client = pair
    head = _read_until(client, b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    ws.send_many(["4a", b"\x01\x02", "4" + "x" * 200])
    ws.send("4last")
    stream = b""
    while b"4last" not in stream:
        stream += _read_until(client, b"4last")
    assert _decode(stream) == ["4a", b"\x01\x02", "4" + "x" * 200, "4last"]


def test_no_data_after_close(pair: tuple[WebSocket, socket.socket]) -> None:
    ws, client = pair
    _read_until(client, b"\r\n\r\n")
    ws.close(1000)
    with pytest.raises(ConnectionError):
        ws.send("4late")
    with pytest.raises(ConnectionError):
        ws.send_many(["4late", "4later"])
    client.settimeout(5)
    rest = b""
    while chunk := client.recv(65536):
        rest += chunk
    conn = Connection(ConnectionType.CLIENT)
    conn.receive_data(rest)
    events = list(conn.events())
    assert len(events) == 1
    assert isinstance(events[0], CloseConnection)
    assert events[0].code == 1000
    assert not any(isinstance(e, TextMessage | BytesMessage) for e in events)


def test_a_close_right_behind_a_message_is_answered_with_its_code(
        pair: tuple[WebSocket, socket.socket]) -> None:
    """The peer's message and close frame arrive in one read: answering the message
    fails (the peer is closing), and the close that follows echoes the peer's 1000
    (the wire fuzzer saw 1011 here)."""
    ws, client = pair
    _read_until(client, b"\r\n\r\n")
    peer = Connection(ConnectionType.CLIENT)
    client.sendall(peer.send(TextMessage(data="4hello")) + peer.send(CloseConnection(code=1000)))
    assert ws.receive() == "4hello"
    with pytest.raises(ConnectionError):
        ws.send("4hello")
    ws.close(1011)  # what the server does when a send fails
    assert ws.receive() is None
    client.settimeout(5)
    rest = b""
    while chunk := client.recv(65536):
        rest += chunk
    peer.receive_data(rest)
    events = list(peer.events())
    assert [type(e) for e in events] == [CloseConnection]
    assert isinstance(events[0], CloseConnection)
    assert events[0].code == 1000


def test_reads_are_small_and_a_large_message_still_arrives_whole() -> None:
    """Each read asks for at most 16 KiB: a 64 KiB read allocates a 64 KiB buffer per
    call that is then shrunk to what arrived, and over 100,000 WebSocket sessions those
    holes grew an eventlet server's RSS by 7 % (benchmarks/RESULTS.md, issue 14 item 7)."""
    server_sock, client_sock = socket.socketpair()
    asked: list[int] = []

    def read(n: int) -> bytes:
        asked.append(n)
        return server_sock.recv(n)

    ws = WebSocket(server_sock, "dGhlIHNhbXBsZSBub25jZQ==", read=read)
    try:
        ws.accept()
        client = Connection(ConnectionType.CLIENT)
        big = "4" + "x" * 100_000
        client_sock.sendall(client.send(TextMessage(data=big)) +
                            client.send(TextMessage(data="4after")))
        assert ws.receive() == big
        assert ws.receive() == "4after"
    finally:
        server_sock.close()
        client_sock.close()
    assert asked
    assert max(asked) <= 16384


def test_send_nowait_never_waits_and_keeps_the_order(
        pair: tuple[WebSocket, socket.socket]) -> None:
    """A peer that does not read: send_nowait() returns at once with what the socket
    did not take kept; once the peer reads, send_kept() and later sends write it
    all, every message whole and in order."""
    ws, client = pair
    _read_until(client, b"\r\n\r\n")
    sent: list[str | bytes] = []
    batches = 0
    while True:  # until the socket buffers are full
        batch: list[str | bytes] = [f"4{batches}:" + "x" * 16384, bytes([batches % 256]) * 100]
        sent += batch
        batches += 1
        if not ws.send_nowait(batch):
            break
        assert batches < 10_000, "the socket never filled up"
    assert ws.send_nowait(["4more"]) is False  # kept behind what is already kept
    sent.append("4more")
    stream = b""
    client.settimeout(5)

    def read_all() -> None:
        nonlocal stream
        while not stream.endswith(encode_frame("4last")):
            chunk = client.recv(1 << 20)
            assert chunk
            stream += chunk

    reader = threading.Thread(target=read_all)
    reader.start()
    ws.send_kept()
    ws.send("4last")
    sent.append("4last")
    reader.join(10)
    assert not reader.is_alive()
    assert _decode(stream) == sent


def test_send_nowait_on_a_closed_websocket_raises(pair: tuple[WebSocket, socket.socket]) -> None:
    ws, client = pair
    _read_until(client, b"\r\n\r\n")
    ws.close(1000)
    with pytest.raises(ConnectionError):
        ws.send_nowait(["4late"])


def _eventually(condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` holds within 5 s (another thread has to get there)."""
    deadline = time.monotonic() + 5
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


@pytest.fixture
def tcp_pair() -> Iterator[tuple[WebSocket, socket.socket]]:
    """Over TCP on 127.0.0.1: ``idle()`` counts what reached the socket (Linux)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client_sock = socket.create_connection(listener.getsockname())
        server_sock, _ = listener.accept()
    yield from _accepted(server_sock, client_sock)


@pytest.mark.parametrize("transport", ["pair", "tcp_pair"])
def test_idle_only_while_receive_waits_for_bytes_not_yet_arrived(
        transport: str, request: pytest.FixtureRequest) -> None:
    """``idle()`` is what a GET of an upgrading session waits for (``Server._caught_up``):
    two frames that arrive in one read leave the second parsed but not returned, and
    the WebSocket is not idle until that one is returned too."""
    ws, client = request.getfixturevalue(transport)
    _read_until(client, b"\r\n\r\n")
    peer = Connection(ConnectionType.CLIENT)
    received: queue.Queue[str | bytes | None] = queue.Queue()
    go_on = threading.Event()

    def read() -> None:
        received.put(ws.receive())
        go_on.wait(5)
        received.put(ws.receive())
        received.put(ws.receive())

    assert not ws.idle()  # nobody reads
    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert _eventually(ws.idle)
        client.sendall(peer.send(TextMessage(data="2probe")) + peer.send(TextMessage(data="5")))
        assert received.get(timeout=5) == "2probe"
        assert not ws.idle()  # "5" arrived and was not returned yet
        go_on.set()
        assert received.get(timeout=5) == "5"
        assert _eventually(ws.idle)
    finally:
        go_on.set()
        client.sendall(peer.send(CloseConnection(code=1000)))
        reader.join(5)
    assert received.get(timeout=5) is None


def test_idle_counts_bytes_a_read_took_but_did_not_return() -> None:
    """Over TCP, bytes a read took from the socket but has not returned to Python yet
    (its thread waits for the GIL) keep the WebSocket from being idle: stood for
    here by bytes read from the socket behind its back."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server_sock, _ = listener.accept()
    try:
        ws = WebSocket(server_sock, "dGhlIHNhbXBsZSBub25jZQ==")
        ws._waiting = True  # as inside receive(), blocked in its read
        assert ws.idle()
        client.sendall(Connection(ConnectionType.CLIENT).send(TextMessage(data="2probe")))
        assert _eventually(lambda: not ws.idle())  # arrived, unread
        server_sock.settimeout(5)
        assert server_sock.recv(64)  # taken by a read that has not returned yet
        assert not ws.idle()
    finally:
        server_sock.close()
        client.close()



def test_receive_ready_hands_over_only_whole_messages_already_read(
        pair: tuple[WebSocket, socket.socket]) -> None:
    """What ``Server`` feeds between two handler calls of a pipelined session:
    whole messages the last read brought, never a wait, never part of a message."""
    ws, client = pair
    _read_until(client, b"\r\n\r\n")
    peer = Connection(ConnectionType.CLIENT)
    assert not ws.buffered()
    assert ws.receive_ready() is None  # nothing read: no wait either
    client.sendall(peer.send(TextMessage(data="4a")) + peer.send(BytesMessage(data=b"\x01"))
                   + peer.send(TextMessage(data="4par", message_finished=False)))
    assert ws.receive() == "4a"
    assert ws.buffered()
    assert ws.receive_ready() == b"\x01"
    assert ws.buffered()  # the first part of "4partial"
    assert ws.receive_ready() is None  # not whole: receive() waits for the rest
    client.sendall(peer.send(TextMessage(data="tial")))
    assert ws.receive() == "4partial"
    assert not ws.buffered()
    client.sendall(peer.send(CloseConnection(code=1000)))
    assert ws.receive() is None


def test_receive_ready_leaves_an_oversized_message_to_receive() -> None:
    server_sock, client = socket.socketpair()
    ws = WebSocket(server_sock, "dGhlIHNhbXBsZSBub25jZQ==", max_message_size=4)
    ws.accept()
    try:
        _read_until(client, b"\r\n\r\n")
        peer = Connection(ConnectionType.CLIENT)
        client.sendall(peer.send(TextMessage(data="4ok")) + peer.send(TextMessage(data="4" * 9)))
        assert ws.receive() == "4ok"
        assert ws.receive_ready() is None  # over the limit: receive() closes with 1009
        with pytest.raises(MessageTooLarge):
            ws.receive()
    finally:
        server_sock.close()
        client.close()
