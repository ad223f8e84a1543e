"""Runtime backends: how a server spawns tasks, sleeps and waits.

Backends are found through the ``engineio_core.backends`` entry-point group,
so a framework package or a third party can register one without touching the
engine. ``async_mode=None`` picks the first backend of the right kind whose
imports succeed, in :data:`PREFERRED_ORDER`; a green-thread backend (eventlet,
gevent, gevent_uwsgi) only when the process already runs under it (see
:func:`running_under`), so that a plain process gets threading even when
eventlet or gevent happen to be installed.
"""

from __future__ import annotations

import logging
import sys
from importlib import import_module
from importlib.metadata import entry_points

from .base import AsyncBackend, BackendKind, SyncBackend

__all__ = [
    "PREFERRED_ORDER",
    "AsyncBackend",
    "BackendKind",
    "BackendUnavailable",
    "SyncBackend",
    "load_backend",
    "running_under",
]

logger = logging.getLogger("engineio_core")

GROUP = "engineio_core.backends"

PREFERRED_ORDER: dict[BackendKind, tuple[str, ...]] = {
    "sync": ("eventlet", "gevent_uwsgi", "gevent", "threading"),
    "async": ("asyncio",),
}
"""The order ``async_mode=None`` tries backends in, for sync and async servers."""

BUILTIN = {
    "threading": "engineio_core.backends.threading:backend",
    "eventlet": "engineio_core.backends.eventlet:backend",
    "gevent": "engineio_core.backends.gevent:backend",
    "gevent_uwsgi": "engineio_core.backends.gevent_uwsgi:backend",
    "asyncio": "engineio_core.backends.asyncio:backend",
}

INSTALL_HINTS = {
    "eventlet": "eventlet",
    "gevent": "gevent",
    "gevent_uwsgi": "uwsgi and gevent",
    "aiohttp": "aiohttp-engineio",
    "tornado": "tornado-engineio",
    "sanic": "sanic-engineio",
}


class BackendUnavailable(ImportError):
    """The requested ``async_mode`` is unknown or its packages are not installed."""


def running_under(name: str) -> bool:
    """Whether this process runs under the green-thread runtime ``name``.

    eventlet and gevent count once they monkey-patched ``socket``
    (``eventlet.monkey_patch()``, ``gevent.monkey.patch_all()``, or the gunicorn
    worker that does it); gevent_uwsgi inside uWSGI started with ``--gevent``.
    Other backends always count. Nothing is imported to find out.
    """
    if name == "eventlet":
        patcher = sys.modules.get("eventlet.patcher")
        return patcher is not None and bool(patcher.is_monkey_patched("socket"))
    if name == "gevent":
        monkey = sys.modules.get("gevent.monkey")
        return monkey is not None and bool(monkey.is_module_patched("socket"))
    if name == "gevent_uwsgi":
        uwsgi = sys.modules.get("uwsgi")
        return uwsgi is not None and "gevent" in getattr(uwsgi, "opt", {})
    return True


def _targets() -> dict[str, str]:
    targets = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        targets.setdefault(ep.name, ep.value)
    return targets


def _load(name: str, target: str) -> SyncBackend | AsyncBackend:
    module_name, _, attr = target.partition(":")
    module = import_module(module_name)
    backend: SyncBackend | AsyncBackend = getattr(module, attr)
    return backend


def load_backend(async_mode: str | None, kind: BackendKind) -> SyncBackend | AsyncBackend:
    """Find the backend for ``async_mode`` (``None``: the best installed one).

    Args:
        async_mode: a backend name such as ``"threading"`` or ``"asyncio"``, or ``None``.
        kind: ``"sync"`` or ``"async"``: the kind of server asking.

    Raises:
        BackendUnavailable: unknown name, wrong kind, or its packages are missing
            (the message names the package to install).
    """
    targets = _targets()
    if async_mode is None:
        for name in PREFERRED_ORDER[kind]:
            if name not in targets or not running_under(name):
                continue
            try:
                backend = _load(name, targets[name])
            except ImportError:
                continue
            if backend.kind == kind:
                logger.debug("async_mode=None: picked the %r backend", name)
                return backend
        raise BackendUnavailable(f"no {kind} backend could be loaded")
    target = targets.get(async_mode)
    if target is None:
        hint = INSTALL_HINTS.get(async_mode)
        extra = f"; install {hint!r}" if hint else ""
        valid = ", ".join(sorted(set(targets) | set(INSTALL_HINTS)))
        raise BackendUnavailable(f"unknown async_mode {async_mode!r}{extra} (async_mode is "
                                 f"one of {valid}, or None for the best installed one)")
    try:
        backend = _load(async_mode, target)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(async_mode, exc.name or async_mode)
        raise BackendUnavailable(
            f"async_mode {async_mode!r} needs {hint!r} installed ({exc})"
        ) from exc
    if backend.kind != kind:
        raise BackendUnavailable(
            f"async_mode {async_mode!r} is {'an asyncio' if backend.kind == 'async' else 'a sync'}"
            " backend; use it with "
            f"{'AsyncServer' if backend.kind == 'async' else 'Server'}"
        )
    return backend
