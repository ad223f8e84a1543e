"""``Server`` (threading backend) message handlers off the read path (``async_handlers``).

A real Werkzeug threaded server and python-engineio's client: a handler that
blocks longer than the heartbeat allows keeps its session and the messages
sent meanwhile follow in order; with ``async_handlers=False`` the session
times out. The queue's bound and the order of a disconnect behind queued
messages are checked on the real server with an in-memory blocking WebSocket.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tests.helpers import EngineIOPeer as Peer
from tests.helpers import drain
from werkzeug.serving import make_server

from engineio_core import MAX_QUEUED_EVENTS, DisconnectReason, Request, Server, WSGIApp

WAIT = 5.0
PING: dict[str, Any] = {"ping_interval": 0.3, "ping_timeout": 0.2}
SLOW = 0.6  # three times ping_timeout: longer than ping_interval + ping_timeout
TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling"]}


@contextmanager
def serve(eio: Server) -> Iterator[int]:
    """Serve ``eio`` under Werkzeug's threaded server on a free port."""
    httpd = make_server("127.0.0.1", 0, WSGIApp(eio), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield httpd.socket.getsockname()[1]
    finally:
        eio.shutdown()
        httpd.shutdown()
        thread.join(WAIT)
        httpd.server_close()


def slow_server(async_handlers: bool) -> tuple[Server, queue.Queue[Any]]:
    """A server whose handler blocks SLOW seconds for "slow"; what it saw, in order."""
    eio = Server(async_mode="threading", async_handlers=async_handlers, **PING)
    seen: queue.Queue[Any] = queue.Queue()

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        if data == "slow":
            seen.put("slow:start")
            time.sleep(SLOW)
            seen.put("slow:end")
        else:
            seen.put(data)
        eio.send(sid, f"done:{data!s}")

    @eio.on("disconnect")
    def disconnect(sid: str, reason: DisconnectReason) -> None:
        seen.put(("disconnect", reason))

    return eio, seen


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_slow_handler_keeps_the_session_and_the_order(transport: str) -> None:
    eio, seen = slow_server(async_handlers=True)
    with serve(eio) as port:
        peer = Peer(port, TRANSPORTS[transport])
        try:
            for data in ("slow", "a", "b", "c"):
                peer.client.send(data)
            for data in ("slow", "a", "b", "c"):
                peer.expect(f"done:{data}")
            assert peer.client.state == "connected"
            peer.client.sleep(2 * SLOW)  # still answering after two more heartbeats
            peer.client.send("d")
            peer.expect("done:d")
            assert drain(seen) == ["slow:start", "slow:end", "a", "b", "c", "d"]
        finally:
            peer.close()


def test_without_async_handlers_a_slow_handler_times_the_session_out() -> None:
    transport = "websocket"  # over polling the heartbeat waits for the POST's answer
    eio, seen = slow_server(async_handlers=False)
    with serve(eio) as port:
        peer = Peer(port, TRANSPORTS[transport])
        try:
            peer.client.send("slow")
            events = [seen.get(timeout=WAIT) for _ in range(3)]
            assert ("disconnect", DisconnectReason.PING_TIMEOUT) in events
        finally:
            peer.close()


def test_a_handler_that_raises_is_logged_and_the_session_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="engineio_core")
    eio = Server(async_mode="threading", async_handlers=True)

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        if data == "fail":
            raise ValueError("boom")
        eio.send(sid, data)

    with serve(eio) as port:
        peer = Peer(port, ["websocket"])
        try:
            peer.client.send("fail")
            peer.client.send("still here")
            peer.expect("still here")
            sid = peer.client.sid
        finally:
            peer.close()
    failures = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert [r.getMessage() for r in failures] == [f"message handler failed (session {sid})"]
    assert failures[0].exc_info is not None
    assert str(failures[0].exc_info[1]) == "boom"


# ---------------------------------------------------------------------- in-memory WebSocket
class FakeWebSocket:
    """A blocking ``SyncWebSocket`` fed from a queue; counts what the server read."""

    def __init__(self) -> None:
        self.incoming: queue.Queue[str | bytes | None] = queue.Queue()
        self.got: queue.Queue[str | bytes] = queue.Queue()
        self.reads = 0

    def accept(self) -> None:
        return None

    def refuse(self, response: Any) -> None:
        raise AssertionError(f"refused: {response}")

    def receive(self) -> str | bytes | None:
        data = self.incoming.get(timeout=4 * WAIT)
        self.reads += 1
        return data

    def send(self, data: str | bytes) -> None:
        self.got.put(data)

    def close(self, code: int) -> None:
        return None


