"""The cluster's message encoding: every envelope and request survives the trip."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engineio_core.cluster.wire import (
    Envelope,
    Kind,
    WireError,
    decode,
    encode,
    request_from,
    request_head,
    response_from,
    response_head,
)
from engineio_core.protocol.http import Request, Response

# Header values as servers hand them over: any text, lone surrogates included
# (bytes that are not UTF-8, decoded with surrogate escapes).
texts = st.text(st.characters(codec=None), max_size=30)


@given(st.sampled_from(list(Kind)), st.integers(0, 2**53),
       st.dictionaries(texts, texts, max_size=4), st.binary(max_size=200))
def test_envelopes_round_trip(kind: Kind, call: int, head: dict[str, str], body: bytes) -> None:
    envelope = Envelope(kind, "ab-_", call, head, body)
    assert decode(encode(envelope)) == envelope


@given(st.sampled_from(["GET", "POST"]), st.dictionaries(texts, texts, max_size=4),
       st.dictionaries(texts, texts, max_size=4), st.binary(max_size=100),
       st.none() | st.tuples(texts, st.integers(0, 65535)))
def test_requests_and_responses_round_trip(method: str, query: dict[str, str],
                                           headers: dict[str, str], body: bytes,
                                           client: tuple[str, int] | None) -> None:
    request = Request(method, query, headers, b"", client, "https", "/engine.io/")
    sent = decode(encode(Envelope(Kind.REQUEST, "node", 1, request_head(request), body)))
    assert request_from(sent.head, sent.body) == Request(
        method, query, headers, body, client, "https", "/engine.io/")
    response = Response(200, list(headers.items()), body)
    sent = decode(encode(Envelope(Kind.RESPONSE, "node", 1, response_head(response), body)))
    assert response_from(sent.head, sent.body) == response


def test_what_is_not_a_message_is_refused() -> None:
    for data in (b"", b"\x00\x00\x00\x09[]", b"\x00\x00\x00\x02{}",
                 b"\x00\x00\x00\x0f[\"?\",\"n\",0,{}]", b"\x00\x00\x00\x0f[\"req\",1,0,{}]xx"):
        try:
            decode(data)
        except WireError:
            continue
        raise AssertionError(f"{data!r} decoded")
