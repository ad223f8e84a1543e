"""Wire fuzzer: seeded malformed HTTP requests and WebSocket frames against a real server.

Every case opens its own TCP connection(s) on plain sockets and sends valid
scaffolding (a real polling session, a real WebSocket handshake) with one
mutation in it: request lines, methods, query strings, headers, chunked bodies,
content types, v3/v4 payloads, bad UTF-8, WebSocket handshakes, opcodes,
reserved bits, masking, fragments, close frames and oversize frames. Meanwhile
two well-behaved python-engineio clients (polling and WebSocket) keep echoing.

A run passes when the server is still alive, never answered 5xx (nor closed a
WebSocket with 1011) to anything the fuzzer sent, both healthy sessions echoed
throughout without a disconnect, and the server's log gained no traceback.

Case ``i`` of seed ``s`` draws from ``random.Random(f"{s}:{i}")``, so one case
can be replayed alone. By hand (long mode)::

    python -m tests.interop.fuzz --server uvicorn --seconds 300 --seed 7
    python -m tests.interop.fuzz --server uvicorn --seed 7 --case 1234    # replay one case
    python -m tests.interop.fuzz --port 8000 --seconds 60                 # a server already up
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import os
import random
import re
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import engineio

from .fuzz_known import THIRD_PARTY, Known
from .harness import RunningServer, _close_sync_client, _session_factory, start_server

__all__ = [
    "FUZZ_ENV",
    "HealthySession",
    "Report",
    "run_case",
    "run_fuzz",
]

#: The server settings of a fuzz run: quick heartbeats (fuzz sessions time out
#: during the run) and a small maxPayload (cheap oversize bodies and frames).
FUZZ_ENV = {"EIO_PING_INTERVAL": "2000", "EIO_PING_TIMEOUT": "5000", "EIO_MAX_PAYLOAD": "100000"}
MAX_PAYLOAD = int(FUZZ_ENV["EIO_MAX_PAYLOAD"])

#: What a traceback (or an unhandled error) looks like in a server's log.
LOG_ERRORS = re.compile(
    r"Traceback \(most recent call last\)|Exception in ASGI application|"
    r"Task exception was never retrieved|Exception in callback|Unhandled exception|"
    r"Error handling request|Internal Server Error|ASGI callable returned without|"
    r"Error in ASGI Framework"
)

HOST = "127.0.0.1"
CRLF = b"\r\n"
PATIENCE = 1.0  # seconds to wait for an answer the server owes us
LINGER = 0.2  # seconds to watch a connection the server may legitimately leave open
KEEP_SENT = 600  # bytes of each case's input kept for the report
KEEP_RECEIVED = 4 << 20
ECHO_TIMEOUT = 5.0  # a healthy session's echo must come back within this

Pairs = list[tuple[bytes, bytes]]
RAW = b"\x00raw"  # a header "name" whose value is sent as the whole line

# ---------------------------------------------------------------------------
# Reading what the server sends
# ---------------------------------------------------------------------------

_STATUS = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})")


@dataclass
class HttpParse:
    """The HTTP responses found at the start of a byte stream."""

    statuses: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    complete: int = 0
    upgraded: bool = False  # a 101: ``rest`` holds the WebSocket bytes after it
    rest: bytes = b""
    garbage: bool = False  # bytes that are no HTTP response


def parse_http(buf: bytes, *, eof: bool, head: bool = False) -> HttpParse:
    """Parse the responses in ``buf`` (a status counts once its header block is in)."""
    out = HttpParse()
    pos, size = 0, len(buf)
    while pos < size:
        if not buf.startswith(b"HTTP/", pos):
            out.garbage = eof or not b"HTTP/".startswith(buf[pos : pos + 5])
            break
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        lines = buf[pos:end].split(b"\r\n")
        match = _STATUS.match(lines[0])
        if match is None:
            out.garbage = True
            break
        status = int(match.group(1))
        out.statuses.append(status)
        fields: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        start = end + 4
        if status == 101:
            out.upgraded = True
            out.complete += 1
            out.rest = buf[start:]
            break
        if 100 <= status < 200:
            pos = start
            continue
        if (head and not out.bodies) or status in (204, 304):
            body, pos = b"", start
        elif b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            found = _dechunk(buf, start)
            if found is None:
                break
            body, pos = found
        elif b"content-length" in fields:
            try:
                length = int(fields[b"content-length"])
            except ValueError:
                out.garbage = True
                break
            if size - start < length:
                break
            body, pos = buf[start : start + length], start + length
        elif eof:
            body, pos = buf[start:], size
        else:
            break
        out.bodies.append(body)
        out.complete += 1
    return out


def _dechunk(buf: bytes, pos: int) -> tuple[bytes, int] | None:
    """A chunked body starting at ``pos``: (body, end), or ``None`` while incomplete."""
    parts: list[bytes] = []
    while True:
        eol = buf.find(CRLF, pos)
        if eol < 0:
            return None
        try:
            length = int(buf[pos:eol].split(b";")[0], 16)
        except ValueError:
            return b"".join(parts), len(buf)
        pos = eol + 2
        if length == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)
            return (b"".join(parts), end + 4) if end >= 0 else None
        if len(buf) < pos + length + 2:
            return None
        parts.append(buf[pos : pos + length])
        pos += length + 2


@dataclass
class Frame:
    fin: bool
    opcode: int
    payload: bytes


def parse_frames(buf: bytes) -> list[Frame]:
    """The complete WebSocket frames at the start of ``buf``."""
    frames: list[Frame] = []
    pos = 0
    while len(buf) - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
        length, at = b1 & 0x7F, pos + 2
        if length == 126:
            if len(buf) < at + 2:
                break
            length = struct.unpack_from("!H", buf, at)[0]
            at += 2
        elif length == 127:
            if len(buf) < at + 8:
                break
            length = struct.unpack_from("!Q", buf, at)[0]
            at += 8
        mask = b""
        if b1 & 0x80:
            mask, at = buf[at : at + 4], at + 4
        if len(buf) < at + length:
            break
        payload = buf[at : at + length]
        if mask:
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        frames.append(Frame(bool(b0 & 0x80), b0 & 0x0F, payload))
        pos = at + length
    return frames


def ws_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
             mask: bytes | None = b"\x00\x00\x00\x00", length: int | None = None,
             form: int | None = None) -> bytes:
    """One client frame; ``length`` declares another length, ``form`` forces 126/127."""
    declared = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | opcode & 0x0F])
    bit = 0x80 if mask is not None else 0
    if form == 127 or (form is None and declared > 0xFFFF):
        head += bytes([bit | 127]) + struct.pack("!Q", declared)
    elif form == 126 or (form is None and declared > 125):
        head += bytes([bit | 126]) + struct.pack("!H", declared & 0xFFFF)
    else:
        head += bytes([bit | declared])
    if mask is None:
        return head + payload
    if mask != b"\x00\x00\x00\x00":
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + mask + payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


# ---------------------------------------------------------------------------
# One connection, one case
# ---------------------------------------------------------------------------


class Wire:
    """A raw TCP connection of a case: what went out, what came back."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.head = False  # the first request was a HEAD
        self.closed = False

    def send(self, data: bytes) -> bool:
        """Send everything; ``False`` once the server stopped taking it."""
        if self.closed:
            return False
        try:
            self.sock.settimeout(PATIENCE)
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def pump(self, done: Callable[[], bool], patience: float = PATIENCE) -> None:
        """Read until ``done()``, the end of the stream, or ``patience`` seconds."""
        deadline = time.monotonic() + patience
        while not self.eof and not self.closed and not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                self.sock.settimeout(left)
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return
            except OSError:
                self.eof = True
                return
            if not chunk:
                self.eof = True
                return
            if len(self.buf) < KEEP_RECEIVED:
                self.buf += chunk

    def http(self) -> HttpParse:
        return parse_http(bytes(self.buf), eof=self.eof, head=self.head)

    def responses(self, count: int = 1, patience: float = PATIENCE) -> HttpParse:
        """Wait for ``count`` complete responses (or a 101, or the end)."""
        self.pump(lambda: (p := self.http()).complete >= count or p.upgraded or p.garbage,
                  patience)
        return self.http()

    def wire_frames(self) -> list[Frame]:
        parsed = self.http()
        return parse_frames(parsed.rest) if parsed.upgraded else []

    def ws_closed(self) -> bool:
        return any(f.opcode == 8 for f in self.wire_frames())

    def wait_frames(self, count: int, patience: float = PATIENCE) -> list[Frame]:
        self.pump(lambda: len(self.wire_frames()) >= count or self.ws_closed(), patience)
        return self.wire_frames()

    def close(self, how: str = "close") -> None:
        """``close``, ``reset`` (RST) or ``shut`` (half-close, then read to the end)."""
        if self.closed:
            return
        with contextlib.suppress(OSError):
            if how == "reset":
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif how == "shut":
                self.sock.shutdown(socket.SHUT_WR)
                self.pump(lambda: False, LINGER)
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


