"""``ALLOWED_HOSTS`` on Engine.IO requests: Django's own host validation, on every request.

Engine.IO requests never reach Django's views, whose ``request.get_host()`` is what
enforces ``ALLOWED_HOSTS``; without a check of their own, a page on a rebound domain
(DNS rebinding: ``evil.example`` resolving to your server) could open sessions,
since Engine.IO's same-origin default compares ``Origin`` with ``Host`` and both
name the attacker's domain. :func:`host_allowed` is installed as the servers'
``allowed_hosts`` option (engineio-core checks it on every polling request,
preflight and WebSocket upgrade, ASGI and WSGI alike): it asks Django's
``HttpRequest.get_host()`` itself, so ``ALLOWED_HOSTS``, the ``DEBUG`` localhost
defaults, ``USE_X_FORWARDED_HOST`` and the ``SERVER_NAME`` fallback behave
exactly as for a view. A refused request gets engineio-core's
``400 {"code": 3, "message": "Bad request"}``, an INFO line on the server's logger
and a ``connection_error`` call (context ``{"name": "HOST_NOT_ALLOWED", "host": ...}``).

Verdicts are cached per ``(Host, X-Forwarded-Host)`` pair (bounded), and the cache
is dropped when ``ALLOWED_HOSTS``, ``DEBUG`` or ``USE_X_FORWARDED_HOST`` change
through Django's ``setting_changed`` signal (``override_settings``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import DisallowedHost
from django.core.signals import setting_changed
from django.http import HttpRequest

from engineio_core import Request

__all__ = ["host_allowed"]

CACHE_SIZE = 1024
"""How many ``(Host, X-Forwarded-Host)`` verdicts are kept (all dropped when full)."""

_SETTINGS = frozenset({"ALLOWED_HOSTS", "DEBUG", "USE_X_FORWARDED_HOST"})

_cache: dict[tuple[str, str | None], bool] = {}
_lock = threading.Lock()


def host_allowed(request: Request) -> bool:
    """Whether Django accepts the request's host (``HttpRequest.get_host()`` does not raise).

    Args:
        request: an Engine.IO request whose ``native`` is a WSGI environ or an ASGI
            scope (what django-engineio's middleware and consumers give), or a
            Django ``HttpRequest``.
    """
    headers = request.headers
    host = headers.get("host")
    if host is None:  # the SERVER_NAME fallback: rare, not cached
        return _django_says(request)
    key = (host, headers.get("x-forwarded-host"))
    verdict = _cache.get(key)
    if verdict is None:
        verdict = _django_says(request)
        with _lock:
            if len(_cache) >= CACHE_SIZE:
                _cache.clear()
            _cache[key] = verdict
    return verdict


def _django_says(request: Request) -> bool:
    native = request.native
    django_request = native if isinstance(native, HttpRequest) else _HostRequest(request)
    try:
        django_request.get_host()
    except DisallowedHost:
        return False
    return True


class _HostRequest(HttpRequest):
    """Just what ``get_host()`` reads: ``META`` (a WSGI environ, or one built from an
    ASGI scope the way Django's ``ASGIRequest`` builds it) and the scheme."""

    def __init__(self, request: Request) -> None:
        super().__init__()
        self._engine_scheme = request.scheme
        native = request.native
        if isinstance(native, dict) and "REQUEST_METHOD" in native:
            self.META = native
            return
        meta: dict[str, Any] = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in request.headers.items()
        }
        server = native.get("server") if isinstance(native, Mapping) else None
        if server:
            meta["SERVER_NAME"], meta["SERVER_PORT"] = server[0], str(server[1])
        else:
            meta["SERVER_NAME"], meta["SERVER_PORT"] = "unknown", "0"
        self.META = meta

    def _get_scheme(self) -> str:
        return self._engine_scheme


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _SETTINGS:
        with _lock:
            _cache.clear()


setting_changed.connect(_setting_changed, dispatch_uid="django_engineio.hosts")
