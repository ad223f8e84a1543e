"""The send buffer bound: a client that does not read is closed, not buffered for.

``max_send_buffer_size`` (characters/bytes) and ``max_send_buffer_packets``
bound what waits for one session: the outbox of a polling session, the frames
of a WebSocket not yet handed over plus the batch the runtime is writing.
"""

from __future__ import annotations

import pytest

from engineio_core.protocol.config import ServerConfig
from engineio_core.protocol.engine import Engine, Handshake
from engineio_core.protocol.errors import ConfigError, SessionUnknown
from engineio_core.protocol.events import Disconnect, DisconnectReason
from engineio_core.protocol.http import Request, Response
from engineio_core.protocol.session import Channel


def engine_with(**options: object) -> Engine:
    return Engine(ServerConfig.from_options(ping_interval=2, ping_timeout=2, **options))


def open_ws(engine: Engine, version: int = 4) -> Channel:
    request = Request("GET", {"EIO": str(version), "transport": "websocket"}, {})
    handshake = engine.handle_websocket(request, 0.0)
    assert isinstance(handshake, Handshake)
    channel = engine.accept(handshake, 0.0)
    assert isinstance(channel, Channel)
    assert len(engine.data_to_send(channel)) == 1  # the open packet
    assert engine.data_to_send(channel) == []  # the runtime wrote it
    engine.take_ready()
    return channel


def open_polling(engine: Engine) -> str:
    handshake = engine.handle_request(Request("GET", {"EIO": "4", "transport": "polling"}, {}),
                                      0.0)
    assert isinstance(handshake, Handshake)
    response = engine.accept(handshake, 0.0)
    assert isinstance(response, Response)
    return handshake.sid


def code(channel: Channel) -> int | None:
    """The close code, read afresh (mypy would keep an earlier narrowing)."""
    return channel.close_code


def disconnects(engine: Engine) -> list[Disconnect]:
    return [e for e in engine.events_received() if isinstance(e, Disconnect)]


def test_defaults_and_validation() -> None:
    config = ServerConfig.from_options()
    assert config.max_send_buffer_size == 4 * 1024 * 1024
    assert config.max_send_buffer_packets == 10_000
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ConfigError, match="max_send_buffer_size"):
            ServerConfig.from_options(max_send_buffer_size=bad)
        with pytest.raises(ConfigError, match="max_send_buffer_packets"):
            ServerConfig.from_options(max_send_buffer_packets=bad)


def test_websocket_within_the_bound_stays_open() -> None:
    engine = engine_with(max_send_buffer_size=1000)
    channel = open_ws(engine)
    for _ in range(9):
        engine.send(channel.sid, "x" * 100)  # 9 x 101 characters queued
    assert engine.session_info(channel.sid).buffered == 909
    assert channel.close_code is None
    assert len(engine.data_to_send(channel)) == 9
    assert engine.session_info(channel.sid).buffered == 909  # being written: still counts
    assert engine.data_to_send(channel) == []  # written
    assert engine.session_info(channel.sid).buffered == 0
    assert disconnects(engine) == []


@pytest.mark.parametrize("version", [3, 4])
def test_websocket_past_the_bound_is_aborted(version: int) -> None:
    engine = engine_with(max_send_buffer_size=1000)
    channel = open_ws(engine, version)
    for _ in range(9):
        engine.send(channel.sid, b"y" * 101)  # 909, or 918 with v3's type bytes
    assert channel.close_code is None
    engine.send(channel.sid, b"y" * 101)  # over the bound
    assert code(channel) == 1000
    assert channel.abort  # the runtime drops the connection
    assert engine.take_ready() == [channel]
    assert engine.data_to_send(channel) == []  # what waited is dropped, not written
    [event] = disconnects(engine)
    assert event.reason is DisconnectReason.SEND_BUFFER_FULL
    assert str(event.reason) == "send buffer full"
    assert not engine.has_session(channel.sid)
    with pytest.raises(SessionUnknown):
        engine.send(channel.sid, "more")


def test_the_batch_being_written_counts_until_the_runtime_asks_again() -> None:
    engine = engine_with(max_send_buffer_size=1000)
    channel = open_ws(engine)
    for _ in range(6):
        engine.send(channel.sid, "z" * 99)  # 600
    assert len(engine.data_to_send(channel)) == 6  # the runtime is writing these (stalled)
    for _ in range(4):
        engine.send(channel.sid, "z" * 99)  # 600 being written + 400 queued
    assert channel.close_code is None
    engine.send(channel.sid, "z")  # 1002
    assert code(channel) is not None
    assert channel.abort
    assert disconnects(engine)[0].reason is DisconnectReason.SEND_BUFFER_FULL


def test_websocket_packet_bound() -> None:
    engine = engine_with(max_send_buffer_packets=5)
    channel = open_ws(engine)
    for _ in range(5):
        engine.send(channel.sid, "")
    assert channel.close_code is None
    engine.send(channel.sid, "")
    assert channel.abort
    assert disconnects(engine)[0].reason is DisconnectReason.SEND_BUFFER_FULL


def test_heartbeat_frames_count_too() -> None:
    engine = engine_with(max_send_buffer_packets=3)
    channel = open_ws(engine)
    engine.send(channel.sid, "a")
    engine.send(channel.sid, "b")
    engine.send(channel.sid, "c")
    engine.handle_timer(2.0)  # the ping is the fourth frame waiting
    assert channel.abort
    assert disconnects(engine)[0].reason is DisconnectReason.SEND_BUFFER_FULL


def test_ping_timeout_drops_what_waits_and_aborts() -> None:
    engine = engine_with()
    channel = open_ws(engine)
    engine.send(channel.sid, "unread")
    engine.handle_timer(2.0)  # ping
    engine.handle_timer(4.0)  # no pong
    assert code(channel) == 1000
    assert channel.abort
    assert engine.data_to_send(channel) == []
    assert disconnects(engine)[0].reason is DisconnectReason.PING_TIMEOUT


def test_a_server_close_still_writes_what_waits() -> None:
    engine = engine_with()
    channel = open_ws(engine)
    engine.send(channel.sid, "last words")
    engine.close(channel.sid, 0.5)
    assert code(channel) == 1000
    assert not channel.abort
    assert engine.data_to_send(channel) == ["4last words", "1"]


def test_polling_outbox_bound() -> None:
    engine = engine_with(max_send_buffer_size=1000)
    sid = open_polling(engine)
    for _ in range(10):
        engine.send(sid, "p" * 100)  # no GET held: they wait in the outbox
    assert engine.session_info(sid).buffered == 1000
    assert engine.has_session(sid)
    engine.send(sid, "p")
    assert not engine.has_session(sid)  # closed; nothing is kept for it
    assert disconnects(engine)[0].reason is DisconnectReason.SEND_BUFFER_FULL
    response = engine.handle_request(
        Request("GET", {"EIO": "4", "transport": "polling", "sid": sid}, {}), 1.0)
    assert isinstance(response, Response)
    assert response.status == 400


def test_polling_packet_bound_and_a_get_empties_the_outbox() -> None:
    engine = engine_with(max_send_buffer_packets=3)
    sid = open_polling(engine)
    for _ in range(3):
        engine.send(sid, "q")
    response = engine.handle_request(
        Request("GET", {"EIO": "4", "transport": "polling", "sid": sid}, {}), 0.5)
    assert isinstance(response, Response)
    assert response.status == 200
    assert engine.session_info(sid).buffered == 0
    for _ in range(3):
        engine.send(sid, "q")
    assert engine.has_session(sid)
    engine.send(sid, "q")
    assert not engine.has_session(sid)
