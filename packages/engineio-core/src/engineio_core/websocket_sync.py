"""A small blocking server-side WebSocket over a raw socket, for WSGI servers.

WSGI has no WebSocket API, but the Werkzeug development server and gunicorn
hand the application the connection's socket. :class:`WebSocket` writes the
``101`` answer itself and then speaks the WebSocket framing with ``wsproto``.
One thread receives (the request's own thread) while any other thread may
send: writes are serialised by a lock, and the ``wsproto`` state by another.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    CloseConnection,
    Event,
    Message,
    Ping,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

from .base_server import MessageTooLarge
from .tcp import reset_on_close
from .websocket_frames import encode_frame

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["WebSocket", "accept_key", "valid_key"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The RFC 6455 magic string appended to ``Sec-WebSocket-Key``."""

CLOSE_NORMAL = 1000
CLOSE_TOO_LARGE = 1009

_READ_SIZE = 16384
"""Bytes asked for per read. Not 64 KiB: each read allocates a buffer of this size that
is then shrunk to what arrived (usually a few bytes), and the 64 KiB holes fragmented
glibc's heap: an eventlet server's RSS grew 7 % over 300,000 WebSocket sessions (1.4 %
with 16 KiB; benchmarks/RESULTS.md, 2026-12-06)."""


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value answering ``Sec-WebSocket-Key`` ``key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_key(key: str | None) -> bool:
    """Whether ``key`` is a well-formed ``Sec-WebSocket-Key`` (base64 of 16 bytes)."""
    if not key:
        return False
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except ValueError:
        return False


def _queued_bytes(sock: Any, request: str) -> int:
    """The byte count the ioctl ``termios.<request>`` reports for ``sock``: a plain
    system call, so it neither blocks nor registers a reader with eventlet's or
    gevent's hub (their green ``select`` would, and refuse a second reader on the
    socket). 0 for a closed socket and where the call is not available (Windows)."""
    try:
        import fcntl
        import termios
    except ImportError:
        return 0
    count = bytearray(4)
    try:
        fcntl.ioctl(sock.fileno(), getattr(termios, request), count)
    except (OSError, ValueError):
        return 0  # closed: nothing more will arrive, nor leave
    return int.from_bytes(count, sys.byteorder)


def _unread_bytes(sock: socket.socket) -> int:
    """How many received bytes wait in ``sock`` (``FIONREAD``)."""
    return _queued_bytes(sock, "FIONREAD")


def unsent_bytes(sock: Any) -> int:
    """Bytes written to ``sock`` that its peer has not read yet (``TIOCOUTQ``, i.e.
    ``SIOCOUTQ``; on a UNIX socket, what the peer process has not taken)."""
    return _queued_bytes(sock, "TIOCOUTQ")


_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)
_BYTES_RECEIVED = 128  # offset of tcpi_bytes_received in Linux's struct tcp_info (4.1+)


def _received(sock: socket.socket) -> int | None:
    """How many bytes have reached ``sock`` since it was connected (read or not);
    ``None`` where the system does not say (not Linux, not TCP)."""
    if _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _BYTES_RECEIVED + 8)
    except (OSError, ValueError):
        return None
    if len(info) < _BYTES_RECEIVED + 8:
        return None
    return int.from_bytes(info[_BYTES_RECEIVED:_BYTES_RECEIVED + 8], sys.byteorder)


