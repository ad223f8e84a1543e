"""The Channels consumers, driven by Channels' communicators (no server, no sockets).

The ASGI application is the one the docs show: the consumers' URL patterns in
``ProtocolTypeRouter`` under Channels' ``AuthMiddlewareStack``, Django's own ASGI
app for everything else. Handlers are ``eio_testapp/engineio_handlers.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.testing import HttpCommunicator, WebsocketCommunicator
from channels.testing.application import ApplicationCommunicator
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application
from django.test import override_settings
from django.urls import re_path
from tests.django.eio_testapp.engineio_handlers import seen
from tests.django.sessions import logged_in_session_key

import django_engineio
from django_engineio import DisconnectReason, get_async_server
from django_engineio.consumers import EngineIOHttpConsumer
from django_engineio.routing import engineio_urlpatterns, http_urlpatterns, websocket_urlpatterns

django_asgi_app: Any = get_asgi_application()  # django-stubs types only views for re_path

application = ProtocolTypeRouter({
    "http": AuthMiddlewareStack(URLRouter([*http_urlpatterns, re_path(r"", django_asgi_app)])),
    "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
})

# Handlers run close_old_connections() like Django requests do: every test may touch
# the database (in-memory SQLite), and then sees what other threads committed.
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3


async def http(method: str, path: str, body: bytes = b"",
               headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    communicator = HttpCommunicator(application, method, path, body=body, headers=headers)
    response: dict[str, Any] = await communicator.get_response(timeout=TIMEOUT)
    await communicator.wait(TIMEOUT)
    return response


async def handshake(eio: int = 4, query: str = "",
                    headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    response = await http("GET", f"/engine.io/?EIO={eio}&transport=polling{query}",
                          headers=headers)
    assert response["status"] == 200, response
    body: bytes = response["body"]
    if eio == 3:
        body = body[body.index(b":") + 1:]
    assert body.startswith(b"0{"), body
    opened: dict[str, Any] = json.loads(body[1:])
    return opened


def header(response: dict[str, Any], name: bytes) -> bytes | None:
    for key, value in response["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


async def test_polling_handshake_v4_and_v3() -> None:
    opened = await handshake(4)
    assert opened["upgrades"] == ["websocket"]
    assert opened["pingInterval"] == 25000
    assert opened["maxPayload"] == 1000
    opened3 = await handshake(3)
    assert opened3["sid"] != opened["sid"]


async def test_trailing_slash_optional_and_other_paths_go_to_django() -> None:
    response = await http("GET", "/engine.io?EIO=4&transport=polling")
    assert response["status"] == 200
    assert response["body"].startswith(b"0{")
    response = await http("GET", "/hello/")
    assert response == {"status": 200, "body": b"hello from django",
                        "headers": response["headers"]}


async def test_polling_echo_through_async_handler() -> None:
    sid = (await handshake())["sid"]
    posted = await http("POST", f"/engine.io/?EIO=4&transport=polling&sid={sid}",
                        body=b"4hello\x1e4world")
    assert (posted["status"], posted["body"]) == (200, b"ok")
    polled = await http("GET", f"/engine.io/?EIO=4&transport=polling&sid={sid}")
    assert polled["body"] == b"4hello\x1e4world"


async def test_sync_send_from_a_thread_reaches_the_loop() -> None:
    sid = (await handshake())["sid"]
    await http("POST", f"/engine.io/?EIO=4&transport=polling&sid={sid}", body=b"4sync:pong")
    polled = await http("GET", f"/engine.io/?EIO=4&transport=polling&sid={sid}")
    assert polled["body"] == b"4pong"


async def test_broadcast_and_count_sessions() -> None:
    assert await django_engineio.acount_sessions() == 0  # no server yet: nothing to count
    await django_engineio.abroadcast("nobody")
    sids = [(await handshake())["sid"] for _ in range(2)]
    assert await django_engineio.acount_sessions() == 2
    assert await sync_to_async(django_engineio.count_sessions)() == 2
    assert sorted(get_async_server().session_ids()) == sorted(sids)
    await django_engineio.abroadcast("all")
    await sync_to_async(django_engineio.broadcast)("from a thread")
    for sid in sids:
        polled = await http("GET", f"/engine.io/?EIO=4&transport=polling&sid={sid}")
        assert polled["body"] == b"4all\x1e4from a thread"


async def test_post_over_the_limit_is_413() -> None:
    sid = (await handshake())["sid"]
    response = await http("POST", f"/engine.io/?EIO=4&transport=polling&sid={sid}",
                          body=b"4" + b"x" * 2000)
    assert response["status"] == 413


async def test_streamed_post_is_cut_off_at_the_limit() -> None:
    sid = (await handshake())["sid"]
    scope = {"type": "http", "http_version": "1.1", "method": "POST", "path": "/engine.io/",
             "query_string": f"EIO=4&transport=polling&sid={sid}".encode(), "headers": []}
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"4" + b"x" * 600,
                                   "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"x" * 600,
                                   "more_body": True})
    start = await communicator.receive_output(TIMEOUT)  # before the body ends
    assert start["status"] == 413
    await communicator.receive_output(TIMEOUT)
    await communicator.wait(TIMEOUT)


async def test_cors_preflight() -> None:
    with override_settings(ENGINEIO={"CORS_ALLOWED_ORIGINS": ["https://a.example"]}):
        response = await http("OPTIONS", "/engine.io/?EIO=4&transport=polling",
                              headers=[(b"origin", b"https://a.example"),
                                       (b"access-control-request-method", b"POST")])
    assert response["status"] in (200, 204)
    assert header(response, b"access-control-allow-origin") == b"https://a.example"


async def test_refused_by_returning_false_and_by_raising() -> None:
    response = await http("GET", "/engine.io/?EIO=4&transport=polling&refuse=1")
    assert response["status"] == 403
    response = await http("GET", "/engine.io/?EIO=4&transport=polling&refuse=go+away")
    assert response["status"] == 403
    assert json.loads(response["body"])["message"] == "go away"
    communicator = WebsocketCommunicator(application,
                                         "/engine.io/?EIO=4&transport=websocket&refuse=1")
    connected, code = await communicator.connect(TIMEOUT)
    assert (connected, code) == (False, 1008)


async def test_websocket_echo_text_and_binary() -> None:
    communicator = WebsocketCommunicator(application, "/engine.io/?EIO=4&transport=websocket")
    connected, _ = await communicator.connect(TIMEOUT)
    assert connected
    opened = await communicator.receive_from(TIMEOUT)
    assert opened.startswith("0{")
    sid = json.loads(opened[1:])["sid"]
    await communicator.send_to(text_data="4hi")
    assert await communicator.receive_from(TIMEOUT) == "4hi"
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert await communicator.receive_output(TIMEOUT) == {"type": "websocket.send",
                                                          "bytes": b"\x00\x01"}
    assert get_async_server().transport(sid) == "websocket"
    await django_engineio.adisconnect(sid)
    assert await communicator.receive_from(TIMEOUT) == "1"
    assert await communicator.receive_output(TIMEOUT) == {"type": "websocket.close",
                                                          "code": 1000}
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    await communicator.wait(TIMEOUT)
    assert seen[f"disconnect:{sid}"] == DisconnectReason.SERVER_DISCONNECT


async def test_upgrade_from_polling_to_websocket() -> None:
    sid = (await handshake())["sid"]
    communicator = WebsocketCommunicator(
        application, f"/engine.io/?EIO=4&transport=websocket&sid={sid}")
    connected, _ = await communicator.connect(TIMEOUT)
    assert connected
    await communicator.send_to(text_data="2probe")
    assert await communicator.receive_from(TIMEOUT) == "3probe"
    await communicator.send_to(text_data="5")
    await communicator.send_to(text_data="4after")
    assert await communicator.receive_from(TIMEOUT) == "4after"
    assert get_async_server().transport(sid) == "websocket"
    await communicator.disconnect()


@pytest.fixture
def alice_cookie() -> bytes:
    """A signed-cookie session of a logged-in user ``alice``."""
    return f"sessionid={logged_in_session_key('alice')}".encode()


async def test_auth_middleware_gives_connect_the_user_and_the_orm_works(
        alice_cookie: bytes) -> None:
    communicator = WebsocketCommunicator(application, "/engine.io/?EIO=4&transport=websocket&orm",
                                         headers=[(b"cookie", alice_cookie)])
    connected, _ = await communicator.connect(TIMEOUT)
    assert connected
    sid = json.loads((await communicator.receive_from(TIMEOUT))[1:])["sid"]
    assert seen[sid] == "alice"
    assert seen["users_in_db"] == 1
    assert seen["native"]["session"][
        "_auth_user_id"] == str(await sync_to_async(lambda: User.objects.get().pk)())
    await communicator.send_to(text_data="4whoami")
    assert await communicator.receive_from(TIMEOUT) == "4user:alice"
    await communicator.disconnect()


async def test_anonymous_user_and_polling_connect_sees_the_scope() -> None:
    sid = (await handshake())["sid"]
    assert seen[sid] == ""  # AnonymousUser.username
    assert seen["native"]["type"] == "http"


async def test_override_settings_rebuilds_the_server() -> None:
    before = get_async_server()
    with override_settings(ENGINEIO={"PING_INTERVAL": 2, "PING_TIMEOUT": 1}):
        opened = await handshake()
        assert (opened["pingInterval"], opened["pingTimeout"]) == (2000, 1000)
        assert get_async_server() is not before
    assert (await handshake())["pingInterval"] == 25000


async def test_engineio_urlpatterns_for_another_path() -> None:
    app = URLRouter(engineio_urlpatterns("http", path="/realtime/"))
    communicator = HttpCommunicator(app, "GET", "/realtime/?EIO=4&transport=polling")
    response = await communicator.get_response(TIMEOUT)
    assert response["body"].startswith(b"0{")
    with pytest.raises(ValueError, match="scope_type"):
        engineio_urlpatterns("lifespan")


def test_consumers_are_channels_consumers() -> None:
    consumer: Any = http_urlpatterns[0].callback
    assert consumer.consumer_class is EngineIOHttpConsumer
    assert websocket_urlpatterns[0].pattern.regex.match("engine.io/")
