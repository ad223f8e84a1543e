"""``ALLOWED_HOSTS`` on Engine.IO requests, as Django enforces it on views.

* ``host_allowed`` gives Django's own verdict (``WSGIRequest.get_host()``) for WSGI
  environs and for ASGI scopes, across ``ALLOWED_HOSTS`` / ``DEBUG`` /
  ``USE_X_FORWARDED_HOST`` combinations, and follows ``override_settings``;
* the Channels consumers (communicators) and the WSGI middleware (runserver's
  server) refuse a bad ``Host`` on the polling handshake, on a session's requests and
  on the WebSocket upgrade with ``400 {"code": 3, "message": "Bad request"}``, log it
  once and call the ``connection_error`` handler; a good ``Host`` still works.

Real servers (daphne, gunicorn, uvicorn, hypercorn) are in tests/interop/test_hosts.py
and tests/django/test_django_asgi_servers.py.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websocket
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test import override_settings
from tests.django.eio_testapp.engineio_handlers import seen
from tests.django.test_django_asgi import application
from tests.django.test_django_wsgi import QuietHandler

from django_engineio import get_async_server, get_sync_server
from django_engineio.hosts import host_allowed
from django_engineio.wsgi import get_wsgi_application
from engineio_core import Refusal
from engineio_core.asgi import to_engine_request as asgi_request
from engineio_core.wsgi_environ import to_engine_request as wsgi_request

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5
BAD_REQUEST = {"code": 3, "message": "Bad request"}
POLLING = "/engine.io/?EIO=4&transport=polling"
WEBSOCKET = "/engine.io/?EIO=4&transport=websocket"


def environ(host: str | None, forwarded: str | None = None) -> dict[str, Any]:
    env: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/engine.io/",
                           "QUERY_STRING": "EIO=4&transport=polling", "SERVER_NAME": "backend",
                           "SERVER_PORT": "8000", "wsgi.url_scheme": "http",
                           "wsgi.input": None}
    if host is not None:
        env["HTTP_HOST"] = host
    if forwarded is not None:
        env["HTTP_X_FORWARDED_HOST"] = forwarded
    return env


def scope(host: str | None, forwarded: str | None = None,
          server: tuple[str, int] | None = ("backend", 8000)) -> dict[str, Any]:
    headers = [] if host is None else [(b"host", host.encode())]
    if forwarded is not None:
        headers.append((b"x-forwarded-host", forwarded.encode()))
    return {"type": "http", "method": "GET", "path": "/engine.io/", "scheme": "http",
            "query_string": b"EIO=4&transport=polling", "headers": headers, "server": server}


def django_verdict(env: dict[str, Any]) -> bool:
    """What Django itself answers for a view."""
    try:
        WSGIRequest({**env, "wsgi.input": io.BytesIO()}).get_host()
    except DisallowedHost:
        return False
    return True


HOSTS = ["example.com", "example.com:8000", "EXAMPLE.com", "example.com.", "a.example.org",
         "example.org:443", "evil.example", "example.com.evil.example", "localhost",
         "localhost:8000", "app.localhost", "127.0.0.1", "127.0.0.1:8000", "[::1]:8000",
         "[::1]", "not a host", ""]

SETTINGS = [
    {"DEBUG": False, "ALLOWED_HOSTS": ["example.com", ".example.org"]},
    {"DEBUG": True, "ALLOWED_HOSTS": []},  # Django's localhost defaults
    {"DEBUG": False, "ALLOWED_HOSTS": []},  # nothing is allowed
    {"DEBUG": True, "ALLOWED_HOSTS": ["example.com"]},  # no localhost defaults then
    {"DEBUG": False, "ALLOWED_HOSTS": ["*"]},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s['DEBUG']}-{s['ALLOWED_HOSTS']}")
def test_verdicts_are_djangos_for_environs_and_scopes(settings: dict[str, Any]) -> None:
    with override_settings(**settings):
        for host in HOSTS:
            expected = django_verdict(environ(host))
            assert host_allowed(wsgi_request(environ(host))) is expected, (host, "wsgi")
            assert host_allowed(asgi_request(scope(host))) is expected, (host, "asgi")


@pytest.mark.parametrize(("settings", "allowed", "refused"), [
    (SETTINGS[0], ["example.com:8000", "a.example.org"], ["evil.example", "localhost"]),
    (SETTINGS[1], ["localhost:8000", "app.localhost", "127.0.0.1", "[::1]:8000"],
     ["example.com", "evil.example"]),
    (SETTINGS[2], [], ["localhost", "127.0.0.1", "example.com"]),
    (SETTINGS[3], ["example.com"], ["localhost", "127.0.0.1"]),
    (SETTINGS[4], ["evil.example", "localhost"], ["not a host"]),
])
def test_known_verdicts(settings: dict[str, Any], allowed: list[str],
                        refused: list[str]) -> None:
    with override_settings(**settings):
        for host in allowed:
            assert host_allowed(asgi_request(scope(host))), host
            assert host_allowed(wsgi_request(environ(host))), host
        for host in refused:
            assert not host_allowed(asgi_request(scope(host))), host
            assert not host_allowed(wsgi_request(environ(host))), host


def test_x_forwarded_host_only_with_use_x_forwarded_host() -> None:
    with override_settings(ALLOWED_HOSTS=["public.example"]):
        assert not host_allowed(asgi_request(scope("backend:8000", "public.example")))
        assert not host_allowed(wsgi_request(environ("backend:8000", "public.example")))
        with override_settings(USE_X_FORWARDED_HOST=True):  # the cached verdicts are dropped
            assert host_allowed(asgi_request(scope("backend:8000", "public.example")))
            assert host_allowed(wsgi_request(environ("backend:8000", "public.example")))
            assert not host_allowed(asgi_request(scope("public.example", "evil.example")))


def test_no_host_header_falls_back_to_the_server_name() -> None:
    with override_settings(ALLOWED_HOSTS=["backend"]):
        assert host_allowed(asgi_request(scope(None)))
        assert host_allowed(wsgi_request(environ(None)))
        assert not host_allowed(asgi_request(scope(None, server=None)))  # "unknown:0"
    with override_settings(ALLOWED_HOSTS=["elsewhere"]):
        assert not host_allowed(asgi_request(scope(None)))
        assert not host_allowed(wsgi_request(environ(None)))


def test_verdicts_follow_override_settings() -> None:
    request = asgi_request(scope("example.com"))
    with override_settings(ALLOWED_HOSTS=["example.com"]):
        assert host_allowed(request)
    with override_settings(ALLOWED_HOSTS=["other.example"]):
        assert not host_allowed(request)
    with override_settings(DEBUG=True, ALLOWED_HOSTS=[]):
        assert not host_allowed(request)
        assert host_allowed(asgi_request(scope("localhost")))


# ---------------------------------------------------------------- ASGI: the consumers


class Logged(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO and record.getMessage().startswith("refused "):
            self.lines.append(record.getMessage())


@pytest.fixture
def logged() -> Iterator[Logged]:
    handler = Logged()
    logger = logging.getLogger("engineio_core.server")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def refusals() -> list[Refusal]:
    found: list[Refusal] = seen.pop("refusals", [])
    return found


async def asgi_http(path: str, host: bytes) -> dict[str, Any]:
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", host)])
    response: dict[str, Any] = await communicator.get_response(timeout=TIMEOUT)
    await communicator.wait(TIMEOUT)
    return response


@override_settings(ALLOWED_HOSTS=["good.example"])
async def test_consumers_refuse_a_bad_host(logged: Logged) -> None:
    get_async_server()
    # The polling handshake.
    response = await asgi_http(POLLING, b"evil.example")
    assert (response["status"], json.loads(response["body"])) == (400, BAD_REQUEST)
    [refusal] = refusals()
    assert refusal.context == {"name": "HOST_NOT_ALLOWED", "host": "evil.example"}
    assert len(logged.lines) == 1
    assert "host 'evil.example' is not allowed [HOST_NOT_ALLOWED; HTTP 400" in logged.lines[0]
    # A good host opens a session; the session's requests need a good host too.
    response = await asgi_http(POLLING, b"good.example:8000")
    assert response["status"] == 200
    sid = json.loads(response["body"][1:])["sid"]
    response = await asgi_http(f"{POLLING}&sid={sid}", b"evil.example")
    assert response["status"] == 400
    [refusal] = refusals()
    assert (refusal.sid, refusal.context["name"]) == (sid, "HOST_NOT_ALLOWED")
    # The WebSocket handshake and the upgrade of that session: refused before accepting.
    for path in (WEBSOCKET, f"{WEBSOCKET}&sid={sid}"):
        communicator = WebsocketCommunicator(application, path,
                                             headers=[(b"host", b"evil.example")])
        connected, code = await communicator.connect(TIMEOUT)
        assert (connected, code) == (False, 1008)  # the communicator has no HTTP refusal
        [refusal] = refusals()
        assert refusal.context["name"] == "HOST_NOT_ALLOWED"
    assert get_async_server().session_info(sid).probe is False
    communicator = WebsocketCommunicator(application, WEBSOCKET,
                                         headers=[(b"host", b"good.example")])
    connected, _ = await communicator.connect(TIMEOUT)
    assert connected
    assert (await communicator.receive_from(TIMEOUT)).startswith("0{")
    await communicator.disconnect()
    assert len(logged.lines) == 4
    assert refusals() == []


@override_settings(DEBUG=True, ALLOWED_HOSTS=[])
async def test_consumers_honour_the_debug_localhost_defaults() -> None:
    assert (await asgi_http(POLLING, b"localhost:8000"))["status"] == 200
    assert (await asgi_http(POLLING, b"127.0.0.1:8000"))["status"] == 200
    assert (await asgi_http(POLLING, b"evil.example"))["status"] == 400


# ---------------------------------------------------------------- WSGI: the middleware


@pytest.fixture
def port() -> Iterator[int]:
    httpd = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler)
    httpd.set_app(get_wsgi_application())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(TIMEOUT)


@override_settings(ALLOWED_HOSTS=["good.example"])
def test_middleware_refuses_a_bad_host(port: int, logged: Logged) -> None:
    base = f"http://127.0.0.1:{port}"
    with requests.Session() as http:
        response = http.get(base + POLLING, headers={"Host": "evil.example"}, timeout=TIMEOUT)
        assert (response.status_code, response.json()) == (400, BAD_REQUEST)
        [refusal] = refusals()
        assert refusal.context == {"name": "HOST_NOT_ALLOWED", "host": "evil.example"}
        response = http.get(base + POLLING, headers={"Host": "good.example"}, timeout=TIMEOUT)
        assert response.status_code == 200
        sid = json.loads(response.text[1:])["sid"]
        response = http.post(f"{base}{POLLING}&sid={sid}", data=b"4hi",
                             headers={"Host": "evil.example"}, timeout=TIMEOUT)
        assert (response.status_code, response.json()) == (400, BAD_REQUEST)
        [refusal] = refusals()
        assert refusal.sid == sid
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://127.0.0.1:{port}{WEBSOCKET}", host="evil.example",
                                    timeout=TIMEOUT)
    assert refused.value.status_code == 400
    # (runserver cannot serve WebSocket: any upgrade is refused, and reported once.)
    assert len(refusals()) == 1
    assert get_sync_server().has_session(sid)
    assert len(logged.lines) == 3
