"""The benchmark / conformance contract app (``../shared/bench/CONTRACT.md``) on our runtimes.

One command per runtime::

    python -m benchmarks.contract_app --runtime uvicorn --port 18050
    python -m benchmarks.contract_app --runtime hypercorn --port 18050
    python -m benchmarks.contract_app --runtime daphne --port 18050
    python -m benchmarks.contract_app --runtime werkzeug --port 18050

Settings come from the environment: ``EIO_PING_INTERVAL`` and ``EIO_PING_TIMEOUT``
(ms), ``EIO_MAX_PAYLOAD`` (bytes). CORS allows any origin; EIO 3 and 4 are served.
With ``EIO_CLUSTER_REDIS`` (a Redis URL) the app joins that cluster:
``cmd:count`` then counts and ``cmd:broadcast`` reaches the sessions of every
node (``benchmarks/cluster_serve.py`` starts such a cluster); ``EIO_CLUSTER_UPGRADES``
sets ``cluster_upgrades`` (``take-over``, ``relay`` or ``refuse``).

SIGTERM (and SIGINT) close every session first, with ``shutdown(close_code=1001)``,
then stop the server: uvicorn and hypercorn would otherwise wait for the held
polling GETs (until the next ping, up to ``pingInterval``) before their lifespan
shutdown, daphne has no lifespan and Werkzeug none at all. The other contract
apps do the same through :func:`close_sessions_on_signal` (WSGI servers) or their
framework package's own hook (aiohttp, Tornado, Sanic); each logs one
``engineio-shutdown:`` line to stderr with the time ``shutdown()`` took
(``benchmarks/shutdown_time.py`` reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import engineio_core

GOING_AWAY = 1001
DRAIN = 2.0
"""Seconds to wait after ``shutdown()`` for the sessions to be gone (their last writes)."""
GRACE = 0.1
"""Seconds more for the threads that answer the last held GETs to write them."""

RUNTIMES = ("uvicorn", "hypercorn", "daphne", "werkzeug")


def options(ping_interval_ms: int = 25000, ping_timeout_ms: int = 20000) -> dict[str, Any]:
    """Server options from the contract's environment variables (the defaults are the
    contract's; the Socket.IO contract app passes the socket.io-protocol suite's)."""
    return {
        "ping_interval": int(os.environ.get("EIO_PING_INTERVAL", str(ping_interval_ms))) / 1000,
        "ping_timeout": int(os.environ.get("EIO_PING_TIMEOUT", str(ping_timeout_ms))) / 1000,
        "max_http_buffer_size": int(os.environ.get("EIO_MAX_PAYLOAD", "1000000")),
        "cors_allowed_origins": "*",
        "cors_credentials": False,
    }


_dump_state: dict[str, Any] = {}


def install_object_dump() -> None:
    """With ``EIO_DEBUG_OBJECTS=1``: SIGUSR2 makes the process write to stderr (after a
    ``gc.collect()``) the live object counts by type that changed since the previous
    dump, ``sys.getallocatedblocks()``, glibc's heap (``mallinfo2``), the pending
    asyncio tasks by coroutine, its VmRSS before and after ``malloc_trim(0)``; with
    ``EIO_DEBUG_REFERRERS=TypeName`` the referrer chain of one live object of that
    type; when tracemalloc runs (``PYTHONTRACEMALLOC=N``), the allocation sites that
    grew most. ``benchmarks/cycles.py --debug-objects`` sends it around a run.
    Debugging only: it forces a collection and gives free heap memory back."""
    if os.environ.get("EIO_DEBUG_OBJECTS") != "1" or _dump_state:
        return
    _dump_state["installed"] = True
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGUSR2, lambda *_: dump_objects())


def _malloc_info() -> str:
    """glibc's heap: bytes in use and free inside it (``mallinfo2``), or why not."""
    import ctypes

    mallinfo2 = _dump_state.get("mallinfo2")
    if mallinfo2 is None:
        class MallInfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                "uordblks", "fordblks", "keepcost")]

        try:
            mallinfo2 = ctypes.CDLL(None).mallinfo2
        except (OSError, AttributeError):
            return "no mallinfo2"
        mallinfo2.restype = MallInfo2
        _dump_state["mallinfo2"] = mallinfo2
    info = mallinfo2()
    return (f"malloc heap {info.arena // 1024} KiB: in use {info.uordblks // 1024} KiB, "
            f"free {info.fordblks // 1024} KiB, mmapped {info.hblkhd // 1024} KiB")


