"""Refused requests under real servers: one INFO line each, and the ``connection_error`` hook.

Both runtimes, each on a real server on 127.0.0.1: ``AsyncServer`` + ``ASGIApp``
under uvicorn, ``Server`` + ``WSGIApp`` under Werkzeug's threaded server. Each
refused request (bad EIO, bad transport, unknown sid, Origin, Host, allow_request,
connect handler, 413, refused WebSocket) must be answered as before, logged once
at INFO with its reason, and handed once to the hook; a session that goes well
must produce neither.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import websocket
from tests.helpers import WAIT, EngineIOPeer, drain, serve_asgi
from werkzeug.serving import make_server

from engineio_core import ASGIApp, AsyncServer, ConnectionRefused, Refusal, Request
from engineio_core.server import Server
from engineio_core.wsgi import WSGIApp

KINDS = ["asgi", "wsgi"]


class Records(logging.Handler):
    """Collects the records of one logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock_:
            self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        with self.lock_:
            records, self.records = self.records, []
        return records


class Running:
    """A server under test, its log and what its ``connection_error`` hook got."""

    def __init__(self, eio: AsyncServer | Server, port: int, records: Records,
                 refusals: queue.Queue[Refusal]) -> None:
        self.eio = eio
        self.port = port
        self.records = records
        self.refusals = refusals

    def http(self, method: str, target: str, *, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw.startswith(b"{") else raw
        finally:
            conn.close()

    def refused_lines(self) -> list[str]:
        return [r.getMessage() for r in self.records.take()
                if r.levelno == logging.INFO and r.getMessage().startswith("refused ")]

    def one_refusal(self) -> tuple[Refusal, str]:
        """The one refusal reported since the last call: its hook argument and log line."""
        refusal = self.refusals.get(timeout=WAIT)
        assert drain(self.refusals) == []
        lines = self.refused_lines()
        assert len(lines) == 1, lines
        return refusal, lines[0]


def _handlers(eio: AsyncServer | Server, refusals: queue.Queue[Refusal],
              *, async_hook: bool) -> None:
    def connect(sid: str, request: Request) -> bool:
        if request.query.get("refuse") == "raise":
            raise ConnectionRefused("log in first")
        return request.query.get("refuse") is None

    eio.on("connect", connect)
    if async_hook:
        async def connection_error(refusal: Refusal) -> None:
            refusals.put(refusal)

        eio.on("connection_error", connection_error)
    else:
        eio.on("connection_error", refusals.put)


def _deny(request: Request) -> bool | str:
    return "no token" if request.query.get("deny") else True


@contextmanager
def running(kind: str, *, async_hook: bool = False, hook: bool = True,
            **options: Any) -> Iterator[Running]:
    records = Records()
    logger = logging.getLogger(f"tests.refusals.{kind}.{id(records)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(records)
    refusals: queue.Queue[Refusal] = queue.Queue()
    options.setdefault("allow_request", _deny)
    if kind == "asgi":
        aeio = AsyncServer(async_mode="asyncio", logger=logger, **options)
        if hook:
            _handlers(aeio, refusals, async_hook=async_hook)
        with serve_asgi(ASGIApp(aeio)) as port:
            yield Running(aeio, port, records, refusals)
        return
    seio = Server(async_mode="threading", logger=logger, **options)
    if hook:
        _handlers(seio, refusals, async_hook=False)
    httpd = make_server("127.0.0.1", 0, WSGIApp(seio), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield Running(seio, httpd.socket.getsockname()[1], records, refusals)
    finally:
        seio.shutdown()
        httpd.shutdown()
        thread.join(WAIT)
        httpd.server_close()


HANDSHAKE = "/engine.io/?EIO=4&transport=polling"

# target, extra headers, expected status, body code, context name, words in the log line
REFUSED = [
    ("/engine.io/?EIO=9&transport=polling", {}, 400, 5, "UNSUPPORTED_PROTOCOL_VERSION",
     "EIO='9' is not served"),
    ("/engine.io/?EIO=4&transport=carrier-pigeon", {}, 400, 0, "UNKNOWN_TRANSPORT",
     "transport 'carrier-pigeon' is not served"),
    ("/engine.io/?EIO=4&transport=polling&sid=nope", {}, 400, 1, "UNKNOWN_SID",
     "(session nope): no such session"),
    (HANDSHAKE, {"Origin": "https://evil.example"}, 400, 3, "ORIGIN_NOT_ALLOWED",
     "origin 'https://evil.example' is not allowed"),
    (HANDSHAKE, {"Host": "evil.example"}, 400, 3, "HOST_NOT_ALLOWED",
     "host 'evil.example' is not allowed"),
    (HANDSHAKE + "&deny=1", {}, 403, 4, "ALLOW_REQUEST_REFUSED",
     "allow_request returned 'no token'"),
    (HANDSHAKE + "&refuse=1", {}, 403, 4, "CONNECT_REFUSED",
     "the connect handler returned False"),
    (HANDSHAKE + "&refuse=raise", {}, 403, 4, "CONNECT_REFUSED",
     "the connect handler raised ConnectionRefused('log in first')"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("target", "headers", "status", "code", "name", "words"), REFUSED,
                         ids=[case[4] + ("-raise" if "raise" in case[0] else "")
                              for case in REFUSED])
def test_each_refusal_is_logged_once_and_reported_once(
        kind: str, target: str, headers: dict[str, str], status: int, code: int, name: str,
        words: str) -> None:
    with running(kind, allowed_hosts=["127.0.0.1"]) as server:
        answer = server.http("GET", target, headers=headers)
        refusal, line = server.one_refusal()
    assert answer[0] == status
    assert answer[1]["code"] == code
    assert (refusal.status, refusal.code, refusal.context["name"]) == (status, code, name)
    assert refusal.message == answer[1]["message"]
    assert refusal.request.path == "/engine.io/"
    assert line.startswith("refused GET /engine.io/ from 127.0.0.1")
    assert words in line
    assert f"[{name}; HTTP {status}, code {code} {answer[1]['message']!r}]" in line


@pytest.mark.parametrize("kind", KINDS)
def test_connect_refusal_names_the_session(kind: str) -> None:
    with running(kind) as server:
        server.http("GET", HANDSHAKE + "&refuse=1")
        refusal, line = server.one_refusal()
    assert refusal.sid is not None
    assert f"(session {refusal.sid})" in line


@pytest.mark.parametrize("kind", KINDS)
def test_body_too_large_is_logged_once(kind: str) -> None:
    with running(kind, max_http_buffer_size=100) as server:
        status, body = server.http("GET", HANDSHAKE)
        assert status == 200
        sid = json.loads(body[1:])["sid"]
        status, answer = server.http("POST", f"{HANDSHAKE}&sid={sid}", body=b"4" + b"x" * 200,
                                     headers={"Content-Type": "text/plain;charset=UTF-8"})
        refusal, line = server.one_refusal()
    assert status == 413
    assert answer == {"code": 3, "message": "Payload too large"}
    assert refusal.context == {"name": "PAYLOAD_TOO_LARGE", "limit": 100}
    assert refusal.sid == sid
    assert line.startswith(f"refused POST /engine.io/ from 127.0.0.1 (session {sid}): ")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("query", "host", "name"), [
    ("", "evil.example", "HOST_NOT_ALLOWED"),
    ("&sid=nope", None, "UNKNOWN_SID"),
])
def test_refused_websocket_is_logged_once(kind: str, query: str, host: str | None,
                                          name: str) -> None:
    with running(kind, allowed_hosts=["127.0.0.1"]) as server:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(
                f"ws://127.0.0.1:{server.port}/engine.io/?EIO=4&transport=websocket{query}",
                timeout=WAIT, host=host)
        refusal, line = server.one_refusal()
    assert refused.value.status_code == 400
    assert refusal.context["name"] == name
    assert f"[{name}; HTTP 400," in line


def test_async_hook_is_awaited() -> None:
    with running("asgi", async_hook=True) as server:
        server.http("GET", "/engine.io/?EIO=4&transport=polling&sid=nope")
        refusal, _ = server.one_refusal()
    assert refusal.context == {"name": "UNKNOWN_SID", "sid": "nope"}


@pytest.mark.parametrize(("kind", "is_async"), [("asgi", False), ("asgi", True),
                                               ("wsgi", False)])
def test_a_failing_hook_is_logged_and_changes_nothing(kind: str, is_async: bool) -> None:
    with running(kind, hook=False) as server:
        def broken(refusal: Refusal) -> None:
            raise RuntimeError("hook broke")

        async def broken_async(refusal: Refusal) -> None:
            raise RuntimeError("hook broke")

        # Handlers may be registered while the server runs.
        server.eio.on("connection_error", broken_async if is_async else broken)
        status, answer = server.http("GET", "/engine.io/?EIO=9&transport=polling")
        records = server.records.take()
    assert (status, answer) == (400, {"code": 5, "message": "Unsupported protocol version"})
    infos = [r for r in records if r.levelno == logging.INFO]
    errors = [r for r in records if r.levelno == logging.ERROR]
    assert len(infos) == 1
    assert infos[0].getMessage().startswith("refused GET")
    assert len(errors) == 1
    assert errors[0].getMessage() == "connection_error handler failed (EIO='9' is not served)"
    assert errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == "hook broke"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
def test_a_session_that_goes_well_is_never_reported(kind: str, transports: list[str]) -> None:
    with running(kind, cors_allowed_origins="*", allowed_hosts=["127.0.0.1"]) as server:
        server.eio.on("message", lambda sid, data: server.eio.send(sid, data))
        peer = EngineIOPeer(server.port, transports)
        try:
            for _ in range(3):
                peer.client.send("hello")
                peer.expect("hello")
            status, _ = server.http("OPTIONS", HANDSHAKE, headers={
                "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
            assert status == 204
            lines = server.refused_lines()
        finally:
            # (python-engineio's polling loop may GET once more after its close: a refusal)
            peer.close()
    assert lines == []
    assert drain(server.refusals) == []
