"""Server options: one typed, validated dataclass.

The public API takes times in seconds (like python-engineio); the engine works
in milliseconds as the protocol does, converted with ``round(s * 1000)`` so a
configured 0.3 s is advertised as exactly 300.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, get_args

from .errors import ConfigError
from .session import TransportName

if TYPE_CHECKING:
    from .http import Request

__all__ = [
    "CookieOptions", "HostsOption", "OriginsOption", "ProtocolVersion", "SameSite", "ServerConfig",
]

OriginsOption = str | Sequence[str] | Callable[[str], bool] | None
"""``None`` (same origin only), ``"*"`` (any), a list of origins, or a predicate."""

HostsOption = Sequence[str] | Callable[["Request"], bool] | None
"""``None`` (any ``Host``), a list of host names, or a predicate on the request."""

ProtocolVersion = Literal[3, 4]
"""The Engine.IO protocol versions a server can serve."""

SameSite = Literal["Strict", "Lax", "None"]
"""Values of the sid cookie's ``SameSite`` attribute."""

TRANSPORTS: tuple[TransportName, ...] = get_args(TransportName)
PROTOCOL_VERSIONS: tuple[ProtocolVersion, ...] = get_args(ProtocolVersion)
_SAME_SITE: tuple[SameSite, ...] = get_args(SameSite)
_SECONDS = ("ping_interval", "ping_timeout", "upgrade_timeout", "closing_grace")


