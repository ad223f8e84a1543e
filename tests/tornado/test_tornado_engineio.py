"""tornado-engineio with Tornado's own test tools: ``AsyncHTTPTestCase``, ``gen_test``,
``websocket_connect``, ``ExpectLog``.

Each test case runs a real Tornado ``HTTPServer`` on 127.0.0.1 with
``engineio_routes`` spliced into its ``Application``: polling handshake and
echo, the POST size limit (413), CORS preflight, WebSocket echo, the polling →
WebSocket upgrade, refusals before the upgrade (plain HTTP 400/403 with the
engine's JSON body), ``check_origin``, message size limit, permessage-deflate,
server disconnect and ``shutdown``.

The polling tests run twice: with the default routes, where the
``SessionPollingRouter`` serves the GETs and POSTs of established sessions, and
with ``fast_polling=False``, where ``EngineIOHandler`` serves everything. Which
one served a request is seen through the application's ``log_function``, which
Tornado calls for every request a ``RequestHandler`` finishes (and only then).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pytest
import tornado.web
import tornado.websocket
from tornado.httpclient import HTTPClientError, HTTPRequest, HTTPResponse
from tornado.httputil import HTTPConnection, HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.iostream import IOStream
from tornado.log import app_log
from tornado.routing import PathMatches, URLSpec
from tornado.simple_httpclient import HTTPStreamClosedError
from tornado.tcpclient import TCPClient
from tornado.testing import AsyncHTTPTestCase, ExpectLog, gen_test

import tornado_engineio
from engineio_core import AsyncServer, ConnectionRefused, Request
from engineio_core.base_server import BodyTooLarge
from engineio_core.protocol.http import Response
from tornado_engineio import (
    EngineIOHandler,
    SessionPollingRouter,
    TornadoBackend,
    engineio_routes,
    shutdown,
)
from tornado_engineio.request import RequestBody, put_headers

WAIT = 5.0
UPGRADE_HEADERS = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


def test_all_is_exported() -> None:
    assert sorted(tornado_engineio.__all__) == [
        "EngineIOHandler", "SessionPollingRouter", "TornadoBackend", "engineio_routes",
        "shutdown",
    ]
    for name in tornado_engineio.__all__:
        assert getattr(tornado_engineio, name) is not None


def test_backend_entry_point() -> None:
    eio = AsyncServer(async_mode="tornado")
    assert eio.async_mode == "tornado"
    assert isinstance(eio.backend, TornadoBackend)


def test_routes_match_with_and_without_trailing_slash() -> None:
    eio = AsyncServer(async_mode="tornado")
    (spec,) = engineio_routes(eio, fast_polling=False)
    assert isinstance(spec, URLSpec)
    assert spec.handler_class is EngineIOHandler
    assert spec.kwargs is not None
    assert spec.kwargs["server"] is eio
    for path, matches in [("/engine.io/", True), ("/engine.io", True),
                          ("/engine.io/x", False), ("/engineXio/", False)]:
        assert (spec.regex.match(path) is not None) is matches, path
    (custom,) = engineio_routes(eio, "socket", fast_polling=False)
    assert isinstance(custom, URLSpec)
    assert custom.regex.match("/socket") is not None
    assert custom.regex.match("/socket/") is not None


def test_default_routes_put_the_session_router_first_on_the_same_path() -> None:
    eio = AsyncServer(async_mode="tornado")
    rule, spec = engineio_routes(eio, "socket")
    assert isinstance(rule.target, SessionPollingRouter)
    assert rule.target.server is eio
    assert isinstance(rule.matcher, PathMatches)
    assert isinstance(spec, URLSpec)
    assert spec.handler_class is EngineIOHandler
    assert rule.matcher.regex.pattern == spec.regex.pattern
    assert rule.matcher.regex.match("/socket") is not None


def _server_request(method: str, query: str, **headers: str) -> HTTPServerRequest:
    return HTTPServerRequest(start_line=RequestStartLine(method, f"/engine.io/?{query}",
                                                         "HTTP/1.1"),
                             headers=HTTPHeaders({"Host": "127.0.0.1", **headers}),
                             connection=HTTPConnection())


@pytest.mark.parametrize(("method", "query", "headers", "taken"), [
    ("GET", "EIO=4&transport=polling&sid=abc", {}, True),
    ("POST", "EIO=4&transport=polling&sid=abc", {}, True),
    ("GET", "sid=a%2Bb&EIO=4&transport=polling", {}, True),
    ("GET", "EIO=4&transport=polling", {}, False),  # a handshake
    ("GET", "EIO=4&transport=polling&sid=", {}, False),  # a handshake for the engine
    ("GET", "EIO=4&transport=polling&sid", {}, False),
    ("GET", "EIO=4&transport=polling&xsid=abc", {}, False),
    ("OPTIONS", "EIO=4&transport=polling&sid=abc", {}, False),
    ("PUT", "EIO=4&transport=polling&sid=abc", {}, False),
    ("HEAD", "EIO=4&transport=polling&sid=abc", {}, False),
    ("GET", "EIO=4&transport=websocket&sid=abc", {"Upgrade": "WebSocket"}, False),
])
def test_session_router_takes_only_session_polling(method: str, query: str,
                                                   headers: dict[str, str],
                                                   taken: bool) -> None:
    router = SessionPollingRouter(AsyncServer(async_mode="tornado"))
    delegate = router.find_handler(_server_request(method, query, **headers))
    assert (delegate is not None) is taken


async def test_request_body_keeps_up_to_its_limit() -> None:
    body = RequestBody(10)
    body.add(b"12345")
    body.add(b"67890")
    assert await body.read(10) == b"1234567890"
    with pytest.raises(BodyTooLarge):
        await body.read(9)
    body.add(b"x")  # past the limit: counted, not kept (nothing to give back)
    assert body.size == 11
    with pytest.raises(BodyTooLarge):
        await body.read(100)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def no_warnings_logged() -> Iterator[None]:
    """Fail if anything (Tornado, asyncio, the engine) logs a warning or an error."""
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    assert [f"{r.name}: {r.getMessage()}" for r in handler.records] == []


class EngineIOTestCase(AsyncHTTPTestCase):
    """A Tornado app serving an echo ``AsyncServer`` at ``/engine.io/``."""

    server_class: ClassVar[type[AsyncServer]] = AsyncServer
    options: ClassVar[dict[str, Any]] = {}
    route_options: ClassVar[dict[str, Any]] = {}
    settings: ClassVar[dict[str, Any]] = {}

    @property
    def fast(self) -> bool:
        """Whether the session polling router is in front of the handler."""
        return bool(self.route_options.get("fast_polling", True))

    def get_app(self) -> tornado.web.Application:
        self.eio = self.server_class(async_mode="tornado", **self.options)
        self.through_handler: list[str] = []
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

        def log_function(handler: tornado.web.RequestHandler) -> None:
            self.through_handler.append(f"{handler.request.method} {handler.request.uri}")

        return tornado.web.Application(engineio_routes(self.eio, **self.route_options),
                                       log_function=log_function, **self.settings)

    def session_requests_through_handler(self) -> list[str]:
        """The requests with a sid a ``RequestHandler`` finished."""
        return [line for line in self.through_handler if "sid=" in line]

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

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait for a state of the server that no event announces (bounded by gen_test)."""
        while not condition():
            await asyncio.sleep(0.005)

    async def held_poll(self, sid: str) -> asyncio.Future[HTTPResponse]:
        """A long-poll GET, once the engine holds it."""
        held = asyncio.ensure_future(
            self.request(f"/engine.io/?EIO=4&transport=polling&sid={sid}"))
        await self.until(lambda: held.done() or self.eio.session_info(sid).poll_held)
        return held

    async def raw(self, request: bytes) -> IOStream:
        """A connection of our own that sent ``request`` (to close it half-way)."""
        stream = await TCPClient().connect("127.0.0.1", self.get_http_port())
        await stream.write(request)
        return stream


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
        assert (polled.code, polled.reason, polled.body) == (200, "OK", b"4hello\x1e4world")
        assert polled.headers["Content-Length"] == str(len(polled.body))
        assert "Date" in polled.headers
        # The handshake came through the handler; the session's requests only
        # without the router.
        assert self.through_handler[0] == "GET /engine.io/?EIO=4&transport=polling"
        assert self.session_requests_through_handler() == (
            [] if self.fast else [f"POST {path}", f"GET {path}"])

    @gen_test(timeout=WAIT)
    async def test_post_too_large_is_413(self) -> None:
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        posted = await self.request(path, "POST", b"4" + b"x" * 5000)
        assert (posted.code, posted.reason) == (413, http.client.responses[413])
        assert json.loads(posted.body) == {"code": 3, "message": "Payload too large"}
        assert self.session_requests_through_handler() == ([] if self.fast else [f"POST {path}"])
        # Exactly at the limit passes (on a fresh session).
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        posted = await self.request(path, "POST", b"4" + b"y" * 99)
        assert (posted.code, posted.body) == (200, b"ok")

    @gen_test(timeout=WAIT)
    async def test_chunked_post_too_large_is_413(self) -> None:
        """No Content-Length: the body is counted as it streams in."""
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"

        def chunked(*chunks: bytes) -> Callable[[Callable[[bytes], Awaitable[None]]],
                                                 Awaitable[None]]:
            async def produce(write: Callable[[bytes], Awaitable[None]]) -> None:
                for chunk in chunks:
                    await write(chunk)
            return produce

        response = await self.http_client.fetch(
            self.get_url(path), method="POST", raise_error=False, request_timeout=WAIT,
            body_producer=chunked(*[b"4" + b"x" * 59] * 50))
        assert response.code == 413
        assert json.loads(response.body) == {"code": 3, "message": "Payload too large"}
        # Exactly at the limit, in pieces, passes and is read whole.
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        response = await self.http_client.fetch(
            self.get_url(path), method="POST", raise_error=False, request_timeout=WAIT,
            body_producer=chunked(b"4" + b"y" * 49, b"z" * 50))
        assert (response.code, response.body) == (200, b"ok")
        polled = await self.request(path)
        assert polled.body == b"4" + b"y" * 49 + b"z" * 50

    @gen_test(timeout=WAIT)
    async def test_preflight_and_handshake_go_through_the_handler(self) -> None:
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        response = await self.request(path, "OPTIONS",
                                      headers={"Origin": "http://elsewhere.example",
                                               "Access-Control-Request-Method": "POST"})
        assert response.code == 204
        assert self.through_handler == ["GET /engine.io/?EIO=4&transport=polling",
                                        f"OPTIONS {path}"]

    @gen_test(timeout=WAIT)
    async def test_long_poll_whose_client_went_away(self) -> None:
        """As with the handler: the session lives on, the next requests work, nothing
        is logged (what the engine handed to the dead poll is lost with it)."""
        with no_warnings_logged():
            sid = (await self.handshake())["sid"]
            path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
            stream = await self.raw(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            await self.until(lambda: self.eio.session_info(sid).poll_held)
            stream.close()
            await self.handshake()  # a round trip: the server has seen the close by now
            await self.eio.send(sid, "lost")  # releases the poll of the closed connection
            held = await self.held_poll(sid)
            await self.eio.send(sid, "next")
            polled = await held
            assert (polled.code, polled.body) == (200, b"4next")
            posted = await self.request(path, "POST", b"4hello")
            assert (posted.code, posted.body) == (200, b"ok")
            polled = await self.request(path)
            assert (polled.code, polled.body) == (200, b"4hello")
            assert self.reasons == []

    @gen_test(timeout=WAIT)
    async def test_post_whose_client_went_away_mid_body(self) -> None:
        with no_warnings_logged():
            sid = (await self.handshake())["sid"]
            path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
            stream = await self.raw(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    f"Content-Length: 50\r\n\r\n4abc".encode())
            stream.close()
            await self.handshake()  # a round trip: the server has seen the close by now
            posted = await self.request(path, "POST", b"4hello")
            assert (posted.code, posted.body) == (200, b"ok")
            polled = await self.request(path)
            assert (polled.code, polled.body) == (200, b"4hello")

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
        assert response.reason == "Bad Request"
        assert self.session_requests_through_handler() == (
            [] if self.fast else ["GET /engine.io/?EIO=4&transport=polling&sid=nope"])

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
        while not held.done() and not self.eio.session_info(sid).poll_held:
            await asyncio.sleep(0.01)
        await shutdown(self.eio)
        response = await held
        assert (response.code, response.body) == (200, b"1")
        await asyncio.wait_for(self.disconnected.wait(), WAIT)


class TestPollingThroughTheHandler(TestPolling):
    """The same, with ``fast_polling=False``: every request goes through the handler."""

    route_options: ClassVar[dict[str, Any]] = {"fast_polling": False}


class _FailingServer(AsyncServer):
    """A server whose ``handle_http`` fails when the query asks it to."""

    async def handle_http(self, request: Request,
                          read_body: Callable[[int], Awaitable[bytes]],
                          disconnected: Callable[[], Awaitable[object]] | None = None,
                          ) -> Response:
        fail = request.query.get("fail")
        if fail == "raise":
            raise RuntimeError("boom")
        if fail == "later":  # after suspending once: the router goes on in a task
            await asyncio.sleep(0)
            raise RuntimeError("boom")
        if fail == "header":
            return Response(200, [("X-Bad", "a\r\nb"), ("Content-Length", "1")], b"x")
        return await super().handle_http(request, read_body)


class TestSessionPollingFailures(EngineIOTestCase):
    """What the router does when serving fails: logged, answered, never left hanging."""

    server_class = _FailingServer

    @gen_test(timeout=WAIT)
    async def test_exception_is_a_logged_500(self) -> None:
        with ExpectLog(app_log, "Uncaught exception GET /engine.io/"):
            response = await self.request(
                "/engine.io/?EIO=4&transport=polling&sid=x&fail=raise")
        assert response.code == 500
        assert response.body.startswith(b"<html><title>500: Internal Server Error")
        assert self.through_handler == []  # the router served it
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        assert (await self.request(path, "POST", b"4again")).body == b"ok"
        assert (await self.request(path)).body == b"4again"

    @gen_test(timeout=WAIT)
    async def test_exception_after_suspending_is_a_logged_500(self) -> None:
        with ExpectLog(app_log, "Uncaught exception POST /engine.io/"):
            response = await self.request(
                "/engine.io/?EIO=4&transport=polling&sid=x&fail=later", "POST", b"4x")
        assert response.code == 500
        assert self.through_handler == []

    @gen_test(timeout=WAIT)
    async def test_unwritable_response_closes_the_connection(self) -> None:
        with (ExpectLog(app_log, "Cannot write the response to GET /engine.io/"),
              pytest.raises(HTTPStreamClosedError)):  # the client saw the connection close
            await self.request("/engine.io/?EIO=4&transport=polling&sid=x&fail=header")
        assert self.through_handler == []
        await self.handshake()


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
        assert self.through_handler == [
            "GET /engine.io/?EIO=4&transport=polling",
            f"GET /engine.io/?EIO=4&transport=websocket&sid={sid}",
        ]
        ws.close()

    @gen_test(timeout=WAIT)
    async def test_upgrade_from_polling_with_a_held_poll(self) -> None:
        """As the JS client does it: a GET held (by the router) during the upgrade is
        released with a noop, POSTs go on until the upgrade completes."""
        sid = (await self.handshake())["sid"]
        path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        held = await self.held_poll(sid)
        ws = await self.connect(self.ws_url(f"EIO=4&transport=websocket&sid={sid}"))
        await ws.write_message("2probe")
        assert await self.read(ws) == "3probe"
        released = await held
        assert (released.code, released.body) == (200, b"6")
        posted = await self.request(path, "POST", b"4before")
        assert (posted.code, posted.body) == (200, b"ok")
        await ws.write_message("5")
        assert await self.read(ws) == "4before"
        await ws.write_message("4after")
        assert await self.read(ws) == "4after"
        assert self.session_requests_through_handler() == [
            f"GET /engine.io/?EIO=4&transport=websocket&sid={sid}"]
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
        assert self.eio.session_ids() == []

    @gen_test(timeout=WAIT)
    async def test_message_past_tornados_cap_closes_with_1009(self) -> None:
        ws, _ = await self.ws_open()
        await ws.write_message("4" + "z" * 5000)  # past 2x the limit: Tornado drops it
        assert await self.read(ws) is None
        assert ws.close_code == 1009
        await asyncio.wait_for(self.disconnected.wait(), WAIT)
        assert self.reasons == ["transport close"]
        assert self.eio.session_ids() == []

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
        assert self.eio.session_ids() == []


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


def test_put_headers_sets_each_name_once_and_adds_its_repeats() -> None:
    """The engine's response headers reach Tornado's ``HTTPHeaders`` whole: a name set
    once, a repeated name (any case) with every value in order, no Content-Length on 204."""
    headers = HTTPHeaders({"Content-Type": "text/html"})  # a default the response replaces
    response = Response(200, [("Set-Cookie", "a=1"), ("Content-Type", "text/plain"),
                              ("Set-Cookie", "b=2"), ("set-cookie", "c=3")], b"")
    put_headers(response, headers.__setitem__, headers.add)
    assert headers.get_list("Set-Cookie") == ["a=1", "b=2", "c=3"]
    assert headers.get_list("Content-Type") == ["text/plain"]

    empty = HTTPHeaders()
    put_headers(Response(204, [("Content-Length", "0"), ("Vary", "Origin")], b""),
                empty.__setitem__, empty.add)
    assert list(empty.get_all()) == [("Vary", "Origin")]
