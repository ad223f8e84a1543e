"""A session is plain data: every state of the table survives ``pickle`` onto a second engine.

Each test builds a session in one state on engine A, exports it, pickles and
unpickles the snapshot, imports it into engine B (whose clock reads 500 s
later, so the deadlines must be moved onto it) and goes on with the session
there. The channels that served it on A (a held GET, a WebSocket, a probe)
are A's connections and stay behind.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import pytest
from tests.core.protocol.peers import Client, Server, text_messages

from engineio_core.protocol.engine import SessionSnapshot
from engineio_core.protocol.errors import SessionUnknown
from engineio_core.protocol.events import Disconnect, DisconnectReason, Message
from engineio_core.protocol.http import Response
from engineio_core.protocol.packets import Packet, PacketType
from engineio_core.protocol.session import Session, State
from engineio_core.protocol.versions import TRAITS

SHIFT = 500.0
OPTIONS: dict[str, Any] = {"ping_interval": 0.3, "ping_timeout": 0.2, "upgrade_timeout": 0.4}
DEADLINES = ("next_ping", "pong_deadline", "heartbeat_deadline", "upgrade_deadline",
             "noop_deadline", "closing_deadline")


def move(server_a: Server, sid: str) -> tuple[Server, Client, SessionSnapshot]:
    """Export ``sid`` from A, pickle it, import it into a new engine B 500 s later."""
    snapshot = server_a.engine.export_session(sid, server_a.now)
    copied = pickle.loads(pickle.dumps(snapshot))
    assert isinstance(copied, SessionSnapshot)
    server_b = Server(**OPTIONS)
    server_b.clock.advance(SHIFT + server_a.now - server_b.now)
    server_b.engine.import_session(copied, server_b.now)
    after = server_b.engine.export_session(sid, server_b.now).session
    assert_same_session(snapshot.session, after)
    client_b = Client(server_b, snapshot.session.traits.version)
    client_b.sid = sid
    return server_b, client_b, snapshot


def assert_same_session(before: Session, after: Session) -> None:
    for f in fields(Session):
        old, new = getattr(before, f.name), getattr(after, f.name)
        if f.name in DEADLINES:
            assert (old is None) == (new is None), f.name
            if old is not None:
                assert new == pytest.approx(old + SHIFT), f.name
        elif f.name != "armed_at":
            assert old == new, f.name


def opened(version: int) -> tuple[Server, Client]:
    server = Server(**OPTIONS)
    client = Client(server, version)
    client.open()
    return server, client


def continue_connecting(version: int) -> None:
    server_a = Server(**OPTIONS)
    handshake = Client(server_a, version).handshake()
    server_b, client_b, _ = move(server_a, handshake.sid)
    assert server_b.engine.session_info(handshake.sid).state is State.CONNECTING
    response = server_b.engine.accept(handshake, server_b.now)
    assert isinstance(response, Response)
    assert client_b.decode(response)[0].type is PacketType.OPEN
    assert server_b.engine.session_info(handshake.sid).state is State.OPEN


def continue_open_polling(version: int) -> None:
    server_a, client = opened(version)
    assert client.sid is not None
    server_a.engine.session(client.sid).data["user"] = "ada"
    server_a.send(client.sid, "queued on A")
    ping_at = server_a.next_deadline()
    assert ping_at is not None
    server_b, client_b, _ = move(server_a, client.sid)
    assert server_b.engine.session(client.sid).data == {"user": "ada"}
    assert text_messages(client_b.poll()) == ["queued on A"]
    client_b.post("to B")
    assert server_b.messages() == ["to B"]
    assert server_b.next_deadline() == pytest.approx(ping_at + SHIFT)
    poll = client_b.get()
    if version == 4:
        server_b.advance(0.3)  # B's clock runs the heartbeat: the ping releases the GET
        expected = PacketType.PING
    else:
        client_b.post(Packet(PacketType.PING))  # v3: the client pings, B answers
        expected = PacketType.PONG
    assert poll.response is not None
    assert [p.type for p in client_b.decode(poll.response)] == [expected]


def continue_open_websocket(version: int) -> None:
    server_a = Server(**OPTIONS)
    client = Client(server_a, version)
    client.open_ws()
    assert client.sid is not None
    server_b, _, _ = move(server_a, client.sid)
    info = server_b.engine.session_info(client.sid)
    assert (info.state, info.transport, info.websocket) == (State.OPEN, "websocket", False)
    server_b.send(client.sid, "kept for the socket")
    assert server_b.engine.session_info(client.sid).queued == 1
    server_b.advance(0.3 + 0.2 + 0.01)  # its socket stayed on A: the heartbeat ends it on B
    assert server_b.disconnects() == [Disconnect(client.sid, DisconnectReason.PING_TIMEOUT)]


def probing(version: int, *, answered: bool) -> tuple[Server, Client]:
    server_a, client = opened(version)
    socket = client.probe()
    if answered:
        socket.send("2probe")
        assert socket.receive() == ["3probe"]
    return server_a, client


def continue_probing(version: int, *, answered: bool = False) -> None:
    server_a, client = probing(version, answered=answered)
    assert client.sid is not None
    server_b, client_b, _ = move(server_a, client.sid)
    state = State.UPGRADING if answered else State.PROBING
    info = server_b.engine.session_info(client.sid)
    assert (info.state, info.probe) == (state, False)
    poll = client_b.get()
    server_b.advance(0.4)  # the upgrade deadline: the probe that stayed on A is given up
    assert server_b.engine.session_info(client.sid).state is State.OPEN
    # Mid-upgrade the GET was released with a noop; a v4 GET by the ping in any case.
    assert (poll.response is not None) == (answered or version == 4)
    server_b.send(client.sid, "still polling")
    if answered or version == 4:
        poll = client_b.get()  # the first GET was answered: the next one
    assert poll.response is not None
    assert text_messages(client_b.decode(poll.response)) == ["still polling"]


def continue_upgrading(version: int) -> None:
    continue_probing(version, answered=True)


def continue_closing(version: int) -> None:
    server_a, client = opened(version)
    assert client.sid is not None
    server_a.send(client.sid, "last words")
    server_a.close(client.sid)
    assert server_a.disconnects() == [Disconnect(client.sid, DisconnectReason.SERVER_DISCONNECT)]
    server_b, client_b, _ = move(server_a, client.sid)
    assert server_b.engine.session_info(client.sid).state is State.CLOSING
    packets = client_b.poll()
    assert [p.type for p in packets] == [PacketType.MESSAGE, PacketType.CLOSE]
    assert not server_b.engine.has_session(client.sid)
    assert server_b.take_events() == []  # the application heard of the close on A


def continue_closed(version: int) -> None:
    server_a, client = opened(version)
    assert client.sid is not None
    client.post(Packet(PacketType.CLOSE))
    with pytest.raises(SessionUnknown):
        server_a.engine.export_session(client.sid, server_a.now)
    gone = Session(client.sid, TRAITS[version], "polling", state=State.CLOSED)
    with pytest.raises(ValueError, match="closed"):
        Server(**OPTIONS).engine.import_session(SessionSnapshot(gone, 0.0), 0.0)


SCENARIOS: dict[State, Callable[[int], None]] = {
    State.CONNECTING: continue_connecting,
    State.OPEN: continue_open_polling,
    State.PROBING: continue_probing,
    State.UPGRADING: continue_upgrading,
    State.CLOSING: continue_closing,
    State.CLOSED: continue_closed,
}


def test_every_state_of_the_table_is_covered() -> None:
    assert set(SCENARIOS) == set(State)


@pytest.mark.parametrize("version", [4, 3])
@pytest.mark.parametrize("state", list(SCENARIOS), ids=lambda s: s.value)
def test_session_survives_pickle_onto_another_engine(state: State, version: int) -> None:
    SCENARIOS[state](version)


@pytest.mark.parametrize("version", [4, 3])
def test_websocket_session_survives_pickle_onto_another_engine(version: int) -> None:
    continue_open_websocket(version)


def test_importing_a_session_twice_is_refused() -> None:
    server_a, client = opened(4)
    assert client.sid is not None
    snapshot = server_a.engine.export_session(client.sid, server_a.now)
    with pytest.raises(ValueError, match="already exists"):
        server_a.engine.import_session(snapshot, server_a.now)


def test_export_leaves_the_session_serving_on_the_first_engine() -> None:
    server_a, client = opened(4)
    assert client.sid is not None
    server_a.engine.export_session(client.sid, server_a.now)
    client.post("still here")
    assert server_a.take_events() == [Message(client.sid, "still here")]
