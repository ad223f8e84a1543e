"""The session transition table, and the engine as a whole under random client actions.

1. Properties of :data:`session.TRANSITIONS` (every input defined or explicitly
   refused in every state, every state reachable, CLOSED absorbing, every state
   can close), the intent methods of :class:`Session`, and ``move()`` under
   random input sequences.
2. A Hypothesis ``RuleBasedStateMachine`` drives the real engine with random
   client and application actions and checks the engine's invariants, among
   them that each session's state says what its client sees (a probe attached
   is PROBING, answered is UPGRADING, the transport matches).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)
from tests.core.protocol.peers import Client, Poll, Server, WebSocket, body_json

from engineio_core.protocol.errors import SessionUnknown
from engineio_core.protocol.events import Disconnect, DisconnectReason, Message, Upgraded
from engineio_core.protocol.http import Response
from engineio_core.protocol.packets import Packet, PacketType, decode_ws
from engineio_core.protocol.session import (
    TRANSITIONS,
    UPGRADE_NOOP_DELAY,
    Channel,
    IllegalTransition,
    Input,
    Session,
    State,
    transition_table_markdown,
)
from engineio_core.protocol.versions import TRAITS

ARCHITECTURE = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"


def new_session(state: State = State.CONNECTING, version: int = 4) -> Session:
    return Session("sid", TRAITS[version], "polling", state=state)


def state_of(session: Session) -> State:
    """The state, read through a call (each intent method changes it: no narrowing)."""
    return session.state


def noop_of(session: Session) -> float | None:
    return session.noop_deadline


# ---------------------------------------------------------------- the table's properties


def test_every_input_is_defined_or_refused_in_every_state() -> None:
    assert set(TRANSITIONS) == set(State)
    for state, row in TRANSITIONS.items():
        assert set(row) == set(Input), f"{state}: inputs missing from its row"


def test_every_state_is_reachable_from_connecting() -> None:
    reachable = {State.CONNECTING}
    frontier = [State.CONNECTING]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target is not None and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(State)


def test_closed_is_absorbing() -> None:
    assert all(target is None for target in TRANSITIONS[State.CLOSED].values())
    for event in Input:
        session = new_session(State.CLOSED)
        with pytest.raises(IllegalTransition):
            session.move(event)
        assert session.state is State.CLOSED


def test_every_other_state_closes_directly() -> None:
    for state in State:
        if state is not State.CLOSED:
            assert TRANSITIONS[state][Input.CLOSE] is State.CLOSED


def test_no_input_keeps_a_state_where_it_is() -> None:
    # A move always changes something: a self-loop would be an input the table
    # should refuse instead (the engine ignores it before moving).
    for state, row in TRANSITIONS.items():
        assert state not in row.values(), state


def test_docs_show_the_table_as_the_code_has_it() -> None:
    assert transition_table_markdown() in ARCHITECTURE.read_text()


@given(state=st.sampled_from(State), events=st.lists(st.sampled_from(Input), max_size=20))
def test_move_follows_the_table_and_refusals_change_nothing(
    state: State, events: list[Input]
) -> None:
    session = new_session(state)
    for event in events:
        before = session.state
        expected = TRANSITIONS[before][event]
        if expected is None:
            with pytest.raises(IllegalTransition):
                session.move(event)
            assert session.state is before
        else:
            assert session.move(event) is expected


# ---------------------------------------------------------------- intent methods


@pytest.mark.parametrize("version", [4, 3])
def test_accept_opens_and_starts_the_heartbeat(version: int) -> None:
    session = new_session(version=version)
    session.accept(10.0, 0.3, 0.2)
    assert state_of(session) is State.OPEN
    if version == 4:
        assert (session.next_ping, session.heartbeat_deadline) == (10.3, None)
    else:
        assert (session.next_ping, session.heartbeat_deadline) == (None, 10.5)
    with pytest.raises(IllegalTransition):
        session.accept(11.0, 0.3, 0.2)


def test_probe_upgrade_path_sets_and_clears_its_deadlines() -> None:
    session = new_session()
    session.accept(0.0, 25.0, 20.0)
    session.attach_probe(10.0)
    assert (state_of(session), session.upgrade_deadline) == (State.PROBING, 10.0)
    session.hold_poll(1.0)
    assert noop_of(session) is None  # not upgrading yet: a GET is held normally
    session.answer_probe()
    assert state_of(session) is State.UPGRADING
    session.hold_poll(2.0)
    assert noop_of(session) == 2.0 + UPGRADE_NOOP_DELAY
    session.complete_upgrade(b64=True)
    assert (state_of(session), session.transport, session.b64) == (State.OPEN, "websocket", True)
    assert session.upgrade_deadline is None
    assert session.noop_deadline is None


@pytest.mark.parametrize("answered", [False, True])
def test_abort_probe_returns_to_open_on_polling(answered: bool) -> None:
    session = new_session()
    session.accept(0.0, 25.0, 20.0)
    session.attach_probe(10.0)
    if answered:
        session.answer_probe()
    session.abort_probe()
    assert (state_of(session), session.transport, session.upgrade_deadline) == (
        State.OPEN, "polling", None)


def test_drain_then_close_disarms_everything() -> None:
    session = new_session()
    session.accept(0.0, 25.0, 20.0)
    assert session.rearm() == 25.0
    assert session.rearm() is None  # unchanged: the timer already knows
    session.drain(1.0, 30.0)
    assert state_of(session) is State.CLOSING
    assert (session.next_ping, session.closing_deadline) == (None, 31.0)
    assert session.rearm() == 31.0
    session.close()
    assert state_of(session) is State.CLOSED
    assert session.next_deadline() is None
    assert session.armed_at is None
    session.close()  # closing twice is a no-op, not an illegal move


def test_outbox_is_taken_whole() -> None:
    session = new_session()
    session.queue(Packet(PacketType.MESSAGE, "a"), Packet(PacketType.NOOP))
    assert [p.type for p in session.take_outbox()] == [PacketType.MESSAGE, PacketType.NOOP]
    assert session.outbox == []


# ---------------------------------------------------------------- the engine, randomly driven

INTERVAL = 0.3
TIMEOUT = 0.2
HOLD_LIMIT = INTERVAL + TIMEOUT + 1e-9


class Peer:
    """One client of the machine: its transports and what it received."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.sid = client.sid or ""
        self.version = client.version
        self.polls: list[Poll] = []
        self.done_polls: list[Poll] = []
        self.ws: WebSocket | None = None
        self.probe: WebSocket | None = None
        self.probe_answered = False
        self.received: list[str | bytes] = []
        self.pings = 0  # v4 pings received and not yet answered
        self.alive_at = client.server.now  # v3: open, then the last ping sent

    def take(self, packets: list[Packet]) -> None:
        for packet in packets:
            if packet.type is PacketType.MESSAGE:
                self.received.append(packet.data)
            elif packet.type is PacketType.PING and self.version == 4:
                self.pings += 1

    def collect(self) -> None:
        for poll in list(self.polls):
            response = poll.response
            if response is None:
                continue
            self.polls.remove(poll)
            self.done_polls.append(poll)
            if response.status == 200:
                self.take(self.client.decode(response))
        if self.probe is not None:
            for frame in self.probe.receive():
                if frame == "3probe":
                    self.probe_answered = True
                else:
                    self.take([decode_ws(frame, self.version)])
            if self.probe.close_code is not None:
                self.probe = None
                self.probe_answered = False
        if self.ws is not None:
            frames = self.ws.receive()
            packets = [decode_ws(f, self.version) for f in frames]
            self.take([p for p in packets if p.type is not PacketType.OPEN])


