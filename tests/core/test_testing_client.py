"""engineio_core.testing: the sans-I/O client model against the real engine.

Each test delivers what :class:`ClientModel` builds to an
:class:`~engineio_core.protocol.engine.Engine` by hand (the few lines of
:class:`Harness`), with a :class:`FakeClock` for time: no socket, no sleep, no mock.
"""

from __future__ import annotations

import gzip
from typing import Any
from urllib.parse import parse_qs

import pytest

from engineio_core.protocol.config import ServerConfig
from engineio_core.protocol.engine import Engine, Handshake, PostBody
from engineio_core.protocol.errors import ParseError
from engineio_core.protocol.events import Disconnect, DisconnectReason, Message, Upgraded
from engineio_core.protocol.http import Request, Response
from engineio_core.protocol.packets import Packet, PacketType
from engineio_core.protocol.session import Channel
from engineio_core.testing import (
    ClientModel,
    FakeClock,
    Received,
    ResponseError,
    body_json,
    decompressed,
    header,
    header_values,
    message_data,
)

VERSIONS = pytest.mark.parametrize("version", [4, 3])
HOST = {"host": "localhost"}


class Harness:
    """The engine, a fake clock, and the delivery of a client's requests to them."""

    def __init__(self, **options: Any) -> None:
        self.engine = Engine(ServerConfig.from_options(**options))
        self.clock = FakeClock()
        self.held: list[Channel] = []

    def http(self, request: Request) -> Response | None:
        """Deliver a polling request; ``None`` when the engine holds the GET."""
        now = self.clock.now
        outcome = self.engine.handle_request(request, now)
        if isinstance(outcome, Handshake):
            outcome = self.engine.accept(outcome, now)
        elif isinstance(outcome, PostBody):
            outcome = self.engine.handle_body(outcome, request.body, now)
        if isinstance(outcome, Channel):
            self.held.append(outcome)
            return None
        return outcome

    def released(self) -> list[Response]:
        """The responses of held GETs the engine made ready."""
        out = []
        for channel in self.engine.take_ready():
            assert not channel.websocket
            assert channel.response is not None
            self.held.remove(channel)
            out.append(channel.response)
        return out

    def open(self, client: ClientModel) -> Received:
        response = self.http(client.handshake_request())
        assert response is not None
        return client.open(response)

    def poll(self, client: ClientModel) -> list[Packet]:
        response = self.http(client.poll_request())
        assert response is not None, "the GET was held"
        return client.decode_poll(response)

    def post(self, client: ClientModel, *packets: Packet | str | bytes) -> Response:
        response = self.http(client.post_request(packets))
        assert response is not None
        return response

    def messages(self) -> list[str | bytes]:
        """Application messages the engine received since the last call."""
        return [e.data for e in self.engine.events_received() if isinstance(e, Message)]

    def fire_timers_until(self, when: float) -> None:
        while (deadline := self.engine.get_timer()) is not None and deadline <= when:
            self.clock.now = deadline
            self.engine.handle_timer(deadline)
        self.clock.now = when


# ---------------------------------------------------------------- polling round trips


def test_v4_open_post_and_poll() -> None:
    server = Harness(ping_interval=5, ping_timeout=3, max_http_buffer_size=5000)
    client = ClientModel(4, headers=HOST)
    received = server.open(client)
    assert received.opened
    assert received.messages == []
    assert client.sid is not None
    assert server.engine.has_session(client.sid)
    assert (client.ping_interval, client.ping_timeout, client.max_payload) == (5.0, 3.0, 5000)
    assert client.upgrades == ["websocket"]
    assert client.open_data["sid"] == client.sid

    response = server.post(client, "héllo", b"\x00\xff")
    assert (response.status, response.body) == (200, b"ok")
    assert server.messages() == ["héllo", b"\x00\xff"]

    server.engine.send(client.sid, "hi")
    server.engine.send(client.sid, b"\x01\x02")
    packets = server.poll(client)
    assert message_data(packets) == ["hi", b"\x01\x02"]
    assert client.receive(packets) == Received(messages=["hi", b"\x01\x02"])


