"""Tests of the v3 polling payloads: UTF-16 length-prefixed text and XHR2 binary."""

from __future__ import annotations

import json
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engineio_core.protocol.errors import ParseError
from engineio_core.protocol.packets import Packet, PacketType
from engineio_core.protocol.payload_v3 import (
    decode_payload,
    decode_payload_binary,
    decode_payload_text,
    encode_payload_binary,
    encode_payload_text,
    utf16_len,
)

MESSAGE = PacketType.MESSAGE
BINARY_MESSAGE = Packet(MESSAGE, b"\x01\x02\x03\x04")

v3_packets = st.one_of(
    st.builds(Packet, st.sampled_from(PacketType), st.text()),
    st.builds(Packet, st.sampled_from(PacketType), st.binary()),
)


# --- UTF-16 lengths -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("", 0),
        ("hello", 5),
        ("€", 1),
        ("é中", 2),
        ("😀", 2),
        ("4😀", 3),
        ("a😀b😀", 6),
        ("\U0010ffff", 2),
        ("\uffff", 1),
        ("\ud800", 1),  # a lone surrogate is one code unit
    ],
)
def test_utf16_len(text: str, length: int) -> None:
    assert utf16_len(text) == length


@given(text=st.text())
def test_utf16_len_matches_encoding(text: str) -> None:
    assert utf16_len(text) == len(text.encode("utf-16-le")) // 2
    assert utf16_len(text) == len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


# --- text payload ---------------------------------------------------------


def test_worked_example_2() -> None:
    packets = [Packet(MESSAGE, "€"), Packet(MESSAGE, "😀")]
    body = encode_payload_text(packets)
    assert body == "2:4€3:4😀"
    assert body.encode() == bytes.fromhex("32 3a 34 e2 82 ac 33 3a 34 f0 9f 98 80")
    assert decode_payload_text(body.encode()) == packets
    assert decode_payload_text(body) == packets
    assert decode_payload(body.encode(), binary=False) == packets


def test_worked_example_3_as_text() -> None:
    packets = [Packet(MESSAGE, "€"), BINARY_MESSAGE]
    body = encode_payload_text(packets)
    assert body == "2:4€10:b4AQIDBA=="
    assert decode_payload_text(body.encode()) == packets


def test_open_packet_length() -> None:
    handshake = {
        "sid": "A1b2C3d4E5f6G7h8I9j0",
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1000000,
    }
    data = json.dumps(handshake, separators=(",", ":"))
    assert len(data) == 117
    body = encode_payload_text([Packet(PacketType.OPEN, data)])
    assert body == "118:0" + data
    assert decode_payload_text(body.encode()) == [Packet(PacketType.OPEN, data)]


def test_empty_payload() -> None:
    assert encode_payload_text([]) == "0:"
    assert decode_payload_text(b"0:") == []
    # zero-length records carry nothing and are skipped, as in JS
    assert decode_payload_text(b"0:1:60:") == [Packet(PacketType.NOOP)]


@pytest.mark.parametrize(
    ("body", "packets"),
    [
        ("1:6", [Packet(PacketType.NOOP)]),
        ("6:2probe1:3", [Packet(PacketType.PING, "probe"), Packet(PacketType.PONG)]),
        ("01:6", [Packet(PacketType.NOOP)]),  # leading zeros, as JS Number()
        ("2:4:", [Packet(MESSAGE, ":")]),
        ("3:4😀1:5", [Packet(MESSAGE, "😀"), Packet(PacketType.UPGRADE)]),
        ("5:4😀😀", [Packet(MESSAGE, "😀😀")]),
        ("6:4😀1:22:41", [Packet(MESSAGE, "😀1:2"), Packet(MESSAGE, "1")]),
        ("2:4中1:6", [Packet(MESSAGE, "中"), Packet(PacketType.NOOP)]),
        ("6:b4AQID", [Packet(MESSAGE, b"\x01\x02\x03")]),
        ("2:b4", [Packet(MESSAGE, b"")]),
    ],
)
def test_decode_text_cases(body: str, packets: list[Packet]) -> None:
    assert decode_payload_text(body.encode()) == packets


@pytest.mark.parametrize(
    "body",
    [
        "",
        ":",
        ":4a",
        "2",
        "2:",
        "2:4",  # past the end
        "3:4a",
        "2:4ab",  # leftover without ':'
        "2:4a1",
        "2:4ax:",
        "a:4a",
        "-2:4a",
        "+2:4a",
        " 2:4a",
        "2 :4a",
        "1e1:4aaaaaaaaa",
        "٢:4a",  # non-ASCII digit
        "1:7",
        "1:x",
        "1:b",
        "3:b4=",
        "3:b2=",
        "3:b4A",
        "2:4😀",  # ends inside a surrogate pair
        "3:4😀😀",
        "1:😀",
        "4:4😀",  # past the end in units
        "3:4😀x",
        "2:4中2:4😀",
        "123456789012345678901:4",
        "1" * 100,
    ],
)
def test_decode_text_errors(body: str) -> None:
    with pytest.raises(ParseError):
        decode_payload_text(body.encode())


def test_decode_text_invalid_utf8() -> None:
    with pytest.raises(ParseError):
        decode_payload_text(b"2:4\xff")
    with pytest.raises(ParseError):
        decode_payload_text(b"2:4\xe2\x82")


