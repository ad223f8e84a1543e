"""python-socketio on our engine (``engineio_core.socketio``), in one process.

The option translation and the environ are checked directly; the rest with
python-socketio's own ``Client`` against unchanged python-socketio apps
(``socketio.ASGIApp`` under uvicorn, Flask-SocketIO under Werkzeug) in a thread.
The runtimes and node's socket.io-client are the interop suite's
(tests/interop/test_socketio.py).
"""

from __future__ import annotations

import ast
import asyncio
import logging
import queue
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import engineio
import flask
import flask_socketio
import pytest
import socketio
from tests.helpers import WAIT, free_port, serve_asgi
from werkzeug.serving import make_server

import engineio_core
import engineio_core.socketio as sio_on_core
from engineio_core import ConfigError
from engineio_core.hosting import hosted_server
from engineio_core.protocol.http import Request
from engineio_core.socketio.environ import environ_of
from engineio_core.socketio.options import IgnoredOptionWarning, translate

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------- options
def test_python_engineio_forms_are_translated() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = translate({"ping_interval": (10, 0), "ping_timeout": 4, "cors_allowed_origins": [],
                         "json": "J", "async_handlers": False, "cluster": None},
                        asyncio=True)
    assert not caught, [str(w.message) for w in caught]
    assert out.async_mode == "asgi"
    assert out.backend == "asyncio"
    assert out.core["ping_interval"] == 10
    assert out.core["ping_timeout"] == 4
    assert callable(out.core["cors_allowed_origins"])  # [] is "any origin" in python-engineio
    assert out.core["cors_allowed_origins"]("https://elsewhere.example")
    assert out.json == "J"
    assert out.async_handlers is False