def test_v3_binary_payloads_both_ways() -> None:
    server = Harness()
    client = ClientModel(3, headers=HOST)
    server.open(client)
    body, content_type = client.encode_post(["€", b"\x01\x02"])
    assert content_type == "application/octet-stream"
    assert body == bytes.fromhex("00 04 ff 34 e2 82 ac 01 03 ff 04 01 02")
    assert server.post(client, "€", b"\x01\x02").status == 200
    assert server.messages() == ["€", b"\x01\x02"]

    assert client.sid is not None
    server.engine.send(client.sid, "€")
    server.engine.send(client.sid, b"\xff")
    response = server.http(client.poll_request())
    assert response is not None
    assert header(response, "content-type") == "application/octet-stream"
    assert message_data(client.decode_poll(response)) == ["€", b"\xff"]


def test_v3_text_payload_without_binary() -> None:
    client = ClientModel(3)
    assert client.encode_post(["a€", Packet(PacketType.PING)]) == (
        "3:4a€1:2".encode(), "text/plain;charset=UTF-8")


def test_v3_b64_asks_for_text_and_sends_text() -> None:
    server = Harness()
    client = ClientModel(3, b64=True, headers=HOST)
    assert client.handshake_request().query["b64"] == "1"
    server.open(client)
    body, content_type = client.encode_post([b"\x01\x02\x03\x04"])
    assert (body, content_type) == (b"10:b4AQIDBA==", "text/plain;charset=UTF-8")
    assert server.post(client, b"\x01\x02\x03\x04").status == 200
    assert server.messages() == [b"\x01\x02\x03\x04"]

    assert client.sid is not None
    server.engine.send(client.sid, b"\x01\x02\x03\x04")
    response = server.http(client.poll_request())
    assert response is not None
    assert response.body == b"10:b4AQIDBA=="
    assert message_data(client.decode_poll(response)) == [b"\x01\x02\x03\x04"]


@VERSIONS
def test_jsonp_both_ways(version: int) -> None:
    server = Harness()
    client = ClientModel(version, jsonp="3", headers=HOST)
    assert client.handshake_request().query["j"] == "3"
    server.open(client)
    tricky: list[str | bytes] = ["two\nlines", "back\\nslash", "a\u2028b\"", b"\x00\x01"]
    body, content_type = client.encode_post(tricky)
    assert content_type == "application/x-www-form-urlencoded"
    assert "\n" not in parse_qs(body.decode())["d"][0]  # escaped as the JS client does
    assert server.post(client, *tricky).status == 200
    assert server.messages() == tricky

    assert client.sid is not None
    for data in tricky:
        server.engine.send(client.sid, data)
    response = server.http(client.poll_request())
    assert response is not None
    assert response.body.startswith(b'___eio[3]("')
    assert message_data(client.decode_poll(response)) == tricky


def test_jsonp_is_for_polling_only() -> None:
    client = ClientModel(4, jsonp="1")
    client.sid = "s"
    assert "j" not in client.probe_request().query
    assert client.poll_request().query["j"] == "1"


def test_jsonp_callback_must_be_ours() -> None:
    client = ClientModel(4, jsonp="1")
    other = Response(200, [("Content-Type", "text/plain; charset=UTF-8")], b'___eio[2]("4x");')
    with pytest.raises(ParseError, match="JSONP callback"):
        client.decode_poll(other)
    with pytest.raises(ParseError, match="not a JSONP body"):
        client.decode_poll(Response(200, [], b"4x"))


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_polling_responses_are_read(encoding: str) -> None:
    server = Harness()
    client = ClientModel(4, headers={**HOST, "accept-encoding": encoding})
    server.open(client)
    assert client.sid is not None
    server.engine.send(client.sid, "x" * 4000)
    response = server.http(client.poll_request())
    assert response is not None
    assert header(response, "content-encoding") == encoding
    assert len(response.body) < 4000
    assert message_data(client.decode_poll(response)) == ["x" * 4000]


def test_v4_binary_polling_payload_is_a_parse_error() -> None:
    body = Response(200, [("Content-Type", "application/octet-stream")], b"\x01\x01\xff\x04")
    with pytest.raises(ParseError, match=r"Engine\.IO 4"):
        ClientModel(4).decode_poll(body)
    assert ClientModel(3).decode_poll(body) == [Packet(PacketType.MESSAGE, b"")]


# ---------------------------------------------------------------- heartbeats and closing


