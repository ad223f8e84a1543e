"""sanic-engineio with Sanic's own test tools (sanic-testing's ``ReusableClient``).

A real Sanic server on 127.0.0.1 (one event loop per test, closed at the end)
serves the extension; requests go through the client's httpx session and its
WebSocket proxy (``mimic``). Covers the extension surface: config keys,
``init_app``, listeners, the polling handshake, POST echo, 413, WebSocket echo,
refusal before the upgrade, the polling → WebSocket upgrade on one path, the
client address and the oversized WebSocket message.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import websocket
from sanic import Request as SanicRequest
from sanic import Sanic
from tests.helpers import assert_websocket_echo, serve_asgi
from tests.interop.harness import free_port
from websockets.exceptions import ConnectionClosedOK

import engineio_core
import sanic_engineio
from engineio_core import AsyncServer, ConfigError, DisconnectReason
from sanic_engineio import SanicEngineIO, get_server
from sanic_engineio.backend import backend as sanic_backend

with warnings.catch_warnings():
    # sanic-testing's WebSocket proxy imports websockets.legacy (deprecated).
    warnings.simplefilter("ignore", DeprecationWarning)
    from sanic_testing.reusable import ReusableClient  # type: ignore[import-untyped]

AnyApp = Sanic[Any, Any]



@pytest.fixture
def app(request: pytest.FixtureRequest) -> AnyApp:
    """A Sanic app with a name unique to the test, sanic-ext left out."""
    Sanic.test_mode = True
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60]
    application: AnyApp = Sanic(f"t_{name}")
    application.config.AUTO_EXTEND = False
    application.config.MOTD = False
    return application


@contextmanager
def running(app: AnyApp) -> Iterator[ReusableClient]:
    """Serve ``app`` on a free port with sanic-testing's ``ReusableClient``."""
    loop = asyncio.new_event_loop()
    client = ReusableClient(app, port=free_port(), loop=loop)
    try:
        with client:
            yield client
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def handshake(client: ReusableClient, eio: int = 4, path: str = "/engine.io/") -> dict[str, Any]:
    _, response = client.get(f"{path}?EIO={eio}&transport=polling")
    assert response.status == 200, response.text
    body = response.text
    start = body.index("0{")
    opened: dict[str, Any] = json.loads(body[start + 1:body.index("}", start) + 1])
    return opened


def disconnect_reasons(eio: SanicEngineIO) -> list[DisconnectReason]:
    """The reasons of every disconnect, in order (a disconnect handler on ``eio``)."""
    reasons: list[DisconnectReason] = []

    @eio.on("disconnect")
    def disconnect(sid: str, reason: DisconnectReason) -> None:
        reasons.append(reason)

    return reasons


async def until_closed(ws: Any) -> None:
    """Wait for the close handshake, then end a ``mimic`` the way sanic-testing expects
    (a ``ConnectionClosedOK``; otherwise its proxy sends one more frame)."""
    await ws.wait_closed()
    raise ConnectionClosedOK(None, None)


def echo_app(app: AnyApp, **options: Any) -> SanicEngineIO:
    eio = SanicEngineIO(app, **options)

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        await eio.send(sid, data)

    return eio


# ---------------------------------------------------------------------- package surface
def test_all_exports() -> None:
    assert sorted(sanic_engineio.__all__) == sanic_engineio.__all__
    assert set(sanic_engineio.__all__) == {
        "CONFIG_PREFIX", "ConnectionRefused", "DisconnectReason", "SanicBackend",
        "SanicEngineIO", "SanicWebSocket", "get_server", "make_handler", "to_engine_request",
        "to_sanic",
    }
    for name in sanic_engineio.__all__:
        assert getattr(sanic_engineio, name) is not None


def test_backend_entry_point() -> None:
    server = AsyncServer(async_mode="sanic")
    assert server.async_mode == "sanic"
    assert server.backend is sanic_backend


def test_config_keys_and_keyword_overrides(app: AnyApp) -> None:
    app.config.ENGINEIO_PING_INTERVAL = 5
    app.config.ENGINEIO_PING_TIMEOUT = 3
    app.config.ENGINEIO_MAX_HTTP_BUFFER_SIZE = 1000
    app.config.ENGINEIO_CORS_ALLOWED_ORIGINS = "https://a.example"
    app.config.ENGINEIO_PATH = "/realtime/"
    eio = SanicEngineIO(app, cors_allowed_origins="*", cors_credentials=False)
    server = get_server(app)
    assert server is app.ctx.engineio is eio.server
    assert server.config.ping_interval_ms == 5000
    assert server.config.ping_timeout_ms == 3000
    assert server.config.max_http_buffer_size == 1000
    assert server.config.cors_allowed_origins == "*"
    assert eio.mounted_path == "/realtime/"
    with running(app) as client:
        opened = handshake(client, path="/realtime")
        assert opened["pingInterval"] == 5000
        assert opened["maxPayload"] == 1000
        _, response = client.get("/engine.io/?EIO=4&transport=polling")
        assert response.status == 404


