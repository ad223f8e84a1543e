"""The Socket.IO contract app: python-socketio as the socket.io-protocol suite's reference server.

One command per runtime, python-socketio on our engine by default, or on stock
python-engineio with ``--engine python-engineio`` (the same app and handlers,
for comparisons)::

    python -m benchmarks.socketio_serve --runtime uvicorn --port 3000
    python -m benchmarks.socketio_serve --runtime aiohttp --port 3000 --engine python-engineio

Runtimes, each served the way a python-socketio user would:

* ``uvicorn``: ``socketio.ASGIApp(sio)`` under uvicorn;
* ``aiohttp``: ``sio.attach(app)``, ``web.run_app``;
* ``tornado``: ``tornado_engineio.engineio_routes(sio, "/socket.io/")`` (python-engineio:
  ``socketio.get_tornado_handler(sio)``);
* ``sanic``: ``sio.attach(app)``, Sanic's own server in one process;
* ``flask``, ``eventlet``, ``gevent``: Flask-SocketIO, ``SocketIO(app, async_mode=...)``
  started with its ``run()``: Werkzeug threaded (python-engineio: WebSocket through
  simple-websocket), ``eventlet.wsgi``, gevent's ``pywsgi`` with gevent-websocket's
  handler; on our engine ``engineio_core.socketio.install()`` runs first, the handlers
  use Flask-SocketIO's API (``request.sid``, ``emit``, ``join_room``...);
* ``django-channels``: daphne serving ``socketio.ASGIApp(sio, other_asgi_app=...)`` in
  front of Channels' ``ProtocolTypeRouter`` with Django's ASGI app;
* ``django-wsgi``: gunicorn ``-k gthread`` serving ``socketio.WSGIApp(sio, django_wsgi)``
  (a sync ``socketio.Server``, threading).

What it does, as the reference server of ``socketio/socket.io-protocol``'s
``test-suite/`` (ping interval 300 ms, ping timeout 200 ms, maxPayload 1000000,
connectTimeout 1000 ms, CORS any origin):

* on connect to ``/`` and ``/custom``: emits ``auth`` with the client's auth payload
  (``{}`` without one). The servers are built with ``always_connect=True`` so that this
  event follows the connect acknowledgement, as in the reference;
* on ``/``: ``message`` -> emits ``message-back`` to the caller with the same arguments;
  ``message-with-ack`` -> acknowledged with its arguments;
* an Engine.IO session that has joined no namespace within the connect timeout is
  closed (node's ``connectTimeout``, cleared by the first namespace connect; python-
  socketio has no such option: the app wraps its engine ``connect`` handler).

Extra events, on ``/`` and ``/custom`` (never sent by the suite, so its tests see the
reference behaviour), for the interop tests (``tests/interop/test_socketio.py``);
each one's acknowledgement, when the client asks for one, is given in brackets:

* ``join`` (room) -> the caller enters the room, then ``member-joined`` (room, number
  of members) is emitted to the room [room];
* ``leave`` (room) -> the caller leaves the room [room];
* ``to-room`` (room, *args) -> ``room-message`` (*args) to every member of the room,
  the caller included if it is one [nothing];
* ``broadcast`` (*args) -> ``broadcast`` (*args) to every client of the namespace,
  the caller included [nothing];
* ``rooms`` -> [the caller's rooms but its own, sorted];
* ``whoami`` -> [{"sid", "namespace", "transport"}] (the server's view: ``transport``
  is ``polling`` or ``websocket``);
* ``ask`` (*args) -> the server calls the caller's ``question`` event with the same
  arguments, waits for the client's acknowledgement (one value) and acknowledges
  ``ask`` with it [that value]: an acknowledgement from client to server;
* ``disconnect-me`` -> the server disconnects the caller from the namespace (Socket.IO
  disconnect: socket.io-client does not reconnect by itself);
* ``close-transport`` -> the server closes the caller's Engine.IO session (socket.io-
  client sees a transport close and reconnects by itself).

Environment, as ``../shared/bench/CONTRACT.md`` for the Engine.IO contract apps:
``PORT`` (when ``--port`` is not given), ``EIO_PING_INTERVAL`` and ``EIO_PING_TIMEOUT``
(ms; defaults 300 and 200, the suite's), ``EIO_MAX_PAYLOAD`` (bytes, 1000000);
``SIO_CONNECT_TIMEOUT`` (ms, 1000; ``0``: none). ``SIO_ENGINE`` carries ``--engine`` to
the processes that import this module by name (gunicorn's worker, daphne).
SIGTERM closes every session first, as the Engine.IO contract apps do (on our engine,
through :func:`benchmarks.contract_app.close_sessions_async` and
:func:`~benchmarks.contract_app.close_sessions_on_exit`).
"""

