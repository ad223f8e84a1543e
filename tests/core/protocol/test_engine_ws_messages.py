"""WebSocket messages come back from ``receive_ws``; frames go out through ``data_to_send``."""

from __future__ import annotations

import pytest

from engineio_core.protocol.config import ServerConfig
from engineio_core.protocol.engine import Engine, Handshake
from engineio_core.protocol.http import Request
from engineio_core.protocol.session import Channel


def open_ws(version: int) -> tuple[Engine, Channel]:
    engine = Engine(ServerConfig.from_options(ping_interval=0.3, ping_timeout=0.2))
    request = Request("GET", {"EIO": str(version), "transport": "websocket"}, {})
    handshake = engine.handle_websocket(request, 0.0)
    assert isinstance(handshake, Handshake)
    channel = engine.accept(handshake, 0.0)
    assert isinstance(channel, Channel)
    frames = engine.data_to_send(channel)
    assert len(frames) == 1
    assert str(frames[0]).startswith('0{"sid":')  # the open packet
    assert engine.data_to_send(channel) == []  # taken: a second call has nothing
    engine.take_ready()
    return engine, channel


@pytest.mark.parametrize("version", [3, 4])
def test_messages_are_returned_not_queued(version: int) -> None:
    engine, channel = open_ws(version)
    timer = engine.get_timer()
    assert engine.receive_ws(channel, "4héllo 😀", 0.1) == "héllo 😀"
    frame = b"\x04\x01\x02" if version == 3 else b"\x01\x02"
    assert engine.receive_ws(channel, frame, 0.1) == b"\x01\x02"
    # The runtimes' fast path relies on this: a message changes nothing else.
    assert engine.events_received() == []
    assert not engine.has_output()
    assert engine.get_timer() == timer


def test_control_packets_produce_frames_and_events() -> None:
    engine, channel = open_ws(3)
    assert engine.receive_ws(channel, "2", 0.1) is None
    ready = engine.take_ready()
    assert ready == [channel]
    assert engine.data_to_send(channel) == ["3"]
    assert engine.receive_ws(channel, "garbage", 0.2) is None
    assert channel.close_code == 1002
    assert [type(e).__name__ for e in engine.events_received()] == ["Disconnect"]


def test_sends_are_written_in_order() -> None:
    engine, channel = open_ws(4)
    engine.send(channel.sid, "a")
    engine.send(channel.sid, b"\x00")
    engine.send(channel.sid, "b")
    assert engine.take_ready() == [channel]  # listed once for the three
    assert engine.data_to_send(channel) == ["4a", b"\x00", "4b"]