class ChunkedWebSocket(FakeWebSocket):
    """Reads arrive in chunks, as from a socket: a list put in ``incoming`` is one
    read; ``receive`` returns its first message and keeps the rest, which
    ``buffered``/``receive_ready`` hand over. Each ``send_many`` batch is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: deque[str | bytes] = deque()
        self.batches: list[list[str | bytes]] = []

    def receive(self) -> str | bytes | None:
        if self.kept:
            return self.kept.popleft()
        chunk: Any = super().receive()
        if not isinstance(chunk, list):
            return chunk  # type: ignore[no-any-return]
        self.kept.extend(chunk[1:])
        return chunk[0]  # type: ignore[no-any-return]

    def buffered(self) -> bool:
        return bool(self.kept)

    def receive_ready(self) -> str | bytes | None:
        return self.kept.popleft() if self.kept else None

    def send_many(self, frames: list[str | bytes]) -> None:
        self.batches.append(list(frames))
        for frame in frames:
            self.got.put(frame)


REQUEST = Request("GET", {"EIO": "4", "transport": "websocket"}, {}, path="/engine.io/")


@contextmanager
def connected(eio: Server, ws: FakeWebSocket | None = None,
              ) -> Iterator[tuple[FakeWebSocket, threading.Thread]]:
    ws = ws or FakeWebSocket()
    thread = threading.Thread(target=eio.handle_websocket, args=(REQUEST, ws), daemon=True)
    thread.start()
    opened = ws.got.get(timeout=WAIT)
    assert isinstance(opened, str)
    assert opened.startswith("0{")
    try:
        yield ws, thread
    finally:
        ws.incoming.put(None)
        thread.join(WAIT)
        eio.shutdown()


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_the_queue_is_bounded_and_keeps_its_order() -> None:
    eio = Server(async_mode="threading", async_handlers=True)
    release = threading.Event()
    handled: list[str] = []

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        assert isinstance(data, str)
        if data == "block":
            assert release.wait(WAIT)
        handled.append(data)

    with connected(eio) as (ws, _):
        count = MAX_QUEUED_EVENTS + 100
        ws.incoming.put("4block")
        for n in range(count):
            ws.incoming.put(f"4{n}")
        wait_for(lambda: ws.reads == 1 + MAX_QUEUED_EVENTS)
        time.sleep(0.2)  # the reader waits at the bound: nothing more is read
        assert ws.reads == 1 + MAX_QUEUED_EVENTS
        assert handled == []
        release.set()
        wait_for(lambda: len(handled) == count + 1)
        assert handled == ["block"] + [str(n) for n in range(count)]
        assert ws.reads == 1 + count


def test_disconnect_comes_after_the_queued_messages() -> None:
    eio = Server(async_mode="threading", async_handlers=True)
    release = threading.Event()
    events: list[Any] = []

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        if data == "block":
            assert release.wait(WAIT)
        events.append(data)

    @eio.on("disconnect")
    def disconnect(sid: str, reason: DisconnectReason) -> None:
        events.append(reason)

    with connected(eio) as (ws, thread):
        sid = eio.session_ids()[0]
        for frame in ("4block", "4a", "4b", None):
            ws.incoming.put(frame)
        wait_for(lambda: not eio.has_session(sid))  # closed while the handler blocks
        assert events == []
        release.set()
        wait_for(lambda: len(events) == 4)
        assert events == ["block", "a", "b", DisconnectReason.TRANSPORT_CLOSE]
        thread.join(WAIT)  # the request's thread returns once reading is over
        assert not thread.is_alive()


@pytest.mark.parametrize("async_handlers", [True, False])
def test_a_pipelined_read_is_handled_in_one_turn_and_answered_in_one_write(
        async_handlers: bool) -> None:
    """Ten messages in one read: the reading thread handles them one after the
    other without going idle in between, and (``async_handlers``) writes their ten
    answers at once, after the last."""
    eio = Server(async_mode="threading", async_handlers=async_handlers)

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        eio.send(sid, data)

    with connected(eio, ChunkedWebSocket()) as (ws, _):
        assert isinstance(ws, ChunkedWebSocket)
        frames: list[str | bytes] = [f"4m{n}" for n in range(10)]
        ws.incoming.put(frames)  # type: ignore[arg-type]
        assert [ws.got.get(timeout=WAIT) for _ in frames] == frames
        assert ws.reads == 1
        assert ws.batches == ([frames] if async_handlers else [])


def test_a_handler_blocking_after_a_send_gets_its_frame_out_with_more_read() -> None:
    """The reader holds a pipelined batch's answers until the batch is handled; a
    handler that sends and then blocks is a slow handler: the thread that takes
    the reading over writes what it held."""
    eio = Server(async_mode="threading", async_handlers=True)
    release = threading.Event()

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        eio.send(sid, f"got:{data!s}")
        if data == "block":
            assert release.wait(WAIT)

    with connected(eio, ChunkedWebSocket()) as (ws, _):
        ws.incoming.put(["4block", "4next"])  # type: ignore[arg-type]
        try:
            assert ws.got.get(timeout=WAIT) == "4got:block"  # the handler still blocks
        finally:
            release.set()
        assert ws.got.get(timeout=WAIT) == "4got:next"


def test_contract_app_sleep_command() -> None:
    from benchmarks.contract_app import register_sync

    eio = Server(async_mode="threading", async_handlers=True)
    register_sync(eio)
    with connected(eio) as (ws, _):
        for frame in ("4cmd:sleep:50", "4cmd:sleep:x", "4after"):
            ws.incoming.put(frame)
        assert [ws.got.get(timeout=WAIT) for _ in range(3)] == [
            "4slept:50", "4cmd:sleep:x", "4after"]


def test_on_by_default_on_the_sync_server() -> None:
    assert Server(async_mode="threading").async_handlers is True
