"""Our own code per unit of work, in process: no server, no sockets, no load generator.

The contract app's :class:`~engineio_core.ASGIApp` (``contract_app.make_async_app``)
is driven with ASGI messages on uvloop, the way uvicorn drives it, so what is
measured is ours alone (the engine, ``AsyncServer``, the ASGI adapter and the
contract's handlers) and the stack's share drops out::

    .venv/bin/python -m benchmarks.inprocess handshake     # µs per polling handshake + close
    .venv/bin/python -m benchmarks.inprocess polling_echo  # µs per held GET + POST echo
    .venv/bin/python -m benchmarks.inprocess ws_echo       # µs per pipelined WebSocket echo
    .venv/bin/python -m benchmarks.inprocess handshake --instructions   # instructions per unit
    # the packages and contract app of another checkout (e.g. git worktree add /tmp/base REV)
    .venv/bin/python -m benchmarks.inprocess ws_echo --instructions --source /tmp/base
    # the same units through uvicorn's floor app (benchmarks/uvicorn_floor.py): the
    # least an app must do, so ours minus the floor's is our share in instructions
    .venv/bin/python -m benchmarks.inprocess handshake --instructions --app floor

Timings are the best of ``--batches`` batches and move by ±5-10 % from run to run
on this machine: too coarse for a cut of a few per cent. ``--instructions`` counts
CPU instructions under ``valgrind --tool=callgrind`` instead: two runs of
``--count`` and three times as many units, the difference divided by the extra
units (start-up cancels out). The count repeats within about 1 % and does not
depend on what else the machine runs, so an A/B of two checkouts (``--source``)
reads a 2 % cut that no served benchmark here can. It is a proxy: a served
server also pays for cache misses and the stack's own work, so confirm a cut
with ``compare.py --baseline`` before calling it a speed-up.

``handshake`` keeps ``--window`` sessions open (20 by default, as the bench's
``handshakes_polling`` has 20 clients), closing the oldest after each handshake.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ("handshake", "polling_echo", "ws_echo")
MESSAGE = "hello world 32 bytes of payload."
HEADERS = [(b"host", b"127.0.0.1:3000"), (b"connection", b"keep-alive"),
           (b"user-agent", b"node"), (b"accept", b"*/*"),
           (b"accept-encoding", b"gzip, deflate")]

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def request(app: App, method: str, query: bytes, body: bytes = b"") -> list[dict[str, Any]]:
    """One HTTP request through ``app``; returns the ASGI messages it sent."""
    headers = list(HEADERS)
    if method == "POST":
        headers += [(b"content-type", b"text/plain;charset=UTF-8"),
                    (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": "/engine.io/",
             "raw_path": b"/engine.io/", "query_string": query, "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 3000)}
    sent: list[dict[str, Any]] = []
    body_read = False

    async def receive() -> dict[str, Any]:
        nonlocal body_read
        if not body_read:
            body_read = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Future()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _sid(sent: list[dict[str, Any]]) -> bytes:
    body: bytes = sent[1]["body"]
    start = body.index(b'"sid":"') + 7
    return body[start:body.index(b'"', start)]


async def handshakes(app: App, count: int, window: int) -> None:
    open_sids: collections.deque[bytes] = collections.deque()
    for _ in range(count):
        open_sids.append(_sid(await request(app, "GET", b"EIO=4&transport=polling")))
        if len(open_sids) >= window:
            closed = await request(app, "POST", b"EIO=4&transport=polling&sid="
                                   + open_sids.popleft(), b"1")
            assert closed[1]["body"] == b"ok", closed
    while open_sids:
        await request(app, "POST", b"EIO=4&transport=polling&sid=" + open_sids.popleft(), b"1")


async def polling_echoes(app: App, count: int, _window: int) -> None:
    query = b"EIO=4&transport=polling&sid=" + _sid(
        await request(app, "GET", b"EIO=4&transport=polling"))
    data = ("4" + MESSAGE).encode()
    for _ in range(count):
        held = asyncio.ensure_future(request(app, "GET", query))
        await asyncio.sleep(0)  # the GET is held
        posted = await request(app, "POST", query, data)
        assert posted[1]["body"] == b"ok", posted
        answered = await held
        assert answered[1]["body"] == data, answered


async def ws_echoes(app: App, count: int, _window: int) -> None:
    """``count`` messages that are all there to read at once (the pipelined echo)."""
    frames = iter([{"type": "websocket.connect"}]
                  + [{"type": "websocket.receive", "text": "4" + MESSAGE}] * count
                  + [{"type": "websocket.disconnect", "code": 1000}])
    echoed = 0

    async def receive() -> dict[str, Any]:
        return next(frames)

    async def send(message: dict[str, Any]) -> None:
        nonlocal echoed
        echoed += message.get("text") == "4" + MESSAGE

    scope = {"type": "websocket", "path": "/engine.io/", "root_path": "",
             "query_string": b"EIO=4&transport=websocket", "headers": HEADERS,
             "scheme": "ws", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 3000),
             "subprotocols": [], "extensions": {}}
    await app(scope, receive, send)
    assert echoed == count, (echoed, count)


RUNS = {"handshake": handshakes, "polling_echo": polling_echoes, "ws_echo": ws_echoes}


APPS = ("ours", "floor")


def make_app(which: str) -> App:
    """The contract app's ``ASGIApp`` (``ours``) or uvicorn's floor app (``floor``)."""
    if which == "floor":
        from benchmarks import uvicorn_floor
        return uvicorn_floor.app
    from benchmarks import contract_app
    return contract_app.make_async_app()


def timed(scenario: str, count: int, batches: int, window: int, which: str = "ours") -> float:
    """µs per unit, the best of ``batches`` batches of ``count``."""
    import uvloop

    async def main() -> float:
        app = make_app(which)
        best = float("inf")
        for _ in range(batches):
            started = time.perf_counter()
            await RUNS[scenario](app, count, window)
            best = min(best, (time.perf_counter() - started) / count * 1e6)
        return best

    return uvloop.run(main())


def instructions(scenario: str, count: int, window: int, source: Path,
                 which: str = "ours") -> float:
    """Instructions per unit under callgrind: (I(3n) - I(n)) / 2n, ``source``'s packages."""
    sources = ":".join(str(p) for p in sorted((source / "packages").glob("*/src")))
    env = {**os.environ, "PYTHONPATH": f"{source}:{sources}", "PYTHONHASHSEED": "0"}

    def count_for(n: int) -> int:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             sys.executable, __file__, scenario, "--count", str(n),
             "--batches", "1", "--window", str(window), "--app", which],
            cwd=source, env=env, capture_output=True, text=True, check=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None:
            raise SystemExit(f"no instruction count from callgrind:\n{done.stderr[-2000:]}")
        return int(found.group(1))

    return (count_for(3 * count) - count_for(count)) / (2 * count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--count", type=int, default=0, help="units per batch")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--window", type=int, default=20, help="open sessions (handshake)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under valgrind instead of timing")
    parser.add_argument("--source", type=Path, default=REPO,
                        help="the checkout whose packages run (with --instructions)")
    parser.add_argument("--app", choices=APPS, default="ours",
                        help="the contract app, or uvicorn's floor app "
                             "(benchmarks/uvicorn_floor.py)")
    args = parser.parse_args()
    if args.instructions:
        count = args.count or (300 if args.scenario != "ws_echo" else 1000)
        per_unit = instructions(args.scenario, count, args.window, args.source.resolve(), args.app)
        print(f"{args.scenario}: {per_unit:,.0f} instructions per unit ({args.app}, {args.source})")
    else:
        count = args.count or (3000 if args.scenario != "ws_echo" else 50000)
        per_unit = timed(args.scenario, count, args.batches, args.window, args.app)
        print(f"{args.scenario}: {per_unit:.2f} µs per unit ({args.app})")


if __name__ == "__main__":
    main()
