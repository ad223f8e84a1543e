"""Interop harness: start servers under test, drive real clients, compare results.

Servers are named command templates (``SERVER_COMMANDS``). Clients are:

* ``v6`` / ``v3``: npm ``engine.io-client`` 6 (EIO=4) and 3 (EIO=3), driven by
  ``js/client.js`` through a JSON step list (documented at the top of that file);
* ``py-sync`` / ``py-async``: python-engineio's ``Client`` / ``AsyncClient``
  (EIO=4 only), driven in-process by the same step list (see ``run_py_sync``).

Every client run returns a ``ClientResult`` with the same shape, so the tests
are written once for all four kinds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.client
import importlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import engineio
import pytest
import websocket
from tests.helpers import async_wait_until_sent, wait_until_sent
from tests.helpers import free_port as free_port  # re-exported: the tests import it from here

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
JS_DIR = HERE / "js"
NODE_CLIENT = JS_DIR / "client.js"

# ---------------------------------------------------------------------------
# Servers under test
# ---------------------------------------------------------------------------

#: name -> command template. ``{port}`` is replaced by the port (also exported
#: as ``$PORT``), ``{python}`` by this interpreter, ``{node}`` by the node binary,
#: ``{uwsgi}`` by the uwsgi next to this interpreter, ``{gunicorn23}`` by the folder
#: where scripts/setup.sh installs gunicorn 23 (the last with its own ``-k eventlet``).
#: The command runs with the repository root as its working directory and must
#: obey /work/shared/bench/CONTRACT.md (echo, cmd:broadcast/count/close, the
#: EIO_PING_INTERVAL / EIO_PING_TIMEOUT / EIO_MAX_PAYLOAD settings).
#: Add ours here, e.g.
#:   "uvicorn": "{python} -m benchmarks.contract_app --runtime uvicorn --port {port}",
SERVER_COMMANDS: dict[str, str] = {
    # ours: the contract app (benchmarks/contract_app.py) on each supported runtime
    "uvicorn": "{python} -m benchmarks.contract_app --runtime uvicorn --port {port}",
    "hypercorn": "{python} -m benchmarks.contract_app --runtime hypercorn --port {port}",
    "daphne": "{python} -m benchmarks.contract_app --runtime daphne --port {port}",
    "werkzeug": "{python} -m benchmarks.contract_app --runtime werkzeug --port {port}",
    "eventlet": "{python} -m benchmarks.sync_app --mode eventlet --port {port}",
    "gevent": "{python} -m benchmarks.sync_app --mode gevent --port {port}",
    "gevent-ws": "{python} -m benchmarks.sync_app --mode gevent-ws --port {port}",
    "gunicorn-gevent": "{python} -m gunicorn -w 1 --no-control-socket -b 127.0.0.1:{port} -k gevent benchmarks.wsgi_apps:gevent_app",  # noqa: E501
    "gunicorn-gevent-ws": "{python} -m gunicorn -w 1 --no-control-socket -b 127.0.0.1:{port} -k geventwebsocket.gunicorn.workers.GeventWebSocketWorker benchmarks.wsgi_apps:auto_app",  # noqa: E501
    "gunicorn-gthread": "{python} -m gunicorn -w 1 --no-control-socket -b 127.0.0.1:{port} -k gthread --threads 64 --graceful-timeout 2 benchmarks.wsgi_apps:threading_app",  # noqa: E501
    "gunicorn-eventlet": "{python} -m gunicorn -w 1 --no-control-socket -b 127.0.0.1:{port} -k engineio_core.backends.gunicorn_eventlet.EventletWorker benchmarks.wsgi_apps:eventlet_app",  # noqa: E501
    # gunicorn's own eventlet worker, as the issue's `gunicorn -k eventlet -w 1 module:app`
    "gunicorn23-eventlet": "env PYTHONPATH={gunicorn23} {python} -m gunicorn -k eventlet -w 1 -b 127.0.0.1:{port} --graceful-timeout 2 benchmarks.wsgi_apps:eventlet_app",  # noqa: E501
    "uwsgi-gevent": "{python} -m benchmarks.uwsgi_serve --port {port}",
    "tornado": "{python} -m benchmarks.tornado_app --port {port}",
    "aiohttp": "{python} -m benchmarks.aiohttp_app --port {port}",
    "sanic": "{python} -m benchmarks.sanic_app --port {port}",
    "django-daphne": "{python} -m benchmarks.django_serve --server daphne --port {port}",
    "django-gunicorn-gthread": "{python} -m benchmarks.django_serve --server gunicorn-gthread --port {port}",  # noqa: E501
    "django-gunicorn-eventlet": "{python} -m benchmarks.django_serve --server gunicorn-eventlet --port {port}",  # noqa: E501
    "flask-run": "{python} -m flask --app benchmarks.flask_app:app run --host 127.0.0.1 --port {port} --no-reload --no-debugger",  # noqa: E501
    "flask-gunicorn-eventlet": "{python} -m gunicorn -w 1 --no-control-socket -b 127.0.0.1:{port} -k engineio_core.backends.gunicorn_eventlet.EventletWorker benchmarks.flask_app:app",  # noqa: E501
    "flask-uwsgi": "{uwsgi} --http 127.0.0.1:{port} --http-keepalive --gevent 1000 --gevent-monkey-patch --http-websockets --master --module benchmarks.flask_app:app --disable-logging --die-on-term",  # noqa: E501
    "flask-gunicorn-gevent": "{python} -m gunicorn -w 1 --no-control-socket -b 127.0.0.1:{port} -k gevent benchmarks.flask_app:app",  # noqa: E501
    # cluster mode (issue 15): 2 workers and Redis, nginx round-robin or a shared port
    "cluster-uvicorn-nginx": "{python} -m benchmarks.cluster_serve --runtime uvicorn --workers 2 --port {port}",  # noqa: E501
    "cluster-gevent-nginx": "{python} -m benchmarks.cluster_serve --runtime gevent --workers 2 --port {port}",  # noqa: E501
    "cluster-gevent-workers": "{python} -m benchmarks.cluster_serve --runtime gevent --workers 2 --proxy none --port {port}",  # noqa: E501
    "cluster-aiohttp-nginx": "{python} -m benchmarks.cluster_serve --runtime aiohttp --workers 2 --port {port}",  # noqa: E501
    "cluster-uvicorn-workers": "{python} -m benchmarks.cluster_serve --runtime uvicorn --workers 2 --proxy none --port {port}",  # noqa: E501
    # the JS reference (engine.io 6, allowEIO3): proves each check passes on engine.io too
    "node-engine.io": "{node} " + str(JS_DIR / "reference_server.js") + " {port}",
}

#: More deployments, run when named in ``INTEROP_SERVERS`` or with ``INTEROP_EXTENDED=1``
#: (not in CI's default run): none at the moment.
EXTENDED_SERVER_COMMANDS: dict[str, str] = {}

#: python-socketio on our engine: the Socket.IO contract app (benchmarks/socketio_serve.py)
#: under each runtime, served at ``/socket.io/``; for tests/interop/test_socketio.py only
#: (not in ``selected_servers()``: they answer Socket.IO, not the Engine.IO contract).
SOCKETIO_SERVER_COMMANDS: dict[str, str] = {
    f"sio-{name}": "{python} -m benchmarks.socketio_serve --runtime " + runtime + " --port {port}"
    for name, runtime in (
        ("uvicorn", "uvicorn"), ("aiohttp", "aiohttp"), ("tornado", "tornado"),
        ("sanic", "sanic"), ("flask", "flask"), ("flask-eventlet", "eventlet"),
        ("flask-gevent", "gevent"), ("django-channels", "django-channels"),
        ("django-wsgi", "django-wsgi"))
}

#: Servers that behave like the JS engine.io reference where PROTOCOL.md §11
#: says our server behaves differently. Tests of "our" behaviour skip them.
JS_REFERENCE_SERVERS: frozenset[str] = frozenset({"node-engine.io"})

SERVER_START_TIMEOUT = 20.0
SERVER_STOP_GRACE = 5.0


def selected_servers() -> list[str]:
    """Server names to test: ``SERVER_COMMANDS`` (with ``EXTENDED_SERVER_COMMANDS``
    under ``INTEROP_EXTENDED=1``) plus ``INTEROP_EXTRA_SERVERS`` (a JSON object
    name -> command template), or the names in ``INTEROP_SERVERS``
    (comma-separated) when set."""
    commands = all_server_commands()
    wanted = os.environ.get("INTEROP_SERVERS", "").strip()
    if not wanted:
        if os.environ.get("INTEROP_EXTENDED") == "1":
            return list(commands)
        return [name for name in commands if name not in EXTENDED_SERVER_COMMANDS]
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in commands]
    if unknown:
        raise ValueError(
            f"INTEROP_SERVERS names unknown servers {unknown}; known: {list(commands)}"
        )
    return names


def selected_socketio_servers() -> list[str]:
    """``SOCKETIO_SERVER_COMMANDS``' names, or those in ``INTEROP_SOCKETIO_SERVERS``
    (comma-separated) when set."""
    wanted = os.environ.get("INTEROP_SOCKETIO_SERVERS", "").strip()
    if not wanted:
        return list(SOCKETIO_SERVER_COMMANDS)
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in SOCKETIO_SERVER_COMMANDS]
    if unknown:
        raise ValueError(f"INTEROP_SOCKETIO_SERVERS names unknown servers {unknown}; "
                         f"known: {list(SOCKETIO_SERVER_COMMANDS)}")
    return names


def all_server_commands() -> dict[str, str]:
    commands = {**SERVER_COMMANDS, **EXTENDED_SERVER_COMMANDS}
    extra = os.environ.get("INTEROP_EXTRA_SERVERS", "").strip()
    if extra:
        parsed = json.loads(extra)
        if not isinstance(parsed, dict):
            raise ValueError("INTEROP_EXTRA_SERVERS must be a JSON object name -> command")
        commands.update({str(k): str(v) for k, v in parsed.items()})
    return commands


def wait_listening(port: int, timeout: float) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on port {port}"
            time.sleep(0.05)


def system_binary(name: str) -> str:
    """The path of a system program the tests start (redis-server, nginx, haproxy):
    on ``PATH`` or where Debian puts it; fails the test when it is missing
    (scripts/setup.sh installs them)."""
    found = shutil.which(name) or next(
        (path for path in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(path)),
        None)
    if found is None:
        pytest.fail(f"{name} is not installed (scripts/setup.sh installs it)")
    return found


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A ``redis-server`` on a free port (no persistence, files in ``directory``)
    until the block ends; yields its URL."""
    binary = system_binary("redis-server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)], stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, SERVER_START_TIMEOUT)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH; the interop suite needs Node.js >= 18")
    return node


