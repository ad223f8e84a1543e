"""The contract project (``benchmarks/django_project``) under uvicorn and hypercorn.

daphne and gunicorn run the whole interop suite (``tests/interop``); here each other
ASGI server gets a polling handshake, a WebSocket echo and the upgrade, over real
sockets, with the project's Channels routing.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket
from benchmarks.django_serve import command
from tests.helpers import assert_websocket_echo
from tests.interop.harness import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0



def polling_handshake(port: int) -> str | None:
    """The sid of a new polling session, or ``None`` while the server is not up."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/engine.io/?EIO=4&transport=polling")
        response = connection.getresponse()
        body = response.read().decode()
    except OSError:
        return None
    finally:
        connection.close()
    assert response.status == 200, body
    sid: str = json.loads(body[1:])["sid"]
    return sid


@pytest.fixture(params=["uvicorn", "hypercorn"])
def port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(command(request.param, port), cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while polling_handshake(port) is None:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_websocket_echo_and_upgrade(port: int) -> None:
    assert_websocket_echo(port)
    sid = polling_handshake(port)
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/engine.io/?EIO=4&transport=websocket&sid={sid}", timeout=5)
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
        ws.send("5")
        ws.send("4upgraded")
        assert ws.recv() == "4upgraded"
    finally:
        ws.close()


def test_allowed_hosts_is_enforced(port: int) -> None:
    """The project allows 127.0.0.1 and localhost: ``Host: evil.example`` is refused on the
    polling handshake and the WebSocket upgrade (HTTP 400 through ``websocket.http.response``)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/engine.io/?EIO=4&transport=polling",
                           headers={"Host": "evil.example"})
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (
            400, {"code": 3, "message": "Bad request"})
    finally:
        connection.close()
    sid = polling_handshake(port)  # Host: 127.0.0.1:<port>
    for query in ("", f"&sid={sid}"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(
                f"ws://127.0.0.1:{port}/engine.io/?EIO=4&transport=websocket{query}",
                host="evil.example", timeout=5)
        assert refused.value.status_code == 400
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/engine.io/?EIO=4&transport=websocket&sid={sid}",
        host=f"localhost:{port}", timeout=5)
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
    finally:
        ws.close()


def test_other_websocket_paths_are_refused(port: int) -> None:
    """Not a 500 from Channels' "No route found" (the wire fuzzer sent ``/engine.\\x7fio/``)."""
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://127.0.0.1:{port}/other/", timeout=5)
    assert refused.value.status_code == 403
