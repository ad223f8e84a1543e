"""Polling transport (PROTOCOL.md §5, §9, §10): GET, POST, overlap, close, limits, encodings."""

from __future__ import annotations

import gzip
import zlib
from typing import Any
from urllib.parse import urlencode

import pytest
from tests.core.protocol.peers import (
    Client,
    Poll,
    Server,
    body_json,
    header,
    text_messages,
)

from engineio_core.protocol.engine import _CLIENT_CLOSED_MAX, CLIENT_CLOSE_GET_GRACE
from engineio_core.protocol.errors import SessionUnknown
from engineio_core.protocol.events import Disconnect, DisconnectReason, Message
from engineio_core.protocol.http import Response
from engineio_core.protocol.packets import Packet, PacketType

MESSAGE = PacketType.MESSAGE
CLOSE = Packet(PacketType.CLOSE)
NOOP = Packet(PacketType.NOOP)
VERSIONS = pytest.mark.parametrize("version", [4, 3])


def opened(version: int = 4, **options: Any) -> tuple[Server, Client]:
    server = Server(**options)
    client = Client(server, version)
    client.open()
    return server, client


def assert_unknown(client: Client) -> None:
    for method in ("GET", "POST"):
        outcome = client.request(method, body=b"1:4x" if client.version == 3 else b"4x")
        assert isinstance(outcome, Response), outcome
        assert outcome.status == 400
        assert body_json(outcome) == {"code": 1, "message": "Session ID unknown"}


def one_disconnect(server: Server, sid: str | None, reason: DisconnectReason) -> Disconnect:
    disconnects = server.disconnects()
    assert [(d.sid, d.reason) for d in disconnects] == [(sid, reason)], disconnects
    return disconnects[0]


# ---------------------------------------------------------------- GET


def test_v4_get_returns_every_buffered_packet_in_one_payload() -> None:
    server, client = opened(4)
    for data in ("a", "b", b"\x01\x02\x03\x04"):
        server.send(client.sid, data)
    poll = client.get()
    assert poll.response is not None
    assert poll.response.body == b"4a\x1e4b\x1ebAQIDBA=="
    assert header(poll.response, "content-type") == "text/plain; charset=UTF-8"
    assert header(poll.response, "cache-control") == "no-store"
    # Buffer emptied: the next GET is held.
    assert client.get().is_held()


def test_v3_get_returns_every_buffered_packet_in_one_payload() -> None:
    server, client = opened(3)
    for data in ("a", "€", "😀"):
        server.send(client.sid, data)
    poll = client.get()
    assert poll.response is not None
    assert poll.response.body == "2:4a2:4€3:4😀".encode()
    assert header(poll.response, "content-type") == "text/plain; charset=UTF-8"
    assert client.get().is_held()


@VERSIONS
def test_held_get_is_released_by_send(version: int) -> None:
    server, client = opened(version)
    poll = client.get()
    assert poll.is_held()
    server.send(client.sid, "hello")
    assert poll.response is not None
    assert client.decode(poll.response) == [Packet(MESSAGE, "hello")]
    # Later sends wait for the next GET.
    server.send(client.sid, "again")
    assert text_messages(client.poll()) == ["again"]


# ---------------------------------------------------------------- POST


@VERSIONS
def test_post_is_200_ok_text_html(version: int) -> None:
    _server, client = opened(version)
    response = client.post("hi")
    assert response.status == 200
    assert response.body == b"ok"
    assert (header(response, "content-type") or "").startswith("text/html")
    assert header(response, "content-length") == "2"
    assert header(response, "cache-control") == "no-store"


@VERSIONS
def test_posted_messages_become_events_in_order(version: int) -> None:
    server, client = opened(version)
    client.post("one", "two", Packet(MESSAGE, b"\x00\xff"), "three")
    events = server.take_events()
    assert events == [
        Message(client.sid or "", "one"),
        Message(client.sid or "", "two"),
        Message(client.sid or "", b"\x00\xff"),
        Message(client.sid or "", "three"),
    ]


def test_v3_binary_post_body_is_decoded() -> None:
    server, client = opened(3)
    body = bytes.fromhex("00 04 ff 34 e2 82 ac 01 05 ff 04 01 02 03 04")
    response = client.post_raw(body, content_type="application/octet-stream")
    assert response.status == 200
    assert server.messages() == ["€", b"\x01\x02\x03\x04"]