from __future__ import annotations

import sys

# Green threads: monkey-patch before anything else is imported, as Flask-SocketIO's
# documentation asks (only when started for that runtime).
_RUNTIME = sys.argv[sys.argv.index("--runtime") + 1] if "--runtime" in sys.argv[:-1] else ""
if _RUNTIME == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif _RUNTIME == "gevent":
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import inspect  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import socketio  # noqa: E402

from .contract_app import (  # noqa: E402
    close_sessions_async,
    close_sessions_on_exit,
    options,
    run_daphne,
    run_uvicorn,
)

if TYPE_CHECKING:
    from flask_socketio import SocketIO

RUNTIMES = ("uvicorn", "aiohttp", "tornado", "sanic", "flask", "eventlet", "gevent",
            "django-channels", "django-wsgi")
ENGINES = ("ours", "python-engineio")
NAMESPACES = ("/", "/custom")
HOST = "127.0.0.1"
FLASK_MODES = {"flask": "threading", "eventlet": "eventlet", "gevent": "gevent"}


def engine() -> str:
    """The engine chosen (``SIO_ENGINE``, set from ``--engine``)."""
    name = os.environ.get("SIO_ENGINE", "ours")
    if name not in ENGINES:
        raise SystemExit(f"SIO_ENGINE={name!r}: choose from {ENGINES}")
    return name


def server_options() -> dict[str, Any]:
    """python-socketio options of the reference server (``EIO_*`` from the environment)."""
    return {**options(ping_interval_ms=300, ping_timeout_ms=200), "always_connect": True}


def connect_timeout() -> float:
    """Seconds an Engine.IO session has to join a namespace (``SIO_CONNECT_TIMEOUT``, ms)."""
    return int(os.environ.get("SIO_CONNECT_TIMEOUT", "1000")) / 1000


def ours() -> bool:
    return engine() == "ours"


def _server_class(asyncio: bool) -> Any:
    """python-socketio's ``AsyncServer`` or ``Server`` of the chosen engine."""
    if ours():
        import engineio_core.socketio as on_ours

        return on_ours.AsyncServer if asyncio else on_ours.Server
    return socketio.AsyncServer if asyncio else socketio.Server


def make_async_server(async_mode: str) -> Any:
    """A python-socketio ``AsyncServer`` of the chosen engine, with the handlers."""
    sio = _server_class(asyncio=True)(async_mode=async_mode, **server_options())
    register_async(sio)
    return sio


def make_sync_server(async_mode: str) -> Any:
    """A python-socketio ``Server`` of the chosen engine, with the handlers."""
    sio = _server_class(asyncio=False)(async_mode=async_mode, **server_options())
    register_sync(sio)
    return sio


# ---------------------------------------------------------------------------
# Handlers: python-socketio's API (async and sync), then Flask-SocketIO's
# ---------------------------------------------------------------------------


def _auth(auth: Any) -> Any:
    return {} if auth is None else auth


def _members(sio: Any, namespace: str, room: str) -> int:
    return sum(1 for _ in sio.manager.get_participants(namespace, room))


def _joined_once(sio: Any) -> set[str]:
    """The Engine.IO sessions of ``sio`` that have joined a namespace since they opened.

    Node's ``connectTimeout`` is cleared by a session's first namespace connect: a
    session that leaves every namespace later is not closed for it. The set is filled
    by python-socketio's manager (each namespace connect goes through its
    ``connect``) and emptied by the timeout's own check.
    """
    joined: set[str] = set()
    manager = sio.manager
    manager_connect = manager.connect  # (sid, namespace): the namespace connect succeeded

    if inspect.iscoroutinefunction(manager_connect):
        async def connect(sid: str, namespace: str) -> Any:
            joined.add(manager.eio_sid_from_sid(sid, namespace))
            return await manager_connect(sid, namespace)
    else:
        def connect(sid: str, namespace: str) -> Any:  # type: ignore[misc]
            joined.add(manager.eio_sid_from_sid(sid, namespace))
            return manager_connect(sid, namespace)

    manager.connect = connect
    return joined


