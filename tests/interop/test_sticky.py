"""Sticky sessions (docs/scaling.md), tested as documented: three plain workers
(no cluster) behind nginx or HAProxy, python-engineio clients from several
loopback source addresses, so that the proxies really spread the sessions.

Each configuration of the docs keeps every request of a session on the worker
that holds it (long-polling: many requests per session; then the WebSocket
upgrade from the same address). The control, nginx hashing the ``sid`` query
parameter, shows why that does not work: the handshake has no sid yet.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import engineio
import pytest
import requests
from requests.adapters import HTTPAdapter
from tests.helpers import wait_until_sent

from .harness import free_port, system_binary, wait_listening
from .peer import Peer

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
WORKERS = 3
# nginx's ip_hash keys on the first three octets of an IPv4 address: the
# clients differ in the third (127.0.N.1), as clients of different networks do.
SOURCES = [f"127.0.{n}.1" for n in range(1, 13)]
READY_S = 20.0


def _wait_http(port: int) -> None:
    """Wait for a polling handshake to answer on ``port``; close that session."""
    url = f"http://127.0.0.1:{port}/engine.io/?EIO=4&transport=polling"
    deadline = time.monotonic() + READY_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                body = answer.read()
            break
        except OSError:
            assert time.monotonic() < deadline, f"nothing answers on port {port}"
            time.sleep(0.1)
    sid = json.loads(body[body.index(b"{"):])["sid"]
    urllib.request.urlopen(f"{url}&sid={sid}", data=b"1", timeout=2).close()


@contextmanager
def workers() -> Iterator[list[int]]:
    """Three contract-app workers (uvicorn, no cluster) on free ports."""
    ports = [free_port() for _ in range(WORKERS)]
    env = {k: v for k, v in os.environ.items() if k != "EIO_CLUSTER_REDIS"}
    processes = [subprocess.Popen(
        [sys.executable, "-m", "benchmarks.contract_app", "--runtime", "uvicorn",
         "--port", str(p)], cwd=REPO, env=env) for p in ports]
    try:
        for p in ports:
            _wait_http(p)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def nginx_conf(tmp: Path, port: int, upstream: list[int], balance: str) -> str:
    servers = "".join(f"server 127.0.0.1:{p} max_fails=0; " for p in upstream)
    user = "user root;" if os.geteuid() == 0 else ""
    temps = " ".join(f"{name}_temp_path {tmp / name};"
                     for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user} worker_processes 1; daemon off; pid {tmp / "nginx.pid"};
error_log stderr crit; events {{ worker_connections 1024; }}
http {{ access_log off; {temps}
  map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
  upstream workers {{ {balance} {servers} }}
  server {{ listen 0.0.0.0:{port};
    location / {{ proxy_pass http://workers; proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host; proxy_buffering off; proxy_read_timeout 3600s; }} }} }}
"""


def haproxy_conf(port: int, upstream: list[int], balance: str, cookie: bool) -> str:
    servers = "\n".join(
        f"    server w{i} 127.0.0.1:{p}" + (f" cookie w{i}" if cookie else "")
        for i, p in enumerate(upstream))
    return f"""global
    maxconn 1024
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend engineio
    bind 0.0.0.0:{port}
    default_backend workers
backend workers
    {balance}
{servers}
"""


@contextmanager
def proxy(kind: str, tmp: Path, upstream: list[int], balance: str) -> Iterator[int]:
    port = free_port()
    if kind == "nginx":
        conf = tmp / "nginx.conf"
        conf.write_text(nginx_conf(tmp, port, upstream, balance))
        argv = [system_binary("nginx"), "-e", "stderr", "-p", str(tmp), "-c", str(conf)]
    else:
        conf = tmp / "haproxy.cfg"
        conf.write_text(haproxy_conf(port, upstream, balance, "cookie" in balance))
        argv = [system_binary("haproxy"), "-db", "-f", str(conf)]
    process = subprocess.Popen(argv)
    try:
        wait_listening(port, READY_S)  # no handshake through it: it would leave a session behind
        yield port
    finally:
        process.terminate()
        process.wait(10)


class SourceAdapter(HTTPAdapter):
    """Requests' adapter whose connections leave from one local address."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def sticky_peer(port: int, source: str, upgrade: bool) -> Peer:
    """A peer whose requests (and WebSocket) leave from ``source``."""
    session = requests.Session()
    session.mount("http://", SourceAdapter(source))
    options: dict[str, Any] = {}
    if upgrade:  # the WebSocket from the same address (websocket-client takes a socket)
        options["socket"] = socket.create_connection(("127.0.0.1", port),
                                                     source_address=(source, 0))
    return Peer(f"http://127.0.0.1:{port}", ["polling", "websocket"] if upgrade else ["polling"],
                http_session=session, websocket_extra_options=options)


def local_counts(ports: list[int]) -> list[int]:
    """Sessions per worker, asked of each worker directly (``cmd:count``)."""
    counts = []
    for p in ports:
        client = engineio.Client()
        got: queue.Queue[str | bytes] = queue.Queue()
        client.on("message", got.put)
        client.connect(f"http://127.0.0.1:{p}", transports=["polling"])
        client.send("cmd:count")
        answer = got.get(timeout=5)
        assert isinstance(answer, str)
        counts.append(int(answer.split(":")[1]) - 1)  # not this one
        wait_until_sent(client)
        client.disconnect()
    return counts


STICKY = [
    ("nginx", "ip_hash;"),
    ("nginx", "hash $remote_addr consistent;"),
    ("haproxy", "balance source"),
    ("haproxy", "balance roundrobin\n    cookie SERVERID insert indirect nocache"),
]


@pytest.mark.parametrize(("kind", "balance"), STICKY,
                         ids=["nginx-ip_hash", "nginx-hash-remote_addr", "haproxy-source",
                              "haproxy-cookie"])
def test_sticky_configurations_keep_each_session_on_its_worker(
        tmp_path: Path, kind: str, balance: str) -> None:
    with workers() as ports, proxy(kind, tmp_path, ports, balance) as port:
        peers: list[Peer] = []
        try:
            for n, source in enumerate(SOURCES):
                # the cookie configuration pins by cookie: upgrades need it on the socket
                # too, which websocket-client sends (python-engineio passes its cookies)
                peers.append(sticky_peer(port, source, upgrade=n % 3 == 2))
            for peer in peers:
                assert peer.echoes(5), f"a session lost its worker behind {kind} {balance}"
            upgraded = [peer.client.transport() for n, peer in enumerate(peers) if n % 3 == 2]
            assert upgraded == ["websocket"] * len(upgraded)  # the upgrade found its worker
            spread = local_counts(ports)
            assert sum(spread) == len(peers)
            assert sum(1 for c in spread if c) >= 2, f"the sessions did not spread: {spread}"
        finally:
            for peer in peers:
                peer.close()


def test_hashing_the_sid_does_not_pin_the_handshake(tmp_path: Path) -> None:
    """The control: a hash of the ``sid`` query sends the handshake (no sid) to one
    worker and the session's next requests to whichever worker the sid hashes to."""
    with workers() as ports, proxy("nginx", tmp_path, ports, "hash $arg_sid;") as port:
        failures = 0
        for source in SOURCES[:10]:  # each fails with odds 2/3: all survive 1 time in 59,000
            try:
                peer = sticky_peer(port, source, upgrade=False)
            except engineio.exceptions.ConnectionError:
                failures += 1
                continue
            if not peer.echoes(3):
                failures += 1
            peer.close()
        assert failures, "every session survived a hash of the sid: the control proves nothing"
