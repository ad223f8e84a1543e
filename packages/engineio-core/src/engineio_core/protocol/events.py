"""What the engine tells the application: message, upgrade, disconnect; and refusals.

A new session is not an event: ``Engine.handle_request`` returns a ``Handshake``
that the runtime accepts or rejects after running the connect handler. A
refused request is not an event either: the engine answers it and records a
:class:`Refusal` (``Engine.refusals_received``) for the runtime to log and report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .http import Request

__all__ = ["Disconnect", "DisconnectReason", "Event", "Message", "Refusal", "Upgraded"]


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


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the server answered with an error (engine.io's ``connection_error``).

    Attributes:
        request: the refused request (``native`` is the framework's own request).
        status: the HTTP status of the answer (400, 403, 413).
        code: the Engine.IO error code in the answer's body (0-5).
        message: the message in the answer's body (``"Bad request"``...).
        context: ``name``, a stable identifier of the cause (``"ORIGIN_NOT_ALLOWED"``,
            ``"HOST_NOT_ALLOWED"``, ``"UNKNOWN_SID"``, ``"TRANSPORT_MISMATCH"``,
            ``"UNSUPPORTED_PROTOCOL_VERSION"``, ``"ALLOW_REQUEST_REFUSED"``,
            ``"CONNECT_REFUSED"``...), and the values involved (``origin``, ``host``,
            ``transport``, ``sid``, ``protocol``, ``method``, ``error``...).
        detail: what went wrong, in words (for logs).
        sid: the session id the request named, or the new session's for a
            refused handshake; ``None`` for a handshake refused before one existed.
    """

    request: Request
    status: int
    code: int
    message: str
    context: Mapping[str, Any]
    detail: str | None = None
    sid: str | None = None

    @property
    def reason(self) -> str:
        """The cause in words: :attr:`detail`, else the context's ``name``."""
        return self.detail or str(self.context.get("name", "refused"))
