"""Cluster mode under the commands users type (issue 15, item 2): ``gunicorn -w 4``
with each worker class, ``uvicorn --workers 4``, ``hypercorn --workers 4``, and the
Flask and Django apps under them; no proxy, no sticky sessions.

Each deployment joins a real ``redis-server`` (started here) through
``EIO_CLUSTER_REDIS`` (the contract apps pass it on as ``cluster=``, Flask's
``ENGINEIO_CLUSTER``, Django's ``ENGINEIO["CLUSTER"]``). The clients are
python-engineio's, with ``Connection: close`` on every request (as behind a
proxy that does not keep connections alive), so each request of a session
lands on whichever worker accepts it: most reach a worker that does not hold
the session. The control runs ``uvicorn --workers 4`` without Redis: the same
clients fail there.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import engineio
import pytest
import requests

from .harness import ClientJob, free_port, run_clients, s_close, s_expect, s_open, s_send
from .peer import Peer

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
WORKERS = "4"
PEERS = 8
ECHOES = 4
READY_S = 40.0
STOP_S = 15.0

_GUNICORN = [sys.executable, "-m", "gunicorn", "-w", WORKERS, "--no-control-socket",
             "--graceful-timeout", "2", "-b", "127.0.0.1:{port}"]
_EVENTLET = "engineio_core.backends.gunicorn_eventlet.EventletWorker"
_UVICORN = [sys.executable, "-m", "uvicorn", "--workers", WORKERS, "--host", "127.0.0.1",
            "--port", "{port}", "--log-level", "warning", "--no-access-log"]
_ASGI = "benchmarks.asgi_app:app"
_DJANGO_ASGI = "benchmarks.django_project.asgi:application"
_DJANGO_WSGI = "benchmarks.django_project.wsgi:application"
_FLASK = "benchmarks.flask_app:app"

#: deployment -> command (``{port}`` replaced): what docs/cluster.md tells users to run
COMMANDS: dict[str, list[str]] = {
    "gunicorn-gevent": [*_GUNICORN, "-k", "gevent", "benchmarks.wsgi_apps:gevent_app"],
    "gunicorn-gthread": [*_GUNICORN, "-k", "gthread", "--threads", "32",
                         "benchmarks.wsgi_apps:threading_app"],
    "gunicorn-eventlet": [*_GUNICORN, "-k", _EVENTLET, "benchmarks.wsgi_apps:eventlet_app"],
    "gunicorn-uvicorn-worker": [*_GUNICORN, "-k", "uvicorn.workers.UvicornWorker", _ASGI],
    "uvicorn-workers": [*_UVICORN, _ASGI],
    "hypercorn-workers": [sys.executable, "-m", "hypercorn", "--workers", WORKERS,
                          "-b", "127.0.0.1:{port}", _ASGI],
    "flask-gunicorn-gevent": [*_GUNICORN, "-k", "gevent", _FLASK],
    "flask-gunicorn-gthread": [*_GUNICORN, "-k", "gthread", "--threads", "32", _FLASK],
    "flask-gunicorn-eventlet": [*_GUNICORN, "-k", _EVENTLET, _FLASK],
    "flask-uwsgi-gevent": [str(Path(sys.executable).with_name("uwsgi")), "--http",
                           "127.0.0.1:{port}", "--http-keepalive", "--http-websockets",
                           "--gevent", "100", "--gevent-monkey-patch", "--master",
                           "--processes", WORKERS, "--module", _FLASK, "--disable-logging",
                           "--die-on-term"],
    "django-gunicorn-gthread": [*_GUNICORN, "-k", "gthread", "--threads", "32", _DJANGO_WSGI],
    "django-gunicorn-uvicorn-worker": [*_GUNICORN, "-k", "uvicorn.workers.UvicornWorker",
                                       _DJANGO_ASGI],
    "django-uvicorn-workers": [*_UVICORN, _DJANGO_ASGI],
}


@contextmanager
def deployment(command: list[str], redis: str | None, log: Path, *, path: str = "/engine.io/",
               extra_env: dict[str, str] | None = None) -> Iterator[int]:
    """Run ``command`` on a free port (in cluster mode when ``redis`` is a URL) until it
    answers a polling handshake at ``path``; stop it (and its workers) afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "EIO_CLUSTER_REDIS"}
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if redis is not None:
        env["EIO_CLUSTER_REDIS"] = redis
    argv = [part.replace("{port}", str(port)) for part in command]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + READY_S
        nodes: set[str] = set()
        # Ready when every worker has answered a handshake: in a cluster a session id
        # names its worker (without one, the first answer will do).
        while len(nodes) < (int(WORKERS) if redis else 1):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"workers up: {nodes}\n{log.read_text()}"
            try:
                nodes.add(_handshake_and_close(port, path)[:4])
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):  # workers the master left behind
            os.killpg(process.pid, signal.SIGKILL)


