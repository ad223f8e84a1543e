"""Tests of the v4 polling payload (packets joined by ``\\x1e``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engineio_core.protocol.errors import ParseError
from engineio_core.protocol.packets import Packet, PacketType
from engineio_core.protocol.payload_v4 import decode_payload, encode_payload

MESSAGE = PacketType.MESSAGE

v4_packets = st.one_of(
    st.builds(
        Packet,
        st.sampled_from(PacketType),
        st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x1e")),
    ),
    st.builds(Packet, st.just(MESSAGE), st.binary()),
)


def test_worked_example_1() -> None:
    packets = [Packet(MESSAGE, "hello"), Packet(MESSAGE, b"\x01\x02\x03\x04")]
    body = encode_payload(packets)
    assert body == "4hello\x1ebAQIDBA=="
    assert body.encode() == bytes.fromhex("34 68 65 6c 6c 6f 1e 62 41 51 49 44 42 41 3d 3d")
    assert decode_payload(body.encode()) == packets
    assert decode_payload(body) == packets


def test_open_packet() -> None:
    handshake = {
        "sid": "a" * 20,
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1000000,
    }
    data = json.dumps(handshake, separators=(",", ":"))
    assert encode_payload([Packet(PacketType.OPEN, data)]) == "0" + data


def test_single_and_empty_packets() -> None:
    assert encode_payload([Packet(PacketType.NOOP)]) == "6"
    assert decode_payload(b"6") == [Packet(PacketType.NOOP)]
    assert decode_payload(b"1") == [Packet(PacketType.CLOSE)]
    assert decode_payload(b"4") == [Packet(MESSAGE, "")]
    assert decode_payload(b"4\x1e4") == [Packet(MESSAGE, ""), Packet(MESSAGE, "")]


def test_non_ascii() -> None:
    packets = [Packet(MESSAGE, "€"), Packet(MESSAGE, "😀")]
    body = "4€\x1e4😀".encode()
    assert encode_payload(packets).encode() == body
    assert decode_payload(body) == packets


def test_many_packets() -> None:
    packets = [Packet(MESSAGE, str(i)) for i in range(5000)]
    body = encode_payload(packets).encode()
    assert decode_payload(body) == packets


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x1e",
        b"4a\x1e",
        b"\x1e4a",
        b"4a\x1e\x1e4b",
        b"7",
        b"4a\x1e9",
        b"b!!",
        b"bAQI",
        b"4\xff",
        b"4\xe2\x82",
        b"\xed\xa0\x80",  # encoded surrogate
    ],
)
def test_bad_payloads(body: bytes) -> None:
    with pytest.raises(ParseError):
        decode_payload(body)


@given(packets=st.lists(v4_packets, min_size=1))
def test_round_trip(packets: list[Packet]) -> None:
    body = encode_payload(packets)
    assert decode_payload(body.encode()) == packets
    assert decode_payload(body) == packets


@given(body=st.binary())
def test_decode_any_bytes(body: bytes) -> None:
    try:
        packets = decode_payload(body)
    except ParseError:
        return
    assert packets
    assert all(isinstance(p, Packet) for p in packets)


@given(body=st.lists(st.sampled_from(["4", "b", "\x1e", "A", "=", "0", "7", "é"])).map("".join))
def test_decode_any_structured_text(body: str) -> None:
    try:
        packets = decode_payload(body.encode())
    except ParseError:
        return
    assert len(packets) == body.count("\x1e") + 1
