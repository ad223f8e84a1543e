"""``AsyncServer`` + ``ASGIApp`` for real: a uvicorn server on 127.0.0.1 in a thread.

Covers what the interop suite does not: passthrough to another ASGI app,
static files, lifespan hooks, the path without its trailing slash, the
client address, connect refusal, the application session dict, background
tasks, and WebSocket refusal before the upgrade. Clients are ``http.client``,
``websocket-client`` and python-engineio's ``Client``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import queue
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import engineio
import pytest
import websocket
from tests.helpers import serve_asgi as serve

import engineio_core
from engineio_core import ASGIApp, AsyncServer, ConnectionRefused, Request

WAIT = 5.0
Scope = MutableMapping[str, Any]



def get(port: int, path: str, method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


async def other_app(scope: Scope, receive: Callable[[], Awaitable[Any]],
                    send: Callable[[Any], Awaitable[None]]) -> None:
    """A stand-in for the rest of a user's ASGI application."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    body = f"other {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def test_passthrough_static_files_and_lifespan(tmp_path: Path) -> None:
    index = tmp_path / "index.html"
    index.write_text("<h1>hi</h1>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    hooks: list[str] = []
    eio = AsyncServer()

    async def on_shutdown() -> None:
        hooks.append("shutdown")

    app = ASGIApp(eio, other_app, static_files={"/": str(index), "/static/": str(tmp_path)},
                  on_startup=lambda: hooks.append("startup"), on_shutdown=on_shutdown)
    with serve(app) as port:
        assert hooks == ["startup"]
        status, headers, body = get(port, "/")
        assert (status, headers["content-type"], body) == (200, "text/html", b"<h1>hi</h1>")
        status, _, body = get(port, "/static/assets/app.js")
        assert (status, body) == (200, b"console.log(1)")
        assert get(port, "/static/../secret")[2].startswith(b"other")
        assert get(port, "/api/items")[:3:2] == (200, b"other /api/items")
        status, _, body = get(port, "/engine.io/?EIO=4&transport=polling")
        assert status == 200
        assert body.startswith(b'0{"sid":')
    assert hooks == ["startup", "shutdown"]


def test_path_without_trailing_slash_custom_path_and_404() -> None:
    app = ASGIApp(AsyncServer(), engineio_path="/realtime/")
    with serve(app) as port:
        for path in ("/realtime", "/realtime/"):
            status, headers, body = get(port, f"{path}?EIO=4&transport=polling")
            assert status == 200, body
            assert headers["content-type"] == "text/plain; charset=UTF-8"
            assert json.loads(body[1:])["maxPayload"] == 1_000_000
        assert get(port, "/engine.io/?EIO=4&transport=polling")[0] == 404


def test_root_path_is_honoured() -> None:
    # Behind a proxy that strips "/chat", uvicorn reports path "/chat/engine.io/"
    # with root_path "/chat"; the app must still find its Engine.IO path.
    app = ASGIApp(AsyncServer())
    with serve(app, root_path="/chat") as port:
        status, _, body = get(port, "/engine.io/?EIO=3&transport=polling")
        assert status == 200
        assert body.startswith(b"118:0{")


def test_connect_sees_client_address_and_can_refuse() -> None:
    eio = AsyncServer()
    seen: queue.Queue[Request] = queue.Queue()

    @eio.on("connect")
    async def connect(sid: str, request: Request) -> bool:
        seen.put(request)
        token = request.query.get("token")
        if token == "wrong":
            raise ConnectionRefused("bad token")
        return token == "ok"

    with serve(ASGIApp(eio)) as port:
        status, _, body = get(port, "/engine.io/?EIO=4&transport=polling&token=ok")
        assert status == 200
        request = seen.get(timeout=WAIT)
        assert request.client is not None
        assert request.client[0] == "127.0.0.1"
        assert request.native["type"] == "http"
        status, headers, body = get(port, "/engine.io/?EIO=4&transport=polling&token=no")
        assert (status, json.loads(body)) == (403, {"code": 4, "message": "Forbidden"})
        assert headers["content-type"] == "application/json"
        status, _, body = get(port, "/engine.io/?EIO=4&transport=polling&token=wrong")
        assert (status, json.loads(body)) == (403, {"code": 4, "message": "bad token"})
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(
                f"ws://127.0.0.1:{port}/engine.io/?EIO=4&transport=websocket&token=no",
                timeout=WAIT)
        assert refused.value.status_code == 403


def test_connect_sees_the_request_headers_by_lower_case_name() -> None:
    eio = AsyncServer()
    seen: queue.Queue[Request] = queue.Queue()

    @eio.on("connect")
    async def connect(sid: str, request: Request) -> None:
        seen.put(request)

    with serve(ASGIApp(eio)) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        try:
            conn.putrequest("GET", "/engine.io/?EIO=4&transport=polling")
            conn.putheader("X-Trace", "one")
            conn.putheader("Accept-Language", "fr")
            conn.putheader("x-trace", "two")  # repeated: the values are joined, in order
            conn.endheaders()
            assert conn.getresponse().status == 200
        finally:
            conn.close()
        headers = seen.get(timeout=WAIT).headers
        assert headers["x-trace"] == "one, two"
        assert headers["accept-language"] == "fr"
        assert all(name == name.lower() for name in headers)

    # Without a repeated header (the fast path), from any iterable of pairs.
    request = engineio_core.asgi.to_engine_request(
        {"type": "http", "headers": iter([(b"Host", b"h"), (b"Origin", b"o")])})
    assert request.headers == {"host": "h", "origin": "o"}


def test_websocket_for_unknown_sid_is_refused_with_400() -> None:
    with serve(ASGIApp(AsyncServer())) as port:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(
                f"ws://127.0.0.1:{port}/engine.io/?EIO=4&transport=websocket&sid=nope",
                timeout=WAIT)
        assert refused.value.status_code == 400


def test_session_dict_background_task_and_transport() -> None:
    eio = AsyncServer()
    results: queue.Queue[Any] = queue.Queue()

    @eio.on("connect")
    async def connect(sid: str, request: Request) -> None:
        await eio.save_session(sid, {"name": request.query.get("name")})

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        async with eio.session(sid) as session:
            session["count"] = session.get("count", 0) + 1

        async def later() -> None:
            await eio.sleep(0.05)
            stored = await eio.get_session(sid)
            await eio.send(sid, f"{stored['name']}:{stored['count']}:{eio.transport(sid)}")

        eio.start_background_task(later)

    client = engineio.Client()
    client.on("message", results.put)
    with serve(ASGIApp(eio)) as port:
        client.connect(f"http://127.0.0.1:{port}?name=ada", transports=["websocket"])
        try:
            client.send("hello")
            assert results.get(timeout=WAIT) == "ada:1:websocket"
        finally:
            client.disconnect()


def test_server_api_errors() -> None:
    eio = AsyncServer()
    with pytest.raises(ValueError, match="unknown event"):
        eio.on("conect")
    with pytest.raises(engineio_core.SessionUnknown):
        asyncio.run(eio.send("nope", "x"))
    with pytest.raises(engineio_core.ConfigError, match="unknown option"):
        AsyncServer(ping_intervall=3)


def test_server_transport_is_found_behind_the_shapes_servers_use() -> None:
    import functools

    from engineio_core.asgi import server_transport

    class Transport:
        def abort(self) -> None: ...

    class TwistedTransport:
        def abortConnection(self) -> None: ...

    transport, twisted = Transport(), TwistedTransport()

    class Protocol:  # uvicorn: send is a method of the connection's protocol
        def __init__(self) -> None:
            self.transport = transport

        async def asgi_send(self, message: object) -> None: ...

    class Writer:
        def __init__(self) -> None:
            self.transport = transport

    class TCPServer:  # hypercorn: stream -> protocol -> server -> writer.transport
        def __init__(self) -> None:
            self.writer = Writer()

        async def protocol_send(self, event: object) -> None: ...

    class H11:
        def __init__(self) -> None:
            self.send = TCPServer().protocol_send

        async def stream_send(self, event: object) -> None: ...

    class Stream:
        def __init__(self) -> None:
            self.send = H11().stream_send

        async def app_send(self, message: object) -> None: ...

    class AutobahnProtocol:  # daphne: functools.partial(server.handle_reply, protocol)
        def __init__(self) -> None:
            self.transport = twisted

    async def handle_reply(protocol: object, message: object) -> None: ...

    assert server_transport(Protocol().asgi_send) is transport
    assert server_transport(Stream().app_send) is transport
    assert server_transport(functools.partial(handle_reply, AutobahnProtocol())) is twisted
    assert server_transport(handle_reply) is None


def test_client_gone_while_sending_a_body_is_no_error() -> None:
    """A client that went away in the middle of a POST body (``http.disconnect``):
    the app returns without a response and the session ends, instead of raising
    ConnectionError (uvicorn logged "Exception in ASGI application"; the wire fuzzer
    found it)."""

    async def test() -> None:
        eio = AsyncServer()
        gone: list[tuple[str, engineio_core.DisconnectReason]] = []
        eio.on("disconnect", lambda sid, reason: gone.append((sid, reason)))
        app = ASGIApp(eio)
        sent: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        def scope(method: str, query: str) -> Scope:
            return {"type": "http", "method": method, "path": "/engine.io/",
                    "query_string": query.encode(), "headers": []}

        async def no_body() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        await app(scope("GET", "EIO=4&transport=polling"), no_body, send)
        sid = json.loads(sent[1]["body"][1:])["sid"]
        sent.clear()
        messages: Iterator[MutableMapping[str, Any]] = iter([
            {"type": "http.request", "body": b"4he", "more_body": True},
            {"type": "http.disconnect"}])

        async def receive() -> MutableMapping[str, Any]:
            return next(messages)

        await app(scope("POST", f"EIO=4&transport=polling&sid={sid}"), receive, send)
        assert sent == []
        assert gone == [(sid, engineio_core.DisconnectReason.TRANSPORT_ERROR)]

    asyncio.run(test())


def test_response_headers_are_encoded_right_and_remembered_within_a_bound() -> None:
    """Each response carries its own header values (here its client's Origin, echoed
    by CORS), however many distinct values pass: the encodings kept stay bounded."""
    from engineio_core import asgi

    app = ASGIApp(AsyncServer(cors_allowed_origins="*", cors_credentials=True))

    async def handshake(origin: bytes) -> list[tuple[bytes, bytes]]:
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/engine.io/", "root_path": "",
                 "query_string": b"EIO=4&transport=polling", "scheme": "http",
                 "headers": [(b"host", b"127.0.0.1"), (b"origin", origin)]}
        await app(scope, receive, send)
        assert sent[0]["status"] == 200
        return list(sent[0]["headers"])

    async def run() -> None:
        for n in range(3 * asgi._ENCODED_KEPT):
            origin = f"http://client{n}.example".encode()
            headers = await handshake(origin)
            assert (b"access-control-allow-origin", origin) in headers
            assert (b"cache-control", b"no-store") in headers
            assert len(asgi._ENCODED) <= asgi._ENCODED_KEPT

    asyncio.run(run())