def _handshake_and_close(port: int, path: str = "/engine.io/") -> str:
    """Open a polling session and close it (each request on a new connection); its id.

    Raises ``OSError`` only when no session was opened: one that was is closed (a
    worker's first request joins the cluster, which can take a while on a busy
    machine), or ``cmd:count`` would count it later.
    """
    url = f"http://127.0.0.1:{port}{path}?EIO=4&transport=polling"
    with urllib.request.urlopen(url, timeout=READY_S) as answer:  # not given up on
        body = answer.read()
    sid: str = json.loads(body[body.index(b"{"):])["sid"]
    urllib.request.urlopen(f"{url}&sid={sid}", data=b"1", timeout=READY_S).close()
    return sid


def fresh_connection_peer(port: int, upgrade: bool) -> Peer:
    """A peer whose every request opens a new connection (``Connection: close``)."""
    http = requests.Session()
    http.headers["Connection"] = "close"
    return Peer(f"http://127.0.0.1:{port}", ["polling", "websocket"] if upgrade else ["polling"],
                http_session=http)


def nodes_of(peers: list[Peer]) -> set[str]:
    """The workers holding the peers' sessions (a session id names its node)."""
    return {peer.client.sid[:4] for peer in peers if peer.client.sid}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_command_serves_every_session_from_any_worker(
        name: str, redis_url: str, tmp_path: Path) -> None:
    with deployment(COMMANDS[name], redis_url, tmp_path / "server.log") as port:
        peers: list[Peer] = []
        try:
            for n in range(PEERS):
                peers.append(fresh_connection_peer(port, upgrade=n % 4 == 3))
            # Which worker accepts a handshake is the kernel's choice (and a busy
            # machine's): on one worker so far, open more until another takes one.
            while len(nodes_of(peers)) < 2 and len(peers) < 4 * PEERS:
                peers.append(fresh_connection_peer(port, upgrade=False))
            nodes = nodes_of(peers)
            assert len(nodes) >= 2, f"{name}: every session on one worker: {nodes}"
            for peer in peers:
                assert peer.echoes(ECHOES), f"{name}: a session lost its messages"
            upgraded = [peer.client.transport() for n, peer in enumerate(peers[:PEERS])
                        if n % 4 == 3]
            assert upgraded == ["websocket"] * len(upgraded)
            # cluster-wide: the count, and a broadcast from one session reaching all
            peers[0].client.send("cmd:count")
            assert peers[0].next() == f"count:{len(peers)}"
            peers[1].client.send("cmd:broadcast:all")
            assert [peer.next() for peer in peers] == ["all"] * len(peers)
        finally:
            for peer in peers:
                peer.close()


def test_relayed_upgrades_leave_every_session_on_its_worker(
        redis_url: str, tmp_path: Path) -> None:
    """``cluster_upgrades="relay"`` under ``uvicorn --workers 4``: every client upgrades
    (most WebSockets reach another worker than their session's, which relays them),
    with python-engineio and npm engine.io-client 6 and 3."""
    with deployment(COMMANDS["uvicorn-workers"], redis_url, tmp_path / "server.log",
                    extra_env={"EIO_CLUSTER_UPGRADES": "relay"}) as port:
        peers: list[Peer] = []
        try:
            for _ in range(PEERS):
                peers.append(fresh_connection_peer(port, upgrade=True))
            for peer in peers:
                assert peer.echoes(ECHOES), "a relayed session lost its messages"
            assert [peer.client.transport() for peer in peers] == ["websocket"] * PEERS
            peers[0].client.send("cmd:count")
            assert peers[0].next() == f"count:{PEERS}"
            peers[1].client.send("cmd:broadcast:all")
            assert [peer.next() for peer in peers] == ["all"] * PEERS
            url = f"http://127.0.0.1:{port}"
            steps = [s_open(), s_send("over the relay"), s_expect(1), s_close()]
            for result in run_clients([ClientJob(kind, "upgrade", url, steps)
                                       for kind in ("v6", "v3", "v6", "v3")]):
                result.expect_ok()
                assert result.texts() == ["over the relay"], result.summary()
        finally:
            for peer in peers:
                peer.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text(errors="replace")


def test_without_the_cluster_the_same_clients_fail(tmp_path: Path) -> None:
    """The control: ``uvicorn --workers 4`` with no Redis answers most requests of a
    session from a worker that does not hold it."""
    with deployment(COMMANDS["uvicorn-workers"], None, tmp_path / "server.log") as port:
        failures = 0
        attempts = 0
        # Some workers may still be starting at first: try until one session fails.
        while not failures and attempts < 20:
            attempts += 1
            try:
                peer = fresh_connection_peer(port, upgrade=False)
            except engineio.exceptions.ConnectionError:
                failures += 1
                continue
            if not peer.echoes(ECHOES):
                failures += 1
            peer.close()
        assert failures, "no session failed without the cluster: the control proves nothing"
