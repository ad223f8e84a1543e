"""The process-wide Engine.IO server, like Channels' ``get_channel_layer()``.

Sessions live in one server per process; both answer only the hosts of Django's
``ALLOWED_HOSTS`` (:mod:`django_engineio.hosts`). Which kind is decided by the
deployment: the Channels consumers run an :class:`~engineio_core.AsyncServer`,
:class:`~django_engineio.wsgi.EngineIOMiddleware` a :class:`~engineio_core.Server`
(``ENGINEIO["ASYNC_MODE"]`` can fix it). Both are created on first use with the
options of the ``ENGINEIO`` setting and every handler registered with
:func:`~django_engineio.on`; an ``override_settings(ENGINEIO=...)`` drops them so
that the next use builds them again.

:func:`send` / :func:`asend` and :func:`disconnect` / :func:`adisconnect` work on
whichever server holds the session, and :func:`broadcast` / :func:`abroadcast` and
:func:`count_sessions` / :func:`acount_sessions` on every server the process runs, so
one handler module serves both deployments.
"""

from __future__ import annotations

import threading
from typing import cast

from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured

from engineio_core import AsyncServer, Server, ServerNotFound

from .conf import SETTING, engineio_settings
from .hosts import host_allowed
from .registry import Kind, registry

__all__ = [
    "ServerNotConfigured",
    "abroadcast",
    "acount_sessions",
    "adisconnect",
    "asend",
    "broadcast",
    "count_sessions",
    "disconnect",
    "get_async_server",
    "get_server",
    "get_sync_server",
    "reset_servers",
    "send",
]


class ServerNotConfigured(ServerNotFound, ImproperlyConfigured):
    """:func:`get_server` found no server: the ``ServerNotFound`` of every package,
    and Django's ``ImproperlyConfigured``."""

_servers: dict[Kind, AsyncServer | Server] = {}
_kinds: list[Kind] = []  # the kinds this process's deployment uses (kept across resets)
_lock = threading.Lock()


def get_server() -> AsyncServer | Server:
    """The process's Engine.IO server.

    The one the deployment uses (the ``AsyncServer`` of the Channels consumers,
    created when :mod:`django_engineio.routing` is imported, or the ``Server`` of
    :class:`~django_engineio.wsgi.EngineIOMiddleware`, created with it), or the one
    ``ENGINEIO["ASYNC_MODE"]`` names.

    Raises:
        ServerNotConfigured: no server was started in this process yet and
            ``ASYNC_MODE`` is not set, or both kinds run and ``ASYNC_MODE`` does not
            say which one is meant.
    """
    mode = engineio_settings.async_mode
    if mode is not None:
        return _get("async" if mode == "asyncio" else "sync")
    if len(_kinds) == 1:
        return _get(_kinds[0])
    if not _kinds:
        raise ServerNotConfigured(
            "no Engine.IO server runs in this process yet: route the consumers of "
            "django_engineio.routing (ASGI) or wrap the WSGI application in "
            f"django_engineio.wsgi.EngineIOMiddleware, or set {SETTING}['ASYNC_MODE']")
    raise ServerNotConfigured(
        f"both an AsyncServer and a Server run in this process; set {SETTING}['ASYNC_MODE']")


def get_async_server() -> AsyncServer:
    """The process's :class:`~engineio_core.AsyncServer` (created on first use).

    Raises:
        ImproperlyConfigured: ``ASYNC_MODE`` names a sync mode.
    """
    return cast(AsyncServer, _get("async"))


def get_sync_server() -> Server:
    """The process's :class:`~engineio_core.Server` (created on first use).

    Raises:
        ImproperlyConfigured: ``ASYNC_MODE`` is ``"asyncio"``.
    """
    return cast(Server, _get("sync"))


def reset_servers() -> None:
    """Drop the process's servers (their sessions are abandoned); the next use builds new ones.

    Called when ``ENGINEIO`` changes (``override_settings``).
    """
    with _lock:
        for kind in list(_servers):
            registry.forget(kind)
        _servers.clear()


