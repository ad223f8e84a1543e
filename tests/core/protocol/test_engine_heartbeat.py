"""Heartbeat (PROTOCOL.md §4) with a fake clock: exact deadlines, both directions."""

from __future__ import annotations

import pytest
from tests.core.protocol.peers import Client, Server, body_json

from engineio_core.protocol.engine import PostBody
from engineio_core.protocol.events import DisconnectReason
from engineio_core.protocol.http import Response
from engineio_core.protocol.packets import Packet, PacketType

INTERVAL = 0.3
TIMEOUT = 0.2
EPS = 1e-6
PING = Packet(PacketType.PING)
PONG = Packet(PacketType.PONG)
CLOSE = Packet(PacketType.CLOSE)


def opened(version: int) -> tuple[Server, Client, float]:
    server = Server(ping_interval=INTERVAL, ping_timeout=TIMEOUT)
    client = Client(server, version)
    client.open()
    return server, client, server.now


def reasons(server: Server) -> list[DisconnectReason]:
    return [d.reason for d in server.disconnects()]


def assert_unknown(client: Client) -> None:
    outcome = client.request("GET")
    assert isinstance(outcome, Response)
    assert outcome.status == 400
    assert body_json(outcome)["code"] == 1


# ---------------------------------------------------------------- v4: the server pings


def test_v4_first_deadline_is_the_ping_interval() -> None:
    server, _client, t0 = opened(4)
    assert server.next_deadline() == pytest.approx(t0 + INTERVAL)


def test_v4_ping_goes_out_at_exactly_the_interval() -> None:
    server, client, t0 = opened(4)
    poll = client.get()
    server.advance(INTERVAL - EPS)
    assert poll.is_held()
    when = server.fire_next_timer()
    assert when == pytest.approx(t0 + INTERVAL)
    assert poll.response is not None
    assert client.decode(poll.response) == [PING]


def test_v4_ping_is_buffered_when_no_get_is_pending() -> None:
    server, client, _t0 = opened(4)
    server.advance(INTERVAL)
    assert client.poll() == [PING]


def test_v4_no_pong_closes_at_interval_plus_timeout_and_releases_get_with_close() -> None:
    server, client, t0 = opened(4)
    client.get()
    server.advance(INTERVAL)  # the ping is answered on the pending GET
    poll = client.get()  # the client polls again but never answers the ping
    server.advance_to(t0 + INTERVAL + TIMEOUT - EPS)
    assert poll.is_held()
    assert reasons(server) == []
    when = server.fire_next_timer()
    assert when == pytest.approx(t0 + INTERVAL + TIMEOUT)
    assert poll.response is not None
    assert client.decode(poll.response) == [CLOSE]
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]
    assert_unknown(client)
    server.advance(10)
    assert reasons(server) == []


def test_v4_a_poll_after_the_deadline_finds_the_session_closed_though_no_timer_fired() -> None:
    """The runtime's timer wakes late (a busy process): a request that arrives after
    the session's deadline sees that deadline fire first, as the reference's does."""
    server, client, t0 = opened(4)
    server.advance(INTERVAL)  # the ping goes out (buffered: no GET held)
    server.clock.now = t0 + INTERVAL + TIMEOUT + EPS  # the pong's timer has not fired
    assert_unknown(client)
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]
    server.advance(10)
    assert reasons(server) == []


def test_v4_a_poll_before_the_deadline_is_served_and_gets_the_due_ping() -> None:
    server, client, t0 = opened(4)
    server.clock.now = t0 + INTERVAL + EPS  # the ping is due; its timer has not fired
    assert client.poll() == [PING]
    assert reasons(server) == []
    assert server.next_deadline() == pytest.approx(t0 + INTERVAL + TIMEOUT)


def test_v4_a_poll_after_a_long_sleep_of_the_process_gets_the_ping_and_time_to_answer() -> None:
    server, client, t0 = opened(4)
    server.clock.now = t0 + INTERVAL + TIMEOUT + EPS  # no timer fired: not the client's fault
    assert client.poll() == [PING]
    assert reasons(server) == []
    assert server.next_deadline() == pytest.approx(server.now + TIMEOUT / 2)


@pytest.mark.parametrize(("late", "deadline_after_due"), [
    (TIMEOUT / 4, TIMEOUT),  # counted from when the ping was due
    (TIMEOUT, TIMEOUT * 1.5),  # very late: the client still gets half its timeout
])
def test_v4_a_ping_sent_late_is_answered_within_timeout_of_when_it_was_due(
        late: float, deadline_after_due: float) -> None:
    server, client, t0 = opened(4)
    due = t0 + INTERVAL
    server.clock.now = due + late
    server.engine.handle_timer(server.now)  # the timer fires late
    server.pump()
    assert client.poll() == [PING]
    assert server.next_deadline() == pytest.approx(due + deadline_after_due)