@dataclass(frozen=True, slots=True)
class CookieOptions:
    """Attributes of the sid cookie set on the handshake response."""

    name: str = "io"
    path: str | None = "/"
    http_only: bool = True
    same_site: SameSite | None = "Lax"
    secure: bool = False
    domain: str | None = None
    max_age: int | None = None

    def __post_init__(self) -> None:
        same_site = self.same_site
        if same_site is not None:
            canonical = {v.lower(): v for v in _SAME_SITE}.get(str(same_site).lower())
            if canonical is None:
                raise ConfigError(f"cookie same_site must be one of {', '.join(_SAME_SITE)} "
                                  f"or None, got {same_site!r}")
            object.__setattr__(self, "same_site", canonical)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Validated options of an Engine.IO server.

    Construct it with :meth:`from_options` to get the public (seconds based,
    python-engineio compatible) option names checked.
    """

    ping_interval_ms: int = 25000
    """Interval between heartbeats, in ms (v4: server pings; v3: client pings)."""
    ping_timeout_ms: int = 20000
    """Time allowed for the heartbeat answer, in ms."""
    upgrade_timeout_ms: int = 10000
    """Time a probing WebSocket has to complete the upgrade, in ms."""
    max_http_buffer_size: int = 1_000_000
    """Largest POST body and WebSocket message in bytes; advertised as ``maxPayload``."""
    allow_upgrades: bool = True
    """Whether polling sessions may upgrade to WebSocket."""
    transports: tuple[TransportName, ...] = TRANSPORTS
    """Enabled transports."""
    protocol_versions: tuple[ProtocolVersion, ...] = PROTOCOL_VERSIONS
    """Engine.IO protocol versions served."""
    allowed_hosts: HostsOption = None
    """Host names the server answers to (``Host`` header, port ignored; ``".example.com"``
    also matches its subdomains, ``"*"`` anything), or ``callable(request) -> bool``;
    ``None`` answers any. Checked on every request, before the origin."""
    cors_allowed_origins: OriginsOption = None
    """Origins allowed to connect; ``None`` means same origin only."""
    cors_credentials: bool = True
    """Send ``Access-Control-Allow-Credentials: true`` (never with ``*``)."""
    http_compression: bool = True
    """Compress polling responses with gzip or deflate."""
    compression_threshold: int = 1024
    """Smallest polling response body that is compressed, in bytes."""
    cookie: CookieOptions | None = None
    """The sid cookie set on the handshake response, or ``None`` for none."""
    sid_generator: Callable[[Request], str] | None = None
    """Makes a session id from the handshake request (default: 20 random url-safe chars)."""
    allow_request: Callable[[Request], bool | str] | None = None
    """Pre-handshake hook: ``True`` accepts, ``False`` or a message string refuses (403)."""
    handshake_headers: Callable[[Request], Iterable[tuple[str, str]]] | None = None
    """Adds headers to the handshake response."""
    closing_grace_ms: int = 30000
    """How long a polling session closed by the server waits for its last GET, in ms."""
    max_send_buffer_size: int = 4 * 1024 * 1024
    """Most data queued for one session and not yet written (text counted in characters,
    binary in bytes); past it the session closes with ``send buffer full``."""
    max_send_buffer_packets: int = 10_000
    """Most packets queued for one session and not yet written; past it, the same."""

    @classmethod
    def from_options(cls, **options: Any) -> ServerConfig:
        """Build a config from the public option names; unknown names raise.

        Args:
            **options: ``ping_interval``, ``ping_timeout``, ``upgrade_timeout`` and
                ``closing_grace`` in seconds; ``max_http_buffer_size``,
                ``allow_upgrades``, ``transports``, ``protocol_versions``,
                ``allowed_hosts``, ``cors_allowed_origins``, ``cors_credentials``,
                ``http_compression``, ``compression_threshold``, ``cookie`` (a name,
                a mapping of cookie attributes or :class:`CookieOptions`), ``sid_generator``,
                ``allow_request``, ``handshake_headers``, ``max_send_buffer_size``,
                ``max_send_buffer_packets``.

        Raises:
            ConfigError: for an unknown option or a value of the wrong type or range.
        """
        kw: dict[str, Any] = {}
        for name in _SECONDS:
            if name in options:
                value = options.pop(name)
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
                kw[f"{name}_ms"] = round(value * 1000)
        if "cookie" in options:
            kw["cookie"] = _cookie(options.pop("cookie"))
        if "transports" in options and options["transports"] is not None:
            kw["transports"] = tuple(options.pop("transports"))
        else:
            options.pop("transports", None)
        if "protocol_versions" in options:
            kw["protocol_versions"] = tuple(options.pop("protocol_versions"))
        known = cls.option_names()
        unknown = sorted(set(options) - known)
        if unknown:
            raise unknown_options(unknown, known)
        kw.update(options)
        return cls(**kw)

    @classmethod
    def option_names(cls) -> frozenset[str]:
        """The public option names :meth:`from_options` takes (times in seconds)."""
        return frozenset(f.name.removesuffix("_ms") if f.name.removesuffix("_ms") in _SECONDS
                         else f.name for f in fields(cls))

    def __post_init__(self) -> None:
        for name in _SECONDS:
            _positive_int(f"{name}_ms", getattr(self, f"{name}_ms"))
        for name in ("max_http_buffer_size", "max_send_buffer_size", "max_send_buffer_packets"):
            _positive_int(name, getattr(self, name))
        if not isinstance(self.compression_threshold, int) or self.compression_threshold < 0:
            raise ConfigError("compression_threshold must be an int >= 0")
        for name in ("allow_upgrades", "cors_credentials", "http_compression"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be a bool")
        if not self.transports or any(t not in TRANSPORTS for t in self.transports):
            raise ConfigError(f"transports must be a non-empty subset of {TRANSPORTS}")
        if not self.protocol_versions or any(
            v not in PROTOCOL_VERSIONS for v in self.protocol_versions
        ):
            raise ConfigError(
                f"protocol_versions must be a non-empty subset of {PROTOCOL_VERSIONS}"
            )
        origins = self.cors_allowed_origins
        if not (origins is None or isinstance(origins, str) or callable(origins)) and not (
            isinstance(origins, list | tuple | set | frozenset)
            and all(isinstance(o, str) for o in origins)
        ):
            raise ConfigError("cors_allowed_origins must be None (same origin only), \"*\", "
                              "an origin, a list of origins or a callable(origin) -> bool, "
                              f"got {origins!r}")
        hosts = self.allowed_hosts
        if hosts is not None and not callable(hosts):
            if isinstance(hosts, str | bytes) or not all(isinstance(h, str) for h in hosts):
                raise ConfigError("allowed_hosts must be None, a list of host names or a callable")
            names = tuple(name for h in hosts if (name := h.lower().rstrip(".")))
            object.__setattr__(self, "allowed_hosts", names)
        for name in ("sid_generator", "allow_request", "handshake_headers"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ConfigError(f"{name} must be callable")

    @property
    def upgrades(self) -> list[str]:
        """The ``upgrades`` list advertised to polling sessions."""
        if self.allow_upgrades and "websocket" in self.transports:
            return ["websocket"]
        return []


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")


def _cookie(value: object) -> CookieOptions | None:
    if value is None or value is False:
        return None
    if isinstance(value, CookieOptions):
        return value
    if isinstance(value, str):
        return CookieOptions(name=value)
    if isinstance(value, Mapping):
        aliases = {"httponly": "http_only", "samesite": "same_site", "max-age": "max_age"}
        kw: dict[str, Any] = {aliases.get(str(k).lower(), str(k)): v for k, v in value.items()}
        allowed = {f.name for f in fields(CookieOptions)}
        bad = sorted(set(kw) - allowed)
        if bad:
            raise ConfigError(f"unknown cookie attribute(s): {', '.join(bad)}")
        return CookieOptions(**kw)
    raise ConfigError("cookie must be None, a cookie name or a mapping of attributes")


def unknown_options(names: Iterable[str], known: Iterable[str],
                    spell: Callable[[str], str] = str) -> ConfigError:
    """The error for option names that are not options, in one voice for every package:
    each as the user wrote it (``spell``: ``ENGINEIO_PING_INTERVL`` for a Flask key),
    with the closest valid one when there is one.

    Args:
        names: the unknown option names (lower case, as :meth:`ServerConfig.from_options`
            takes them).
        known: the valid option names.
        spell: how the user wrote an option name (the setting key).
    """
    valid = sorted(known)
    problems = []
    for name in names:
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f" (did you mean {spell(close[0])}?)" if close else ""
        problems.append(spell(name) + hint)
    return ConfigError(f"unknown option(s): {'; '.join(problems)}")