_SID = re.compile(rb'sid\\?"\s*:\s*\\?"([A-Za-z0-9_.~-]+)')


class Case:
    """The context of one case: its random source, its connections, its findings."""

    def __init__(self, port: int, rng: random.Random) -> None:
        self.port = port
        self.rng = rng
        self.wires: list[Wire] = []
        self.sent = bytearray()
        self.name = "?"
        self.connect_errors: list[str] = []

    # -------------------------------------------------------------- plumbing
    def connect(self) -> Wire:
        try:
            sock = socket.create_connection((HOST, self.port), timeout=PATIENCE * 3)
        except OSError as exc:
            self.connect_errors.append(f"{type(exc).__name__}: {exc}")
            sock = socket.socket()
            sock.close()
            wire = Wire(sock)
            wire.closed = True
            return wire
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        wire = Wire(sock)
        self.wires.append(wire)
        return wire

    def send(self, wire: Wire, data: bytes) -> bool:
        room = KEEP_SENT - len(self.sent)
        if room > 0:
            self.sent += data[:room]
        return wire.send(data)

    def host(self) -> bytes:
        return f"{HOST}:{self.port}".encode()

    def finish(self) -> None:
        for wire in self.wires:
            wire.close()

    # -------------------------------------------------------------- requests
    def request(self, method: bytes = b"GET", target: bytes | None = None,
                headers: Pairs | None = None, body: bytes = b"", *,
                version: bytes = b"HTTP/1.1", length: bool = True) -> bytes:
        """A request; ``Host`` first and ``Content-Length`` last unless given or not wanted."""
        head = [method + b" " + (target or query(4)) + (b" " + version if version else b"")]
        pairs = [(b"Host", self.host())] if headers is None else list(headers)
        if length and (body or method in (b"POST", b"PUT", b"PATCH")) and not any(
                k.lower() in (b"content-length", b"transfer-encoding") for k, _ in pairs):
            pairs.append((b"Content-Length", str(len(body)).encode()))
        head += [v if k is RAW else k + b": " + v for k, v in pairs]
        return CRLF.join(head) + CRLF + CRLF + body

    def exchange(self, data: bytes, *, count: int = 1, patience: float = PATIENCE,
                 then: str = "close", head: bool = False) -> HttpParse:
        wire = self.connect()
        wire.head = head
        self.send(wire, data)
        parsed = wire.responses(count, patience)
        wire.close(then)
        return parsed

    def handshake(self, eio: int = 4, extra: bytes = b"") -> str | None:
        """A real polling session (its sid), or ``None`` when the server refused."""
        parsed = self.exchange(self.request(b"GET", query(eio, extra=extra)))
        if not parsed.bodies:
            return None
        found = _SID.search(parsed.bodies[0])
        return found.group(1).decode() if found else None

    def upgrade_headers(self, key: bytes | None = None) -> Pairs:
        key = key or base64.b64encode(self.rng.randbytes(16))
        return [(b"Host", self.host()), (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
                (b"Sec-WebSocket-Key", key), (b"Sec-WebSocket-Version", b"13")]

    def websocket(self, eio: int = 4, sid: str | None = None,
                  headers: Pairs | None = None) -> Wire | None:
        """A real WebSocket (after its open packet when it has no sid), or ``None``."""
        wire = self.connect()
        target = query(eio, b"websocket", sid)
        self.send(wire, self.request(b"GET", target, headers or self.upgrade_headers()))
        if not wire.responses(1).upgraded:
            wire.close()
            return None
        if sid is None:
            wire.wait_frames(1)
        return wire

    def ws_end(self, wire: Wire, how: str = "close-frame") -> None:
        """End a WebSocket: our close frame then wait for the server's, or just drop it."""
        if how == "close-frame":
            self.send(wire, ws_frame(8, close_payload(1000)))
            wire.pump(wire.ws_closed)
        wire.close("reset" if how == "reset" else "close")


def query(eio: int | bytes = 4, transport: bytes = b"polling", sid: str | None = None,
          extra: bytes = b"") -> bytes:
    eio_b = eio if isinstance(eio, bytes) else str(eio).encode()
    target = b"/engine.io/?EIO=" + eio_b + b"&transport=" + transport
    if sid is not None:
        target += b"&sid=" + sid.encode()
    return target + extra


def label(value: bytes | str) -> str:
    """A short printable name for a mutated value."""
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    if len(raw) > 24:
        return f"<{len(raw)} bytes>"
    return repr(raw)[2:-1]


# ---------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------

BAD_UTF8 = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80",
            b"\xf8\x88\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xc3"]
ODD_BYTES = [b"\x00", b"\r", b"\n", b"\x1e", b":", b"%", b"\xff", b" ", b"\t", b"\x7f",
             b'"', b"\\", b"\x1f", b"b", b"4", b"\r\n"]
HUGE = [1000, 8200, 70_000, 300_000]


def mangle(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """One byte-level edit of ``data``."""
    at = rng.randrange(len(data) + 1)
    op = rng.choice(["replace", "insert", "delete", "duplicate", "truncate", "bad-utf8"])
    if op == "replace" and data:
        at = min(at, len(data) - 1)
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :], op
    if op == "insert":
        return data[:at] + rng.choice(ODD_BYTES) + data[at:], op
    if op == "delete" and data:
        at = min(at, len(data) - 1)
        return data[:at] + data[at + 1 :], op
    if op == "duplicate":
        return data[:at] + data[at : at + rng.randint(1, 8)] + data[at:], op
    if op == "truncate":
        return data[:at], op
    return data[:at] + rng.choice(BAD_UTF8) + data[at:], "bad-utf8"