def test_unknown_config_key_is_an_error(app: AnyApp) -> None:
    app.config.ENGINEIO_PING_INTERVL = 5
    with pytest.raises(ConfigError, match=r"unknown option\(s\): ENGINEIO_PING_INTERVL \(did "
                                          r"you mean ENGINEIO_PING_INTERVAL\?\)"):
        SanicEngineIO(app)


def test_async_mode_is_fixed() -> None:
    with pytest.raises(ConfigError):
        SanicEngineIO(async_mode="asyncio")


def test_init_app_later_with_handlers_registered_first(app: AnyApp) -> None:
    eio = SanicEngineIO(ping_interval=10)
    with pytest.raises(RuntimeError, match="init_app"):
        eio.server  # noqa: B018

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        await eio.send(sid, data)

    with pytest.raises(ValueError, match="unknown event"):
        eio.on("mesage", message)
    server = eio.init_app(app)
    assert server.handlers["message"] is message
    assert server.config.ping_interval_ms == 10000
    with pytest.raises(RuntimeError, match="already has"):
        eio.init_app(app)
    listeners = {event for event in ("before_server_start", "before_server_stop")
                 if app.signal_router.name_index.get(f"server.{_signal(event)}")}
    # Only a stop listener is needed: the server's clock and timer follow the running loop.
    assert listeners == {"before_server_stop"}


def _signal(event: str) -> str:
    return {"before_server_start": "init.before", "before_server_stop": "shutdown.before"}[event]


def test_get_server_without_init_app(app: AnyApp) -> None:
    with pytest.raises(LookupError):
        get_server(app)


# ---------------------------------------------------------------------- polling
def test_polling_handshake_and_post_echo(app: AnyApp) -> None:
    echo_app(app)
    with running(app) as client:
        for path in ("/engine.io/", "/engine.io"):
            opened = handshake(client, path=path)
            assert opened["upgrades"] == ["websocket"]
            sid = opened["sid"]
            url = f"{path}?EIO=4&transport=polling&sid={sid}"
            _, response = client.post(url, content=b"4hello\x1e4world")
            assert (response.status, response.text) == (200, "ok")
            _, response = client.get(url)
            assert response.status == 200
            assert response.text == "4hello\x1e4world"
            _, response = client.post(url, content=b"1")
            assert response.status == 200


def test_polling_v3_and_cors_preflight(app: AnyApp) -> None:
    echo_app(app, cors_allowed_origins="*", cors_credentials=False)
    with running(app) as client:
        opened = handshake(client, eio=3)
        assert "sid" in opened
        _, response = client.options(
            "/engine.io/?EIO=4&transport=polling",
            headers={"Origin": "https://x.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"})
        assert response.status == 204
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-allow-headers"] == "content-type"
        _, response = client.get("/engine.io/?EIO=5&transport=polling")
        assert response.status == 400
        assert response.json == {"code": 5, "message": "Unsupported protocol version"}


def test_post_over_the_limit_is_413_and_closes_the_session(app: AnyApp) -> None:
    eio = echo_app(app, max_http_buffer_size=1000)
    reasons = disconnect_reasons(eio)
    with running(app) as client:
        sid = handshake(client)["sid"]
        url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        _, response = client.post(url, content=b"4" + b"x" * 999)
        assert response.status == 200
        _, response = client.post(url, content=b"4" + b"x" * 5000)
        assert response.status == 413
        assert reasons == [DisconnectReason.TRANSPORT_ERROR]
        _, response = client.get(url)
        assert response.status == 400

        # Chunked (no Content-Length): counted while reading.
        sid = handshake(client)["sid"]
        url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"4" + b"y" * 499

        _, response = client.post(url, content=chunks())
        assert response.status == 413


def test_connect_handler_sees_the_client_and_the_sanic_request(app: AnyApp) -> None:
    eio = SanicEngineIO(app)
    seen: list[engineio_core.Request] = []

    @eio.on("connect")
    def connect(sid: str, request: engineio_core.Request) -> bool:
        seen.append(request)
        return request.query.get("token") == "ok"

    with running(app) as client:
        _, response = client.get("/engine.io/?EIO=4&transport=polling&token=no")
        assert response.status == 403
        _, response = client.get("/engine.io/?EIO=4&transport=polling&token=ok")
        assert response.status == 200
    assert seen[0].client is not None
    assert seen[0].client[0] == "127.0.0.1"
    assert isinstance(seen[0].native, SanicRequest)
    assert seen[0].headers["host"].startswith("127.0.0.1:")


