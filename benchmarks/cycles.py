"""Memory across connect/disconnect cycles: does a server's RSS stay flat?

Starts one contract server (a name of ``tests/interop/harness.py``
``SERVER_COMMANDS``) on a random free port of 127.0.0.1, runs ``--warmup``
cycles, reads the server's resident memory, runs ``--cycles`` more and reads it
again after ``--settle`` seconds (nothing is forced: no GC request, no restart)::

    python -m benchmarks.cycles --server uvicorn --transport websocket --eio 4 \\
        --cycles 100000 --concurrency 16

One cycle is one Engine.IO session, on a new TCP connection:

* polling: ``GET`` handshake, ``POST 4<msg>``, ``GET`` (the echo), ``POST 1``
  (close; the server answers ``ok`` once it has dropped the session);
* websocket: upgrade, the ``0{...}`` open packet, ``4<msg>`` and its echo, ``1``
  (close), then the server's close frame and EOF (so it has dropped the session).

``--concurrency`` clients run cycles side by side. At the end ``cmd:count``
(from a fresh session, which counts itself) must answer 1: every close reached
the server.

RSS is VmRSS from ``/proc/PID/status`` summed over the server's process tree
(the started process and every descendant, ``/proc/PID/task/*/children``):
for uvicorn, aiohttp, eventlet and the other single-process servers that is the
server process itself; for uWSGI the master, the HTTP router and the worker; for
gunicorn the master and its worker. The per-process figures are printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.eio_load import (
    SERVER_COMMANDS,
    Http,
    Ws,
    count_sessions,
    decode_payload,
    eio_path,
    encode_payload,
    open_packet,
    process_name,
    process_tree,
    start_server,
    tree_rss_kib,
    use_uvloop,
)

CYCLE_TIMEOUT = 10.0


async def polling_cycle(port: int, eio: int, message: str) -> None:
    """One polling session: handshake, one echo, close."""
    http = await Http.connect(port)
    try:
        status, body = await http.request("GET", eio_path(eio, "polling"))
        if status != 200:
            raise RuntimeError(f"handshake {status}: {body[:80]!r}")
        sid = open_packet(decode_payload(eio, body)[0])["sid"]
        target = eio_path(eio, "polling", sid)
        status, body = await http.request("POST", target, encode_payload(eio, ["4" + message]))
        if status != 200:
            raise RuntimeError(f"POST {status}: {body[:80]!r}")
        while True:
            status, body = await http.request("GET", target)
            if status != 200:
                raise RuntimeError(f"GET {status}: {body[:80]!r}")
            if "4" + message in decode_payload(eio, body):
                break
        status, body = await http.request("POST", target, encode_payload(eio, ["1"]))
        if status != 200:
            raise RuntimeError(f"close POST {status}: {body[:80]!r}")
    finally:
        http.close()


async def websocket_cycle(port: int, eio: int, message: str) -> None:
    """One WebSocket session: upgrade, open packet, one echo, close, wait for the server's close."""
    ws = await Ws.connect(port, eio_path(eio, "websocket"))
    try:
        open_packet(await ws.recv_text())
        ws.send_text("4" + message)
        while await ws.recv_text() != "4" + message:
            pass
        ws.send_text("1")
        await ws.wait_closed()
    finally:
        ws.close()


@dataclass
class Runner:
    port: int
    transport: str
    eio: int
    concurrency: int
    done: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    async def run(self, cycles: int, on_progress: Any = None) -> float:
        """Run ``cycles`` cycles with ``concurrency`` clients; returns the elapsed seconds."""
        cycle = polling_cycle if self.transport == "polling" else websocket_cycle
        target = self.done + cycles
        started = self.done
        claimed = self.done

        async def client(index: int) -> None:
            nonlocal claimed
            message = f"hello-{index}"
            while claimed < target:
                claimed += 1
                try:
                    await asyncio.wait_for(cycle(self.port, self.eio, message), CYCLE_TIMEOUT)
                except (TimeoutError, OSError, RuntimeError, ValueError, KeyError) as exc:
                    self.errors += 1
                    if len(self.error_samples) < 5:
                        self.error_samples.append(f"{type(exc).__name__}: {exc}")
                    if self.errors > max(100, (self.done - started) // 100):
                        raise RuntimeError(
                            f"too many failed cycles ({self.errors}): {self.error_samples}"
                        ) from exc
                    await asyncio.sleep(0.05)
                self.done += 1
                if on_progress is not None:
                    on_progress(self.done - started)

        t0 = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(self.concurrency)))
        return time.perf_counter() - t0


def _fmt_tree(tree: dict[int, int]) -> str:
    return ", ".join(f"{pid} {process_name(pid).split(' -m ')[-1][:40]!r}: {kib} KiB"
                     for pid, kib in tree.items())


def _dump_objects(args: argparse.Namespace, pid: int) -> None:
    """``--debug-objects``: ask the server's processes for an object dump (SIGUSR2)."""
    if args.debug_objects:
        for p in process_tree(pid):
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGUSR2)


