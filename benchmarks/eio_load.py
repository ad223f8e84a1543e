"""Pieces shared by ``benchmarks/cycles.py`` and ``benchmarks/shutdown_time.py``.

* starting a contract server by its name in ``tests/interop/harness.py``
  ``SERVER_COMMANDS`` (same command templates, random free port, own process group);
* the resident memory of a server's process tree (``/proc``, no psutil needed);
* a minimal raw-socket Engine.IO client on asyncio: one HTTP/1.1 keep-alive
  connection (:class:`Http`) and one WebSocket (:class:`Ws`, client frames
  masked with an all-zero key, as the shared bench's load generator does).

This is a load tool, not a conformance client: it speaks just enough of the
protocol (EIO 3 and 4, text packets) to open, echo and close sessions fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import struct
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.interop.harness import (  # noqa: E402
    RunningServer,
    all_server_commands,
    start_server,
)

SERVER_COMMANDS = all_server_commands()
"""The harness's ``SERVER_COMMANDS`` plus ``INTEROP_EXTRA_SERVERS`` (a JSON object
name -> command template), e.g. a variant with other server options."""

__all__ = [
    "SERVER_COMMANDS",
    "Http",
    "RunningServer",
    "Ws",
    "count_sessions",
    "decode_payload",
    "eio_path",
    "process_tree",
    "rss_kib",
    "start_server",
    "use_uvloop",
]

HOST = "127.0.0.1"


def use_uvloop() -> str:
    """Install uvloop's event loop policy when available; returns the loop's name."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (``/proc/PID/task/*/children``), parents first."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop(0)
        if current in found:
            continue
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError), open(
                    f"/proc/{current}/task/{task}/children"
                ) as f:
                    todo.extend(int(child) for child in f.read().split())
    return found


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> dict[int, int]:
    """VmRSS (KiB) of ``pid`` and each of its descendants."""
    return {p: rss_kib(p) for p in process_tree(pid)}


def process_name(pid: int) -> str:
    """The command line of a process, shortened."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            parts = f.read().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(p.decode(errors="replace") for p in parts if p)
    return text if len(text) <= 90 else text[:87] + "..."


# ---------------------------------------------------------------------------
# Engine.IO payloads
# ---------------------------------------------------------------------------


def eio_path(eio: int, transport: str, sid: str | None = None) -> str:
    """The request target of an Engine.IO request (v3 asks for text payloads: ``b64=1``)."""
    target = f"/engine.io/?EIO={eio}&transport={transport}"
    if eio == 3 and transport == "polling":
        target += "&b64=1"
    if sid is not None:
        target += "&sid=" + sid
    return target


_V3_LENGTH = re.compile(r"(\d+):")


def decode_payload(eio: int, body: bytes) -> list[str]:
    """The packets of a polling response (text packets only)."""
    text = body.decode("utf-8", "replace")
    if eio == 4:
        return text.split("\x1e") if text else []
    packets: list[str] = []
    pos = 0
    while pos < len(text):
        match = _V3_LENGTH.match(text, pos)
        if match is None:
            raise ValueError(f"bad v3 payload {text[pos:pos + 40]!r}")
        length = int(match.group(1))
        start = match.end()
        if length:
            packets.append(text[start:start + length])
        pos = start + length
    return packets


def encode_payload(eio: int, packets: list[str]) -> bytes:
    """A polling POST body carrying ``packets``."""
    if eio == 4:
        return "\x1e".join(packets).encode()
    return "".join(f"{len(p)}:{p}" for p in packets).encode()


def open_packet(packet: str) -> dict[str, Any]:
    """The handshake data of an open packet ``0{...}``."""
    if not packet.startswith("0{"):
        raise ValueError(f"expected an open packet, got {packet[:60]!r}")
    data: dict[str, Any] = json.loads(packet[1:])
    return data


# ---------------------------------------------------------------------------
# HTTP/1.1 keep-alive connection
# ---------------------------------------------------------------------------


class Http:
    """One keep-alive HTTP/1.1 connection, one request at a time (a new connection after
    a response with ``Connection: close``, as Werkzeug's server sends)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 port: int) -> None:
        self.reader = reader
        self.writer = writer
        self.port = port
        self.host = f"{HOST}:{port}".encode()
        self.must_reconnect = False

    @classmethod
    async def connect(cls, port: int) -> Http:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        return cls(reader, writer, port)

    async def send_request(self, method: str, target: str, body: bytes | None = None) -> None:
        """Write a request (on a new connection if the server closes this one)."""
        if self.must_reconnect:
            self.close()
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port,
                                                                     limit=1 << 20)
            self.must_reconnect = False
        head = [f"{method} {target} HTTP/1.1".encode(), b"Host: " + self.host]
        if body is not None:
            head.append(b"Content-Type: text/plain;charset=UTF-8")
            head.append(b"Content-Length: " + str(len(body)).encode())
        self.writer.write(b"\r\n".join(head) + b"\r\n\r\n" + (body or b""))

    async def request(self, method: str, target: str, body: bytes | None = None
                      ) -> tuple[int, bytes]:
        """Send a request; returns (status, body). Raises ``ConnectionError`` on EOF."""
        await self.send_request(method, target, body)
        return await self.response()

    async def response(self) -> tuple[int, bytes]:
        """Read one response: (status, body)."""
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise ConnectionError("connection closed before a response") from exc
        lines = raw.split(b"\r\n")
        status = int(lines[0][9:12])
        length = -1
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                self.must_reconnect = True
        try:
            if chunked:
                parts = []
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        await self.reader.readuntil(b"\r\n")
                        break
                    parts.append(await self.reader.readexactly(size + 2))
                return status, b"".join(p[:-2] for p in parts)
            if length >= 0:
                return status, await self.reader.readexactly(length)
            return status, await self.reader.read()
        except asyncio.IncompleteReadError as exc:
            raise ConnectionError("connection closed inside a response") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


