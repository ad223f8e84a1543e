"""Cluster mode under faults (issue 15): a worker killed with SIGKILL ends only its
own sessions, Redis lost while running fails remote requests fast and leaves
local sessions alone until it is back, Redis missing at start is a clear error.

Real processes: ``benchmarks.cluster_serve`` (its own ``redis-server``, two uvicorn
workers, nginx round-robin), python-engineio's client, plain HTTP requests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .harness import free_port, polling_handshake
from .peer import Peer

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
PING_S = 1.0  # interval and timeout: a dead peer is noticed within 2 s
DROP_BOUND_S = 2 * PING_S + 1.0
READY_S = 30.0


@contextmanager
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Run ``benchmarks.cluster_serve`` (2 uvicorn workers, nginx) on a free port;
    yields its facts (pids and ports) with ``log`` (the log's path)."""
    port = free_port()
    log = tmp_path / "cluster.log"
    env = {**os.environ, "EIO_PING_INTERVAL": str(int(PING_S * 1000)),
           "EIO_PING_TIMEOUT": str(int(PING_S * 1000))}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.cluster_serve", "--runtime", "uvicorn",
             "--workers", "2", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_S
        facts = None
        while facts is None:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            found = re.search(r"^cluster ready (\{.*\})$", log.read_text(), re.M)
            facts = json.loads(found.group(1)) if found else None
            time.sleep(0.05)
        yield {**facts, "log": log}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post(port: int, sid: str, body: bytes) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{port}/engine.io/?EIO=4&transport=polling&sid={sid}"
    try:
        with urllib.request.urlopen(url, data=body, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_killed_worker_ends_only_its_own_sessions(tmp_path: Path) -> None:
    with cluster(tmp_path) as facts:
        port = facts["port"]
        url = f"http://127.0.0.1:{port}"
        victim, survivor = facts["workers"]
        victim_node = polling_handshake(victim["port"])[:4]
        peers: list[Peer] = []
        try:
            # Through nginx, until both workers hold sessions (round-robin spreads them).
            while len(peers) < 12 and (
                    len({p.sid[:4] for p in peers}) < 2 or len(peers) < 4):
                peers.append(Peer(url, ["websocket"] if len(peers) % 2 else ["polling"]))
            doomed = [p for p in peers if p.sid[:4] == victim_node]
            spared = [p for p in peers if p.sid[:4] != victim_node]
            assert doomed
            assert spared
            for peer in peers:
                peer.echo("before")
            os.kill(victim["pid"], signal.SIGKILL)
            killed = time.monotonic()
            for peer in doomed:
                assert peer.gone.wait(DROP_BOUND_S + 1), "a session of the killed worker lives on"
            assert time.monotonic() - killed <= DROP_BOUND_S + 1
            time.sleep(2 * PING_S)  # a heartbeat round for the others
            for peer in spared:
                assert not peer.gone.is_set(), (peer.sid, peer.client.transport(),
                                                facts["log"].read_text()[-3000:])
                peer.echo("after")  # their requests reach the survivor, some through nginx
            again = Peer(url, ["polling"])  # a client of the dead worker reconnects
            again.echo("back")
            peers.append(again)
            assert again.sid[:4] != victim_node
            assert survivor["port"]
        finally:
            for peer in peers:
                peer.close()


def test_redis_lost_then_back(tmp_path: Path) -> None:
    with cluster(tmp_path) as facts:
        first, second = facts["workers"]
        redis = facts["redis"]
        local = Peer(f"http://127.0.0.1:{first['port']}",
                     ["websocket"])  # every frame stays on its worker
        redis_again: subprocess.Popen[bytes] | None = None
        try:
            sid = polling_handshake(first["port"])
            assert post(second["port"], sid, b"4via the bus") == (200, b"ok")
            os.kill(redis["pid"], signal.SIGKILL)
            time.sleep(0.2)
            started = time.monotonic()
            status, body = post(second["port"], sid, b"4no bus")
            assert time.monotonic() - started < 1.0  # fails fast
            assert (status, json.loads(body)) == (
                503, {"code": 3, "message": "Cluster unavailable"})
            local.echo("still here")  # a local session is not touched
            assert post(first["port"], sid, b"4on its own node") == (200, b"ok")

            redis_again = subprocess.Popen(
                ["redis-server", "--port", str(redis["port"]), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            answer = (0, b"")
            while time.monotonic() < deadline:
                answer = post(second["port"], sid, b"4bus back")
                if answer[0] != 503:
                    break
                time.sleep(0.2)
            assert answer == (200, b"ok")
            local.echo("still here after")
            log = facts["log"].read_text()  # (stopping the new Redis below is another loss)
            url = f"redis://127.0.0.1:{redis['port']}/0"
            assert log.count(f"lost Redis at {url}") == 2, log  # once per worker
            assert log.count(f"Redis at {url} is back") == 2, log
        finally:
            local.close()
            if redis_again is not None:
                redis_again.terminate()
                redis_again.wait(5)


def test_redis_missing_at_start_is_a_clear_error() -> None:
    port, redis_port = free_port(), free_port()
    env = {**os.environ, "EIO_CLUSTER_REDIS": f"redis://127.0.0.1:{redis_port}/0"}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.contract_app", "--runtime", "uvicorn",
         "--port", str(port)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert f"cannot reach Redis at redis://127.0.0.1:{redis_port}/0" in result.stderr
    with pytest.raises(ConnectionRefusedError):  # it never served
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