def send(sid: str, data: str | bytes) -> None:
    """Send a message to a session, from sync code (a plain handler, a sync view).

    Under ASGI it runs the ``AsyncServer``'s ``send`` on its event loop
    (``async_to_sync``), so call it from code that ``sync_to_async`` runs (plain
    handlers, Django's sync views), not from the event loop: use :func:`asend` there.

    Raises:
        SessionUnknown: no open session has this id.
    """
    server = _owner(sid)
    if isinstance(server, AsyncServer):
        async_to_sync(server.send)(sid, data)
    else:
        server.send(sid, data)


async def asend(sid: str, data: str | bytes) -> None:
    """Send a message to a session, from async code (an ``async def`` handler or view).

    Raises:
        SessionUnknown: no open session has this id.
    """
    server = _owner(sid)
    if isinstance(server, AsyncServer):
        await server.send(sid, data)
    else:
        server.send(sid, data)  # the sync server never waits on a send for long


def disconnect(sid: str | None = None) -> None:
    """Close one session, or every session when ``sid`` is ``None`` (sync code)."""
    for server in _owners(sid):
        if isinstance(server, AsyncServer):
            async_to_sync(server.disconnect)(sid)
        else:
            server.disconnect(sid)


async def adisconnect(sid: str | None = None) -> None:
    """Close one session, or every session when ``sid`` is ``None`` (async code)."""
    for server in _owners(sid):
        if isinstance(server, AsyncServer):
            await server.disconnect(sid)
        else:
            server.disconnect(sid)


def broadcast(data: str | bytes) -> None:
    """Send a message to every open session, from sync code (a plain handler, a sync
    view); with ``CLUSTER``, to those of every process. Like :func:`send`, under ASGI
    call it from code that ``sync_to_async`` runs, not from the event loop."""
    for server in list(_servers.values()):
        if isinstance(server, AsyncServer):
            async_to_sync(server.broadcast)(data)
        else:
            server.broadcast(data)


async def abroadcast(data: str | bytes) -> None:
    """Send a message to every open session, from async code; with ``CLUSTER``, to
    those of every process."""
    for server in list(_servers.values()):
        if isinstance(server, AsyncServer):
            await server.broadcast(data)
        else:
            server.broadcast(data)


def count_sessions() -> int:
    """How many sessions are open (sync code): those of this process's servers, or
    with ``CLUSTER`` of every process. ``get_server().session_ids()`` lists this
    process's."""
    total = 0
    for server in list(_servers.values()):
        if isinstance(server, AsyncServer):
            total += async_to_sync(server.count_sessions)()
        else:
            total += server.count_sessions()
    return total


async def acount_sessions() -> int:
    """How many sessions are open (async code): those of this process's servers, or
    with ``CLUSTER`` of every process."""
    total = 0
    for server in list(_servers.values()):
        if isinstance(server, AsyncServer):
            total += await server.count_sessions()
        else:
            total += server.count_sessions()
    return total


def _owner(sid: str) -> AsyncServer | Server:
    """The server holding session ``sid`` (when both kinds run), else :func:`get_server`."""
    for server in list(_servers.values()):
        if server.has_session(sid):
            return server
    return get_server()


def _owners(sid: str | None) -> list[AsyncServer | Server]:
    if sid is None:
        return list(_servers.values())
    return [_owner(sid)]


def _get(kind: Kind) -> AsyncServer | Server:
    server = _servers.get(kind)
    if server is not None:
        return server
    mode = engineio_settings.async_mode
    if mode is not None and (mode == "asyncio") != (kind == "async"):
        raise ImproperlyConfigured(
            f"{SETTING}['ASYNC_MODE'] is {mode!r}, but this deployment needs "
            + ("an AsyncServer (ASGI)" if kind == "async" else "a Server (WSGI)"))
    with _lock:
        server = _servers.get(kind)
        if server is None:
            options = engineio_settings.server_options()
            options["allowed_hosts"] = host_allowed  # settings.ALLOWED_HOSTS, as Django does
            server = (AsyncServer(async_mode="asyncio", **options) if kind == "async"
                      else Server(async_mode=mode, **options))
            registry.install(server, kind)
            _servers[kind] = server
            if kind not in _kinds:
                _kinds.append(kind)
    return server
