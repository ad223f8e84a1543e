"""python-socketio on our engine in cluster mode (issue 16): ``uvicorn --workers 4``
serving ``benchmarks.socketio_serve:cluster_asgi_app``, and Flask-SocketIO under
``gunicorn -w 4`` (gevent and gthread workers) serving ``cluster_flask_app``; no proxy,
no sticky sessions.

The engine's ``cluster=`` routes every request of a session to the worker that holds
it; python-socketio's own ``AsyncRedisManager`` (Flask-SocketIO's ``message_queue``)
carries room emits and broadcasts to every worker (both on a real ``redis-server``
started here). The clients are python-socketio's, with ``Connection: close`` on every
request, so most requests of a session reach a worker that does not hold it.
python-socketio's state of a connection cannot move with the session, so a WebSocket
upgrade reaching another worker is relayed to the session's worker
(``AsyncServer``: ``cluster_upgrades="relay"``) or refused there (the sync
``Server``: ``"refuse"``; that client stays on polling). No handler may fail on any
worker.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from .test_cluster_commands import _GUNICORN, _UVICORN, deployment

pytestmark = pytest.mark.interop

CLIENTS = 6
CALLS = 3
TIMEOUT_S = 10.0
#: heartbeats far apart: every request of these clients opens a connection of its own
ENV = {"EIO_PING_INTERVAL": "5000", "EIO_PING_TIMEOUT": "5000"}


class Received:
    """What one client got of the ``room-message`` and ``broadcast`` events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.changed = threading.Condition()

    def add(self, event: str, args: tuple[Any, ...]) -> None:
        with self.changed:
            self.events.append((event, args))
            self.changed.notify_all()

    def wait_for(self, event: str, args: tuple[Any, ...]) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: (event, args) in self.events, TIMEOUT_S)


def connect(port: int, upgrade: bool) -> tuple[socketio.Client, Received]:
    http = requests.Session()
    http.headers["Connection"] = "close"
    client = socketio.Client(reconnection=False, http_session=http)
    received = Received()
    for event in ("room-message", "broadcast"):
        client.on(event, lambda *args, event=event: received.add(event, args))
    client.connect(f"http://127.0.0.1:{port}", wait_timeout=TIMEOUT_S,
                   transports=["polling", "websocket"] if upgrade else ["polling"])
    return client, received


def test_python_socketio_runs_on_every_worker_without_sticky_sessions(
        redis_url: str, tmp_path: Path) -> None:
    command = [*_UVICORN, "benchmarks.socketio_serve:cluster_asgi_app"]
    with deployment(command, redis_url, tmp_path / "server.log", path="/socket.io/",
                    extra_env=ENV) as port:
        exercise(port, relayed=True)
    no_failure_in(tmp_path / "server.log")


@pytest.mark.parametrize("worker", [["-k", "gevent"], ["-k", "gthread", "--threads", "32"]],
                         ids=["gevent", "gthread"])
def test_flask_socketio_runs_on_every_gunicorn_worker_without_sticky_sessions(
        redis_url: str, tmp_path: Path, worker: list[str]) -> None:
    """Flask-SocketIO (a sync ``socketio.Server``) under ``gunicorn -w 4``: the
    engine's ``cluster=`` and Flask-SocketIO's ``message_queue``."""
    command = [*_GUNICORN, *worker, "benchmarks.socketio_serve:cluster_flask_app"]
    with deployment(command, redis_url, tmp_path / "server.log", path="/socket.io/",
                    extra_env=ENV) as port:
        exercise(port, relayed=False)
    no_failure_in(tmp_path / "server.log")


def exercise(port: int, relayed: bool) -> None:
    """Acks, polling and upgraded sessions on several workers, a room whose members
    are on different workers, a broadcast. ``relayed``: every upgrade succeeds."""
    clients: list[tuple[socketio.Client, Received]] = []
    try:
        for n in range(CLIENTS):
            clients.append(connect(port, upgrade=n % 3 == 2))
        for n, (client, _) in enumerate(clients):
            for call in range(CALLS):
                assert client.call("message-with-ack", (n, call),
                                   timeout=TIMEOUT_S) == (n, call)
        workers = {client.eio.sid[:4] for client, _ in clients}
        assert len(workers) >= 2, f"every session on one worker: {workers}"
        transports = [client.transport() for client, _ in clients]
        upgraded = ("websocket",) if relayed else ("websocket", "polling")
        assert all(t in upgraded if n % 3 == 2 else t == "polling"
                   for n, t in enumerate(transports)), transports
        # A room whose members are held by different workers.
        members = [clients[0], next(c for c in clients[1:]
                                    if c[0].eio.sid[:4] != clients[0][0].eio.sid[:4])]
        for client, _ in members:
            assert client.call("join", "room", timeout=TIMEOUT_S) == "room"
        clients[-1][0].emit("to-room", ("room", "to the room"))
        for _, received in members:
            assert received.wait_for("room-message", ("to the room",)), received.events
        clients[1][0].emit("broadcast", "to all")
        for _, received in clients:
            assert received.wait_for("broadcast", ("to all",)), received.events
    finally:
        for client, _ in clients:
            client.disconnect()


def no_failure_in(log: Path) -> None:
    """No handler failed and nothing was dropped for an unknown connection on any
    worker (python-socketio logs both, and the client sees neither at once)."""
    text = log.read_text(errors="replace")
    for sign in ("Traceback", "handler failed", "is not connected to namespace"):
        assert sign not in text, text[-3000:]
