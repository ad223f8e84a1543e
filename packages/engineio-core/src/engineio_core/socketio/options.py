"""python-engineio's server options, in every form it takes, as engineio-core options.

python-socketio passes every option it does not know itself on to its engine
(``socketio.Server(ping_interval=(25, 5), cors_allowed_origins=[], ...)``), so
the engine it runs on must take python-engineio's names and forms. What has a
meaning here is translated; what does not is ignored with an
:class:`IgnoredOptionWarning` naming it and why.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..protocol.errors import ConfigError

__all__ = ["ASYNC_MODES", "SYNC_MODES", "EngineOptions", "IgnoredOptionWarning", "translate"]

SYNC_MODES = ("threading", "eventlet", "gevent", "gevent_uwsgi")
"""python-engineio's ``async_mode`` values for ``Server`` (our backends of the same names)."""

ASYNC_MODES = ("asgi", "aiohttp", "sanic", "tornado")
"""python-engineio's ``async_mode`` values for ``AsyncServer``."""

#: The engineio-core backend serving each asyncio mode ("asgi" is plain asyncio;
#: the others are registered by their framework packages).
ASYNC_BACKENDS = {"asgi": "asyncio", "aiohttp": "aiohttp", "sanic": "sanic", "tornado": "tornado"}

#: Options taken as they are (same name, same meaning in both libraries), plus
#: engineio-core's own options, which a python-socketio server can pass on too.
PASSED_ON = frozenset({
    "ping_timeout", "max_http_buffer_size", "allow_upgrades", "http_compression",
    "compression_threshold", "cors_credentials", "transports", "cookie",
    # engineio-core's own
    "upgrade_timeout", "closing_grace", "protocol_versions", "allowed_hosts",
    "sid_generator", "allow_request", "handshake_headers", "max_send_buffer_size",
    "max_send_buffer_packets", "cluster", "cluster_upgrades",
})

#: python-engineio options that mean nothing here, and why.
IGNORED = {
    "monitor_clients": "engineio-core always runs every session's heartbeat and deadlines",
    "always_connect": "an Engine.IO server has no such option (python-socketio's own)",
}


#: Options Flask-SocketIO passes on to the engine with the rest, meant for itself:
#: dropped without a warning (python-engineio drops every name it does not know).
THEIRS = frozenset({"message_queue"})


class IgnoredOptionWarning(UserWarning):
    """A python-engineio option that engineio-core accepts but does not use."""


@dataclass
class EngineOptions:
    """python-engineio's options sorted out: what the engineio-core server takes, and
    what the python-engineio-shaped adapter keeps for itself."""

    async_mode: str
    """The python-engineio name of the async mode (what ``eio.async_mode`` reports)."""
    backend: str | None
    """The engineio-core backend to build the server with (``None``: the best one)."""
    logger: logging.Logger | None
    json: Any
    async_handlers: bool
    core: dict[str, Any] = field(default_factory=dict)
    """Keyword options for the engineio-core server."""


def translate(options: dict[str, Any], *, asyncio: bool) -> EngineOptions:
    """Sort python-engineio's ``options`` out (see the module docstring).

    Args:
        options: the keyword arguments python-engineio's server would take.
        asyncio: for ``AsyncServer`` (else ``Server``: without ``async_mode``,
            ``backend`` is ``None`` and ``async_mode`` empty, for the server built
            to fill in).

    Raises:
        ConfigError: an ``async_mode`` python-engineio would not take either, or a
            value of the wrong form.
    """
    options = dict(options)
    mode = options.pop("async_mode", None)
    modes = ASYNC_MODES if asyncio else SYNC_MODES
    if mode is not None and mode not in modes:
        raise ConfigError(f"async_mode {mode!r} is not one of {', '.join(modes)}"
                          f" (for {'AsyncServer' if asyncio else 'Server'})")
    if asyncio:
        mode = mode or "asgi"
        backend: str | None = ASYNC_BACKENDS[mode]
    else:
        backend = mode
        mode = mode or ""
    out = EngineOptions(async_mode=mode, backend=backend,
                        logger=_logger(options.pop("logger", None)),
                        json=options.pop("json", None),
                        async_handlers=bool(options.pop("async_handlers", True)))
    if "ping_interval" in options:
        interval = options.pop("ping_interval")
        if isinstance(interval, tuple | list):
            if len(interval) != 2:
                raise ConfigError(f"ping_interval must be seconds or (seconds, grace), "
                                  f"got {interval!r}")
            interval, grace = interval
            if grace:
                _ignored("ping_interval", "the grace period of ping_interval=(interval, grace) "
                         "is not used: the session ends ping_timeout after a ping that was "
                         "not answered")
        out.core["ping_interval"] = interval
    if "cors_allowed_origins" in options:
        origins = options.pop("cors_allowed_origins")
        if isinstance(origins, list | tuple) and not origins:
            # python-engineio: an empty list turns its CORS handling off (a proxy
            # in front does it): every origin is served.
            out.core["cors_allowed_origins"] = _any_origin
        else:
            out.core["cors_allowed_origins"] = origins
    for name, why in IGNORED.items():
        if name in options:
            options.pop(name)
            _ignored(name, why)
    for name in sorted(options):
        if name in THEIRS:
            continue
        if name in PASSED_ON:
            out.core[name] = options[name]
        else:
            _ignored(name, "engineio-core has no option of that name")
    if out.core.get("cluster") is not None:
        # python-socketio keeps a connection's state (environ, namespaces, rooms) in
        # the process that saw it connect: the session must stay there.
        out.core.setdefault("cluster_upgrades", "relay" if asyncio else "refuse")
    return out


def _any_origin(origin: str) -> bool:
    return True


def _logger(value: object) -> logging.Logger | None:
    """python-engineio's ``logger``: ``True`` logs at INFO, ``False`` errors only
    (to engineio-core's ``engineio_core.server`` logger), or a logger to use;
    ``None`` (not given) leaves the default logger as it is."""
    if value is None:
        return None
    if isinstance(value, logging.Logger):
        return value
    if not isinstance(value, bool):
        raise ConfigError(f"logger must be a bool or a logging.Logger, got {value!r}")
    logger = logging.getLogger("engineio_core.server")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO if value else logging.ERROR)
    return logger


def _ignored(name: str, why: str) -> None:
    warnings.warn(f"engineio-core ignores the python-engineio option {name!r}: {why}",
                  IgnoredOptionWarning, stacklevel=_caller_level())


#: Packages whose frames the warning skips, to point at the code that built the server.
_OURS_AND_PEERS = ("engineio_core", "socketio", "engineio", "flask_socketio")


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside this package and the Socket.IO
    libraries (the application's line that built the server)."""
    frame = sys._getframe(2)  # translate(), stacklevel 2 of the warning
    level = 2
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).partition(
            ".")[0] in _OURS_AND_PEERS:
        frame = frame.f_back
        level += 1
    return level
