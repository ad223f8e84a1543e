"""Per-version traits: who pings, and which payload codec a session uses.

Version differences live here, so the engine asks ``traits.server_pings``
instead of testing ``version == 3`` everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import payload_v3, payload_v4
from .errors import ParseError
from .http import OCTET_STREAM, TEXT_PLAIN
from .jsonp import decode_jsonp_body, wrap_jsonp
from .packets import Packet

__all__ = ["TRAITS", "VersionTraits"]


@dataclass(frozen=True, slots=True)
class VersionTraits:
    """What differs between Engine.IO 3 and 4.

    Attributes:
        version: 3 or 4.
        server_pings: v4, the server sends pings; v3, the client does.
        binary_frames_typed: v3 binary WebSocket frames start with the packet type byte.
    """

    version: int
    server_pings: bool
    binary_frames_typed: bool

    def encode_poll(
        self, packets: Sequence[Packet], *, binary_ok: bool, jsonp: str | None
    ) -> tuple[bytes, str]:
        """Encode a GET payload.

        Args:
            packets: the packets to send, in order.
            binary_ok: the client reads XHR2 binary payloads (v3 without ``b64``).
            jsonp: the JSONP callback index, or ``None``.

        Returns:
            The body and its content type.
        """
        if self.version == 4:
            text = payload_v4.encode_payload(packets)
        elif binary_ok and jsonp is None and any(p.binary for p in packets):
            return payload_v3.encode_payload_binary(packets), OCTET_STREAM
        else:
            text = payload_v3.encode_payload_text(packets)
        if jsonp is not None:
            return wrap_jsonp(jsonp, text).encode(), TEXT_PLAIN
        return text.encode(), TEXT_PLAIN

    def decode_poll(self, body: bytes, *, binary: bool, jsonp: bool) -> list[Packet]:
        """Decode a POST body.

        Args:
            body: the complete body.
            binary: the request declared ``application/octet-stream``.
            jsonp: the request is a JSONP form post (``d=...``).

        Raises:
            ParseError: the body is not a valid payload for this version.
        """
        if jsonp:
            text = decode_jsonp_body(body)
            if self.version == 4:
                return payload_v4.decode_payload(text)
            return payload_v3.decode_payload_text(text)
        if self.version == 4:
            if binary:
                raise ParseError("binary POST bodies are not part of Engine.IO 4")
            return payload_v4.decode_payload(body)
        return payload_v3.decode_payload(body, binary)


TRAITS: dict[int, VersionTraits] = {
    4: VersionTraits(version=4, server_pings=True, binary_frames_typed=False),
    3: VersionTraits(version=3, server_pings=False, binary_frames_typed=True),
}