def check_node_modules() -> str | None:
    """Return an error message when the JS dependencies are missing."""
    missing = [
        pkg
        for pkg in ("engine.io", "engine.io-client", "engine.io-client-v3", "socket.io-client")
        if not (JS_DIR / "node_modules" / pkg / "package.json").is_file()
    ]
    if missing:
        return (
            f"missing node packages {missing} in {JS_DIR / 'node_modules'}: "
            f"run `npm ci --prefix tests/interop/js` from the repository root"
        )
    return None


@dataclass
class RunningServer:
    name: str
    command: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_js_reference(self) -> bool:
        return self.name in JS_REFERENCE_SERVERS

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, limit: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return text[-limit:]

    def describe(self) -> str:
        return f"server {self.name!r} ({self.command}, env {self.env}) on port {self.port}"

    def terminate(self) -> None:
        """Ask the server to stop (SIGTERM to its process group); :meth:`stop` waits."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(SERVER_STOP_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(SERVER_STOP_GRACE)
        # Workers left behind in the group (the leader exited on SIGTERM).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _announced_ready(server: RunningServer) -> bool:
    """Whether a server that announces its readiness has (``benchmarks.cluster_serve``
    prints ``cluster ready`` once its own probe session is closed: until then that
    session would count in the first test); others are probed only."""
    if "benchmarks.cluster_serve" not in server.command:
        return True
    return "cluster ready " in server.log_path.read_text(errors="replace")


def polling_handshake(port: int, timeout: float = 5.0) -> str:
    """Open a v4 polling session on 127.0.0.1:``port`` (left open, no GET pending);
    its sid. Raises ``OSError`` (``urllib.error.HTTPError`` included) when refused."""
    url = f"http://127.0.0.1:{port}/engine.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        body = answer.read()
    sid: str = json.loads(body[body.index(b"{"):])["sid"]
    return sid


def _probe_handshake(port: int, path: str = "/engine.io/", timeout: float = 10.0) -> bool:
    """True when a v4 polling handshake at ``path`` works; closes that session again.

    A connection refused fails at once; a request the server has taken is waited for
    (up to ``timeout``): given up on, it would still be served later and leave a
    session open while the first tests run.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", f"{path}?EIO=4&transport=polling")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or not body.startswith(b"0{"):
            return False
        sid = json.loads(body[1:].split(b"\x1e")[0])["sid"]
        conn.request(
            "POST",
            f"{path}?EIO=4&transport=polling&sid={sid}",
            body=b"1",
            headers={"Content-Type": "text/plain;charset=UTF-8"},
        )
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return False
    finally:
        conn.close()


def start_server(name: str, env: dict[str, str], log_path: Path) -> RunningServer:
    commands = {**all_server_commands(), **SOCKETIO_SERVER_COMMANDS}
    template = commands[name]
    path = "/socket.io/" if name in SOCKETIO_SERVER_COMMANDS else "/engine.io/"
    port = free_port()
    command = template.format(port=port, python=sys.executable, node=shutil.which("node") or "node",
                              uwsgi=str(Path(sys.executable).with_name("uwsgi")),
                              gunicorn23=str(REPO_ROOT / ".cache" / "gunicorn23"))
    full_env = dict(os.environ)
    full_env.update(env)
    full_env["PORT"] = str(port)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            shlex.split(command),
            cwd=REPO_ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(name, command, port, dict(env), proc, log_path)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(
                f"{server.describe()} exited with {proc.returncode} before it was ready:\n"
                f"{server.log_tail()}"
            )
        if _announced_ready(server) and _probe_handshake(
                port, path, timeout=max(0.1, deadline - time.monotonic())):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(
        f"{server.describe()} not ready within {SERVER_START_TIMEOUT} s:\n{server.log_tail()}"
    )


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

ClientKind = Literal["v6", "v3", "py-sync", "py-async"]
Mode = Literal["polling", "websocket", "upgrade"]
Step = dict[str, Any]

NODE_KINDS: tuple[ClientKind, ...] = ("v6", "v3")
PY_KINDS: tuple[ClientKind, ...] = ("py-sync", "py-async")
ALL_KINDS: tuple[ClientKind, ...] = NODE_KINDS + PY_KINDS
ALL_MODES: tuple[Mode, ...] = ("polling", "websocket", "upgrade")

SHORT = 4096  # client.js reports the content of messages up to this size


@dataclass(frozen=True)
class Msg:
    """One message as the client saw it (content only when short)."""

    type: str
    length: int
    sha256: str
    data: str | None = None
    b64: str | None = None

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.type, self.length, self.sha256)

    @classmethod
    def of(cls, value: str | bytes) -> Msg:
        if isinstance(value, str):
            raw = value.encode("utf-8")
            return cls(
                "text",
                len(raw),
                hashlib.sha256(raw).hexdigest(),
                data=value if len(value) <= SHORT else None,
            )
        return cls(
            "binary",
            len(value),
            hashlib.sha256(value).hexdigest(),
            b64=base64.b64encode(value).decode() if len(value) <= SHORT else None,
        )

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Msg:
        return cls(
            str(obj.get("type")),
            int(obj.get("length", -1)),
            str(obj.get("sha256", "")),
            data=obj.get("data"),
            b64=obj.get("b64"),
        )

    def short(self) -> str:
        if self.data is not None:
            return repr(self.data[:60])
        if self.b64 is not None:
            return f"b64:{self.b64[:40]}"
        return f"<{self.type} {self.length} bytes {self.sha256[:12]}>"


