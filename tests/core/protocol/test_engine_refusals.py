"""Refusals: every error answer is recorded once (``Engine.refusals_received``), with
engine.io's ``connection_error`` shape (code, message, context), and ``allowed_hosts``."""

from __future__ import annotations

from typing import Any

import pytest
from tests.core.protocol.peers import Client, Server, body_json

from engineio_core.protocol.config import ServerConfig
from engineio_core.protocol.engine import Handshake
from engineio_core.protocol.errors import BadRequest, ConfigError
from engineio_core.protocol.events import Refusal
from engineio_core.protocol.http import Request, Response, host_name
from engineio_core.protocol.packets import Packet, PacketType
from engineio_core.protocol.session import Channel


def only_refusal(server: Server, outcome: object) -> Refusal:
    """The one refusal the last call recorded; it matches the answer it came with."""
    assert isinstance(outcome, Response), outcome
    refusals = server.engine.refusals_received()
    assert len(refusals) == 1, refusals
    refusal = refusals[0]
    assert refusal.status == outcome.status
    assert body_json(outcome) == {"code": refusal.code, "message": refusal.message}
    assert server.engine.refusals_received() == []  # taken: reported once
    return refusal


def ws_request(client: Client, **kwargs: Any) -> Request:
    return client.make_request("GET", transport="websocket", **kwargs)


# ---------------------------------------------------------------- each kind, once


def test_bad_eio_is_one_refusal_code_5() -> None:
    server = Server()
    client = Client(server)
    refusal = only_refusal(server, client.request("GET", with_sid=False, query={"EIO": "7"}))
    assert (refusal.status, refusal.code, refusal.message) == (
        400, 5, "Unsupported protocol version")
    assert refusal.context == {"name": "UNSUPPORTED_PROTOCOL_VERSION", "protocol": "7"}
    assert refusal.sid is None
    assert refusal.request.query["EIO"] == "7"


def test_bad_eio_on_websocket_handshake_is_one_refusal() -> None:
    server = Server()
    client = Client(server)
    outcome = server.engine.handle_websocket(
        ws_request(client, with_sid=False, query={"EIO": "2"}), server.now)
    refusal = only_refusal(server, outcome)
    assert refusal.code == 5
    assert refusal.context["protocol"] == "2"


@pytest.mark.parametrize("transport", ["flashsocket", ""])
def test_bad_transport_is_one_refusal_code_0(transport: str) -> None:
    server = Server()
    refusal = only_refusal(server, Client(server).request(
        "GET", with_sid=False, query={"transport": transport}))
    assert (refusal.status, refusal.code, refusal.message) == (400, 0, "Transport unknown")
    assert refusal.context == {"name": "UNKNOWN_TRANSPORT", "transport": transport}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_sid_is_one_refusal_code_1(method: str) -> None:
    server = Server()
    client = Client(server)
    client.sid = "nope"
    refusal = only_refusal(server, client.request(method, body=b"4x"))
    assert (refusal.status, refusal.code, refusal.message) == (400, 1, "Session ID unknown")
    assert refusal.context == {"name": "UNKNOWN_SID", "sid": "nope"}
    assert refusal.sid == "nope"
    assert refusal.detail == "no such session"


def test_unknown_sid_on_websocket_is_one_refusal() -> None:
    server = Server()
    client = Client(server)
    client.sid = "nope"
    refusal = only_refusal(server, server.engine.handle_websocket(ws_request(client), server.now))
    assert refusal.code == 1
    assert refusal.sid == "nope"


def test_post_to_a_session_closed_meanwhile_is_one_refusal() -> None:
    server = Server()
    client = Client(server)
    client.open()
    post = client.request("POST", headers={"content-length": "2"})
    server.close(client.sid)
    response = server.engine.handle_body(post, b"4x", server.now)  # type: ignore[arg-type]
    refusal = only_refusal(server, response)
    assert refusal.context["name"] == "UNKNOWN_SID"
    assert refusal.sid == client.sid


@pytest.mark.parametrize("origins", [None, ["https://good.example"]])
def test_origin_not_allowed_is_one_refusal_code_3(origins: list[str] | None) -> None:
    server = Server(cors_allowed_origins=origins)
    client = Client(server, headers={"origin": "https://evil.example"})
    refusal = only_refusal(server, client.request("GET", with_sid=False))
    assert (refusal.status, refusal.code, refusal.message) == (400, 3, "Bad request")
    assert refusal.context == {"name": "ORIGIN_NOT_ALLOWED", "origin": "https://evil.example"}
    assert refusal.detail == "origin 'https://evil.example' is not allowed"


