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
``django_engineio.W002``  no Engine.IO route in the ASGI or WSGI application (404s)
========================  ==========================================================

W002 reads the source of the modules ``ASGI_APPLICATION`` and ``WSGI_APPLICATION``
name (and of the project's modules they import), never imports them: importing
``asgi.py`` would start Django's ASGI handler and the Engine.IO server of the
consumers in a process that may be a WSGI one. See :func:`check_routes`.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import sys
import sysconfig
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from engineio_core import ConfigError, ServerConfig
from engineio_core.protocol.config import TRANSPORTS, unknown_options

from .conf import ASYNC_MODES, OPTION_KEYS, PACKAGE_KEYS, SETTING, _import_hook, spell_key

__all__ = ["check_routes", "check_settings"]

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


# --------------------------------------------------------------------------- W002
_ASGI_ROUTES = ("django_engineio.routing", "django_engineio.consumers")
_WSGI_ROUTES = ("django_engineio.wsgi",)
_NOT_FOLLOWED = ("django_engineio", "engineio_core")
_MOST_MODULES = 200
"""At most this many modules are read for one application."""


class _Entry:
    """An application the check reads: its label, module and the imports that route."""

    def __init__(self, label: str, module: str, routes: tuple[str, ...]) -> None:
        self.label = label
        self.module = module
        self.routes = routes


@register(Tags.urls)
def check_routes(app_configs: Sequence[AppConfig] | None = None,
                 **kwargs: Any) -> list[CheckMessage]:
    """W002: neither the ASGI nor the WSGI application routes Engine.IO.

    Reads ``settings.ASGI_APPLICATION`` (when it is unset, the ``asgi`` module
    beside ``WSGI_APPLICATION``'s, ``startproject``'s layout, which
    ``daphne project.asgi:application`` serves) and ``settings.WSGI_APPLICATION``.
    Engine.IO counts as routed when one of these modules, or a module of the
    project it imports (directly or through other project modules), imports
    ``django_engineio.routing`` or ``django_engineio.consumers`` (ASGI) or
    ``django_engineio.wsgi`` (WSGI). The modules are parsed, never imported.
    Nothing is reported when no application is named, or when one of those named
    cannot be found or parsed: the check cannot tell then.
    """
    entries = list(_entries())
    if not entries:
        return []
    files: list[Path] = []
    for entry in entries:
        file = _source(entry.module)
        if file is None:
            return []
        routed = _routed(entry, file)
        if routed is None or routed:
            return []
        files.append(file)
    labels = [entry.label for entry in entries]
    where = (f"not routed in {labels[0]}" if len(labels) == 1
             else "routed in neither " + " nor ".join(labels))
    hints = []
    for entry, file in zip(entries, files, strict=True):
        if entry.routes == _ASGI_ROUTES:
            hints.append("ASGI: route django_engineio.routing's http_urlpatterns and "
                         f"websocket_urlpatterns in the ProtocolTypeRouter of {file}")
        else:
            hints.append("WSGI: application = django_engineio.wsgi.get_wsgi_application() "
                         f"in {file}")
    return [Warning(
        f"Engine.IO is {where}: requests to {_engineio_path()} reach Django, which "
        "answers 404.",
        hint="; ".join(hints) + " (docs/django.md). The check reads the imports of these "
        "modules and of the project's modules they import; if Engine.IO is routed in a way "
        f"it cannot see, add {_ID}W002 to SILENCED_SYSTEM_CHECKS.",
        id=_ID + "W002")]


def _engineio_path() -> str:
    raw = getattr(settings, SETTING, None)
    path = raw.get("PATH") if isinstance(raw, dict) else None
    if not isinstance(path, str) or not path.strip("/"):
        path = "engine.io"
    return "/" + path.strip("/") + "/"


def _entries() -> Iterator[_Entry]:
    """The applications named by the settings (``ASGI_APPLICATION``, ``WSGI_APPLICATION``)."""
    asgi = getattr(settings, "ASGI_APPLICATION", None)
    wsgi = getattr(settings, "WSGI_APPLICATION", None)
    if isinstance(asgi, str) and "." in asgi:
        yield _Entry(f"ASGI_APPLICATION {asgi!r}", asgi.rpartition(".")[0], _ASGI_ROUTES)
    elif isinstance(wsgi, str) and wsgi.count(".") >= 2:
        package, _, module = wsgi.rpartition(".")[0].rpartition(".")
        sibling = f"{package}.asgi"
        if module != "asgi" and _source(sibling) is not None:
            yield _Entry(f"{sibling} (beside WSGI_APPLICATION)", sibling, _ASGI_ROUTES)
    if isinstance(wsgi, str) and "." in wsgi:
        yield _Entry(f"WSGI_APPLICATION {wsgi!r}", wsgi.rpartition(".")[0], _WSGI_ROUTES)


def _routed(entry: _Entry, start: Path) -> bool | None:
    """Whether the entry's module (file ``start``), or a project module it imports,
    imports one of its routing modules; ``None`` when it cannot be parsed."""
    seen = {entry.module}
    todo = [(entry.module, start)]
    while todo and len(seen) <= _MOST_MODULES:
        name, file = todo.pop()
        imported = _imports(name, file)
        if imported is None:
            if name == entry.module:
                return None
            continue
        for candidate in imported:
            if any(candidate == r or candidate.startswith(r + ".") for r in entry.routes):
                return True
            if candidate in seen or candidate.startswith(_NOT_FOLLOWED):
                continue
            seen.add(candidate)
            source = _source(candidate)
            if source is not None and _in_project(source):
                todo.append((candidate, source))
    return False


def _imports(name: str, file: Path) -> list[str] | None:
    """The modules ``file`` (module ``name``) imports, with ``from a import b`` giving
    both ``a`` and ``a.b``; ``None`` when it cannot be read or parsed."""
    try:
        tree = ast.parse(file.read_bytes(), str(file))
    except (OSError, SyntaxError, ValueError):
        return None
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package)
                except (ImportError, ValueError):
                    continue
            if base:
                found.append(base)
            found += [f"{base}.{alias.name}".lstrip(".") for alias in node.names
                      if alias.name != "*"]
    return found


def _source(name: str) -> Path | None:
    """The ``.py`` file of module ``name``, found without importing anything."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None) if module is not None else None
    if spec is None:
        path: list[str] | None = None
        parts = name.split(".")
        for i in range(len(parts)):
            parent = sys.modules.get(".".join(parts[:i + 1]))
            found = getattr(parent, "__spec__", None) if parent is not None else None
            if found is None:
                try:
                    found = importlib.machinery.PathFinder.find_spec(".".join(parts[:i + 1]),
                                                                     path)
                except (ImportError, ValueError):
                    return None
            if found is None:
                return None
            spec = found
            locations = found.submodule_search_locations
            path = list(locations) if locations is not None else None
            if path is None and i < len(parts) - 1:
                return None
    origin = getattr(spec, "origin", None)
    if not isinstance(origin, str) or not origin.endswith(".py"):
        return None
    return Path(origin)


def _in_project(file: Path) -> bool:
    """Whether ``file`` is the project's (not the standard library's or an installed
    distribution's)."""
    paths = sysconfig.get_paths()
    roots = {Path(paths[key]).resolve() for key in ("stdlib", "platstdlib", "purelib",
                                                    "platlib") if key in paths}
    resolved = file.resolve()
    return not any(resolved.is_relative_to(root) for root in roots) and (
        "site-packages" not in resolved.parts and "dist-packages" not in resolved.parts)
