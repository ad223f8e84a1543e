"""The green-thread backends and the WSGI servers they run under, for real.

Every server runs in its own process (eventlet and gevent are never imported
here: they monkey-patch, and eventlet warns on import). Checks:

* ``async_mode=None`` picks eventlet / gevent only in a monkey-patched process
  and says so at debug level; a plain process gets threading even with both
  imported;
* after a WebSocket session, no server writes an HTTP response on the spent
  connection (eventlet's ``already handled`` convention, gunicorn's and
  gevent's quiet ECONNRESET, uWSGI's empty response);
* gunicorn's ``sync`` worker is refused with a clear error.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import masked_text_frame
from tests.interop.harness import free_port

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
START_TIMEOUT = 20.0
GUNICORN = f"{PYTHON} -m gunicorn -w 1 --no-control-socket -b 127.0.0.1:{{port}}"

SERVERS = {
    "eventlet": f"{PYTHON} -m benchmarks.sync_app --mode eventlet --port {{port}}",
    "gevent": f"{PYTHON} -m benchmarks.sync_app --mode gevent --port {{port}}",
    "gevent-ws": f"{PYTHON} -m benchmarks.sync_app --mode gevent-ws --port {{port}}",
    "gunicorn-gevent": f"{GUNICORN} -k gevent benchmarks.wsgi_apps:gevent_app",
    "gunicorn-gevent-ws": f"{GUNICORN} -k geventwebsocket.gunicorn.workers."
                          "GeventWebSocketWorker benchmarks.wsgi_apps:auto_app",
    "gunicorn-gthread": f"{GUNICORN} -k gthread --threads 8 --graceful-timeout 1 "
                        "benchmarks.wsgi_apps:threading_app",
    "gunicorn-eventlet": f"{GUNICORN} -k engineio_core.backends.gunicorn_eventlet."
                         "EventletWorker benchmarks.wsgi_apps:eventlet_app",
    "uwsgi-gevent": f"{PYTHON} -m benchmarks.uwsgi_serve --port {{port}}",
}



def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@contextlib.contextmanager
def running(command: str, log: Path, ready_status: int = 200) -> Iterator[int]:
    """Start ``command`` (``{port}`` filled in) from the repository root; yields the port."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(shlex.split(command.format(port=port)), cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, f"server exited early:\n{log.read_text()[-3000:]}"
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = _get(port, "/engine.io/?EIO=4&transport=polling")
                if status == ready_status:
                    break
            assert time.monotonic() < deadline, f"not ready:\n{log.read_text()[-3000:]}"
            time.sleep(0.05)  # polling for the server to listen: there is no event to wait on
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("name", list(SERVERS))
def test_nothing_written_after_a_websocket(name: str, tmp_path: Path) -> None:
    """A server-closed WebSocket ends with its close frame and EOF: no HTTP response follows."""
    with running(SERVERS[name], tmp_path / "server.log") as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        with sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall((
                "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                assert chunk, received
                received += chunk
            head, _, rest = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head
            sock.sendall(masked_text_frame("4cmd:close"))
            while chunk := sock.recv(65536):
                rest += chunk
    # the open packet, the close packet, then the close frame 1000 and nothing else
    assert rest[0] == 0x81, rest
    assert rest[2:4] == b"0{", rest
    assert rest.endswith(b"\x81\x011\x88\x02\x03\xe8"), rest
    assert b"HTTP/" not in rest


def _pick(prelude: str) -> tuple[str, str]:
    code = (f"{prelude}\nimport logging\nlogging.basicConfig(level=logging.DEBUG)\n"
            "from engineio_core.backends import load_backend\n"
            "print(load_backend(None, 'sync').name)\n")
    done = subprocess.run([PYTHON, "-W", "ignore::DeprecationWarning", "-c", code], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip(), done.stderr


@pytest.mark.parametrize(("prelude", "expected"), [
    ("import eventlet\neventlet.monkey_patch()", "eventlet"),
    ("from gevent import monkey\nmonkey.patch_all()", "gevent"),
    ("import eventlet, gevent, gevent.monkey, eventlet.patcher", "threading"),
])
def test_auto_mode_follows_monkey_patching(prelude: str, expected: str) -> None:
    picked, log = _pick(prelude)
    assert picked == expected
    assert f"picked the '{expected}' backend" in log


def test_gunicorn_sync_worker_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    with running(f"{GUNICORN} -k sync benchmarks.wsgi_apps:threading_app", log,
                 ready_status=500) as port:
        status, body = _get(port, "/engine.io/?EIO=4&transport=polling")
    assert status == 500
    assert b"sync worker" in body
    assert b"-k gthread" in body
    assert "gunicorn's sync worker serves one request at a time" in log.read_text()



NODELAY_PROBE = """
from gevent import monkey
monkey.patch_all()
import json, socket, sys
from gevent.pywsgi import WSGIHandler, WSGIServer
import engineio_core

seen = []  # TCP_NODELAY of the connection after each Engine.IO request


class Handler(WSGIHandler):
    def handle_one_response(self):
        super().handle_one_response()
        seen.append(self.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


app = engineio_core.WSGIApp(engineio_core.Server(async_mode="gevent"))


def probe(environ, start_response):
    if environ["PATH_INFO"] == "/seen":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(seen).encode()]
    return app(environ, start_response)


server = WSGIServer(("127.0.0.1", int(sys.argv[1])), probe, handler_class=Handler, log=None)
server.serve_forever()
"""


def test_gevent_polling_connections_get_tcp_nodelay(tmp_path: Path) -> None:
    """gevent.pywsgi leaves Nagle on; a polling request through WSGIApp turns it off
    (each small response would otherwise wait ~40 ms for the client's delayed ACK)."""
    script = tmp_path / "nodelay_probe.py"
    script.write_text(NODELAY_PROBE)
    with running(f"{PYTHON} {script} {{port}}", tmp_path / "probe.log") as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:  # one keep-alive connection: a handshake, then what the server saw
            conn.request("GET", "/engine.io/?EIO=4&transport=polling")
            assert conn.getresponse().read().startswith(b"0{")
            conn.request("GET", "/seen")
            seen = json.loads(conn.getresponse().read())
        finally:
            conn.close()
    # the readiness probe's handshake, then ours; both on connections with Nagle off
    assert seen[-1] != 0
    assert all(value != 0 for value in seen)


BATCH_PROBE = """
{prelude}
import engineio_core
from engineio_core.protocol.http import Request

MODE = "{mode}"
backend_sleep = __import__(MODE).sleep


class RecordingWebSocket:
    '''An in-memory peer: records each write the server makes, one entry per call.'''

    def __init__(self):
        self.writes = []
        self.inbox = []
        self.closed = False

    def accept(self):
        pass

    def refuse(self, response):
        raise AssertionError(response)

    def receive(self):
        while not self.inbox and not self.closed:
            backend_sleep(0.001)
        return None if self.closed else self.inbox.pop(0)

    def send(self, data):
        self.writes.append([data])

    def send_many(self, messages):
        self.writes.append(list(messages))

    def close(self, code):
        self.closed = True


eio = engineio_core.Server(async_mode=MODE, ping_interval=60, ping_timeout=60)
sids = []
echoed_inline = []


@eio.on("connect")
def connect(sid, request):
    sids.append(sid)


@eio.on("message")
def message(sid, data):
    peer = peers[sids.index(sid)]
    before = len(peer.writes)
    eio.send(sid, "echo:" + data)
    echoed_inline.append(len(peer.writes) == before + 1)  # written before returning


peers = [RecordingWebSocket() for _ in range(3)]
request = Request(method="GET", query={{"EIO": "4", "transport": "websocket"}},
                  headers={{"upgrade": "websocket"}})
for peer in peers:
    eio.backend.spawn(eio.handle_websocket, request, peer)
while len(sids) < 3 or any(not p.writes for p in peers):
    backend_sleep(0.01)
for peer in peers:
    peer.writes.clear()

# a broadcast burst from a task that is none of the sessions' own: batched per socket
for n in range(5):
    for sid in sids:
        eio.send(sid, "b%d" % n)
pending_before_yield = sum(len(p.writes) for p in peers)
backend_sleep(0.05)
burst = [["4b0", "4b1", "4b2", "4b3", "4b4"]]
print(pending_before_yield, [p.writes for p in peers] == [burst] * 3)

# a session's own thread answering its message: written at once
peers[0].inbox.append("4hi")
while not echoed_inline:
    backend_sleep(0.01)
print(echoed_inline, peers[0].writes[-1])
for peer in peers:
    peer.closed = True
"""


@pytest.mark.parametrize(("mode", "prelude"), [
    ("eventlet", "import eventlet\neventlet.monkey_patch()"),
    ("gevent", "from gevent import monkey\nmonkey.patch_all()"),
])
def test_green_backends_batch_writes_to_other_sessions(mode: str, prelude: str) -> None:
    """A burst to other sessions reaches each WebSocket in one write, after the sender
    yields; a session's own thread still writes its answer before the handler returns."""
    code = BATCH_PROBE.format(mode=mode, prelude=prelude)
    done = subprocess.run([PYTHON, "-W", "ignore::DeprecationWarning", "-c", code], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines() == ["0 True", "[True] ['4echo:hi']"], done.stderr