def test_decode_text_large_bodies() -> None:
    ascii_packets = [Packet(MESSAGE, "x" * (i % 300)) for i in range(7000)]
    body = encode_payload_text(ascii_packets).encode()
    assert len(body) > 1_000_000
    assert decode_payload_text(body) == ascii_packets
    astral_packets = [Packet(MESSAGE, "é😀" * (i % 90)) for i in range(7000)]
    body = encode_payload_text(astral_packets).encode()
    assert len(body) > 1_000_000
    assert decode_payload_text(body) == astral_packets


@given(packets=st.lists(v3_packets))
def test_text_round_trip(packets: list[Packet]) -> None:
    body = encode_payload_text(packets)
    assert decode_payload_text(body.encode()) == packets
    assert decode_payload_text(body) == packets


@given(body=st.binary())
def test_decode_text_any_bytes(body: bytes) -> None:
    try:
        packets = decode_payload_text(body)
    except ParseError:
        return
    assert all(isinstance(p, Packet) for p in packets)


@given(body=st.lists(st.sampled_from(["0", "1", "2", "3", ":", "4", "😀", "€", "b", "A"])))
def test_decode_text_any_structured(body: list[str]) -> None:
    try:
        packets = decode_payload_text("".join(body).encode())
    except ParseError:
        return
    assert all(isinstance(p, Packet) for p in packets)


@given(packets=st.lists(v3_packets, min_size=1), data=st.data())
def test_decode_text_truncated(packets: list[Packet], data: st.DataObject) -> None:
    body = encode_payload_text(packets)
    cut = data.draw(st.integers(min_value=1, max_value=len(body)))
    try:
        decoded = decode_payload_text(body[:cut])
    except ParseError:
        return
    assert decoded == packets[: len(decoded)]


# --- XHR2 binary payload --------------------------------------------------


def test_worked_example_3() -> None:
    packets = [Packet(MESSAGE, "€"), BINARY_MESSAGE]
    body = encode_payload_binary(packets)
    assert body == bytes.fromhex("00 04 ff 34 e2 82 ac 01 05 ff 04 01 02 03 04")
    assert decode_payload_binary(body) == packets
    assert decode_payload(body, binary=True) == packets


def test_binary_length_digits() -> None:
    packet = Packet(MESSAGE, "x" * 11)  # 12 bytes with the type
    body = encode_payload_binary([packet])
    assert body.startswith(bytes.fromhex("00 01 02 ff"))
    assert decode_payload_binary(body) == [packet]
    big = Packet(MESSAGE, b"\x00" * 1233)
    body = encode_payload_binary([big])
    assert body[:6] == bytes.fromhex("01 01 02 03 04 ff")
    assert body[6] == 4
    assert decode_payload_binary(body) == [big]


def test_binary_cases() -> None:
    assert encode_payload_binary([]) == b""
    assert decode_payload_binary(b"\x01\x01\xff\x06") == [Packet(PacketType.NOOP, b"")]
    assert decode_payload_binary(b"\x00\x01\xff6") == [Packet(PacketType.NOOP)]
    noop = [Packet(PacketType.NOOP)]
    assert decode_payload_binary(cast("bytes", bytearray(b"\x00\x01\xff6"))) == noop
    # a string packet may carry base64 binary, like any v3 text packet
    assert decode_payload_binary(b"\x00\x06\xffb4AQI=") == [Packet(MESSAGE, b"\x01\x02")]
    assert decode_payload_binary(b"\x00\x00\x01\xff6") == [Packet(PacketType.NOOP)]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x02\x01\xff6",
        b"\x00",
        b"\x00\xff",
        b"\x00\x01",
        b"\x00\x01\xff",
        b"\x00\x02\xff6",
        b"\x00\x0a\xff6",
        b"\x00\x31\xff6",
        b"\x00\x00\xff",  # empty string packet
        b"\x01\x00\xff",  # empty binary packet (no type byte)
        b"\x01\x01\xff\x07",
        b"\x00\x01\xff7",
        b"\x00\x02\xff4\xff",
        b"\x00\x01\xff6\x00",
        b"\x00\x01\xff6\x00\x01",
        b"\x00" + b"\x01" * 30 + b"\xff",
        b"\x00\x01\xff6\x03",
    ],
)
def test_binary_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        decode_payload_binary(body)


def test_binary_large_body() -> None:
    packets = [
        Packet(MESSAGE, b"\x00" * (i % 500)) if i % 2 else Packet(MESSAGE, "é" * (i % 300))
        for i in range(5000)
    ]
    body = encode_payload_binary(packets)
    assert len(body) > 1_000_000
    assert decode_payload_binary(body) == packets


@given(packets=st.lists(v3_packets, min_size=1))
def test_binary_round_trip(packets: list[Packet]) -> None:
    assert decode_payload_binary(encode_payload_binary(packets)) == packets


@given(body=st.binary())
def test_decode_binary_any_bytes(body: bytes) -> None:
    try:
        packets = decode_payload_binary(body)
    except ParseError:
        return
    assert all(isinstance(p, Packet) for p in packets)


@given(
    body=st.lists(
        st.sampled_from([b"\x00", b"\x01", b"\x02", b"\x04", b"\xff", b"6", b"4", b"\xe2\x82\xac"])
    )
)
def test_decode_binary_any_structured(body: list[bytes]) -> None:
    try:
        packets = decode_payload_binary(b"".join(body))
    except ParseError:
        return
    assert all(isinstance(p, Packet) for p in packets)


@given(body=st.binary(), binary=st.booleans())
def test_decode_payload_any_bytes(body: bytes, binary: bool) -> None:
    try:
        packets = decode_payload(body, binary)
    except ParseError:
        return
    assert all(isinstance(p, Packet) for p in packets)
