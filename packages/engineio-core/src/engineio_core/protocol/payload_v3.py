"""Engine.IO v3 polling payloads: length-prefixed text and XHR2 binary.

This module owns both v3 payload framings:

* text, ``<len>:<packet>`` repeated, where ``len`` counts UTF-16 code units
  (JS ``string.length``) and a binary packet is ``b<type><base64>``;
* XHR2 binary, per packet ``0x00`` (string) or ``0x01`` (binary), the
  decimal length as one byte per digit with values 0-9, ``0xFF``, then the
  packet: UTF-8 text, or the type byte followed by the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engineio_core.protocol.errors import ParseError
from engineio_core.protocol.packets import Packet, PacketType, decode_text, encode_text

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "decode_payload",
    "decode_payload_binary",
    "decode_payload_text",
    "encode_payload_binary",
    "encode_payload_text",
    "utf16_len",
]

# Longest accepted length prefix, in digits. Anything longer is past the end
# of any body a server accepts; the cap keeps a hostile prefix from making
# ``find`` scan the whole body or ``int`` work on a huge number.
_MAX_DIGITS = 20
# ASCII digits -> byte values 0-9 (XHR2 length encoding) and back.
_DIGITS_TO_VALUES = bytes.maketrans(b"0123456789", bytes(range(10)))
_VALUES_TO_DIGITS = bytes.maketrans(bytes(range(10)), b"0123456789")
_DIGIT_VALUES = bytes(range(10))
_TYPE_BY_BYTE: tuple[PacketType, ...] = tuple(PacketType)


def utf16_len(s: str) -> int:
    """Return the length of ``s`` in UTF-16 code units, like JS ``s.length``.

    BMP characters count 1, astral (non-BMP) characters count 2.
    """
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) >> 1


def encode_payload_text(packets: Sequence[Packet]) -> str:
    """Encode packets as a v3 text payload.

    Args:
        packets: the packets, in order; binary ones are base64 encoded.

    Returns:
        ``<len>:<packet>`` for each packet, ``len`` in UTF-16 code units;
        ``"0:"`` for no packets.
    """
    if not packets:
        return "0:"
    parts: list[str] = []
    for packet in packets:
        text = encode_text(packet, 3)
        parts.append(f"{utf16_len(text)}:{text}")
    return "".join(parts)


def encode_payload_binary(packets: Sequence[Packet]) -> bytes:
    """Encode packets as a v3 XHR2 binary payload.

    Args:
        packets: the packets, in order.

    Returns:
        For each packet: ``0x00`` and the UTF-8 text form, or ``0x01`` and the
        type byte plus the data; the length (of what follows ``0xFF``) as
        digit bytes 0-9 and ``0xFF`` in between.
    """
    parts: list[bytes] = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            raw = encode_text(packet, 3).encode("utf-8")
            parts += (b"\x00", _length_bytes(len(raw)), b"\xff", raw)
        else:
            parts += (b"\x01", _length_bytes(len(data) + 1), b"\xff", bytes((packet.type,)), data)
    return b"".join(parts)


def _length_bytes(n: int) -> bytes:
    return str(n).encode("ascii").translate(_DIGITS_TO_VALUES)


def _to_text(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return str(body, "utf-8")
    except UnicodeDecodeError:
        raise ParseError("payload is not valid UTF-8") from None


def _parse_length(digits: str) -> int:
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise ParseError(f"invalid length prefix {digits[:_MAX_DIGITS]!r}")
    return int(digits)


def decode_payload_text(body: bytes | str) -> list[Packet]:
    """Decode a v3 text payload.

    Lengths count UTF-16 code units. A zero length (``0:``) carries no packet
    and is skipped, as in JS, so ``"0:"`` decodes to ``[]``. A length prefix
    is one or more ASCII digits (at most 20).

    Args:
        body: the body, raw (UTF-8) or already decoded.

    Returns:
        The packets, in order.

    Raises:
        ParseError: an empty body, invalid UTF-8, a missing ``:``, a
            non-numeric length, a length past the end or ending inside a
            surrogate pair, or a bad packet.
    """
    text = _to_text(body)
    if not text:
        raise ParseError("empty payload")
    if text.isascii():
        return _decode_text_units(text)
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) >> 1 == len(text):  # BMP only: one code unit per code point
        return _decode_text_units(text)
    return _decode_utf16(units)


def _decode_text_units(text: str) -> list[Packet]:
    """Decode a payload whose characters are each one UTF-16 code unit."""
    packets: list[Packet] = []
    end_of_body = len(text)
    pos = 0
    while pos < end_of_body:
        colon = text.find(":", pos, pos + _MAX_DIGITS + 1)
        if colon < 0:
            raise ParseError("missing ':' after length prefix")
        length = _parse_length(text[pos:colon])
        start = colon + 1
        pos = start + length
        if pos > end_of_body:
            raise ParseError("packet length past the end of the payload")
        if length:
            packets.append(decode_text(text[start:pos], 3))
    return packets


def _decode_utf16(units: bytes) -> list[Packet]:
    """Decode a payload given as UTF-16-LE bytes (two bytes per code unit)."""
    packets: list[Packet] = []
    end_of_body = len(units)
    pos = 0
    while pos < end_of_body:
        colon = units.find(b":\x00", pos, pos + 2 * _MAX_DIGITS + 2)
        # An odd offset is a false match across two units: the prefix holds a
        # non-digit unit (digits and ':' have a zero high byte).
        if colon < 0 or (colon - pos) & 1:
            raise ParseError("missing ':' after length prefix")
        length = _parse_length(units[pos:colon].decode("utf-16-le", "replace"))
        start = colon + 2
        pos = start + 2 * length
        if pos > end_of_body:
            raise ParseError("packet length past the end of the payload")
        if length:
            try:
                packet_text = units[start:pos].decode("utf-16-le")
            except UnicodeDecodeError:
                raise ParseError("packet length ends inside a surrogate pair") from None
            packets.append(decode_text(packet_text, 3))
    return packets


def decode_payload_binary(body: bytes) -> list[Packet]:
    """Decode a v3 XHR2 binary payload.

    A string packet is UTF-8 text decoded by
    :func:`~engineio_core.protocol.packets.decode_text`; a binary packet is
    a type byte (0-6) followed by the data.

    Args:
        body: the raw body.

    Returns:
        The packets, in order.

    Raises:
        ParseError: an empty body, a marker byte other than 0 or 1, a length
            that is missing, longer than 20 digits, has a byte above 9 or
            runs past the end, an empty or invalid packet, or invalid UTF-8.
    """
    if not body:
        raise ParseError("empty payload")
    if type(body) is not bytes:
        body = bytes(body)
    packets: list[Packet] = []
    end_of_body = len(body)
    pos = 0
    while pos < end_of_body:
        marker = body[pos]
        if marker > 1:
            raise ParseError(f"invalid packet marker {marker}")
        stop = body.find(b"\xff", pos + 1, pos + _MAX_DIGITS + 2)
        if stop < 0:
            raise ParseError("missing 0xFF after length")
        digits = body[pos + 1 : stop]
        if not digits or digits.translate(None, _DIGIT_VALUES):
            raise ParseError("invalid length")
        length = int(digits.translate(_VALUES_TO_DIGITS))
        start = stop + 1
        pos = start + length
        if pos > end_of_body:
            raise ParseError("packet length past the end of the payload")
        if marker == 0:
            try:
                packet_text = str(body[start:pos], "utf-8")
            except UnicodeDecodeError:
                raise ParseError("string packet is not valid UTF-8") from None
            packets.append(decode_text(packet_text, 3))
        else:
            if not length:
                raise ParseError("empty binary packet")
            code = body[start]
            if code > 6:
                raise ParseError(f"invalid binary packet type {code}")
            packets.append(Packet(_TYPE_BY_BYTE[code], body[start + 1 : pos]))
    return packets


def decode_payload(body: bytes, binary: bool) -> list[Packet]:
    """Decode a v3 polling payload in the framing the request declares.

    Args:
        body: the raw body.
        binary: whether the body is an XHR2 binary payload (POST with
            ``Content-Type: application/octet-stream``).

    Returns:
        The packets, in order.

    Raises:
        ParseError: see :func:`decode_payload_text` and
            :func:`decode_payload_binary`.
    """
    if binary:
        return decode_payload_binary(body)
    return decode_payload_text(body)
