"""``Engine.inline_messages``: WebSocket messages returned to the runtime instead of queued."""

from __future__ import annotations

import pytest

from engineio_core.protocol.config import ServerConfig
from engineio_core.protocol.engine import Engine, Handshake
from engineio_core.protocol.events import Message
from engineio_core.protocol.http import Request
from engineio_core.protocol.session import Channel


def open_ws(version: int, *, inline: bool) -> tuple[Engine, Channel]:
    engine = Engine(ServerConfig.from_options(ping_interval=0.3, ping_timeout=0.2))
    engine.inline_messages = inline
    request = Request("GET", {"EIO": str(version), "transport": "websocket"}, {})
    handshake = engine.handle_websocket(request, 0.0)
    assert isinstance(handshake, Handshake)
    channel = engine.accept(handshake, 0.0)
    assert isinstance(channel, Channel)
    assert str(channel.frames[0]).startswith('0{"sid":')  # the open packet
    channel.frames.clear()  # as a runtime writing it would
    engine.take_ready()
    return engine, channel


@pytest.mark.parametrize("version", [3, 4])
def test_messages_are_returned_not_queued(version: int) -> None:
    engine, channel = open_ws(version, inline=True)
    assert engine.receive_ws(channel, "4héllo 😀", 0.1) == "héllo 😀"
    frame = b"\x04\x01\x02" if version == 3 else b"\x01\x02"
    assert engine.receive_ws(channel, frame, 0.1) == b"\x01\x02"
    assert engine.events_received() == []
    assert not engine.has_output()


def test_control_packets_still_work_inline() -> None:
    engine, channel = open_ws(3, inline=True)
    assert engine.receive_ws(channel, "2", 0.1) is None
    assert [c.frames for c in engine.take_ready()] == [["3"]]
    assert engine.receive_ws(channel, "garbage", 0.2) is None
    assert channel.close_code == 1002
    assert [type(e).__name__ for e in engine.events_received()] == ["Disconnect"]


def test_default_queues_events() -> None:
    engine, channel = open_ws(4, inline=False)
    assert engine.receive_ws(channel, "4hi", 0.1) is None
    assert engine.events_received() == [Message(channel.sid, "hi")]
