"""Handshake tests (PROTOCOL.md §3): the open packet, response extras, accept hooks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.core.protocol.peers import Client, Server, body_json, header, text_messages

from engineio_core.protocol.engine import Handshake
from engineio_core.protocol.http import Request, Response
from engineio_core.protocol.packets import Packet, PacketType
from engineio_core.protocol.session import Channel

KEYS = ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]


def expected_open(sid: str, upgrades: list[str], interval: int = 25000, timeout: int = 20000,
                  max_payload: int = 1000000) -> str:
    fields = {"sid": sid, "upgrades": upgrades, "pingInterval": interval,
              "pingTimeout": timeout, "maxPayload": max_payload}
    return "0" + json.dumps(fields, separators=(",", ":"))


def test_v4_polling_handshake_body_is_exact() -> None:
    server = Server()
    client = Client(server, 4)
    response = client.open()
    assert client.sid is not None
    assert len(client.sid) == 20
    assert response.body.decode() == expected_open(client.sid, ["websocket"])
    assert list(client.open_data) == KEYS
    assert header(response, "content-type") == "text/plain; charset=UTF-8"
    assert header(response, "cache-control") == "no-store"
    assert header(response, "content-length") == str(len(response.body))


def test_v3_polling_handshake_body_is_length_prefixed_text() -> None:
    server = Server()
    client = Client(server, 3)  # supports binary (no b64): still text
    response = client.open()
    assert client.sid is not None
    assert len(client.sid) == 20
    packet = expected_open(client.sid, ["websocket"])
    assert len(packet) == 118
    assert response.body.decode() == f"118:{packet}"
    assert header(response, "content-type") == "text/plain; charset=UTF-8"
    assert list(client.open_data) == KEYS


def test_default_sids_are_distinct() -> None:
    server = Server()
    sids = set()
    for _ in range(50):
        client = Client(server)
        client.open()
        sids.add(client.sid)
    assert len(sids) == 50


@pytest.mark.parametrize("version", [4, 3])
def test_websocket_only_handshake_first_frame_is_open(version: int) -> None:
    server = Server()
    client = Client(server, version)
    socket = client.open_ws()
    frames = socket.receive()
    assert client.sid is not None
    assert frames == [expected_open(client.sid, [])]
    assert socket.close_code is None


@pytest.mark.parametrize("version", [4, 3])
def test_ping_values_are_reported_verbatim(version: int) -> None:
    server = Server(ping_interval=0.3, ping_timeout=0.2)
    client = Client(server, version)
    client.open()
    assert client.open_data["pingInterval"] == 300
    assert client.open_data["pingTimeout"] == 200


@pytest.mark.parametrize("version", [4, 3])
def test_max_payload_is_advertised(version: int) -> None:
    server = Server(max_http_buffer_size=5000)
    client = Client(server, version)
    client.open()
    assert client.open_data["maxPayload"] == 5000


@pytest.mark.parametrize(
    "options",
    [{"allow_upgrades": False}, {"transports": ["polling"]}],
    ids=["no-upgrades", "polling-only"],
)
def test_upgrades_empty_when_upgrades_impossible(options: dict[str, Any]) -> None:
    server = Server(**options)
    client = Client(server)
    client.open()
    assert client.open_data["upgrades"] == []


def test_cookie_option_sets_sid_cookie() -> None:
    server = Server(cookie="io")
    client = Client(server)
    response = client.open()
    assert header(response, "set-cookie") == f"io={client.sid}; Path=/; HttpOnly; SameSite=Lax"


def test_no_cookie_by_default() -> None:
    server = Server()
    response = Client(server).open()
    assert header(response, "set-cookie") is None


def test_handshake_headers_hook_adds_headers() -> None:
    seen: list[Request] = []

    def hook(request: Request) -> list[tuple[str, str]]:
        seen.append(request)
        return [("X-Custom", "yes"), ("Set-Cookie", "lang=en")]

    server = Server(handshake_headers=hook)
    client = Client(server, headers={"x-from": "client"})
    response = client.open()
    assert header(response, "x-custom") == "yes"
    assert header(response, "set-cookie") == "lang=en"
    assert len(seen) == 1
    assert seen[0].headers["x-from"] == "client"
    # Only the handshake response carries them.
    poll = client.get()
    assert poll.is_held()
    server.send(client.sid, "x")
    assert poll.response is not None
    assert header(poll.response, "x-custom") is None


def test_sid_generator_receives_the_request() -> None:
    seen: list[Request] = []

    def generate(request: Request) -> str:
        seen.append(request)
        return "custom-" + request.headers["x-user"]

    server = Server(sid_generator=generate)
    client = Client(server, headers={"x-user": "alice"})
    client.open()
    assert client.sid == "custom-alice"
    assert [r.headers["x-user"] for r in seen] == ["alice"]
    assert seen[0].query["transport"] == "polling"
    # The custom sid works on later requests.
    server.send("custom-alice", "hi")
    assert text_messages(client.poll()) == ["hi"]


def test_sid_generator_duplicate_id_is_bad_request() -> None:
    server = Server(sid_generator=lambda _request: "same")
    Client(server).open()
    outcome = Client(server).request("GET", with_sid=False)
    assert isinstance(outcome, Response)
    assert outcome.status == 400
    assert body_json(outcome) == {"code": 3, "message": "Bad request"}


@pytest.mark.parametrize("version", [4, 3])
def test_allow_request_refusal_with_message_is_403_code_4(version: int) -> None:
    server = Server(allow_request=lambda request: "go away")
    outcome = Client(server, version).request("GET", with_sid=False)
    assert isinstance(outcome, Response)
    assert outcome.status == 403
    assert body_json(outcome) == {"code": 4, "message": "go away"}
    assert server.engine.session_count() == 0


def test_allow_request_false_is_403_forbidden() -> None:
    server = Server(allow_request=lambda request: False)
    outcome = Client(server).request("GET", with_sid=False)
    assert isinstance(outcome, Response)
    assert outcome.status == 403
    assert body_json(outcome) == {"code": 4, "message": "Forbidden"}


def test_allow_request_sees_request_and_can_accept() -> None:
    seen: list[str] = []

    def allow(request: Request) -> bool:
        seen.append(request.headers.get("authorization", ""))
        return request.headers.get("authorization") == "token"

    server = Server(allow_request=allow)
    Client(server, headers={"authorization": "token"}).open()
    refused = Client(server, headers={"authorization": "nope"}).request("GET", with_sid=False)
    assert isinstance(refused, Response)
    assert refused.status == 403
    assert seen == ["token", "nope"]


def test_allow_request_refuses_websocket_handshake() -> None:
    server = Server(allow_request=lambda request: "no sockets")
    client = Client(server)
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket", with_sid=False), server.now
    )
    assert isinstance(outcome, Response)
    assert outcome.status == 403
    assert body_json(outcome) == {"code": 4, "message": "no sockets"}


@pytest.mark.parametrize("message", [None, "not today"])
def test_reject_is_403_and_forgets_the_session(message: str | None) -> None:
    server = Server()
    client = Client(server)
    handshake = client.handshake()
    response = server.engine.reject(handshake, message)
    assert response.status == 403
    assert body_json(response) == {"code": 4, "message": message or "Forbidden"}
    assert not server.engine.has_session(handshake.sid)
    client.sid = handshake.sid
    outcome = client.request("GET")
    assert isinstance(outcome, Response)
    assert outcome.status == 400
    assert body_json(outcome)["code"] == 1
    assert server.disconnects() == []


def test_request_before_accept_is_unknown_sid() -> None:
    server = Server()
    client = Client(server)
    handshake = client.handshake()
    client.sid = handshake.sid
    outcome = client.request("GET")
    assert isinstance(outcome, Response)
    assert outcome.status == 400
    assert body_json(outcome) == {"code": 1, "message": "Session ID unknown"}
    # The deferred accept still works afterwards.
    response = server.engine.accept(handshake, server.now)
    assert isinstance(response, Response)
    assert response.status == 200


@pytest.mark.parametrize("version", [4, 3])
def test_message_sent_before_accept_follows_the_open_packet(version: int) -> None:
    server = Server()
    client = Client(server, version)
    handshake = client.handshake()
    server.engine.send(handshake.sid, "welcome")
    response = server.engine.accept(handshake, server.now)
    assert isinstance(response, Response)
    client.sid = handshake.sid
    packets = client.decode(response)
    assert packets[0].type is PacketType.OPEN
    rest = packets[1:] if len(packets) > 1 else client.poll()
    assert rest == [Packet(PacketType.MESSAGE, "welcome")]


@pytest.mark.parametrize("version", [4, 3])
def test_websocket_message_sent_before_accept_follows_open(version: int) -> None:
    server = Server()
    client = Client(server, version)
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket", with_sid=False), server.now
    )
    assert isinstance(outcome, Handshake)
    assert outcome.websocket
    server.engine.send(outcome.sid, "welcome")
    channel = server.engine.accept(outcome, server.now)
    assert isinstance(channel, Channel)
    frames = server.engine.data_to_send(channel)
    first = frames[0]
    assert isinstance(first, str)
    assert first.startswith("0{")
    assert frames[1:] == ["4welcome"]
