"""Polling -> WebSocket upgrade with messages in flight (node clients: the
python-engineio client upgrades inside connect(), before anything is sent)."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from tests.helpers import masked_text_frame

from .harness import (
    ClientJob,
    ClientKind,
    RunningServer,
    run_clients,
    s_close,
    s_expect,
    s_open,
    s_send_many,
    s_wait_upgrade,
)

pytestmark = pytest.mark.interop

N = 200
TAIL = 20  # held back until the client has seen 'upgrade'


@pytest.mark.parametrize("kind", ["v6", "v3"])
def test_upgrade_with_messages_in_flight(server: RunningServer, kind: ClientKind) -> None:
    steps = [
        s_open(),
        # Starts right after 'open', i.e. while the probe WebSocket is opening;
        # 1 ms apart, so messages go out before, during and after the upgrade.
        s_send_many(N, prefix="n", interval_ms=1, tail_after_upgrade=TAIL),
        s_wait_upgrade(),
        s_expect(N),
        s_close(),
    ]
    # Two clients at once: more interleaving on the server, and it is cheaper.
    results = run_clients([ClientJob(kind, "upgrade", server.url, steps) for _ in range(2)])
    for result in results:
        result.expect_ok()
        assert result.texts() == [f"n{i}" for i in range(N)], result.summary()
        assert all(m.type == "text" for m in result.messages)
        assert result.transport == "websocket", result.summary()
        upgrades = result.events_named("upgrade")
        assert len(upgrades) == 1, result.summary()
        assert upgrades[0]["transport"] == "websocket"
        # The upgrade completed while the burst was under way.
        assert 1 <= upgrades[0]["sent"] <= N - TAIL, result.summary()
        assert result.events_named("upgradeError") == [], result.summary()
        assert result.close is not None
        assert result.close["reason"] == "forced close", result.summary()


ROUNDS = 20


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length (or none: the body ends at close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                   if line.lower().startswith(b"content-length:")), None)
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed inside the body"
        body += chunk
    return status, body


def _probe_socket(port: int) -> tuple[str, socket.socket]:
    """A polling session and its probe WebSocket, upgraded to the 101 (nothing sent)."""
    host = f"Host: 127.0.0.1:{port}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as http:
        http.sendall(f"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\n{host}\r\n".encode())
        status, body = _read_response(http)
    assert status == 200, (status, body)
    assert body.startswith(b"0{"), body
    sid: str = json.loads(body[1:].split(b"\x1e")[0])["sid"]
    ws = socket.create_connection(("127.0.0.1", port), timeout=5)
    ws.sendall(_upgrade_request(port, sid))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = ws.recv(1)  # byte by byte: nothing past the 101 is consumed
        assert chunk, "closed before the 101"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sid, ws


@contextmanager
def _upgrade_frames_sent(port: int) -> Iterator[tuple[str, socket.socket, socket.socket]]:
    """A session's probe WebSocket right after ``2probe`` and ``5`` left in one write,
    and another connection, opened before them: ``(sid, probe, other)``."""
    sid, ws = _probe_socket(port)
    other = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        ws.sendall(masked_text_frame("2probe") + masked_text_frame("5"))
        yield sid, ws, other
    finally:
        other.close()
        ws.close()


def _upgrade_request(port: int, sid: str) -> bytes:
    return (f"GET /engine.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "\r\n").encode()


def test_a_get_sent_right_after_the_upgrade_frames_is_refused(server: RunningServer) -> None:
    """The official suite's "ignores HTTP requests with same sid after upgrade", at its
    most racy: ``2probe`` and ``5`` leave on the WebSocket in one write and the GET
    right after, on a connection opened beforehand. However the server schedules the two
    connections, the GET must find the upgrade done: 400, never a held poll answered
    by a noop (``PROBE_CATCH_UP``)."""
    port = server.port
    for attempt in range(ROUNDS):
        with _upgrade_frames_sent(port) as (sid, _ws, http):
            http.sendall(f"GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                         f"Host: 127.0.0.1:{port}\r\n\r\n".encode())
            status, body = _read_response(http)
            assert status == 400, (f"{server.describe()}: round {attempt}: the GET was "
                                   f"answered {status} {body!r} after the upgrade")


def test_a_second_websocket_is_refused_after_the_probe_is_answered(
        server: RunningServer) -> None:
    """The official suite's "ignores WebSocket connection with same sid after upgrade":
    the client sends ``2probe`` and ``5``, opens a second WebSocket with the same sid
    and, once that one is refused, takes the next message of the first as the answer to
    what it sends next, so ``3probe`` must be on its way before the refusal (on
    loopback: readable by then)."""
    port = server.port
    for attempt in range(ROUNDS):
        with _upgrade_frames_sent(port) as (sid, ws, second):
            second.sendall(_upgrade_request(port, sid))
            answer = b""
            while chunk := second.recv(65536):  # refused, or accepted then closed
                answer += chunk
                head, done, frames = answer.partition(b"\r\n\r\n")
                if done and (not head.startswith(b"HTTP/1.1 101") or frames[:1] == b"\x88"):
                    break  # an error answer, or a close frame (what the client calls closed)
            head, _, frames = answer.partition(b"\r\n\r\n")
            assert not head.startswith(b"HTTP/1.1 101") or frames[:1] == b"\x88", answer
            assert select.select([ws], [], [], 0)[0], (
                f"{server.describe()}: round {attempt}: the second WebSocket was refused "
                "before 3probe was written")
            frame = ws.recv(8)
            assert frame[2:] == b"3probe", frame
