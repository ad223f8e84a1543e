"""python-engineio on Werkzeug's threaded server: the anchor for our werkzeug runtime.

The shared bench has no python-engineio anchor on Werkzeug, so this one obeys
``../shared/bench/CONTRACT.md`` with python-engineio's own threading mode
(``Server(async_mode="threading")`` + ``WSGIApp``), the way its users deploy
it. python-engineio is a test-only peer: only this benchmark script imports it.

    .venv/bin/python benchmarks/pyeio_werkzeug.py PORT
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from typing import Any

import engineio
from werkzeug.serving import make_server


def main() -> None:
    """Serve the contract app on 127.0.0.1:PORT until SIGTERM."""
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "18050"))
    eio: Any = engineio.Server(
        async_mode="threading",
        ping_interval=int(os.environ.get("EIO_PING_INTERVAL", "25000")) / 1000,
        ping_timeout=int(os.environ.get("EIO_PING_TIMEOUT", "20000")) / 1000,
        max_http_buffer_size=int(os.environ.get("EIO_MAX_PAYLOAD", "1000000")),
        cors_allowed_origins="*",
    )
    clients: set[str] = set()

    def connect(sid: str, environ: dict[str, Any]) -> None:
        clients.add(sid)

    def disconnect(sid: str, reason: Any = None) -> None:
        clients.discard(sid)

    def message(sid: str, data: str | bytes) -> None:
        if isinstance(data, str) and data.startswith("cmd:"):
            if data.startswith("cmd:broadcast:"):
                for other in list(clients):
                    with contextlib.suppress(Exception):  # a client that left meanwhile
                        eio.send(other, data[len("cmd:broadcast:"):])
                return
            if data == "cmd:count":
                eio.send(sid, f"count:{len(clients)}")
                return
            if data == "cmd:close":
                eio.disconnect(sid)
                return
            ms = data[len("cmd:sleep:"):] if data.startswith("cmd:sleep:") else ""
            if ms.isascii() and ms.isdigit():
                eio.sleep(int(ms) / 1000)  # the handler itself waits (blocks its thread)
                eio.send(sid, f"slept:{ms}")
                return
        eio.send(sid, data)

    eio.on("connect", connect)
    eio.on("disconnect", disconnect)
    eio.on("message", message)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log
    server = make_server("127.0.0.1", port, engineio.WSGIApp(eio), threaded=True)
    server.socket.listen(1024)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