def huge(rng: random.Random, unit: bytes = b"a") -> bytes:
    return unit * (rng.choice(HUGE) // len(unit))


# ----------------------------------------------------------------- request line

METHODS = [b"GET", b"POST", b"OPTIONS", b"HEAD", b"PUT", b"DELETE", b"PATCH", b"TRACE",
           b"CONNECT", b"PRI", b"get", b"Post", b"G\x00T", b"\xffGET", b"", b"BREW",
           b"M-SEARCH", b"GET\tX", b"(GET)", b"X" * 300, b"X" * 9000]
TARGETS = [b"/engine.io?EIO=4&transport=polling", b"*", b"engine.io/?EIO=4&transport=polling",
           b"http://127.0.0.1/engine.io/?EIO=4&transport=polling",
           b"/engine.io/%00?EIO=4&transport=polling", b"/engine.io/../engine.io/?EIO=4",
           b"//engine.io/?EIO=4&transport=polling", b"/engine.io/?EIO=4&transport=polling#x",
           b"/engine.io/\xff\xfe?EIO=4&transport=polling", b"/engine.io/?EIO=4 &transport=polling",
           b"", b"/%", b"/engine.io/%zz?EIO=4", b"/engine.io/x?EIO=4&transport=polling",
           b"/engine.io/?", b"/engine.io/", b"/engine.io/?EIO=4&transport=polling\x00",
           b"/ENGINE.IO/?EIO=4&transport=polling", b"/engine.io/;x?EIO=4&transport=polling"]
VERSIONS = [b"HTTP/1.0", b"", b"HTTP/2.0", b"HTTP/1.2", b"HTTP/9.9", b"http/1.1", b"HTTP/1",
            b"HTTP/1.1 extra", b"HTTP/1.1\x00", b"HTTP/ 1.1", b"HTTP/11", b"ICE/1.0",
            b"HTTP/1.10", b"HTTP/0.9", b"HTTP/3"]


def case_request_line(case: Case) -> str:
    rng = case.rng
    method, target, version, eol = b"GET", query(4, extra=b"&t=rl"), b"HTTP/1.1", CRLF
    part = rng.choice(["method", "method", "target", "target", "version", "version", "eol",
                       "spacing", "blank-lines", "huge-target"])
    value = b""
    if part == "method":
        method = value = rng.choice(METHODS)
    elif part == "target":
        target = value = rng.choice(TARGETS)
    elif part == "huge-target":
        target = value = query(4, extra=b"&t=" + huge(rng))
    elif part == "version":
        version = value = rng.choice(VERSIONS)
    elif part == "eol":
        eol = value = rng.choice([b"\n", b"\r\r\n", b"\n\r", b" \r\n"])
    if part == "spacing":
        value = rng.choice([b"  ", b"\t", b" \x0b "])
        line = method + value + target + b" " + version
    elif part == "blank-lines":
        value = rng.choice([b"\r\n", b"\r\n" * 3, b"\n", b" \r\n"])
        line = value + method + b" " + target + b" " + version
    else:
        line = method + b" " + target + (b" " + version if version else b"")
    heads = [b"Host: " + case.host()]
    if method.upper() in (b"POST", b"PUT", b"PATCH"):
        heads.append(b"Content-Length: 0")
    data = eol.join([line, *heads]) + eol + eol
    case.exchange(data, head=method == b"HEAD")
    return f"request-line/{part}:{label(value)}"


# ----------------------------------------------------------------- query

EIO_VALUES = [b"4", b"3", b"5", b"2", b"1", b"0", b"", b"abc", b"4.0", b"-4", b"+4", b" 4",
              b"%34", b"4%00", b"9" * 30, b"\xff", b"04", b"%D9%A4", b"\xd9\xa4", b"4\x00",
              b"%", b"%2", b"%C2%B2", b"\xc2\xb2", b"\xb2"]
TRANSPORTS = [b"polling", b"websocket", b"", b"POLLING", b"flashsocket", b"xhr-polling",
              b"jsonp-polling", b"webtransport", b"polling\x00", b"%70olling", b"polling%00",
              b"\xff", b"polling,websocket", b"websocket%20", b"p" * 5000]
B64 = [b"1", b"0", b"true", b"", b"x", b"%31", b"11"]
JSONP = [b"0", b"1", b"-1", b"abc", b"9" * 30, b"0;alert(1)", b"", b"%00", b"0x1", b"\xd9\xa4",
         b"1e3", b"00"]
JUNK = [b"&&&", b"=", b"EIO", b"=4", b"EIO=4=4", b"%", b"%%", b"%zz", b"%C3%28", b"+",
        b"a+b=c+d", b";", b"\xff=\xfe", b"%ff%fe=%80", b"&=&=&", b"sid", b"sid=", b"a=%E2%82"]


def case_query(case: Case) -> str:
    rng = case.rng
    eio = rng.choice([b"4", b"3"])
    params: list[tuple[bytes, bytes | None]] = [(b"EIO", eio), (b"transport", b"polling"),
                                                (b"t", b"q%d" % rng.randrange(1000))]
    names: list[str] = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        what = rng.choice(["EIO", "transport", "sid", "sid", "b64", "j", "junk", "drop",
                           "duplicate", "case", "huge", "encode-key", "raw-utf8"])
        value: bytes
        if what == "EIO":
            params[0] = (b"EIO", value := rng.choice(EIO_VALUES))
        elif what == "transport":
            params[1] = (b"transport", value := rng.choice(TRANSPORTS))
        elif what == "sid":
            sid = case.handshake(int(eio)) if rng.random() < 0.6 else None
            choices = [b"", b"%00", b"../", b"\xff", b"null", b"x" * 20, b"A" * 5000]
            if sid:
                raw = sid.encode()
                choices += [raw, raw, raw + b"x", raw[:-1], raw.lower(), raw + b"%00",
                            b"".join(b"%%%02X" % c for c in raw), raw + b"&sid=other"]
            value = rng.choice(choices)
            params.append((b"sid", value))
        elif what == "b64":
            params.append((b"b64", value := rng.choice(B64)))
        elif what == "j":
            params.append((b"j", value := rng.choice(JSONP)))
        elif what == "junk":
            params.insert(rng.randrange(len(params) + 1), (value := rng.choice(JUNK), None))
        elif what == "drop":
            value = params.pop(rng.randrange(len(params)))[0]
        elif what == "duplicate":
            key = rng.choice([b"EIO", b"transport", b"sid", b"j"])
            params.append((key, value := rng.choice([b"3", b"4", b"websocket", b"x", b""])))
        elif what == "case":
            params = [(k.upper() if rng.random() < 0.5 else k.lower(), v) for k, v in params]
            value = b""
        elif what == "huge":
            params.append((b"pad", value := huge(rng)))
        elif what == "encode-key":
            params = [(b"".join(b"%%%02X" % c for c in k), v) for k, v in params]
            value = b""
        else:
            params.append((b"x", value := "é€😀".encode()))
        names.append(f"{what}:{label(value)}")
    target = b"/engine.io/?" + b"&".join(k if v is None else k + b"=" + v for k, v in params)
    method = rng.choice([b"GET", b"GET", b"GET", b"POST", b"OPTIONS"])
    body = {b"POST": b"6" if eio == b"4" else b"1:6"}.get(method, b"")
    headers = [(b"Host", case.host())]
    if method == b"OPTIONS":
        headers.append((b"Origin", b"http://example.com"))
    # A valid sid on a GET is a long-poll: it is answered at the next ping.
    case.exchange(case.request(method, target, headers, body), patience=0.5)
    return f"query/{method.decode()}/" + ",".join(names)


# ----------------------------------------------------------------- headers

CONTENT_LENGTHS = [b"-1", b"abc", b"+5", b"0x5", b" 5 ", b"5, 5", b"5,6", b"9" * 30, b"1e3",
                   b"", b"\xb2", b"\xd9\xa4", b"\xef\xbc\x95", b"5\x00", b"05", b"5.0",
                   b"18446744073709551616", b"1000", b"2"]
TRANSFER_ENCODINGS = [b"chunked, chunked", b"gzip, chunked", b"gzip", b"identity", b"Chunked",
                      b"chunked\x0b", b" chunked", b"xchunked", b"chunked;x=1", b"", b"\xff",
                      b"compress", b"chunked, identity"]
CONTENT_TYPES = [b"application/octet-stream", b"text/plain; charset=latin-1",
                 b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
                 b"multipart/form-data", b"", b"\xff", b"text/plain; charset=\xff",
                 b"application/json", b"text/plain;;;", b"x" * 9000, b"*/*",
                 b"text/plain; charset=utf-16", b"application/octet-stream; charset=utf-8"]
ORIGINS = [b"null", b"http://evil.example", b"", b"\xff\xfe", b"http://a\x00b", b"*",
           b"http://127.0.0.1:1", b"o" * 9000, b"http://\xc3\xa9.example", b"file://"]
COOKIES = [b"io=abc", b"io=", b";;;;=", b"io=a; io=b", b"\xff=\xfe", b"io=" + b"c" * 9000,
           b"=", b"a=\"unterminated"]
ACCEPT_ENCODINGS = [b"gzip;q=abc", b"*", b"deflate", b"br", b"gzip, gzip", b"\xff", b";;;",
                    b"gzip;q=0", b"identity;q=0", b"e" * 9000]


def header_mutation(case: Case, headers: Pairs) -> str:
    """Apply one header mutation to ``headers`` in place; returns its name."""
    rng = case.rng
    what = rng.choice(["duplicate-host", "no-host", "host", "huge-value", "many", "no-colon",
                       "space-before-colon", "obs-fold", "empty-name", "bad-name", "bad-value",
                       "content-length", "content-length", "two-content-lengths",
                       "cl-and-te", "transfer-encoding", "origin", "cookie",
                       "accept-encoding", "content-type", "connection", "upgrade", "expect",
                       "content-encoding", "ac-request-headers", "forwarded"])
    value = b""
    if what == "duplicate-host":
        headers.append((b"Host", value := rng.choice([b"other", case.host(), b""])))
    elif what == "no-host":
        headers[:] = [h for h in headers if h[0].lower() != b"host"]
    elif what == "host":
        headers[0] = (b"Host", value := rng.choice(
            [b"", b"a b", b"\xff", b"[::1", b"127.0.0.1:99999", b"h" * 9000, b"@", b"x:y:z"]))
    elif what == "huge-value":
        headers.append((b"X-Big", value := huge(rng, b"v")))
    elif what == "many":
        count = rng.choice([100, 1000, 5000])
        headers += [(b"X-H%d" % i, b"v") for i in range(count)]
        value = b"%d" % count
    elif what == "no-colon":
        headers.append((RAW, value := rng.choice([b"NoColon", b"X-A b", b"\x00", b"\xff"])))
    elif what == "space-before-colon":
        headers.append((b"X-Space ", value := b"1"))
    elif what == "obs-fold":
        headers.append((b"X-Fold", value := rng.choice([b"a\r\n b", b"a\r\n\tb", b"\r\n c"])))
    elif what == "empty-name":
        headers.append((b"", value := b"x"))
    elif what == "bad-name":
        headers.append((value := rng.choice([b"X Y", b"X\x00", b"()", b"\xff", b"X\x7f", b"@"]),
                        b"1"))
    elif what == "bad-value":
        headers.append((b"X-Val", value := rng.choice(
            [b"a\x00b", b"\x7f", b"\xff\xfe", "é😀".encode(), b" lead", b"trail ", b"a\rb",
             b"a\x0bb", b"a\nb"])))
    elif what == "content-length":
        headers.append((b"Content-Length", value := rng.choice(CONTENT_LENGTHS)))
    elif what == "two-content-lengths":
        headers += [(b"Content-Length", b"5"),
                    (b"Content-Length", value := rng.choice([b"5", b"6", b"0", b"x"]))]
    elif what == "cl-and-te":
        headers += [(b"Content-Length", b"5"), (b"Transfer-Encoding", value := b"chunked")]
    elif what == "transfer-encoding":
        headers.append((b"Transfer-Encoding", value := rng.choice(TRANSFER_ENCODINGS)))
    elif what == "origin":
        headers.append((b"Origin", value := rng.choice(ORIGINS)))
        if rng.random() < 0.3:
            headers.append((b"Origin", b"http://second.example"))
    elif what == "cookie":
        headers.append((b"Cookie", value := rng.choice(COOKIES)))
    elif what == "accept-encoding":
        headers.append((b"Accept-Encoding", value := rng.choice(ACCEPT_ENCODINGS)))
    elif what == "content-type":
        headers.append((b"Content-Type", value := rng.choice(CONTENT_TYPES)))
    elif what == "connection":
        headers.append((b"Connection", value := rng.choice(
            [b"close", b"Upgrade", b"keep-alive, Upgrade", b"\xff", b"upgrade, close", b","])))
    elif what == "upgrade":
        headers += [(b"Connection", b"Upgrade"), (b"Upgrade", value := rng.choice(
            [b"websocket", b"h2c", b"websocket, h2c", b"WebSocket", b"\xff", b""]))]
    elif what == "expect":
        headers.append((b"Expect", value := rng.choice([b"100-continue", b"200-ok", b"\xff"])))
    elif what == "content-encoding":
        headers.append((b"Content-Encoding", value := rng.choice(
            [b"gzip", b"deflate", b"br", b"zstd", b"x-garbage", b"gzip, gzip"])))
    elif what == "ac-request-headers":
        headers.append((b"Access-Control-Request-Headers", value := rng.choice(
            [b"x-a, x-b", b"\xff", b"a" * 9000, "é".encode(), b",,,", b"content-type"])))
        headers.append((b"Origin", b"http://example.com"))
    else:
        headers.append((b"X-Forwarded-For", value := rng.choice(
            [b"\xff", b"1.2.3.4, ::1, garbage", b"f" * 9000])))
    return f"{what}:{label(value)}"


def case_headers(case: Case) -> str:
    rng = case.rng
    kind = rng.choice(["handshake", "post", "post", "preflight", "upgrade"])
    headers: Pairs = [(b"Host", case.host())]
    body, method, target = b"", b"GET", query(4, extra=b"&t=h")
    if kind == "post":
        sid = case.handshake(4)
        method, target, body = b"POST", query(4, sid=sid or "nosid"), b"4hello\x1e4world"
        headers.append((b"Content-Type", b"text/plain;charset=UTF-8"))
    elif kind == "preflight":
        method = b"OPTIONS"
        headers.append((b"Origin", b"http://example.com"))
    elif kind == "upgrade":
        headers = case.upgrade_headers()
        target = query(4, b"websocket")
    name = header_mutation(case, headers)
    wire = case.connect()
    case.send(wire, case.request(method, target, headers, body))
    parsed = wire.responses()
    if parsed.upgraded:
        case.ws_end(wire)
    else:
        wire.close(rng.choice(["close", "shut", "reset"]))
    return f"headers/{kind}/{name}"


# ----------------------------------------------------------------- chunked bodies


def case_chunked(case: Case) -> str:
    rng = case.rng
    sid = case.handshake(4) or "nosid"
    payload = rng.choice([b"4hello\x1e4world", "4€😀".encode(), b"6", b"4" + b"z" * 300])
    chunks = [payload[i : i + 3] for i in range(0, len(payload), 3)]
    parts = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks]
    tail = b"0\r\n\r\n"
    what = rng.choice(["bad-hex", "too-big", "too-small", "no-crlf", "extension", "trailer",
                       "huge-size", "negative", "0x-prefix", "space", "no-last-chunk",
                       "lf-only", "upper-hex", "tiny-chunks", "bad-utf8", "oversize",
                       "garbage-after", "last-chunk-no-crlf"])
    at = rng.randrange(len(parts))
    size, data = b"%x" % len(chunks[at]), chunks[at]
    if what == "bad-hex":
        parts[at] = b"zz\r\n" + data + CRLF
    elif what == "too-big":
        parts[at] = b"%x\r\n" % (len(data) + 5) + data + CRLF
    elif what == "too-small":
        parts[at] = b"%x\r\n" % max(0, len(data) - 1) + data + CRLF
    elif what == "no-crlf":
        parts[at] = size + CRLF + data
    elif what == "extension":
        parts[at] = size + rng.choice([b";a=b", b";", b";\xff", b"; a=\"x\""]) + CRLF + data + CRLF
    elif what == "trailer":
        tail = b"0\r\n" + rng.choice([b"X-T: 1\r\n", b"\xff\r\n", b"Content-Length: 9\r\n"]) + CRLF
    elif what == "huge-size":
        parts[at] = b"f" * rng.choice([8, 16, 40]) + CRLF + data + CRLF
    elif what == "negative":
        parts[at] = b"-" + size + CRLF + data + CRLF
    elif what == "0x-prefix":
        parts[at] = b"0x" + size + CRLF + data + CRLF
    elif what == "space":
        parts[at] = b" " + size + b" " + CRLF + data + CRLF
    elif what == "no-last-chunk":
        tail = b""
    elif what == "lf-only":
        parts = [b"%x\n%s\n" % (len(c), c) for c in chunks]
        tail = b"0\n\n"
    elif what == "upper-hex":
        parts = [b"%X\r\n%s\r\n" % (len(c), c) for c in chunks]
    elif what == "tiny-chunks":
        parts = [b"1\r\n%s\r\n" % payload[i : i + 1] for i in range(len(payload))]
    elif what == "bad-utf8":
        data = b"4" + rng.choice(BAD_UTF8)
        parts = [b"%x\r\n%s\r\n" % (len(data), data)]
    elif what == "oversize":
        data = b"4" + b"o" * (MAX_PAYLOAD + 100)
        parts = [b"%x\r\n%s\r\n" % (len(data), data)]
    elif what == "garbage-after":
        tail += rng.choice([b"garbage", b"\r\n\r\n", b"\x00" * 10])
    else:
        tail = b"0\r\n"
    headers = [(b"Host", case.host()), (b"Content-Type", b"text/plain;charset=UTF-8"),
               (b"Transfer-Encoding", b"chunked")]
    head = case.request(b"POST", query(4, sid=sid), headers, length=False)
    wire = case.connect()
    if case.send(wire, head):
        for part in [*parts, tail]:
            if not case.send(wire, part):
                break
    # Some mutations leave the server waiting for the rest of the body.
    waits = what in ("too-big", "huge-size", "no-last-chunk", "last-chunk-no-crlf", "no-crlf")
    wire.responses(patience=LINGER if waits else PATIENCE)
    wire.close(rng.choice(["close", "shut"]))
    return f"chunked/{what}"