def dump_objects() -> None:
    """Write the object-count and allocation changes since the last call to stderr."""
    import gc
    import tracemalloc
    from collections import Counter

    rss = _vm_rss()
    _malloc_info()  # its ctypes types exist before the first count
    gc.collect()
    counts = Counter(type(o).__qualname__ for o in gc.get_objects())
    previous: Counter[str] | None = _dump_state.get("counts")
    lines = [f"engineio-objects: {sum(counts.values())} tracked objects, "
             f"{sys.getallocatedblocks()} allocated blocks, {_malloc_info()}, pid {os.getpid()}"]
    if previous is not None:
        delta = counts.copy()
        delta.subtract(previous)
        for name, change in sorted(delta.items(), key=lambda kv: -abs(kv[1]))[:20]:
            if change:
                lines.append(f"  {change:+8d} {name} (now {counts[name]})")
    _dump_state["counts"] = counts
    wanted = os.environ.get("EIO_DEBUG_REFERRERS")
    if wanted:
        lines.extend(_referrers(wanted))
    with contextlib.suppress(RuntimeError):  # no event loop runs in this thread
        tasks = Counter(_task_name(t) for t in asyncio.all_tasks(asyncio.get_running_loop()))
        lines.append(f"  {sum(tasks.values())} asyncio tasks: " + ", ".join(
            f"{n} {name}" for name, n in tasks.most_common(8)))
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        before = _dump_state.get("snapshot")
        if before is not None:
            lines.append("  tracemalloc, growth by allocation site:")
            for stat in snapshot.compare_to(before, "traceback")[:8]:
                lines.append(f"    {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
                lines.extend(f"        {line}" for line in stat.traceback.format()[-6:])
        _dump_state["snapshot"] = snapshot
    lines.append(f"  VmRSS {rss} KiB, after gc.collect() and malloc_trim(0): {_trim()} KiB")
    print("\n".join(lines), file=sys.stderr, flush=True)


def _referrers(type_name: str, depth: int = 6) -> list[str]:
    """What keeps the first live object of the type named ``type_name`` alive: a chain
    of referrers, one per level (the first one not from this function's frames)."""
    import gc
    import types

    found = [o for o in gc.get_objects() if type(o).__qualname__ == type_name]
    if not found:
        return [f"  no live {type_name}"]
    current: Any = found[0]
    attributes = getattr(current, "__dict__", None) or {
        name: getattr(current, name, None) for name in getattr(type(current), "__slots__", ())}
    lines = [f"  one {type_name} of {len(found)}: " + ", ".join(
        f"{k}={v!r:.80}" for k, v in attributes.items())]
    lines.append("  its referrers:")
    seen = {id(found), id(lines)}
    for level in range(depth):
        referrers = [r for r in gc.get_referrers(current) if id(r) not in seen and not (
            isinstance(r, types.FrameType) and r.f_code.co_filename == __file__)]
        if not referrers:
            lines.append(f"    {'  ' * level}(no more referrers)")
            break
        for r in referrers[:4]:
            desc = type(r).__qualname__
            if type(r) is dict:
                keys = [k for k, v in r.items() if v is current][:3]
                desc += f" key {keys}" if keys else f" with keys {list(r)[:6]}"
            elif type(r) is types.FrameType:
                desc += f" of {r.f_code.co_qualname} ({r.f_code.co_filename}:{r.f_lineno})"
            elif hasattr(r, "__qualname__"):
                desc += f" {r.__qualname__}"
            lines.append(f"    {'  ' * level}<- {desc}")
        seen.add(id(referrers))
        seen.add(id(current))
        current = referrers[0]
    return lines


def _task_name(task: asyncio.Task[Any]) -> str:
    coro: Any = task.get_coro()
    return str(getattr(coro, "__qualname__", type(coro).__name__))


def _vm_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _trim() -> int:
    """``malloc_trim(0)``: glibc gives free heap pages back; returns VmRSS afterwards."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
    return _vm_rss()


def register_async(eio: engineio_core.AsyncServer) -> set[str]:
    """Register the contract's handlers on an async server; returns the live sid set."""
    clients: set[str] = set()
    clustered = bool(os.environ.get("EIO_CLUSTER_REDIS"))
    install_object_dump()

    @eio.on("connect")
    def connect(sid: str, request: engineio_core.Request) -> None:
        clients.add(sid)

    @eio.on("disconnect")
    def disconnect(sid: str) -> None:
        clients.discard(sid)

    @eio.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        command = _command(data)
        try:
            if command is None:
                await eio.send(sid, data)
            elif command[0] == "broadcast":
                if clustered:
                    await eio.broadcast(command[1])
                else:
                    for other in list(clients):
                        with contextlib.suppress(engineio_core.SessionUnknown):
                            await eio.send(other, command[1])
            elif command[0] == "count":
                count = await eio.count_sessions() if clustered else len(clients)
                await eio.send(sid, f"count:{count}")
            elif command[0] == "sleep":
                await eio.sleep(int(command[1]) / 1000)  # the handler itself waits
                await eio.send(sid, f"slept:{command[1]}")
            else:
                await eio.disconnect(sid)
        except engineio_core.SessionUnknown:
            pass  # closed meanwhile: a POST of `4hi<RS>1` delivers `hi` after its close

    return clients


def register_sync(eio: engineio_core.Server) -> set[str]:
    """Register the contract's handlers on a sync server; returns the live sid set."""
    clients: set[str] = set()
    clustered = bool(os.environ.get("EIO_CLUSTER_REDIS"))
    install_object_dump()

    @eio.on("connect")
    def connect(sid: str, request: engineio_core.Request) -> None:
        clients.add(sid)

    @eio.on("disconnect")
    def disconnect(sid: str) -> None:
        clients.discard(sid)

    @eio.on("message")
    def message(sid: str, data: str | bytes) -> None:
        command = _command(data)
        try:
            if command is None:
                eio.send(sid, data)
            elif command[0] == "broadcast":
                if clustered:
                    eio.broadcast(command[1])
                else:
                    for other in list(clients):
                        with contextlib.suppress(engineio_core.SessionUnknown):
                            eio.send(other, command[1])
            elif command[0] == "count":
                eio.send(sid, f"count:{eio.count_sessions() if clustered else len(clients)}")
            elif command[0] == "sleep":
                eio.sleep(int(command[1]) / 1000)  # the handler itself waits (blocks its thread)
                eio.send(sid, f"slept:{command[1]}")
            else:
                eio.disconnect(sid)
        except engineio_core.SessionUnknown:
            pass  # closed meanwhile: a POST of `4hi<RS>1` delivers `hi` after its close

    return clients


def _command(data: str | bytes) -> tuple[str, str] | None:
    """``("broadcast", text)``, ``("count", "")``, ``("close", "")``, ``("sleep", MS)``
    (MS all digits), or ``None`` to echo."""
    if not isinstance(data, str) or not data.startswith("cmd:"):
        return None
    if data.startswith("cmd:broadcast:"):
        return ("broadcast", data[len("cmd:broadcast:"):])
    if data.startswith("cmd:sleep:"):
        ms = data[len("cmd:sleep:"):]
        return ("sleep", ms) if ms.isascii() and ms.isdigit() else None
    if data in ("cmd:count", "cmd:close"):
        return (data[4:], "")
    return None


def _report(sessions: int, started: float, returned: float) -> None:
    now = time.perf_counter()
    print(f"engineio-shutdown: {sessions} sessions, shutdown() {returned - started:.3f} s, "
          f"all gone {now - started:.3f} s", file=sys.stderr, flush=True)


async def close_sessions_async(eio: engineio_core.AsyncServer) -> None:
    """``await eio.shutdown(1001)``, then wait (at most ``DRAIN`` s) until every session is
    gone, so that the last packets are written before the server stops; logs the times."""
    sessions = eio.session_count()
    started = time.perf_counter()
    await eio.shutdown(GOING_AWAY)
    returned = time.perf_counter()
    while eio.session_count() and time.perf_counter() - started < DRAIN:
        await asyncio.sleep(0.005)
    _report(sessions, started, returned)
    await asyncio.sleep(GRACE)


def close_sessions_sync(eio: engineio_core.Server) -> None:
    """:func:`close_sessions_async` for a sync :class:`engineio_core.Server`.

    With ``EIO_PROFILE_SHUTDOWN=1`` in the environment, ``shutdown()`` runs under
    cProfile and the top functions (cumulative time) go to stderr."""
    sessions = eio.session_count()
    profile = None
    if os.environ.get("EIO_PROFILE_SHUTDOWN") == "1":
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    started = time.perf_counter()
    eio.shutdown(GOING_AWAY)
    returned = time.perf_counter()
    if profile is not None:
        import pstats

        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(18)
    while eio.session_count() and time.perf_counter() - started < DRAIN:
        eio.sleep(0.005)
    _report(sessions, started, returned)
    eio.sleep(GRACE)


def close_sessions_on_signal(eio: engineio_core.Server,
                             sig: signal.Signals = signal.SIGTERM) -> None:
    """On ``sig``, close every session (in a background task of the server's backend:
    thread or green thread), then hand the signal to the handler installed before
    this call, so the process stops the way it would have: gunicorn's worker handler,
    the default action (exit), a server's own handler.

    Call it from the main thread once the server process installed its handlers
    (gunicorn: when the app is loaded, in the worker). Not under uWSGI: its workers'
    signals are uWSGI's (``uwsgi.atexit`` is the hook there, see ``uwsgi_app.py``).
    """
    previous = signal.getsignal(sig)
    state = "open"  # -> "closing" -> "closed"
    # The handler only writes a byte that a waiting task reads: a task started from the
    # handler itself would wait, under eventlet, until the hub's next timer (up to the
    # ping interval: the interrupted poll is resumed, PEP 475), while a readable socket
    # wakes the hub at once.
    wake_reader, wake_writer = socket.socketpair()
    wake_writer.setblocking(False)

    def close_then_resignal() -> None:
        nonlocal state
        wake_reader.recv(1)
        try:
            close_sessions_sync(eio)
        finally:
            state = "closed"
            os.kill(os.getpid(), sig)  # handled again, in the main thread: the previous way

    def handler(signum: int, frame: Any) -> None:
        nonlocal state
        if state == "open":
            state = "closing"
            wake_writer.send(b"\0")  # never waits: the socket is empty
        elif state == "closed":
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:  # the default action (exit)
                signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)

    signal.signal(sig, handler)
    eio.start_background_task(close_then_resignal)


