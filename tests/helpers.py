"""Small client-side helpers several test packages share (import as ``tests.helpers``)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import engineio  # python-engineio, a test client
import requests
import uvicorn
import websocket  # websocket-client
from benchmarks.ports import PortPicker, ephemeral_low

WAIT = 5.0


def masked_text_frame(text: str, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    """A client's masked WebSocket text frame (payloads under 126 bytes)."""
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))


def assert_websocket_echo(port: int) -> None:
    """Open an EIO 4 WebSocket session on 127.0.0.1:``port`` and check it echoes a message."""
    assert_echoes(websocket.create_connection(
        f"ws://127.0.0.1:{port}/engine.io/?EIO=4&transport=websocket", timeout=5))


def assert_echoes(ws: websocket.WebSocket) -> None:
    """Check that a fresh EIO 4 WebSocket session sends its open packet and echoes
    a message; closes ``ws``."""
    try:
        opened = ws.recv()
        assert isinstance(opened, str)
        assert opened.startswith("0{")
        ws.send("4hello")
        assert ws.recv() == "4hello"
    finally:
        ws.close()


def drain(seen: queue.Queue[Any]) -> list[Any]:
    """Everything in ``seen`` now, in order, without waiting."""
    items = []
    while not seen.empty():
        items.append(seen.get_nowait())
    return items


def wait_until_sent(client: engineio.Client) -> None:
    """Wait (at most ``WAIT``) until python-engineio's ``client`` has written all it queued.

    Call it before ``disconnect()``: python-engineio's write loop ends when
    ``disconnect()`` runs while a POST is in flight, and the close packet is then
    never sent, so the session and the client's held GET last until the next
    ping, 25 s by default (docs/deployment.md, "Clients that do not say goodbye").
    """
    deadline = time.monotonic() + WAIT
    while client.queue.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.005)


async def async_wait_until_sent(client: engineio.AsyncClient) -> None:
    """:func:`wait_until_sent` for python-engineio's ``AsyncClient``."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client.queue.join(), WAIT)


class EngineIOPeer:
    """python-engineio's sync client on 127.0.0.1:``port``, recording what it receives."""

    def __init__(self, port: int, transports: list[str]) -> None:
        # Our own HTTP session: the client drops its own unclosed when the server
        # closes a polling session.
        self.http = requests.Session()
        self.client = engineio.Client(request_timeout=WAIT, http_session=self.http)
        self.messages: queue.Queue[str | bytes] = queue.Queue()
        self.client.on("message", self.messages.put)
        self.client.connect(f"http://127.0.0.1:{port}", transports=transports)

    def expect(self, data: str) -> None:
        assert self.messages.get(timeout=WAIT) == data

    def close(self) -> None:
        if self.client.state == "connected":
            wait_until_sent(self.client)
            self.client.disconnect()
        for loop in ("read_loop_task", "write_loop_task"):  # requests still in flight
            thread = getattr(self.client, loop, None)
            if thread is not None:
                thread.join(WAIT)
        self.http.close()
        ws = getattr(self.client, "ws", None)
        if ws is not None:  # left open when the server closed the session
            ws.shutdown()


# Below the ephemeral range (which outgoing connections take ports from) and above
# cluster_serve's own range for its workers (benchmarks/ports.py says why).
_ports = PortPicker(20000, max(ephemeral_low(), 24000))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, that no outgoing connection can take."""
    return _ports()


@contextmanager
def serve_asgi(app: Any, **config: Any) -> Iterator[int]:
    """Run ``app`` under uvicorn on a free port until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           ws_per_message_deflate=False, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped while starting"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(WAIT)
        assert not thread.is_alive(), "uvicorn did not stop"
