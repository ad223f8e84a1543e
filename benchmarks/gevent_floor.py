"""gevent's WSGI server with no Engine.IO in it: the bound for our gevent app's WebSocket echo.

::

    python -m benchmarks.gevent_floor --port 18050

Not an Engine.IO server: just enough of the protocol for the bench's ``ws_echo``
and ``ws_echo_pipelined`` scenarios, over the same path as ``ours-gevent``
(``benchmarks/run-sync gevent``: ``gevent.pywsgi.WSGIServer``, the WebSocket
taken over on the connection's raw socket from the WSGI environ). The handshake
answer is written by hand, then one green thread per connection reads frames
and writes each text message back as it came (``4...``), one ``send`` per
message: no sessions, no timers, no queues, no second green thread, no
validation beyond what framing needs. What it costs per echo is what gevent
and its socket calls cost; the rest of ours-gevent's time is ours.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import base64  # noqa: E402
import contextlib  # noqa: E402
import errno  # noqa: E402
import hashlib  # noqa: E402
import itertools  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from typing import Any  # noqa: E402

from gevent.pywsgi import WSGIServer  # noqa: E402

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_counter = itertools.count()


def _open_packet() -> bytes:
    interval = int(os.environ.get("EIO_PING_INTERVAL", "25000"))
    timeout = int(os.environ.get("EIO_PING_TIMEOUT", "20000"))
    return (f'0{{"sid":"f{next(_counter):019d}","upgrades":[],"pingInterval":{interval},'
            f'"pingTimeout":{timeout},"maxPayload":1000000}}').encode()


def _frame(opcode: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x80 | opcode, size) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, size) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, size) + payload


def _echo(sock: socket.socket) -> None:
    """Read client frames (masked) and send every text message back unchanged."""
    buffer = b""
    sock.sendall(_frame(1, _open_packet()))
    while True:
        while True:  # parse every complete frame in the buffer
            if len(buffer) < 2:
                break
            opcode, size = buffer[0] & 0x0F, buffer[1] & 0x7F
            start = 2
            if size == 126:
                if len(buffer) < 4:
                    break
                size, start = struct.unpack("!H", buffer[2:4])[0], 4
            elif size == 127:
                if len(buffer) < 10:
                    break
                size, start = struct.unpack("!Q", buffer[2:10])[0], 10
            end = start + 4 + size
            if len(buffer) < end:
                break
            mask = buffer[start:start + 4]
            masked = buffer[start + 4:end]
            buffer = buffer[end:]
            key = (mask * (size // 4 + 1))[:size]
            payload = (int.from_bytes(masked, "big") ^ int.from_bytes(key, "big")).to_bytes(
                size, "big")
            if opcode == 8:  # close
                sock.sendall(_frame(8, payload[:2]))
                return
            if opcode in (1, 2):
                sock.sendall(_frame(opcode, payload))
        data = sock.recv(65536)
        if not data:
            return
        buffer += data


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
        # only the polling handshake the bench's readiness check sends
        body = _open_packet()
        start_response("200 OK", [("Content-Type", "text/plain; charset=UTF-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    sock: socket.socket = environ["wsgi.input"].raw._sock  # gevent's reader of an upgrade
    key = environ["HTTP_SEC_WEBSOCKET_KEY"].encode()
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(OSError):
        _echo(sock)
    # gevent drops a connection that fails with ECONNRESET quietly
    raise ConnectionResetError(errno.ECONNRESET, "WebSocket done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    WSGIServer(("127.0.0.1", args.port), app, log=None, backlog=1024).serve_forever()


if __name__ == "__main__":
    main()
