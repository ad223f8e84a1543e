"""The ``ENGINEIO_*`` configuration keys: their names, defaults and how they are read.

Every option of :class:`engineio_core.Server` is a key ``ENGINEIO_<OPTION>`` (the
:class:`~engineio_core.ServerConfig` options, plus ``ENGINEIO_PATH``,
``ENGINEIO_ASYNC_MODE`` and ``ENGINEIO_LOGGER``). The defaults are taken from the
core's own :class:`~engineio_core.ServerConfig`, so they cannot drift from it.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from engineio_core import ServerConfig
from engineio_core.protocol.config import unknown_options

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask import Flask

__all__ = ["CONFIG_PREFIX", "DEFAULT_PATH", "config_defaults", "read_config"]

CONFIG_PREFIX = "ENGINEIO_"
"""``app.config`` keys starting with this configure the extension."""

DEFAULT_PATH = "/engine.io/"
"""Where Engine.IO is served unless ``ENGINEIO_PATH`` says otherwise."""


def config_defaults() -> dict[str, Any]:
    """Every option the extension reads, by option name, with its default.

    ``path``, ``async_mode``, ``logger``, ``async_handlers`` and ``cluster`` (a Redis
    URL or a :class:`~engineio_core.cluster.RedisCluster`), then each public
    :class:`~engineio_core.ServerConfig` option; times in seconds, as the
    server takes them.
    """
    base = ServerConfig()
    defaults: dict[str, Any] = {"path": DEFAULT_PATH, "async_mode": None, "logger": None,
                                "async_handlers": True, "cluster": None}
    for field in fields(ServerConfig):
        value = getattr(base, field.name)
        if field.name.endswith("_ms"):
            defaults[field.name.removesuffix("_ms")] = value / 1000
        else:
            defaults[field.name] = value
    return defaults


def read_config(app: Flask, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Read the ``ENGINEIO_*`` keys of ``app.config``, then apply ``overrides``.

    Each known key is filled in with ``app.config.setdefault`` (so ``app.config``
    shows the values in force), then keyword options win over it.

    Args:
        app: the Flask application.
        overrides: keyword options (lower-case option names).

    Returns:
        Every option by name: ``path``, ``async_mode``, ``logger`` and the server options.

    Raises:
        ConfigError: an ``ENGINEIO_*`` key (or keyword) that is not an option.
    """
    defaults = config_defaults()
    known = {CONFIG_PREFIX + name.upper() for name in defaults}
    unknown = sorted(k for k in app.config if k.startswith(CONFIG_PREFIX) and k not in known)
    if unknown:
        raise unknown_options([k[len(CONFIG_PREFIX):].lower() for k in unknown], defaults,
                              spell=lambda name: CONFIG_PREFIX + name.upper())
    bad_kwargs = sorted(name for name in overrides if name not in defaults)
    if bad_kwargs:
        raise unknown_options(bad_kwargs, defaults)
    options = {name: app.config.setdefault(CONFIG_PREFIX + name.upper(), default)
               for name, default in defaults.items()}
    options.update(overrides)
    return options