# ----------------------------------------------------------------- payloads

V4_PACKETS = [b"4hello", "4€😀中".encode(), b"6", b"2", b"3", b"bAAEC/w==", b"4", b"4" + b"p" * 200]


def v4_payload_mutation(rng: random.Random) -> tuple[bytes, str]:
    packets = [rng.choice(V4_PACKETS) for _ in range(rng.randint(1, 4))]
    body = b"\x1e".join(packets)
    what = rng.choice(["separator", "type", "control", "base64", "bad-utf8", "nul", "oversize",
                       "at-limit", "many", "mangle", "mangle", "empty", "v3-framing"])
    value = b""
    if what == "separator":
        value = rng.choice([b"\x1e\x1e", b"\x1f", b"\n", b"\x1e\x1e\x1e", b"\r\n"])
        body = value.join(packets) if rng.random() < 0.5 else value + body + value
    elif what == "type":
        value = rng.choice([b"7x", b"8", b"9", b"x", b"\x00", b"-1", b"44", b"0{}", b" 4a"])
        packets.insert(rng.randrange(len(packets) + 1), value)
        body = b"\x1e".join(packets)
    elif what == "control":
        value = rng.choice([b"1", b"5", b"0", b"2probe", b"3probe", b"1x", b"5x"])
        packets.insert(rng.randrange(len(packets) + 1), value)
        body = b"\x1e".join(packets)
    elif what == "base64":
        value = rng.choice([b"b", b"b!!!", b"bAA", b"bA===", b"b\xff", b"b====", b"bAAEC/w=x",
                            b"b" + base64.b64encode(b"x" * 300)[:-1]])
        packets.insert(rng.randrange(len(packets) + 1), value)
        body = b"\x1e".join(packets)
    elif what == "bad-utf8":
        value = rng.choice(BAD_UTF8)
        at = rng.randrange(len(body) + 1)
        body = body[:at] + value + body[at:]
    elif what == "nul":
        body = b"4a\x00b\x1e\x00"
    elif what == "oversize":
        body = b"4" + b"o" * (MAX_PAYLOAD + rng.choice([1, 100, 50_000]))
    elif what == "at-limit":
        body = b"4" + b"l" * (MAX_PAYLOAD - 1)
    elif what == "many":
        body = b"\x1e".join([b"6"] * rng.choice([1000, 20_000]))
    elif what == "mangle":
        body, op = mangle(rng, body)
        what = f"mangle-{op}"
    elif what == "empty":
        body = b""
    else:
        value = rng.choice([b"6:4hello", b"1:6", b"3:4hi3:"])
        body = value
    return body, f"{what}:{label(value)}"


