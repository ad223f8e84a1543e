"""``setup(app)`` / ``get_server(app)``: attach an :class:`~engineio_core.AsyncServer` to an
aiohttp application, in the aiohttp-jinja2 style (a typed ``web.AppKey``).

Lifecycle:

* ``app.on_shutdown``: every open session is closed (``server disconnect``);
  WebSockets get the ``1`` packet, then close code 1001 "going away". This runs
  before aiohttp waits for its handlers, so held long-polls and WebSocket loops
  end and the shutdown is not held up by them.
* ``app.cleanup_ctx``: owns the heartbeat timer. The server has no timer task to
  start: its timer is a single ``loop.call_at``, armed lazily for the earliest
  deadline. The cleanup context's exit calls ``server.shutdown(close_code=1001)``
  again, which closes anything left (sessions waiting to deliver their close
  packet) and cancels that timer, so nothing of the server outlives the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import web

from engineio_core import AsyncServer, ConfigError, ServerNotFound
from engineio_core.hosting import hosted_server

from .adapter import make_handler

__all__ = ["SERVER_KEY", "get_server", "setup"]

GOING_AWAY = 1001

SERVER_KEY: Final = web.AppKey("engineio_server", AsyncServer)
"""Where :func:`setup` stores the server: ``app[SERVER_KEY]``."""


def setup(
    app: web.Application,
    server: AsyncServer | Any | None = None,
    *,
    path: str = "/engine.io/",
    app_key: web.AppKey[AsyncServer] = SERVER_KEY,
    **options: Any,
) -> AsyncServer:
    """Serve Engine.IO on ``app`` at ``path`` and tie the server to the app's lifecycle.

    Call it before the application starts (and, for a sub-application, before
    ``parent.add_subapp(prefix, app)``: the path is then ``prefix + path``).

    Args:
        app: the aiohttp application.
        server: an existing server (or a python-socketio server on our engine,
            ``engineio_core.socketio.AsyncServer``: its engine is served); by
            default a new ``AsyncServer(async_mode="aiohttp", **options)`` is made.
        path: where Engine.IO is served, matched with and without the trailing slash.
        app_key: the key the server is stored under (another key lets one
            application serve two servers, on two paths).
        **options: server options (``ping_interval``, ``max_http_buffer_size``,
            ``cors_allowed_origins``...), only when ``server`` is not given.

    Returns:
        The server, to register handlers on (``@server.on("message")``).

    Raises:
        RuntimeError: ``setup`` was already called on ``app`` with this key.
        TypeError: both ``server`` and options were given, or ``server`` is not
            an asyncio server of ours.
        engineio_core.ConfigError: an unknown or invalid option, or ``async_mode``.
    """
    if app_key in app:
        raise RuntimeError("aiohttp_engineio.setup() was already called for this application")
    if "async_mode" in options:
        raise ConfigError("aiohttp_engineio.setup() always serves with async_mode='aiohttp': "
                          "leave async_mode out (or pass a server you built)")
    if server is None:
        server = AsyncServer(async_mode="aiohttp", **options)
    elif options:
        raise TypeError(
            f"setup() got options {sorted(options)} and a server: "
            "give the options to AsyncServer(...) instead"
        )
    else:
        server = hosted_server(server, AsyncServer, "aiohttp_engineio.setup()")
    handler = make_handler(server)
    base = "/" + path.strip("/")
    for route in (base, base + "/") if base != "/" else ("/",):
        app.router.add_route("*", route, handler)
    app[app_key] = server
    engine_server = server

    async def close_sessions(app: web.Application) -> None:
        await engine_server.shutdown(close_code=GOING_AWAY)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await engine_server.start()  # joins its cluster (cluster=...), if it has one
        yield
        await engine_server.shutdown(close_code=GOING_AWAY)

    app.on_shutdown.append(close_sessions)
    app.cleanup_ctx.append(lifecycle)
    return server


def get_server(app: web.Application, app_key: web.AppKey[AsyncServer] = SERVER_KEY) -> AsyncServer:
    """The server :func:`setup` attached to ``app``.

    Args:
        app: the application ``setup`` was called on (in a handler: ``request.app``).
        app_key: the key given to ``setup``, if not the default.

    Raises:
        ServerNotFound: ``setup`` was not called on ``app``.
    """
    try:
        return app[app_key]
    except KeyError:
        raise ServerNotFound(
            "no Engine.IO server on this application: call aiohttp_engineio.setup(app) first"
        ) from None
