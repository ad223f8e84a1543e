"""Engine.IO packets: the packet types and the encoding of one packet.

A packet is a type and its data; the data is ``str`` for a text packet and
``bytes`` for a binary one. This module owns the text form (``<type><data>``,
``b<base64>`` for binary in text payloads) and the WebSocket frame form, for
both protocol versions.

``version`` is the Engine.IO protocol version of the session: ``3`` selects
the v3 forms, any other value the v4 forms.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from engineio_core.protocol.errors import ParseError

__all__ = ["Packet", "PacketType", "decode_text", "decode_ws", "encode_text", "encode_ws"]


class PacketType(IntEnum):
    """The seven Engine.IO packet types."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


# The enum members used below, as module globals (cheaper to look up: see engine.py).
_TYPE_MESSAGE: Final = PacketType.MESSAGE


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet.

    Attributes:
        type: the packet type.
        data: ``str`` for a text packet, ``bytes`` for a binary packet.
    """

    type: PacketType
    data: str | bytes = ""

    @property
    def binary(self) -> bool:
        """Whether the packet carries binary data."""
        return isinstance(self.data, bytes)


# The type digit of each packet type, indexed by type.
_TYPE_CHARS = "0123456"
# Packet type by type digit / by type byte.
_TYPE_BY_CHAR: dict[str, PacketType] = {str(int(t)): t for t in PacketType}
_TYPE_BY_BYTE: tuple[PacketType, ...] = tuple(PacketType)
# Data-less text packets ("2", "3", "6", ...): immutable, so decoded ones are shared.
_EMPTY_BY_CHAR: dict[str, Packet] = {c: Packet(t, "") for c, t in _TYPE_BY_CHAR.items()}


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise ParseError(f"invalid base64 in binary packet: {exc}") from None


def encode_text(packet: Packet, version: int) -> str:
    """Encode a packet in its text form, as it appears in a text payload.

    Args:
        packet: the packet to encode.
        version: the protocol version (3 or 4).

    Returns:
        ``<type><data>`` for a text packet. For a binary packet, ``b<base64>``
        in v4 (the type is implied: always a message) and ``b<type><base64>``
        in v3.
    """
    data = packet.data
    if isinstance(data, str):
        return _TYPE_CHARS[packet.type] + data
    if version == 3:
        return "b" + _TYPE_CHARS[packet.type] + _b64encode(data)
    return "b" + _b64encode(data)


def decode_text(text: str, version: int) -> Packet:
    """Decode the text form of one packet; the inverse of :func:`encode_text`.

    Args:
        text: one packet, without payload framing.
        version: the protocol version (3 or 4).

    Returns:
        The packet. ``b...`` yields a binary packet: a message in v4, the
        packet type given by the character after ``b`` in v3.

    Raises:
        ParseError: empty text, a type character outside ``0``-``6``, or
            invalid (including unpadded) base64.
    """
    head = text[:1]
    if head == "b":
        if version == 3:
            btype = _TYPE_BY_CHAR.get(text[1:2])
            if btype is None:
                raise ParseError(f"invalid binary packet type {text[1:2]!r}")
            return Packet(btype, _b64decode(text[2:]))
        return Packet(_TYPE_MESSAGE, _b64decode(text[1:]))
    if len(text) == 1:
        empty = _EMPTY_BY_CHAR.get(text)
        if empty is None:
            raise ParseError(f"invalid packet type {text!r}")
        return empty
    ptype = _TYPE_BY_CHAR.get(head)
    if ptype is None:
        raise ParseError("empty packet" if not text else f"invalid packet type {head!r}")
    return Packet(ptype, text[1:])


def encode_ws(packet: Packet, version: int, b64: bool = False) -> str | bytes:
    """Encode a packet as one WebSocket frame.

    Args:
        packet: the packet to encode.
        version: the protocol version (3 or 4).
        b64: the client cannot read binary frames, so a binary packet goes
            as a text frame: ``b<type><base64>`` in v3, ``b<base64>`` in v4.

    Returns:
        ``str`` for a text frame, ``bytes`` for a binary frame. A text packet
        is ``<type><data>``. A binary packet is its raw data in v4 (no type
        byte) and the type byte followed by the data in v3.

    Raises:
        ValueError: a v4 binary packet whose type is not MESSAGE (v4 has no
            way to carry it).
    """
    data = packet.data
    if isinstance(data, str):
        return _TYPE_CHARS[packet.type] + data
    if version == 3:
        if b64:
            return "b" + _TYPE_CHARS[packet.type] + _b64encode(data)
        return bytes((packet.type,)) + data
    if packet.type != _TYPE_MESSAGE:
        raise ValueError(f"v4 binary packets are messages, not {packet.type!r}")
    if b64:
        return "b" + _b64encode(data)
    return data


def decode_ws(frame: str | bytes, version: int) -> Packet:
    """Decode one WebSocket frame; the inverse of :func:`encode_ws`.

    Args:
        frame: a text frame (``str``) or a binary frame (bytes-like).
        version: the protocol version (3 or 4).

    Returns:
        The packet. A text frame is decoded by :func:`decode_text`. A binary
        frame is a binary message in v4; in v3 its first byte is the type.

    Raises:
        ParseError: a bad text frame, or in v3 an empty binary frame or a
            type byte outside 0-6.
    """
    if isinstance(frame, str):
        return decode_text(frame, version)
    if type(frame) is not bytes:
        frame = bytes(frame)
    if version != 3:
        return Packet(_TYPE_MESSAGE, frame)
    if not frame:
        raise ParseError("empty binary frame")
    code = frame[0]
    if code > 6:
        raise ParseError(f"invalid binary packet type {code}")
    return Packet(_TYPE_BY_BYTE[code], frame[1:])