def _register(sio: Any, ns: str, handlers: dict[str, Any]) -> None:
    """Register a namespace's handlers on a python-socketio server (either kind): the
    reference's ``message`` events on ``/`` only, the rest on every namespace."""
    for event, handler in handlers.items():
        if ns == "/" or event not in ("message", "message-with-ack"):
            sio.on(event, handler, namespace=ns)


def register_async(sio: Any) -> None:
    """The reference handlers and the extra events on a python-socketio ``AsyncServer``."""
    for namespace in NAMESPACES:
        _register_async_namespace(sio, namespace)
    seconds = connect_timeout()
    if seconds <= 0:
        return
    engine_connect = sio._handle_eio_connect  # python-socketio's own engine handler
    joined = _joined_once(sio)

    async def expire(eio_sid: str) -> None:
        await sio.sleep(seconds)
        if eio_sid in joined:
            joined.discard(eio_sid)
        elif eio_sid in sio.environ:
            await sio.eio.disconnect(eio_sid)

    async def connect(eio_sid: str, environ: dict[str, Any]) -> Any:
        result = await engine_connect(eio_sid, environ)
        if result is not False:
            sio.start_background_task(expire, eio_sid)
        return result

    sio.eio.on("connect", connect)


def _register_async_namespace(sio: Any, ns: str) -> None:
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.emit("auth", _auth(auth), to=sid, namespace=ns)

    async def message(sid: str, *args: Any) -> None:
        await sio.emit("message-back", args, to=sid, namespace=ns)

    async def message_with_ack(sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room, namespace=ns)
        await sio.emit("member-joined", (room, _members(sio, ns, room)), room=room, namespace=ns)
        return room

    async def leave(sid: str, room: str) -> str:
        await sio.leave_room(sid, room, namespace=ns)
        return room

    async def to_room(sid: str, room: str, *args: Any) -> None:
        await sio.emit("room-message", args, room=room, namespace=ns)

    async def broadcast(sid: str, *args: Any) -> None:
        await sio.emit("broadcast", args, namespace=ns)

    async def rooms(sid: str) -> list[str]:
        return sorted(r for r in sio.rooms(sid, namespace=ns) if r != sid)

    async def whoami(sid: str) -> dict[str, str]:
        return {"sid": sid, "namespace": ns, "transport": sio.transport(sid, namespace=ns)}

    async def ask(sid: str, *args: Any) -> tuple[Any]:
        return (await sio.call("question", args, to=sid, namespace=ns, timeout=5),)

    async def disconnect_me(sid: str) -> None:
        await sio.disconnect(sid, namespace=ns)

    async def close_transport(sid: str) -> None:
        await sio.eio.disconnect(sio.manager.eio_sid_from_sid(sid, ns))

    _register(sio, ns, {"connect": connect, "message": message,
                        "message-with-ack": message_with_ack, "join": join, "leave": leave,
                        "to-room": to_room, "broadcast": broadcast, "rooms": rooms,
                        "whoami": whoami, "ask": ask, "disconnect-me": disconnect_me,
                        "close-transport": close_transport})


def add_sync_connect_timeout(sio: Any) -> None:
    """Close an Engine.IO session of the sync ``sio`` that joined no namespace in time."""
    seconds = connect_timeout()
    if seconds <= 0:
        return
    engine_connect = sio._handle_eio_connect  # python-socketio's own engine handler
    joined = _joined_once(sio)

    def expire(eio_sid: str) -> None:
        sio.sleep(seconds)
        if eio_sid in joined:
            joined.discard(eio_sid)
        elif eio_sid in sio.environ:
            sio.eio.disconnect(eio_sid)

    def connect(eio_sid: str, environ: dict[str, Any]) -> Any:
        result = engine_connect(eio_sid, environ)
        if result is not False:
            sio.start_background_task(expire, eio_sid)
        return result

    sio.eio.on("connect", connect)


def register_sync(sio: Any) -> None:
    """The reference handlers and the extra events on a python-socketio ``Server``."""
    for namespace in NAMESPACES:
        _register_sync_namespace(sio, namespace)
    add_sync_connect_timeout(sio)


