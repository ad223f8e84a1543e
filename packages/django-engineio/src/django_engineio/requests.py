"""Requests as the engine and the handlers see them.

* :func:`to_engine_request`: an engineio-core :class:`~engineio_core.Request` for a
  Channels (ASGI) scope, ``native`` being the scope itself (with ``user`` and
  ``session`` when the routes are wrapped in Channels' ``AuthMiddlewareStack``);
* :func:`django_request`: the Django ``HttpRequest`` a WSGI ``connect`` handler gets
  as ``request.native``, with ``session`` and ``user`` set the way Django's
  ``SessionMiddleware`` and ``AuthenticationMiddleware`` set them.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from django.apps import apps
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse

# engineio-core's own scope conversion (not in its public API yet).
from engineio_core import Request, asgi

__all__ = ["django_request", "to_engine_request"]


def to_engine_request(scope: MutableMapping[str, Any]) -> Request:
    """An engineio-core request for an ASGI ``http`` or ``websocket`` scope (body not read).

    The same conversion as engineio-core's ``ASGIApp`` (headers, query, client,
    scheme), so a consumer and ``ASGIApp`` present identical requests.
    """
    return asgi.to_engine_request(scope)


def django_request(environ: dict[str, Any]) -> HttpRequest:
    """A Django request for a WSGI environ, with ``session`` and ``user`` (lazy) attached.

    ``session`` is set when ``django.contrib.sessions`` is installed, ``user`` and
    ``auser`` when ``django.contrib.auth`` is too, by Django's own middleware
    (only their ``process_request`` step runs).
    """
    request = WSGIRequest(environ)
    if apps.is_installed("django.contrib.sessions"):
        from django.contrib.sessions.middleware import SessionMiddleware

        SessionMiddleware(_no_response).process_request(request)
        if apps.is_installed("django.contrib.auth"):
            from django.contrib.auth.middleware import AuthenticationMiddleware

            AuthenticationMiddleware(_no_response).process_request(request)
    return request


def _no_response(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    raise RuntimeError("only process_request runs")
