"""The sync runtime for real: ``Server`` + ``WSGIApp`` under Werkzeug's threaded server.

Clients are real too: python-engineio's ``Client`` (polling, WebSocket, and
polling upgraded to WebSocket), ``websocket-client`` for raw frames and
``http.client`` for raw HTTP. Waits are bounded and wait for network events.
"""

from __future__ import annotations

import http.client
import io
import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import engineio
import pytest
import websocket
from werkzeug.serving import BaseWSGIServer, make_server

from engineio_core.protocol.events import DisconnectReason
from engineio_core.protocol.http import Request
from engineio_core.server import Server
from engineio_core.wsgi import WSGIApp

WAIT = 5.0


@dataclass
class Reply:
    """A complete HTTP response."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def getheader(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Running:
    """A server under test and what its handlers saw."""

    eio: Server
    httpd: BaseWSGIServer
    port: int
    connects: queue.Queue[str] = field(default_factory=queue.Queue)
    disconnects: queue.Queue[tuple[str, DisconnectReason]] = field(default_factory=queue.Queue)
    upgrades: queue.Queue[str] = field(default_factory=queue.Queue)
    requests: queue.Queue[Request] = field(default_factory=queue.Queue)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(self, method: str, target: str, body: bytes | Iterable[bytes] | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            conn.request(method, target, body=body, headers=headers or {},
                         encode_chunked=body is not None and not isinstance(body, bytes))
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()

    def handshake(self) -> str:
        response = self.http("GET", "/engine.io/?EIO=4&transport=polling")
        assert response.status == 200
        sid: str = json.loads(response.body[1:])["sid"]
        assert self.connects.get(timeout=WAIT) == sid
        return sid


Serve = Callable[..., Running]


def _other_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"other app"]


@pytest.fixture
def serve() -> Iterator[Serve]:
    started: list[tuple[Running, threading.Thread]] = []

    def start(**options: Any) -> Running:
        other = options.pop("other_app", None)
        static = options.pop("static_files", None)
        eio = Server(async_mode="threading", **options)
        app = WSGIApp(eio, wsgi_app=other, static_files=static)
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        running = Running(eio, httpd, httpd.socket.getsockname()[1])

        @eio.on("connect")
        def connect(sid: str, request: Request) -> bool:
            running.connects.put(sid)
            running.requests.put(request)
            return request.query.get("refuse") is None

        @eio.on("message")
        def message(sid: str, data: str | bytes) -> None:
            eio.send(sid, data)

        @eio.on("disconnect")
        def disconnect(sid: str, reason: DisconnectReason) -> None:
            running.disconnects.put((sid, reason))

        @eio.on("upgrade")
        def upgrade(sid: str) -> None:
            running.upgrades.put(sid)

        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        started.append((running, thread))
        return running

    yield start
    for running, thread in started:
        running.eio.shutdown()
        running.httpd.shutdown()
        thread.join(WAIT)
        running.httpd.server_close()


class Peer:
    """A python-engineio client that records what it receives."""

    def __init__(self) -> None:
        self.client = engineio.Client(request_timeout=WAIT)
        self.messages: queue.Queue[str | bytes] = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on("message", self.messages.put)
        self.client.on("disconnect", lambda *_: self.disconnected.set())

    def connect(self, running: Running, transports: list[str]) -> str:
        self.client.connect(running.url, transports=transports)
        sid = running.connects.get(timeout=WAIT)
        assert self.client.sid == sid
        return sid

    def echo(self, data: str | bytes) -> None:
        self.client.send(data)
        assert self.messages.get(timeout=WAIT) == data

    def disconnect(self) -> None:
        # python-engineio drops its close packet when disconnect() lands while its
        # writer is still busy with an earlier POST; let the writer go idle first.
        self.client.queue.join()
        self.client.disconnect()

    def close(self) -> None:
        if self.client.state == "connected":
            self.client.disconnect()


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    yield p
    p.close()


TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}


@pytest.mark.parametrize("kind", list(TRANSPORTS))
def test_echo(serve: Serve, peer: Peer, kind: str) -> None:
    running = serve()
    sid = peer.connect(running, TRANSPORTS[kind])
    if kind == "upgrade":
        assert running.upgrades.get(timeout=WAIT) == sid
        assert running.eio.transport(sid) == "websocket"
    else:
        assert running.eio.transport(sid) == kind
    for data in ("hello", b"\x00\x01\xffbinary", "non-BMP \U0001f600 text", "x" * 100_000):
        peer.echo(data)
    peer.disconnect()
    gone, reason = running.disconnects.get(timeout=WAIT)
    assert gone == sid
    # On WebSocket python-engineio queues its "1" and closes the socket at once: either wins.
    expected = [DisconnectReason.CLIENT_DISCONNECT]
    if kind != "polling":
        expected.append(DisconnectReason.TRANSPORT_CLOSE)
    assert reason in expected


@pytest.mark.parametrize("kind", ["polling", "websocket"])
def test_server_disconnect_is_seen_by_the_client(serve: Serve, peer: Peer, kind: str) -> None:
    running = serve()
    sid = peer.connect(running, TRANSPORTS[kind])
    running.eio.disconnect(sid)
    assert running.disconnects.get(timeout=WAIT) == (sid, DisconnectReason.SERVER_DISCONNECT)
    assert peer.disconnected.wait(WAIT)


@pytest.mark.parametrize("kind", ["polling", "websocket"])
def test_heartbeat_keeps_a_client_alive(serve: Serve, peer: Peer, kind: str) -> None:
    running = serve(ping_interval=0.3, ping_timeout=0.2)
    sid = peer.connect(running, TRANSPORTS[kind])
    # Five ping intervals: a missed ping or pong would have closed the session.
    with pytest.raises(queue.Empty):
        running.disconnects.get(timeout=1.5)
    assert not peer.disconnected.is_set()
    peer.echo("still here")
    assert running.eio.transport(sid) == kind


def test_silent_client_times_out_on_time(serve: Serve) -> None:
    running = serve(ping_interval=0.3, ping_timeout=0.2)
    sid = running.handshake()
    target = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    assert running.http("GET", target).body == b"2"  # the ping, after 0.3 s
    # Nobody answers it: the held GET gets the close packet at the 0.5 s deadline.
    assert running.http("GET", target).body == b"1"
    assert running.disconnects.get(timeout=WAIT) == (sid, DisconnectReason.PING_TIMEOUT)
    assert running.http("GET", target).json() == {"code": 1, "message": "Session ID unknown"}


def test_handshake_open_packet(serve: Serve) -> None:
    running = serve(ping_interval=0.3, ping_timeout=0.2)
    response = running.http("GET", "/engine.io?EIO=4&transport=polling")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/plain; charset=UTF-8"
    assert response.getheader("Cache-Control") == "no-store"
    body = response.body
    assert body[:1] == b"0"
    packet = json.loads(body[1:])
    assert list(packet) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
    assert packet["upgrades"] == ["websocket"]
    assert (packet["pingInterval"], packet["pingTimeout"]) == (300, 200)
    assert packet["maxPayload"] == 1_000_000


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("/engine.io/?transport=polling", 5),
        ("/engine.io/?EIO=9&transport=polling", 5),
        ("/engine.io/?EIO=4&transport=carrier-pigeon", 0),
        ("/engine.io/?EIO=4&transport=polling&sid=nope", 1),
        ("/engine.io/?EIO=4&transport=websocket", 3),
    ],
)
def test_errors_are_json(serve: Serve, target: str, code: int) -> None:
    response = serve().http("GET", target)
    assert response.status == 400
    assert response.getheader("Content-Type") == "application/json"
    assert response.json()["code"] == code


def test_refused_connect_is_403(serve: Serve) -> None:
    response = serve().http("GET", "/engine.io/?EIO=4&transport=polling&refuse=1")
    assert response.status == 403
    assert response.json() == {"code": 4, "message": "Forbidden"}


def test_post_body_arrives_whole(serve: Serve) -> None:
    running = serve()
    sid = running.handshake()
    target = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    payload = "\x1e".join("4" + str(i) * 1000 for i in range(10)).encode()
    response = running.http("POST", target, payload, {"Content-Type": "text/plain"})
    assert (response.status, response.body) == (200, b"ok")
    echoed = running.http("GET", target).body.split(b"\x1e")
    assert echoed == payload.split(b"\x1e")


@pytest.mark.parametrize("chunked", [False, True])
def test_post_too_large_is_413(serve: Serve, chunked: bool) -> None:
    running = serve(max_http_buffer_size=1000)
    sid = running.handshake()
    body = b"4" + b"x" * 2000
    response = running.http("POST", f"/engine.io/?EIO=4&transport=polling&sid={sid}",
                             [body[:500], body[500:]] if chunked else body)
    assert response.status == 413
    assert running.disconnects.get(timeout=WAIT) == (sid, DisconnectReason.TRANSPORT_ERROR)


def test_duplicate_get_is_400(serve: Serve) -> None:
    running = serve()
    sid = running.handshake()
    target = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    held: queue.Queue[bytes] = queue.Queue()
    first = threading.Thread(target=lambda: held.put(running.http("GET", target).body))
    first.start()
    deadline = time.monotonic() + WAIT
    while not running.eio.session_info(sid).poll_held:  # the first GET is held
        assert time.monotonic() < deadline
        time.sleep(0.005)
    second = running.http("GET", target)
    assert second.status == 400
    assert second.json()["code"] == 3
    assert held.get(timeout=WAIT) == b"1"
    first.join(WAIT)
    assert running.disconnects.get(timeout=WAIT) == (sid, DisconnectReason.TRANSPORT_ERROR)


@contextmanager
def _raw_websocket(running: Running) -> Iterator[websocket.WebSocket]:
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{running.port}/engine.io/?EIO=4&transport=websocket", timeout=WAIT
    )
    try:
        opened = ws.recv()
        assert isinstance(opened, str)
        assert opened.startswith("0{")
        assert json.loads(opened[1:])["upgrades"] == []
        yield ws
    finally:
        ws.close()
        ws.shutdown()  # type: ignore[no-untyped-call]  # close() skips it once the server closed


def _close_code(ws: websocket.WebSocket) -> int:
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    return int.from_bytes(data[:2], "big")


def test_websocket_message_too_large_closes_with_1009(serve: Serve) -> None:
    running = serve(max_http_buffer_size=1000)
    with _raw_websocket(running) as ws:
        sid = running.connects.get(timeout=WAIT)
        ws.send("4" + "é" * 600)  # 601 characters, 1201 bytes of UTF-8
        assert _close_code(ws) == 1009
    assert running.disconnects.get(timeout=WAIT) == (sid, DisconnectReason.TRANSPORT_ERROR)


def test_websocket_fragments_and_pings(serve: Serve) -> None:
    running = serve()
    with _raw_websocket(running) as ws:
        ws.ping(b"are you there")
        assert ws.recv_data(control_frame=True) == (websocket.ABNF.OPCODE_PONG, b"are you there")
        ws.send_frame(websocket.ABNF.create_frame("4frag", websocket.ABNF.OPCODE_TEXT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame("mented", websocket.ABNF.OPCODE_CONT, fin=1))
        assert ws.recv() == "4fragmented"
    assert running.disconnects.get(timeout=WAIT)[1] == DisconnectReason.TRANSPORT_CLOSE


def test_sends_from_many_threads_stay_whole_and_ordered(serve: Serve) -> None:
    running = serve()
    with _raw_websocket(running) as ws:
        sid = running.connects.get(timeout=WAIT)

        def burst(thread: int) -> None:
            for i in range(200):
                running.eio.send(sid, f"{thread}:{i}:" + "x" * (i * 37 % 3000))

        threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        seen: dict[str, list[int]] = {str(n): [] for n in range(4)}
        for _ in range(800):
            frame = ws.recv()
            assert isinstance(frame, str)
            assert frame.startswith("4")
            thread_id, index, padding = frame[1:].split(":")
            assert padding == "x" * (int(index) * 37 % 3000)
            seen[thread_id].append(int(index))
        for thread in threads:
            thread.join(WAIT)
        assert all(indexes == list(range(200)) for indexes in seen.values())


def test_server_close_ends_the_tcp_connection(serve: Serve) -> None:
    running = serve()
    with _raw_websocket(running) as ws:
        sid = running.connects.get(timeout=WAIT)
        running.eio.disconnect(sid)
        assert ws.recv() == "1"
        assert _close_code(ws) == 1000
        sock = ws.sock
        assert sock is not None
        sock.settimeout(WAIT)
        try:
            rest = sock.recv(100)
        except ConnectionResetError:  # pragma: no cover - also a closed connection
            rest = b""
        assert rest == b""


def test_upgrade_to_unknown_sid_is_refused_before_the_handshake(serve: Serve) -> None:
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    response = serve().http("GET", "/engine.io/?EIO=4&transport=websocket&sid=nope",
                            headers=headers)
    assert (response.status, response.json()["code"]) == (400, 1)


def test_websocket_without_a_socket_is_400(serve: Serve) -> None:
    app = WSGIApp(serve().eio)
    seen: list[str] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/engine.io/",
        "QUERY_STRING": "EIO=4&transport=websocket",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "wsgi.url_scheme": "http",
    }
    body = app(environ, lambda status, headers: seen.append(status))
    assert seen == ["400 Bad Request"]
    assert json.loads(b"".join(body)) == {"code": 3, "message": "Bad request"}


def test_other_paths(serve: Serve, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    running = serve()
    assert running.http("GET", "/elsewhere").status == 404
    other = serve(other_app=_other_app, static_files={"/": str(tmp_path / "index.html"),
                                                      "/static/": str(tmp_path)})
    assert (other.http("GET", "/elsewhere").body) == b"other app"
    page = other.http("GET", "/")
    assert (page.status, page.getheader("Content-Type"), page.body) == (
        200, "text/html", b"<h1>hi</h1>")
    assert other.http("GET", "/static/index.html").body == b"<h1>hi</h1>"
    assert other.http("GET", "/static/../etc/passwd").body == b"other app"


def test_mounted_under_a_script_name(serve: Serve) -> None:
    running = serve()
    app = WSGIApp(running.eio)
    seen: list[str] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/chat",
        "PATH_INFO": "/engine.io",
        "QUERY_STRING": "EIO=4&transport=polling",
        "REMOTE_ADDR": "10.0.0.1",
        "REMOTE_PORT": "4321",
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(),
    }
    body = b"".join(app(environ, lambda status, headers: seen.append(status)))
    assert seen == ["200 OK"]
    assert body.startswith(b"0{")
    request = running.requests.get(timeout=WAIT)
    assert (request.path, request.client, request.scheme) == ("/chat/engine.io",
                                                              ("10.0.0.1", 4321), "https")


@pytest.mark.parametrize("chunks", [b"zz\r\n4hi\r\n0\r\n\r\n", b"3\r\n4hiXX0\r\n\r\n",
                                    b"-3\r\n4hi\r\n0\r\n\r\n"])
def test_malformed_chunked_body_is_400(serve: Serve, chunks: bytes) -> None:
    """Werkzeug's chunked decoder raises OSError from ``wsgi.input``: the client's
    fault, answered 400 and the session closed (the wire fuzzer saw a 500)."""
    running = serve()
    sid = running.handshake()
    head = (f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", running.port), timeout=WAIT) as sock:
        sock.sendall(head + chunks)
        reply = b""
        while b"\r\n\r\n" not in reply and (chunk := sock.recv(65536)):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert running.disconnects.get(timeout=WAIT) == (sid, DisconnectReason.TRANSPORT_ERROR)