def test_origin_not_allowed_on_websocket_and_on_a_session_is_one_refusal_each() -> None:
    server = Server(cors_allowed_origins=["https://good.example"])
    good = Client(server, headers={"origin": "https://good.example"})
    good.open()
    assert server.engine.refusals_received() == []
    evil = Client(server, headers={"origin": "https://evil.example"})
    refusal = only_refusal(server, server.engine.handle_websocket(
        ws_request(evil, with_sid=False), server.now))
    assert refusal.context["name"] == "ORIGIN_NOT_ALLOWED"
    evil.sid = good.sid
    refusal = only_refusal(server, evil.request("GET"))
    assert refusal.context["name"] == "ORIGIN_NOT_ALLOWED"
    assert refusal.sid == good.sid


def test_origin_with_invalid_characters_is_invalid_origin() -> None:
    server = Server(cors_allowed_origins="*")
    client = Client(server, headers={"origin": "http://a\x00b"})
    refusal = only_refusal(server, client.request("GET", with_sid=False))
    assert refusal.context == {"name": "INVALID_ORIGIN", "origin": "http://a\x00b"}


@pytest.mark.parametrize(("verdict", "message"), [(False, "Forbidden"), ("go away", "go away")])
def test_allow_request_refusal_is_one_refusal_code_4(verdict: bool | str, message: str) -> None:
    server = Server(allow_request=lambda request: verdict)
    refusal = only_refusal(server, Client(server).request("GET", with_sid=False))
    assert (refusal.status, refusal.code, refusal.message) == (403, 4, message)
    assert refusal.context == {"name": "ALLOW_REQUEST_REFUSED",
                               "message": verdict if isinstance(verdict, str) else None}
    assert refusal.detail == f"allow_request returned {verdict!r}"
    assert refusal.sid is None
    assert server.engine.session_count() == 0


def test_allow_request_raising_is_one_refusal_with_the_error() -> None:
    error = RuntimeError("boom")

    def broken(request: Request) -> bool:
        raise error

    server = Server(allow_request=broken)
    refusal = only_refusal(server, Client(server).request("GET", with_sid=False))
    assert (refusal.status, refusal.code) == (400, 3)
    assert refusal.context == {"name": "ALLOW_REQUEST_FAILED", "error": error}


def test_sid_generator_raising_is_id_generation_error() -> None:
    def broken(request: Request) -> str:
        raise ValueError("no ids left")

    server = Server(sid_generator=broken)
    refusal = only_refusal(server, Client(server).request("GET", with_sid=False))
    assert refusal.context["name"] == "ID_GENERATION_ERROR"


def test_connect_refusal_is_one_refusal_code_4_with_the_sid() -> None:
    server = Server()
    handshake = Client(server).handshake()
    assert server.engine.refusals_received() == []  # a handshake waiting is no refusal
    response = server.engine.reject(handshake, "log in first", detail="handler said no")
    refusal = only_refusal(server, response)
    assert (refusal.status, refusal.code, refusal.message) == (403, 4, "log in first")
    assert refusal.context == {"name": "CONNECT_REFUSED", "message": "log in first"}
    assert refusal.sid == handshake.sid
    assert refusal.detail == "handler said no"
    assert refusal.request is handshake.request


def test_connect_refusal_of_a_websocket_handshake_is_one_refusal() -> None:
    server = Server()
    client = Client(server)
    handshake = server.engine.handle_websocket(ws_request(client, with_sid=False), server.now)
    assert isinstance(handshake, Handshake)
    refusal = only_refusal(server, server.engine.reject(handshake))
    assert (refusal.status, refusal.code, refusal.message) == (403, 4, "Forbidden")
    assert refusal.context == {"name": "CONNECT_REFUSED", "message": None}


def test_transport_mismatch_says_both_transports() -> None:
    server = Server()
    client = Client(server)
    client.open_ws()
    refusal = only_refusal(server, client.request("GET"))
    assert refusal.context == {"name": "TRANSPORT_MISMATCH", "transport": "polling",
                               "previous_transport": "websocket"}


@pytest.mark.parametrize(("method", "name"), [("POST", "BAD_HANDSHAKE_METHOD")])
def test_handshake_by_post_is_bad_handshake_method(method: str, name: str) -> None:
    server = Server()
    refusal = only_refusal(server, Client(server).request(method, with_sid=False))
    assert refusal.code == 2
    assert refusal.context == {"name": name, "method": method}


