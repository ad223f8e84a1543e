"""The gevent_uwsgi backend: uWSGI started with ``--gevent N`` (and ``--http-websockets``).

The primitives are gevent's. The WebSocket handshake is uWSGI's own
(``uwsgi.websocket_handshake``); the frames are then read and written on the
request's connection (``uwsgi.connection_fd()``) with wsproto rather than
with ``uwsgi.websocket_recv``/``websocket_send``, because those lose whether a
message was text or binary (Engine.IO needs that) and may only be called from
the request's own greenlet (Engine.IO writes from any greenlet: heartbeats,
broadcasts).

This module imports ``uwsgi``, which exists only inside a uWSGI process.
"""

from __future__ import annotations  # noqa: I001 (uwsgi is imported before gevent on purpose)

import contextlib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import uwsgi  # first: outside uWSGI this fails before gevent is imported

import gevent.socket

from ..websocket_sync import WebSocket, unsent_bytes
from .gevent import GeventBackend

if TYPE_CHECKING:
    from ..protocol.http import Response

__all__ = ["GeventUwsgiBackend", "UwsgiWebSocket", "backend"]


class GeventUwsgiBackend(GeventBackend):
    """gevent's primitives, under uWSGI's gevent loop."""

    name = "gevent_uwsgi"
    kind: Literal["sync"] = "sync"


class UwsgiWebSocket(WebSocket):
    """:class:`~engineio_core.server.SyncWebSocket` for one uWSGI request.

    Args:
        environ: the request's WSGI environ.
        key: its ``Sec-WebSocket-Key``.
        max_message_size: see :class:`~engineio_core.websocket_sync.WebSocket`.
        lock: makes the backend's locks.
    """

    def __init__(self, environ: dict[str, Any], key: str, *, max_message_size: int | None,
                 lock: Callable[[], Any]) -> None:
        sock = gevent.socket.socket(fileno=os.dup(uwsgi.connection_fd()))
        super().__init__(sock, key, max_message_size=max_message_size, lock=lock)
        self._origin = environ.get("HTTP_ORIGIN", "")
        self.refused: Response | None = None

    def accept(self, headers: Any = ()) -> None:
        """Answer the upgrade with uWSGI's handshake."""
        uwsgi.websocket_handshake(self._key, self._origin)

    def wait_delivered(self, timeout: float) -> None:
        """Wait, up to ``timeout`` seconds, until uWSGI's HTTP router has read
        everything written so far (the 101, before the EIO 3 open packet's pause).

        The router relays each read in one write: had it read the 101 and the open
        packet together (it was not scheduled during the pause), the client would
        get them in one write after all."""
        deadline = time.monotonic() + timeout
        while unsent_bytes(self._sock) and time.monotonic() < deadline:
            gevent.sleep(0.0005)

    def refuse(self, response: Response) -> None:
        self.refused = response

    def finish(self) -> Response | None:
        """After the session: the refusal to answer with, or ``None`` (close, release the fd)."""
        if self.refused is None:
            self.close(1000)
        with contextlib.suppress(OSError):
            self._sock.close()
        return self.refused


backend = GeventUwsgiBackend()
