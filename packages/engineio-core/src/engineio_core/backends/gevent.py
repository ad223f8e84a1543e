"""The gevent backend: greenlets (``gevent.pywsgi``, gevent-websocket, ``gunicorn -k gevent``).

Start the process with ``gevent.monkey.patch_all()`` (first lines of the app
module) so that the application's own blocking calls yield too; the server
itself only uses gevent's primitives, patched or not.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import gevent
import gevent.event
import gevent.lock

from ..tcp import reset_on_close
from .base import NoLock

if TYPE_CHECKING:
    from ..protocol.http import Response

__all__ = ["GeventBackend", "GeventWebSocket", "backend"]


class GeventBackend:
    """Spawn, sleep and wait with gevent greenlets."""

    name = "gevent"
    kind: Literal["sync"] = "sync"

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return gevent.spawn(fn, *args, **kwargs)

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)

    def event(self) -> Any:
        return gevent.event.Event()

    def lock(self) -> Any:
        return gevent.lock.RLock()

    def state_lock(self) -> NoLock:
        return NoLock()  # green threads switch only where they wait

    def monotonic(self) -> float:
        return time.monotonic()

    def current(self) -> object:
        return gevent.getcurrent()

    def defer(self, fn: Callable[..., Any], *args: Any) -> bool:
        gevent.spawn_raw(fn, *args)
        return True


backend = GeventBackend()


class GeventWebSocket:
    """:class:`~engineio_core.server.SyncWebSocket` over gevent-websocket's ``wsgi.websocket``.

    ``WebSocketHandler`` answers the upgrade before the application runs, so
    :meth:`accept` has nothing left to do and a refusal can only close the socket.
    """

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        handler = getattr(ws, "handler", None)
        self.socket: socket.socket | None = getattr(handler, "socket", None)
        """The connection under gevent-websocket (``None`` if it hides it)."""

    def accept(self) -> None:
        """The handshake is already done."""

    def refuse(self, response: Response) -> None:
        """Too late for an HTTP answer: close with 1008 (policy violation)."""
        self.close(1008)

    def receive(self) -> str | bytes | None:
        try:
            data = self._ws.receive()
        except Exception:
            return None
        if data is None or isinstance(data, str):
            return data
        return bytes(data)

    def send(self, data: str | bytes) -> None:
        self._ws.send(data, binary=not isinstance(data, str))

    def close(self, code: int) -> None:
        ws = self._ws
        if not ws.closed:
            # gevent-websocket's own close() sends no status code: send the frame here.
            with contextlib.suppress(Exception):
                ws.send_frame(struct.pack("!H", code), ws.OPCODE_CLOSE)
            ws.closed = True
        # gevent-websocket leaves the socket open: shut it down so the receiving
        # greenlet wakes up now rather than when the peer answers the close.
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)

    def abort(self) -> None:
        """Drop the connection now: shut the socket down (waking every greenlet that
        waits on it) and have it reset when gevent-websocket closes it."""
        self._ws.closed = True
        reset_on_close(self.socket)
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)
