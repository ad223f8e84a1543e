"""``FlaskEngineIO``: the Flask extension (``init_app``, config, handlers in the app context).

Glue only: ``init_app`` builds an :class:`engineio_core.Server` from the app's
``ENGINEIO_*`` config, keeps it in ``app.extensions["engineio"]`` and wraps
``app.wsgi_app`` in an :class:`engineio_core.WSGIApp`, so Engine.IO requests go
to the server and everything else reaches Flask. The extension object holds
handlers and options, never an app, so one object can serve several apps.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, overload

from flask import Flask, current_app, has_app_context, request, request_started
from werkzeug.exceptions import SecurityError
from werkzeug.wsgi import get_host

from engineio_core import ConfigError, Request, Server, ServerNotFound, WSGIApp
from engineio_core.base_server import check_event
from engineio_core.protocol.session import TransportName

from .config import CONFIG_PREFIX, DEFAULT_PATH, read_config
from .serving import run_app

if TYPE_CHECKING:
    from .testing import EngineIOTestClient

__all__ = ["EXTENSION_KEY", "EngineIOState", "FlaskEngineIO", "get_server"]

F = TypeVar("F", bound=Callable[..., Any])

EXTENSION_KEY = "engineio"
"""The key of the per-app state in ``app.extensions``."""


class EngineIOState:
    """What ``init_app`` keeps per app, in ``app.extensions["engineio"]``.

    Attributes:
        server: the app's :class:`engineio_core.Server`.
        path: the URL path Engine.IO is served at (``/engine.io/``).
        extension: the :class:`FlaskEngineIO` that initialised the app.
    """

    __slots__ = ("__weakref__", "_app", "extension", "path", "server")

    def __init__(self, app: Flask, server: Server, path: str, extension: FlaskEngineIO) -> None:
        self._app = app
        self.server = server
        self.path = path
        self.extension = extension

    def register(self, event: str, fn: Callable[..., Any]) -> None:
        """Register ``fn`` on the server, wrapped to run in this app's context."""
        self.server.on(event, _in_context(self._app, event, fn))


def get_state(app: Flask) -> EngineIOState:
    """The Engine.IO state of ``app``.

    Raises:
        ServerNotFound: ``init_app`` was not called for ``app``.
    """
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, EngineIOState):
        raise ServerNotFound(f"Engine.IO is not initialised on the Flask app {app.name!r}: "
                           "call FlaskEngineIO(app) or eio.init_app(app) first")
    return state


def get_server(app: Flask) -> Server:
    """The :class:`engineio_core.Server` that ``init_app`` created for ``app``.

    Raises:
        ServerNotFound: ``init_app`` was not called for ``app``.
    """
    return get_state(app).server


