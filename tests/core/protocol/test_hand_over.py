"""``Engine.hand_over``: a polling session leaves this engine for another (a
cluster node that received its WebSocket upgrade) with no event, its held GET
answered with a noop, and the upgrade completes on the engine that took it.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from tests.core.protocol.peers import Client, Server, text_messages

from engineio_core.protocol.engine import SessionBusy, SessionSnapshot
from engineio_core.protocol.errors import SessionUnknown
from engineio_core.protocol.events import Upgraded
from engineio_core.protocol.packets import PacketType

OPTIONS: dict[str, Any] = {"ping_interval": 0.3, "ping_timeout": 0.2, "upgrade_timeout": 0.4}


def opened(version: int) -> tuple[Server, Client]:
    server = Server(**OPTIONS)
    client = Client(server, version)
    client.open()
    return server, client


@pytest.mark.parametrize("version", [3, 4])
def test_a_handed_over_session_upgrades_on_the_engine_that_took_it(version: int) -> None:
    server_a, client = opened(version)
    sid = client.sid
    assert sid is not None
    server_a.engine.session(sid).data["user"] = "ada"
    server_a.send(sid, "queued on A")
    held_on_a = None
    if version == 4:
        assert text_messages(client.poll()) == ["queued on A"]
        held_on_a = client.get()
        assert held_on_a.response is None  # held
    snapshot = pickle.loads(pickle.dumps(server_a.engine.hand_over(sid, server_a.now)))
    assert isinstance(snapshot, SessionSnapshot)
    assert not server_a.engine.has_session(sid)
    assert server_a.take_events() == []  # no disconnect: the session goes on elsewhere
    if held_on_a is not None:
        assert held_on_a.response is not None
        assert [p.type for p in client.decode(held_on_a.response)] == [PacketType.NOOP]

    server_b = Server(**OPTIONS)
    server_b.clock.advance(server_a.now - server_b.now)
    server_b.engine.import_session(snapshot, server_b.now)
    client = Client(server_b, version)  # the same client, now reaching B
    client.sid = sid
    assert server_b.engine.session(sid).data == {"user": "ada"}
    socket = client.upgrade()
    assert server_b.take_events() == [Upgraded(sid)]
    server_b.send(sid, "on B")
    frames = socket.receive()
    if version == 3:
        assert frames[0] == "4queued on A"  # left in the outbox, now on the WebSocket
        frames = frames[1:] or socket.receive()
    assert frames == ["4on B"]


def test_only_a_quiet_polling_session_can_move() -> None:
    server_a, client = opened(4)
    sid = client.sid
    assert sid is not None
    outcome = client.request("POST", headers={"content-length": "3"}, body=b"")
    assert not hasattr(outcome, "status")  # admitted: its body is being read
    with pytest.raises(SessionBusy, match="POST"):
        server_a.engine.hand_over(sid, server_a.now)
    probing_server, probing = opened(4)
    assert probing.sid is not None
    probing.probe()  # a WebSocket upgrading it here: it stays until that is decided
    with pytest.raises(SessionBusy, match="upgraded"):
        probing_server.engine.hand_over(probing.sid, probing_server.now)
    ws_server = Server(**OPTIONS)
    ws_client = Client(ws_server, 4)
    ws_client.open_ws()
    assert ws_client.sid is not None
    with pytest.raises(ValueError, match="WebSocket"):
        ws_server.engine.hand_over(ws_client.sid, ws_server.now)
    with pytest.raises(SessionUnknown):
        server_a.engine.hand_over("nope", server_a.now)