def test_v4_answers_pings_and_the_session_lives() -> None:
    server = Harness(ping_interval=1, ping_timeout=0.5)
    client, silent = ClientModel(4, headers=HOST), ClientModel(4, headers=HOST)
    server.open(client)
    server.open(silent)
    assert server.http(client.poll_request()) is None  # held until the ping
    server.fire_timers_until(server.clock.now + 1)
    [response] = server.released()
    received = client.receive(client.decode_poll(response))
    assert received.replies == [Packet(PacketType.PONG)]
    assert server.post(client, *received.replies).status == 200
    server.fire_timers_until(server.clock.now + 0.6)
    assert client.sid is not None
    assert silent.sid is not None
    assert server.engine.has_session(client.sid)
    assert not server.engine.has_session(silent.sid)  # it never answered its ping
    [disconnect] = [e for e in server.engine.events_received() if isinstance(e, Disconnect)]
    assert (disconnect.sid, disconnect.reason) == (silent.sid, DisconnectReason.PING_TIMEOUT)


def test_v3_client_pings_and_ignores_the_pong() -> None:
    server = Harness(ping_interval=1, ping_timeout=0.5)
    client = ClientModel(3, headers=HOST)
    server.open(client)
    ping = client.heartbeat()
    assert ping == Packet(PacketType.PING)
    assert ClientModel(4).heartbeat() is None
    server.fire_timers_until(server.clock.now + 1)
    assert server.post(client, ping).status == 200
    server.fire_timers_until(server.clock.now + 1)  # past the first deadline: still alive
    received = client.receive(server.poll(client))
    assert received == Received()  # the PONG needs no answer
    assert client.sid is not None
    assert server.engine.has_session(client.sid)


def test_close_packet_from_the_server() -> None:
    server = Harness()
    client = ClientModel(4, headers=HOST)
    server.open(client)
    assert client.sid is not None
    server.engine.send(client.sid, "bye")
    server.engine.close(client.sid, server.clock.now)
    received = client.receive(server.poll(client))
    assert received.messages == ["bye"]
    assert received.closed
    assert client.closed


def test_close_packet_from_the_client() -> None:
    server = Harness()
    client = ClientModel(4, headers=HOST)
    server.open(client)
    assert server.post(client, Packet(PacketType.CLOSE)).status == 200
    [disconnect] = server.engine.events_received()
    assert isinstance(disconnect, Disconnect)
    assert disconnect.reason is DisconnectReason.CLIENT_DISCONNECT


# ---------------------------------------------------------------- WebSocket


@VERSIONS
def test_websocket_only_session(version: int) -> None:
    server = Harness()
    client = ClientModel(version, headers=HOST)
    handshake = server.engine.handle_websocket(client.handshake_request("websocket"),
                                               server.clock.now)
    assert isinstance(handshake, Handshake)
    channel = server.engine.accept(handshake, server.clock.now)
    assert isinstance(channel, Channel)
    frames = server.engine.data_to_send(channel)
    received = client.receive(client.decode_frame(f) for f in frames)
    assert received.opened
    assert client.sid == handshake.sid
    assert client.upgrades == []

    for data in ("hi", b"\x00\x01"):
        assert server.engine.receive_ws(channel, client.encode_frame(data),
                                        server.clock.now) == data
    server.engine.send(handshake.sid, "back")
    server.engine.send(handshake.sid, b"\x02")
    server.engine.take_ready()
    frames = server.engine.data_to_send(channel)
    assert client.receive(client.decode_frame(f) for f in frames).messages == ["back", b"\x02"]


def test_v3_binary_frames_carry_the_type_byte() -> None:
    assert ClientModel(3).encode_frame(b"\x07") == b"\x04\x07"
    assert ClientModel(4).encode_frame(b"\x07") == b"\x07"
    assert ClientModel(3, b64=True).encode_frame(b"\x07") == "b4Bw=="
    assert ClientModel(3).decode_frame(b"\x04\x07") == Packet(PacketType.MESSAGE, b"\x07")


@VERSIONS
def test_upgrade_from_polling(version: int) -> None:
    server = Harness()
    client = ClientModel(version, headers=HOST)
    server.open(client)
    probe = server.engine.handle_websocket(client.probe_request(), server.clock.now)
    assert isinstance(probe, Channel)
    assert server.engine.receive_ws(probe, client.probe_frame(), server.clock.now) is None
    server.engine.take_ready()
    [answer] = server.engine.data_to_send(probe)
    assert client.is_probe_answer(answer)
    assert not client.is_probe_answer(client.probe_frame())
    server.engine.receive_ws(probe, client.upgrade_frame(), server.clock.now)
    assert client.sid is not None
    assert server.engine.events_received() == [Upgraded(client.sid)]
    assert server.engine.session_info(client.sid).transport == "websocket"
    assert server.engine.receive_ws(probe, client.encode_frame("now"), server.clock.now) == "now"