@dataclass
class ClientResult:
    kind: ClientKind
    mode: Mode
    ok: bool
    error: str | None
    exit_code: int | None
    handshake: dict[str, Any] | None
    sid: str | None
    transport: str | None
    messages: list[Msg]
    events: list[dict[str, Any]]
    close: dict[str, Any] | None
    counts: list[int]
    sent: int
    elapsed_ms: float
    stderr: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.mode}"

    def texts(self) -> list[str | None]:
        return [m.data for m in self.messages]

    def events_named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("name") == name]

    def summary(self) -> str:
        msgs = ", ".join(m.short() for m in self.messages[:8])
        more = f" (+{len(self.messages) - 8} more)" if len(self.messages) > 8 else ""
        return (
            f"[{self.label}] ok={self.ok} exit={self.exit_code} error={self.error!r} "
            f"transport={self.transport} close={self.close} handshake={self.handshake} "
            f"messages={len(self.messages)}: {msgs}{more} "
            f"events={[e.get('name') for e in self.events][:30]} "
            f"stderr={self.stderr[-800:]!r}"
        )

    def expect_ok(self) -> ClientResult:
        assert self.ok, self.summary()
        return self


def transports_for(mode: Mode) -> tuple[list[str], bool]:
    """(transports, upgrade) for a mode."""
    if mode == "polling":
        return ["polling"], False
    if mode == "websocket":
        return ["websocket"], False
    return ["polling", "websocket"], True