@VERSIONS
def test_more_than_16_packets_in_one_post_are_all_delivered(version: int) -> None:
    server, client = opened(version)
    sent = [f"m{i}" for i in range(500)]
    assert client.post(*sent).status == 200
    assert server.messages() == sent


def test_v4_octet_stream_post_is_400_and_closes_with_transport_error() -> None:
    server, client = opened(4)
    poll = client.get()
    response = client.post_raw(b"4hello", content_type="application/octet-stream")
    assert response.status == 400
    assert server.messages() == []
    assert poll.response is not None
    assert client.decode(poll.response) == [CLOSE]
    one_disconnect(server, client.sid, DisconnectReason.TRANSPORT_ERROR)
    assert_unknown(client)


@VERSIONS
def test_content_length_over_max_is_413_early_and_closes(version: int) -> None:
    server, client = opened(version, max_http_buffer_size=100)
    poll = client.get()
    outcome = client.request("POST", headers={"content-length": "101"})
    assert isinstance(outcome, Response), "413 must come before the body is read"
    assert outcome.status == 413
    assert poll.response is not None
    assert client.decode(poll.response) == [CLOSE]
    disconnect = one_disconnect(server, client.sid, DisconnectReason.TRANSPORT_ERROR)
    assert disconnect.detail == "payload too large"
    assert_unknown(client)


@VERSIONS
def test_body_over_max_without_content_length_is_413(version: int) -> None:
    server, client = opened(version, max_http_buffer_size=100)
    body = (b"4" + b"x" * 100) if version == 4 else b"101:4" + b"x" * 100
    response = client.post_raw(body, content_length=False)
    assert response.status == 413
    assert server.messages() == []
    one_disconnect(server, client.sid, DisconnectReason.TRANSPORT_ERROR)
    assert_unknown(client)


@VERSIONS
def test_body_of_exactly_max_is_accepted(version: int) -> None:
    server, client = opened(version, max_http_buffer_size=100)
    body = (b"4" + b"x" * 99) if version == 4 else b"97:4" + b"x" * 96
    assert len(body) == 100
    response = client.post_raw(body)
    assert response.status == 200
    assert len(server.messages()) == 1


# ---------------------------------------------------------------- overlap


@VERSIONS
def test_duplicate_get_is_400_and_first_get_gets_close(version: int) -> None:
    server, client = opened(version)
    first = client.get()
    assert first.is_held()
    second = client.get()
    assert second.response is not None
    assert second.response.status == 400
    assert first.response is not None
    assert client.decode(first.response) == [CLOSE]
    if version == 3:
        assert first.response.body == b"1:1"
    else:
        assert first.response.body == b"1"
    one_disconnect(server, client.sid, DisconnectReason.TRANSPORT_ERROR)
    assert_unknown(client)


@VERSIONS
def test_overlapping_post_is_400_and_closes(version: int) -> None:
    server, client = opened(version)
    first = client.request("POST", headers={"content-length": "3"})
    assert not isinstance(first, Response)
    second = client.request("POST", headers={"content-length": "3"})
    assert isinstance(second, Response)
    assert second.status == 400
    one_disconnect(server, client.sid, DisconnectReason.TRANSPORT_ERROR)
    assert_unknown(client)


@VERSIONS
def test_sequential_posts_are_fine(version: int) -> None:
    server, client = opened(version)
    for i in range(5):
        assert client.post(str(i)).status == 200
    assert server.messages() == ["0", "1", "2", "3", "4"]


# ---------------------------------------------------------------- client close


@VERSIONS
def test_client_close_releases_pending_get_with_noop(version: int) -> None:
    server, client = opened(version)
    poll = client.get()
    response = client.post(CLOSE)
    assert response.status == 200
    assert response.body == b"ok"
    assert poll.response is not None
    assert poll.response.body == (b"6" if version == 4 else b"1:6")
    one_disconnect(server, client.sid, DisconnectReason.CLIENT_DISCONNECT)
    assert_unknown(client)


@VERSIONS
def test_client_close_without_pending_get(version: int) -> None:
    server, client = opened(version)
    assert client.post(CLOSE).status == 200
    one_disconnect(server, client.sid, DisconnectReason.CLIENT_DISCONNECT)
    server.advance(CLIENT_CLOSE_GET_GRACE + 0.01)
    assert_unknown(client)
    with pytest.raises(SessionUnknown):
        server.engine.send(client.sid or "", "late")