V3_PACKETS: list[tuple[str, bytes]] = [("4hi", b"3:4hi"), ("4€😀", "4:4€😀".encode()),
                                       ("2", b"1:2"), ("6", b"1:6"), ("b4", b"7:b4AAEC"),
                                       ("4", b"1:4")]


def v3_text_mutation(rng: random.Random) -> tuple[bytes, str]:
    items = [rng.choice(V3_PACKETS)[1] for _ in range(rng.randint(1, 3))]
    what = rng.choice(["length+", "length-", "length0", "no-colon", "non-digit", "negative",
                       "huge-length", "leading-zeros", "space", "empty", "colon-only",
                       "truncated", "trailing", "codepoint-count", "bad-utf8", "base64",
                       "mangle", "mangle", "oversize", "control", "type"])
    at = rng.randrange(len(items))
    length, _, packet = items[at].partition(b":")
    value = b""
    if what in ("length+", "length-"):
        delta = rng.randint(1, 4) * (1 if what == "length+" else -1)
        items[at] = b"%d:" % max(0, int(length) + delta) + packet
    elif what == "length0":
        items[at] = b"0:" + packet
    elif what == "no-colon":
        items[at] = length + packet
    elif what == "non-digit":
        value = rng.choice([b"a", b"3a", b"\xb2", b"\xd9\xa4", b"0x3"])
        items[at] = value + b":" + packet
    elif what == "negative":
        items[at] = b"-" + length + b":" + packet
    elif what == "huge-length":
        items[at] = (value := rng.choice([b"9" * 20, b"9" * 400, b"1" + b"0" * 6])) + b":" + packet
    elif what == "leading-zeros":
        items[at] = b"00" + length + b":" + packet
    elif what == "space":
        items[at] = b" " + length + b" :" + packet
    elif what == "empty":
        items = [b""]
    elif what == "colon-only":
        items[at] = value = rng.choice([b":", b"::", b"1:", b"3:"])
    elif what == "truncated":
        items[at] = items[at][: rng.randrange(1, len(items[at]))]
    elif what == "trailing":
        items.append(value := rng.choice([b"x", b"3", b"3:", b"\x1e", b"0"]))
    elif what == "codepoint-count":
        items[at] = "3:4€😀".encode()  # 😀 is two UTF-16 units: the right length is 4
    elif what == "bad-utf8":
        value = rng.choice(BAD_UTF8)
        items[at] = b"%d:4" % (1 + len(value)) + value
    elif what == "base64":
        value = rng.choice([b"b4!!!", b"b4A", b"b", b"b9AAEC", b"bx"])
        items[at] = b"%d:" % len(value) + value
    elif what == "oversize":
        items = [b"%d:4" % (MAX_PAYLOAD + 10) + b"o" * (MAX_PAYLOAD + 9)]
    elif what == "control":
        value = rng.choice([b"1", b"5", b"0", b"2probe", b"1x"])
        items[at] = b"%d:" % len(value) + value
    elif what == "type":
        value = rng.choice([b"7x", b"9", b"x", b"\x00", b""])
        items[at] = b"%d:" % len(value) + value
    else:
        body, op = mangle(rng, b"".join(items))
        return body, f"mangle-{op}"
    return b"".join(items), f"{what}:{label(value)}"


def v3_binary_mutation(rng: random.Random) -> tuple[bytes, str]:
    """The v3 binary payload: per packet a type byte, length digits (bytes 0-9), 0xFF, data."""

    def item(kind: int, data: bytes) -> bytes:
        return bytes([kind]) + bytes(int(d) for d in str(len(data))) + b"\xff" + data

    items = [item(0, b"4hi"), item(1, b"\x04\x00\x01\xff"), item(0, "4€".encode())]
    rng.shuffle(items)
    items = items[: rng.randint(1, 3)]
    what = rng.choice(["digit>9", "no-ff", "length+", "length-", "many-digits", "type",
                       "truncated", "text-bad-utf8", "empty", "mangle", "mangle", "oversize"])
    at = rng.randrange(len(items))
    if what == "digit>9":
        items[at] = items[at][:1] + b"\x0a\x0b" + items[at][2:]
    elif what == "no-ff":
        items[at] = items[at].replace(b"\xff", b"", 1)
    elif what in ("length+", "length-"):
        data = items[at].split(b"\xff", 1)[1]
        fake = max(0, len(data) + (3 if what == "length+" else -2))
        items[at] = items[at][:1] + bytes(int(d) for d in str(fake)) + b"\xff" + data
    elif what == "many-digits":
        items[at] = b"\x00" + b"\x09" * rng.choice([20, 400]) + b"\xff4x"
    elif what == "type":
        items[at] = bytes([rng.choice([2, 9, 0x30, 0xFF])]) + items[at][1:]
    elif what == "truncated":
        items[at] = items[at][: rng.randrange(1, len(items[at]))]
    elif what == "text-bad-utf8":
        items[at] = item(0, b"4" + rng.choice(BAD_UTF8))
    elif what == "empty":
        items = [b""]
    elif what == "oversize":
        items = [item(0, b"4" + b"o" * (MAX_PAYLOAD + 5))]
    else:
        body, op = mangle(rng, b"".join(items))
        return body, f"mangle-{op}"
    return b"".join(items), what


def case_post(case: Case) -> str:
    rng = case.rng
    version = rng.choice(["v4", "v4", "v3", "v3-binary", "v3-jsonp"])
    extra = b"&j=0" if version == "v3-jsonp" else b""
    sid = case.handshake(4 if version == "v4" else 3, extra)
    if sid is None:
        return f"post/{version}/no-session"
    content_type = b"text/plain;charset=UTF-8"
    if version == "v4":
        body, name = v4_payload_mutation(rng)
    elif version == "v3":
        body, name = v3_text_mutation(rng)
    elif version == "v3-binary":
        body, name = v3_binary_mutation(rng)
        content_type = b"application/octet-stream"
    else:
        text, name = v3_text_mutation(rng)
        form = rng.choice(["d=", "d=", "none", "double"])
        encoded = b"".join(bytes([c]) if chr(c).isalnum() else b"%%%02X" % c for c in text)
        if rng.random() < 0.3:
            encoded, op = mangle(rng, encoded)
            name += f"+mangle-{op}"
        body = {"d=": b"d=", "none": b"", "double": b"d=1&d="}[form] + encoded
        name = f"{form}/{name}"
        content_type = b"application/x-www-form-urlencoded"
    if rng.random() < 0.15:
        content_type = rng.choice(CONTENT_TYPES)
        name += f"/content-type:{label(content_type)}"
    headers = [(b"Host", case.host()), (b"Content-Type", content_type)]
    target = query(4 if version == "v4" else 3, sid=sid, extra=extra)
    case.exchange(case.request(b"POST", target, headers, body))
    return f"post/{version}/{name}"


def case_session_misuse(case: Case) -> str:
    """Valid requests in the wrong order or place for a real session."""
    rng = case.rng
    eio = rng.choice([4, 3])
    sid = case.handshake(eio)
    if sid is None:
        return "session/no-session"
    post = b"6" if eio == 4 else b"1:6"
    what = rng.choice(["two-gets", "post-after-close", "concurrent-posts", "get-dropped",
                       "websocket-twice", "poll-after-upgrade", "get-on-closed"])
    headers = [(b"Host", case.host()), (b"Content-Type", b"text/plain;charset=UTF-8")]
    get = case.request(b"GET", query(eio, sid=sid))
    if what == "two-gets":
        first = case.connect()
        case.send(first, get)
        case.exchange(get, patience=0.5)
        first.responses(1, 0.5)
    elif what == "post-after-close":
        case.exchange(case.request(b"POST", query(eio, sid=sid), headers,
                                   b"1" if eio == 4 else b"1:1"))
        case.exchange(case.request(b"POST", query(eio, sid=sid), headers, post))
    elif what == "concurrent-posts":
        wires = [case.connect() for _ in range(3)]
        for wire in wires:
            case.send(wire, case.request(b"POST", query(eio, sid=sid), headers, post * 50))
        for wire in wires:
            wire.responses()
    elif what == "get-dropped":
        wire = case.connect()
        case.send(wire, get)
        wire.pump(lambda: False, 0.05)
        wire.close(rng.choice(["close", "reset"]))
    elif what in ("websocket-twice", "poll-after-upgrade"):
        ws = case.websocket(eio, sid)
        if ws is not None:
            case.send(ws, ws_frame(1, b"2probe"))
            ws.wait_frames(1)
            case.send(ws, ws_frame(1, b"5"))
            if what == "websocket-twice":
                again = case.websocket(eio, sid)
                if again is not None:
                    case.ws_end(again)
            else:
                case.exchange(get, patience=0.5)
                case.exchange(case.request(b"POST", query(eio, sid=sid), headers, post))
            case.ws_end(ws, rng.choice(["close-frame", "close", "reset"]))
    else:
        case.exchange(case.request(b"POST", query(eio, sid=sid), headers,
                                   b"1" if eio == 4 else b"1:1"))
        case.exchange(get, patience=0.5)
    return f"session/v{eio}/{what}"


