"""Runtime backends: how a server spawns tasks, sleeps and waits.

Backends are found through the ``engineio_core.backends`` entry-point group,
so a framework package or a third party can register one without touching the
engine. ``async_mode=None`` picks the first backend of the right kind whose
imports succeed, in :data:`PREFERRED_ORDER`.
"""

from __future__ import annotations

import logging
from importlib import import_module
from importlib.metadata import entry_points

from .base import AsyncBackend, SyncBackend

__all__ = ["PREFERRED_ORDER", "AsyncBackend", "BackendUnavailable", "SyncBackend", "load_backend"]

logger = logging.getLogger("engineio_core")

GROUP = "engineio_core.backends"

PREFERRED_ORDER: dict[str, tuple[str, ...]] = {
    "sync": ("eventlet", "gevent_uwsgi", "gevent", "threading"),
    "async": ("asyncio",),
}
"""The order ``async_mode=None`` tries backends in, for sync and async servers."""

BUILTIN = {
    "threading": "engineio_core.backends.threading:backend",
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


def load_backend(async_mode: str | None, kind: str) -> SyncBackend | AsyncBackend:
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
            if name not in targets:
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
        raise BackendUnavailable(f"unknown async_mode {async_mode!r}{extra}")
    try:
        backend = _load(async_mode, target)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(async_mode, exc.name or async_mode)
        raise BackendUnavailable(
            f"async_mode {async_mode!r} needs {hint!r} installed ({exc})"
        ) from exc
    if backend.kind != kind:
        raise BackendUnavailable(
            f"async_mode {async_mode!r} is a {backend.kind} backend; use it with "
            f"{'AsyncServer' if backend.kind == 'async' else 'Server'}"
        )
    return backend