def test_v4_answers_a_ping_frame() -> None:
    client = ClientModel(4)
    received = client.receive([client.decode_frame("2")])
    assert [client.encode_frame(p) for p in received.replies] == ["3"]


# ---------------------------------------------------------------- refusals and errors


def test_refused_handshake_is_a_response_error() -> None:
    server = Harness()
    client = ClientModel(4, headers=HOST)
    handshake = server.engine.handle_request(client.handshake_request(), server.clock.now)
    assert isinstance(handshake, Handshake)
    with pytest.raises(ResponseError) as refused:
        client.open(server.engine.reject(handshake, "no token"))
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        403, 4, "no token")
    assert str(refused.value) == "HTTP 403: no token"
    assert client.sid is None


def test_unsupported_version_is_a_response_error() -> None:
    server = Harness(protocol_versions=[4])
    client = ClientModel(3, headers=HOST)
    response = server.http(client.handshake_request())
    assert response is not None
    with pytest.raises(ResponseError) as failed:
        client.decode_poll(response)
    assert (failed.value.status, failed.value.code) == (400, 5)
    assert body_json(response)["code"] == 5


def test_response_error_of_a_plain_body() -> None:
    error = ResponseError(Response(502, [], b"bad gateway"))
    assert (error.status, error.code, error.message) == (502, None, "bad gateway")


def test_open_needs_an_open_packet_first() -> None:
    client = ClientModel(4)
    with pytest.raises(ParseError, match="open packet first"):
        client.open(Response(200, [], b"4hello"))
    with pytest.raises(ParseError, match="invalid open packet"):
        client.receive([Packet(PacketType.OPEN, "[]")])


# ---------------------------------------------------------------- requests


def test_requests_carry_the_protocol_query() -> None:
    client = ClientModel(3, headers={"x-a": "1"}, query={"token": "t", "EIO": "9"},
                         path="/rt/", address=("10.0.0.1", 4))
    hello = client.handshake_request()
    assert dict(hello.query) == {"token": "t", "EIO": "3", "transport": "polling"}
    assert (hello.method, hello.path, hello.client, dict(hello.headers)) == (
        "GET", "/rt/", ("10.0.0.1", 4), {"x-a": "1"})
    with pytest.raises(RuntimeError, match="not open"):
        client.poll_request()
    with pytest.raises(RuntimeError, match="not open"):
        client.post_request(["x"])
    client.sid = "abc"
    assert client.poll_request().query["sid"] == "abc"
    post = client.post_request(["x"])
    assert (post.method, post.body) == ("POST", b"2:4x")
    assert post.headers["content-length"] == "4"
    assert post.headers["content-type"] == "text/plain;charset=UTF-8"
    probe = client.probe_request()
    assert (probe.query["transport"], probe.query["sid"]) == ("websocket", "abc")
    forged = client.build_request("PUT", with_sid=False, headers={"x-a": "2"},
                                  query={"EIO": "7"})
    assert "sid" not in forged.query
    assert (forged.method, forged.query["EIO"], forged.headers["x-a"]) == ("PUT", "7", "2")


def test_only_versions_3_and_4() -> None:
    with pytest.raises(ValueError, match="3 or 4"):
        ClientModel(5)


# ---------------------------------------------------------------- helpers


def test_fake_clock() -> None:
    clock = FakeClock()
    assert clock.now == 1000.0
    assert clock.advance(0.25) == 1000.25
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_response_helpers() -> None:
    response = Response(200, [("Set-Cookie", "a=1"), ("set-cookie", "b=2"),
                              ("Content-Encoding", "gzip")], gzip.compress(b"body"))
    assert header_values(response, "SET-COOKIE") == ["a=1", "b=2"]
    assert header(response, "x-missing") is None
    with pytest.raises(ValueError, match="2 times"):
        header(response, "set-cookie")
    assert decompressed(response) == b"body"
    with pytest.raises(ValueError, match="Content-Encoding"):
        decompressed(Response(200, [("Content-Encoding", "br")], b""))
    with pytest.raises(ValueError, match="not a JSON response"):
        body_json(response)
