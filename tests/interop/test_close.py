"""Server-initiated close (cmd:close) and oversized messages."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
from collections.abc import Callable

import pytest

from .harness import (
    NODE_KINDS,
    ClientJob,
    ClientKind,
    Mode,
    Msg,
    RunningServer,
    kind_mode_params,
    polling_handshake,
    run_client,
    s_close,
    s_count,
    s_expect,
    s_open,
    s_send,
    s_wait_close,
    s_wait_upgrade,
    skip_on_js_reference,
)

pytestmark = pytest.mark.interop

MakeServer = Callable[..., RunningServer]


@pytest.mark.parametrize(("kind", "mode"), kind_mode_params())
def test_server_close(server: RunningServer, kind: ClientKind, mode: Mode) -> None:
    if kind not in NODE_KINDS and mode != "polling":
        # python-engineio acts on the `1` packet ("server disconnect"); the JS
        # server closes the WebSocket without sending `1`, so the python client
        # only sees the socket drop ("transport error"). We send `1`, then close.
        skip_on_js_reference(server, "server close on WebSocket sends no `1` packet")
    steps = [s_open()]
    if mode == "upgrade":
        steps.append(s_wait_upgrade())
    steps += [s_send("before"), s_expect(1), s_send("cmd:close"), s_wait_close(timeout_ms=3000)]
    result = run_client(ClientJob(kind, mode, server.url, steps)).expect_ok()
    assert result.texts() == ["before"], result.summary()
    assert result.close is not None, result.summary()
    if kind in NODE_KINDS:
        # engine.io-client 6 and 3 report a server close as "transport close"
        # (polling: the `1` packet; WebSocket: the socket closing).
        assert result.close["reason"] == "transport close", result.summary()
    else:
        assert result.close["reason"] == "server disconnect", result.summary()
    # Promptly: not via some ping timeout (defaults are 25 s + 20 s).
    sent_close_at = max(e["t"] for e in result.events if e.get("name") == "open")
    assert result.close["t"] - sent_close_at < 2500, result.summary()


SMALL = {"EIO_MAX_PAYLOAD": "1000"}


@pytest.mark.parametrize(("kind", "mode"), kind_mode_params())
def test_oversized_message(make_server: MakeServer, kind: ClientKind, mode: Mode) -> None:
    server = make_server(SMALL)
    if kind not in NODE_KINDS and mode == "polling":
        # JS answers 413 but keeps the session; python-engineio's polling client
        # only stops writing and goes on long-polling, so it sees no close until
        # the ping timeout. We close the session, so its pending GET gets `1`.
        skip_on_js_reference(server, "413 keeps the session")
    ok_text = "ok€" + "y" * 890  # 895 bytes: a packet under the limit passes
    steps = [s_open()]
    if mode == "upgrade":
        steps.append(s_wait_upgrade())
    steps += [
        s_send(ok_text),
        s_expect(1),
        s_send("z" * 5000),
        s_wait_close(timeout_ms=4000),
    ]
    result = run_client(ClientJob(kind, mode, server.url, steps)).expect_ok()
    if kind in NODE_KINDS:
        assert result.handshake is not None
        assert result.handshake["maxPayload"] == 1000, result.summary()
    assert result.messages[:1] == [Msg.of(ok_text)], result.summary()
    # The oversized message is never echoed; the client saw its session end.
    assert [m for m in result.messages if m.length >= 5000] == [], result.summary()
    assert result.close is not None, result.summary()
    assert result.close["reason"] not in ("forced close", "client disconnect"), result.summary()

    # The server is still up and serves a fresh client normally.
    again = run_client(
        ClientJob(
            kind, mode, server.url, [s_open(), s_send("again"), s_expect(1), s_count(), s_close()]
        )
    ).expect_ok()
    assert again.texts()[0] == "again", again.summary()
    assert server.alive(), server.log_tail()


# ---------------------------------------------------------------- floods past maxPayload
FLOOD = 8 * 1024 * 1024  # what the flooding client announces; it sends until refused


def _stream(sock: socket.socket, head: bytes) -> None:
    """Write ``head`` then up to FLOOD bytes, until the server stops taking them."""
    sock.settimeout(2)
    chunk = b"a" * 65536
    with contextlib.suppress(OSError):
        sock.sendall(head)
        for _ in range(FLOOD // len(chunk)):
            sock.sendall(chunk)


def _flood_websocket(port: int) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                     f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        assert sock.recv(12) == b"HTTP/1.1 101"
        # One masked text frame announcing FLOOD bytes (mask 0: the payload is as sent).
        _stream(sock, bytes([0x81, 0xFF]) + struct.pack(">Q", FLOOD) + b"\0\0\0\0")


def _flood_post(port: int) -> None:
    sid = polling_handshake(port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        _stream(sock, f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                      f"Host: 127.0.0.1:{port}\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                      f"Content-Length: {FLOOD}\r\n\r\n4".encode())


@pytest.mark.parametrize("flood", [_flood_websocket, _flood_post], ids=["websocket", "post"])
def test_a_flood_past_max_payload_harms_no_later_request(
        make_server: MakeServer, flood: Callable[[int], None]) -> None:
    """Megabytes streamed past maxPayload (the server stops reading mid-stream) leave
    every later request served: uWSGI's router once marked its worker as failed for
    30 s after such a connection, and answered nothing meanwhile."""
    server = make_server(SMALL)
    for _ in range(3):
        flood(server.port)
        assert polling_handshake(server.port), server.log_tail()
    assert server.alive(), server.log_tail()
