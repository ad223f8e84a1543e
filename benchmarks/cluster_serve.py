"""The contract app as a cluster of worker processes, in the foreground.

::

    python -m benchmarks.cluster_serve --runtime uvicorn --workers 2 --port 18050
    python -m benchmarks.cluster_serve --runtime uvicorn --workers 2 --port 18050 --proxy none
    python -m benchmarks.cluster_serve --runtime aiohttp --workers 2 --port 18050
    python -m benchmarks.cluster_serve --runtime gevent --workers 2 --port 18050 --proxy none
    python -m benchmarks.cluster_serve --workers 1 --no-cluster --port 18050  # the baseline

Starts its own ``redis-server`` on a free port, then ``--workers`` processes of
the contract app (``EIO_*`` from the environment, ``EIO_CLUSTER_REDIS`` set to
that Redis) in cluster mode. With ``--proxy nginx`` (the default) an nginx
started with a generated configuration listens on ``--port`` and spreads the
requests over the workers (on private ports) round-robin, with no affinity of
any kind; with ``--proxy none`` the workers share ``--port`` themselves, as
``uvicorn --workers N`` and ``gunicorn -w N`` do (``--runtime uvicorn``, ``gevent``
for gunicorn ``-k gevent``, ``gthread`` for gunicorn ``-k gthread``). It is ready when a
polling handshake on ``--port`` answers: it then prints one line to stderr,
``cluster ready {...}`` with a JSON object of the process ids and ports (``redis``,
``workers``, ``proxy``; the fault tests read it),
and on SIGTERM or SIGINT stops the workers, nginx and Redis; everything stays
in its process group. A worker, nginx or Redis that exits meanwhile is reported
and the rest go on (the fault tests kill them on purpose) until the last worker.
``--no-cluster`` runs the workers as plain servers with no Redis: one worker
behind the same nginx is what the cluster's cost is measured against.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks.ports import PortPicker

REPO = Path(__file__).resolve().parent.parent
RUNTIMES = ("uvicorn", "aiohttp", "gevent", "gthread")
READY_TIMEOUT = 30.0
STOP_GRACE = 5.0


# The workers' and Redis's ports: below the tests' range, which is below the ephemeral one.
free_port = PortPicker(10000, 20000)


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                      else None)
    if found is None:
        raise SystemExit("cluster_serve: nginx is not installed (apt-get install nginx)")
    return found


def nginx_config(directory: Path, port: int, workers: list[int], send_timeout_s: float) -> str:
    """Round-robin over ``workers``, WebSocket upgrades passed through, nothing buffered.

    ``max_fails=0``: a worker that refuses a body mid-stream (a client streaming
    past ``maxPayload`` gets its 413 and the connection closed) is not an
    unavailable worker; by default nginx would send it nothing for 10 s.

    ``send_timeout``: how long nginx keeps a client that accepts none of the bytes
    it has to write (a stalled peer) before dropping it. Set to the ping timeout:
    the worker has dropped its side of such a client by then, and nginx would
    otherwise hold the client's connection (and the kernel its send buffer) for
    its default 60 s.
    """
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in workers)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {name}_temp_path {directory / name};"
                     for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}worker_processes 1;
daemon off;
pid {directory / "nginx.pid"};
error_log stderr crit;
events {{ worker_connections 8192; }}
http {{
    access_log off;
{temp}
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    upstream engineio_workers {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        client_max_body_size 0;
        location / {{
            proxy_pass http://engineio_workers;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            send_timeout {max(1, round(send_timeout_s * 1000))}ms;
        }}
    }}
}}
"""


def worker_command(runtime: str, port: int, workers: int = 1) -> list[str]:
    if runtime in ("gevent", "gthread"):  # gunicorn, its workers sharing the port
        kind = ["-k", "gevent"] if runtime == "gevent" else ["-k", "gthread", "--threads", "100"]
        app = "gevent_app" if runtime == "gevent" else "threading_app"
        return [sys.executable, "-m", "gunicorn", "-w", str(workers), *kind,
                "--no-control-socket", "--backlog", "1024", "-b", f"127.0.0.1:{port}",
                f"benchmarks.wsgi_apps:{app}"]
    if runtime == "aiohttp":
        return [sys.executable, "-m", "benchmarks.aiohttp_app", "--port", str(port)]
    if workers == 1:
        return [sys.executable, "-m", "benchmarks.contract_app", "--runtime", "uvicorn",
                "--port", str(port)]
    return [sys.executable, "-m", "uvicorn", "benchmarks.contract_app:asgi_app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--lifespan", "on", "--log-level", "warning", "--no-access-log",
            "--ws-per-message-deflate", "false", "--backlog", "1024"]


def wait_for_redis(port: int, until: float) -> None:
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"cluster_serve: redis-server did not answer on port {port}")


