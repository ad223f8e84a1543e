"""Engine.IO v4 polling payloads: packets joined by the record separator.

This module owns the v4 payload framing: each packet in its text form
(:func:`~engineio_core.protocol.packets.encode_text`) joined with ``\\x1e``.
v4 polling is always text; a binary packet travels as ``b<base64>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engineio_core.protocol.errors import ParseError
from engineio_core.protocol.packets import Packet, decode_text, encode_text

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SEPARATOR", "decode_payload", "encode_payload"]

SEPARATOR = "\x1e"
"""The record separator between two packets of a v4 payload."""


def encode_payload(packets: Sequence[Packet]) -> str:
    """Encode packets as a v4 polling payload.

    A text packet whose data contains ``\\x1e`` cannot be framed in v4; it is
    not checked for (as in JS) and splits into two packets on decoding.

    Args:
        packets: the packets, in order; the server never sends an empty list.

    Returns:
        The text forms of the packets joined with ``\\x1e``.
    """
    if len(packets) == 1:
        return encode_text(packets[0], 4)
    return SEPARATOR.join([encode_text(packet, 4) for packet in packets])


def decode_payload(body: bytes | str) -> list[Packet]:
    """Decode a v4 polling payload (a POST body).

    Args:
        body: the body, raw (UTF-8) or already decoded.

    Returns:
        The packets, in order; at least one.

    Raises:
        ParseError: an empty body, invalid UTF-8, or any bad packet (an empty
            one included); the whole payload is rejected.
    """
    if isinstance(body, str):
        text = body
    else:
        try:
            text = str(body, "utf-8")
        except UnicodeDecodeError:
            raise ParseError("payload is not valid UTF-8") from None
    if not text:
        raise ParseError("empty payload")
    if SEPARATOR not in text:
        return [decode_text(text, 4)]
    return [decode_text(part, 4) for part in text.split(SEPARATOR)]