def test_websocket_handshake_without_upgrade_is_transport_handshake_error() -> None:
    server = Server()
    refusal = only_refusal(server, Client(server).request(
        "GET", transport="websocket", with_sid=False))
    assert refusal.context == {"name": "TRANSPORT_HANDSHAKE_ERROR"}


def test_overlapping_get_is_one_refusal() -> None:
    server = Server()
    client = Client(server)
    client.open()
    first = client.get()
    assert first.is_held()
    refusal = only_refusal(server, client.request("GET"))
    assert refusal.context == {"name": "OVERLAPPING_GET"}


def test_body_too_large_is_one_refusal_413() -> None:
    server = Server(max_http_buffer_size=10)
    client = Client(server)
    client.open()
    response = client.post_raw(b"4" + b"x" * 20)
    refusal = only_refusal(server, response)
    assert (refusal.status, refusal.code, refusal.message) == (413, 3, "Payload too large")
    assert refusal.context == {"name": "PAYLOAD_TOO_LARGE", "limit": 10}


def test_unparsable_body_is_one_parse_error_refusal() -> None:
    server = Server()
    client = Client(server, 3)
    client.open()
    refusal = only_refusal(server, client.post_raw(b"9:4x", content_type="text/plain"))
    assert refusal.context["name"] == "PARSE_ERROR"
    assert refusal.sid == client.sid


# ---------------------------------------------------------------- what is not a refusal


def test_a_whole_session_records_no_refusal() -> None:
    """Handshake, preflight, POST, held GET, upgrade, messages, heartbeats, timeout."""
    server = Server(cors_allowed_origins="*", allowed_hosts=["localhost"])
    client = Client(server, headers={"origin": "https://app.example"})
    assert isinstance(client.request("OPTIONS", with_sid=False), Response)
    client.open()
    client.post("hello")
    poll = client.get()
    server.send(client.sid, "queued")
    assert poll.response is not None
    socket = client.upgrade()
    socket.send("4over websocket")
    server.send(client.sid, "back")
    server.advance(25)  # a ping, unanswered: a ping timeout closes the session
    server.advance(20)
    assert not server.engine.has_session(client.sid or "")
    assert server.engine.refusals_received() == []


def test_refusals_are_recorded_in_order_until_taken() -> None:
    server = Server()
    client = Client(server)
    client.request("GET", with_sid=False, query={"EIO": "9"})
    client.sid = "gone"
    client.request("POST", body=b"4x")
    names = [r.context["name"] for r in server.engine.refusals_received()]
    assert names == ["UNSUPPORTED_PROTOCOL_VERSION", "UNKNOWN_SID"]
    assert server.engine.refusals_received() == []


def test_refuse_answers_and_records_a_refusal_from_outside_the_engine() -> None:
    server = Server()
    request = Client(server).make_request("GET", with_sid=False)
    response = server.engine.refuse(request, BadRequest(
        detail="not today", context={"name": "CUSTOM", "why": 1}))
    refusal = only_refusal(server, response)
    assert (refusal.status, refusal.code, refusal.context) == (
        400, 3, {"name": "CUSTOM", "why": 1})
    assert refusal.reason == "not today"


# ---------------------------------------------------------------- allowed_hosts


@pytest.mark.parametrize("host", [
    "example.com", "EXAMPLE.com", "example.com:8000", "example.com.", "api.example.org",
    "example.org", "a.b.example.org:443", "[::1]", "[::1]:8000", "127.0.0.1:5000",
])
def test_allowed_hosts_accept_listed_names(host: str) -> None:
    server = Server(allowed_hosts=["example.com", ".example.org", "[::1]", "127.0.0.1"])
    response = Client(server, headers={"host": host}).open()
    assert response.status == 200
    assert server.engine.refusals_received() == []