def test_stop_listener_closes_sessions(app: AnyApp) -> None:
    eio = echo_app(app)
    reasons = disconnect_reasons(eio)
    with running(app) as client:
        handshake(client)
        handshake(client)
        assert eio.server.session_count() == 2
    assert reasons == [DisconnectReason.SERVER_DISCONNECT] * 2


# ---------------------------------------------------------------------- WebSocket
def test_websocket_echo_with_the_test_client_proxy(app: AnyApp) -> None:
    echo_app(app)
    opened: list[str] = []

    async def mimic(ws: Any) -> None:
        opened.append(await ws.recv())
        await ws.send("4hello")
        assert await ws.recv() == "4hello"
        await ws.send(b"\x01\x02")
        assert await ws.recv() == b"\x01\x02"
        await ws.send("1")  # the client closes its session: the server closes the socket
        await until_closed(ws)

    with running(app) as client:
        _, proxy = client.websocket("/engine.io/?EIO=4&transport=websocket", mimic=mimic)
    assert opened[0].startswith("0{")
    assert proxy.client_received[1:] == ["4hello", b"\x01\x02"]


def test_websocket_refused_with_plain_http_before_the_upgrade(app: AnyApp) -> None:
    echo_app(app)
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    with running(app) as client:
        _, response = client.get("/engine.io/?EIO=4&transport=websocket&sid=nope",
                                 headers=upgrade)
        assert response.status == 400
        assert response.json == {"code": 1, "message": "Session ID unknown"}
        _, response = client.get("/engine.io/?EIO=7&transport=websocket", headers=upgrade)
        assert response.status == 400
        assert response.json["code"] == 5


def test_polling_to_websocket_upgrade_on_one_path(app: AnyApp) -> None:
    eio = echo_app(app)
    upgraded: list[str] = []

    @eio.on("upgrade")
    def upgrade(sid: str) -> None:
        upgraded.append(sid)

    with running(app) as client:
        sid = handshake(client)["sid"]
        base = f"http://127.0.0.1:{client.port}/engine.io/?EIO=4&sid={sid}"

        async def mimic(ws: Any) -> None:
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
            await ws.send("5")
            await ws.send("4after")
            assert await ws.recv() == "4after"
            async with httpx.AsyncClient() as http:
                response = await http.get(base + "&transport=polling")
                assert response.status_code == 400
            await ws.send("1")
            await until_closed(ws)

        client.websocket(f"/engine.io/?EIO=4&transport=websocket&sid={sid}", mimic=mimic)
    assert upgraded == [sid]


def test_websocket_message_over_the_limit_closes_with_1009(app: AnyApp) -> None:
    eio = echo_app(app, max_http_buffer_size=1000)
    reasons = disconnect_reasons(eio)
    codes: list[int | None] = []

    async def mimic(ws: Any) -> None:
        await ws.recv()
        await ws.send("4" + "x" * 999)
        assert len(await ws.recv()) == 1000
        await ws.send("4" + "x" * 1500)
        await ws.wait_closed()
        codes.append(ws.close_code)
        await until_closed(ws)

    with running(app) as client:
        client.websocket("/engine.io/?EIO=4&transport=websocket", mimic=mimic)
    assert codes == [1009]
    assert reasons == [DisconnectReason.TRANSPORT_ERROR]


def test_server_disconnect_on_websocket_sends_close_then_closes(app: AnyApp) -> None:
    eio = SanicEngineIO(app)

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        await eio.disconnect(sid)

    received: list[Any] = []

    async def mimic(ws: Any) -> None:
        await ws.recv()
        await ws.send("4bye")
        received.append(await ws.recv())
        await ws.wait_closed()
        received.append(ws.close_code)
        await until_closed(ws)

    with running(app) as client:
        client.websocket("/engine.io/?EIO=4&transport=websocket", mimic=mimic)
    assert received == ["1", 1000]



