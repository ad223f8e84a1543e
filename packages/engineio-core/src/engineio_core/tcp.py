"""TCP socket options the runtimes and framework adapters set (Linux ``TCP_CORK``)."""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

__all__ = ["CORK_AVAILABLE", "abort_transport", "reset_on_close", "set_cork"]

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


def reset_on_close(sock: Any) -> None:
    """Make closing ``sock`` reset the connection (``SO_LINGER`` 0): unsent data is
    discarded at once instead of being kept by the kernel for a peer that does not read."""
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError, ValueError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def abort_transport(transport: Any) -> bool:
    """Reset a transport's connection now (its buffered data is dropped): an asyncio
    transport (``abort()``) or a Twisted one (``abortConnection()``).

    Returns ``False`` when ``transport`` is neither (``None`` included).
    """
    abort = getattr(transport, "abort", None)
    if abort is not None:
        get_extra_info = getattr(transport, "get_extra_info", None)
        if get_extra_info is not None:
            reset_on_close(get_extra_info("socket"))
    else:
        abort = getattr(transport, "abortConnection", None)
        if abort is None:
            return False
        get_handle = getattr(transport, "getHandle", None)
        if get_handle is not None:
            reset_on_close(get_handle())
    abort()
    return True
