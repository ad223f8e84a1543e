"""Server-side WebSocket frames, built without a WebSocket library.

Server frames are never masked, and no runtime that uses this negotiates an
extension, so a data frame is a two- to ten-byte header and the payload.
"""

from __future__ import annotations

import struct

__all__ = ["encode_frame"]

_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def encode_frame(data: str | bytes) -> bytes:
    """One unmasked, unfragmented server frame: text for ``str``, binary for ``bytes``."""
    if isinstance(data, str):
        payload, first = data.encode(), 0x81
    else:
        payload, first = data, 0x82
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return _HEADER_16.pack(first, 126, size) + payload
    return _HEADER_64.pack(first, 127, size) + payload
