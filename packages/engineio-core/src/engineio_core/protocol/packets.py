"""Engine.IO packets: the packet types and the encoding of one packet.

A packet is a type and its data; the data is ``str`` for a text packet and
``bytes`` for a binary one. This module owns the text form (``<type><data>``,
``b<base64>`` for binary in text payloads) and the WebSocket frame form, for
both protocol versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Packet", "PacketType"]


class PacketType(IntEnum):
    """The seven Engine.IO packet types."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


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