# ---------------------------------------------------------------------------
# Step builders (the step language of js/client.js)
# ---------------------------------------------------------------------------


def s_open(timeout_ms: int = 5000) -> Step:
    return {"op": "open", "timeout_ms": timeout_ms}


def s_send(value: str | bytes, repeat: int = 1) -> Step:
    if isinstance(value, bytes):
        return {"op": "send", "binary": base64.b64encode(value).decode(), "repeat": repeat}
    return {"op": "send", "text": value, "repeat": repeat}


def s_send_many(
    count: int, prefix: str = "m", interval_ms: int = 0, tail_after_upgrade: int = 0
) -> Step:
    return {
        "op": "send_many",
        "count": count,
        "prefix": prefix,
        "interval_ms": interval_ms,
        "tail_after_upgrade": tail_after_upgrade,
        "timeout_ms": 5000,
    }


def s_expect(count: int, timeout_ms: int = 5000) -> Step:
    return {"op": "expect", "count": count, "timeout_ms": timeout_ms}


def s_expect_text(text: str, timeout_ms: int = 5000) -> Step:
    """Node clients only: wait until this exact text has arrived."""
    return {"op": "expect", "text": text, "timeout_ms": timeout_ms}


def s_count(timeout_ms: int = 3000) -> Step:
    return {"op": "count", "timeout_ms": timeout_ms}