# ----------------------------------------------------------------- WebSocket


def case_ws_handshake(case: Case) -> str:
    rng = case.rng
    eio = rng.choice([4, 3])
    headers = case.upgrade_headers()
    method, version, transport = b"GET", b"HTTP/1.1", b"websocket"
    body, extra = b"", b""
    what = rng.choice(["version", "key", "key", "upgrade", "connection", "method",
                       "http10", "polling-transport", "plain-get", "bad-eio", "bad-sid",
                       "extensions", "extensions", "protocol", "origin", "body", "two-keys"])
    value = b""

    def set_header(name: bytes, new: bytes | None) -> None:
        headers[:] = [h for h in headers if h[0].lower() != name.lower()]
        if new is not None:
            headers.append((name, new))

    if what == "version":
        set_header(b"Sec-WebSocket-Version", value := rng.choice(
            [b"8", b"", b"13, 8", b"abc", b"99", b" 13", b"013"]))
    elif what == "key":
        value = rng.choice([b"", b"!!!", b"c2hvcnQ=", b"a" * 300, b"\xff" * 24,
                            base64.b64encode(b"x" * 17)])
        set_header(b"Sec-WebSocket-Key", value or None)
    elif what == "upgrade":
        value = rng.choice([b"websocket, h2c", b"WebSocket", b"websockets", b"", b"h2c"])
        set_header(b"Upgrade", value or None)
    elif what == "connection":
        value = rng.choice([b"keep-alive", b"Upgrade, keep-alive", b"", b"close, Upgrade"])
        set_header(b"Connection", value or None)
    elif what == "method":
        method = value = rng.choice([b"POST", b"PUT", b"OPTIONS", b"HEAD"])
        if method == b"POST":
            body = b"6"
    elif what == "http10":
        version = value = b"HTTP/1.0"
    elif what == "polling-transport":
        transport = b"polling"
    elif what == "plain-get":
        headers = [(b"Host", case.host())]
    elif what == "bad-eio":
        extra = b"&EIO=" + (value := rng.choice([b"5", b"x", b""]))
        eio = 9
    elif what == "bad-sid":
        extra = b"&sid=" + (value := rng.choice([b"nope", b"", b"\xff", b"s" * 5000]))
    elif what == "extensions":
        headers.append((b"Sec-WebSocket-Extensions", value := rng.choice(
            [b"permessage-deflate; client_max_window_bits=99", b"permessage-deflate; x=y",
             b"permessage-deflate, permessage-deflate", b"x-garbage", b"\xff", b";;;",
             b"permessage-deflate; server_max_window_bits",
             b"permessage-deflate; client_max_window_bits"])))
    elif what == "protocol":
        headers.append((b"Sec-WebSocket-Protocol", value := rng.choice(
            [b"chat", b"\xff", b",", b"p" * 9000])))
    elif what == "origin":
        headers.append((b"Origin", value := rng.choice(ORIGINS)))
    elif what == "body":
        headers.append((b"Content-Length", b"5"))
        body = value = b"hello"
    else:
        headers.append((b"Sec-WebSocket-Key", value := base64.b64encode(b"y" * 16)))
    target = (b"/engine.io/?EIO=9&transport=websocket" + extra if eio == 9
              else query(eio, transport, extra=extra))
    wire = case.connect()
    wire.head = method == b"HEAD"
    case.send(wire, case.request(method, target, headers, body, version=version))
    parsed = wire.responses()
    if parsed.upgraded:
        wire.wait_frames(1)
        case.send(wire, ws_frame(1, b"4hello"))
        case.ws_end(wire)
    else:
        wire.close()
    return f"ws-handshake/v{eio}/{what}:{label(value)}"


