"""flask-engineio with Flask's own test tools and the package's in-memory test client.

``app.test_client()`` drives the wrapped ``app.wsgi_app`` (Engine.IO polling next
to ordinary views); ``app.app_context()`` gives the extension its current app;
:class:`flask_engineio.EngineIOTestClient` drives polling and WebSocket sessions in
memory. Real servers (``flask run``, gunicorn eventlet and gevent) are covered by
the interop suite (``tests/interop``, the ``flask-*`` servers).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app, request

import engineio_core
import flask_engineio
from engineio_core import ConfigError, ConnectionRefused, DisconnectReason, ServerConfig
from flask_engineio import EngineIOTestClient, FlaskEngineIO, get_server
from flask_engineio.config import config_defaults

DOCS = Path(__file__).resolve().parents[2] / "docs" / "flask.md"
WAIT = 5.0

apps: list[Flask] = []


@pytest.fixture(autouse=True)
def _shutdown_servers() -> Iterator[None]:
    """Stop the heartbeat thread of every server a test created."""
    yield
    while apps:
        state = apps.pop().extensions.get("engineio")
        if state is not None:
            state.server.shutdown()


def make_app(name: str = "t", **config: Any) -> Flask:
    app = Flask(name)
    app.config.update(config)
    apps.append(app)
    return app


def echo(eio: FlaskEngineIO) -> None:
    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        eio.send(sid, data)


def open_packet(body: bytes) -> dict[str, Any]:
    assert body.startswith(b"0{"), body
    opened: dict[str, Any] = json.loads(body[1:])
    return opened


# ---------------------------------------------------------------------- package surface
def test_all_exports() -> None:
    assert len(set(flask_engineio.__all__)) == len(flask_engineio.__all__)
    assert set(flask_engineio.__all__) == {
        "CONFIG_PREFIX", "DEFAULT_PATH", "EXTENSION_KEY", "ConfigError", "ConnectionRefused",
        "DisconnectReason", "EngineIOState", "EngineIOTestClient", "FlaskEngineIO",
        "SessionUnknown", "config_defaults", "get_server", "get_state",
    }
    for name in flask_engineio.__all__:
        assert getattr(flask_engineio, name) is not None


def test_every_server_option_has_a_documented_key() -> None:
    options = set(config_defaults())
    public = {f.removesuffix("_ms") for f in ServerConfig.__dataclass_fields__}
    assert public | {"path", "async_mode", "logger", "async_handlers", "cluster"} == options
    docs = DOCS.read_text()
    for name in options:
        assert f"`ENGINEIO_{name.upper()}`" in docs, name


# ---------------------------------------------------------------------- init_app and config
def test_init_app_twice_names_the_fix() -> None:
    app = make_app()
    eio = FlaskEngineIO(app)
    with pytest.raises(RuntimeError, match=r"already initialised.*call init_app once per app"):
        eio.init_app(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        FlaskEngineIO().init_app(app)


def test_app_factory_registers_extension_state() -> None:
    eio = FlaskEngineIO()
    app = make_app()
    with pytest.raises(RuntimeError, match="not initialised on the Flask app 't'"):
        get_server(app)
    eio.init_app(app)
    state = app.extensions["engineio"]
    assert state.server is get_server(app)
    assert state.extension is eio
    assert state.path == "/engine.io/"
    assert isinstance(app.wsgi_app, engineio_core.WSGIApp)
    assert not any(value is app for value in vars(eio).values())


def test_requests_to_an_app_without_init_app_are_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    eio = FlaskEngineIO()
    echo(eio)
    app = make_app("chat")  # eio.init_app(app) forgotten
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        assert client.get("/engine.io/?EIO=4&transport=polling").status_code == 404
        assert client.post("/engine.io?EIO=4&transport=polling&sid=x").status_code == 404
        assert client.get("/elsewhere").status_code == 404
    message = ("GET /engine.io/ reached the views of the Flask app 'chat' (a 404 unless a view "
               "matches): Engine.IO is not initialised on it; call eio.init_app(app), or "
               "FlaskEngineIO(app), where the app is created")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [("chat", message)]
    assert message in DOCS.read_text()  # quoted in docs/flask.md
    assert "engineio" not in app.extensions  # the check an app can make itself


def test_the_warning_follows_the_configured_path(caplog: pytest.LogCaptureFixture) -> None:
    eio = FlaskEngineIO(path="/rt/")  # (alive: a collected extension's path is forgotten)
    app = make_app("custom", ENGINEIO_PATH="/realtime/")
    other = make_app("other")
    with caplog.at_level(logging.WARNING):
        app.test_client().get("/realtime/")  # its ENGINEIO_PATH
        other.test_client().get("/rt")  # a path an extension was given
        other.test_client().get("/elsewhere")
        app.test_client().get("/engine.io/")  # the default path too, but once per app
    assert [(r.name, r.getMessage().split(" reached")[0]) for r in caplog.records] == [
        ("custom", "GET /realtime/"), ("other", "GET /rt")]
    assert eio.options == {"path": "/rt/"}
    # An initialised app never reaches its views for its own path, and one serving
    # another path is not warned about.
    served = make_app("served")
    FlaskEngineIO(served, path="/rt/")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert served.test_client().get("/engine.io/").status_code == 404
    assert caplog.records == []


def test_config_keys_are_set_by_default_and_overridden_by_keywords() -> None:
    app = make_app(ENGINEIO_PING_INTERVAL=5, ENGINEIO_PING_TIMEOUT=3,
                   ENGINEIO_MAX_HTTP_BUFFER_SIZE=1000, ENGINEIO_CORS_ALLOWED_ORIGINS="https://a.x",
                   ENGINEIO_PATH="/realtime/")
    eio = FlaskEngineIO(ping_timeout=4, cors_allowed_origins="*")
    eio.init_app(app, ping_timeout=2)
    config = get_server(app).config
    assert config.ping_interval_ms == 5000  # config key
    assert config.ping_timeout_ms == 2000  # init_app keyword > constructor keyword > config
    assert config.cors_allowed_origins == "*"  # constructor keyword > config
    assert config.max_http_buffer_size == 1000
    # Every other key was filled in with its default (setdefault).
    assert app.config["ENGINEIO_UPGRADE_TIMEOUT"] == 10
    assert app.config["ENGINEIO_TRANSPORTS"] == ("polling", "websocket")
    assert app.config["ENGINEIO_ASYNC_MODE"] is None
    assert get_server(app).async_mode == "threading"
    client = app.test_client()
    opened = open_packet(client.get("/realtime/?EIO=4&transport=polling").data)
    assert opened["pingInterval"] == 5000
    assert opened["pingTimeout"] == 2000
    assert opened["maxPayload"] == 1000
    assert client.get("/engine.io/?EIO=4&transport=polling").status_code == 404


def test_config_keys_are_read_once() -> None:
    app = make_app(ENGINEIO_PING_INTERVAL=5)
    FlaskEngineIO(app)
    app.config["ENGINEIO_PING_INTERVAL"] = 9
    assert get_server(app).config.ping_interval_ms == 5000


def test_unknown_config_key_raises_with_a_suggestion() -> None:
    app = make_app(ENGINEIO_PING_INTERVL=5)
    with pytest.raises(ConfigError, match="ENGINEIO_PING_INTERVL \\(did you mean "
                                          "ENGINEIO_PING_INTERVAL\\?\\)"):
        FlaskEngineIO(app)
    assert "engineio" not in app.extensions
    with pytest.raises(ConfigError, match="ping_intervall"):
        FlaskEngineIO(make_app(), ping_intervall=5)


def test_bad_config_value_raises() -> None:
    with pytest.raises(ConfigError, match="ping_interval"):
        FlaskEngineIO(make_app(ENGINEIO_PING_INTERVAL=-1))
    with pytest.raises(engineio_core.BackendUnavailable):
        FlaskEngineIO(make_app(ENGINEIO_ASYNC_MODE="nope"))
    with pytest.raises(ConfigError, match="ENGINEIO_PATH"):
        FlaskEngineIO(make_app(ENGINEIO_PATH="/"))


def test_closing_grace_is_a_config_key() -> None:
    app = make_app()
    FlaskEngineIO(app)
    assert app.config["ENGINEIO_CLOSING_GRACE"] == 30  # the default, in seconds
    assert get_server(app).config.closing_grace_ms == 30000
    app = make_app(ENGINEIO_CLOSING_GRACE=2.5)
    FlaskEngineIO(app)
    assert get_server(app).config.closing_grace_ms == 2500
    with pytest.raises(ConfigError, match="closing_grace must be a positive number of seconds"):
        FlaskEngineIO(make_app(ENGINEIO_CLOSING_GRACE=0))


def test_other_requests_reach_flask() -> None:
    app = make_app()

    @app.get("/hello")
    def hello() -> str:
        return "flask"

    FlaskEngineIO(app)
    client = app.test_client()
    assert client.get("/hello").data == b"flask"
    assert client.get("/missing").status_code == 404
    assert client.get("/engine.io?EIO=4&transport=polling").status_code == 200


# ---------------------------------------------------------------------- handlers and contexts
def test_handlers_before_and_after_init_app_run_in_the_app_context() -> None:
    eio = FlaskEngineIO()
    seen: list[tuple[str, str]] = []

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        seen.append(("message", current_app.name))
        eio.send(sid, data)

    app = make_app("first")
    eio.init_app(app)

    @eio.on("disconnect")
    def disconnect(sid: str) -> None:  # one-argument form, registered after init_app
        seen.append(("disconnect", current_app.name))

    with eio.test_client(app) as client:
        client.send("x")
        assert client.receive(WAIT) == "x"
    assert seen == [("message", "first"), ("disconnect", "first")]


def test_connect_runs_in_a_request_context_of_the_handshake() -> None:
    eio = FlaskEngineIO()
    seen: list[tuple[str | None, str | None, str]] = []

    @eio.on("connect")
    def connect(sid: str, eio_request: engineio_core.Request) -> None:
        assert eio_request.native is request.environ
        seen.append((request.headers.get("X-Token"), request.args.get("room"),
                     current_app.name))

    app = make_app("rc")
    eio.init_app(app)
    # Flask's own test client, through the wrapped wsgi_app.
    response = app.test_client().get("/engine.io/?EIO=4&transport=polling&room=a",
                                     headers={"X-Token": "t1"})
    assert response.status_code == 200
    # The in-memory client, both transports.
    for transport in ("polling", "websocket"):
        with eio.test_client(app, transport=transport, query={"room": "b"},
                             headers={"X-Token": "t2"}):
            pass
    assert seen == [("t1", "a", "rc"), ("t2", "b", "rc"), ("t2", "b", "rc")]


def test_connect_with_only_sid_still_gets_the_request_context() -> None:
    eio = FlaskEngineIO()
    paths: list[str] = []

    @eio.on("connect")
    def connect(sid: str) -> None:
        paths.append(request.path)

    app = make_app()
    eio.init_app(app)
    with eio.test_client(app):
        pass
    assert paths == ["/engine.io/"]


def test_refusal() -> None:
    eio = FlaskEngineIO()

    @eio.on("connect")
    def connect(sid: str, eio_request: engineio_core.Request) -> bool | None:
        token = request.args.get("token")
        if token == "bad":
            return False
        if token != "good":
            raise ConnectionRefused("token required")
        return None

    app = make_app()
    eio.init_app(app)
    response = app.test_client().get("/engine.io/?EIO=4&transport=polling&token=bad")
    assert response.status_code == 403
    assert response.get_json()["code"] == 4
    for transport in ("polling", "websocket"):
        with pytest.raises(ConnectionRefused) as refused:
            eio.test_client(app, transport=transport)
        assert refused.value.message == "token required"
        with eio.test_client(app, transport=transport, query={"token": "good"}) as client:
            assert client.connected


POLLING = "/engine.io/?EIO=4&transport=polling"


def test_trusted_hosts_apply_to_engineio_requests() -> None:
    app = make_app(TRUSTED_HOSTS=["good.example", ".good.org"])
    app.add_url_rule("/view", "view", lambda: "view")
    eio = FlaskEngineIO(app)
    seen: list[tuple[engineio_core.Refusal, str]] = []

    @eio.on("connection_error")
    def connection_error(refusal: engineio_core.Refusal) -> None:
        seen.append((refusal, current_app.name))  # in the app context

    client = app.test_client()
    for host in ("good.example", "good.example:5000", "a.good.org"):
        assert client.get(POLLING, headers={"Host": host}).status_code == 200, host
    assert seen == []
    response = client.get(POLLING, headers={"Host": "evil.example"})
    assert (response.status_code, response.get_json()) == (400, {"code": 3,
                                                                  "message": "Bad request"})
    assert [(r.context, name) for r, name in seen] == [
        ({"name": "HOST_NOT_ALLOWED", "host": "evil.example"}, "t")]
    # Flask answers its own views for that host 400 as well.
    assert client.get("/view", headers={"Host": "evil.example"}).status_code == 400
    with pytest.raises(ConnectionRefused, match="HTTP 400: Bad request"):
        eio.test_client(app, transport="websocket", headers={"Host": "evil.example"})
    assert [r.context["name"] for r, _ in seen[1:]] == ["HOST_NOT_ALLOWED"]
    with eio.test_client(app, transport="websocket", headers={"Host": "good.example"}) as ok:
        assert ok.connected


def test_engineio_allowed_hosts_wins_over_trusted_hosts() -> None:
    app = make_app(TRUSTED_HOSTS=["good.example"], ENGINEIO_ALLOWED_HOSTS=["eio.example"])
    FlaskEngineIO(app)
    client = app.test_client()
    assert client.get(POLLING, headers={"Host": "eio.example"}).status_code == 200
    assert client.get(POLLING, headers={"Host": "good.example"}).status_code == 400


def test_no_trusted_hosts_no_host_check() -> None:
    app = make_app()
    FlaskEngineIO(app)
    assert get_server(app).config.allowed_hosts is None
    assert app.test_client().get(POLLING, headers={"Host": "any.example"}).status_code == 200


def test_methods_outside_an_app_context_raise() -> None:
    eio = FlaskEngineIO(make_app())
    with pytest.raises(RuntimeError, match="application context"):
        eio.send("sid", "x")
    with pytest.raises(RuntimeError, match="application context"):
        eio.sleep(0)
    with make_app("other").app_context(), pytest.raises(RuntimeError, match="not initialised"):
        eio.disconnect()


def test_one_extension_serves_several_apps() -> None:
    eio = FlaskEngineIO()
    events: list[tuple[str, str]] = []

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        events.append((current_app.name, sid))
        eio.send(sid, f"{current_app.name}:{data!s}")

    one, two = make_app("one", ENGINEIO_PING_INTERVAL=7), make_app("two")
    eio.init_app(one)
    eio.init_app(two)
    assert get_server(one) is not get_server(two)
    assert get_server(one).config.ping_interval_ms == 7000
    assert get_server(two).config.ping_interval_ms == 25000
    with eio.test_client(one) as a, eio.test_client(two, transport="websocket") as b:
        a.send("x")
        b.send("y")
        assert a.receive(WAIT) == "one:x"
        assert b.receive(WAIT) == "two:y"
        assert events == [("one", a.sid), ("two", b.sid)]
        with one.app_context():
            assert a.sid is not None
            assert b.sid is not None
            eio.send(a.sid, "direct")
            with pytest.raises(engineio_core.SessionUnknown):
                eio.send(b.sid, "wrong app")
        assert a.receive(WAIT) == "direct"
    with pytest.raises(RuntimeError, match="was not initialised on"):
        FlaskEngineIO().test_client(one)


def test_session_transport_disconnect_and_reason() -> None:
    eio = FlaskEngineIO()
    reasons: list[DisconnectReason] = []

    @eio.on("connect")
    def connect(sid: str) -> None:
        with eio.session(sid) as session:
            session["user"] = request.args.get("user")

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        eio.send(sid, f"{eio.get_session(sid)['user']} on {eio.transport(sid)}")
        eio.disconnect(sid)

    @eio.on("disconnect")
    def disconnect(sid: str, reason: DisconnectReason) -> None:
        reasons.append(reason)

    app = make_app()
    eio.init_app(app)
    for transport in ("polling", "websocket"):
        client = eio.test_client(app, transport=transport, query={"user": "ann"})
        client.send("who")
        assert client.receive(WAIT) == f"ann on {transport}"
        assert client.wait_closed(WAIT)
        assert not client.connected
        with pytest.raises(ConnectionError):
            client.receive(0.1)
        client.disconnect()
    with eio.test_client(app) as client, app.app_context():
        assert client.sid is not None
        eio.save_session(client.sid, {"k": 1})
        assert eio.get_session(client.sid) == {"k": 1}
    assert reasons == [DisconnectReason.SERVER_DISCONNECT, DisconnectReason.SERVER_DISCONNECT,
                       DisconnectReason.CLIENT_DISCONNECT]


def test_background_task_runs_in_the_app_context() -> None:
    eio = FlaskEngineIO()
    app = make_app("bg")
    eio.init_app(app)
    seen: list[str] = []
    done = threading.Event()

    def work(suffix: str) -> None:
        eio.sleep(0)
        seen.append(current_app.name + suffix)
        done.set()

    with app.app_context():
        task = eio.start_background_task(work, "!")
    assert done.wait(WAIT)
    task.join(WAIT)
    assert seen == ["bg!"]


def test_run_refuses_an_unthreaded_werkzeug() -> None:
    eio = FlaskEngineIO()
    app = make_app()
    eio.init_app(app)
    with pytest.raises(RuntimeError, match="threaded=True"):
        eio.run(app, threaded=False)


# ---------------------------------------------------------------------- the test client
@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_test_client_echo_text_and_binary(transport: str) -> None:
    eio = FlaskEngineIO()
    echo(eio)
    app = make_app()
    eio.init_app(app, max_http_buffer_size=100)
    client = EngineIOTestClient(app, transport=transport)  # type: ignore[arg-type]
    assert client.sid
    assert client.handshake is not None
    assert client.handshake["maxPayload"] == 100
    assert client.handshake["upgrades"] == (["websocket"] if transport == "polling" else [])
    client.send("héllo")
    client.send(b"\x00\xff")
    assert client.receive(WAIT) == "héllo"
    assert client.receive(WAIT) == b"\x00\xff"
    with pytest.raises(TimeoutError):
        client.receive(0.05)
    assert client.get_received() == []
    client.disconnect()
    assert not client.connected
    with pytest.raises(ConnectionError):
        client.send("late")


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_test_client_answers_heartbeats(transport: str) -> None:
    eio = FlaskEngineIO(ping_interval=0.05, ping_timeout=0.05)
    echo(eio)
    app = make_app()
    eio.init_app(app)
    with eio.test_client(app, transport=transport) as client:
        # Several ping intervals pass while nothing is sent: the client pongs.
        with pytest.raises(TimeoutError):
            client.receive(0.4)
        assert client.connected
        client.send("still here")
        assert client.receive(WAIT) == "still here"


def test_test_client_connect_later_and_errors() -> None:
    eio = FlaskEngineIO()
    app = make_app()
    eio.init_app(app, transports=["polling"])
    client = eio.test_client(app, connect=False)
    assert not client.connected
    with pytest.raises(ConnectionError):
        client.send("x")
    client.connect()
    with pytest.raises(RuntimeError, match="already connected"):
        client.connect()
    client.disconnect()
    with pytest.raises(ConnectionRefused, match="HTTP 400"):
        eio.test_client(app, transport="websocket")
    with pytest.raises(ValueError, match="transport"):
        eio.test_client(app, transport="carrier-pigeon")


def test_docs_example_is_a_real_test() -> None:
    """The pytest example of docs/flask.md, run as written."""
    docs = DOCS.read_text()
    match = re.search(r"```python\n(# test_chat\.py.*?)```", docs, re.S)
    assert match is not None
    namespace: dict[str, Any] = {"__name__": "test_chat"}
    exec(compile(match.group(1), str(DOCS), "exec"), namespace)
    apps.extend(value for value in namespace.values() if isinstance(value, Flask))
    tests = [fn for name, fn in namespace.items() if name.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        test()