@VERSIONS
def test_a_get_sent_along_with_the_close_gets_its_noop(version: int) -> None:
    """The client sent its GET and its close at once and the close was read first:
    the GET gets the noop it would have got the other way round; the next is 400."""
    server, client = opened(version)
    assert client.post(CLOSE).status == 200
    one_disconnect(server, client.sid, DisconnectReason.CLIENT_DISCONNECT)
    server.advance(CLIENT_CLOSE_GET_GRACE / 2)
    assert client.poll() == [Packet(PacketType.NOOP)]
    assert_unknown(client)
    assert server.engine.session_count() == 0  # nothing of it is counted meanwhile


def test_the_closes_remembered_for_a_late_get_are_bounded() -> None:
    """Closes faster than the grace expires: the newest sids are remembered (their
    late GET gets its noop), the oldest forgotten (400), at most
    _CLIENT_CLOSED_MAX of them; an expired one is forgotten as well."""
    server, first = opened()
    assert first.post(CLOSE).status == 200
    clients = [Client(server, 4) for _ in range(_CLIENT_CLOSED_MAX)]
    for client in clients:
        client.open()
        assert client.post(CLOSE).status == 200
    assert_unknown(first)  # pushed out by the bound
    assert clients[-1].poll() == [Packet(PacketType.NOOP)]
    server.advance(CLIENT_CLOSE_GET_GRACE + 0.01)
    late = Client(server, 4)
    late.open()
    assert late.post(CLOSE).status == 200
    assert_unknown(clients[-2])  # expired
    assert late.poll() == [Packet(PacketType.NOOP)]


@VERSIONS
def test_packets_after_client_close_are_ignored(version: int) -> None:
    server, client = opened(version)
    client.post("before", CLOSE, "after", Packet(PacketType.PING))
    events = server.take_events()
    assert events == [
        Message(client.sid or "", "before"),
        Disconnect(client.sid or "", DisconnectReason.CLIENT_DISCONNECT),
    ]


# ---------------------------------------------------------------- server close


@VERSIONS
def test_server_close_with_pending_get_sends_close(version: int) -> None:
    server, client = opened(version)
    poll = client.get()
    server.close(client.sid)
    assert poll.response is not None
    assert poll.response.body == (b"1" if version == 4 else b"1:1")
    one_disconnect(server, client.sid, DisconnectReason.SERVER_DISCONNECT)
    assert_unknown(client)


@VERSIONS
def test_server_close_flushes_buffer_then_close_on_next_get(version: int) -> None:
    server, client = opened(version)
    server.send(client.sid, "bye")
    server.close(client.sid)
    one_disconnect(server, client.sid, DisconnectReason.SERVER_DISCONNECT)
    poll = client.get()
    assert poll.response is not None
    assert poll.response.body == (b"4bye\x1e1" if version == 4 else b"4:4bye1:1")
    assert_unknown(client)
    assert server.disconnects() == []


@VERSIONS
def test_server_close_without_pending_get_next_get_gets_noop_close(version: int) -> None:
    server, client = opened(version)
    server.close(client.sid)
    one_disconnect(server, client.sid, DisconnectReason.SERVER_DISCONNECT)
    # The session is closed for sending and POSTs ...
    with pytest.raises(SessionUnknown):
        server.engine.send(client.sid or "", "late")
    post = client.request("POST", body=b"4x")
    assert isinstance(post, Response)
    assert post.status == 400
    # ... but the last GET still gets its packets.
    poll = client.get()
    assert poll.response is not None
    assert poll.response.body == (b"6\x1e1" if version == 4 else b"1:61:1")
    assert_unknown(client)


@VERSIONS
def test_closing_grace_expires(version: int) -> None:
    server, client = opened(version, ping_interval=0.3, ping_timeout=0.2)
    server.close(client.sid)
    one_disconnect(server, client.sid, DisconnectReason.SERVER_DISCONNECT)
    server.advance(29.9)  # no heartbeat runs on a closing session
    assert server.engine.has_session(client.sid or "")
    assert server.disconnects() == []
    server.advance(0.1)
    assert not server.engine.has_session(client.sid or "")
    assert_unknown(client)
    assert server.disconnects() == []
    assert server.next_deadline() is None


@VERSIONS
def test_server_close_is_idempotent(version: int) -> None:
    server, client = opened(version)
    server.close(client.sid)
    server.close(client.sid)
    one_disconnect(server, client.sid, DisconnectReason.SERVER_DISCONNECT)