def test_v4_pong_rearms_the_next_ping_one_interval_later() -> None:
    server, client, t0 = opened(4)
    server.advance(INTERVAL)
    assert client.poll() == [PING]
    server.advance(0.1)
    assert client.post(PONG).status == 200
    t_pong = server.now
    poll = client.get()
    server.advance_to(t0 + INTERVAL + TIMEOUT + 0.05)  # past the old deadline: still alive
    assert reasons(server) == []
    assert poll.is_held()
    when = server.fire_next_timer()
    assert when == pytest.approx(t_pong + INTERVAL)
    assert poll.response is not None
    assert client.decode(poll.response) == [PING]


def test_v4_client_answering_every_ping_lives_forever() -> None:
    server, client, t0 = opened(4)
    for _ in range(30):
        server.advance(INTERVAL)
        assert client.poll() == [PING]
        server.advance(TIMEOUT / 2)
        client.post(PONG)
    assert reasons(server) == []
    assert server.now > t0 + 10 * (INTERVAL + TIMEOUT)


def test_v4_other_packets_do_not_rearm() -> None:
    server, client, t0 = opened(4)
    server.advance(INTERVAL)
    assert client.poll() == [PING]
    server.advance(0.1)
    client.post("still here")
    server.advance_to(t0 + INTERVAL + TIMEOUT - EPS)
    assert reasons(server) == []
    server.fire_next_timer()
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]


def test_v4_websocket_ping_timeout() -> None:
    server = Server(ping_interval=INTERVAL, ping_timeout=TIMEOUT)
    client = Client(server, 4)
    socket = client.open_ws()
    socket.receive()
    t0 = server.now
    assert server.fire_next_timer() == pytest.approx(t0 + INTERVAL)
    assert socket.receive() == ["2"]
    socket.send("3")
    assert server.fire_next_timer() == pytest.approx(t0 + 2 * INTERVAL)
    assert socket.receive() == ["2"]
    assert server.fire_next_timer() == pytest.approx(t0 + 2 * INTERVAL + TIMEOUT)
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]
    assert socket.is_closed()


def test_v4_ping_from_client_is_wrong_direction() -> None:
    server, client, _t0 = opened(4)
    poll = client.get()
    client.post(PING)
    disconnects = server.disconnects()
    assert [d.reason for d in disconnects] == [DisconnectReason.TRANSPORT_ERROR]
    assert poll.response is not None
    assert client.decode(poll.response) == [CLOSE]
    assert_unknown(client)


def test_v4_ping_frame_on_websocket_is_wrong_direction() -> None:
    server = Server(ping_interval=INTERVAL, ping_timeout=TIMEOUT)
    client = Client(server, 4)
    socket = client.open_ws()
    socket.send("2")
    assert reasons(server) == [DisconnectReason.TRANSPORT_ERROR]
    assert socket.is_closed()


# ---------------------------------------------------------------- v3: the client pings


def test_v3_first_deadline_is_interval_plus_timeout() -> None:
    server, _client, t0 = opened(3)
    assert server.next_deadline() == pytest.approx(t0 + INTERVAL + TIMEOUT)


def test_v3_client_ping_is_answered_with_pong() -> None:
    server, client, _t0 = opened(3)
    server.advance(INTERVAL)
    client.post_raw(b"1:2")
    poll = client.get()
    assert poll.response is not None
    assert poll.response.body == b"1:3"


def test_v3_ping_with_data_is_answered() -> None:
    _server, client, _t0 = opened(3)
    poll = client.get()
    client.post(Packet(PacketType.PING, "x"))
    assert poll.response is not None
    assert client.decode(poll.response) in ([Packet(PacketType.PONG, "x")], [PONG])


def test_v3_ping_rearms_interval_plus_timeout() -> None:
    server, client, t0 = opened(3)
    server.advance(INTERVAL)
    client.post(PING)
    t_ping = server.now
    client.poll()
    poll = client.get()
    server.advance_to(t0 + INTERVAL + TIMEOUT + 0.1)  # the first deadline is gone
    assert reasons(server) == []
    server.advance_to(t_ping + INTERVAL + TIMEOUT - EPS)
    assert reasons(server) == []
    assert server.fire_next_timer() == pytest.approx(t_ping + INTERVAL + TIMEOUT)
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]
    assert poll.response is not None
    assert client.decode(poll.response) == [CLOSE]


def test_v3_pinging_client_is_never_dropped() -> None:
    server, client, _t0 = opened(3)
    for _ in range(40):
        server.advance(INTERVAL)
        client.post(PING)
        assert client.poll() == [PONG]
    assert reasons(server) == []


