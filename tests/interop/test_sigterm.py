"""SIGTERM on the WSGI servers that have no shutdown hook of their own: the contract
app's ``close_sessions_on_signal`` (the pattern docs/deployment.md, "Stopping",
recommends) closes the sessions, then the process exits.

Under eventlet a task started from the signal handler waited for the hub's next
timer (the interrupted poll is resumed): with one idle session the process took
~29 s to exit (the ping interval). The handler now wakes the hub through a socket.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import engineio
import pytest

from .harness import polling_handshake, start_server

pytestmark = pytest.mark.interop

#: The default 25 s ping interval: an exit that waited for a timer would take that long.
EXIT_S = 6.0  # DRAIN (2 s) for the idle polling session, the process's own exit


@pytest.mark.parametrize("name", ["eventlet", "gevent", "werkzeug"])
def test_sigterm_closes_the_sessions_then_exits(name: str, tmp_path: Path) -> None:
    server = start_server(name, {}, tmp_path / f"{name}.log")
    closed = threading.Event()
    client = engineio.Client(handle_sigint=False)
    client.on("disconnect", lambda *_: closed.set())
    try:
        client.connect(server.url, transports=["websocket"], engineio_path="engine.io")
        # A polling session with no GET pending (its client went quiet): nothing
        # wakes the server before its ping, 25 s away.
        assert polling_handshake(server.port)
        started = time.monotonic()
        server.terminate()
        server.proc.wait(EXIT_S)
        exited = time.monotonic() - started
        assert closed.wait(1), f"the WebSocket session was not closed:\n{server.log_tail()}"
        assert "engineio-shutdown: 2 sessions" in server.log_tail(), server.log_tail()
        assert exited < EXIT_S
    finally:
        client.disconnect()
        server.stop()