def _register_sync_namespace(sio: Any, ns: str) -> None:
    def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        sio.emit("auth", _auth(auth), to=sid, namespace=ns)

    def message(sid: str, *args: Any) -> None:
        sio.emit("message-back", args, to=sid, namespace=ns)

    def message_with_ack(sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    def join(sid: str, room: str) -> str:
        sio.enter_room(sid, room, namespace=ns)
        sio.emit("member-joined", (room, _members(sio, ns, room)), room=room, namespace=ns)
        return room

    def leave(sid: str, room: str) -> str:
        sio.leave_room(sid, room, namespace=ns)
        return room

    def to_room(sid: str, room: str, *args: Any) -> None:
        sio.emit("room-message", args, room=room, namespace=ns)

    def broadcast(sid: str, *args: Any) -> None:
        sio.emit("broadcast", args, namespace=ns)

    def rooms(sid: str) -> list[str]:
        return sorted(r for r in sio.rooms(sid, namespace=ns) if r != sid)

    def whoami(sid: str) -> dict[str, str]:
        return {"sid": sid, "namespace": ns, "transport": sio.transport(sid, namespace=ns)}

    def ask(sid: str, *args: Any) -> tuple[Any]:
        return (sio.call("question", args, to=sid, namespace=ns, timeout=5),)

    def disconnect_me(sid: str) -> None:
        sio.disconnect(sid, namespace=ns)

    def close_transport(sid: str) -> None:
        sio.eio.disconnect(sio.manager.eio_sid_from_sid(sid, ns))

    _register(sio, ns, {"connect": connect, "message": message,
                        "message-with-ack": message_with_ack, "join": join, "leave": leave,
                        "to-room": to_room, "broadcast": broadcast, "rooms": rooms,
                        "whoami": whoami, "ask": ask, "disconnect-me": disconnect_me,
                        "close-transport": close_transport})


def register_flask(socketio_ext: SocketIO) -> None:
    """The same handlers with Flask-SocketIO's API (they run in a request context)."""
    for namespace in NAMESPACES:
        _register_flask_namespace(socketio_ext, namespace)


def _register_flask_namespace(ext: SocketIO, ns: str) -> None:
    import flask_socketio as fs
    from flask import request

    def sid() -> str:
        return request.sid  # type: ignore[attr-defined,no-any-return]  # set by Flask-SocketIO

    def connect(auth: Any = None) -> None:
        fs.emit("auth", _auth(auth))

    def message(*args: Any) -> None:
        fs.emit("message-back", args)  # Flask-SocketIO: several arguments as one tuple

    def message_with_ack(*args: Any) -> tuple[Any, ...]:
        return args

    def join(room: str) -> str:
        fs.join_room(room)
        fs.emit("member-joined", (room, _members(ext.server, ns, room)), to=room)
        return room

    def leave(room: str) -> str:
        fs.leave_room(room)
        return room

    def to_room(room: str, *args: Any) -> None:
        fs.emit("room-message", args, to=room)

    def broadcast(*args: Any) -> None:
        fs.emit("broadcast", args, broadcast=True)

    def rooms() -> list[str]:
        return sorted(r for r in fs.rooms() if r != sid())

    def whoami() -> dict[str, str]:
        return {"sid": sid(), "namespace": ns,
                "transport": ext.server.transport(sid(), namespace=ns)}

    def ask(*args: Any) -> tuple[Any]:
        return (fs.call("question", args, timeout=5),)

    def disconnect_me() -> None:
        fs.disconnect()

    def close_transport() -> None:
        ext.server.eio.disconnect(ext.server.manager.eio_sid_from_sid(sid(), ns))

    ext.on_event("connect", connect, namespace=ns)
    if ns == "/":
        ext.on_event("message", message, namespace=ns)
        ext.on_event("message-with-ack", message_with_ack, namespace=ns)
    for event, handler in (("join", join), ("leave", leave), ("to-room", to_room),
                           ("broadcast", broadcast), ("rooms", rooms), ("whoami", whoami),
                           ("ask", ask), ("disconnect-me", disconnect_me),
                           ("close-transport", close_transport)):
        ext.on_event(event, handler, namespace=ns)


# ---------------------------------------------------------------------------
# Runtimes
# ---------------------------------------------------------------------------


def async_closer(sio: Any) -> Any:
    """What SIGTERM awaits before the server stops: every session closed."""
    if ours():
        return lambda: close_sessions_async(sio.eio.engineio_core_server)

    async def close() -> None:
        await sio.shutdown()

    return close


def serve_aiohttp(port: int) -> None:
    from aiohttp import web

    app = web.Application()
    make_async_server("aiohttp").attach(app)  # python-socketio's own way, on either engine
    web.run_app(app, host=HOST, port=port, backlog=1024, access_log=None, print=None)


async def serve_tornado(port: int) -> None:
    import tornado.web

    sio = make_async_server("tornado")
    if ours():
        from tornado_engineio import engineio_routes

        routes: list[Any] = engineio_routes(sio, "/socket.io/")
    else:
        routes = [(r"/socket.io/", socketio.get_tornado_handler(sio))]
    app = tornado.web.Application(routes, log_function=lambda handler: None)
    http_server = app.listen(port, address=HOST, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    http_server.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(async_closer(sio)(), 3)
    await http_server.close_all_connections()


def serve_sanic(port: int) -> None:
    from sanic import Sanic

    app: Sanic[Any, Any] = Sanic("sio_contract")
    app.config.MOTD = False
    make_async_server("sanic").attach(app)
    app.run(host=HOST, port=port, single_process=True, access_log=False, backlog=1024,
            motd=False)


def make_flask_app(async_mode: str) -> tuple[Any, SocketIO]:
    """A Flask app with Flask-SocketIO in ``async_mode`` (on our engine: ``install()`` first)."""
    if ours():
        import engineio_core.socketio

        engineio_core.socketio.install()
    from flask import Flask
    from flask_socketio import SocketIO

    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return "Flask-SocketIO contract app\n"

    ext = SocketIO(app, async_mode=async_mode, **server_options())
    register_flask(ext)
    add_sync_connect_timeout(ext.server)
    return app, ext


def serve_flask(runtime: str, port: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log
    app, ext = make_flask_app(FLASK_MODES[runtime])
    if ours():
        close_sessions_on_exit(ext.server.eio.engineio_core_server)
    # eventlet.wsgi.server serves 1,024 connections at once unless told otherwise (the
    # bench's idle-memory scenario opens 5,000), as the Engine.IO contract apps tell it
    extra = {"max_size": 20000} if runtime == "eventlet" else {}
    ext.run(app, host=HOST, port=port, allow_unsafe_werkzeug=True, log_output=False,
            use_reloader=False, debug=False, **extra)


def setup_django() -> None:
    """Django with no apps, no database and no views (``benchmarks.django_project.urls``)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            SECRET_KEY="socketio-contract-app-not-a-secret", DEBUG=False,
            ALLOWED_HOSTS=["127.0.0.1", "localhost"], INSTALLED_APPS=[], MIDDLEWARE=[],
            ROOT_URLCONF="benchmarks.django_project.urls", DATABASES={}, USE_TZ=True)
        django.setup()


def make_django_asgi_app() -> Any:
    """``socketio.ASGIApp`` in front of Channels' router with Django's ASGI app."""
    setup_django()
    from channels.routing import ProtocolTypeRouter
    from django.core.asgi import get_asgi_application

    django_app = ProtocolTypeRouter({"http": get_asgi_application()})
    return socketio.ASGIApp(make_async_server("asgi"), other_asgi_app=django_app)


def make_django_wsgi_app() -> Any:
    """``socketio.WSGIApp`` in front of Django's WSGI app (a threading ``socketio.Server``)."""
    setup_django()
    from django.core.wsgi import get_wsgi_application

    sio = make_sync_server("threading")
    if ours():
        close_sessions_on_exit(sio.eio.engineio_core_server)  # in gunicorn's worker
    return socketio.WSGIApp(sio, get_wsgi_application())


def cluster_redis(app: str) -> str:
    """The Redis URL of a cluster app (``EIO_CLUSTER_REDIS``)."""
    url = os.environ.get("EIO_CLUSTER_REDIS")
    if not url:
        raise SystemExit(f"{app}: set EIO_CLUSTER_REDIS to a Redis URL")
    return url


def make_cluster_asgi_app() -> Any:
    """python-socketio on our engine for ``uvicorn --workers N`` (and gunicorn with
    uvicorn's worker), one process of a cluster: ``cluster=`` and python-socketio's own
    ``AsyncRedisManager`` on the Redis of ``EIO_CLUSTER_REDIS``. The engine's cluster
    routes every request of a session to the worker that holds it (no sticky
    sessions); the manager carries emits to rooms and broadcasts to every worker."""
    import engineio_core.socketio as on_ours

    url = cluster_redis("cluster_asgi_app")
    sio = on_ours.AsyncServer(async_mode="asgi", cluster=url,
                              client_manager=socketio.AsyncRedisManager(url),
                              **server_options())
    register_async(sio)
    return socketio.ASGIApp(sio)


def make_cluster_flask_app() -> Any:
    """Flask-SocketIO on our engine for ``gunicorn -w N`` with gevent or gthread workers,
    one process of a cluster: the engine's ``cluster=`` and Flask-SocketIO's own
    ``message_queue`` on the Redis of ``EIO_CLUSTER_REDIS`` (what
    :func:`make_cluster_asgi_app` does for python-socketio's ``AsyncServer``)."""
    from flask import Flask
    from flask_socketio import SocketIO
    from gevent import monkey

    import engineio_core.socketio

    engineio_core.socketio.install()
    url = cluster_redis("cluster_flask_app")
    # gunicorn's gevent worker patches the standard library before it loads the app;
    # Flask-SocketIO's own detection would pick eventlet, being installed too.
    mode = "gevent" if monkey.is_module_patched("socket") else "threading"
    app = Flask(__name__)
    ext = SocketIO(app, async_mode=mode, cluster=url, message_queue=url, **server_options())
    register_flask(ext)
    return app


_apps: dict[str, Any] = {}
_BUILDERS = {"django_asgi_app": make_django_asgi_app, "django_wsgi_app": make_django_wsgi_app,
             "cluster_asgi_app": make_cluster_asgi_app, "cluster_flask_app": make_cluster_flask_app}


def __getattr__(name: str) -> Any:
    """``django_asgi_app``, ``django_wsgi_app``, ``cluster_asgi_app`` and
    ``cluster_flask_app``, built once, for daphne's, gunicorn's and uvicorn's
    ``module:attribute`` loaders."""
    if name not in _BUILDERS:
        raise AttributeError(name)
    if name not in _apps:
        _apps[name] = _BUILDERS[name]()
    return _apps[name]


def serve(runtime: str, port: int) -> None:
    """Run the app on ``runtime`` at 127.0.0.1:``port`` until SIGTERM."""
    if runtime == "uvicorn":
        sio = make_async_server("asgi")
        run_uvicorn(socketio.ASGIApp(sio), port, async_closer(sio), HOST)
    elif runtime == "aiohttp":
        serve_aiohttp(port)
    elif runtime == "tornado":
        asyncio.run(serve_tornado(port))
    elif runtime == "sanic":
        serve_sanic(port)
    elif runtime in FLASK_MODES:
        serve_flask(runtime, port)
    elif runtime == "django-channels":
        import importlib

        def close() -> Any:
            # daphne imports the module by name (this one may be __main__)
            module = importlib.import_module("benchmarks.socketio_serve")
            return async_closer(module.django_asgi_app.engineio_server)()

        run_daphne(["daphne", "-b", HOST, "-p", str(port), "--verbosity", "0",
                    "benchmarks.socketio_serve:django_asgi_app"], close)
    elif runtime == "django-wsgi":
        argv = [sys.executable, "-m", "gunicorn", "-w", "1", "--no-control-socket",
                "--backlog", "1024", "-b", f"{HOST}:{port}", "--graceful-timeout", "2",
                "-k", "gthread", "--threads", "64", "benchmarks.socketio_serve:django_wsgi_app"]
        os.execv(argv[0], argv)
    else:
        raise SystemExit(f"unknown runtime {runtime!r}; choose from {RUNTIMES}")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runtime", choices=RUNTIMES, default="uvicorn")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--engine", choices=ENGINES, default=os.environ.get("SIO_ENGINE", "ours"))
    args = parser.parse_args()
    os.environ["SIO_ENGINE"] = args.engine  # for the processes that import this module
    serve(args.runtime, args.port)


if __name__ == "__main__":
    main()
