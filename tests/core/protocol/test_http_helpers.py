"""The neutral HTTP helpers: query parsing (its fast path agrees with ``parse_qsl``)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from engineio_core.protocol.http import parse_query


def reference(query: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        out.setdefault(key, value)
    return out


def test_typical_engineio_query() -> None:
    assert parse_query("EIO=4&transport=polling&t=OaBc&sid=abc-_DEF") == {
        "EIO": "4", "transport": "polling", "t": "OaBc", "sid": "abc-_DEF"}


def test_first_value_wins_blank_values_kept_empty_fields_skipped() -> None:
    assert parse_query("a=1&&a=2&b&c=&=x&d=1=2") == {"a": "1", "b": "", "c": "", "": "x",
                                                     "d": "1=2"}


def test_escapes_and_plus_are_decoded() -> None:
    assert parse_query("sid=a%2Fb&name=x+y&j=%E2%82%AC") == {"sid": "a/b", "name": "x y",
                                                              "j": "\u20ac"}


def test_bytes_are_latin_1() -> None:
    assert parse_query(b"EIO=3&x=\xe9") == {"EIO": "3", "x": "\xe9"}


@given(st.lists(st.tuples(st.text("ab=&%+;2F\u00e9 ", max_size=4),
                          st.text("ab=&%+;2F\u00e9 ", max_size=4)), max_size=5),
       st.booleans())
def test_agrees_with_parse_qsl(pairs: list[tuple[str, str]], bare: bool) -> None:
    query = "&".join(key if bare and not value else f"{key}={value}" for key, value in pairs)
    assert parse_query(query) == reference(query)
    assert parse_query(query.encode("latin-1")) == reference(query)