def wait_for_handshake(port: int, until: float, children: list[subprocess.Popen[bytes]]) -> None:
    """Wait until a polling handshake on ``port`` answers, then close that session.

    A request is given until ``until`` to be answered: one given up on early (a
    worker still starting) would still be served later, and leave a session open
    while the first tests run.
    """
    url = f"http://127.0.0.1:{port}/engine.io/?EIO=4&transport=polling"
    while time.monotonic() < until:
        for child in children:
            if child.poll() is not None:
                raise SystemExit(f"cluster_serve: {child.args!r} exited with {child.returncode}")
        timeout = max(0.1, until - time.monotonic())
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                body = response.read()
            sid = json.loads(body[body.index(b"{"):])["sid"]
            with urllib.request.urlopen(f"{url}&sid={sid}", data=b"1", timeout=timeout):
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"cluster_serve: no handshake answered on port {port}")


def stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every child at once (workers first in the list), then wait; SIGKILL late ones."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    until = time.monotonic() + STOP_GRACE
    for child in children:
        try:
            child.wait(max(0.1, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runtime", choices=RUNTIMES, default="uvicorn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    parser.add_argument("--proxy", choices=("nginx", "none"), default="nginx")
    parser.add_argument("--no-cluster", dest="cluster", action="store_false",
                        help="plain servers, no Redis (a baseline for one worker)")
    args = parser.parse_args()
    if not args.cluster and args.workers > 1:
        parser.error("--no-cluster: only with --workers 1 (sessions would be unreachable)")
    if args.proxy == "none" and args.runtime == "aiohttp":
        parser.error("--proxy none: aiohttp's run_app has no workers sharing a port")
    redis = shutil.which("redis-server")
    if redis is None and args.cluster:
        raise SystemExit("cluster_serve: redis-server is not installed (apt-get install "
                         "redis-server)")
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running = Running()
    with tempfile.TemporaryDirectory(prefix="engineio-cluster-") as tmp:
        try:
            facts = start(args, redis, Path(tmp), running)
            print(f"cluster ready {json.dumps(facts)}", file=sys.stderr, flush=True)
            running.watch()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            stop([*running.workers, *running.proxy, *running.redis])


class Running:
    """The processes started so far, by role."""

    def __init__(self) -> None:
        self.redis: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.proxy: list[subprocess.Popen[bytes]] = []

    def all(self) -> list[subprocess.Popen[bytes]]:
        return [*self.redis, *self.workers, *self.proxy]

    def watch(self) -> None:
        """Until the last worker exits: report each process that exits, let the rest
        go on (the fault tests kill a worker or Redis on purpose)."""
        reported: set[int] = set()
        while any(worker.poll() is None for worker in self.workers):
            for child in self.all():
                if child.poll() is not None and child.pid not in reported:
                    reported.add(child.pid)
                    print(f"cluster_serve: {child.args!r} exited with {child.returncode}",
                          file=sys.stderr, flush=True)
            time.sleep(0.2)


def start(args: argparse.Namespace, redis: str | None, directory: Path,
          running: Running) -> dict[str, Any]:
    """Start Redis, the workers and nginx (recorded in ``running`` as they start);
    returns the facts printed on the ready line."""
    until = time.monotonic() + READY_TIMEOUT
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("EIO_CLUSTER_REDIS", None)
    facts: dict[str, Any] = {"port": args.port, "runtime": args.runtime, "redis": None,
                             "proxy": None}
    if redis is not None and args.cluster:
        redis_port = free_port()
        running.redis.append(subprocess.Popen(
            [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning",
             "--dir", str(directory)], stdout=subprocess.DEVNULL))
        wait_for_redis(redis_port, until)
        env["EIO_CLUSTER_REDIS"] = f"redis://127.0.0.1:{redis_port}/0"
        facts["redis"] = {"pid": running.redis[0].pid, "port": redis_port}
    if args.proxy == "none":
        running.workers.append(subprocess.Popen(
            worker_command(args.runtime, args.port, args.workers), env=env, cwd=REPO))
        ports = [args.port]
    else:
        ports = [free_port() for _ in range(args.workers)]
        running.workers += [subprocess.Popen(worker_command(args.runtime, p), env=env, cwd=REPO)
                            for p in ports]
        for p in ports:
            wait_for_handshake(p, until, running.all())
        config = directory / "nginx.conf"
        ping_timeout = int(os.environ.get("EIO_PING_TIMEOUT", "20000")) / 1000
        config.write_text(nginx_config(directory, args.port, ports, ping_timeout))
        running.proxy.append(subprocess.Popen(
            [nginx_binary(), "-e", "stderr", "-p", str(directory), "-c", str(config)]))
        facts["proxy"] = {"pid": running.proxy[0].pid}
    wait_for_handshake(args.port, until, running.all())
    facts["workers"] = [{"pid": w.pid, "port": p} for w, p in zip(
        running.workers, ports, strict=True)]
    return facts


if __name__ == "__main__":
    main()
