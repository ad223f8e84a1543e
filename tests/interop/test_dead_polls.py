"""A held long-poll GET whose client goes away ends its session at once (issue 14
item 4), on every runtime that can tell: ASGI servers (``http.disconnect``, Django's
Channels consumer too), aiohttp (the transport closing), Tornado (``on_close``),
Sanic (the handler is cancelled) and the WSGI servers that expose the connection's
socket (a zero-byte peek: Werkzeug, gunicorn, eventlet, gevent). The heartbeat is
left at its default (25 s + 20 s), so only the detection can end the session within
the test's bound."""

from __future__ import annotations

import socket
import time

import pytest

from .conftest import ServerPool
from .harness import CountObserver, SilentClient, selected_servers

pytestmark = pytest.mark.interop

# Every server but the JS reference (it does not watch) and uWSGI as we run it: its
# HTTP router keeps its own connection to the worker open when the client goes
# (docs/deployment.md, "uWSGI + gevent"); the worker checks that one.
DETECTING = [name for name in selected_servers()
             if name != "node-engine.io" and "uwsgi" not in name]
BOUND_S = 2.5  # HELD_POLL_WATCH_DELAY (0.5 s) + aiohttp's 1 s check + slack


@pytest.mark.parametrize("held_s", [0.1, 1.0], ids=["dropped-at-once", "dropped-after-1s"])
@pytest.mark.parametrize("name", DETECTING)
def test_a_dropped_held_get_ends_its_session(server_pool: ServerPool, node_ready: str,
                                             name: str, held_s: float) -> None:
    server = server_pool.shared(name, {})
    observer = CountObserver(server.url)
    observer.open()
    try:
        _, count = observer.wait_count(1, timeout=5.0)
        assert count == 1, f"stale sessions on {server.describe()}: {count}"
        client = SilentClient(server.port, 4, "polling")
        client.open()
        assert observer.count() == 2
        poll = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        poll.sendall(f"GET /engine.io/?EIO=4&transport=polling&sid={client.sid} HTTP/1.1\r\n"
                     f"Host: 127.0.0.1:{server.port}\r\n\r\n".encode())
        time.sleep(held_s)  # the scenario: the client holds its GET this long, then vanishes
        poll.settimeout(0)
        with pytest.raises(BlockingIOError):
            poll.recv(1)  # still held: nothing was answered
        poll.close()
        t0 = time.monotonic()
        t_drop, count = observer.wait_count(1, timeout=BOUND_S + 2)
        assert count == 1, f"{name}: the session of a dropped GET still counted after " \
                           f"{t_drop - t0:.2f} s"
        assert t_drop - t0 <= BOUND_S, f"{name}: noticed after {t_drop - t0:.2f} s"
        client.close()
    finally:
        observer.close()
