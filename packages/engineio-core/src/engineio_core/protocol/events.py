"""What the engine tells the application: message, upgrade, disconnect.

A new session is not an event: ``Engine.handle_request`` returns a ``Handshake``
that the runtime accepts or rejects after running the connect handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Disconnect", "DisconnectReason", "Event", "Message", "Upgraded"]


class DisconnectReason(StrEnum):
    """Why a session ended (the strings engine.io uses)."""

    SERVER_DISCONNECT = "server disconnect"
    CLIENT_DISCONNECT = "client disconnect"
    PING_TIMEOUT = "ping timeout"
    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"
    PARSE_ERROR = "parse error"
    SEND_BUFFER_FULL = "send buffer full"
    """More was queued for the client than it read (``max_send_buffer_size``)."""


@dataclass(frozen=True, slots=True)
class Message:
    """A message from the client: ``str`` or ``bytes``."""

    sid: str
    data: str | bytes


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The session moved from polling to WebSocket."""

    sid: str


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The session ended; ``detail`` says more when there is more to say."""

    sid: str
    reason: DisconnectReason
    detail: str | None = None


Event = Message | Upgraded | Disconnect