# ---------------------------------------------------------------------------
# WebSocket
# ---------------------------------------------------------------------------

_UPGRADE = (
    "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def frame(opcode: int, payload: bytes) -> bytes:
    """A complete masked client frame with an all-zero masking key (payload sent as is)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return header + b"\0\0\0\0" + payload


CLOSE_1000 = frame(8, b"\x03\xe8")


class Ws:
    """One client WebSocket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.close_sent = False

    @classmethod
    async def connect(cls, port: int, target: str) -> Ws:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        writer.write(_UPGRADE.format(target=target, host=f"{HOST}:{port}").encode())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            writer.close()
            raise ConnectionError("connection closed before the upgrade answer") from exc
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise ConnectionError(f"upgrade refused: {head[:60]!r}")
        return cls(reader, writer)

    def send_text(self, text: str) -> None:
        self.writer.write(frame(1, text.encode()))

    def send_close(self) -> None:
        if not self.close_sent:
            self.close_sent = True
            self.writer.write(CLOSE_1000)

    async def recv(self) -> tuple[int, bytes]:
        """The next data or close frame: (opcode, payload); answers pings.
        Raises ``ConnectionError`` on EOF."""
        reader = self.reader
        try:
            while True:
                b0, b1 = await reader.readexactly(2)
                length = b1 & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await reader.readexactly(8))
                payload = await reader.readexactly(length) if length else b""
                opcode = b0 & 0x0F
                if opcode == 9:
                    self.writer.write(frame(10, payload))
                    continue
                if opcode == 10:
                    continue
                return opcode, payload
        except asyncio.IncompleteReadError as exc:
            raise ConnectionError("connection closed") from exc

    async def recv_text(self) -> str:
        """The next text frame; ``ConnectionError`` on a close frame or EOF."""
        opcode, payload = await self.recv()
        if opcode == 8:
            raise ConnectionError(f"close frame {payload[:2].hex()}")
        return payload.decode("utf-8", "replace")

    async def wait_closed(self) -> int | None:
        """Read until the server closes: answers its close frame, waits for EOF.
        Returns the server's close code (``None``: EOF without a close frame)."""
        code: int | None = None
        try:
            while True:
                opcode, payload = await self.recv()
                if opcode == 8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self.send_close()
                    break
        except ConnectionError:
            return code
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError, OSError):
            await asyncio.wait_for(self.reader.read(), 2)
        return code

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


async def count_sessions(port: int, eio: int = 4) -> int:
    """``cmd:count`` over a fresh WebSocket session (which counts itself), then close it."""
    ws = await Ws.connect(port, eio_path(eio, "websocket"))
    try:
        open_packet(await ws.recv_text())
        ws.send_text("4cmd:count")
        while True:
            packet = await ws.recv_text()
            if packet.startswith("4count:"):
                count = int(packet[7:])
                break
        ws.send_text("1")
        await asyncio.wait_for(ws.wait_closed(), 5)
    finally:
        ws.close()
    return count
