"""TCP socket options the runtimes and framework adapters set (Linux ``TCP_CORK``)."""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["CORK_AVAILABLE", "set_cork"]

_CORK: int | None = getattr(socket, "TCP_CORK", None)

CORK_AVAILABLE = _CORK is not None
"""Whether this platform has ``TCP_CORK`` (Linux)."""


def set_cork(sock: Any, on: bool) -> bool:
    """Cork (hold partial segments) or uncork (send what is held) a TCP socket.

    While corked, small writes collect in the kernel and leave as full segments
    when uncorked: one transmit for a burst of WebSocket frames instead of one
    per frame. Returns ``False`` when the socket cannot be corked (no
    ``TCP_CORK`` on this platform, not TCP, closed); nothing else happens then.
    """
    if _CORK is None or sock is None:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _CORK, 1 if on else 0)
    except (OSError, AttributeError):
        return False
    return True