@pytest.mark.parametrize("host", [
    "evil.example", "example.com.evil.example", "notexample.org", "example.com:x",
    "[::2]:8000", "[::1", "", "127.0.0.2",
])
def test_allowed_hosts_refuse_other_hosts_on_every_request(host: str) -> None:
    server = Server(allowed_hosts=["example.com", ".example.org", "[::1]", "127.0.0.1"],
                    cors_allowed_origins="*")
    good = Client(server, headers={"host": "example.com"})
    good.open()
    evil = Client(server, headers={"host": host})
    outcomes: list[object] = [
        evil.request("GET", with_sid=False),
        evil.request("OPTIONS", with_sid=False),
        server.engine.handle_websocket(ws_request(evil, with_sid=False), server.now),
    ]
    evil.sid = good.sid
    outcomes += [
        evil.request("GET"),
        evil.request("POST", body=b"4x"),
        server.engine.handle_websocket(ws_request(evil), server.now),
    ]
    refusals = server.engine.refusals_received()
    assert len(refusals) == len(outcomes)
    for outcome, refusal in zip(outcomes, refusals, strict=True):
        assert isinstance(outcome, Response)
        assert (outcome.status, body_json(outcome)) == (400, {"code": 3, "message": "Bad request"})
        assert refusal.context == {"name": "HOST_NOT_ALLOWED", "host": host}
    assert server.engine.has_session(good.sid or "")
    assert server.engine.session_info(good.sid or "").probe is False


def test_missing_host_header_is_refused_when_hosts_are_listed() -> None:
    server = Server(allowed_hosts=["example.com"])
    client = Client(server)
    request = client.make_request("GET", with_sid=False)
    request.headers = {k: v for k, v in request.headers.items() if k != "host"}
    refusal = only_refusal(server, server.engine.handle_request(request, server.now))
    assert refusal.context == {"name": "HOST_NOT_ALLOWED", "host": None}


def test_allowed_hosts_is_checked_before_the_origin() -> None:
    # Same origin by default: under DNS rebinding Host and Origin both name the
    # attacker's domain and agree; only the Host check refuses.
    server = Server(allowed_hosts=["localhost"])
    client = Client(server, headers={"host": "evil.example:8000",
                                     "origin": "http://evil.example:8000"})
    refusal = only_refusal(server, client.request("GET", with_sid=False))
    assert refusal.context["name"] == "HOST_NOT_ALLOWED"
    assert Client(Server(), headers={"host": "evil.example:8000",
                                     "origin": "http://evil.example:8000"}).open().status == 200


def test_allowed_hosts_callable_gets_the_request() -> None:
    seen: list[Request] = []

    def allowed(request: Request) -> bool:
        seen.append(request)
        return request.headers.get("x-tenant") == "ok"

    server = Server(allowed_hosts=allowed)
    assert Client(server, headers={"x-tenant": "ok"}).open().status == 200
    refusal = only_refusal(server, Client(server).request("GET", with_sid=False))
    assert refusal.context == {"name": "HOST_NOT_ALLOWED", "host": "localhost"}
    assert len(seen) == 2


def test_allowed_hosts_callable_raising_refuses_with_the_error() -> None:
    error = LookupError("tenant table down")

    def allowed(request: Request) -> bool:
        raise error

    server = Server(allowed_hosts=allowed)
    refusal = only_refusal(server, Client(server).request("GET", with_sid=False))
    assert refusal.context == {"name": "HOST_NOT_ALLOWED", "host": "localhost", "error": error}


def test_allowed_hosts_star_allows_any() -> None:
    server = Server(allowed_hosts=["*"])
    assert Client(server, headers={"host": "anything.example"}).open().status == 200


def test_allowed_hosts_config_is_validated_and_normalised() -> None:
    config = ServerConfig.from_options(allowed_hosts=["Example.COM.", ".Sub.Example.org", ""])
    assert config.allowed_hosts == ("example.com", ".sub.example.org")
    for bad in ("example.com", [1], b"x"):
        with pytest.raises(ConfigError):
            ServerConfig.from_options(allowed_hosts=bad)


@pytest.mark.parametrize(("host", "name"), [
    ("Example.COM:8000", "example.com"), ("example.com", "example.com"),
    ("example.com.", "example.com"), ("[::1]:8000", "[::1]"), ("[::1]", "[::1]"),
    ("[::1]x", ""), ("[::1", ""), ("example.com:", ""), ("example.com:http", ""), ("", ""),
])
def test_host_name(host: str, name: str) -> None:
    assert host_name(host) == name


def test_a_refused_probe_leaves_the_session_on_polling() -> None:
    server = Server(allowed_hosts=["localhost"])
    client = Client(server)
    client.open()
    client.headers["host"] = "evil.example"
    outcome = server.engine.handle_websocket(ws_request(client), server.now)
    assert not isinstance(outcome, Channel)
    assert only_refusal(server, outcome).context["name"] == "HOST_NOT_ALLOWED"
    client.headers["host"] = "localhost"
    client.post(Packet(PacketType.MESSAGE, "still here"))
    assert server.messages() == ["still here"]
