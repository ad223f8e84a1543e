"""Error responses (PROTOCOL.md §8) and CORS (§9): exact status, JSON body and headers."""

from __future__ import annotations

import pytest
from tests.core.protocol.peers import Client, Server, body_json, header, header_values

from engineio_core.protocol.http import Response

TRANSPORT_UNKNOWN = {"code": 0, "message": "Transport unknown"}
SESSION_UNKNOWN = {"code": 1, "message": "Session ID unknown"}
BAD_METHOD = {"code": 2, "message": "Bad handshake method"}
BAD_REQUEST = {"code": 3, "message": "Bad request"}
BAD_VERSION = {"code": 5, "message": "Unsupported protocol version"}


def error(outcome: object, status: int, body: dict[str, object]) -> Response:
    assert isinstance(outcome, Response), outcome
    assert outcome.status == status, (outcome.status, outcome.body)
    assert body_json(outcome) == body
    assert header(outcome, "cache-control") == "no-store"
    assert header(outcome, "content-length") == str(len(outcome.body))
    return outcome


@pytest.mark.parametrize("eio", [None, "", "abc", "5", "2", "04x"])
def test_bad_eio_is_400_code_5(eio: str | None) -> None:
    server = Server()
    client = Client(server)
    request = client.make_request("GET", with_sid=False)
    query = dict(request.query)
    if eio is None:
        del query["EIO"]
    else:
        query["EIO"] = eio
    request.query = query
    error(server.engine.handle_request(request, server.now), 400, BAD_VERSION)
    assert server.engine.session_count() == 0


def test_eio_3_disabled_is_400_code_5() -> None:
    server = Server(protocol_versions=[4])
    error(Client(server, 3).request("GET", with_sid=False), 400, BAD_VERSION)


def test_bad_eio_on_websocket_handshake_is_400_code_5() -> None:
    server = Server()
    client = Client(server)
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket", with_sid=False, query={"EIO": "5"}),
        server.now,
    )
    error(outcome, 400, BAD_VERSION)


@pytest.mark.parametrize("transport", [None, "", "abc", "flashsocket"])
def test_bad_transport_is_400_code_0(transport: str | None) -> None:
    server = Server()
    client = Client(server)
    request = client.make_request("GET", with_sid=False)
    query = dict(request.query)
    if transport is None:
        del query["transport"]
    else:
        query["transport"] = transport
    request.query = query
    error(server.engine.handle_request(request, server.now), 400, TRANSPORT_UNKNOWN)


def test_disabled_transport_is_400_code_0() -> None:
    server = Server(transports=["websocket"])
    error(Client(server).request("GET", with_sid=False), 400, TRANSPORT_UNKNOWN)
    server = Server(transports=["polling"])
    client = Client(server)
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket", with_sid=False), server.now
    )
    error(outcome, 400, TRANSPORT_UNKNOWN)


def test_transport_is_checked_before_eio() -> None:
    server = Server()
    error(Client(server).request("GET", with_sid=False, query={"EIO": "9", "transport": "x"}),
          400, TRANSPORT_UNKNOWN)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_handshake_with_other_method_is_400_code_2(method: str) -> None:
    server = Server()
    error(Client(server).request(method, with_sid=False), 400, BAD_METHOD)
    assert server.engine.session_count() == 0


def test_websocket_handshake_without_upgrade_is_400_code_3() -> None:
    server = Server()
    error(Client(server).request("GET", transport="websocket", with_sid=False), 400, BAD_REQUEST)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("version", [4, 3])
def test_unknown_sid_is_400_code_1(method: str, version: int) -> None:
    server = Server()
    client = Client(server, version)
    client.sid = "nope"
    error(client.request(method, body=b"4x"), 400, SESSION_UNKNOWN)


def test_unknown_sid_on_websocket_is_400_code_1_before_upgrade() -> None:
    server = Server()
    client = Client(server)
    client.sid = "nope"
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket"), server.now
    )
    error(outcome, 400, SESSION_UNKNOWN)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_polling_request_on_websocket_session_is_transport_mismatch(method: str) -> None:
    server = Server()
    client = Client(server)
    socket = client.open_ws()
    error(client.request(method, body=b"4x"), 400, BAD_REQUEST)
    # The session is unharmed.
    assert server.engine.has_session(client.sid or "")
    assert socket.close_code is None


def test_websocket_transport_over_plain_http_with_sid_is_400_code_3() -> None:
    server = Server()
    client = Client(server)
    client.open()
    error(client.request("GET", transport="websocket"), 400, BAD_REQUEST)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_method_with_sid_is_400_code_3(method: str) -> None:
    server = Server()
    client = Client(server)
    client.open()
    error(client.request(method), 400, BAD_REQUEST)


def test_origin_with_invalid_characters_is_400_code_3() -> None:
    server = Server(cors_allowed_origins="*")
    client = Client(server, headers={"origin": "http://a\x00b"})
    error(client.request("GET", with_sid=False), 400, BAD_REQUEST)


# ---------------------------------------------------------------- CORS


