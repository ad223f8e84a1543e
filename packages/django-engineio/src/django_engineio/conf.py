"""The ``ENGINEIO`` setting: one dict, read lazily, reset when a test overrides it.

Keys are the upper-case names of the server options (``PING_INTERVAL``,
``CORS_ALLOWED_ORIGINS``...) plus two of this package's own:

* ``PATH``: where Engine.IO is served (default ``"engine.io"``);
* ``ASYNC_MODE``: ``None`` (the deployment decides: the Channels consumers run an
  ``AsyncServer``, the WSGI middleware a ``Server`` with the best sync backend),
  ``"asyncio"``, ``"threading"``, ``"eventlet"``, ``"gevent"`` or ``"gevent_uwsgi"``.

The hook options (``SID_GENERATOR``, ``ALLOW_REQUEST``, ``HANDSHAKE_HEADERS``) also
take a dotted path to a callable. :data:`engineio_settings` is reset on Django's
``setting_changed`` signal, so ``override_settings(ENGINEIO=...)`` works.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from engineio_core import ConfigError, ServerConfig
from engineio_core.protocol.config import unknown_options

__all__ = [
    "ASYNC_MODES",
    "DEFAULT_PATH",
    "OPTION_KEYS",
    "PACKAGE_KEYS",
    "SETTING",
    "EngineIOSettings",
    "engineio_settings",
    "spell_key",
]

SETTING = "ENGINEIO"
"""The name of the Django setting."""

DEFAULT_PATH = "engine.io"

ASYNC_MODES = ("asyncio", "threading", "eventlet", "gevent", "gevent_uwsgi")
"""Values of ``ASYNC_MODE`` besides ``None``: ``"asyncio"`` is ASGI, the others WSGI."""

_SECONDS = ("ping_interval", "ping_timeout", "upgrade_timeout", "closing_grace")
# allowed_hosts: Django's own ALLOWED_HOSTS applies (django_engineio.hosts).
_INTERNAL = {f"{name}_ms" for name in _SECONDS} | {"allowed_hosts"}

OPTION_KEYS: frozenset[str] = frozenset(
    {f.name.upper() for f in fields(ServerConfig) if f.name not in _INTERNAL}
    | {name.upper() for name in _SECONDS}
    | {"LOGGER", "ASYNC_HANDLERS", "CLUSTER"}
)
"""Keys passed to the server (as lower-case keyword arguments). Not ``ALLOWED_HOSTS``:
the servers follow Django's own setting."""

PACKAGE_KEYS: frozenset[str] = frozenset({"PATH", "ASYNC_MODE"})
"""Keys this package uses itself."""


def spell_key(name: str) -> str:
    """An option name as the setting spells it: ``ENGINEIO['PING_INTERVAL']``."""
    return f"{SETTING}[{name.upper()!r}]"

_HOOKS = ("SID_GENERATOR", "ALLOW_REQUEST", "HANDSHAKE_HEADERS")


class EngineIOSettings:
    """The ``ENGINEIO`` setting, read on first use and cached until :meth:`reset`."""

    def __init__(self) -> None:
        self._raw: dict[str, Any] | None = None

    @property
    def raw(self) -> dict[str, Any]:
        """The ``ENGINEIO`` dict as configured (empty when unset).

        Raises:
            ConfigError: ``ENGINEIO`` is not a dict.
        """
        if self._raw is None:
            value = getattr(settings, SETTING, None)
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise ConfigError(f"settings.{SETTING} must be a dict, got {type(value).__name__}")
            self._raw = dict(value)
        return self._raw

    @property
    def path(self) -> str:
        """Where Engine.IO is served, without slashes (``"engine.io"``)."""
        path = self.raw.get("PATH", DEFAULT_PATH)
        if not isinstance(path, str) or not path.strip("/"):
            raise ConfigError(f"{SETTING}['PATH'] must be a non-empty URL path, got {path!r}")
        return path.strip("/")

    @property
    def async_mode(self) -> str | None:
        """``ASYNC_MODE``: ``None`` or one of :data:`ASYNC_MODES`."""
        mode = self.raw.get("ASYNC_MODE")
        if mode is not None and mode not in ASYNC_MODES:
            raise ConfigError(f"{SETTING}['ASYNC_MODE'] must be None or one of {ASYNC_MODES}, "
                              f"got {mode!r}")
        return mode

    def server_options(self) -> dict[str, Any]:
        """Keyword arguments for the server, dotted paths of hooks imported.

        Raises:
            ConfigError: an unknown key, or a hook path that does not import.
        """
        raw = self.raw
        unknown = sorted(set(raw) - OPTION_KEYS - PACKAGE_KEYS)
        if unknown:
            raise unknown_options([str(k).lower() for k in unknown],
                                  [k.lower() for k in OPTION_KEYS | PACKAGE_KEYS],
                                  spell=spell_key)
        options: dict[str, Any] = {}
        for key, value in raw.items():
            if key in PACKAGE_KEYS:
                continue
            if key in _HOOKS and isinstance(value, str):
                value = _import_hook(key, value)
            elif key == "LOGGER" and isinstance(value, str):
                import logging

                value = logging.getLogger(value)
            options[key.lower()] = value
        return options

    def reset(self) -> None:
        """Forget the cached setting; the next read sees the current ``settings``."""
        self._raw = None


def _import_hook(key: str, path: str) -> Callable[..., Any]:
    try:
        hook: Callable[..., Any] = import_string(path)
    except ImportError as exc:
        raise ConfigError(f"{SETTING}[{key!r}]: cannot import {path!r}: {exc}") from exc
    return hook


engineio_settings = EngineIOSettings()
"""The process's view of the ``ENGINEIO`` setting."""


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        engineio_settings.reset()
        from .servers import reset_servers

        reset_servers()


setting_changed.connect(_setting_changed, dispatch_uid="django_engineio.conf")
