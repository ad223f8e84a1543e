"""Shutdown time with open sessions: how long from SIGTERM to exit, and to every client closed?

Starts one contract server (a name of ``tests/interop/harness.py``
``SERVER_COMMANDS``) on a random free port of 127.0.0.1, opens ``--sessions``
Engine.IO v4 sessions (half WebSocket, half polling with a held ``GET``),
checks with ``cmd:count`` that the server holds them all, then sends the signal
a process manager sends (``--signal``, SIGTERM by default: systemd, Docker,
Kubernetes, gunicorn's and uWSGI's ``--die-on-term`` masters) to the started
process only, and measures from the signal:

* **exit**: the started process has exited and none of its descendants is left;
* **told**: every session has been told by the server (WebSocket: a close
  frame or EOF; polling: the held ``GET`` answered, or its connection closed);
* **closed**: every client TCP connection has reached EOF;

and how the sessions ended: ``clean`` = the Engine.IO close packet ``1``
arrived first (what ``shutdown()`` sends), else the WebSocket close code or
``eof`` / ``reset``. The server is killed after ``--timeout`` seconds::

    python -m benchmarks.shutdown_time --server uvicorn
    python -m benchmarks.shutdown_time --server all --json /tmp/shutdown.jsonl

A few command templates are adjusted so that the server can hold the sessions at
all (``ADJUST``): gunicorn's gthread worker serves one connection per thread
and at most ``--worker-connections`` (1,000) connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.eio_load import (
    SERVER_COMMANDS,
    Http,
    RunningServer,
    Ws,
    count_sessions,
    decode_payload,
    eio_path,
    open_packet,
    process_tree,
    start_server,
    use_uvloop,
)

#: The runtimes of issue 14 (every runtime we ship), in SERVER_COMMANDS names.
DEFAULT_SERVERS = (
    "uvicorn", "hypercorn", "daphne", "werkzeug", "gunicorn-gthread", "eventlet", "gevent",
    "gevent-ws", "uwsgi-gevent", "aiohttp", "tornado", "sanic", "flask-run", "django-daphne",
    "gunicorn-gevent", "gunicorn-gevent-ws", "gunicorn-eventlet", "django-gunicorn-gthread",
    "django-gunicorn-eventlet", "flask-gunicorn-eventlet", "flask-gunicorn-gevent",
    "flask-uwsgi",
)

_MORE = "--worker-connections 2000"
_DJANGO_MORE = "--worker-connections 2000"
#: name -> (old, new): a substitution in the command template, so that the server can
#: hold every session at once (gunicorn serves 1,000 connections per worker by default,
#: gthread one per thread, 64 threads here; flask-uwsgi has 1,000 gevent cores).
ADJUST: dict[str, tuple[str, str]] = {
    "gunicorn-gthread": ("--threads 64", f"--threads 1100 {_MORE}"),
    "gunicorn-gevent": ("-k gevent", f"-k gevent {_MORE}"),
    "gunicorn-gevent-ws": ("-k geventwebsocket", f"{_MORE} -k geventwebsocket"),
    "gunicorn-eventlet": ("-k engineio_core", f"{_MORE} -k engineio_core"),
    "flask-gunicorn-eventlet": ("-k engineio_core", f"{_MORE} -k engineio_core"),
    "flask-gunicorn-gevent": ("-k gevent", f"-k gevent {_MORE}"),
    "django-gunicorn-gthread": ("--server gunicorn-gthread",
                                f"--server gunicorn-gthread --threads 1100 {_DJANGO_MORE}"),
    "django-gunicorn-eventlet": ("--server gunicorn-eventlet",
                                 f"--server gunicorn-eventlet {_DJANGO_MORE}"),
    "flask-uwsgi": ("--gevent 1000", "--gevent 2000"),
}


@dataclass
class Session:
    kind: str  # "websocket" | "polling"
    told_at: float | None = None
    closed_at: float | None = None
    how: str = "open"


async def hold_websocket(port: int, session: Session, ready: asyncio.Event) -> None:
    ws = await Ws.connect(port, eio_path(4, "websocket"))
    open_packet(await ws.recv_text())
    ready.set()
    try:
        while True:
            opcode, payload = await ws.recv()
            if opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if session.told_at is None:
                    session.told_at = time.monotonic()
                    session.how = f"close frame {code}"
                ws.send_close()
            elif payload == b"1" and session.told_at is None:
                session.told_at = time.monotonic()
                session.how = "clean"
    except ConnectionError as exc:
        now = time.monotonic()
        if session.told_at is None:
            session.told_at = now
            session.how = "reset" if isinstance(exc.__cause__, ConnectionResetError) else "eof"
        session.closed_at = now
    except OSError:
        now = time.monotonic()
        if session.told_at is None:
            session.told_at, session.how = now, "reset"
        session.closed_at = now
    finally:
        ws.close()


async def hold_polling(port: int, session: Session, ready: asyncio.Event) -> None:
    http = await Http.connect(port)
    try:
        status, body = await http.request("GET", eio_path(4, "polling"))
        sid = open_packet(decode_payload(4, body)[0])["sid"]
        target = eio_path(4, "polling", sid)
        await http.send_request("GET", target)
        ready.set()
        try:
            status, body = await http.response()
            session.told_at = time.monotonic()
            packets = decode_payload(4, body) if status == 200 else []
            session.how = "clean" if "1" in packets else f"{status} {packets[:3]}"
        except (ConnectionError, OSError) as exc:
            session.told_at = session.closed_at = time.monotonic()
            session.how = "reset" if isinstance(exc, ConnectionResetError) or isinstance(
                exc.__cause__, ConnectionResetError) else "eof"
            return
        with contextlib.suppress(OSError):
            await http.reader.read()  # until the server closes the connection
        session.closed_at = time.monotonic()
    finally:
        http.close()


async def open_sessions(port: int, n: int) -> tuple[list[Session], list[asyncio.Task[None]]]:
    sessions = [Session("websocket" if i % 2 == 0 else "polling") for i in range(n)]
    tasks: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(50)  # at most 50 handshakes in flight

    async def start(session: Session) -> asyncio.Task[None]:
        async with gate:
            ready = asyncio.Event()
            hold = hold_websocket if session.kind == "websocket" else hold_polling
            task = asyncio.ensure_future(hold(port, session, ready))
            waiter = asyncio.ensure_future(ready.wait())
            await asyncio.wait([task, waiter], timeout=20,
                               return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not ready.is_set():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise RuntimeError(f"a {session.kind} session did not open")
            return task

    tasks = list(await asyncio.gather(*(start(s) for s in sessions)))
    return sessions, tasks


async def server_count(port: int) -> int:
    """``cmd:count`` from a new session (it counts itself: the answer minus one)."""
    return await count_sessions(port) - 1


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


async def measure(server: RunningServer, n: int, sig: signal.Signals,
                  timeout: float) -> dict[str, Any]:
    port = server.port
    opening = time.monotonic()
    sessions, tasks = await open_sessions(port, n)
    opened_s = time.monotonic() - opening
    await asyncio.sleep(0.5)  # let the held GETs reach the server
    held = await server_count(port)
    tree = process_tree(server.proc.pid)
    t0 = time.monotonic()
    os.kill(server.proc.pid, sig)
    exited_at: float | None = None
    deadline = t0 + timeout
    killed = False
    while True:
        now = time.monotonic()
        if exited_at is None:
            if server.proc.poll() is not None:
                tree = _alive(tree)
                if not tree:
                    exited_at = now
            elif now > deadline:
                killed = True
                server.stop()
                exited_at = time.monotonic()
        if exited_at is not None and all(t.done() for t in tasks):
            break
        if now > deadline + 5:  # clients still open 5 s after the server is gone
            break
        await asyncio.sleep(0.005)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    told = [s.told_at - t0 for s in sessions if s.told_at is not None]
    closed = [s.closed_at - t0 for s in sessions if s.closed_at is not None]
    early = sum(1 for t in told if t < 0)  # ended before the signal: not a shutdown figure
    closed_by_kind = {
        kind: round(max((s.closed_at - t0 for s in sessions
                         if s.kind == kind and s.closed_at is not None), default=-1), 3)
        for kind in ("websocket", "polling")
    }
    assert exited_at is not None
    hows: dict[str, Counter[str]] = {"websocket": Counter(), "polling": Counter()}
    for s in sessions:
        hows[s.kind][s.how] += 1
    return {
        "server": server.name, "sessions": n, "held_before_signal": held,
        "signal": sig.name, "exit_s": round(exited_at - t0, 3), "killed": killed,
        "exit_code": server.proc.returncode,
        "told_s": round(max(told), 3) if len(told) == n else None,
        "closed_s": round(max(closed), 3) if len(closed) == n else None,
        "told": len(told), "closed": len(closed), "closed_s_by_kind": closed_by_kind,
        "ended_before_signal": early, "open_s": round(opened_s, 2),
        "websocket": dict(hows["websocket"]), "polling": dict(hows["polling"]),
    }


def run_one(name: str, n: int, sig: signal.Signals, timeout: float,
            keep_log: bool = False) -> dict[str, Any]:
    """Start ``name``, open ``n`` sessions, signal it, measure."""
    if name in ADJUST:
        old, new = ADJUST[name]
        extra = json.loads(os.environ.get("INTEROP_EXTRA_SERVERS", "") or "{}")
        extra[name] = SERVER_COMMANDS[name].replace(old, new)
        os.environ["INTEROP_EXTRA_SERVERS"] = json.dumps(extra)
    log = Path(tempfile.gettempdir()) / f"shutdown-{name}-{time.time_ns()}.log"
    server = start_server(name, {}, log)
    try:
        result = asyncio.run(measure(server, n, sig, timeout))
    finally:
        server.stop()
    result["command"] = server.command
    log_text = server.log_tail(100_000)
    found = _SHUTDOWN_LINE.findall(log_text)
    result["in_server"] = [
        {"sessions": int(n), "shutdown_s": float(a), "gone_s": float(b)} for n, a, b in found
    ]
    result["log_tail"] = log_text.strip()[-600:]
    if keep_log:
        result["log"] = str(log)
    else:
        with contextlib.suppress(OSError):
            log.unlink()
    return result


_SHUTDOWN_LINE = re.compile(
    r"engineio-shutdown: (\d+) sessions, shutdown\(\) ([\d.]+) s, all gone ([\d.]+) s")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _fmt_in_server(found: list[dict[str, Any]]) -> str:
    if not found:
        return "no shutdown() call logged"
    return " + ".join(f"shutdown() {f['shutdown_s']:.3f} s for {f['sessions']} sessions, "
                      f"all gone {f['gone_s']:.3f} s" for f in found)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0],
        epilog="Servers: " + ", ".join(SERVER_COMMANDS),
    )
    parser.add_argument("--server", action="append", metavar="NAME",
                        help="a SERVER_COMMANDS name, repeatable, or 'all' "
                             "(the runtimes of issue 14; default)")
    parser.add_argument("--sessions", type=int, default=1000,
                        help="sessions to hold, half WebSocket, half polling (default 1000)")
    parser.add_argument("--signal", default="TERM", choices=("TERM", "INT"),
                        help="the signal sent to the started process (default TERM)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds before the server is killed (default 30)")
    parser.add_argument("--json", type=Path, help="append each result as one JSON line here")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep each server's log (its path is printed)")
    args = parser.parse_args(argv)
    names = args.server or ["all"]
    if "all" in names:
        names = list(DEFAULT_SERVERS)
    unknown = [n for n in names if n not in SERVER_COMMANDS]
    if unknown:
        parser.error(f"unknown servers {unknown}")
    sig = signal.Signals[f"SIG{args.signal}"]
    loop_name = use_uvloop()
    print(f"{args.sessions} sessions per server, SIG{args.signal}, client on {loop_name}",
          flush=True)
    failed = False
    for name in names:
        if name in ADJUST and ADJUST[name][0] not in SERVER_COMMANDS[name]:
            print(f"{name}: ADJUST does not apply to {SERVER_COMMANDS[name]!r}", flush=True)
        try:
            result = run_one(name, args.sessions, sig, args.timeout, args.keep_logs)
        except Exception as exc:  # report and go on with the next server
            print(f"{name}: ERROR {type(exc).__name__}: {str(exc)[:500]}", flush=True)
            failed = True
            continue
        print(f"{name}: exit {_fmt(result['exit_s'])}{' (KILLED)' if result['killed'] else ''}"
              f" code {result['exit_code']}, told {_fmt(result['told_s'])} "
              f"({result['told']}/{args.sessions}), closed {_fmt(result['closed_s'])} "
              f"({result['closed']}, {result['closed_s_by_kind']}); held "
              f"{result['held_before_signal']} (opened in {result['open_s']} s, "
              f"{result['ended_before_signal']} ended before the signal); in server "
              f"{_fmt_in_server(result['in_server'])}; "
              f"ws {result['websocket']}; polling {result['polling']}"
              + (f"; log {result['log']}" if "log" in result else ""), flush=True)
        if args.json is not None:
            with args.json.open("a") as f:
                f.write(json.dumps(result) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
