"""``flask run`` (Werkzeug's development server) serves WebSockets with quiet, honest
logs (issue 17, item 5): a WebSocket that ends normally is logged once as a 101,
never as a bad request read from the WebSocket's last bytes, and ``--debug`` does
not turn it into a 500 with a traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import engineio
import pytest
from tests.helpers import WAIT, free_port
from tests.interop.harness import wait_listening

REPO = Path(__file__).resolve().parents[2]

APP = """
from flask import Flask
from flask_engineio import FlaskEngineIO

app = Flask(__name__)
eio = FlaskEngineIO(app)

@eio.on("message")
def message(sid, data):
    eio.send(sid, data)
"""


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_websocket_that_ends_normally_logs_nothing_alarming(tmp_path: Path, debug: bool) -> None:
    (tmp_path / "wsapp.py").write_text(APP)
    port = free_port()
    command = [sys.executable, "-m", "flask", "--app", "wsapp", "run", "--port", str(port),
               "--no-reload", *(["--debug"] if debug else [])]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, WAIT * 2)
        for transports in (["websocket"], ["polling", "websocket"]):
            client = engineio.Client()
            echoed: list[object] = []
            client.on("message", echoed.append)
            client.connect(f"http://127.0.0.1:{port}", transports=transports)
            client.send("hi")
            deadline = time.monotonic() + WAIT
            while not echoed and time.monotonic() < deadline:
                time.sleep(0.01)
            assert echoed == ["hi"]
            assert client.transport() == "websocket"
            client.disconnect()
        time.sleep(0.5)  # what Werkzeug logs after the last connection ended
    finally:
        proc.terminate()
        proc.wait(WAIT)
    text = log.read_text(errors="replace")
    websocket_lines = [line for line in text.splitlines() if "transport=websocket" in line]
    assert len(websocket_lines) == 2, text
    assert all('" 101 ' in line for line in websocket_lines), text
    for alarming in ("Bad request", "HTTP/0.9", " 400 ", " 500 ", "Traceback", "Error on request"):
        assert alarming not in text, text
