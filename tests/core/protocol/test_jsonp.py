"""Tests of the JSONP envelope: the response wrapper and the form POST body."""

from __future__ import annotations

import json
from urllib.parse import quote_plus, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engineio_core.protocol.errors import ParseError
from engineio_core.protocol.jsonp import decode_jsonp_body, sanitize_jsonp_index, wrap_jsonp
from engineio_core.protocol.packets import Packet, PacketType
from engineio_core.protocol.payload_v3 import decode_payload_text, encode_payload_text


def test_worked_example_4() -> None:
    text = encode_payload_text([Packet(PacketType.MESSAGE, "hello")])
    assert wrap_jsonp("0", text) == '___eio[0]("6:4hello");'
    assert decode_jsonp_body(b"d=6%3A4hello") == "6:4hello"
    assert decode_payload_text(decode_jsonp_body(b"d=6%3A4hello")) == [
        Packet(PacketType.MESSAGE, "hello")
    ]


def test_wrap_escapes() -> None:
    assert wrap_jsonp("12", 'a"b\\c\nd') == '___eio[12]("a\\"b\\\\c\\nd");'
    assert wrap_jsonp("1", "\u2028x\u2029") == '___eio[1]("\\u2028x\\u2029");'
    assert wrap_jsonp("1", "€😀") == '___eio[1]("€😀");'
    assert wrap_jsonp("", "") == '___eio[]("");'


@given(payload=st.text())
def test_wrap_is_valid_json_call(payload: str) -> None:
    body = wrap_jsonp("3", payload)
    assert body.startswith("___eio[3](")
    assert body.endswith(");")
    inner = body[len("___eio[3](") : -2]
    assert "\u2028" not in inner
    assert "\u2029" not in inner
    assert json.loads(inner) == payload


@pytest.mark.parametrize(
    ("raw", "index"),
    [("0", "0"), ("123", "123"), ("1a2", "12"), ("", ""), ("abc", ""), ("٣4", "4"), ("-1", "1")],
)
def test_sanitize_index(raw: str, index: str) -> None:
    assert sanitize_jsonp_index(raw) == index


@given(raw=st.text())
def test_sanitize_index_only_ascii_digits(raw: str) -> None:
    index = sanitize_jsonp_index(raw)
    assert all(c in "0123456789" for c in index)
    assert index == "".join(c for c in raw if c in "0123456789")


@pytest.mark.parametrize(
    ("body", "payload"),
    [
        (b"d=4hello", "4hello"),
        (b"d=4hello+world", "4hello world"),
        (b"d=4a%2Bb", "4a+b"),
        (b"d=", ""),
        (b"d", ""),
        (b"x=1&d=3%3A4ab", "3:4ab"),
        (b"d=4%E2%82%AC", "4€"),
        ("d=4€".encode(), "4€"),
        # backslash n -> newline
        (b"d=4a%5Cnb", "4a\nb"),
        # two backslashes n -> backslash n
        (b"d=4a%5C%5Cnb", "4a\\nb"),
        # three backslashes n: the last two are kept, then become one
        (b"d=4a%5C%5C%5Cnb", "4a\\\\nb"),
        (b"d=%5Cn%5Cn", "\n\n"),
        (b"d=4%5C", "4\\"),
        (b"d=4n", "4n"),
    ],
)
def test_decode_body(body: bytes, payload: str) -> None:
    assert decode_jsonp_body(body) == payload


def test_decode_body_client_escaping_round_trip() -> None:
    # engine.io-client: backslash-n -> backslash + newline, then newline -> backslash-n.
    original = 'line1\nline2 with a literal \\n and "quotes"'
    escaped = original.replace("\\n", "\\\n").replace("\n", "\\n")
    assert decode_jsonp_body(urlencode({"d": escaped}).encode()) == original


@pytest.mark.parametrize("body", [b"", b"x=1", b"d=1&d=2", b"d=%FF", b"d=\xff", b"D=4a"])
def test_decode_body_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        decode_jsonp_body(body)


@given(payload=st.text())
def test_decode_body_round_trip_without_backslash_n(payload: str) -> None:
    if "\\n" in payload:
        return
    assert decode_jsonp_body(("d=" + quote_plus(payload)).encode()) == payload


@given(body=st.binary())
def test_decode_any_bytes(body: bytes) -> None:
    try:
        payload = decode_jsonp_body(body)
    except ParseError:
        return
    assert isinstance(payload, str)


@given(body=st.lists(st.sampled_from(["d=", "d", "&", "=", "%5C", "n", "\\", "%", "+", "4"])))
def test_decode_any_form(body: list[str]) -> None:
    try:
        payload = decode_jsonp_body("".join(body).encode())
    except ParseError:
        return
    assert isinstance(payload, str)