def close_sessions_on_exit(eio: engineio_core.Server) -> None:
    """Close every session when the process is told to stop: ``uwsgi.atexit`` under uWSGI,
    else :func:`close_sessions_on_signal` for SIGTERM (from the main thread only)."""
    try:
        import uwsgi
    except ImportError:
        with contextlib.suppress(ValueError):  # signals are the main thread's
            close_sessions_on_signal(eio, signal.SIGTERM)
        return
    previous = getattr(uwsgi, "atexit", None)

    def at_exit() -> None:
        close_sessions_sync(eio)
        if previous is not None:
            previous()

    uwsgi.atexit = at_exit


def run_daphne(argv: list[str], close: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run daphne's command line with ``argv``; SIGTERM/SIGINT await ``close()`` (close
    every session, e.g. ``close_sessions_async(server)``) before the reactor stops
    (daphne has no lifespan: it would cancel the application instances and drop the
    connections)."""
    from daphne.cli import CommandLineInterface  # installs Twisted's asyncio reactor
    from twisted.internet import reactor as twisted_reactor

    reactor: Any = twisted_reactor

    def install() -> None:
        loop = asyncio.get_event_loop()  # daphne made the reactor's loop the current one
        stopping: list[asyncio.Task[None]] = []

        def on_signal() -> None:
            if not stopping:
                stopping.append(loop.create_task(close()))
                stopping[0].add_done_callback(lambda _: reactor.stop())

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)

    reactor.callWhenRunning(install)
    sys.argv = argv
    CommandLineInterface.entrypoint()


def run_uvicorn(app: Any, port: int, close: Callable[[], Coroutine[Any, Any, None]],
                host: str = "127.0.0.1") -> None:
    """Serve the ASGI ``app`` with uvicorn (backlog 1024, no access log, lifespan on,
    permessage-deflate off) until SIGTERM or SIGINT, which first await ``close()``
    (close every session): uvicorn's lifespan shutdown comes only after every
    connection ended, and a held GET would hold it until the next ping."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, backlog=1024, log_level="warning",
                            access_log=False, lifespan="on", ws_per_message_deflate=False)

    class ClosingServer(uvicorn.Server):
        """Awaits ``close()`` before uvicorn stops."""

        eio_loop: asyncio.AbstractEventLoop | None = None
        eio_closing: asyncio.Task[None] | None = None
        eio_signalled = False

        async def serve(self, sockets: Any = None) -> None:
            self.eio_loop = asyncio.get_running_loop()
            await super().serve(sockets=sockets)

        def handle_exit(self, sig: int, frame: Any) -> None:
            loop = self.eio_loop
            if self.eio_signalled or self.should_exit or loop is None:
                super().handle_exit(sig, frame)  # a second signal: stop now
                return
            self.eio_signalled = True

            def start() -> None:
                self.eio_closing = loop.create_task(close())
                self.eio_closing.add_done_callback(lambda _: super(
                    ClosingServer, self).handle_exit(sig, frame))

            loop.call_soon_threadsafe(start)

    ClosingServer(config).run()