@VERSIONS
def test_shutdown_closes_every_session(version: int) -> None:
    server = Server()
    held = Client(server, version)
    held.open()
    poll = held.get()
    idle = Client(server, version)
    idle.open()
    ws_client = Client(server, version)
    socket = ws_client.open_ws()
    socket.receive()
    server.engine.shutdown(server.now)
    disconnects = server.disconnects()
    assert sorted((d.sid, d.reason) for d in disconnects) == sorted(
        (c.sid or "", DisconnectReason.SERVER_DISCONNECT) for c in (held, idle, ws_client)
    )
    assert poll.response is not None
    assert held.decode(poll.response) == [CLOSE]
    assert socket.receive() == ["1"]
    assert socket.close_code == 1000


# ---------------------------------------------------------------- invalid payloads


@pytest.mark.parametrize(
    ("version", "body"),
    [(4, b"abc"), (4, b"9"), (4, b""), (4, b"4a\x1e\x1e4b"), (4, b"b!!!"),
     (3, b"abc"), (3, b"x:4a"), (3, b"5:4a"), (3, b"2:4a1"), (3, b""), (3, b"2:9a")],
)
def test_invalid_payload_closes_with_parse_error(version: int, body: bytes) -> None:
    server, client = opened(version)
    poll = client.get()
    response = client.post_raw(body)
    assert response.status in (200, 400)
    assert poll.response is not None
    assert client.decode(poll.response) == [CLOSE]
    disconnects = server.disconnects()
    assert [(d.sid, d.reason) for d in disconnects] == [
        (client.sid, DisconnectReason.PARSE_ERROR)
    ]
    assert_unknown(client)


# ---------------------------------------------------------------- compression


def big_session(accept_encoding: str | None, size: int = 4000) -> tuple[Client, Response]:
    server, client = opened(4)
    server.send(client.sid, "x" * size)
    headers = {} if accept_encoding is None else {"accept-encoding": accept_encoding}
    outcome = client.request("GET", headers=headers)
    assert isinstance(outcome, Response)
    return client, outcome


def test_gzip_is_preferred() -> None:
    _client, response = big_session("deflate, gzip;q=0.9, br")
    assert header(response, "content-encoding") == "gzip"
    assert header(response, "content-length") == str(len(response.body))
    assert len(response.body) < 4000
    assert gzip.decompress(response.body) == b"4" + b"x" * 4000


def test_deflate_is_zlib_wrapped() -> None:
    _client, response = big_session("deflate")
    assert header(response, "content-encoding") == "deflate"
    assert zlib.decompress(response.body) == b"4" + b"x" * 4000


def test_body_below_threshold_is_identity() -> None:
    _client, response = big_session("gzip, deflate", size=1022)  # 1023 bytes with the type
    assert header(response, "content-encoding") is None
    assert response.body == b"4" + b"x" * 1022


def test_body_at_threshold_is_compressed() -> None:
    _client, response = big_session("gzip", size=1023)  # 1024 bytes
    assert header(response, "content-encoding") == "gzip"


def test_no_accept_encoding_is_identity() -> None:
    _client, response = big_session(None)
    assert header(response, "content-encoding") is None
    assert response.body == b"4" + b"x" * 4000


def test_unknown_encoding_only_is_identity() -> None:
    _client, response = big_session("br")
    assert header(response, "content-encoding") is None


def test_compression_disabled() -> None:
    server, client = opened(4, http_compression=False)
    server.send(client.sid, "x" * 4000)
    outcome = client.request("GET", headers={"accept-encoding": "gzip"})
    assert isinstance(outcome, Response)
    assert header(outcome, "content-encoding") is None


def test_held_get_response_is_compressed_too() -> None:
    server, client = opened(4)
    poll = Poll(server, client.engine.handle_request(
        client.make_request("GET", headers={"accept-encoding": "gzip"}), server.now))  # type: ignore[arg-type]
    assert poll.is_held()
    server.send(client.sid, "y" * 3000)
    assert poll.response is not None
    assert header(poll.response, "content-encoding") == "gzip"
    assert client.decode(poll.response) == [Packet(MESSAGE, "y" * 3000)]


# ---------------------------------------------------------------- v3 binary / b64 / JSONP


def test_v3_binary_payload_when_binary_packet_is_queued() -> None:
    server, client = opened(3)
    server.send(client.sid, "€")
    server.send(client.sid, b"\x01\x02\x03\x04")
    poll = client.get()
    assert poll.response is not None
    assert header(poll.response, "content-type") == "application/octet-stream"
    assert poll.response.body == bytes.fromhex("00 04 ff 34 e2 82 ac 01 05 ff 04 01 02 03 04")