def ws_mutation(case: Case, wire: Wire, eio: int) -> str:
    """Send one bad (or unusual) frame sequence on an open WebSocket."""
    rng = case.rng
    text = b"4hello" if eio == 4 else b"4hi"
    what = rng.choice(["opcode", "rsv", "unmasked", "orphan-continuation", "interleaved-data",
                       "interleaved-ping", "fragmented-control", "big-control", "close-code",
                       "close-1-byte", "close-bad-utf8", "close-long-reason", "oversize",
                       "oversize-fragments", "length-msb", "declared-huge", "non-minimal",
                       "bad-utf8", "bad-utf8-split", "good-utf8-split", "truncated-header",
                       "truncated-payload", "after-close", "random-bytes", "empty-text",
                       "ping-pong", "random-mask", "many-fragments"])
    frames: list[bytes] = []
    end = "close-frame"
    value = ""
    if what == "opcode":
        op = rng.choice([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
        frames = [ws_frame(op, text)]
        value = str(op)
    elif what == "rsv":
        bits = rng.randint(1, 7)
        frames = [ws_frame(rng.choice([1, 2, 9]), text, rsv=bits)]
        value = str(bits)
    elif what == "unmasked":
        frames = [ws_frame(rng.choice([1, 2, 8, 9]), text, mask=None)]
    elif what == "orphan-continuation":
        frames = [ws_frame(0, text, fin=rng.random() < 0.5)]
    elif what == "interleaved-data":
        frames = [ws_frame(1, b"4he", fin=False), ws_frame(rng.choice([1, 2]), b"4x"),
                  ws_frame(0, b"llo")]
    elif what == "interleaved-ping":
        frames = [ws_frame(1, b"4he", fin=False), ws_frame(9, b"p"), ws_frame(0, b"llo")]
    elif what == "fragmented-control":
        frames = [ws_frame(rng.choice([8, 9, 10]), b"ab", fin=False), ws_frame(0, b"cd")]
    elif what == "big-control":
        frames = [ws_frame(rng.choice([8, 9, 10]), b"\x03\xe8" + b"c" * 200)]
    elif what == "close-code":
        code = rng.choice([0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2999, 3000, 4999, 5000,
                           65535])
        frames = [ws_frame(8, close_payload(code))]
        value, end = str(code), "read"
    elif what == "close-1-byte":
        frames, end = [ws_frame(8, b"\x03")], "read"
    elif what == "close-bad-utf8":
        frames, end = [ws_frame(8, close_payload(1000, rng.choice(BAD_UTF8)))], "read"
    elif what == "close-long-reason":
        frames, end = [ws_frame(8, close_payload(1000, b"r" * 124), form=126)], "read"
    elif what == "oversize":
        frames = [ws_frame(rng.choice([1, 2]), b"4" + b"o" * (MAX_PAYLOAD + 100))]
    elif what == "oversize-fragments":
        chunk = b"o" * 30_000
        frames = [ws_frame(1, b"4" + chunk, fin=False)] + [ws_frame(0, chunk, fin=False)] * 4
        frames.append(ws_frame(0, b"end"))
    elif what == "length-msb":
        frames, end = [ws_frame(1, text, length=1 << 63 | len(text), form=127)], "drop"
    elif what == "declared-huge":
        frames, end = [ws_frame(2, b"x" * 10, length=1 << 40)], "drop"
    elif what == "non-minimal":
        frames = [ws_frame(1, text, form=rng.choice([126, 127]))]
    elif what == "bad-utf8":
        value = label(bad := rng.choice(BAD_UTF8))
        frames = [ws_frame(1, b"4" + bad)]
    elif what == "bad-utf8-split":
        frames = [ws_frame(1, b"4\xe2\x82", fin=False), ws_frame(0, b"\x28")]
    elif what == "good-utf8-split":
        frames = [ws_frame(1, b"4\xe2\x82", fin=False), ws_frame(0, b"\xac")]
    elif what == "truncated-header":
        frames, end = [ws_frame(1, text)[: rng.choice([1, 2, 3])]], "drop"
    elif what == "truncated-payload":
        frames, end = [ws_frame(1, text + b"xxxxxx")[:-4]], "drop"
    elif what == "after-close":
        frames = [ws_frame(8, close_payload(1000)), ws_frame(1, text), ws_frame(9, b"")]
        end = "read"
    elif what == "random-bytes":
        frames, end = [rng.randbytes(rng.choice([1, 10, 100, 5000]))], "drop"
    elif what == "empty-text":
        frames = [ws_frame(rng.choice([1, 2]), b"")]
    elif what == "ping-pong":
        frames = [ws_frame(9, b"x" * 125), ws_frame(10, b"unsolicited"), ws_frame(1, text)]
    elif what == "random-mask":
        frames = [ws_frame(1, text, mask=rng.randbytes(4))]
    else:
        frames = [ws_frame(1, b"4", fin=False)] + [ws_frame(0, b"f", fin=False)] * 300
        frames.append(ws_frame(0, b"!"))
    for frame in frames:
        if not case.send(wire, frame):
            break
    if end == "read":
        wire.pump(wire.ws_closed)
        case.ws_end(wire, "close")
    elif end == "drop":
        wire.pump(wire.ws_closed, LINGER)
        case.ws_end(wire, rng.choice(["close", "reset"]))
    else:
        case.ws_end(wire)
    return f"{what}:{value}" if value else what


def ws_engineio_mutation(case: Case, wire: Wire, eio: int) -> str:
    """Valid frames carrying bad Engine.IO packets."""
    rng = case.rng
    value = rng.choice([b"", b"9", b"x", b"0", b"0{}", b"1", b"1x", b"5", b"2probe", b"3probe",
                        b"3", b"6", b"b", b"b!!", b"bAA", b"b4AAEC", b"4" * 3, b"\x00",
                        b"4" + b"m" * (MAX_PAYLOAD - 1), b"4" + b"m" * MAX_PAYLOAD])
    opcode = 1
    if rng.random() < 0.3:
        opcode = 2
        value = rng.choice([b"", b"\x04", b"\x04abc", b"\x00", b"\x01", b"\xff" * 10, b"4hi"])
    case.send(wire, ws_frame(opcode, value))
    case.send(wire, ws_frame(1, b"4after"))
    case.ws_end(wire)
    return f"{'text' if opcode == 1 else 'binary'}:{label(value)}"


def case_ws(case: Case) -> str:
    rng = case.rng
    eio = rng.choice([4, 4, 3])
    upgraded = rng.random() < 0.3
    sid = case.handshake(eio) if upgraded else None
    wire = case.websocket(eio, sid)
    if wire is None:
        return f"ws/v{eio}/not-opened"
    if sid is not None:
        if rng.random() < 0.3:  # mutate the upgrade dance itself
            step = rng.choice([b"5", b"2", b"3probe", b"2probe\x00", b"4early", b"1"])
            case.send(wire, ws_frame(1, step))
            case.ws_end(wire, rng.choice(["close-frame", "reset"]))
            return f"ws/v{eio}/upgrade-dance:{label(step)}"
        case.send(wire, ws_frame(1, b"2probe"))
        wire.wait_frames(1)
        case.send(wire, ws_frame(1, b"5"))
    if rng.random() < 0.3:
        return f"ws/v{eio}/engineio/" + ws_engineio_mutation(case, wire, eio)
    return f"ws/v{eio}/frames/" + ws_mutation(case, wire, eio)


# ----------------------------------------------------------------- garbage


def case_garbage(case: Case) -> str:
    rng = case.rng
    what = rng.choice(["random", "tls-hello", "h2-preface", "crlf", "proxy", "pipelined",
                       "nul", "slow-then-drop"])
    if what == "random":
        data = rng.randbytes(rng.choice([1, 16, 512, 9000]))
    elif what == "tls-hello":
        data = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(40)
    elif what == "h2-preface":
        data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    elif what == "crlf":
        data = b"\r\n" * rng.choice([1, 2, 100])
    elif what == "proxy":
        data = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n" + case.request(b"GET", query(4))
    elif what == "pipelined":
        second, _ = mangle(rng, case.request(b"GET", query(4, extra=b"&t=p2")))
        data = case.request(b"GET", query(4, extra=b"&t=p1")) + second
        case.exchange(data, count=2, patience=0.5)
        return f"garbage/{what}"
    elif what == "nul":
        data = b"\x00" * rng.choice([1, 100, 9000])
    else:
        wire = case.connect()
        case.send(wire, case.request(b"POST", query(4, sid="x"),
                                     [(b"Host", case.host()), (b"Content-Length", b"100")])
                  + b"4part")
        wire.pump(lambda: False, 0.05)
        wire.close(rng.choice(["close", "reset", "shut"]))
        return f"garbage/{what}"
    case.exchange(data, patience=LINGER, then=rng.choice(["close", "shut"]))
    return f"garbage/{what}"


def case_havoc(case: Case) -> str:
    """A valid request (or a WebSocket's first frames) with a few random byte edits."""
    rng = case.rng
    kind = rng.choice(["handshake", "post", "post-v3", "upgrade", "frames"])
    if kind == "frames":
        wire = case.websocket(rng.choice([4, 3]))
        if wire is None:
            return "havoc/frames/not-opened"
        data = b"".join([ws_frame(1, b"4hello", mask=rng.randbytes(4)),
                         ws_frame(2, b"\x01\x02", mask=rng.randbytes(4)),
                         ws_frame(9, b"p"), ws_frame(1, "4é".encode())])
    else:
        wire = case.connect()
        if kind == "handshake":
            data = case.request(b"GET", query(rng.choice([4, 3]), extra=b"&t=hv"))
        elif kind == "upgrade":
            data = case.request(b"GET", query(4, b"websocket"), case.upgrade_headers())
        else:
            eio = 4 if kind == "post" else 3
            sid = case.handshake(eio) or "nosid"
            body = b"4hello\x1e4w" if eio == 4 else b"6:4hello1:6"
            data = case.request(b"POST", query(eio, sid=sid),
                                [(b"Host", case.host()), (b"Content-Type", b"text/plain")], body)
    ops = []
    for _ in range(rng.randint(1, 4)):
        data, op = mangle(rng, data)
        ops.append(op)
    case.send(wire, data)
    if wire.http().upgraded:
        wire.pump(wire.ws_closed, LINGER)
        case.ws_end(wire)
    else:
        wire.responses(patience=0.5)
        wire.close(rng.choice(["close", "shut"]))
    return f"havoc/{kind}/" + ",".join(ops)


CASES: list[tuple[int, Callable[[Case], str]]] = [
    (8, case_havoc),
    (10, case_request_line),
    (14, case_query),
    (16, case_headers),
    (8, case_chunked),
    (22, case_post),
    (6, case_session_misuse),
    (8, case_ws_handshake),
    (22, case_ws),
    (4, case_garbage),
]


# ---------------------------------------------------------------------------
# Running cases
# ---------------------------------------------------------------------------


@dataclass
class Outcome:
    index: int
    name: str
    statuses: list[int]
    close_codes: list[int]
    sent: bytes
    error: str | None = None
    received: list[bytes] = field(default_factory=list)

    def problem(self, known: Iterable[Known] = ()) -> str | None:
        """Why this outcome fails the run, or ``None``."""
        bad = [s for s in self.statuses
               if s >= 500 and not any(k.allows_status(self.sent, s) for k in known)]
        if bad:
            return f"answered {bad}"
        if 1011 in self.close_codes:
            return "closed the WebSocket with 1011 (internal error)"
        if self.error:
            return self.error
        return None


def run_case(port: int, seed: int, index: int) -> Outcome:
    """Run case ``index`` of ``seed`` against the server on ``port``."""
    rng = random.Random(f"{seed}:{index}")
    fn = rng.choices([f for _, f in CASES], weights=[w for w, _ in CASES])[0]
    case = Case(port, rng)
    error = None
    try:
        case.name = fn(case)
    except Exception as exc:  # the fuzzer's own bug: report it, do not hide it
        error = f"fuzzer error {type(exc).__name__}: {exc}"
        case.name = fn.__name__
    finally:
        case.finish()
    statuses: list[int] = []
    codes: list[int] = []
    for wire in case.wires:
        parsed = wire.http()
        statuses += parsed.statuses
        codes += [struct.unpack("!H", f.payload[:2])[0] for f in wire.wire_frames()
                  if f.opcode == 8 and len(f.payload) >= 2]
    if case.connect_errors:
        error = f"could not connect: {case.connect_errors[0]}"
    return Outcome(index, case.name, statuses, codes, bytes(case.sent), error,
                   [bytes(w.buf[:2000]) for w in case.wires])


# ---------------------------------------------------------------------------
# The well-behaved sessions
# ---------------------------------------------------------------------------


class HealthySession:
    """A python-engineio client that keeps echoing while the fuzzer runs."""

    def __init__(self, url: str, transport: str) -> None:
        self.url = url
        self.transport = transport
        self._sessions: list[Any] = []
        self.client = engineio.Client(handle_sigint=False, request_timeout=5,
                                      http_session=_session_factory(self._sessions))
        self.client.on("message", self._on_message)
        self.client.on("disconnect", self._on_disconnect)
        self._cond = threading.Condition()
        self._received: set[str] = set()
        self._stop = threading.Event()
        self._closing = False
        self.problems: list[str] = []
        self.echoes = 0
        self.slowest = 0.0
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"healthy-{transport}")

    def _on_message(self, data: Any) -> None:
        with self._cond:
            self._received.add(str(data))
            self._cond.notify_all()

    def _on_disconnect(self, *args: Any) -> None:
        if not self._closing:
            with self._cond:
                self.problems.append(f"{self.transport}: disconnected ({args[0] if args else '?'})")
                self._cond.notify_all()

    def start(self) -> None:
        self.client.connect(self.url, transports=[self.transport], engineio_path="engine.io")
        self._thread.start()

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            text = f"healthy {self.transport} {n} é€😀"
            started = time.monotonic()
            try:
                self.client.send(text)
            except Exception as exc:
                with self._cond:
                    self.problems.append(f"{self.transport}: send #{n} failed: {exc!r}")
                return
            def echoed(text: str = text) -> bool:
                return text in self._received or bool(self.problems)

            with self._cond:
                if not self._cond.wait_for(echoed, ECHO_TIMEOUT):
                    self.problems.append(
                        f"{self.transport}: no echo of #{n} within {ECHO_TIMEOUT} s")
                if self.problems:
                    return
                self._received.discard(text)
                self.echoes += 1
            self.slowest = max(self.slowest, time.monotonic() - started)
            self._stop.wait(0.05)

    def stop(self) -> list[str]:
        """Stop echoing, disconnect; returns what went wrong meanwhile."""
        self._stop.set()
        self._thread.join(ECHO_TIMEOUT + 2)
        with self._cond:
            problems = list(self.problems)
        if not problems and self.echoes < 2:
            problems.append(f"{self.transport}: only {self.echoes} echoes")
        if not problems and self.client.state != "connected":
            problems.append(f"{self.transport}: client state {self.client.state}")
        self._closing = True
        _close_sync_client(self.client, self._sessions)
        return problems


# ---------------------------------------------------------------------------
# A run
# ---------------------------------------------------------------------------


@dataclass
class Report:
    server: str
    seed: int
    seconds: float
    cases: int = 0
    elapsed: float = 0.0
    categories: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[tuple[Outcome, str]] = field(default_factory=list)
    healthy: list[str] = field(default_factory=list)
    echoes: dict[str, int] = field(default_factory=dict)
    log_errors: list[str] = field(default_factory=list)
    died: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.failures or self.healthy or self.log_errors or self.died)

    def replay(self, index: int | None = None) -> str:
        case = f" --case {index}" if index is not None else f" --seconds {self.seconds:g}"
        return f"python -m tests.interop.fuzz --server {self.server} --seed {self.seed}{case}"

    def summary(self) -> str:
        top = ", ".join(f"{k} {v}" for k, v in sorted(self.categories.items()))
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (f"fuzz {self.server}: seed {self.seed}, {self.cases} cases in "
                f"{self.elapsed:.1f} s ({top}); statuses {{{codes}}}; echoes {self.echoes}")

    def describe(self) -> str:
        lines = [self.summary(), f"reproduce: {self.replay()}"]
        if self.died:
            lines.append(f"server died: {self.died}")
        for outcome, why in self.failures[:10]:
            lines.append(f"case {outcome.index} {outcome.name}: {why}; statuses "
                         f"{outcome.statuses}, closes {outcome.close_codes}; sent "
                         f"{outcome.sent[:300]!r}; replay: {self.replay(outcome.index)}")
        if len(self.failures) > 10:
            lines.append(f"... and {len(self.failures) - 10} more failing cases")
        lines += [f"healthy session: {p}" for p in self.healthy]
        lines += [f"server log {e}" for e in self.log_errors[:5]]
        return "\n".join(lines)