def cluster_option() -> dict[str, Any]:
    """``cluster=`` from ``EIO_CLUSTER_REDIS``, when set (and ``cluster_upgrades`` from
    ``EIO_CLUSTER_UPGRADES``, when set too)."""
    url = os.environ.get("EIO_CLUSTER_REDIS")
    if not url:
        return {}
    upgrades = os.environ.get("EIO_CLUSTER_UPGRADES")
    return {"cluster": url, **({"cluster_upgrades": upgrades} if upgrades else {})}


def make_async_app() -> engineio_core.ASGIApp:
    """The contract app as an ASGI application."""
    eio = engineio_core.AsyncServer(**options(), **cluster_option())
    register_async(eio)
    return engineio_core.ASGIApp(eio)


def make_wsgi_app() -> engineio_core.WSGIApp:
    """The contract app as a WSGI application (threading backend)."""
    eio = engineio_core.Server(async_mode="threading", **options(), **cluster_option())
    register_sync(eio)
    return engineio_core.WSGIApp(eio)


def serve(runtime: str, port: int) -> None:
    """Run the contract app on ``runtime`` at 127.0.0.1:``port`` until SIGTERM."""
    host = "127.0.0.1"
    if runtime == "uvicorn":
        app = make_async_app()
        run_uvicorn(app, port, lambda: close_sessions_async(app.server), host)
    elif runtime == "hypercorn":
        from hypercorn.asyncio import serve as hypercorn_serve
        from hypercorn.config import Config

        hconfig = Config()
        hconfig.bind = [f"{host}:{port}"]
        hconfig.backlog = 1024
        hconfig.accesslog = None
        hconfig.loglevel = "WARNING"
        stop = asyncio.Event()
        asgi = make_async_app()

        async def closed() -> None:
            await stop.wait()
            await close_sessions_async(asgi.server)  # then hypercorn stops

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            loop.add_signal_handler(signal.SIGINT, stop.set)
            app: Any = asgi
            await hypercorn_serve(app, hconfig, shutdown_trigger=closed)

        asyncio.run(main())
    elif runtime == "daphne":
        import importlib

        def get_server() -> engineio_core.AsyncServer:
            # daphne imports the module by name (this one may be __main__)
            app: engineio_core.ASGIApp = importlib.import_module(
                "benchmarks.contract_app").asgi_app
            return app.server

        run_daphne(["daphne", "-b", host, "-p", str(port), "--verbosity", "0",
                    "benchmarks.contract_app:asgi_app"], lambda: close_sessions_async(get_server()))
    elif runtime == "werkzeug":
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log
        wsgi = make_wsgi_app()
        server = make_server(host, port, wsgi, threaded=True)
        server.socket.listen(1024)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        close_sessions_on_signal(wsgi.server, signal.SIGTERM)
        close_sessions_on_signal(wsgi.server, signal.SIGINT)
        server.serve_forever()
    else:
        raise SystemExit(f"unknown runtime {runtime!r}; choose from {RUNTIMES}")


_asgi_app: list[engineio_core.ASGIApp] = []


def __getattr__(name: str) -> Any:
    if name == "asgi_app":  # for daphne's "module:attribute" loader; built once
        if not _asgi_app:
            _asgi_app.append(make_async_app())
        return _asgi_app[0]
    raise AttributeError(name)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runtime", choices=RUNTIMES, default="uvicorn")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    serve(args.runtime, args.port)


if __name__ == "__main__":
    main()