class WebSocket:
    """One server-side WebSocket connection on a blocking socket.

    Args:
        sock: the connected socket; the HTTP upgrade request has been read from it.
        key: the request's ``Sec-WebSocket-Key``.
        max_message_size: a message above this many bytes (text counted as UTF-8)
            closes the connection with code 1009 (see :meth:`receive`); ``None`` for
            no limit.
        read: reads up to ``n`` bytes (``b""`` at end of stream). Defaults to
            ``sock.recv``; pass the HTTP server's buffered reader (``read1``) so
            that bytes it already buffered are not lost.
        lock: makes the two locks; pass the backend's (a green lock under eventlet or
            gevent without monkey-patching, where a thread lock would block the hub).
    """

    def __init__(
        self,
        sock: socket.socket,
        key: str,
        *,
        max_message_size: int | None = None,
        read: Callable[[int], bytes] | None = None,
        lock: Callable[[], Any] = threading.Lock,
    ) -> None:
        self._sock = sock
        self._key = key
        self._read = read or sock.recv
        self._max = max_message_size
        self._conn = Connection(ConnectionType.SERVER)
        self._events: deque[Event] = deque()
        self._write_lock = lock()  # one writer at a time: frames stay whole and ordered
        self._proto_lock = lock()  # guards the wsproto state, held only briefly
        self._done = False  # receive() has reported the end
        # Frames send_nowait() could not write at once; they go out before anything else.
        self._kept: list[bytes] = []
        self._peer_close: int | None = None  # the code of the peer's close frame, once read
        self._waiting = False  # receive() waits for bytes from the socket
        # What had been read from the socket before this object (the upgrade request),
        # and what receive() has read since: together, what it has seen of the socket.
        received = _received(sock)
        self._read_before = None if received is None else received - _unread_bytes(sock)
        self._read_total = 0

    def accept(self, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Write the ``101 Switching Protocols`` answer to the upgrade request.

        Args:
            headers: extra response headers.
        """
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_key(self._key)}",
            *(f"{name}: {value}" for name, value in headers),
        ]
        with self._write_lock:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def receive(self) -> str | bytes | None:
        """Block until the next message; ``None`` once the connection is closed or failed.

        Pings are answered and fragmented messages assembled on the way.

        Raises:
            MessageTooLarge: a message grew past ``max_message_size``; the
                connection was closed with 1009 at once, and later calls return ``None``.
        """
        parts: list[str | bytes] = []
        size = 0
        while not self._done:
            while self._events:
                event = self._events.popleft()
                if isinstance(event, Message):
                    data = event.data
                    size += len(data) if not isinstance(data, str) or data.isascii() else len(
                        data.encode()
                    )
                    parts.append(data)
                    if self._max is not None and size > self._max:
                        self._finish(CLOSE_TOO_LARGE)
                        raise MessageTooLarge(f"a message of more than {self._max} bytes")
                    if event.message_finished:
                        if isinstance(event, TextMessage):
                            return "".join(parts)  # type: ignore[arg-type]
                        return b"".join(parts)  # type: ignore[arg-type]
                elif isinstance(event, Ping):
                    self._send_event(event.response())
                elif isinstance(event, CloseConnection):
                    self._finish(event.code)
                    return None
            self._waiting = True
            try:
                data = self._read(_READ_SIZE)
            except OSError:
                data = b""
            self._waiting = False
            self._read_total += len(data)
            if not data:
                self._finish(None)
                return None
            with self._proto_lock:
                try:
                    self._conn.receive_data(data)
                except LocalProtocolError:
                    self._done = True
                    return None
                self._events.extend(self._conn.events())
                if self._peer_close is None and (
                        self._conn.state is ConnectionState.REMOTE_CLOSING):
                    self._peer_close = next(e.code for e in reversed(self._events)
                                            if isinstance(e, CloseConnection))
        return None

    def buffered(self) -> bool:
        """Whether :meth:`receive` has read more off the socket than it returned."""
        return bool(self._events)

    def receive_ready(self) -> str | bytes | None:
        """The next message if it has been read off the socket already, whole, in
        one frame; else ``None`` (:meth:`receive` then waits for it). Never waits;
        for the thread that calls :meth:`receive`."""
        events = self._events
        if not events:
            return None
        event = events[0]
        if not isinstance(event, Message) or not event.message_finished:
            return None
        data = event.data
        if self._max is not None and (
                len(data) if not isinstance(data, str) or data.isascii()
                else len(data.encode())) > self._max:
            return None  # receive() closes the connection
        events.popleft()
        return data  # type: ignore[no-any-return]

    def idle(self) -> bool:
        """Whether :meth:`receive` waits for bytes that have not arrived yet: every
        message that reached the socket has been returned.

        Where the system counts what reached the socket (Linux TCP), that count is
        compared with what :meth:`receive` has read: a read that has taken bytes
        from the socket but not yet returned to Python (its thread waits for the
        GIL) counts as not idle. Elsewhere: no bytes wait in the socket.
        """
        if not self._waiting or self._events:
            return False
        before = self._read_before
        received = None if before is None else _received(self._sock)
        if received is None or before is None:
            return _unread_bytes(self._sock) == 0
        return received <= before + self._read_total

    def send(self, data: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message.

        Raises:
            ConnectionError: the connection is closed or failed.
        """
        if not self._write_data(encode_frame(data)):
            raise ConnectionError("the WebSocket is closed")

    def send_many(self, messages: Iterable[str | bytes]) -> None:
        """Send several messages, in order, in one write.

        Raises:
            ConnectionError: the connection is closed or failed.
        """
        if not self._write_data(b"".join([encode_frame(data) for data in messages])):
            raise ConnectionError("the WebSocket is closed")

    def send_nowait(self, messages: Iterable[str | bytes]) -> bool:
        """Send several messages, in order, without waiting on the socket.

        What the socket does not take at once (its buffer is full, or another
        thread is writing) is kept, and written first by the next send or by
        :meth:`send_kept`.

        Returns:
            ``True`` if everything was written, ``False`` if some of it was kept.

        Raises:
            ConnectionError: the connection is closed or failed.
        """
        data = b"".join([encode_frame(message) for message in messages])
        if self._conn.state is not ConnectionState.OPEN:
            raise ConnectionError("the WebSocket is closed")
        if not self._write_lock.acquire(blocking=False):
            self._keep(data)
            return False
        try:
            if self._kept or self._sock.gettimeout() is not None:
                # A socket with a timeout would wait for room before sending.
                self._keep(data)
                return False
            try:
                sent = self._sock.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._shutdown()
                raise ConnectionError("the WebSocket failed") from None
            if sent < len(data):
                self._keep(data[sent:])
                return False
            return True
        finally:
            self._write_lock.release()

    def kept(self) -> int:
        """How many bytes :meth:`send_nowait` kept that are not written yet."""
        return sum(len(data) for data in self._kept)

    def send_kept(self) -> None:
        """Write what :meth:`send_nowait` kept, waiting on the socket as needed.

        Raises:
            ConnectionError: the connection is closed or failed.
        """
        if self._kept and not self._write_data(b""):
            raise ConnectionError("the WebSocket is closed")

    def close(self, code: int = CLOSE_NORMAL) -> None:
        """Send a close frame with ``code`` (unless one was sent) and shut the socket down.

        Once the peer's close frame has been read, ours is the answer to it and
        echoes its code (RFC 6455, 5.5.1) whatever ``code`` says: the peer may close
        right behind a message, so that the answer to that message cannot be sent.
        The socket is shut down at once rather than after the peer's answer, so
        that a dead peer cannot hold the receiving thread.
        """
        if self._peer_close is not None:
            code = self._peer_close
        try:
            self._send_event(CloseConnection(code=code))
        finally:
            self._shutdown()

    def abort(self) -> None:
        """Drop the connection now, without a close frame and without waiting for a
        blocked write (it fails): the socket is shut down and resets when closed."""
        self._done = True
        reset_on_close(self._sock)
        self._shutdown()

    # ------------------------------------------------------------------ internals
    def _finish(self, code: int | None) -> None:
        """End the connection from the receiving side: answer or send a close, shut down."""
        self._done = True
        # Answer the peer's close, or report a protocol error wsproto found (state OPEN).
        if code is not None and self._conn.state in (ConnectionState.REMOTE_CLOSING,
                                                      ConnectionState.OPEN):
            self._send_event(CloseConnection(code=code))
        self._shutdown()

    def _send_event(self, event: Event) -> bool:
        with self._write_lock:
            with self._proto_lock:
                try:
                    out = self._conn.send(event)
                except LocalProtocolError:
                    return False
            return self._write(out)

    def _write_data(self, frames: bytes) -> bool:
        """Write data frames framed here (no extension is ever negotiated), while open."""
        with self._write_lock:
            if self._conn.state is not ConnectionState.OPEN:
                return False
            return self._write(frames)

    def _keep(self, data: bytes) -> None:
        with self._proto_lock:
            self._kept.append(data)

    def _write(self, out: bytes) -> bool:
        """Write ``out`` after what was kept (the caller holds the write lock)."""
        if self._kept:
            with self._proto_lock:
                out = b"".join([*self._kept, out])
                self._kept.clear()
        try:
            # send() first: one call for the usual small batch (gevent's sendall also
            # asks the kernel for SO_SNDBUF on every call: 13 % of a gevent echo).
            sent = self._sock.send(out)
            if sent < len(out):
                self._sock.sendall(memoryview(out)[sent:])
        except OSError:
            self._shutdown()
            return False
        return True

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
