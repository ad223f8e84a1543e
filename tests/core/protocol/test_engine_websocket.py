"""WebSocket sessions (PROTOCOL.md §2, §7): frames, limits, closes."""

from __future__ import annotations

from typing import Any

import pytest
from tests.core.protocol.peers import Client, Server, WebSocket

from engineio_core.protocol.errors import SessionUnknown
from engineio_core.protocol.events import Disconnect, DisconnectReason, Message
from engineio_core.protocol.packets import decode_ws

VERSIONS = pytest.mark.parametrize("version", [4, 3])


def ws_session(
    version: int, *, b64: bool = False, **options: Any
) -> tuple[Server, Client, WebSocket]:
    server = Server(**options)
    client = Client(server, version, b64=b64)
    socket = client.open_ws()
    first = socket.receive()[0]
    assert isinstance(first, str)
    assert first.startswith("0{")
    return server, client, socket


def only_disconnect(server: Server, reason: DisconnectReason) -> Disconnect:
    disconnects = server.disconnects()
    assert [d.reason for d in disconnects] == [reason], disconnects
    return disconnects[0]


@VERSIONS
def test_text_frames_both_ways(version: int) -> None:
    server, client, socket = ws_session(version)
    socket.send("4hello €")
    socket.send("4")
    assert server.take_events() == [Message(client.sid or "", "hello €"),
                                    Message(client.sid or "", "")]
    server.send(client.sid, "hi 😀")
    assert socket.receive() == ["4hi 😀"]


def test_v4_binary_frames_have_no_type_byte() -> None:
    server, client, socket = ws_session(4)
    socket.send(b"\x04\x01\x02")
    assert server.messages() == [b"\x04\x01\x02"]
    server.send(client.sid, b"\x00\xff")
    assert socket.receive() == [b"\x00\xff"]


def test_v3_binary_frames_start_with_type_byte() -> None:
    server, client, socket = ws_session(3)
    socket.send(b"\x04\x01\x02")
    assert server.messages() == [b"\x01\x02"]
    server.send(client.sid, b"\x00\xff")
    assert socket.receive() == [b"\x04\x00\xff"]


def test_v3_b64_binary_is_base64_text() -> None:
    server, client, socket = ws_session(3, b64=True)
    server.send(client.sid, b"\x01\x02\x03\x04")
    assert socket.receive() == ["b4AQIDBA=="]
    socket.send("b4AQIDBA==")
    assert server.messages() == [b"\x01\x02\x03\x04"]


def test_v4_client_with_b64_gets_binary_it_can_decode() -> None:
    # engine.io-client 6 adds b64=1 to the WebSocket URL when it cannot read binary.
    # v4 has no typed base64 frame: whatever is sent must decode as v4 (raw or b<base64>).
    server, client, socket = ws_session(4, b64=True)
    server.send(client.sid, b"\x01\x02\x03\x04")
    frames = socket.receive()
    assert len(frames) == 1
    assert decode_ws(frames[0], 4).data == b"\x01\x02\x03\x04"


@VERSIONS
@pytest.mark.parametrize("kind", ["text", "multibyte", "binary"])
def test_message_over_max_closes_1009_transport_error(version: int, kind: str) -> None:
    server, client, socket = ws_session(version, max_http_buffer_size=100)
    frame: str | bytes
    if kind == "text":
        frame = "4" + "x" * 100
    elif kind == "multibyte":
        frame = "4" + "€" * 34  # 35 characters, 103 bytes
    else:
        frame = b"\x04" * 101
    socket.send(frame)
    assert socket.is_closed()
    assert socket.close_code == 1009
    assert server.messages() == []
    only_disconnect(server, DisconnectReason.TRANSPORT_ERROR)
    with pytest.raises(SessionUnknown):
        server.engine.send(client.sid or "", "late")


@VERSIONS
def test_message_of_exactly_max_is_accepted(version: int) -> None:
    server, _client, socket = ws_session(version, max_http_buffer_size=100)
    socket.send("4" + "x" * 99)
    socket.send(b"\x04" * 100)
    assert len(server.messages()) == 2
    assert not socket.is_closed()


@VERSIONS
def test_client_close_packet_closes_session_and_socket(version: int) -> None:
    server, client, socket = ws_session(version)
    socket.send("1")
    assert socket.is_closed()
    only_disconnect(server, DisconnectReason.CLIENT_DISCONNECT)
    socket.drop()  # the peer's close frame arrives afterwards: nothing more happens
    assert server.disconnects() == []
    assert not server.engine.has_session(client.sid or "")


@VERSIONS
def test_server_close_sends_close_packet_then_closes_1000(version: int) -> None:
    server, client, socket = ws_session(version)
    server.send(client.sid, "last")
    server.close(client.sid)
    assert socket.receive() == ["4last", "1"]
    assert socket.close_code == 1000
    only_disconnect(server, DisconnectReason.SERVER_DISCONNECT)
    socket.drop()
    assert server.disconnects() == []
    with pytest.raises(SessionUnknown):
        server.engine.send(client.sid or "", "late")


@VERSIONS
def test_transport_close_without_close_packet(version: int) -> None:
    server, client, socket = ws_session(version)
    socket.drop()
    only_disconnect(server, DisconnectReason.TRANSPORT_CLOSE)
    assert not server.engine.has_session(client.sid or "")
    socket.drop()
    assert server.disconnects() == []


@VERSIONS
@pytest.mark.parametrize("frame", ["x", "", "9", "b!!", "7hello"])
def test_invalid_text_frame_is_parse_error(version: int, frame: str) -> None:
    server, _client, socket = ws_session(version)
    socket.send(frame)
    assert socket.is_closed()
    assert socket.close_code is not None
    only_disconnect(server, DisconnectReason.PARSE_ERROR)


@pytest.mark.parametrize("frame", [b"", b"\x07abc", b"\xff"])
def test_v3_invalid_binary_frame_is_parse_error(frame: bytes) -> None:
    server, _client, socket = ws_session(3)
    socket.send(frame)
    assert socket.is_closed()
    only_disconnect(server, DisconnectReason.PARSE_ERROR)


@VERSIONS
def test_frames_after_close_are_ignored(version: int) -> None:
    server, _client, socket = ws_session(version)
    socket.send("1")
    server.disconnects()
    socket.send("4ignored")
    assert server.take_events() == []


@VERSIONS
def test_one_packet_per_frame(version: int) -> None:
    server, client, socket = ws_session(version)
    for i in range(5):
        server.send(client.sid, str(i))
    assert socket.receive() == ["40", "41", "42", "43", "44"]


@VERSIONS
def test_noop_and_upgrade_packets_change_nothing(version: int) -> None:
    server, _client, socket = ws_session(version)
    socket.send("6")
    socket.send("5")
    assert server.take_events() == []
    assert not socket.is_closed()
