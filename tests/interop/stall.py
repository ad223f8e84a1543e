"""Helpers of test_slow_clients.py: a WebSocket peer that stops reading, and a
watcher of the server process (RSS of its process tree, the state of the
server's end of one TCP connection). Linux only: both read /proc."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
#: /proc/net/tcp state codes (include/net/tcp_states.h)
TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING", "0C": "NEW_SYN_RECV",
}


def _recv_exact(sock: socket.socket, buf: bytearray, n: int) -> bytes:
    """The first ``n`` bytes of ``buf`` + the socket (reads only what it needs
    beyond what ``buf`` already holds); removes them from ``buf``."""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"EOF after {len(buf)}/{n} bytes")
        buf += chunk
    out = bytes(buf[:n])
    del buf[:n]
    return out


class StalledWebSocket:
    """A hostile Engine.IO v4 WebSocket peer: a raw socket with a small receive
    buffer that does the upgrade, reads the open packet and then never reads,
    writes or closes again (until ``close()``). Its kernel receive buffer fills
    up, then the server's send buffer: every further byte the server wants to
    send it has to hold itself, or drop the peer."""

    def __init__(self, port: int, rcvbuf: int = 4096) -> None:
        self.port = port
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connect(): the window scale is negotiated in the SYN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(5)
        self.sock = sock
        self.sid = ""
        self.open_packet: dict[str, object] = {}
        self.local_port = 0
        self.opened_at = 0.0  # time.monotonic() of its last read: its last activity

    def open(self) -> None:
        sock = self.sock
        sock.connect(("127.0.0.1", self.port))
        self.local_port = sock.getsockname()[1]
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.port}\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                "\r\n"
            ).encode()
        )
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"EOF during the upgrade response: {bytes(buf)!r}")
            buf += chunk
        end = buf.index(b"\r\n\r\n") + 4
        head = bytes(buf[:end])
        del buf[:end]
        if not head.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101")):
            raise ConnectionError(f"upgrade refused: {head!r}")
        b0, b1 = _recv_exact(sock, buf, 2)
        if b0 & 0x0F != 0x1:
            raise ConnectionError(f"first frame is not text: opcode {b0 & 0x0F}")
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes(_recv_exact(sock, buf, 2), "big")
        elif length == 127:
            length = int.from_bytes(_recv_exact(sock, buf, 8), "big")
        text = _recv_exact(sock, buf, length).decode()
        self.opened_at = time.monotonic()
        if not text.startswith("0{"):
            raise ConnectionError(f"not an open packet: {text!r}")
        self.open_packet = json.loads(text[1:])
        self.sid = str(self.open_packet["sid"])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.setsockopt(  # RST: do not leave the server a FIN to wait for
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        self.sock.close()


# ---------------------------------------------------------------------------
# The server process seen from outside
# ---------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (/proc/PID/task/*/children), as the bench
    driver counts a server that forks workers."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        for task in (PROC / str(p) / "task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return seen


def tree_rss(pid: int) -> int:
    """Resident set size of the process tree, bytes (VmRSS summed)."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in (PROC / str(p) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


@dataclass(frozen=True)
class TcpEnd:
    state: str
    tx_queue: int  # bytes the kernel holds unsent/unacknowledged
    rx_queue: int


def tcp_end(local_port: int, remote_port: int) -> TcpEnd | None:
    """The socket on this host whose local port is ``local_port`` and remote
    port ``remote_port`` (IPv4 or IPv6 table), or None when there is none."""
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
            for line in lines:
                cols = line.split()
                local, remote, state, queues = cols[1], cols[2], cols[3], cols[4]
                if int(local.rsplit(":", 1)[1], 16) != local_port:
                    continue
                if int(remote.rsplit(":", 1)[1], 16) != remote_port:
                    continue
                tx, rx = queues.split(":")
                return TcpEnd(TCP_STATES.get(state, state), int(tx, 16), int(rx, 16))
    return None


@dataclass
class Sample:
    t: float
    rss: int
    server_end: TcpEnd | None


@dataclass
class ServerWatch:
    """Samples the server's tree RSS and the server's end of one connection
    every ``every`` seconds in a thread, from ``start()`` to ``stop()``."""

    pid: int
    server_port: int
    client_port: int
    every: float = 0.05
    samples: list[Sample] = field(default_factory=list)
    #: first sample at which the server's end was no longer ESTABLISHED (closed
    #: or shut down by the server: FIN_WAIT1 with unsent data, or gone)
    closed_at: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sample(self) -> Sample:
        end = tcp_end(self.server_port, self.client_port)
        s = Sample(time.monotonic(), tree_rss(self.pid), end)
        with self._lock:
            self.samples.append(s)
            if self.closed_at is None and (end is None or end.state != "ESTABLISHED"):
                self.closed_at = s.t
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def start(self) -> Sample:
        first = self.sample()
        self._thread = threading.Thread(target=self._run, name="server-watch", daemon=True)
        self._thread.start()
        return first

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def is_closed(self) -> bool:
        with self._lock:
            return self.closed_at is not None

    def peak_rss(self, since: float) -> Sample:
        with self._lock:
            return max((s for s in self.samples if s.t >= since), key=lambda s: s.rss)

    def last(self) -> Sample:
        with self._lock:
            return self.samples[-1]