def s_wait_count(count: int, timeout_ms: int = 4000) -> Step:
    """Node clients only: repeat cmd:count until the server counts >= count."""
    return {"op": "wait_count", "count": count, "timeout_ms": timeout_ms}


def s_wait_upgrade(timeout_ms: int = 3000) -> Step:
    return {"op": "wait_upgrade", "timeout_ms": timeout_ms}


def s_wait_close(timeout_ms: int = 3000) -> Step:
    return {"op": "wait_close", "timeout_ms": timeout_ms}


def s_sleep(ms: int) -> Step:
    return {"op": "sleep", "ms": ms}


def s_close(timeout_ms: int = 3000) -> Step:
    return {"op": "close", "timeout_ms": timeout_ms}


def s_kill() -> Step:
    return {"op": "kill"}


def expanded(step: Step) -> str | bytes:
    """The value a ``send`` step sends."""
    repeat = int(step.get("repeat", 1))
    if "binary" in step:
        return base64.b64decode(step["binary"]) * repeat
    return str(step["text"]) * repeat


# ---------------------------------------------------------------------------
# Node clients
# ---------------------------------------------------------------------------


@dataclass
class ClientJob:
    kind: ClientKind
    mode: Mode
    url: str
    steps: list[Step]
    timeout_s: float = 10.0
    options: dict[str, Any] = field(default_factory=dict)


def _node_scenario(job: ClientJob) -> dict[str, Any]:
    transports, upgrade = transports_for(job.mode)
    return {
        "url": job.url,
        "version": 3 if job.kind == "v3" else 6,
        "transports": transports,
        "upgrade": upgrade,
        "options": job.options,
        "timeout_ms": int(job.timeout_s * 1000),
        "steps": job.steps,
    }


def _result_from_node(job: ClientJob, out: str, err: str, code: int | None) -> ClientResult:
    # Split on "\n" only: str.splitlines() would also split on U+2028/U+2029,
    # which JSON.stringify leaves unescaped inside strings.
    lines = [ln for ln in out.split("\n") if ln.strip()]
    try:
        data: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        data = {"ok": False, "error": f"unparsable client output: {out[-2000:]!r}"}
    if not lines:
        data = {"ok": False, "error": f"no output from node client (exit {code})"}
    hs = data.get("handshake")
    return ClientResult(
        kind=job.kind,
        mode=job.mode,
        ok=bool(data.get("ok")) and code in (0, -signal.SIGKILL),
        error=data.get("error"),
        exit_code=code,
        handshake=hs if isinstance(hs, dict) else None,
        sid=data.get("id"),
        transport=data.get("transport"),
        messages=[Msg.from_json(m) for m in data.get("messages", [])],
        events=list(data.get("events", [])),
        close=data.get("close"),
        counts=[int(c) for c in data.get("counts", [])],
        sent=int(data.get("sent", 0)),
        elapsed_ms=float(data.get("t_end") or 0),
        stderr=err,
    )