@pytest.mark.parametrize("who_closes", ["client", "server"])
def test_a_closed_websocket_is_not_kept_alive(app: AnyApp, who_closes: str) -> None:
    """Nothing holds a finished WebSocket connection: Sanic's pending ``check_timeouts``
    timer held each one for up to 30 s (700 MB at 1,000 sessions a second), the close
    cut-off timer for 5 s (its context holds Sanic's current request)."""
    import gc

    from sanic.server.protocols.websocket_protocol import WebSocketProtocol

    eio = echo_app(app)

    async def mimic(ws: Any) -> None:
        await ws.recv()
        await ws.send("4hello")
        assert await ws.recv() == "4hello"
        if who_closes == "client":
            await ws.send("1")
        else:
            await eio.disconnect()
        await until_closed(ws)

    loop = asyncio.new_event_loop()
    client = ReusableClient(app, port=free_port(), loop=loop)
    try:
        with client:
            client.websocket("/engine.io/?EIO=4&transport=websocket", mimic=mimic)
            loop.run_until_complete(asyncio.sleep(0.3))  # the connection's own clean-up
            gc.collect()
            # type(), not isinstance(): that would set up the lazy objects of other
            # tests' frameworks (Django's storages) through their __class__
            alive = [o for o in gc.get_objects() if type(o) is WebSocketProtocol]
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    assert alive == []


# ---------------------------------------------------------------------- sanic-ext
def test_sanic_ext_extension(app: AnyApp) -> None:
    from sanic_ext import Extend

    from sanic_engineio.extension import EngineIOExtension

    app.config.ENGINEIO_PING_INTERVAL = 7
    eio = SanicEngineIO()

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        await eio.send(sid, data)

    Extend(app, extensions=[EngineIOExtension(eio)], built_in_extensions=False)
    assert get_server(app) is eio.server
    assert any(ext.name == "engineio" for ext in app.ext.extensions)
    with running(app) as client:
        opened = handshake(client)
        assert opened["pingInterval"] == 7000
        url = f"/engine.io/?EIO=4&transport=polling&sid={opened['sid']}"
        client.post(url, content=b"4ext")
        _, response = client.get(url)
        assert response.text == "4ext"


def test_extension_takes_options_or_an_instance() -> None:
    from sanic_engineio.extension import EngineIOExtension

    assert EngineIOExtension(ping_interval=3).engineio.options == {"ping_interval": 3}
    with pytest.raises(TypeError):
        EngineIOExtension(SanicEngineIO(), ping_interval=3)


# ---------------------------------------------------------------------- under ASGI
def test_under_an_asgi_server(app: AnyApp) -> None:
    eio = echo_app(app)
    reasons = disconnect_reasons(eio)
    with serve_asgi(app, lifespan="on") as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/engine.io/?EIO=4&transport=polling")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, body
        sid = json.loads(body[1:])["sid"]
        conn.request("POST", f"/engine.io/?EIO=4&transport=polling&sid={sid}", body=b"4asgi")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"ok")
        conn.request("GET", f"/engine.io/?EIO=4&transport=polling&sid={sid}")
        assert conn.getresponse().read() == b"4asgi"
        conn.close()

        assert_websocket_echo(port)
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(
                f"ws://127.0.0.1:{port}/engine.io/?EIO=4&transport=websocket&sid=nope",
                timeout=5)
        assert refused.value.status_code in (400, 403)
    # The WebSocket closed by its client; the polling session by the lifespan shutdown.
    assert sorted(reasons) == sorted([DisconnectReason.TRANSPORT_CLOSE,
                                      DisconnectReason.SERVER_DISCONNECT])


def test_served_again_on_a_new_event_loop(app: AnyApp) -> None:
    # Sanic's test clients serve an app on a fresh loop each time.
    echo_app(app)
    for _ in range(2):
        with running(app) as client:
            sid = handshake(client)["sid"]
            url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
            client.post(url, content=b"4again")
            _, response = client.get(url)
            assert response.text == "4again"


@pytest.mark.parametrize("header", [b"X-Val: \xff\xfe", b"Sec-WebSocket-Key: " + b"\xff" * 24])
def test_upgrade_the_websockets_handshake_cannot_take_is_400(app: AnyApp, header: bytes) -> None:
    """Sanic answers 500 to whatever its websockets handshake raises (here: header
    values that are not ASCII); the client's upgrade request is what is wrong: 400
    (the wire fuzzer saw the 500)."""
    echo_app(app)
    headers = {b"sec-websocket-key": b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}
    headers[header.split(b":")[0].lower()] = header
    request = (b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
               b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               + b"\r\n".join(headers.values()) + b"\r\n\r\n")

    async def exchange(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        finally:
            writer.close()

    with running(app) as client:
        # The server runs only while the client's loop does: run the exchange on it.
        reply = client._run(exchange(client.port))
    assert reply.startswith(b"HTTP/1.1 400 "), reply
