"""Tests of the one-packet codecs: text form and WebSocket frames, v3 and v4."""

from __future__ import annotations

from typing import cast

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engineio_core.protocol.errors import ParseError
from engineio_core.protocol.packets import (
    Packet,
    PacketType,
    decode_text,
    decode_ws,
    encode_text,
    encode_ws,
)

MESSAGE = PacketType.MESSAGE
VERSIONS = (3, 4)

text_packets = st.builds(Packet, st.sampled_from(PacketType), st.text())
binary_v3_packets = st.builds(Packet, st.sampled_from(PacketType), st.binary())
binary_v4_packets = st.builds(Packet, st.just(MESSAGE), st.binary())


# --- text form ------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("packet", "text"),
    [
        (Packet(MESSAGE, "hello"), "4hello"),
        (Packet(PacketType.PING, "probe"), "2probe"),
        (Packet(PacketType.PONG), "3"),
        (Packet(PacketType.OPEN, '{"sid":"x"}'), '0{"sid":"x"}'),
        (Packet(PacketType.NOOP), "6"),
        (Packet(MESSAGE, "😀€"), "4😀€"),
        (Packet(MESSAGE, "b"), "4b"),
    ],
)
def test_text_packet_text_form(packet: Packet, text: str, version: int) -> None:
    assert encode_text(packet, version) == text
    assert decode_text(text, version) == packet


def test_binary_text_form_v4() -> None:
    packet = Packet(MESSAGE, b"\x01\x02\x03\x04")
    assert encode_text(packet, 4) == "bAQIDBA=="
    assert decode_text("bAQIDBA==", 4) == packet
    assert decode_text("b", 4) == Packet(MESSAGE, b"")


def test_binary_text_form_v3() -> None:
    packet = Packet(MESSAGE, b"\x01\x02\x03\x04")
    assert encode_text(packet, 3) == "b4AQIDBA=="
    assert decode_text("b4AQIDBA==", 3) == packet
    assert decode_text("b2", 3) == Packet(PacketType.PING, b"")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("text", ["", "7", "9x", "a", "-1", " 4", "\x00", "٤hello"])
def test_decode_text_bad_type(text: str, version: int) -> None:
    with pytest.raises(ParseError):
        decode_text(text, version)


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("b", 3),
        ("b7AQID", 3),
        ("bxAQID", 3),
        ("b4AQI", 3),  # missing padding
        ("b4A=QI", 3),
        ("b4AQ!D", 3),
        ("b4AQID€", 3),
        ("bAQI", 4),
        ("bAQ ID", 4),
        ("bAQIDBA==AA", 4),
        ("b€", 4),
    ],
)
def test_decode_text_bad_binary(text: str, version: int) -> None:
    with pytest.raises(ParseError):
        decode_text(text, version)


@pytest.mark.parametrize("version", VERSIONS)
@given(packet=text_packets)
def test_text_round_trip(packet: Packet, version: int) -> None:
    assert decode_text(encode_text(packet, version), version) == packet


@given(packet=binary_v3_packets)
def test_binary_text_round_trip_v3(packet: Packet) -> None:
    assert decode_text(encode_text(packet, 3), 3) == packet


@given(packet=binary_v4_packets)
def test_binary_text_round_trip_v4(packet: Packet) -> None:
    assert decode_text(encode_text(packet, 4), 4) == packet


@given(text=st.text(), version=st.sampled_from(VERSIONS))
def test_decode_text_total(text: str, version: int) -> None:
    try:
        packet = decode_text(text, version)
    except ParseError:
        return
    assert isinstance(packet, Packet)
    assert isinstance(packet.type, PacketType)


# --- WebSocket frames -----------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("b64", [False, True])
def test_ws_text_frames(version: int, b64: bool) -> None:
    assert encode_ws(Packet(MESSAGE, "hello"), version, b64) == "4hello"
    assert encode_ws(Packet(PacketType.PONG, "probe"), version, b64) == "3probe"
    assert decode_ws("2probe", version) == Packet(PacketType.PING, "probe")
    assert decode_ws("5", version) == Packet(PacketType.UPGRADE)


def test_ws_binary_v4() -> None:
    packet = Packet(MESSAGE, b"\x01\x02\x03\x04")
    assert encode_ws(packet, 4) == b"\x01\x02\x03\x04"
    assert encode_ws(packet, 4, b64=True) == "bAQIDBA=="  # a client that cannot read binary
    assert decode_ws(b"\x01\x02\x03\x04", 4) == packet
    assert decode_ws(b"", 4) == Packet(MESSAGE, b"")
    assert decode_ws(b"\x04abc", 4) == Packet(MESSAGE, b"\x04abc")
    assert decode_ws(cast("bytes", bytearray(b"\x09")), 4) == Packet(MESSAGE, b"\x09")
    assert decode_ws("bAQIDBA==", 4) == packet


def test_ws_binary_v4_non_message() -> None:
    with pytest.raises(ValueError, match="messages"):
        encode_ws(Packet(PacketType.PING, b"x"), 4)


def test_ws_binary_v3() -> None:
    packet = Packet(MESSAGE, b"\x01\x02\x03\x04")
    assert encode_ws(packet, 3) == b"\x04\x01\x02\x03\x04"
    assert encode_ws(packet, 3, b64=True) == "b4AQIDBA=="
    assert decode_ws(b"\x04\x01\x02\x03\x04", 3) == packet
    assert decode_ws("b4AQIDBA==", 3) == packet
    assert decode_ws(b"\x06", 3) == Packet(PacketType.NOOP, b"")
    assert decode_ws(cast("bytes", memoryview(b"\x02ab")), 3) == Packet(PacketType.PING, b"ab")


@pytest.mark.parametrize("frame", [b"", b"\x07", b"\xff\x01", b"4hello"])
def test_ws_binary_v3_bad(frame: bytes) -> None:
    with pytest.raises(ParseError):
        decode_ws(frame, 3)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("frame", ["", "8", "x", "b!"])
def test_ws_text_bad(frame: str, version: int) -> None:
    with pytest.raises(ParseError):
        decode_ws(frame, version)


@pytest.mark.parametrize("b64", [False, True])
@given(packet=st.one_of(text_packets, binary_v3_packets))
def test_ws_round_trip_v3(packet: Packet, b64: bool) -> None:
    frame = encode_ws(packet, 3, b64)
    assert isinstance(frame, bytes) == (packet.binary and not b64)
    assert decode_ws(frame, 3) == packet


@given(packet=st.one_of(text_packets, binary_v4_packets))
def test_ws_round_trip_v4(packet: Packet) -> None:
    frame = encode_ws(packet, 4)
    assert isinstance(frame, bytes) == packet.binary
    assert decode_ws(frame, 4) == packet


@given(frame=st.one_of(st.binary(), st.text()), version=st.sampled_from(VERSIONS))
@example(frame="b", version=4)  # a binary message as text (b64 clients), empty
@example(frame="bAQI=", version=4)
def test_decode_ws_total(frame: str | bytes, version: int) -> None:
    try:
        packet = decode_ws(frame, version)
    except ParseError:
        return
    assert isinstance(packet, Packet)
    assert isinstance(packet.type, PacketType)
    if version == 4:
        # A binary frame, or a text frame "b<base64>", carries a binary message.
        binary = isinstance(frame, bytes) or frame.startswith("b")
        assert isinstance(packet.data, bytes if binary else str)
    else:
        assert isinstance(packet.data, str | bytes)