class FlaskEngineIO:
    """Engine.IO (v3 and v4) for Flask: polling and WebSocket next to your views.

    Options come from ``app.config`` keys ``ENGINEIO_<OPTION>`` (``ENGINEIO_PATH``,
    ``ENGINEIO_ASYNC_MODE``, ``ENGINEIO_PING_INTERVAL``, ``ENGINEIO_CORS_ALLOWED_ORIGINS``...,
    see docs/flask.md); keyword arguments here and to :meth:`init_app` override them.

    Handlers may be registered before :meth:`init_app` and run inside the app
    context (``connect`` also inside a request context: ``flask.request`` is the
    handshake request). The server methods (:meth:`send`...) use the server of
    ``current_app``, so they need an application context, as in a handler or a view.

    Args:
        app: the Flask app; ``None`` to call :meth:`init_app` later (app factories).
        **options: ``path``, ``async_mode``, ``logger`` and server options
            (``ping_interval``, ``cors_allowed_origins``...).

    Example::

        app = Flask(__name__)
        eio = FlaskEngineIO(app)

        @eio.on("message")
        def message(sid, data):
            eio.send(sid, data)
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        self.options = options
        self.handlers: dict[str, Callable[..., Any]] = {}
        # The servers this extension created (weakly: each lives as long as its app),
        # so that a handler registered after init_app reaches them too.
        self._states: weakref.WeakSet[EngineIOState] = weakref.WeakSet()
        _extensions.add(self)
        request_started.connect(_warn_not_initialised)  # once: blinker keeps one receiver
        if app is not None:
            self.init_app(app)

    # ------------------------------------------------------------------ setup
    def init_app(self, app: Flask, **options: Any) -> None:
        """Create ``app``'s Engine.IO server and serve it in front of ``app.wsgi_app``.

        Reads the ``ENGINEIO_*`` keys once (``app.config.setdefault``), then the
        keyword options of the constructor, then those given here. Unless
        ``ENGINEIO_ALLOWED_HOSTS`` is set, Flask's ``TRUSTED_HOSTS`` (read now too)
        applies to Engine.IO requests, which never reach Flask's own check.

        Args:
            app: the Flask app.
            **options: options for this app only; they override the others.

        Raises:
            RuntimeError: ``init_app`` was already called for ``app``.
            ConfigError: an unknown ``ENGINEIO_*`` key or option, or a bad value.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"Engine.IO is already initialised on the Flask app {app.name!r}: call "
                "init_app once per app (create FlaskEngineIO() once and call "
                "eio.init_app(app) in the app factory)")
        settings = read_config(app, {**self.options, **options})
        path = settings.pop("path")
        if not isinstance(path, str) or not path.strip("/"):
            raise ConfigError(f"ENGINEIO_PATH must be a non-empty URL path, got {path!r}")
        trusted = app.config.get("TRUSTED_HOSTS")
        if settings.get("allowed_hosts") is None and trusted is not None:
            settings["allowed_hosts"] = _trusted_hosts(list(trusted))
        server = Server(**settings)
        mounted = "/" + path.strip("/") + "/"
        state = EngineIOState(app, server, mounted, self)
        for event, handler in self.handlers.items():
            state.register(event, handler)
        self._states.add(state)
        app.extensions[EXTENSION_KEY] = state
        app.wsgi_app = WSGIApp(  # type: ignore[method-assign]
            server, wsgi_app=app.wsgi_app, engineio_path=mounted)

    # ------------------------------------------------------------------ handlers
    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> F | Callable[[F], F]:
        """Register a handler, directly or as a decorator (also before :meth:`init_app`).

        Handlers: ``connect(sid, request)`` (``request`` is the
        :class:`engineio_core.Request`; ``flask.request`` is the handshake request;
        return ``False`` or raise :class:`engineio_core.ConnectionRefused` to refuse),
        ``message(sid, data)``, ``disconnect(sid, reason)``, ``upgrade(sid)``,
        ``connection_error(refusal)`` (each refused request). Each
        runs inside the app context of the app whose server received the event.

        Raises:
            ValueError: unknown event name.
        """
        check_event(event)

        def register(fn: F) -> F:
            self.handlers[event] = fn
            for state in list(self._states):
                state.register(event, fn)
            return fn

        if handler is None:
            return register
        return register(handler)

    # ------------------------------------------------------------------ server API
    @property
    def server(self) -> Server:
        """The :class:`engineio_core.Server` of ``current_app``.

        Raises:
            RuntimeError: outside an application context, or ``init_app`` was not
                called for the current app.
        """
        if not has_app_context():
            raise RuntimeError(
                "FlaskEngineIO needs an application context to find the app's server: "
                "call it from a handler or a view, or inside `with app.app_context():`")
        return get_server(current_app)

    def send(self, sid: str, data: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message to a session.

        Raises:
            SessionUnknown: no open session has this id.
            RuntimeError: outside an application context.
        """
        self.server.send(sid, data)

    def disconnect(self, sid: str | None = None) -> None:
        """Close one session, or every session of the current app when ``sid`` is ``None``."""
        self.server.disconnect(sid)

    def broadcast(self, data: str | bytes) -> None:
        """Send a message to every open session of the current app (with
        ``ENGINEIO_CLUSTER``: of every process of the cluster)."""
        self.server.broadcast(data)

    def count_sessions(self) -> int:
        """How many sessions the current app has open (with ``ENGINEIO_CLUSTER``:
        in every process of the cluster together)."""
        return self.server.count_sessions()

    def session_ids(self) -> list[str]:
        """The ids of the sessions the current app's server holds (in this process)."""
        return self.server.session_ids()

    def session_count(self) -> int:
        """How many sessions the current app's server holds (in this process)."""
        return self.server.session_count()

    @contextmanager
    def session(self, sid: str) -> Iterator[dict[str, Any]]:
        """The application's dict for a session, as a context manager."""
        with self.server.session(sid) as data:
            yield data

    def get_session(self, sid: str) -> dict[str, Any]:
        """The application's dict for a session."""
        return self.server.get_session(sid)

    def save_session(self, sid: str, data: dict[str, Any]) -> None:
        """Replace the application's dict for a session."""
        self.server.save_session(sid, data)

    def transport(self, sid: str) -> TransportName:
        """``"polling"`` or ``"websocket"``."""
        return self.server.transport(sid)

    def start_background_task(self, target: Callable[..., Any], *args: Any,
                              **kwargs: Any) -> Any:
        """Run ``target(*args, **kwargs)`` in the background, inside the current app's context.

        Returns:
            The backend's handle (a thread or green thread) with ``join()``.
        """
        server = self.server
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def run() -> Any:
            with app.app_context():
                return target(*args, **kwargs)

        return server.start_background_task(run)

    def sleep(self, seconds: float = 0) -> None:
        """Sleep the way the server's backend sleeps (a green thread yields to the others)."""
        self.server.sleep(seconds)

    # ------------------------------------------------------------------ serving, testing
    def run(self, app: Flask, host: str = "127.0.0.1", port: int = 5000, **kwargs: Any) -> None:
        """Serve ``app`` with the server that suits its ``async_mode`` (blocks).

        ``threading``: Werkzeug's threaded server (``app.run(threaded=True)``, which
        takes ``debug``, ``use_reloader``...); ``eventlet``: ``eventlet.wsgi.server``;
        ``gevent``: ``gevent.pywsgi.WSGIServer``. Extra keyword arguments go to that server.

        Raises:
            RuntimeError: ``init_app`` was not called, or the mode has no server of
                its own here (``gevent_uwsgi``: start ``uwsgi``).
        """
        run_app(app, get_server(app).async_mode, host, port, **kwargs)

    def test_client(self, app: Flask, **kwargs: Any) -> EngineIOTestClient:
        """An in-memory Engine.IO client for ``app`` (:class:`~flask_engineio.EngineIOTestClient`).

        Args:
            app: an app this extension was initialised on.
            **kwargs: ``transport``, ``query``, ``headers``, ``connect``.
        """
        from .testing import EngineIOTestClient

        if get_state(app).extension is not self:
            raise RuntimeError(f"this FlaskEngineIO was not initialised on {app.name!r}")
        return EngineIOTestClient(app, **kwargs)


_extensions: weakref.WeakSet[FlaskEngineIO] = weakref.WeakSet()
"""Every live extension (their ``path`` options are Engine.IO paths too)."""

_warned: weakref.WeakSet[Flask] = weakref.WeakSet()
"""The apps :func:`_warn_not_initialised` has warned about."""


def _warn_not_initialised(sender: Flask, **extra: Any) -> None:
    """Warn, once per app, when a request for an Engine.IO path reaches the views of an
    app that ``init_app`` never saw (connected to Flask's ``request_started`` signal
    by every :class:`FlaskEngineIO`; an initialised app never sends it for them)."""
    if EXTENSION_KEY in sender.extensions or sender in _warned:
        return
    paths = {DEFAULT_PATH, sender.config.get(CONFIG_PREFIX + "PATH")}
    paths.update(extension.options.get("path") for extension in list(_extensions))
    here = request.path.strip("/")
    if not any(isinstance(path, str) and path.strip("/") == here for path in paths):
        return
    _warned.add(sender)
    sender.logger.warning(
        "%s %s reached the views of the Flask app %r (a 404 unless a view matches): "
        "Engine.IO is not initialised on it; call eio.init_app(app), or FlaskEngineIO(app), "
        "where the app is created", request.method, request.path, sender.name)


def _trusted_hosts(trusted: list[str]) -> Callable[[Request], bool]:
    """An ``allowed_hosts`` check that is Flask's ``TRUSTED_HOSTS`` check (Werkzeug's
    ``get_host``) on the request's WSGI environ."""

    def allowed(request: Request) -> bool:
        try:
            get_host(request.native, trusted)
        except SecurityError:
            return False
        return True

    return allowed


def _in_context(app: Flask, event: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` wrapped to run inside ``app``'s context (and a request context for connect)."""
    if event == "connect":
        with_request = _accepts_two(fn)

        # Always (sid, request): the request context is built from request.native,
        # the WSGI environ of the handshake request.
        def connect(sid: str, request: Request) -> Any:
            with app.request_context(request.native):
                return fn(sid, request) if with_request else fn(sid)

        return connect

    # functools.wraps keeps fn's signature visible, so the server passes the
    # arguments fn takes (a one-argument disconnect(sid) works).
    @functools.wraps(fn)
    def handler(*args: Any) -> Any:
        with app.app_context():
            return fn(*args)

    return handler


def _accepts_two(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind("sid", None)
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins): assume the documented one
        return True
    return True
