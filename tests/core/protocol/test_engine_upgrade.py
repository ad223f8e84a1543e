"""Upgrade from polling to WebSocket (PROTOCOL.md §6)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.core.protocol.peers import Client, Poll, Server, WebSocket, body_json, text_messages

from engineio_core.protocol.events import Message, Upgraded
from engineio_core.protocol.http import Response
from engineio_core.protocol.packets import Packet, PacketType, decode_ws
from engineio_core.protocol.session import Channel

VERSIONS = pytest.mark.parametrize("version", [4, 3])
NOOP = Packet(PacketType.NOOP)


def opened(version: int = 4, **options: Any) -> tuple[Server, Client]:
    server = Server(**options)
    client = Client(server, version)
    client.open()
    return server, client


def error_code(outcome: object) -> tuple[int, int]:
    assert isinstance(outcome, Response), outcome
    return outcome.status, body_json(outcome)["code"]


@VERSIONS
def test_probe_is_answered_and_pending_get_released_with_noop(version: int) -> None:
    server, client = opened(version)
    poll = client.get()
    socket = client.probe()
    assert socket.receive() == []
    assert poll.is_held()
    socket.send("2probe")
    assert socket.receive() == ["3probe"]
    assert poll.response is not None
    assert poll.response.body == (b"6" if version == 4 else b"1:6")
    assert server.take_events() == []


@VERSIONS
def test_upgrade_flushes_buffered_packets_on_websocket_in_order(version: int) -> None:
    server, client = opened(version)
    server.send(client.sid, "before-probe")
    socket = client.probe()
    socket.send("2probe")
    assert socket.receive() == ["3probe"]
    server.send(client.sid, "during")
    server.send(client.sid, b"\x01\x02")
    socket.send("5")
    assert server.take_events() == [Upgraded(client.sid or "")]
    frames = socket.receive()
    expected_binary: str | bytes = b"\x01\x02" if version == 4 else b"\x04\x01\x02"
    assert frames == ["4before-probe", "4during", expected_binary]
    # After the upgrade: sends go to the WebSocket, frames from it are messages.
    server.send(client.sid, "after")
    assert socket.receive() == ["4after"]
    socket.send("4from-client")
    assert server.take_events() == [Message(client.sid or "", "from-client")]
    assert server.engine.transport(client.sid or "") == "websocket"


def test_v3_b64_upgrade_flushes_binary_as_base64_text() -> None:
    server = Server()
    client = Client(server, 3, b64=True)
    client.open()
    socket = client.probe()
    socket.send("2probe")
    socket.receive()
    server.send(client.sid, b"\x01\x02\x03\x04")
    socket.send("5")
    assert socket.receive() == ["b4AQIDBA=="]
    server.send(client.sid, b"\x01\x02\x03\x04")
    assert socket.receive() == ["b4AQIDBA=="]


@VERSIONS
def test_get_arriving_during_upgrade_gets_noop(version: int) -> None:
    server, client = opened(version)
    socket = client.probe()
    socket.send("2probe")
    socket.receive()
    poll = client.get()
    server.advance(0.1)  # "answering at once after 3probe is fine"; JS checks every 100 ms
    assert poll.response is not None
    assert client.decode(poll.response) == [NOOP]


@VERSIONS
def test_get_during_upgrade_with_buffered_packets_gets_them(version: int) -> None:
    server, client = opened(version)
    socket = client.probe()
    socket.send("2probe")
    socket.receive()
    server.send(client.sid, "buffered")
    assert text_messages(client.poll()) == ["buffered"]
    socket.send("5")
    assert socket.receive() == []


@VERSIONS
def test_get_still_pending_at_upgrade_packet_gets_noop(version: int) -> None:
    # PROTOCOL.md §6 step 3: "Polling is retired (a GET still pending gets 6)".
    _server, client = opened(version)
    socket = client.probe()
    socket.send("2probe")
    socket.receive()
    poll = client.get()
    assert poll.is_held()
    socket.send("5")
    assert poll.response is not None
    assert poll.response.status == 200
    assert client.decode(poll.response) == [NOOP]


@VERSIONS
def test_polling_after_upgrade_is_400_transport_mismatch(version: int) -> None:
    server, client = opened(version)
    client.upgrade()
    assert error_code(client.request("GET")) == (400, 3)
    assert error_code(client.request("POST", body=b"4x")) == (400, 3)
    assert server.engine.has_session(client.sid or "")


@VERSIONS
def test_second_websocket_after_upgrade_is_closed_at_once(version: int) -> None:
    server, client = opened(version)
    first = client.upgrade()
    first.receive()
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket"), server.now
    )
    if isinstance(outcome, Response):
        assert outcome.status == 400  # refusing it is allowed too
    else:
        assert isinstance(outcome, Channel)
        second = WebSocket(server, outcome, version)
        assert second.close_code is not None
        second.send("2probe")
        assert second.receive() == []
        second.drop()
    server.send(client.sid, "still works")
    assert first.receive() == ["4still works"]
    assert server.disconnects() == []


@VERSIONS
def test_second_websocket_during_probe_is_closed_and_first_upgrades(version: int) -> None:
    server, client = opened(version)
    first = client.probe()
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket"), server.now
    )
    if not isinstance(outcome, Response):
        assert isinstance(outcome, Channel)
        second = WebSocket(server, outcome, version)
        assert second.close_code is not None
        second.drop()
    first.send("2probe")
    assert first.receive() == ["3probe"]
    first.send("5")
    assert server.take_events() == [Upgraded(client.sid or "")]


@VERSIONS
def test_probe_for_unknown_sid_is_400_before_upgrade(version: int) -> None:
    server = Server()
    client = Client(server, version)
    client.sid = "unknown"
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket"), server.now
    )
    assert error_code(outcome) == (400, 1)


@VERSIONS
def test_probe_for_closed_sid_is_400(version: int) -> None:
    server, client = opened(version)
    client.post(Packet(PacketType.CLOSE))
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket"), server.now
    )
    assert error_code(outcome) == (400, 1)


@VERSIONS
def test_probe_for_server_closed_sid_is_400(version: int) -> None:
    server, client = opened(version)
    server.close(client.sid)
    outcome = server.engine.handle_websocket(
        client.make_request("GET", transport="websocket"), server.now
    )
    assert error_code(outcome) == (400, 1)


@VERSIONS
def test_upgrade_timeout_closes_probe_and_polling_continues(version: int) -> None:
    server, client = opened(version, upgrade_timeout=1.0)
    t0 = server.now
    socket = client.probe()
    socket.send("2probe")
    socket.receive()
    server.advance(1.0 - 1e-6)
    assert not socket.is_closed()
    assert server.fire_next_timer() == pytest.approx(t0 + 1.0)
    assert socket.is_closed()
    socket.send("5")  # too late
    assert server.take_events() == []
    server.send(client.sid, "polling")
    assert text_messages(client.poll()) == ["polling"]
    assert client.post("up").status == 200
    assert server.messages() == ["up"]
    # A new attempt may succeed.
    client.upgrade()
    assert server.take_events() == [Upgraded(client.sid or "")]


@VERSIONS
def test_upgrade_timeout_before_probe_packet(version: int) -> None:
    server, client = opened(version, upgrade_timeout=1.0)
    socket = client.probe()
    server.advance(1.0)
    assert socket.is_closed()
    assert server.disconnects() == []
    server.send(client.sid, "polling")
    assert text_messages(client.poll()) == ["polling"]


@VERSIONS
@pytest.mark.parametrize("garbage", ["4hello", "x", "6", "3probe", "2probe"])
def test_other_packet_before_upgrade_aborts_the_probe(version: int, garbage: str) -> None:
    server, client = opened(version)
    socket = client.probe()
    socket.send("2probe")
    assert socket.receive() == ["3probe"]
    socket.send(garbage)
    assert socket.is_closed()
    socket.send("5")
    assert server.take_events() == []
    server.send(client.sid, "polling")
    assert text_messages(client.poll()) == ["polling"]
    assert server.engine.has_session(client.sid or "")


@VERSIONS
def test_upgrade_packet_before_probe_aborts(version: int) -> None:
    server, client = opened(version)
    socket = client.probe()
    socket.send("5")
    assert socket.is_closed()
    assert server.take_events() == []
    server.send(client.sid, "polling")
    assert text_messages(client.poll()) == ["polling"]


@VERSIONS
def test_probe_socket_closing_keeps_polling(version: int) -> None:
    server, client = opened(version)
    socket = client.probe()
    socket.send("2probe")
    socket.receive()
    socket.drop()
    assert server.disconnects() == []
    server.send(client.sid, "polling")
    assert text_messages(client.poll()) == ["polling"]
    client.upgrade()
    assert server.take_events() == [Upgraded(client.sid or "")]


def test_v4_ping_after_upgrade_goes_on_websocket() -> None:
    server, client = opened(4, ping_interval=0.3, ping_timeout=0.2)
    socket = client.upgrade()
    socket.receive()
    server.advance(0.3)
    assert socket.receive() == ["2"]
    socket.send("3")
    server.advance(0.3)
    assert socket.receive() == ["2"]
    assert server.disconnects() == []


def test_server_close_during_probe_closes_probe_too() -> None:
    server, client = opened(4)
    poll = client.get()
    socket = client.probe()
    server.close(client.sid)
    assert socket.is_closed()
    assert poll.response is not None
    assert client.decode(poll.response) == [Packet(PacketType.CLOSE)]


# ---------------------------------------------------------------- property: no loss, no dup

STEPS = st.lists(
    st.sampled_from(["send", "send", "send_bin", "get", "probe", "ping", "upgrade", "time"]),
    max_size=40,
)


class UpgradingClient:
    """A well-behaved client that polls and upgrades when told, recording messages."""

    def __init__(self, server: Server, version: int) -> None:
        self.server = server
        self.client = Client(server, version)
        self.client.open()
        self.version = version
        self.poll: Poll | None = None
        self.probe: WebSocket | None = None
        self.probe_answered = False
        self.ws: WebSocket | None = None
        self.received: list[str | bytes] = []

    def collect(self) -> None:
        if self.poll is not None and self.poll.response is not None:
            response = self.poll.response
            self.poll = None
            if response.status == 200:
                self.received.extend(text_messages(self.client.decode(response)))
        if self.probe is not None:
            for frame in self.probe.receive():
                if frame == "3probe":
                    self.probe_answered = True
                else:
                    self.received.extend(text_messages([decode_ws(frame, self.version)]))
            if self.probe.close_code is not None:
                self.probe = None
                self.probe_answered = False
        if self.ws is not None:
            for frame in self.ws.receive():
                self.received.extend(text_messages([decode_ws(frame, self.version)]))

    def step(self, action: str) -> None:
        if action == "get" and self.ws is None and self.poll is None:
            self.poll = self.client.get()
        elif action == "probe" and self.probe is None and self.ws is None:
            self.probe = self.client.probe()
        elif action == "ping" and self.probe is not None and not self.probe_answered:
            self.probe.send("2probe")
        elif action == "upgrade" and self.probe is not None and self.probe_answered:
            self.probe.send("5")
            for event in self.server.take_events():
                if isinstance(event, Upgraded):
                    self.ws, self.probe = self.probe, None
        elif action == "time":
            self.server.advance(0.05)
        self.collect()


@VERSIONS
@settings(max_examples=150, deadline=None)
@given(steps=STEPS)
def test_messages_sent_during_upgrade_are_neither_lost_nor_duplicated(
    version: int, steps: list[str]
) -> None:
    server = Server(ping_interval=60, ping_timeout=60, upgrade_timeout=60)
    peer = UpgradingClient(server, version)
    sent: list[str | bytes] = []
    for action in steps:
        if action in ("send", "send_bin"):
            data: str | bytes = f"m{len(sent)}" if action == "send" else bytes([len(sent) % 256])
            sent.append(data)
            server.send(peer.client.sid, data)
            peer.collect()
        else:
            peer.step(action)
    # Drain: finish the upgrade if it is under way, otherwise keep polling.
    if peer.probe is not None and peer.probe_answered and peer.poll is None:
        peer.step("upgrade")
    if peer.ws is None:
        server.advance(0.2)
        peer.collect()
        if peer.poll is None:
            peer.step("get")
        server.advance(0.2)
        peer.collect()
        if peer.poll is None:
            peer.step("get")
    assert peer.received == sent
    assert server.disconnects() == []
