"""A WebSocket-only EIO 3 session's open packet reaches a client that listens for
messages only once its socket is open (issue 14 item 6).

node's ``ws`` emits ``open`` and the first message in one tick when the 101 and
the open packet arrive in one read; the official v3 suite attaches its
``message`` listener after ``open`` and then waits forever (EIO 3 servers do
not ping). The server leaves :data:`~engineio_core.base_server.V3_WEBSOCKET_OPEN_DELAY`
between the two; without it this test loses the open packet in most connections
(measured: 16-20 of 20 on uvicorn, aiohttp, gevent and uWSGI).

The pause cannot be a guarantee: a client that is not scheduled for longer than
the pause reads both at once whatever the server did (measured with three CPU
burners on two cores: up to 5 of 20 on direct servers, 8 of 20 through nginx; 1
of 20 once in CI). So the test allows a quarter of the connections to miss: a
server without the pause still fails it by far.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from .harness import JS_DIR, RunningServer, node_binary, skip_on_js_reference

pytestmark = pytest.mark.interop

CONNECTIONS = 20
ALLOWED_MISSES = CONNECTIONS // 4  # a client not scheduled during the pause (above)


def test_the_open_packet_follows_the_101_in_a_read_of_its_own(
        server: RunningServer, node_ready: str) -> None:
    skip_on_js_reference(server, "engine.io 6 writes the open packet with the 101 "
                                 "(the suite's listener misses it in about 1 connection of 3)")
    url = f"ws://127.0.0.1:{server.port}/engine.io/?EIO=3&transport=websocket"
    done = subprocess.run([node_binary(), str(JS_DIR / "open_listener.js"), url,
                           str(CONNECTIONS), "1000"], cwd=JS_DIR, capture_output=True,
                          text=True, timeout=60, check=True)
    first = json.loads(done.stdout.strip().split("\n")[-1])["first"]
    missed = sum(1 for message in first if message is None)
    assert missed <= ALLOWED_MISSES, (
        f"{server.describe()}: open packet missed in {missed} of {len(first)}")
    assert all(message.startswith('0{"sid":') for message in first if message), first
