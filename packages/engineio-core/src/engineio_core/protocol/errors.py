"""The exception hierarchy of engineio-core.

Every error raised by the library derives from :class:`EngineIOError`.
Protocol errors carry the Engine.IO wire code (0-5) and the HTTP status that
answers them, so a runtime can turn any of them into a response without a
lookup table of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "BadHandshakeMethod",
    "BadRequest",
    "ClusterUnavailable",
    "ConfigError",
    "EngineIOError",
    "Forbidden",
    "ParseError",
    "PayloadTooLarge",
    "ProtocolError",
    "SessionUnknown",
    "TransportUnknown",
    "UnsupportedProtocolVersion",
]


class EngineIOError(Exception):
    """Root of every exception raised by engineio-core."""


class ConfigError(EngineIOError, ValueError):
    """An unknown, mistyped or out-of-range server option."""


class ServerNotFound(EngineIOError, LookupError, RuntimeError):
    """A framework package's ``get_server`` found no server: its setup step was not
    run for that application. The same type in every package (a ``LookupError``
    and, as the first releases raised, a ``RuntimeError``)."""


class ParseError(EngineIOError, ValueError):
    """A packet or payload that cannot be decoded."""


class ProtocolError(EngineIOError):
    """A request the protocol refuses; answered with ``{"code", "message"}``.

    Attributes:
        code: the Engine.IO error code sent in the JSON body.
        status: the HTTP status of the response.
        message: the human readable message sent in the JSON body.
        detail: an optional longer explanation, for logs only.
        context: what a refusal reports besides the code (see
            :class:`~engineio_core.protocol.events.Refusal`): ``name``, a stable
            identifier of the cause (the class's :attr:`name` unless given), and
            the values involved (``transport``, ``sid``, ``origin``, ``host``...).
    """

    code: int = 3
    status: int = 400
    default_message: str = "Bad request"
    name: str = "BAD_REQUEST"

    def __init__(self, message: str | None = None, *, detail: str | None = None,
                 context: Mapping[str, Any] | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.detail = detail
        self.context: dict[str, Any] = {"name": self.name, **(context or {})}
        super().__init__(self.message if detail is None else f"{self.message}: {detail}")


class TransportUnknown(ProtocolError):
    """``transport`` missing, unknown or disabled (code 0)."""

    code = 0
    default_message = "Transport unknown"
    name = "UNKNOWN_TRANSPORT"


class SessionUnknown(ProtocolError):
    """``sid`` unknown, closed or expired (code 1)."""

    code = 1
    default_message = "Session ID unknown"
    name = "UNKNOWN_SID"


class BadHandshakeMethod(ProtocolError):
    """A handshake with a method other than GET (code 2)."""

    code = 2
    default_message = "Bad handshake method"
    name = "BAD_HANDSHAKE_METHOD"


class BadRequest(ProtocolError):
    """Transport mismatch, missing Upgrade, bad origin and similar (code 3)."""

    code = 3
    default_message = "Bad request"


class Forbidden(ProtocolError):
    """The application refused the handshake (code 4, HTTP 403)."""

    code = 4
    status = 403
    default_message = "Forbidden"
    name = "FORBIDDEN"


class UnsupportedProtocolVersion(ProtocolError):
    """``EIO`` missing, not numeric, or a version this server does not serve (code 5)."""

    code = 5
    default_message = "Unsupported protocol version"
    name = "UNSUPPORTED_PROTOCOL_VERSION"


class PayloadTooLarge(ProtocolError):
    """A POST body over ``max_http_buffer_size`` (HTTP 413)."""

    code = 3
    status = 413
    default_message = "Payload too large"
    name = "PAYLOAD_TOO_LARGE"


class ClusterUnavailable(ProtocolError):
    """The request is for another cluster node's session and the cluster's bus
    cannot reach it now (HTTP 503; the client retries, as after any failed request)."""

    code = 3
    status = 503
    default_message = "Cluster unavailable"
    name = "CLUSTER_UNAVAILABLE"
