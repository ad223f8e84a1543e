"""WSGI deployments: Engine.IO in front of Django's WSGI application.

``wsgi.py`` of a project::

    from django_engineio.wsgi import get_wsgi_application

    application = get_wsgi_application()

Engine.IO requests (``ENGINEIO["PATH"]``) go to the process's
:class:`~engineio_core.Server` through engineio-core's ``WSGIApp``; every other
request goes to Django. What each server gives (docs/django.md):

* gunicorn ``-k gthread`` (``ASYNC_MODE`` ``"threading"``), ``-k gevent``,
  ``-k engineio_core.backends.gunicorn_eventlet.EventletWorker``, uWSGI + gevent:
  polling, WebSocket and the upgrade;
* ``manage.py runserver`` (wsgiref, threaded): polling only; the WebSocket request is
  answered 400 because wsgiref gives no access to the connection, and clients stay
  on polling. The warning logged then says what to add: ``"daphne"`` first in
  ``INSTALLED_APPS`` (the full ASGI runserver, through ``ASGI_APPLICATION``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engineio_core import Server, WSGIApp
from engineio_core.static import StaticFiles

from .conf import engineio_settings
from .servers import get_sync_server

__all__ = ["EngineIOMiddleware", "get_wsgi_application"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGICallable = Callable[[Environ, StartResponse], Iterable[bytes]]

_RUNSERVER_HINT = (
    ". Django's runserver serves WebSocket through daphne: pip install "
    "\"django-engineio[channels]\", put \"daphne\" first in INSTALLED_APPS = [\"daphne\", ...] "
    "and point ASGI_APPLICATION at an application that routes "
    "django_engineio.routing's URL patterns (docs/django.md)"
)
"""What the warning of a WebSocket request under a WSGI server without access to the
connection (``manage.py runserver`` without daphne) adds to engineio-core's text."""


class _DjangoWSGIApp(WSGIApp):
    """engineio-core's ``WSGIApp`` whose no-WebSocket warning names daphne."""

    websocket_unavailable_hint = _RUNSERVER_HINT


class EngineIOMiddleware:
    """A WSGI application serving Engine.IO and passing everything else to ``wsgi_app``.

    It creates the process's :class:`~engineio_core.Server` (so configuration
    errors surface at start-up) and follows it when ``override_settings`` replaces
    it.

    Args:
        wsgi_app: the Django WSGI application (``django.core.wsgi.get_wsgi_application()``),
            or ``None`` to answer other requests 404.
        static_files: URL path → file, served before Django (see engineio-core's ``WSGIApp``).
    """

    def __init__(self, wsgi_app: WSGICallable | None = None, *,
                 static_files: StaticFiles | None = None) -> None:
        self.wsgi_app = wsgi_app
        self.static_files = static_files
        self._app = self._build(get_sync_server())

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request."""
        app = self._app
        server = get_sync_server()
        if app.server is not server:
            app = self._app = self._build(server)
        return app(environ, start_response)

    @property
    def server(self) -> Server:
        """The Engine.IO server."""
        return get_sync_server()

    def _build(self, server: Server) -> WSGIApp:
        return _DjangoWSGIApp(server, wsgi_app=self.wsgi_app, static_files=self.static_files,
                              engineio_path=engineio_settings.path)


def get_wsgi_application() -> EngineIOMiddleware:
    """Django's ``get_wsgi_application()`` (which sets Django up) behind
    :class:`EngineIOMiddleware`."""
    from django.core.wsgi import get_wsgi_application as django_wsgi_application

    return EngineIOMiddleware(django_wsgi_application())
