"""Handler registration: ``@on("message")`` for the process's Engine.IO server.

Handlers are registered once, process-wide (usually in an app's
``engineio_handlers.py``, imported by :class:`~django_engineio.apps.EngineIOConfig`),
and installed on whichever server the deployment runs, adapted to it:

* under ASGI (``AsyncServer``), an ``async def`` handler runs on the event loop; a
  plain ``def`` handler runs through ``asgiref.sync.sync_to_async``
  (``thread_sensitive=True``, like Django's sync views), so the ORM works in it;
* under WSGI (``Server``), a plain ``def`` handler is called directly; an
  ``async def`` handler runs through ``asgiref.sync.async_to_sync``.

Plain handlers are framed by ``close_old_connections()`` the way Django frames a
request, so long-lived WebSocket sessions do not keep stale database connections.
Under WSGI the ``connect`` handler's ``request.native`` is a Django ``HttpRequest``
(with ``session`` and ``user`` when those apps are installed).
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from asgiref.sync import async_to_sync, sync_to_async
from django.db import close_old_connections

from engineio_core.backends import BackendKind
from engineio_core.base_server import BaseServer, check_event

__all__ = ["Kind", "Registry", "adapt", "on", "registry"]

F = TypeVar("F", bound=Callable[..., Any])
Kind = BackendKind
"""``"async"``: an ``AsyncServer`` (ASGI, Channels); ``"sync"``: a ``Server`` (WSGI)."""


class Registry:
    """The handlers of the process, and the live servers they are installed on."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[..., Any]] = {}
        """Event name → the handler as written (not adapted)."""
        self._servers: dict[Kind, BaseServer] = {}
        self._lock = threading.Lock()

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> F | Callable[[F], F]:
        """Register a handler, directly or as a decorator; a later one replaces it.

        Events: ``connect(sid, request)`` (return ``False`` or raise
        :class:`~engineio_core.ConnectionRefused` to refuse), ``message(sid, data)``,
        ``disconnect(sid, reason)``, ``upgrade(sid)`` and ``connection_error(refusal)``
        (each refused request, an :class:`engineio_core.Refusal`). Handlers may be plain
        functions or coroutine functions, under ASGI and WSGI alike.

        Raises:
            ValueError: unknown event name.
        """
        check_event(event)

        def register(fn: F) -> F:
            with self._lock:
                self.handlers[event] = fn
                servers = list(self._servers.items())
            for kind, server in servers:
                server.on(event, adapt(event, fn, kind))
            return fn

        if handler is None:
            return register
        return register(handler)

    def install(self, server: BaseServer, kind: Kind) -> None:
        """Install every handler on ``server``, and the ones registered later too."""
        with self._lock:
            self._servers[kind] = server
            handlers = list(self.handlers.items())
        for event, fn in handlers:
            server.on(event, adapt(event, fn, kind))

    def forget(self, kind: Kind) -> None:
        """Stop installing handlers on the server of ``kind`` (it was dropped)."""
        with self._lock:
            self._servers.pop(kind, None)


registry = Registry()
"""The process-wide registry."""

on = registry.on
"""Register a handler for an event on every server of the project, ASGI and WSGI
(:meth:`Registry.on` of the process's registry): as a decorator (``@on("message")``)
or ``on(event, handler)``; a later handler for the same event replaces it. Events:
``connect(sid, request)``, ``message(sid, data)``, ``disconnect(sid, reason)``,
``upgrade(sid)`` and ``connection_error(refusal)``."""


def adapt(event: str, fn: Callable[..., Any], kind: Kind) -> Callable[..., Any]:
    """``fn`` wrapped to run on a server of ``kind`` (keeps its signature for the server).

    Args:
        event: the event ``fn`` handles (``connect`` handlers get a Django request
            under WSGI).
        fn: the handler as written.
        kind: ``"async"`` or ``"sync"``.
    """
    is_async = inspect.iscoroutinefunction(fn)
    if kind == "async":
        if is_async:
            return fn
        run_async = sync_to_async(_framed(fn), thread_sensitive=True)

        @functools.wraps(fn)
        async def call_async(*args: Any) -> Any:
            return await run_async(*args)

        return call_async
    run = async_to_sync(fn) if is_async else _framed(fn)
    if event == "connect":

        @functools.wraps(fn)
        def connect(*args: Any) -> Any:
            # The server passes (sid, request) or just (sid,), after fn's signature.
            if len(args) > 1 and isinstance(args[1].native, dict):
                from .requests import django_request

                args[1].native = django_request(args[1].native)
            return run(*args)

        return connect

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        return run(*args)

    return call


def _framed(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` between two ``close_old_connections()``, as Django frames a request."""

    @functools.wraps(fn)
    def framed(*args: Any) -> Any:
        close_old_connections()
        try:
            return fn(*args)
        finally:
            close_old_connections()

    return framed