_CONTINUES = re.compile(
    r"^(\s|$|Traceback |During handling |The above exception |"
    r"(transport|protocol|handle|future|task|message|exception): <)")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: |$)")


def _error_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """``(first, end)`` line ranges: each error line with the lines that continue it."""
    blocks: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        if not LOG_ERRORS.search(lines[i]):
            i += 1
            continue
        end = i + 1
        while end < len(lines) and (_CONTINUES.match(lines[end]) or (
                # an exception's own line ends the traceback above it
                lines[end - 1].startswith(" ") and _EXCEPTION_LINE.match(lines[end]))):
            end += 1
        blocks.append((i, end))
        i = end
    return blocks


def _unknown(lines: list[str], blocks: list[tuple[int, int]], known: list[Known]) -> list[str]:
    found: list[str] = []
    for first, end in blocks:
        block = "\n".join(lines[first:end])
        if not any(k.allows_log(block) for k in known):
            found.append(block if end - first <= 40 else "\n".join(lines[first : first + 40])
                         + "\n...")
    return found


def log_errors(text: str, known: Iterable[Known] = ()) -> list[str]:
    """The tracebacks and unhandled errors in a piece of log, each with the lines that
    continue it, less those a ``known`` entry accepts."""
    lines = text.splitlines()
    return _unknown(lines, _error_blocks(lines), list(known))


class _LogWatch:
    """Reads what a server's log gained since the last look."""

    def __init__(self, server: RunningServer | None, known: list[Known]) -> None:
        self.path = server.log_path if server is not None else None
        self.known = known
        self.offset = 0
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.offset = self.path.stat().st_size

    def new_errors(self, *, final: bool = False) -> list[str]:
        """Errors in the whole lines written since the last call. Unless ``final``, a
        block that reaches the end is left for the next call: it may be incomplete."""
        if self.path is None:
            return []
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        raw = data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]  # whole lines only
        lines = [line.decode("utf-8", "replace") for line in raw]
        blocks = _error_blocks(lines)
        keep = len(lines)
        if blocks and blocks[-1][1] == len(lines) and not final:
            keep = blocks.pop()[0]
        self.offset += sum(len(line) + 1 for line in raw[:keep])
        return _unknown(lines, blocks, self.known)


def run_fuzz(port: int, *, seed: int, seconds: float, server: RunningServer | None = None,
             name: str | None = None, cases: Iterable[int] | None = None, jobs: int = 4,
             healthy: bool = True, verbose: bool = False, known: list[Known] | None = None,
             progress: Callable[[str], None] | None = None) -> Report:
    """Fuzz the server on ``port`` for ``seconds`` (or run exactly ``cases``) with ``jobs``
    cases at a time, while two healthy sessions echo; ``known``: the third-party
    misbehaviour to accept (default: ``fuzz_known.THIRD_PARTY[name]``)."""
    label_ = name or (server.name if server is not None else f"port-{port}")
    report = Report(label_, seed, seconds)
    if known is None:
        known = THIRD_PARTY.get(label_, [])
    log = _LogWatch(server, known)
    sessions = [HealthySession(f"http://{HOST}:{port}", t) for t in ("websocket", "polling")]
    if healthy:
        for session in sessions:
            session.start()
    lock = threading.Lock()
    indexes = iter(cases) if cases is not None else itertools.count()
    started = time.monotonic()
    deadline = started + seconds
    stop = threading.Event()

    def record(outcome: Outcome) -> None:
        report.cases += 1
        report.categories[outcome.name.split("/", 1)[0]] += 1
        report.statuses.update(outcome.statuses)
        where = f"case {outcome.index} {outcome.name}"
        if verbose and progress:
            progress(f"{where}: sent {outcome.sent!r}\n  received {outcome.received!r}")
        why = outcome.problem(known)
        if why is not None:
            report.failures.append((outcome, why))
            if progress:
                progress(f"{where}: {why}")
        for error in log.new_errors():
            near = f" (or one of the {jobs - 1} cases beside it)" if jobs > 1 else ""
            report.log_errors.append(f"after {where}{near}:\n{error}")
            if progress:
                progress(report.log_errors[-1])
        if server is not None and not server.alive():
            report.died = (f"exit {server.proc.returncode} after {where}; "
                           f"sent {outcome.sent[:300]!r}")
            stop.set()
        if progress and report.cases % 500 == 0:
            report.elapsed = time.monotonic() - started
            progress(report.summary())

    def work() -> None:
        while not stop.is_set():
            with lock:
                index = next(indexes, None)
            if index is None or (cases is None and time.monotonic() >= deadline):
                return
            outcome = run_case(port, seed, index)
            with lock:
                record(outcome)

    workers = [threading.Thread(target=work, name=f"fuzz-{i}") for i in range(jobs)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        stop.set()
        report.elapsed = time.monotonic() - started
        if healthy:
            for session in sessions:
                report.healthy += session.stop()
                report.echoes[session.transport] = session.echoes
    report.log_errors += [f"at the end:\n{e}" for e in log.new_errors(final=True)]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", help="a name from harness.SERVER_COMMANDS, started here")
    where.add_argument("--port", type=int, help="fuzz a server already listening on 127.0.0.1")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--case", type=int, action="append", help="run only these cases")
    parser.add_argument("--jobs", type=int, default=4, help="cases run at a time (default 4)")
    parser.add_argument("--no-healthy", action="store_true", help="no echoing sessions")
    parser.add_argument("--verbose", action="store_true", help="show what each case received")
    parser.add_argument("--no-known", action="store_true",
                        help="accept nothing of fuzz_known.THIRD_PARTY (to re-check it)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    server = None
    if args.server:
        log = Path(tempfile.mkdtemp(prefix="fuzz-")) / f"{args.server}.log"
        server = start_server(args.server, dict(FUZZ_ENV), log)
        port = server.port
        print(f"started {server.describe()}; log {log}", file=sys.stderr)
    else:
        port = args.port
    try:
        report = run_fuzz(port, seed=seed, seconds=args.seconds, server=server,
                          name=args.server, cases=args.case, jobs=args.jobs,
                          healthy=not args.no_healthy, verbose=args.verbose,
                          known=[] if args.no_known else None,
                          progress=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        if server is not None:
            server.stop()
    print(report.describe())
    return 0 if report.ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
