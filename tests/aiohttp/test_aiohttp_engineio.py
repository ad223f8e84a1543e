"""aiohttp-engineio with aiohttp's own test tools (``aiohttp_client`` from pytest-aiohttp).

Every test runs a real aiohttp server on 127.0.0.1 and talks to it with
aiohttp's client: polling handshake, POST echo, a 900 KB chunked POST, 413,
WebSocket echo, the polling -> WebSocket upgrade, refusal before the upgrade,
oversized WebSocket messages, sub-applications, shutdown, the client address,
and the ``setup`` / ``get_server`` errors.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from tests.helpers import masked_text_frame

import aiohttp_engineio
from aiohttp_engineio.backend import backend as aiohttp_backend
from engineio_core import AsyncServer, ConfigError, DisconnectReason, Request
from engineio_core.backends import load_backend

WAIT = 5.0
TEXT = {"Content-Type": "text/plain;charset=UTF-8"}
Client = TestClient[web.Request, web.Application]


class Recorder:
    """Handlers of an echo server that record what the application saw."""

    def __init__(self, server: AsyncServer) -> None:
        self.server = server
        self.requests: dict[str, Request] = {}
        self.disconnects: asyncio.Queue[tuple[str, DisconnectReason]] = asyncio.Queue()
        self.connects: asyncio.Queue[str] = asyncio.Queue()
        self.refuse = False
        server.on("connect", self.connect)
        server.on("message", self.message)
        server.on("disconnect", self.disconnect)

    def connect(self, sid: str, request: Request) -> bool:
        self.requests[sid] = request
        self.connects.put_nowait(sid)
        return not self.refuse

    async def message(self, sid: str, data: str | bytes) -> None:
        await self.server.send(sid, data)

    def disconnect(self, sid: str, reason: DisconnectReason) -> None:
        self.disconnects.put_nowait((sid, reason))

    async def next_disconnect(self) -> tuple[str, DisconnectReason]:
        return await asyncio.wait_for(self.disconnects.get(), WAIT)

    async def next_connect(self) -> str:
        return await asyncio.wait_for(self.connects.get(), WAIT)


def echo_app(**options: Any) -> tuple[web.Application, Recorder]:
    app = web.Application()
    server = aiohttp_engineio.setup(app, **options)
    return app, Recorder(server)


async def handshake(client: Client, path: str = "/engine.io/", eio: int = 4) -> dict[str, Any]:
    async with client.get(f"{path}?EIO={eio}&transport=polling") as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.text()
    if eio == 3:  # <length>:0{...}
        colon = body.index(":")
        body = body[colon + 1:colon + 1 + int(body[:colon])]
    assert body.startswith("0{"), body
    data: dict[str, Any] = json.loads(body[1:].split("\x1e")[0])
    return data


async def poll(client: Client, sid: str) -> str:
    async with client.get(f"/engine.io/?EIO=4&transport=polling&sid={sid}") as resp:
        assert resp.status == 200
        return await resp.text()


async def post(client: Client, sid: str, body: bytes | str) -> tuple[int, str]:
    async with client.post(f"/engine.io/?EIO=4&transport=polling&sid={sid}", data=body,
                           headers=TEXT) as resp:
        return resp.status, await resp.text()


async def receive(ws: Any) -> Any:
    return await asyncio.wait_for(ws.receive(), WAIT)


async def until(predicate: Callable[[], bool]) -> None:
    """Wait (bounded) until a request sent concurrently has reached the server."""
    async with asyncio.timeout(WAIT):
        while not predicate():
            await asyncio.sleep(0.005)


# --------------------------------------------------------------------------- package API


def test_all_is_guarded() -> None:
    assert sorted(aiohttp_engineio.__all__) == sorted([
        "SERVER_KEY", "AiohttpBackend", "AiohttpWebSocket", "get_server", "make_handler",
        "setup",
    ])
    for name in aiohttp_engineio.__all__:
        assert hasattr(aiohttp_engineio, name), name


def test_backend_is_registered() -> None:
    assert load_backend("aiohttp", "async") is aiohttp_backend
    assert AsyncServer(async_mode="aiohttp").async_mode == "aiohttp"


def test_setup_returns_the_stored_server() -> None:
    app = web.Application()
    server = aiohttp_engineio.setup(app, ping_interval=3)
    assert aiohttp_engineio.get_server(app) is server
    assert app[aiohttp_engineio.SERVER_KEY] is server
    assert server.async_mode == "aiohttp"
    assert server.config.ping_interval_ms == 3000


def test_setup_accepts_a_server() -> None:
    app = web.Application()
    server = AsyncServer()
    assert aiohttp_engineio.setup(app, server) is server
    assert aiohttp_engineio.get_server(app) is server


def test_get_server_before_setup() -> None:
    with pytest.raises(RuntimeError, match=r"call aiohttp_engineio\.setup\(app\) first"):
        aiohttp_engineio.get_server(web.Application())


def test_setup_errors() -> None:
    app = web.Application()
    aiohttp_engineio.setup(app)
    with pytest.raises(RuntimeError, match="already called"):
        aiohttp_engineio.setup(app)
    with pytest.raises(TypeError, match="ping_interval"):
        aiohttp_engineio.setup(web.Application(), AsyncServer(), ping_interval=1)
    with pytest.raises(ConfigError):
        aiohttp_engineio.setup(web.Application(), ping_intervall=1)


async def test_two_servers_on_one_app(aiohttp_client: AiohttpClient) -> None:
    app = web.Application()
    other: web.AppKey[AsyncServer] = web.AppKey("other_engineio", AsyncServer)
    first = aiohttp_engineio.setup(app)
    second = aiohttp_engineio.setup(app, path="/socket.io/", app_key=other)
    assert aiohttp_engineio.get_server(app, other) is second is not first
    client = await aiohttp_client(app)
    open_packet = await handshake(client, "/socket.io/")
    assert second.has_session(open_packet["sid"])
    assert first.session_ids() == []


# --------------------------------------------------------------------------- polling


@pytest.mark.parametrize("path", ["/engine.io/", "/engine.io"])
async def test_polling_handshake(aiohttp_client: AiohttpClient, path: str) -> None:
    app, _ = echo_app(ping_interval=0.3, max_http_buffer_size=5000)
    client = await aiohttp_client(app)
    open_packet = await handshake(client, path)
    assert open_packet["upgrades"] == ["websocket"]
    assert open_packet["pingInterval"] == 300
    assert open_packet["maxPayload"] == 5000


async def test_polling_handshake_v3(aiohttp_client: AiohttpClient) -> None:
    app, _ = echo_app()
    client = await aiohttp_client(app)
    assert "sid" in await handshake(client, eio=3)


async def test_post_echo(aiohttp_client: AiohttpClient) -> None:
    app, _ = echo_app()
    client = await aiohttp_client(app)
    sid = (await handshake(client))["sid"]
    assert await post(client, sid, "4hello\x1e4world") == (200, "ok")
    assert await poll(client, sid) == "4hello\x1e4world"


async def test_chunked_post_arrives_whole(aiohttp_client: AiohttpClient) -> None:
    app, _ = echo_app()
    client = await aiohttp_client(app)
    sid = (await handshake(client))["sid"]
    message = "".join(chr(ord("a") + i % 26) for i in range(900_000))
    body = ("4" + message).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7_000):  # ~130 chunks, chunked transfer encoding
            yield body[start:start + 7_000]

    async with client.post(f"/engine.io/?EIO=4&transport=polling&sid={sid}", data=chunks(),
                           headers=TEXT) as resp:
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert (resp.status, await resp.text()) == (200, "ok")
    assert await poll(client, sid) == "4" + message


@pytest.mark.parametrize("chunked", [False, True])
async def test_post_too_large(aiohttp_client: AiohttpClient, chunked: bool) -> None:
    app, recorder = echo_app(max_http_buffer_size=1000)
    client = await aiohttp_client(app)
    sid = (await handshake(client))["sid"]
    body = b"4" + b"x" * 2000

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 300):
            yield body[start:start + 300]

    async with client.post(f"/engine.io/?EIO=4&transport=polling&sid={sid}",
                           data=chunks() if chunked else body, headers=TEXT) as resp:
        assert resp.status == 413
    assert await recorder.next_disconnect() == (sid, DisconnectReason.TRANSPORT_ERROR)
    # The server goes on serving.
    assert "sid" in await handshake(client)


async def test_cors_preflight(aiohttp_client: AiohttpClient) -> None:
    app, _ = echo_app(cors_allowed_origins="*")
    client = await aiohttp_client(app)
    async with client.options("/engine.io/?EIO=4&transport=polling",
                              headers={"Origin": "http://example.com",
                                       "Access-Control-Request-Method": "POST"}) as resp:
        assert resp.status in (200, 204)
        assert resp.headers["Access-Control-Allow-Origin"] in ("*", "http://example.com")


async def test_engine_errors_pass_through(aiohttp_client: AiohttpClient) -> None:
    app, _ = echo_app()
    client = await aiohttp_client(app)
    async with client.get("/engine.io/?EIO=4&transport=polling&sid=nope") as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == 1
    # transport=websocket without a (valid) upgrade is plain HTTP: 400, code 3
    async with client.get("/engine.io/?EIO=4&transport=websocket") as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == 3


# --------------------------------------------------------------------------- WebSocket


async def test_websocket_echo(aiohttp_client: AiohttpClient) -> None:
    app, _ = echo_app()
    client = await aiohttp_client(app)
    async with client.ws_connect("/engine.io/?EIO=4&transport=websocket") as ws:
        first = await receive(ws)
        assert first.type is WSMsgType.TEXT
        assert first.data.startswith("0{")
        assert json.loads(first.data[1:])["upgrades"] == []
        await ws.send_str("4héllo")
        assert (await receive(ws)).data == "4héllo"
        await ws.send_bytes(b"\x00\x01\xff")
        reply = await receive(ws)
        assert (reply.type, reply.data) == (WSMsgType.BINARY, b"\x00\x01\xff")


async def test_websocket_v3_binary(aiohttp_client: AiohttpClient) -> None:
    app, _ = echo_app()
    client = await aiohttp_client(app)
    async with client.ws_connect("/engine.io/?EIO=3&transport=websocket") as ws:
        assert (await receive(ws)).data.startswith("0{")
        await ws.send_bytes(b"\x04\x01\x02")
        assert (await receive(ws)).data == b"\x04\x01\x02"


async def test_upgrade_from_polling(aiohttp_client: AiohttpClient) -> None:
    app, recorder = echo_app()
    client = await aiohttp_client(app)
    sid = (await handshake(client))["sid"]
    async with client.ws_connect(f"/engine.io/?EIO=4&transport=websocket&sid={sid}") as ws:
        await ws.send_str("2probe")
        assert (await receive(ws)).data == "3probe"
        await ws.send_str("5")
        await ws.send_str("4upgraded")
        assert (await receive(ws)).data == "4upgraded"
        assert recorder.server.transport(sid) == "websocket"


async def test_refused_before_the_upgrade(aiohttp_client: AiohttpClient) -> None:
    app, recorder = echo_app()
    recorder.refuse = True
    client = await aiohttp_client(app)
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    # A plain HTTP answer (JSON error), not a 101 followed by a close.
    async with client.get("/engine.io/?EIO=4&transport=websocket", headers=headers) as resp:
        assert resp.status == 403
        assert resp.headers["Content-Type"].startswith("application/json")
        assert (await resp.json())["code"] == 4
    async with client.get("/engine.io/?EIO=4&transport=websocket&sid=nope",
                          headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == 1
    async with client.get("/engine.io/?EIO=9&transport=websocket", headers=headers) as resp:
        assert resp.status == 400


@pytest.mark.parametrize("size", [1001, 50_000])
async def test_websocket_message_too_large(aiohttp_client: AiohttpClient, size: int) -> None:
    app, recorder = echo_app(max_http_buffer_size=1000)
    client = await aiohttp_client(app)
    async with client.ws_connect("/engine.io/?EIO=4&transport=websocket") as ws:
        sid = json.loads((await receive(ws)).data[1:])["sid"]
        at_limit = "4" + "y" * 999  # exactly 1000 bytes: accepted
        await ws.send_str(at_limit)
        assert (await receive(ws)).data == at_limit
        await ws.send_str("4" + "z" * (size - 1))
        closing = await receive(ws)
        assert closing.type is WSMsgType.CLOSE, closing
        assert closing.data == 1009
    assert await recorder.next_disconnect() == (sid, DisconnectReason.TRANSPORT_ERROR)
    assert not recorder.server.has_session(sid)


# --------------------------------------------------------------------------- application


async def test_sub_application_prefix(aiohttp_client: AiohttpClient) -> None:
    sub = web.Application()
    server = aiohttp_engineio.setup(sub)
    Recorder(server)
    app = web.Application()
    app.add_subapp("/chat", sub)
    client = await aiohttp_client(app)
    sid = (await handshake(client, "/chat/engine.io/"))["sid"]
    assert server.has_session(sid)
    async with client.get("/engine.io/?EIO=4&transport=polling") as resp:
        assert resp.status == 404
    async with client.ws_connect("/chat/engine.io/?EIO=4&transport=websocket") as ws:
        assert (await receive(ws)).data.startswith("0{")
        await ws.send_str("4sub")
        assert (await receive(ws)).data == "4sub"
    # The sub-application's shutdown hooks run with the parent's.
    await client.close()
    assert server.session_ids() == []


async def test_handler_finds_the_server(aiohttp_client: AiohttpClient) -> None:
    app, _ = echo_app()

    async def count(request: web.Request) -> web.Response:
        server = aiohttp_engineio.get_server(request.app)
        return web.json_response(server.session_count())

    app.router.add_get("/count", count)
    client = await aiohttp_client(app)
    await handshake(client)
    async with client.get("/count") as resp:
        assert await resp.json() == 1


async def test_client_address_from_request_remote(aiohttp_client: AiohttpClient) -> None:
    app, recorder = echo_app()
    client = await aiohttp_client(app)
    sid = (await handshake(client))["sid"]
    host, port = recorder.requests[sid].client or ("", 0)
    assert host == "127.0.0.1"
    assert port > 0
    assert isinstance(recorder.requests[sid].native, web.BaseRequest)


async def test_request_headers_by_lower_case_name(aiohttp_client: AiohttpClient) -> None:
    app, recorder = echo_app()
    client = await aiohttp_client(app)
    url = client.make_url("/")
    # Raw, as aiohttp's client would merge the repeated header.
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: h\r\n"
                 b"X-Trace: one\r\nAccept-Language: fr\r\nx-trace: two\r\n"
                 b"Connection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    sid = json.loads(answer.split(b"\r\n\r\n", 1)[1][1:])["sid"]
    headers = recorder.requests[sid].headers
    assert headers["x-trace"] == "one, two"  # repeated: the values joined, in order
    assert headers["accept-language"] == "fr"
    assert all(name == name.lower() for name in headers)
    sid = (await handshake(client))["sid"]  # no repeated header (the fast path)
    assert recorder.requests[sid].headers["host"].startswith("127.0.0.1:")


async def test_client_address_behind_a_proxy_middleware(aiohttp_client: AiohttpClient) -> None:
    @web.middleware
    async def forwarded(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                        ) -> web.StreamResponse:
        real = request.headers.get("X-Forwarded-For")
        return await handler(request.clone(remote=real) if real else request)

    app = web.Application(middlewares=[forwarded])
    recorder = Recorder(aiohttp_engineio.setup(app))
    client = await aiohttp_client(app)
    async with client.get("/engine.io/?EIO=4&transport=polling",
                          headers={"X-Forwarded-For": "203.0.113.7"}) as resp:
        sid = json.loads((await resp.text())[1:])["sid"]
    assert recorder.requests[sid].client == ("203.0.113.7", 0)
    async with client.ws_connect("/engine.io/?EIO=4&transport=websocket",
                                 headers={"X-Forwarded-For": "198.51.100.2"}) as ws:
        ws_sid = json.loads((await receive(ws)).data[1:])["sid"]
    assert recorder.requests[ws_sid].client == ("198.51.100.2", 0)


async def test_shutdown_closes_sessions_going_away(aiohttp_client: AiohttpClient) -> None:
    app, recorder = echo_app()
    server = recorder.server
    client = await aiohttp_client(app)
    poll_sid = (await handshake(client))["sid"]
    held = asyncio.ensure_future(poll(client, poll_sid))  # a long-poll held by the server
    await until(lambda: server.session_info(poll_sid).poll_held)
    ws = await client.ws_connect("/engine.io/?EIO=4&transport=websocket")
    ws_sid = json.loads((await receive(ws)).data[1:])["sid"]

    stopping = asyncio.ensure_future(client.server.close())  # runner cleanup: on_shutdown...
    assert (await receive(ws)).data == "1"
    closing = await receive(ws)
    assert (closing.type, closing.data) == (WSMsgType.CLOSE, 1001)
    assert await asyncio.wait_for(held, WAIT) == "1"
    await asyncio.wait_for(stopping, WAIT)
    reasons = {await recorder.next_disconnect(), await recorder.next_disconnect()}
    assert reasons == {(poll_sid, DisconnectReason.SERVER_DISCONNECT),
                       (ws_sid, DisconnectReason.SERVER_DISCONNECT)}
    assert server.session_ids() == []
    assert server.engine.get_timer() is None
    await ws.close()


async def _read_text_frame(reader: asyncio.StreamReader) -> str:
    first, size = await asyncio.wait_for(reader.readexactly(2), WAIT)
    assert first == 0x81
    assert size < 126
    return (await reader.readexactly(size)).decode()


async def test_pipelined_answers_leave_corked_together(aiohttp_client: AiohttpClient) -> None:
    """Messages that arrive in one read are answered with the socket corked (one
    transmit for all the answers), in order; a lone message is answered uncorked."""
    app, recorder = echo_app()
    corked: list[int] = []
    server = recorder.server

    @server.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        native: web.Request = recorder.requests[sid].native
        transport = native.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        corked.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))
        await server.send(sid, data)

    client = await aiohttp_client(app)
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                     b"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101")
        assert (await _read_text_frame(reader)).startswith("0{")
        writer.write(b"".join(masked_text_frame(f"4m{i}") for i in range(5)))  # one write
        assert [await _read_text_frame(reader) for _ in range(5)] == [f"4m{i}" for i in range(5)]
        writer.write(masked_text_frame("4lone"))
        assert await _read_text_frame(reader) == "4lone"
    finally:
        writer.close()
    # Whether the five arrive in one read is up to TCP; on loopback with one write they do.
    assert corked == [1, 1, 1, 1, 1, 0]


# --------------------------------------------------------------------------- bad input
# Found by the wire fuzzer (tests/interop/fuzz.py): each was a 500 and a traceback.


async def _raw_exchange(client: Client, request: bytes) -> bytes:
    """Send ``request`` on a new connection; return the response head."""
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    finally:
        writer.close()


async def test_body_that_cannot_be_decoded_is_400(aiohttp_client: AiohttpClient) -> None:
    app, recorder = echo_app()
    client = await aiohttp_client(app)
    sid = (await handshake(client))["sid"]
    async with client.post(f"/engine.io/?EIO=4&transport=polling&sid={sid}", data=b"4not gzip",
                           headers={**TEXT, "Content-Encoding": "gzip"}) as resp:
        assert resp.status == 400
    assert await recorder.next_disconnect() == (sid, DisconnectReason.TRANSPORT_ERROR)


async def test_client_gone_in_the_middle_of_a_body() -> None:
    """The handler ends without an exception (aiohttp logged ConnectionResetError).

    Served as ``web.run_app`` serves (no handler cancellation, unlike the test
    server, which cancels the handler when the client goes away)."""
    ended: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    @web.middleware
    async def watch(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except BaseException as exc:
            ended.set_result(exc)
            raise
        if request.method == "POST":
            ended.set_result(None)
        return response

    app = web.Application(middlewares=[watch])
    recorder = Recorder(aiohttp_engineio.setup(app))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"}"), WAIT)
        sid = await recorder.next_connect()
        writer.write(f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                     f"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n4part\r\n".encode())
        await writer.drain()
        writer.write_eof()  # gone before the last chunk
        assert await asyncio.wait_for(ended, WAIT) is None
        assert await recorder.next_disconnect() == (sid, DisconnectReason.TRANSPORT_ERROR)
        writer.close()
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("header", [b"Sec-WebSocket-Key: " + b"\xff" * 24,
                                    b"Upgrade: \xff"])
async def test_upgrade_aiohttp_cannot_decode_is_400(aiohttp_client: AiohttpClient,
                                                    header: bytes) -> None:
    app, _ = echo_app()
    client = await aiohttp_client(app)
    headers = {b"Upgrade": b"Upgrade: websocket", b"Sec-WebSocket-Key": b"Sec-WebSocket-Key: "
               b"dGhlIHNhbXBsZSBub25jZQ=="}
    headers[header.split(b":")[0]] = header
    head = await _raw_exchange(client, b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                               b"Host: x\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                               + b"\r\n".join(headers.values()) + b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