def test_v3_text_payload_when_no_binary_packet_is_queued() -> None:
    server, client = opened(3)
    server.send(client.sid, "€")
    poll = client.get()
    assert poll.response is not None
    assert header(poll.response, "content-type") == "text/plain; charset=UTF-8"
    assert poll.response.body == "2:4€".encode()


def test_v3_b64_gets_text_with_base64() -> None:
    server = Server()
    client = Client(server, 3, b64=True)
    client.open()
    server.send(client.sid, "€")
    server.send(client.sid, b"\x01\x02\x03\x04")
    poll = client.get()
    assert poll.response is not None
    assert header(poll.response, "content-type") == "text/plain; charset=UTF-8"
    assert poll.response.body == "2:4€10:b4AQIDBA==".encode()


def test_v3_held_get_released_with_binary_payload() -> None:
    server, client = opened(3)
    poll = client.get()
    server.send(client.sid, b"\xff")
    assert poll.response is not None
    assert header(poll.response, "content-type") == "application/octet-stream"
    assert client.decode(poll.response) == [Packet(MESSAGE, b"\xff")]


@VERSIONS
def test_jsonp_get_is_wrapped(version: int) -> None:
    server = Server()
    client = Client(server, version, jsonp="0")
    response = client.open()
    assert response.body.startswith(b'___eio[0]("')
    server.send(client.sid, "hello")
    poll = client.get()
    assert poll.response is not None
    assert poll.response.body == (b'___eio[0]("6:4hello");' if version == 3
                                  else b'___eio[0]("4hello");')


def test_jsonp_escapes_line_separators_and_uses_text_for_binary() -> None:
    server = Server()
    client = Client(server, 3, jsonp="7")
    client.open()
    server.send(client.sid, "a\u2028b\"")
    server.send(client.sid, b"\x01\x02\x03\x04")
    poll = client.get()
    assert poll.response is not None
    body = poll.response.body.decode()
    assert "\u2028" not in body
    assert body == '___eio[7]("5:4a\\u2028b\\"10:b4AQIDBA==");'
    assert client.decode(poll.response) == [Packet(MESSAGE, "a\u2028b\""),
                                            Packet(MESSAGE, b"\x01\x02\x03\x04")]


@VERSIONS
def test_jsonp_get_content_type_is_text_plain(version: int) -> None:
    # PROTOCOL.md §9: polling GET (v4, v3 text, JSONP) is text/plain; charset=UTF-8.
    server = Server()
    client = Client(server, version, jsonp="0")
    client.open()
    server.send(client.sid, "hello")
    poll = client.get()
    assert poll.response is not None
    assert header(poll.response, "content-type") == "text/plain; charset=UTF-8"


@VERSIONS
def test_jsonp_post_form_body(version: int) -> None:
    server = Server()
    client = Client(server, version, jsonp="0")
    client.open()
    body = b"d=6%3A4hello" if version == 3 else b"d=4hello"
    response = client.post_raw(body, content_type="application/x-www-form-urlencoded")
    assert response.status == 200
    assert response.body == b"ok"
    assert server.messages() == ["hello"]
    # The client escapes a newline as backslash-n; the server turns it back.
    payload = "12:4line1\nline2" if version == 3 else "4line1\nline2"
    form = urlencode({"d": payload.replace("\n", "\\n")}).encode()
    assert b"%5Cn" in form
    assert client.post_raw(form, content_type="application/x-www-form-urlencoded").status == 200
    assert server.messages() == ["line1\nline2"]


@VERSIONS
def test_dropped_poll_connection_is_transport_error(version: int) -> None:
    server, client = opened(version)
    poll = client.get()
    assert poll.channel is not None
    server.engine.poll_dropped(poll.channel, server.now)
    disconnect = one_disconnect(server, client.sid, DisconnectReason.TRANSPORT_ERROR)
    assert disconnect.detail
    assert_unknown(client)


def test_shutdown_during_handshake_forgets_the_session() -> None:
    server = Server()
    client = Client(server)
    handshake = client.handshake()
    server.engine.shutdown(server.now)
    with pytest.raises(SessionUnknown):
        server.engine.accept(handshake, server.now)
    assert server.disconnects() == []
    assert server.engine.session_count() == 0