def test_preflight_is_204_with_methods_and_echoed_headers() -> None:
    server = Server(cors_allowed_origins="*", cors_credentials=False)
    client = Client(server, headers={
        "origin": "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-custom",
    })
    outcome = client.request("OPTIONS", with_sid=False)
    assert isinstance(outcome, Response)
    assert outcome.status == 204
    assert outcome.body == b""
    allowed = header(outcome, "access-control-allow-methods") or ""
    methods = {m.strip() for m in allowed.split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    assert header(outcome, "access-control-allow-headers") == "content-type, x-custom"
    assert header(outcome, "access-control-allow-origin") == "*"


def test_preflight_with_credentials_echoes_origin() -> None:
    server = Server(cors_allowed_origins=["https://app.example"])
    client = Client(server, headers={"origin": "https://app.example",
                                     "access-control-request-method": "POST"})
    outcome = client.request("OPTIONS", with_sid=False)
    assert isinstance(outcome, Response)
    assert outcome.status == 204
    assert header(outcome, "access-control-allow-origin") == "https://app.example"
    assert header(outcome, "access-control-allow-credentials") == "true"
    assert "Origin" in header_values(outcome, "vary")


def test_any_origin_without_credentials_is_star() -> None:
    server = Server(cors_allowed_origins="*", cors_credentials=False)
    client = Client(server, headers={"origin": "https://app.example"})
    response = client.open()
    assert header(response, "access-control-allow-origin") == "*"
    assert header(response, "access-control-allow-credentials") is None
    ok = client.post("x")
    assert header(ok, "access-control-allow-origin") == "*"


def test_any_origin_with_credentials_echoes_origin_and_varies() -> None:
    server = Server(cors_allowed_origins="*", cors_credentials=True)
    client = Client(server, headers={"origin": "https://app.example"})
    response = client.open()
    assert header(response, "access-control-allow-origin") == "https://app.example"
    assert header(response, "access-control-allow-credentials") == "true"
    assert header_values(response, "vary") == ["Origin"]
    server.send(client.sid, "queued")
    for outcome in (client.post("x"), client.get().response):
        assert isinstance(outcome, Response)
        assert header(outcome, "access-control-allow-origin") == "https://app.example"


def test_errors_carry_cors_headers() -> None:
    server = Server(cors_allowed_origins="*", cors_credentials=False)
    client = Client(server, headers={"origin": "https://app.example"})
    client.sid = "nope"
    response = error(client.request("GET"), 400, SESSION_UNKNOWN)
    assert header(response, "access-control-allow-origin") == "*"
    response = error(client.request("GET", with_sid=False, query={"EIO": "7"}), 400, BAD_VERSION)
    assert header(response, "access-control-allow-origin") == "*"


def test_disallowed_origin_is_refused_without_cors_headers() -> None:
    server = Server(cors_allowed_origins=["https://good.example"])
    client = Client(server, headers={"origin": "https://evil.example"})
    outcome = client.request("GET", with_sid=False)
    assert isinstance(outcome, Response)
    assert outcome.status == 400
    assert not [k for k, _ in outcome.headers if k.lower().startswith("access-control-")]
    assert server.engine.session_count() == 0


def test_disallowed_origin_is_refused_on_websocket() -> None:
    server = Server(cors_allowed_origins=["https://good.example"])
    client = Client(server, headers={"origin": "https://evil.example"})
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket", with_sid=False), server.now
    )
    assert isinstance(outcome, Response)
    assert outcome.status == 400


def test_disallowed_origin_is_refused_on_existing_session() -> None:
    server = Server(cors_allowed_origins=["https://good.example"])
    good = Client(server, headers={"origin": "https://good.example"})
    good.open()
    evil = Client(server, headers={"origin": "https://evil.example"})
    evil.sid = good.sid
    outcome = evil.request("GET")
    assert isinstance(outcome, Response)
    assert outcome.status == 400


def test_same_origin_allowed_by_default() -> None:
    server = Server()
    client = Client(server, headers={"origin": "http://localhost", "host": "localhost"})
    response = client.open()
    assert response.status == 200
    other = Client(server, headers={"origin": "http://elsewhere", "host": "localhost"})
    outcome = other.request("GET", with_sid=False)
    assert isinstance(outcome, Response)
    assert outcome.status == 400


def test_no_origin_no_cors_headers() -> None:
    server = Server(cors_allowed_origins="*")
    response = Client(server).open()
    assert not [k for k, _ in response.headers if k.lower().startswith("access-control-")]


def test_allow_request_hook_raising_is_400_code_3() -> None:
    # §8: code 3 covers "hook failure"; the engine must answer, not raise.
    def broken(request: object) -> bool:
        raise RuntimeError("boom")

    server = Server(allow_request=broken)
    error(Client(server).request("GET", with_sid=False), 400, BAD_REQUEST)
    assert server.engine.session_count() == 0


def test_sid_generator_raising_is_400_code_3() -> None:
    def broken(request: object) -> str:
        raise RuntimeError("boom")

    server = Server(sid_generator=broken)
    error(Client(server).request("GET", with_sid=False), 400, BAD_REQUEST)
    assert server.engine.session_count() == 0


@pytest.mark.parametrize("eio", ["abc", "4", "3"])
def test_request_with_sid_keeps_its_session_version(eio: str) -> None:
    server = Server()
    client = Client(server, 3)
    client.open()
    server.send(client.sid, "x")
    outcome = client.request("GET", query={"EIO": eio})
    assert isinstance(outcome, Response)
    assert outcome.status == 200
    assert outcome.body == b"2:4x"


def test_unknown_sid_wins_over_bad_eio() -> None:
    server = Server()
    client = Client(server)
    client.sid = "nope"
    error(client.request("GET", query={"EIO": "abc"}), 400, SESSION_UNKNOWN)