def test_in_a_cluster_sessions_stay_where_python_socketio_saw_them_connect() -> None:
    """python-socketio's state of a connection cannot move with a take-over; Flask-SocketIO's
    ``message_queue`` (passed on with the rest) is its own, dropped without a warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = translate({"cluster": "redis://127.0.0.1:1/0", "message_queue": "redis://x"},
                        asyncio=False)
    assert not caught, [str(w.message) for w in caught]
    assert out.core == {"cluster": "redis://127.0.0.1:1/0", "cluster_upgrades": "refuse"}
    assert translate({"cluster": "redis://x"}, asyncio=True).core["cluster_upgrades"] == "relay"
    chosen = translate({"cluster": "redis://127.0.0.1:1/0", "cluster_upgrades": "take-over"},
                       asyncio=False)
    assert chosen.core["cluster_upgrades"] == "take-over"
    assert "cluster_upgrades" not in translate({}, asyncio=False).core


@pytest.mark.parametrize(("options", "named"), [
    ({"monitor_clients": False}, "monitor_clients"),
    ({"ping_interval": (25, 5)}, "ping_interval"),
    ({"websocket_class": object}, "websocket_class"),
])
def test_options_without_meaning_here_warn_and_name_themselves(options: dict[str, Any],
                                                               named: str) -> None:
    with pytest.warns(IgnoredOptionWarning, match=named) as record:
        server = sio_on_core.AsyncServer(**options)
    assert record[0].filename == __file__  # points at the line that built the server
    assert isinstance(server.eio, sio_on_core.AsyncEngineServer)


def test_a_bad_async_mode_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="asgi, aiohttp, sanic, tornado"):
        sio_on_core.AsyncServer(async_mode="eventlet")
    with pytest.raises(ConfigError, match="threading, eventlet, gevent, gevent_uwsgi"):
        sio_on_core.Server(async_mode="asgi")


def test_logger_true_logs_at_info_and_a_logger_is_used_as_is() -> None:
    mine = logging.getLogger("tests.socketio.engine")
    server = sio_on_core.AsyncServer(engineio_logger=mine)
    assert server.eio.server.logger is mine
    default = logging.getLogger("engineio_core.server")
    level = default.level
    try:
        default.setLevel(logging.NOTSET)
        sio_on_core.Server(async_mode="threading", engineio_logger=True)
        assert default.level == logging.INFO
    finally:
        default.setLevel(level)


def test_the_sync_server_reports_its_backend_as_async_mode() -> None:
    server = sio_on_core.Server(async_mode="threading")
    assert server.async_mode == server.eio.async_mode == "threading"
    assert server.eio.server.async_mode == "threading"
    assert isinstance(server.eio.create_queue(), queue.Queue)
    assert server.eio.get_queue_empty_exception() is queue.Empty
    assert hasattr(server.eio.create_event(), "wait")


# ---------------------------------------------------------------------- environ
def test_a_wsgi_environ_is_passed_as_it_is() -> None:
    environ = {"REQUEST_METHOD": "GET", "flask.app": object()}
    request = Request("GET", {}, {}, native=environ)
    assert environ_of(request) is environ


def test_an_asgi_scope_becomes_python_engineio_environ() -> None:
    scope = {"type": "http", "path": "/socket.io/",
             "query_string": b"EIO=4&transport=polling&x=%20"}
    request = Request("GET", {"EIO": "4"}, {"content-type": "text/plain", "x-token": "t"},
                      client=("10.1.2.3", 4567), scheme="https", path="/socket.io/", native=scope)
    environ = environ_of(request)
    assert environ["asgi.scope"] is scope
    assert environ["QUERY_STRING"] == "EIO=4&transport=polling&x=%20"
    assert environ["REMOTE_ADDR"] == "10.1.2.3"
    assert environ["REMOTE_PORT"] == "4567"
    assert environ["HTTP_X_TOKEN"] == "t"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["PATH_INFO"] == "/socket.io/"


# ---------------------------------------------------------------------- hosting
def test_framework_packages_host_the_engine_of_a_socketio_server() -> None:
    sio = sio_on_core.AsyncServer()
    assert hosted_server(sio, engineio_core.AsyncServer, "here") is sio.eio.server
    with pytest.raises(TypeError, match=r"needs an engineio_core.AsyncServer, got a Server"):
        hosted_server(sio_on_core.Server(async_mode="threading"), engineio_core.AsyncServer,
                      "aiohttp_engineio.setup()")
    with pytest.raises(TypeError, match="python-socketio server on our engine"):
        hosted_server(socketio.AsyncServer(), engineio_core.AsyncServer, "here")


def test_install_makes_socketio_servers_run_on_our_engine() -> None:
    assert not sio_on_core.installed()
    sio_on_core.install()
    try:
        sio_on_core.install()  # twice is once
        assert isinstance(socketio.Server(async_mode="threading").eio, sio_on_core.EngineServer)
        assert isinstance(socketio.AsyncServer().eio, sio_on_core.AsyncEngineServer)
    finally:
        sio_on_core.uninstall()
    assert not sio_on_core.installed()
    assert isinstance(socketio.AsyncServer(async_mode="asgi").eio, engineio.AsyncServer)


def test_no_other_module_of_ours_imports_python_engineio_or_socketio() -> None:
    """Only the integration (engineio_core/socketio/) may import the peers."""
    offenders = []
    for path in sorted((REPO / "packages").rglob("src/**/*.py")):
        if "engineio_core/socketio/" in path.as_posix():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.relative_to(REPO)}: {name}" for name in names
                          if name.partition(".")[0] in ("engineio", "socketio", "flask_socketio")]
    assert not offenders


# ---------------------------------------------------------------------- ASGI, for real
@contextmanager
def asgi_server(sio: Any) -> Iterator[str]:
    with serve_asgi(socketio.ASGIApp(sio)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
def test_python_socketio_on_asgi(transports: list[str]) -> None:
    sio = sio_on_core.AsyncServer(async_mode="asgi")
    seen: queue.Queue[Any] = queue.Queue()

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        seen.put(("environ", environ["QUERY_STRING"], environ["REMOTE_ADDR"],
                  environ["asgi.scope"]["type"], auth))
        async with sio.session(sid) as session:
            session["user"] = auth["user"]

    @sio.on("whoami")
    async def whoami(sid: str) -> Any:
        return (await sio.get_session(sid))["user"], sio.transport(sid)

    @sio.on("bye")
    async def bye(sid: str) -> None:
        await sio.disconnect(sid)

    @sio.event
    async def disconnect(sid: str, reason: str) -> None:
        seen.put(("disconnect", reason))

    client, echoed = _echo_client(sio)
    with asgi_server(sio) as url:
        client.connect(url + "/?x=1", auth={"user": "ada"}, transports=transports,
                       wait_timeout=WAIT)
        try:
            _kind, query, addr, scope_type, auth = seen.get(timeout=WAIT)
            assert "x=1" in query, query
            assert "EIO=4" in query, query
            assert addr == "127.0.0.1"
            assert auth == {"user": "ada"}
            assert scope_type == ("http" if transports[0] == "polling" else "websocket")
            client.emit("echo", {"binary": b"\x00\xff", "text": "é"})
            assert echoed.get(timeout=WAIT) == {"binary": b"\x00\xff", "text": "é"}
            user, transport = client.call("whoami", timeout=WAIT)
            assert user == "ada"
            assert transport == client.transport()
            client.emit("bye")
            assert seen.get(timeout=WAIT) == ("disconnect", sio.reason.SERVER_DISCONNECT)
        finally:
            client.disconnect()


def test_sending_to_a_session_that_is_gone_is_skipped() -> None:
    sio = sio_on_core.AsyncServer(async_mode="asgi")

    async def run() -> None:
        await sio.eio.send("no-such-sid", "x")  # python-engineio logs and returns
        await sio.eio.disconnect("no-such-sid")
        await sio.emit("anything", to="no-such-sid")

    asyncio.run(run())


# ---------------------------------------------------------------------- Flask-SocketIO
@contextmanager
def werkzeug_server(app: flask.Flask) -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(WAIT)


@pytest.fixture
def installed() -> Iterator[None]:
    sio_on_core.install()
    try:
        yield
    finally:
        sio_on_core.uninstall()


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("transports", [["polling"], ["polling", "websocket"]])
def test_flask_socketio_handlers_run_in_flask_request_context(transports: list[str]) -> None:
    """Flask-SocketIO, unchanged, after install(): its handlers see ``flask.request``
    (the real WSGI environ reached the engine, ``flask.app`` in it) and its session."""
    app = flask.Flask(__name__)
    app.config["SECRET_KEY"] = "test"
    socket = flask_socketio.SocketIO(app, async_mode="threading")
    assert isinstance(socket.server.eio, sio_on_core.EngineServer)

    @socket.on("connect")
    def connect(auth: Any) -> None:
        flask.session["name"] = flask.request.args.get("name")
        sid = flask.request.sid  # type: ignore[attr-defined]  # Flask-SocketIO sets it
        flask_socketio.emit("hello", {"app": flask.current_app.name, "sid": sid})

    @socket.on("name")
    def name() -> Any:
        return flask.session["name"]

    client = socketio.Client()
    hello: queue.Queue[Any] = queue.Queue()
    client.on("hello", hello.put)
    with werkzeug_server(app) as url:
        client.connect(url + "/?name=grace", transports=transports, wait_timeout=WAIT)
        try:
            greeting = hello.get(timeout=WAIT)
            assert greeting["app"] == app.name
            assert greeting["sid"] == client.get_sid()
            assert client.call("name", timeout=WAIT) == "grace"
            assert client.transport() == transports[-1]
        finally:
            client.disconnect()


# ---------------------------------------------------------------------- Tornado
@contextmanager
def tornado_server(sio: Any) -> Iterator[str]:
    """python-socketio's own Tornado handler, in an event loop of its own thread."""
    import tornado.web

    port = free_port()
    ready = threading.Event()
    stop: list[Any] = []

    async def main() -> None:
        app = tornado.web.Application([(r"/socket.io/", socketio.get_tornado_handler(sio))])
        server = app.listen(port, "127.0.0.1")
        done = asyncio.Event()
        stop.append((asyncio.get_running_loop(), done))
        ready.set()
        await done.wait()
        server.stop()
        await sio.shutdown()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(WAIT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop, done = stop[0]
        loop.call_soon_threadsafe(done.set)
        thread.join(WAIT)
        assert not thread.is_alive()


def _echo_client(sio: Any) -> tuple[socketio.Client, queue.Queue[Any]]:
    """An ``echo`` event on the async ``sio`` that emits ``echo-back`` to its sender,
    and a python-socketio client whose ``echo-back`` events land in the queue."""

    @sio.on("echo")
    async def echo(sid: str, data: Any) -> None:
        await sio.emit("echo-back", data, to=sid)

    client = socketio.Client()
    echoed: queue.Queue[Any] = queue.Queue()
    client.on("echo-back", echoed.put)
    return client, echoed


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
def test_python_socketio_tornado_handler(transports: list[str]) -> None:
    sio = sio_on_core.AsyncServer(async_mode="tornado")
    client, echoed = _echo_client(sio)
    payload = {"binary": b"\x00\xff", "text": "x" * 5000}
    with tornado_server(sio) as url:
        client.connect(url, transports=transports, wait_timeout=WAIT)
        try:
            client.emit("echo", payload)
            assert echoed.get(timeout=WAIT) == payload
            assert client.transport() == transports[-1]
        finally:
            client.disconnect()


# ---------------------------------------------------------------------- binary packets
def test_a_binary_packets_pieces_are_kept_together() -> None:
    """Two senders' binary packets, their pieces interleaved call by call, leave whole."""
    eio = sio_on_core.Server(async_mode="threading").eio
    a, b = object(), object()
    assert eio._together(a, "s", '52-["x",{"_placeholder":true,"num":0}]') is None
    assert eio._together(b, "s", '51-["y",{"_placeholder":true,"num":0}]') is None
    assert eio._together(a, "s", b"a1") is None
    assert eio._together(b, "s", b"b1") == ['51-["y",{"_placeholder":true,"num":0}]', b"b1"]
    assert eio._together(a, "s", b"a2") == ['52-["x",{"_placeholder":true,"num":0}]', b"a1",
                                            b"a2"]
    assert eio._together(a, "s", '2["plain"]') == ['2["plain"]']
    assert eio._together(a, "s", "50-[]") == ["50-[]"]  # no attachment announced


def test_concurrent_binary_emits_on_threads_arrive_whole() -> None:
    """python-socketio on Werkzeug's threads: each event's handler runs in its own
    thread and emits a binary packet as several sends; none may land between another
    packet's header and its attachments (the client would decode garbage)."""
    sio = sio_on_core.Server(async_mode="threading")

    @sio.on("message")
    def message(sid: str, *args: Any) -> None:
        sio.emit("message-back", args, to=sid)

    app = flask.Flask(__name__)
    app.wsgi_app = socketio.WSGIApp(sio, app.wsgi_app)  # type: ignore[method-assign]
    client = socketio.Client()
    got: queue.Queue[Any] = queue.Queue()
    client.on("message-back", lambda *args: got.put(args))
    with werkzeug_server(app) as url:
        client.connect(url, transports=["websocket"], wait_timeout=WAIT)
        try:
            for _ in range(5):
                for i in range(20):
                    client.emit("message", (i, bytes([i]) * (i + 1)))
                replies = sorted(got.get(timeout=WAIT) for _ in range(20))
                assert replies == [(i, bytes([i]) * (i + 1)) for i in range(20)]
        finally:
            client.disconnect()


def test_tornado_shutdown_takes_a_python_socketio_server() -> None:
    import tornado_engineio

    sio = sio_on_core.AsyncServer(async_mode="tornado")
    asyncio.run(tornado_engineio.shutdown(sio))
    with pytest.raises(TypeError, match=r"tornado_engineio.shutdown\(\) needs an "):
        asyncio.run(tornado_engineio.shutdown(sio_on_core.Server(async_mode="threading")))


def test_an_empty_binary_attachment_is_sent() -> None:
    """``emit(event, b"")``: the attachment is an empty message, sent like any other
    (python-socketio passes it to ``send_packet``; dropping it left the client waiting)."""
    sio = sio_on_core.AsyncServer(async_mode="asgi")
    client, echoed = _echo_client(sio)
    with asgi_server(sio) as url:
        client.connect(url, transports=["websocket"], wait_timeout=WAIT)
        try:
            client.emit("echo", b"")
            assert echoed.get(timeout=WAIT) == b""
        finally:
            client.disconnect()