def test_v3_silent_client_dropped_at_interval_plus_timeout_not_before() -> None:
    server, client, t0 = opened(3)
    poll = client.get()
    server.advance(TIMEOUT)  # pingTimeout alone is not the deadline
    assert reasons(server) == []
    assert poll.is_held()
    server.advance_to(t0 + INTERVAL + TIMEOUT - EPS)
    assert reasons(server) == []
    assert poll.is_held()
    assert server.fire_next_timer() == pytest.approx(t0 + INTERVAL + TIMEOUT)
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]
    assert poll.response is not None
    assert poll.response.body == b"1:1"
    assert_unknown(client)


def test_v3_messages_do_not_rearm() -> None:
    server, client, t0 = opened(3)
    server.advance(INTERVAL)
    client.post("hello")
    server.advance_to(t0 + INTERVAL + TIMEOUT)
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]


def test_v3_pong_from_client_is_wrong_direction() -> None:
    server, client, _t0 = opened(3)
    client.post(PONG)
    assert reasons(server) == [DisconnectReason.TRANSPORT_ERROR]
    assert_unknown(client)


def test_v3_websocket_ping_answered_and_pong_is_wrong_direction() -> None:
    server = Server(ping_interval=INTERVAL, ping_timeout=TIMEOUT)
    client = Client(server, 3)
    socket = client.open_ws()
    socket.receive()
    server.advance(INTERVAL)
    socket.send("2")
    assert socket.receive() == ["3"]
    server.advance(INTERVAL + TIMEOUT - EPS)
    assert reasons(server) == []
    socket.send("3")
    assert reasons(server) == [DisconnectReason.TRANSPORT_ERROR]
    assert socket.is_closed()


def test_no_timer_left_after_every_session_is_gone() -> None:
    server, _client, _t0 = opened(4)
    server.advance(INTERVAL + TIMEOUT)
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]
    assert server.next_deadline() is None
    assert server.engine.session_count() == 0


# ------------------------------------------ a POST's handlers hold its client's heartbeat


def handling(client: Client, text: str) -> PostBody:
    """POST a message whose handler is still running (``post_handled`` not called)."""
    body, content_type = client.encode([text])
    post = client.request("POST", headers={"content-type": content_type}, body=b"")
    assert isinstance(post, PostBody)
    response = client.engine.handle_body(post, body, client.server.now)
    assert response.status == 200
    client.server.pump()
    return post


@pytest.mark.parametrize("version", [4, 3])
def test_a_heartbeat_due_while_a_post_is_handled_waits_for_its_answer(version: int) -> None:
    server, client, _t0 = opened(version)
    if version == 3:
        client.post(PING)  # v3: the client pings; its next ping is due by interval + timeout
    else:
        server.advance(INTERVAL)
        assert client.poll() == [PING]  # v4: the pong is due by t0 + interval + timeout
    post = handling(client, "slow")
    server.advance(10 * (INTERVAL + TIMEOUT))  # the handler runs long past every deadline
    assert reasons(server) == []
    if version == 4:  # the server kept pinging (every ping timeout): the client hears from it
        assert client.poll().count(PING) >= 10
    t1 = server.now
    client.engine.post_handled(post, t1)  # answered: the client may send its heartbeat now
    server.pump()
    assert server.next_deadline() == pytest.approx(t1 + TIMEOUT)
    client.post(PING if version == 3 else PONG)
    server.advance(TIMEOUT + EPS)
    assert reasons(server) == []


@pytest.mark.parametrize("version", [4, 3])
def test_after_the_answer_a_missing_heartbeat_still_times_out(version: int) -> None:
    server, client, _t0 = opened(version)
    if version == 4:
        server.advance(INTERVAL)
        assert client.poll() == [PING]
    post = handling(client, "slow")
    server.advance(10 * (INTERVAL + TIMEOUT))
    t1 = server.now
    client.engine.post_handled(post, t1)
    server.pump()
    server.advance_to(t1 + TIMEOUT - EPS)
    assert reasons(server) == []
    server.fire_next_timer()
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]


def test_a_post_without_messages_does_not_hold_the_heartbeat() -> None:
    server, client, t0 = opened(4)
    server.advance(INTERVAL)
    assert client.poll() == [PING]
    body, content_type = client.encode([Packet(PacketType.NOOP)])
    post = client.request("POST", headers={"content-type": content_type}, body=b"")
    assert isinstance(post, PostBody)
    client.engine.handle_body(post, body, server.now)  # its answer not yet sent
    server.advance_to(t0 + INTERVAL + TIMEOUT)
    server.pump()
    assert reasons(server) == [DisconnectReason.PING_TIMEOUT]
