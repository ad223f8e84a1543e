"""tornado-engineio with Tornado's own test tools: ``AsyncHTTPTestCase``, ``gen_test``,
``websocket_connect``.

Each test case runs a real Tornado ``HTTPServer`` on 127.0.0.1 with
``engineio_routes`` spliced into its ``Application``: polling handshake and
echo, the POST size limit (413), CORS preflight, WebSocket echo, the polling →
WebSocket upgrade, refusals before the upgrade (plain HTTP 400/403 with the
engine's JSON body), ``check_origin``, message size limit, permessage-deflate,
server disconnect and ``shutdown``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest
import tornado.web
import tornado.websocket
from tornado.httpclient import HTTPClientError, HTTPRequest, HTTPResponse
from tornado.testing import AsyncHTTPTestCase, gen_test

import tornado_engineio
from engineio_core import AsyncServer, ConnectionRefused, Request
from tornado_engineio import EngineIOHandler, TornadoBackend, engineio_routes, shutdown

WAIT = 5.0
UPGRADE_HEADERS = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


def test_all_is_exported() -> None:
    assert sorted(tornado_engineio.__all__) == [
        "EngineIOHandler", "TornadoBackend", "engineio_routes", "shutdown",
    ]
    for name in tornado_engineio.__all__:
        assert getattr(tornado_engineio, name) is not None


def test_backend_entry_point() -> None:
    eio = AsyncServer(async_mode="tornado")
    assert eio.async_mode == "tornado"
    assert isinstance(eio.backend, TornadoBackend)


def test_routes_match_with_and_without_trailing_slash() -> None:
    eio = AsyncServer(async_mode="tornado")
    (spec,) = engineio_routes(eio)
    assert spec.handler_class is EngineIOHandler
    assert spec.kwargs is not None
    assert spec.kwargs["server"] is eio
    for path, matches in [("/engine.io/", True), ("/engine.io", True),
                          ("/engine.io/x", False), ("/engineXio/", False)]:
        assert (spec.regex.match(path) is not None) is matches, path
    (custom,) = engineio_routes(eio, "socket")
    assert custom.regex.match("/socket") is not None
    assert custom.regex.match("/socket/") is not None


class EngineIOTestCase(AsyncHTTPTestCase):
    """A Tornado app serving an echo ``AsyncServer`` at ``/engine.io/``."""

    options: ClassVar[dict[str, Any]] = {}
    route_options: ClassVar[dict[str, Any]] = {}
    settings: ClassVar[dict[str, Any]] = {}

    def get_app(self) -> tornado.web.Application:
        self.eio = AsyncServer(async_mode="tornado", **self.options)
        self.requests: list[Request] = []
        self.sids: list[str] = []
        self.disconnected = asyncio.Event()
        self.reasons: list[str] = []
        self.clients: list[tornado.websocket.WebSocketClientConnection] = []

        @self.eio.on("connect")
        def connect(sid: str, request: Request) -> None:
            if request.query.get("token") == "bad":
                raise ConnectionRefused("bad token")
            self.requests.append(request)
            self.sids.append(sid)

        @self.eio.on("message")
        async def message(sid: str, data: str | bytes) -> None:
            await self.eio.send(sid, data)

        @self.eio.on("disconnect")
        def disconnect(sid: str, reason: Any) -> None:
            self.reasons.append(str(reason.value))
            self.disconnected.set()

        return tornado.web.Application(engineio_routes(self.eio, **self.route_options),
                                       **self.settings)

    def tearDown(self) -> None:
        self.io_loop.run_sync(self.eio.shutdown, timeout=WAIT)
        for ws in self.clients:  # even after a server close: Tornado warns about unclosed ones
            ws.close()
        super().tearDown()

    async def request(self, path: str, method: str = "GET", body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> HTTPResponse:
        return await self.http_client.fetch(self.get_url(path), method=method, body=body,
                                            headers=headers, raise_error=False,
                                            request_timeout=WAIT)

    async def handshake(self, path: str = "/engine.io/?EIO=4&transport=polling") -> dict[str, Any]:
        response = await self.request(path)
        assert response.code == 200, response.body
        assert response.body.startswith(b"0{"), response.body
        opened: dict[str, Any] = json.loads(response.body[1:])
        return opened

    def ws_url(self, query: str) -> str:
        return self.get_url(f"/engine.io/?{query}").replace("http://", "ws://", 1)

    async def connect(self, url: str | HTTPRequest, **kwargs: Any,
                      ) -> tornado.websocket.WebSocketClientConnection:
        ws = await tornado.websocket.websocket_connect(url, **kwargs)
        self.clients.append(ws)
        return ws

    async def ws_open(self, query: str = "EIO=4&transport=websocket", **kwargs: Any,
                      ) -> tuple[tornado.websocket.WebSocketClientConnection, dict[str, Any]]:
        ws = await self.connect(self.ws_url(query), **kwargs)
        first = await ws.read_message()
        assert isinstance(first, str), first
        assert first.startswith("0{"), first
        opened: dict[str, Any] = json.loads(first[1:])
        return ws, opened

    async def read(self, ws: tornado.websocket.WebSocketClientConnection) -> str | bytes | None:
        return await asyncio.wait_for(ws.read_message(), WAIT)


class TestPolling(EngineIOTestCase):
    options: ClassVar[dict[str, Any]] = {"max_http_buffer_size": 100,
                                         "cors_allowed_origins": "*"}
    settings: ClassVar[dict[str, Any]] = {"xsrf_cookies": True}  # Engine.IO POSTs still work

    @gen_test(timeout=WAIT)
    async def test_handshake_with_and_without_trailing_slash(self) -> None:
        opened = await self.handshake()
        assert opened["maxPayload"] == 100
        assert opened["upgrades"] == ["websocket"]
        again = await self.handshake("/engine.io?EIO=4&transport=polling")
        assert again["sid"] != opened["sid"]

    @gen_test(timeout=WAIT)
    async def test_v3_handshake(self) -> None:
        response = await self.request("/engine.io/?EIO=3&transport=polling")
        assert response.code == 200
        assert b"0{" in response.body

    @gen_test(timeout=WAIT)
    async def test_post_echo(self) -> None:
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        posted = await self.request(path, "POST", b"4hello\x1e4world",
                                    {"Content-Type": "text/plain;charset=UTF-8"})
        assert (posted.code, posted.body) == (200, b"ok")
        polled = await self.request(path)
        assert (polled.code, polled.body) == (200, b"4hello\x1e4world")

    @gen_test(timeout=WAIT)
    async def test_post_too_large_is_413(self) -> None:
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        posted = await self.request(path, "POST", b"4" + b"x" * 5000)
        assert posted.code == 413
        assert json.loads(posted.body) == {"code": 3, "message": "Payload too large"}
        # Exactly at the limit passes (on a fresh session).
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        posted = await self.request(path, "POST", b"4" + b"y" * 99)
        assert (posted.code, posted.body) == (200, b"ok")

    @gen_test(timeout=WAIT)
    async def test_preflight(self) -> None:
        response = await self.request("/engine.io/?EIO=4&transport=polling", "OPTIONS",
                                      headers={"Origin": "http://elsewhere.example",
                                               "Access-Control-Request-Method": "POST"})
        assert response.code == 204
        assert response.headers["Access-Control-Allow-Origin"] in ("*",
                                                                   "http://elsewhere.example")

    @gen_test(timeout=WAIT)
    async def test_unknown_sid_is_400_with_json(self) -> None:
        response = await self.request("/engine.io/?EIO=4&transport=polling&sid=nope")
        assert response.code == 400
        assert response.headers["Content-Type"] == "application/json"
        assert json.loads(response.body) == {"code": 1, "message": "Session ID unknown"}

    @gen_test(timeout=WAIT)
    async def test_refused_connect_is_403(self) -> None:
        response = await self.request("/engine.io/?EIO=4&transport=polling&token=bad")
        assert response.code == 403
        assert json.loads(response.body)["message"] == "bad token"

    @gen_test(timeout=WAIT)
    async def test_request_has_client_address_and_handler(self) -> None:
        await self.handshake()
        (request,) = self.requests
        assert request.client is not None
        assert request.client[0] == "127.0.0.1"
        assert request.client[1] > 0
        assert isinstance(request.native, EngineIOHandler)
        assert request.path == "/engine.io/"
        assert request.headers["host"].startswith("127.0.0.1:")

    @gen_test(timeout=WAIT)
    async def test_other_methods_get_the_engines_400(self) -> None:
        response = await self.request("/engine.io/?EIO=4&transport=polling", "PUT", b"x")
        assert response.code == 400
        assert json.loads(response.body) == {"code": 2, "message": "Bad handshake method"}
        sid = (await self.handshake())["sid"]
        for method in ("PUT", "DELETE", "PATCH"):
            body = b"x" if method != "DELETE" else None
            response = await self.request(f"/engine.io/?EIO=4&transport=polling&sid={sid}",
                                          method, body)
            assert response.code == 400, method
            assert json.loads(response.body)["code"] == 3, method
        head = await self.request(f"/engine.io/?EIO=4&transport=polling&sid={sid}", "HEAD")
        assert head.code == 400
        assert head.body == b""  # Tornado sends no body for HEAD

    @gen_test(timeout=WAIT)
    async def test_shutdown_releases_a_held_poll(self) -> None:
        sid = (await self.handshake())["sid"]
        held = asyncio.ensure_future(
            self.request(f"/engine.io/?EIO=4&transport=polling&sid={sid}"))
        while not held.done() and self.eio.engine.sessions[sid].poll is None:
            await asyncio.sleep(0.01)
        await shutdown(self.eio)
        response = await held
        assert (response.code, response.body) == (200, b"1")
        await asyncio.wait_for(self.disconnected.wait(), WAIT)


class TestWebSocket(EngineIOTestCase):
    options: ClassVar[dict[str, Any]] = {"max_http_buffer_size": 100,
                                         "cors_allowed_origins": ["http://good.example"]}

    @gen_test(timeout=WAIT)
    async def test_echo_text_and_binary(self) -> None:
        ws, opened = await self.ws_open()
        assert opened["upgrades"] == []
        await ws.write_message("4hello")
        assert await self.read(ws) == "4hello"
        await ws.write_message(b"\x00\x01\xff", binary=True)
        assert await self.read(ws) == b"\x00\x01\xff"
        for i in range(20):  # several frames in flight
            await ws.write_message(f"4m{i}")
        assert [await self.read(ws) for _ in range(20)] == [f"4m{i}" for i in range(20)]
        assert ws.headers is not None
        assert ws.headers.get("Sec-WebSocket-Extensions") is None  # deflate off by default
        ws.close()
        await asyncio.wait_for(self.disconnected.wait(), WAIT)
        assert self.reasons == ["transport close"]

    @gen_test(timeout=WAIT)
    async def test_burst_from_another_task_arrives_whole_and_in_order(self) -> None:
        """Writes from a task that is not the connection's own are batched
        (send_many, corked): every message arrives, in order, binary kept."""
        ws, opened = await self.ws_open()
        burst: list[str | bytes] = [f"b{i}" for i in range(30)] + [b"\x01\x02"]

        async def push() -> None:
            for data in burst:
                await self.eio.send(opened["sid"], data)

        await asyncio.ensure_future(push())
        expected = [f"4{m}" if isinstance(m, str) else m for m in burst]
        assert [await self.read(ws) for _ in burst] == expected

    @gen_test(timeout=WAIT)
    async def test_upgrade_from_polling(self) -> None:
        sid = (await self.handshake())["sid"]
        ws = await self.connect(self.ws_url(f"EIO=4&transport=websocket&sid={sid}"))
        await ws.write_message("2probe")
        assert await self.read(ws) == "3probe"
        await ws.write_message("5")
        await ws.write_message("4upgraded")
        assert await self.read(ws) == "4upgraded"
        assert self.eio.transport(sid) == "websocket"
        ws.close()

    @gen_test(timeout=WAIT)
    async def test_refusal_before_upgrade_is_plain_http(self) -> None:
        response = await self.request("/engine.io/?EIO=4&transport=websocket&sid=nope",
                                      headers=UPGRADE_HEADERS)
        assert response.code == 400
        assert response.headers["Content-Type"] == "application/json"
        assert json.loads(response.body) == {"code": 1, "message": "Session ID unknown"}
        with pytest.raises(HTTPClientError) as caught:
            await tornado.websocket.websocket_connect(
                self.ws_url("EIO=4&transport=websocket&sid=nope"))
        assert caught.value.code == 400

    @gen_test(timeout=WAIT)
    async def test_refused_connect_is_403_before_upgrade(self) -> None:
        response = await self.request("/engine.io/?EIO=4&transport=websocket&token=bad",
                                      headers=UPGRADE_HEADERS)
        assert response.code == 403
        assert json.loads(response.body)["message"] == "bad token"

    @gen_test(timeout=WAIT)
    async def test_check_origin_follows_cors_setting(self) -> None:
        handler_request = HTTPRequest(
            self.ws_url("EIO=4&transport=websocket"), headers={"Origin": "http://good.example"})
        ws = await self.connect(handler_request)
        first = await self.read(ws)
        assert isinstance(first, str)
        assert first.startswith("0{")
        ws.close()
        response = await self.request("/engine.io/?EIO=4&transport=websocket",
                                      headers={**UPGRADE_HEADERS,
                                               "Origin": "http://evil.example"})
        assert response.code == 400  # the engine's answer to a disallowed origin
        assert json.loads(response.body) == {"code": 3, "message": "Bad request"}

    @gen_test(timeout=WAIT)
    async def test_oversized_message_closes_with_1009(self) -> None:
        ws, _ = await self.ws_open()
        await ws.write_message("4" + "y" * 99)  # at the limit: echoed
        assert await self.read(ws) == "4" + "y" * 99
        await ws.write_message("4" + "z" * 150)  # over the limit: the engine decides
        assert await self.read(ws) is None
        assert ws.close_code == 1009
        await asyncio.wait_for(self.disconnected.wait(), WAIT)
        assert self.reasons == ["transport error"]
        assert self.eio.engine.sessions == {}

    @gen_test(timeout=WAIT)
    async def test_message_past_tornados_cap_closes_with_1009(self) -> None:
        ws, _ = await self.ws_open()
        await ws.write_message("4" + "z" * 5000)  # past 2x the limit: Tornado drops it
        assert await self.read(ws) is None
        assert ws.close_code == 1009
        await asyncio.wait_for(self.disconnected.wait(), WAIT)
        assert self.reasons == ["transport close"]
        assert self.eio.engine.sessions == {}

    @gen_test(timeout=WAIT)
    async def test_server_disconnect(self) -> None:
        ws, opened = await self.ws_open()
        await self.eio.disconnect(opened["sid"])
        assert await self.read(ws) == "1"
        assert await self.read(ws) is None
        assert ws.close_code == 1000
        assert self.reasons == ["server disconnect"]

    @gen_test(timeout=WAIT)
    async def test_shutdown_closes_websockets_with_1001(self) -> None:
        ws, _ = await self.ws_open()
        await shutdown(self.eio, self.http_server)
        assert await self.read(ws) == "1"
        assert await self.read(ws) is None
        assert ws.close_code == 1001
        assert self.eio.engine.sessions == {}


class TestCompression(EngineIOTestCase):
    route_options: ClassVar[dict[str, Any]] = {"compression_options": {}}

    @gen_test(timeout=WAIT)
    async def test_permessage_deflate_when_configured(self) -> None:
        ws, _ = await self.ws_open(compression_options={})
        assert ws.headers is not None
        assert "permessage-deflate" in ws.headers.get("Sec-WebSocket-Extensions", "")
        text = "4" + "abc" * 200
        await ws.write_message(text)
        assert await self.read(ws) == text
        # a burst from another task takes the compressed path too (write_message)
        sid = self.sids[0]

        async def push() -> None:
            for i in range(5):
                await self.eio.send(sid, f"z{i}" * 50)

        await asyncio.ensure_future(push())
        assert [await self.read(ws) for _ in range(5)] == [f"4{f'z{i}' * 50}" for i in range(5)]
        ws.close()