async def measure(args: argparse.Namespace, port: int, pid: int) -> dict[str, Any]:
    runner = Runner(port, args.transport, args.eio, args.concurrency)
    print(f"warm-up: {args.warmup} cycles ...", flush=True)
    warm_s = await runner.run(args.warmup)
    await asyncio.sleep(args.settle)
    _dump_objects(args, pid)
    if args.debug_objects:
        await asyncio.sleep(2)  # the dump (its gc.collect() and malloc_trim(0)) first
    before_tree = tree_rss_kib(pid)
    before = sum(before_tree.values())
    print(f"warm-up done in {warm_s:.1f} s ({args.warmup / warm_s:,.0f} cycles/s); "
          f"RSS {before:,} KiB ({_fmt_tree(before_tree)})", flush=True)

    samples: list[tuple[int, int]] = []
    step = max(1, args.cycles // 10)
    next_mark = step

    def progress(n: int) -> None:
        nonlocal next_mark
        if n >= next_mark:
            next_mark += step
            kib = sum(tree_rss_kib(pid).values())
            samples.append((n, kib))
            print(f"  {n:>9,} cycles  RSS {kib:,} KiB  ({(kib - before) / before * 100:+.1f} %)",
                  flush=True)

    errors_before = runner.errors
    elapsed = await runner.run(args.cycles, progress)
    await asyncio.sleep(args.settle)
    _dump_objects(args, pid)
    if args.debug_objects:
        await asyncio.sleep(2)
    after_tree = tree_rss_kib(pid)
    after = sum(after_tree.values())
    count = await count_sessions(port, args.eio)
    growth = (after - before) / before * 100
    result = {
        "server": args.server, "transport": args.transport, "eio": args.eio,
        "cycles": args.cycles, "warmup": args.warmup, "concurrency": args.concurrency,
        "rss_before_kib": before, "rss_after_kib": after, "growth_pct": round(growth, 2),
        "rss_before_tree": before_tree, "rss_after_tree": after_tree,
        "samples": samples, "cycles_per_s": round(args.cycles / elapsed, 1),
        "elapsed_s": round(elapsed, 1), "failed_cycles": runner.errors - errors_before,
        "error_samples": runner.error_samples, "count_after": count,
    }
    print(f"after {args.cycles:,} cycles in {elapsed:.1f} s "
          f"({args.cycles / elapsed:,.0f} cycles/s, {result['failed_cycles']} failed): "
          f"RSS {before:,} -> {after:,} KiB ({growth:+.2f} %) "
          f"({_fmt_tree(after_tree)}); cmd:count -> {count}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0],
        epilog="Servers: " + ", ".join(SERVER_COMMANDS),
    )
    parser.add_argument("--server", required=True, choices=sorted(SERVER_COMMANDS),
                        metavar="NAME", help="a SERVER_COMMANDS name (see below)")
    parser.add_argument("--cycles", type=int, default=100_000,
                        help="measured cycles (default 100000)")
    parser.add_argument("--warmup", type=int, default=2_000,
                        help="cycles before the first RSS reading (default 2000)")
    parser.add_argument("--transport", choices=("polling", "websocket"), default="websocket")
    parser.add_argument("--eio", type=int, choices=(3, 4), default=4)
    parser.add_argument("--concurrency", type=int, default=16,
                        help="clients cycling side by side (default 16)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait before each RSS reading (default 2)")
    parser.add_argument("--json", type=Path, help="append the result as one JSON line here")
    parser.add_argument("--debug-objects", action="store_true",
                        help="run the server with EIO_DEBUG_OBJECTS=1 and print its object "
                             "count changes over the measured cycles, and its RSS before and "
                             "after malloc_trim(0) (both RSS readings then follow a forced "
                             "gc.collect() and malloc_trim(0): not the plain figures)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="with --debug-objects: PYTHONTRACEMALLOC=FRAMES in the server "
                             "(slow), and the allocation sites that grew")
    args = parser.parse_args(argv)

    loop_name = use_uvloop()
    log = Path(tempfile.gettempdir()) / f"cycles-{args.server}-{time.time_ns()}.log"
    env: dict[str, str] = {}
    if args.debug_objects:
        env["EIO_DEBUG_OBJECTS"] = "1"
        if args.tracemalloc:
            env["PYTHONTRACEMALLOC"] = str(args.tracemalloc)
    server = start_server(args.server, env, log)
    print(f"{args.server}: {server.command} (pid {server.proc.pid}, log {log}); client on "
          f"{loop_name}, Python {platform.python_version()}", flush=True)
    try:
        result = asyncio.run(measure(args, server.port, server.proc.pid))
    finally:
        server.stop()
    if args.json is not None:
        with args.json.open("a") as f:
            f.write(json.dumps(result) + "\n")
    if args.debug_objects:
        text = log.read_text(errors="replace")
        start = text.find("engineio-objects:")
        print(text[start:] if start >= 0 else "no object dump in the server's log")
    ok = result["count_after"] <= 1 and result["failed_cycles"] == 0
    if not ok:
        print("FAILED: sessions left behind or failed cycles", file=sys.stderr)
    with contextlib.suppress(OSError):
        log.unlink()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
