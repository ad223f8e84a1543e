"""``ALLOWED_HOSTS`` under the real Django servers (``django-*`` in ``SERVER_COMMANDS``).

The contract project allows ``127.0.0.1``, ``localhost`` and ``[::1]``. A request
whose ``Host`` names another domain (DNS rebinding: ``evil.example`` resolving to
the server) is refused on the polling handshake, on an established session's
requests and on the WebSocket upgrade, under daphne (the Channels consumers) and
gunicorn (the WSGI middleware); the same requests with a good ``Host`` work.
"""

from __future__ import annotations

import http.client
import json

import pytest
import websocket
from tests.helpers import assert_echoes

from .conftest import ServerPool
from .harness import RunningServer, selected_servers

pytestmark = pytest.mark.interop

DJANGO_SERVERS = [name for name in selected_servers() if name.startswith("django-")]
BAD_REQUEST = {"code": 3, "message": "Bad request"}
POLLING = "/engine.io/?EIO=4&transport=polling"
WEBSOCKET = "/engine.io/?EIO=4&transport=websocket"


@pytest.fixture(params=DJANGO_SERVERS)
def django_server(request: pytest.FixtureRequest, server_pool: ServerPool) -> RunningServer:
    return server_pool.shared(request.param, {})


def ask(server: RunningServer, method: str, target: str, host: str,
        body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, target, body=body, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def upgrade(server: RunningServer, target: str, host: str) -> websocket.WebSocket:
    return websocket.create_connection(f"ws://127.0.0.1:{server.port}{target}", host=host,
                                       timeout=5)


def test_a_bad_host_is_refused_everywhere(django_server: RunningServer) -> None:
    status, body = ask(django_server, "GET", POLLING, "evil.example")
    assert (status, json.loads(body)) == (400, BAD_REQUEST)
    status, body = ask(django_server, "GET", POLLING, f"evil.example:{django_server.port}")
    assert (status, json.loads(body)) == (400, BAD_REQUEST)

    status, body = ask(django_server, "GET", POLLING, f"127.0.0.1:{django_server.port}")
    assert status == 200
    sid = json.loads(body[1:])["sid"]
    status, body = ask(django_server, "POST", f"{POLLING}&sid={sid}", "evil.example", b"4x")
    assert (status, json.loads(body)) == (400, BAD_REQUEST)

    # daphne has no websocket.http.response: a close before the accept, which it
    # answers 403; the WSGI servers answer the engine's 400.
    expected = 403 if django_server.name == "django-daphne" else 400
    for target in (WEBSOCKET, f"{WEBSOCKET}&sid={sid}"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            upgrade(django_server, target, "evil.example")
        assert refused.value.status_code == expected, django_server.name

    # The session is unharmed, and a good Host upgrades it.
    ws = upgrade(django_server, f"{WEBSOCKET}&sid={sid}", f"localhost:{django_server.port}")
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
        ws.send("5")
        ws.send("4still here")
        assert ws.recv() == "4still here"
    finally:
        ws.close()


def test_a_good_host_opens_websocket_sessions(django_server: RunningServer) -> None:
    assert_echoes(upgrade(django_server, WEBSOCKET, f"127.0.0.1:{django_server.port}"))
