"""The WSGI path under Django's own development server (``runserver``'s threaded wsgiref).

``runserver`` gives polling only: wsgiref exposes no connection, so the WebSocket
request is answered 400 and clients stay on polling (gunicorn gives WebSocket: the
interop suite runs the contract project under ``gunicorn -k gthread``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websocket
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.http import HttpRequest
from django.test import override_settings
from tests.django.eio_testapp.engineio_handlers import seen
from tests.django.sessions import logged_in_session_key

import django_engineio
from django_engineio import get_sync_server
from django_engineio.wsgi import EngineIOMiddleware, get_wsgi_application

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


class QuietHandler(WSGIRequestHandler):
    """runserver's handler without the access log."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    """``get_wsgi_application()`` served by runserver's threaded WSGI server."""
    httpd = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler)
    httpd.set_app(get_wsgi_application())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(TIMEOUT)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def handshake(http: requests.Session, base_url: str, query: str = "") -> str:
    response = http.get(f"{base_url}/engine.io/?EIO=4&transport=polling{query}", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.text.startswith("0{")
    sid: str = json.loads(response.text[1:])["sid"]
    return sid


def test_polling_echo_runs_async_handler_through_async_to_sync(
        base_url: str, http: requests.Session) -> None:
    sid = handshake(http, base_url)
    url = f"{base_url}/engine.io/?EIO=4&transport=polling&sid={sid}"
    assert http.post(url, data=b"4hello\x1e4sync:from-a-thread", timeout=TIMEOUT).text == "ok"
    assert http.get(url, timeout=TIMEOUT).text == "4hello\x1e4from-a-thread"
    assert get_sync_server().transport(sid) == "polling"
    django_engineio.disconnect(sid)
    assert http.get(url, timeout=TIMEOUT).text.split("\x1e")[-1] == "1"  # after a noop


def test_broadcast_and_count_sessions(base_url: str, http: requests.Session) -> None:
    sids = [handshake(http, base_url) for _ in range(2)]
    assert django_engineio.count_sessions() == 2
    assert sorted(get_sync_server().session_ids()) == sorted(sids)
    django_engineio.broadcast("all")
    for sid in sids:
        url = f"{base_url}/engine.io/?EIO=4&transport=polling&sid={sid}"
        assert http.get(url, timeout=TIMEOUT).text == "4all"


def test_websocket_is_refused_and_clients_stay_on_polling(
        base_url: str, http: requests.Session, caplog: pytest.LogCaptureFixture) -> None:
    sid = handshake(http, base_url)
    ws_url = base_url.replace("http", "ws") + f"/engine.io/?EIO=4&transport=websocket&sid={sid}"
    with caplog.at_level(logging.WARNING, logger="engineio_core.server"), \
            pytest.raises(websocket.WebSocketBadStatusException) as caught:
        websocket.create_connection(ws_url, timeout=TIMEOUT)
    assert caught.value.status_code == 400
    assert get_sync_server().transport(sid) == "polling"
    # The warning says what to add for WebSocket under runserver: daphne.
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning == (
        "this WSGI server (WSGIServer/0.2) gives no access to the connection's socket, so it "
        "cannot serve WebSocket; clients stay on polling. Django's runserver serves "
        'WebSocket through daphne: pip install "django-engineio[channels]", put "daphne" '
        'first in INSTALLED_APPS = ["daphne", ...] and point ASGI_APPLICATION at an '
        "application that routes django_engineio.routing's URL patterns (docs/django.md)")


def test_other_requests_go_to_django(base_url: str, http: requests.Session) -> None:
    response = http.get(f"{base_url}/hello/", timeout=TIMEOUT)
    assert (response.status_code, response.text) == (200, "hello from django")
    assert http.get(f"{base_url}/missing/", timeout=TIMEOUT).status_code == 404


def test_connect_gets_a_django_request_with_the_user(base_url: str,
                                                     http: requests.Session) -> None:
    http.cookies.set("sessionid", logged_in_session_key("bob"))
    sid = handshake(http, base_url, "&orm")
    native = seen["native"]
    assert isinstance(native, HttpRequest)
    assert native.headers["Cookie"].startswith("sessionid=")
    assert seen[sid] == "bob"
    assert seen["users_in_db"] == 1


def test_refusals(base_url: str, http: requests.Session) -> None:
    url = f"{base_url}/engine.io/?EIO=4&transport=polling"
    assert http.get(url + "&refuse=1", timeout=TIMEOUT).status_code == 403
    response = http.get(url + "&refuse=nope", timeout=TIMEOUT)
    assert (response.status_code, response.json()["message"]) == (403, "nope")


def test_middleware_follows_override_settings(base_url: str, http: requests.Session) -> None:
    with override_settings(ENGINEIO={"PING_INTERVAL": 3, "PATH": "engine.io"}):
        response = http.get(f"{base_url}/engine.io/?EIO=4&transport=polling", timeout=TIMEOUT)
        assert json.loads(response.text[1:])["pingInterval"] == 3000


def test_middleware_without_django_answers_404() -> None:
    app = EngineIOMiddleware()
    statuses: list[str] = []
    body = app({"REQUEST_METHOD": "GET", "PATH_INFO": "/elsewhere"},
               lambda status, headers: statuses.append(status))
    assert (statuses, list(body)) == (["404 Not Found"], [b"Not Found"])
    assert app.server is get_sync_server()