class EngineMachine(RuleBasedStateMachine):
    """Random clients against one engine; the invariants must hold after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.server = Server(ping_interval=INTERVAL, ping_timeout=TIMEOUT, upgrade_timeout=0.4)
        self.peers: list[Peer] = []
        self.sent: dict[str, list[str | bytes]] = {}
        self.disconnects: Counter[str] = Counter()
        self.counter = 0

    # -- helpers -------------------------------------------------------------
    def peer(self, index: int) -> Peer:
        return self.peers[index % len(self.peers)]

    def settle(self) -> None:
        self.server.pump()
        for event in self.server.take_events():
            if isinstance(event, Disconnect):
                self.disconnects[event.sid] += 1
                peer = next(p for p in self.peers if p.sid == event.sid)
                if peer.version == 3 and event.reason is DisconnectReason.PING_TIMEOUT:
                    silent = self.server.now - peer.alive_at
                    assert silent >= INTERVAL + TIMEOUT - 1e-9, f"v3 dropped after {silent}s"
            elif isinstance(event, Upgraded):
                peer = next(p for p in self.peers if p.sid == event.sid)
                assert peer.probe is not None, "Upgraded without a probe"
                peer.ws, peer.probe, peer.probe_answered = peer.probe, None, False
            else:
                assert isinstance(event, Message)
        for peer in self.peers:
            peer.collect()

    def live(self, sid: str) -> bool:
        try:
            session = self.server.engine.session(sid)
        except SessionUnknown:
            return False
        return session.state in (State.OPEN, State.PROBING, State.UPGRADING)

    # -- rules -------------------------------------------------------------
    @precondition(lambda self: len(self.peers) < 4)
    @rule(version=st.sampled_from([4, 3]), websocket=st.booleans())
    def connect(self, version: int, websocket: bool) -> None:
        client = Client(self.server, version)
        if websocket:
            socket = client.open_ws()
            peer = Peer(client)
            peer.ws = socket
        else:
            client.open()
            peer = Peer(client)
        self.peers.append(peer)
        self.sent[peer.sid] = []
        self.settle()

    @precondition(lambda self: bool(self.peers))
    @rule(i=st.integers(0, 3))
    def get(self, i: int) -> None:
        peer = self.peer(i)
        if peer.polls:
            return  # see duplicate_get
        peer.polls.append(peer.client.get())
        self.settle()

    @precondition(lambda self: any(p.polls for p in self.peers))
    @rule(i=st.integers(0, 3))
    def duplicate_get(self, i: int) -> None:
        peer = self.peer(i)
        if peer.polls:
            peer.polls.append(peer.client.get())
        self.settle()

    @precondition(lambda self: bool(self.peers))
    @rule(i=st.integers(0, 3), data=st.lists(st.text(max_size=3) | st.binary(max_size=3),
                                             min_size=1, max_size=3))
    def post_messages(self, i: int, data: list[str | bytes]) -> None:
        peer = self.peer(i)
        peer.client.post(*[Packet(PacketType.MESSAGE, d) for d in data])
        self.settle()

    @precondition(lambda self: bool(self.peers))
    @rule(i=st.integers(0, 3))
    def post_close(self, i: int) -> None:
        self.peer(i).client.post(Packet(PacketType.CLOSE))
        self.settle()

    @precondition(lambda self: bool(self.peers))
    @rule(i=st.integers(0, 3), body=st.sampled_from([b"abc", b"", b"9", b"x:1"]))
    def post_garbage(self, i: int, body: bytes) -> None:
        self.peer(i).client.post_raw(body)
        self.settle()

    @precondition(lambda self: bool(self.peers))
    @rule(i=st.integers(0, 3))
    def heartbeat(self, i: int) -> None:
        """A well-behaved heartbeat: v4 answers a received ping, v3 pings."""
        peer = self.peer(i)
        if peer.version == 4:
            if not peer.pings:
                return
            peer.pings -= 1
            packet = Packet(PacketType.PONG)
        else:
            packet = Packet(PacketType.PING)
            peer.alive_at = self.server.now
        if peer.ws is not None:
            peer.ws.send_packet(packet)
        else:
            peer.client.post(packet)
        self.settle()

    @precondition(lambda self: bool(self.peers))
    @rule(i=st.integers(0, 3))
    def probe(self, i: int) -> None:
        peer = self.peer(i)
        if peer.probe is not None or peer.ws is not None:
            return
        outcome = self.server.engine.handle_websocket(
            peer.client.make_request("GET", transport="websocket"), self.server.now
        )
        if isinstance(outcome, Response):
            assert outcome.status == 400
            assert not self.live(peer.sid) or body_json(outcome)["code"] != 1
        else:
            assert isinstance(outcome, Channel)
            peer.probe = WebSocket(self.server, outcome, peer.version)
        self.settle()

    @precondition(lambda self: any(p.probe is not None for p in self.peers))
    @rule(i=st.integers(0, 3))
    def probe_ping(self, i: int) -> None:
        peer = self.peer(i)
        if peer.probe is not None:
            peer.probe.send("2probe")
        self.settle()

    @precondition(lambda self: any(p.probe is not None for p in self.peers))
    @rule(i=st.integers(0, 3))
    def upgrade(self, i: int) -> None:
        peer = self.peer(i)
        if peer.probe is not None:
            peer.probe.send("5")
        self.settle()

    @precondition(lambda self: any(p.ws is not None for p in self.peers))
    @rule(i=st.integers(0, 3), data=st.text(max_size=3))
    def ws_message(self, i: int, data: str) -> None:
        peer = self.peer(i)
        if peer.ws is not None:
            peer.ws.send("4" + data)
        self.settle()

    @precondition(lambda self: any(p.ws is not None for p in self.peers))
    @rule(i=st.integers(0, 3))
    def ws_close(self, i: int) -> None:
        peer = self.peer(i)
        if peer.ws is not None:
            peer.ws.drop()
        self.settle()

    @precondition(lambda self: bool(self.peers))
    @rule(i=st.integers(0, 3), binary=st.booleans())
    def send(self, i: int, binary: bool) -> None:
        peer = self.peer(i)
        self.counter += 1
        data: str | bytes = bytes([self.counter % 256]) if binary else f"s{self.counter}"
        live = self.live(peer.sid)
        try:
            self.server.engine.send(peer.sid, data)
        except SessionUnknown:
            assert not live, "send refused on a live session"
        else:
            assert live, "send accepted on a closed session"
            self.sent[peer.sid].append(data)
        self.settle()

    @precondition(lambda self: bool(self.peers))
    @rule(i=st.integers(0, 3))
    def server_close(self, i: int) -> None:
        self.server.engine.close(self.peer(i).sid, self.server.now)
        self.settle()

    @rule(seconds=st.sampled_from([0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 31.0]))
    def advance(self, seconds: float) -> None:
        target = self.server.now + seconds
        while True:
            when = self.server.engine.get_timer()
            if when is None or when > target:
                break
            assert when >= self.server.now, "a deadline was left in the past"
            self.server.fire_next_timer()
            self.settle()
            self.check_held_gets()
        self.server.advance_to(target)
        self.settle()

    # -- invariants --------------------------------------------------------
    def check_held_gets(self) -> None:
        now = self.server.now
        for peer in self.peers:
            for poll in peer.polls:
                assert now - poll.started <= HOLD_LIMIT, "a GET stayed held too long"
            for poll in peer.done_polls:
                assert poll.answered_at is not None
                assert poll.answered_at - poll.started <= HOLD_LIMIT, "a GET answered too late"

    @invariant()
    def held_gets_are_bounded(self) -> None:
        self.check_held_gets()

    @invariant()
    def timer_is_in_the_future(self) -> None:
        when = self.server.engine.get_timer()
        assert when is None or when > self.server.now

    @invariant()
    def state_says_what_the_client_sees(self) -> None:
        for peer in self.peers:
            if not self.live(peer.sid):
                continue
            session = self.server.engine.session(peer.sid)
            if peer.probe is None:
                assert session.state is State.OPEN, (session.state, "no probe")
            elif peer.probe_answered:
                assert session.state is State.UPGRADING
            else:
                assert session.state is State.PROBING
            expected = "websocket" if peer.ws is not None else "polling"
            assert session.transport == expected

    @invariant()
    def one_disconnect_per_closed_session(self) -> None:
        engine = self.server.engine
        for peer in self.peers:
            count = self.disconnects[peer.sid]
            if self.live(peer.sid):
                assert count == 0, f"{peer.sid}: Disconnect on a live session"
            else:
                assert count == 1, f"{peer.sid}: {count} Disconnect events"
            if not engine.has_session(peer.sid):
                assert not peer.polls, "a GET is held on a forgotten session"

    @invariant()
    def closed_sid_is_unknown(self) -> None:
        for peer in self.peers:
            if self.server.engine.has_session(peer.sid):
                continue
            for n, method in enumerate(("GET", "GET", "POST")):
                outcome = self.server.engine.handle_request(
                    peer.client.make_request(method, body=b"4x"), self.server.now
                )
                assert isinstance(outcome, Response)
                if n == 0 and outcome.status == 200:
                    # Closed by its client a moment ago: one GET (sent along with
                    # the close) still gets the noop it would have got (engine.py,
                    # CLIENT_CLOSE_GET_GRACE); the next one is refused.
                    assert peer.client.decode(outcome) == [Packet(PacketType.NOOP)]
                    continue
                assert outcome.status == 400
                assert body_json(outcome) == {"code": 1, "message": "Session ID unknown"}

    @invariant()
    def no_message_lost_duplicated_or_invented(self) -> None:
        for peer in self.peers:
            sent = self.sent[peer.sid]
            received = peer.received
            assert received == sent[: len(received)], "received is not a prefix of sent"
            if not self.server.engine.has_session(peer.sid):
                continue
            session = self.server.engine.export_session(peer.sid, self.server.now).session
            queued = [p.data for p in session.outbox if p.type is PacketType.MESSAGE]
            # Live or closing (waiting for its last GET): nothing dropped yet.
            assert received + queued == sent, "outbox and received do not add up"


EngineMachine.TestCase.settings = settings(
    max_examples=120, stateful_step_count=40, deadline=None
)
TestEngineMachine = EngineMachine.TestCase
