"""Fixtures of the demo tests: the demo server, started as ``scripts/demo.sh`` starts it."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.interop.harness import RunningServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0


def _page_served(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status == 200 and b"engine.io" in response.read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[RunningServer]:
    """The demo, started the way scripts/demo.sh starts it, on a free port; always stopped."""
    port = free_port()
    command = [sys.executable, "examples/demo/app.py", "--port", str(port)]
    log_path = tmp_path / "demo-server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer("demo", " ".join(command), port, {}, proc, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _page_served(port):
            if not server.alive():
                pytest.fail(f"the demo exited before serving:\n{server.log_tail()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"the demo did not serve / within {START_TIMEOUT} s:\n"
                            f"{server.log_tail()}", pytrace=False)
            time.sleep(0.05)  # polling the port, bounded by the deadline above
        yield server
    finally:
        server.stop()
