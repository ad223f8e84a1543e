"""System checks of the ``ENGINEIO`` setting (``manage.py check``), with stable ids.

========================  ==========================================================
``django_engineio.E001``  ``ENGINEIO`` is not a dict
``django_engineio.E002``  unknown key
``django_engineio.E003``  an option of the wrong type or out of range
``django_engineio.E004``  ``TRANSPORTS`` names an unknown transport (or none)
``django_engineio.E005``  ``PATH`` is not a non-empty URL path
``django_engineio.E006``  ``ASYNC_MODE`` is not ``None`` or a known mode
``django_engineio.E007``  an ASGI deployment without Channels installed
``django_engineio.E008``  a hook's dotted path does not import
``django_engineio.E009``  ``CLUSTER`` is not a Redis URL or a cluster, or redis-py is missing
``django_engineio.W001``  ``CORS_ALLOWED_ORIGINS = "*"`` with ``CORS_CREDENTIALS`` on
========================  ==========================================================
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from engineio_core import ConfigError, ServerConfig
from engineio_core.protocol.config import TRANSPORTS, unknown_options

from .conf import ASYNC_MODES, OPTION_KEYS, PACKAGE_KEYS, SETTING, _import_hook, spell_key

__all__ = ["check_settings"]

_ID = "django_engineio."
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@register(Tags.compatibility)
def check_settings(app_configs: Sequence[AppConfig] | None = None,
                   **kwargs: Any) -> list[CheckMessage]:
    """Check the ``ENGINEIO`` setting (registered with Django's check framework)."""
    raw = getattr(settings, SETTING, None)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return [Error(f"settings.{SETTING} must be a dict, not {type(raw).__name__}.",
                      hint=f'{SETTING} = {{"PING_INTERVAL": 25, ...}}', id=_ID + "E001")]
    return [*_keys(raw), *_package_keys(raw), *_options(raw), *_channels(raw), *_cors(raw),
            *_cluster(raw)]


def _keys(raw: dict[Any, Any]) -> Iterable[CheckMessage]:
    for key in sorted(set(raw) - OPTION_KEYS - PACKAGE_KEYS, key=str):
        hint = "Known keys: " + ", ".join(sorted(OPTION_KEYS | PACKAGE_KEYS)) + "."
        if key == "ALLOWED_HOSTS":
            hint = "Engine.IO requests follow settings.ALLOWED_HOSTS; set the hosts there."
        message = str(unknown_options([str(key).lower()],
                                      [k.lower() for k in OPTION_KEYS | PACKAGE_KEYS],
                                      spell=spell_key))
        yield Error(message + ".", hint=hint, id=_ID + "E002")


def _package_keys(raw: dict[Any, Any]) -> Iterable[CheckMessage]:
    path = raw.get("PATH", "engine.io")
    if not isinstance(path, str) or not path.strip("/"):
        yield Error(f"{SETTING}['PATH'] must be a non-empty URL path, not {path!r}.",
                    id=_ID + "E005")
    mode = raw.get("ASYNC_MODE")
    if mode is not None and mode not in ASYNC_MODES:
        yield Error(f"{SETTING}['ASYNC_MODE'] must be None or one of {', '.join(ASYNC_MODES)}, "
                    f"not {mode!r}.", id=_ID + "E006")


def _options(raw: dict[Any, Any]) -> Iterable[CheckMessage]:
    options: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in OPTION_KEYS or key in ("LOGGER", "ASYNC_HANDLERS", "CLUSTER"):
            continue
        if key in ("SID_GENERATOR", "ALLOW_REQUEST", "HANDSHAKE_HEADERS") and isinstance(value,
                                                                                          str):
            try:
                value = _import_hook(key, value)
            except ConfigError as exc:
                yield Error(str(exc), id=_ID + "E008")
                continue
        options[key.lower()] = value
    transports = options.pop("transports", None)
    if transports is not None:
        if (isinstance(transports, str) or not isinstance(transports, list | tuple)
                or not transports or any(t not in TRANSPORTS for t in transports)):
            yield Error(f"{SETTING}['TRANSPORTS'] must be a non-empty list of "
                        f"{' and '.join(map(repr, TRANSPORTS))}, not {transports!r}.",
                        id=_ID + "E004")
        else:
            options["transports"] = transports
    # One option at a time, so that each problem is reported on its own.
    for name, value in options.items():
        try:
            ServerConfig.from_options(**{name: value})
        except (ConfigError, TypeError, ValueError) as exc:
            yield Error(f"{SETTING}[{name.upper()!r}] is invalid: {exc}.", id=_ID + "E003")


def _channels(raw: dict[Any, Any]) -> Iterable[CheckMessage]:
    asgi = raw.get("ASYNC_MODE") == "asyncio" or bool(getattr(settings, "ASGI_APPLICATION", None))
    if asgi and importlib.util.find_spec("channels") is None:
        yield Error("An ASGI deployment of django_engineio needs Channels, which is not "
                    "installed.", hint="pip install 'django-engineio[channels]'",
                    id=_ID + "E007")


def _cluster(raw: dict[Any, Any]) -> Iterable[CheckMessage]:
    value = raw.get("CLUSTER")
    if value is None:
        return
    if isinstance(value, str):
        if not value.startswith(_REDIS_SCHEMES):
            yield Error(f"{SETTING}['CLUSTER'] must be a Redis URL ({', '.join(_REDIS_SCHEMES)}"
                        f"...) or a cluster object, not {value!r}.", id=_ID + "E009")
        elif importlib.util.find_spec("redis") is None:
            yield Error(f"{SETTING}['CLUSTER'] needs redis-py, which is not installed.",
                        hint='pip install "engineio-core[redis]"', id=_ID + "E009")
    elif not callable(getattr(value, "describe", None)):
        yield Error(f"{SETTING}['CLUSTER'] must be a Redis URL or a cluster object "
                    f"(engineio_core.cluster.RedisCluster), not {value!r}.", id=_ID + "E009")


def _cors(raw: dict[Any, Any]) -> Iterable[CheckMessage]:
    if raw.get("CORS_ALLOWED_ORIGINS") == "*" and raw.get("CORS_CREDENTIALS", True) is True:
        yield Warning(
            f"{SETTING}['CORS_ALLOWED_ORIGINS'] is '*' while CORS_CREDENTIALS is on: any web "
            "site can open sessions carrying your users' cookies.",
            hint="List the allowed origins, or set CORS_CREDENTIALS to False.",
            id=_ID + "W001")