def run_node(job: ClientJob) -> ClientResult:
    problem = check_node_modules()
    if problem:
        raise RuntimeError(problem)
    scenario = json.dumps(_node_scenario(job), ensure_ascii=False)
    proc = subprocess.Popen(
        [node_binary(), str(NODE_CLIENT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=JS_DIR,
    )
    try:
        out, err = proc.communicate(scenario.encode("utf-8"), timeout=job.timeout_s + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return _result_from_node(
        job, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), proc.returncode
    )


# ---------------------------------------------------------------------------
# python-engineio clients, driven by the same steps
# ---------------------------------------------------------------------------


class _PyState:
    """What a python-engineio client observed; shared with its callbacks."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.cond = threading.Condition()
        self.messages: list[Msg] = []
        self.counts: list[int] = []
        self.events: list[dict[str, Any]] = []
        self.close: dict[str, Any] | None = None
        self.sent = 0

    def now_ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000

    def on_message(self, data: Any) -> None:
        with self.cond:
            if isinstance(data, str | bytes):
                msg = Msg.of(data)
            else:  # python-engineio decodes JSON-looking text; keep it visible
                msg = Msg("decoded-" + type(data).__name__, -1, "", data=repr(data))
            self.messages.append(msg)
            if isinstance(data, str) and data.startswith("count:"):
                self.counts.append(int(data[len("count:") :]))
            self.cond.notify_all()

    def on_disconnect(self, *args: Any) -> None:
        with self.cond:
            reason = str(args[0]) if args else None
            if self.close is None:
                self.close = {"reason": reason, "description": None, "t": self.now_ms()}
            self.events.append({"t": self.now_ms(), "name": "close", "reason": reason})
            self.cond.notify_all()

    def event(self, name: str, **extra: Any) -> None:
        with self.cond:
            self.events.append({"t": self.now_ms(), "name": name, "sent": self.sent, **extra})

    def wait(self, what: str, pred: Any, timeout_ms: float) -> None:
        with self.cond:
            if not self.cond.wait_for(pred, timeout_ms / 1000):
                raise TimeoutError(f"timed out after {timeout_ms} ms waiting for {what}")


def _py_handshake(client: Any) -> dict[str, Any]:
    return {
        "sid": client.sid,
        "upgrades": client.upgrades,
        "pingInterval": round(client.ping_interval * 1000),
        "pingTimeout": round(client.ping_timeout * 1000),
    }


def _py_result(
    job: ClientJob,
    st: _PyState,
    error: str | None,
    handshake: dict[str, Any] | None,
    transport: str | None,
) -> ClientResult:
    with st.cond:
        return ClientResult(
            kind=job.kind,
            mode=job.mode,
            ok=error is None,
            error=error,
            exit_code=None,
            handshake=handshake,
            sid=handshake.get("sid") if handshake else None,
            transport=transport,
            messages=list(st.messages),
            events=list(st.events),
            close=dict(st.close) if st.close else None,
            counts=list(st.counts),
            sent=st.sent,
            elapsed_ms=st.now_ms(),
        )


def run_py_sync(job: ClientJob) -> ClientResult:
    """Run the steps with ``engineio.Client``.

    Note: ``engineio.Client`` runs every ``message`` handler in its own thread,
    so the order in which the handlers record messages is not guaranteed even
    when the server sent them in order: compare py-sync messages as a multiset.
    """
    transports, _ = transports_for(job.mode)
    st = _PyState()
    sessions: list[Any] = []
    client = engineio.Client(
        handle_sigint=False, request_timeout=5, http_session=_session_factory(sessions)
    )
    client.on("message", st.on_message)
    client.on("disconnect", st.on_disconnect)
    error: str | None = None
    handshake: dict[str, Any] | None = None
    transport: str | None = None
    deadline = time.monotonic() + job.timeout_s
    try:
        for step in job.steps:
            if time.monotonic() > deadline:
                raise TimeoutError(f"hard timeout after {job.timeout_s} s")
            op = step["op"]
            tmo = float(step.get("timeout_ms", 5000))
            if op == "open":
                client.connect(job.url, transports=transports, engineio_path="engine.io")
                handshake = _py_handshake(client)
                st.event("open", transport=client.transport())
            elif op == "send":
                client.send(expanded(step))
                st.sent += 1
            elif op == "send_many":
                for i in range(int(step["count"])):
                    client.send(f"{step.get('prefix', '')}{i}")
                    st.sent += 1
                    if step.get("interval_ms"):
                        time.sleep(step["interval_ms"] / 1000)
            elif op == "expect":
                n = int(step["count"])
                st.wait(f"{n} messages", lambda n=n: len(st.messages) >= n or st.close, tmo)
                if len(st.messages) < n:
                    raise RuntimeError(f"closed after {len(st.messages)}/{n} messages")
            elif op == "count":
                before = len(st.counts)
                client.send("cmd:count")
                st.sent += 1
                st.wait("count", lambda b=before: len(st.counts) > b or st.close, tmo)
                if len(st.counts) <= before:
                    raise RuntimeError("closed before the count reply")
            elif op == "wait_upgrade":
                if client.transport() != "websocket":
                    raise RuntimeError(f"not upgraded: transport {client.transport()}")
            elif op == "wait_close":
                st.wait("close", lambda: st.close is not None, tmo)
            elif op == "sleep":
                time.sleep(step["ms"] / 1000)
            elif op == "close":
                transport = client.transport()
                wait_until_sent(client)
                client.disconnect()
            else:
                raise ValueError(f"unsupported step for python clients: {step}")
        if transport is None and st.close is None:
            transport = client.transport()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if transport is None and st.close is None:
            with contextlib.suppress(Exception):
                transport = client.transport()
        _close_sync_client(client, sessions)
    return _py_result(job, st, error, handshake, transport)


def _session_factory(sessions: list[Any]) -> Any:
    """engineio.Client drops its requests.Session without closing it (a
    ResourceWarning, an error under filterwarnings=error): hand it sessions we
    close ourselves."""
    requests = importlib.import_module("requests")

    def make() -> Any:
        session = requests.Session()
        sessions.append(session)
        return session

    return make


def _close_sync_client(client: Any, sessions: list[Any]) -> None:
    with contextlib.suppress(Exception):
        client.disconnect()
    ws = getattr(client, "ws", None)
    if ws is not None:
        with contextlib.suppress(Exception):
            ws.close(timeout=0.5)
        with contextlib.suppress(Exception):
            ws.shutdown()  # close() leaves the socket open when the peer is gone
    for session in sessions:
        session.close()


async def _run_py_async(job: ClientJob) -> ClientResult:
    transports, _ = transports_for(job.mode)
    st = _PyState()
    client = engineio.AsyncClient(handle_sigint=False, request_timeout=5)

    async def on_message(data: Any) -> None:
        st.on_message(data)

    async def on_disconnect(*args: Any) -> None:
        st.on_disconnect(*args)

    client.on("message", on_message)
    client.on("disconnect", on_disconnect)
    error: str | None = None
    handshake: dict[str, Any] | None = None
    transport: str | None = None

    async def wait(what: str, pred: Any, tmo: float) -> None:
        end = time.monotonic() + tmo / 1000
        while not pred():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out after {tmo} ms waiting for {what}")
            await asyncio.sleep(0.005)

    async def steps() -> None:
        nonlocal handshake, transport
        for step in job.steps:
            op = step["op"]
            tmo = float(step.get("timeout_ms", 5000))
            if op == "open":
                await client.connect(job.url, transports=transports, engineio_path="engine.io")
                handshake = _py_handshake(client)
                st.event("open", transport=client.transport())
            elif op == "send":
                await client.send(expanded(step))
                st.sent += 1
            elif op == "send_many":
                for i in range(int(step["count"])):
                    await client.send(f"{step.get('prefix', '')}{i}")
                    st.sent += 1
                    if step.get("interval_ms"):
                        await asyncio.sleep(step["interval_ms"] / 1000)
            elif op == "expect":
                n = int(step["count"])
                await wait(f"{n} messages", lambda n=n: len(st.messages) >= n or st.close, tmo)
                if len(st.messages) < n:
                    raise RuntimeError(f"closed after {len(st.messages)}/{n} messages")
            elif op == "count":
                before = len(st.counts)
                await client.send("cmd:count")
                st.sent += 1
                await wait("count", lambda b=before: len(st.counts) > b or st.close, tmo)
                if len(st.counts) <= before:
                    raise RuntimeError("closed before the count reply")
            elif op == "wait_upgrade":
                if client.transport() != "websocket":
                    raise RuntimeError(f"not upgraded: transport {client.transport()}")
            elif op == "wait_close":
                await wait("close", lambda: st.close is not None, tmo)
            elif op == "sleep":
                await asyncio.sleep(step["ms"] / 1000)
            elif op == "close":
                transport = client.transport()
                await async_wait_until_sent(client)
                await client.disconnect()
            else:
                raise ValueError(f"unsupported step for python clients: {step}")
        if transport is None and st.close is None:
            transport = client.transport()

    try:
        await asyncio.wait_for(steps(), job.timeout_s)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        if transport is None and st.close is None:
            with contextlib.suppress(Exception):
                transport = client.transport()
        with contextlib.suppress(Exception):
            await client.disconnect()
    return _py_result(job, st, error, handshake, transport)


def run_py_async(job: ClientJob) -> ClientResult:
    return asyncio.run(_run_py_async(job))


def run_client(job: ClientJob) -> ClientResult:
    if job.kind in NODE_KINDS:
        return run_node(job)
    if job.kind == "py-sync":
        return run_py_sync(job)
    return run_py_async(job)


def run_clients(jobs: list[ClientJob]) -> list[ClientResult]:
    """Run several client jobs at the same time (threads driving subprocesses
    or python clients); results in the order of ``jobs``."""
    if len(jobs) == 1:
        return [run_client(jobs[0])]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run_client, jobs))


# ---------------------------------------------------------------------------
# Raw clients that go silent (for drop detection)
# ---------------------------------------------------------------------------


class SilentClient:
    """Opens a session, then never reads, pings, pongs or polls again while
    keeping its TCP connection open (a frozen peer)."""

    def __init__(self, port: int, eio: int, transport: Literal["polling", "websocket"]) -> None:
        self.port = port
        self.eio = eio
        self.transport = transport
        self.sid: str | None = None
        self._http: http.client.HTTPConnection | None = None
        self._ws: websocket.WebSocket | None = None

    def open(self) -> None:
        path = f"/engine.io/?EIO={self.eio}&transport={self.transport}"
        if self.transport == "polling":
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read().decode("utf-8")
            assert resp.status == 200, (resp.status, body)
            start = body.index("0{")
            end = body.index("}", start) + 1
            self.sid = json.loads(body[start + 1 : end])["sid"]
            self._http = conn  # keep-alive connection stays open, idle
        else:
            ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}{path}", timeout=5)
            first = ws.recv()
            assert isinstance(first, str), first
            assert first.startswith("0{"), first
            self.sid = json.loads(first[1:])["sid"]
            self._ws = ws  # never read again: pings pile up unanswered

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.shutdown()  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------------------
# Observer: counts connected clients over time (python-engineio over WebSocket)
# ---------------------------------------------------------------------------


class CountObserver:
    """A well-behaved python-engineio client that asks ``cmd:count``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sessions: list[Any] = []
        self.client = engineio.Client(
            handle_sigint=False, request_timeout=5, http_session=_session_factory(self._sessions)
        )
        self._cond = threading.Condition()
        self._counts: list[int] = []
        self.client.on("message", self._on_message)

    def _on_message(self, data: Any) -> None:
        if isinstance(data, str) and data.startswith("count:"):
            with self._cond:
                self._counts.append(int(data[len("count:") :]))
                self._cond.notify_all()

    def open(self) -> None:
        self.client.connect(self.url, transports=["websocket"], engineio_path="engine.io")

    def count(self, timeout: float = 2.0) -> int:
        with self._cond:
            before = len(self._counts)
        self.client.send("cmd:count")
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._counts) > before, timeout):
                raise TimeoutError("no count reply")
            return self._counts[-1]

    def wait_count(self, target: int, timeout: float, every: float = 0.02) -> tuple[float, int]:
        """Poll until the count equals ``target``; returns (monotonic time, count)."""
        end = time.monotonic() + timeout
        last = -1
        while True:
            last = self.count()
            now = time.monotonic()
            if last == target or now > end:
                return now, last
            time.sleep(every)

    def close(self) -> None:
        _close_sync_client(self.client, self._sessions)


# ---------------------------------------------------------------------------
# Parametrization helpers
# ---------------------------------------------------------------------------


def kind_mode_params(
    kinds: tuple[ClientKind, ...] = ALL_KINDS, modes: tuple[Mode, ...] = ALL_MODES
) -> list[Any]:
    return [pytest.param(k, m, id=f"{k}-{m}") for k in kinds for m in modes]


def skip_on_js_reference(server: RunningServer, why: str) -> None:
    """Skip a check of OUR behaviour (PROTOCOL.md §11 "we" column) where the
    JS reference legitimately does something else."""
    if server.is_js_reference:
        pytest.skip(f"JS reference differs (PROTOCOL.md §11): {why}")
