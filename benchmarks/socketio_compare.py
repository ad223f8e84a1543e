"""The Socket.IO benchmark (issue 16): one interleaved run, one command.

python-socketio on our engine (``ours-sio-RUNTIME``) against python-socketio on
python-engineio (``pysio-RUNTIME``) on the same server, and node socket.io 4
(``node-socket.io``) as the anchor::

    python3 benchmarks/socketio_compare.py --rounds 3 --duration 10     # aiohttp, uvicorn, eventlet
    python3 benchmarks/socketio_compare.py --runtimes aiohttp --scenarios emit_echo,broadcast
    python3 benchmarks/socketio_compare.py --duration 2 --rounds 1      # a smoke run

The python servers are ``python -m benchmarks.socketio_serve --runtime R --port P
--engine ours|python-engineio`` (this repository's ``.venv``, python-engineio 4
installed there; ``eventlet`` is Flask-SocketIO on eventlet); the anchor is
``benchmarks/socketio_node/server.js`` (npm ``socket.io`` ^4, installed there with
``npm ci`` when missing). Every server
serves the socket.io-protocol suite's app: ``message`` -> ``message-back``,
``message-with-ack`` acked with its arguments, ``broadcast`` -> ``broadcast`` to
every client of ``/``.

The load generator is ``benchmarks/socketio_load.js``: a raw Engine.IO client
built on ``../shared/bench``'s ``loadgen/proto.js`` that speaks Socket.IO 5
itself (``40`` connect, ``42[...]`` events, ``43<id>[...]`` acks), so it costs a
few percent of what socket.io-client would and stays far below the server.

The bench driver of ``../shared/bench`` (``BENCH_DIR``) runs everything, as
``benchmarks/compare.py`` has it do for Engine.IO: this module imports it and
gives it, in memory, the Socket.IO scenarios, the load generator and a
readiness check on ``/socket.io/``; each run starts a fresh server pinned to CPU 0
(``taskset``), the load generator is pinned to CPU 1, rounds are interleaved
(round r: scenario s: every server), and the summary gives medians, min-max, CPU
and the ratios our engine / python-engineio / node. Nothing in ``../shared`` is
modified; results go to ``BENCH_DIR/results/<timestamp>-socketio`` (``--out DIR``).
Run it with the system ``python3`` (stdlib only).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
NODE_DIR = REPO / "benchmarks" / "socketio_node"
LOADGEN = ["node", str(REPO / "benchmarks" / "socketio_load.js")]
SIO_PATH = "/socket.io/"

#: runtimes of benchmarks/socketio_serve.py (its RUNTIMES; this module runs on the system
#: python3, without python-socketio, so it does not import it)
RUNTIMES = ("aiohttp", "uvicorn", "eventlet", "tornado", "sanic", "flask", "gevent",
            "django-channels", "django-wsgi")
DEFAULT_RUNTIMES = "aiohttp,uvicorn,eventlet"
ENGINES = {"ours": "ours-sio", "python-engineio": "pysio"}
NODE_ANCHOR = "node-socket.io"
PORT0 = 18101  # server i of the run listens on PORT0 + i

#: ``SOCKETIO_SERVE_CMD`` replaces the python server command (a variant of the app):
#: ``{python}``, ``{repo}``, ``{runtime}``, ``{engine}`` are filled in here, ``{port}``
#: by the driver.
SERVE_CMD = os.environ.get(
    "SOCKETIO_SERVE_CMD",
    "env PYTHONPATH={repo} {python} -m benchmarks.socketio_serve --runtime {runtime} "
    "--port {port} --engine {engine}")

# Socket.IO's own defaults for the heartbeat (the app's are the suite's 300 / 200 ms,
# which would put a ping in every few echoes); idle_memory holds 2 intervals of 5 s.
QUIET = {"EIO_PING_INTERVAL": "25000", "EIO_PING_TIMEOUT": "20000"}
IDLE = {"EIO_PING_INTERVAL": "5000", "EIO_PING_TIMEOUT": "5000"}

#: scenario -> (tool, load generator arguments, Engine.IO only?, server env): the bench
#: driver's SCENARIOS format
SCENARIOS: dict[str, tuple[str, list[str], bool, dict[str, str]]] = {
    "emit_echo": ("node", ["--scenario", "emit_echo", "--conns", "100", "--inflight", "1",
                           "--size", "32"], False, QUIET),
    "emit_ack": ("node", ["--scenario", "emit_ack", "--conns", "100", "--inflight", "1",
                          "--size", "32"], False, QUIET),
    "broadcast": ("node", ["--scenario", "broadcast", "--conns", "1000", "--messages", "20",
                           "--rounds", "3"], False, QUIET),
    "handshakes_ws": ("node", ["--scenario", "handshakes_ws", "--conns", "20"], False, QUIET),
    "handshakes_polling": ("node", ["--scenario", "handshakes_polling", "--conns", "20"], False,
                           QUIET),
    "idle_memory": ("node", ["--scenario", "idle_memory", "--conns", "5000",
                             "--hold-intervals", "2"], False, IDLE),
}
TIMED = {"emit_echo", "emit_ack", "handshakes_ws", "handshakes_polling"}
#: the issue's targets, ours / python-engineio on the same server
TARGETS = {"emit_echo": 1.5, "broadcast": 2.0}
WHAT = {
    "emit_echo": "echoes/s, 100 clients, one '42[\"message\",<32 B>]' in flight each",
    "emit_ack": "acks/s, 100 clients, one '42<id>[\"message-with-ack\",<32 B>]' in flight each",
    "broadcast": "deliveries/s, 1000 clients, one emits 'broadcast' 20x back to back",
    "handshakes_ws": "Socket.IO connects/s, 20 loops: WebSocket, '40' until '40{sid}', close",
    "handshakes_polling": "Socket.IO connects/s, 20 loops: polling handshake, '40', '40{sid}', "
                          "close",
    "idle_memory": "server RSS KiB per connected idle client (5000; lower is better)",
}


def servers(runtimes: list[str], engines: list[str], node: bool
            ) -> list[tuple[str, str, bool, str | None]]:
    """The bench driver's ANCHORS entries (name, command, raw, stack) of this run."""
    out: list[tuple[str, str, bool, str | None]] = []
    for runtime in runtimes:
        for engine in engines:
            command = SERVE_CMD.format(python=PYTHON, repo=REPO, runtime=runtime,
                                       engine=engine, port="{port}")
            out.append((f"{ENGINES[engine]}-{runtime}", command, False, None))
    if node:
        out.append((NODE_ANCHOR, f"node {NODE_DIR / 'server.js'} {{port}}", False, None))
    return out


def wait_ready(port: int, raw: bool, proc: subprocess.Popen[bytes], timeout: float = 30.0
               ) -> str | None:
    """The bench driver's ``wait_ready`` on the Socket.IO path: ready when a polling
    handshake answers ``0{...}`` (that session is closed again with ``1``)."""
    deadline = time.monotonic() + timeout
    target = f"{SIO_PATH}?EIO=4&transport=polling"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"server exited with {proc.returncode} before ready"
        try:
            if raw:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return None
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", target)
            response = conn.getresponse()
            body = response.read().decode("utf-8", "replace")
            if response.status == 200 and body.startswith("0"):
                sid = json.loads(body.split("\x1e")[0][1:])["sid"]
                conn.request("POST", f"{target}&sid={sid}", body=b"1",
                             headers={"Content-Type": "text/plain;charset=UTF-8"})
                conn.getresponse().read()
                conn.close()
                return None
            conn.close()
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            pass
        time.sleep(0.1)
    return f"not ready after {timeout}s"


def version_note() -> str:
    """Versions of what is measured (python side from this repository's .venv)."""
    def out(argv: list[str], cwd: Path = REPO) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                  cwd=cwd).stdout.strip() or "?"
        except OSError:
            return "?"
    python = out([str(PYTHON), "-c",
                  "import importlib.metadata as m, sys; print(sys.version.split()[0], '(' + "
                  "', '.join(f'{p} {m.version(p)}' for p in ['python-socketio', "
                  "'python-engineio', 'engineio-core', 'aiohttp', 'uvicorn', 'uvloop', "
                  "'httptools', 'websockets', 'eventlet']) + ')')"])
    node = out(["node", "-p", "process.version + ', socket.io ' + "
                "require('socket.io/package.json').version"], NODE_DIR)
    return f"Python {python}; node {node}"


def node_setup() -> None:
    """npm ci in benchmarks/socketio_node when socket.io is missing (idempotent)."""
    if not (NODE_DIR / "node_modules" / "socket.io" / "package.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                       check=True)


def ratio_table(summary: dict[str, dict[str, Any]], scenarios: list[str],
                runtimes: list[str]) -> str:
    """Ours / python-engineio on each runtime, and each against node socket.io."""
    def median(scenario: str, name: str) -> float | None:
        cell = summary.get(f"{scenario}|{name}")
        value = cell.get("median") if cell else None
        return float(value) if isinstance(value, (int, float)) and value else None

    rows = ["| runtime | scenario | ours | python-engineio | ours / python-engineio | target "
            "| node socket.io | ours / node |", "|---|---|---|---|---|---|---|---|"]
    for runtime in runtimes:
        for scenario in scenarios:
            ours = median(scenario, f"ours-sio-{runtime}")
            theirs = median(scenario, f"pysio-{runtime}")
            node = median(scenario, NODE_ANCHOR)
            if ours is None and theirs is None:
                continue
            ratio = f"{ours / theirs:.2f}" if ours and theirs else "-"
            target = TARGETS.get(scenario)
            if target is None:
                verdict = ""
            elif ours and theirs:
                verdict = f"≥ {target} {'met' if ours / theirs >= target else 'NOT met'}"
            else:
                verdict = f"≥ {target}"
            rows.append(f"| {runtime} | {scenario} | {_fmt(ours)} | {_fmt(theirs)} | {ratio} | "
                        f"{verdict} | {_fmt(node)} | "
                        f"{f'{ours / node:.2f}' if ours and node else '-'} |")
    notes = [f"- {s}: {WHAT[s]}" for s in scenarios]
    return ("\nSocket.IO: medians, ours / python-engineio on the same server and against node "
            "socket.io 4 (throughput: >1 is faster; idle_memory: <1 is less memory):\n\n"
            + "\n".join(rows) + "\n\n" + "\n".join(notes) + "\n")


def idle_notes(outdir: Path) -> str:
    """Per idle_memory run: clients that survived the hold and still answered an emit."""
    lines = []
    for line in (outdir / "runs.jsonl").read_text().splitlines():
        run = json.loads(line) if line.strip() else {}
        if run.get("scenario") == "idle_memory" and "sessions" in run:
            lines.append(f"- idle_memory {run['name']} round {run['round']}: "
                         f"{run.get('survived')}/{run['sessions']} connected after the hold, "
                         f"{run.get('answered_after_hold')} answered an emit after it, "
                         f"failed connects {run.get('failed_connects')}, "
                         f"open rate {_fmt(run.get('open_rate_per_s'))}/s")
    return "\n" + "\n".join(lines) + "\n" if lines else ""


def _fmt(value: object) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def load_bench(bench_dir: Path) -> Any:
    """The bench driver, set up for Socket.IO (its module globals replaced in memory)."""
    sys.path.insert(0, str(bench_dir))
    import bench  # type: ignore[import-not-found]

    bench.SCENARIOS = SCENARIOS
    bench.TIMED = TIMED
    bench.LOADGEN = LOADGEN
    bench.wait_ready = wait_ready
    return bench


def main(argv: list[str] | None = None) -> None:
    """Run every (round, scenario, server) interleaved, then summarise."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", default=DEFAULT_RUNTIMES,
                        help=f"comma-separated, of {', '.join(RUNTIMES)}")
    parser.add_argument("--engines", default="ours,python-engineio",
                        help="python-socketio on: ours, python-engineio (both by default)")
    parser.add_argument("--no-node", action="store_true", help="leave out node socket.io")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0,
                        help="measured seconds of the timed scenarios")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before")
    parser.add_argument("--out", help="result folder (default BENCH_DIR/results/<ts>-socketio)")
    a = parser.parse_args(argv)
    runtimes = [r for r in a.runtimes.split(",") if r]
    engines = [e for e in a.engines.split(",") if e]
    scenarios = [s for s in a.scenarios.split(",") if s]
    bad = ([r for r in runtimes if r not in RUNTIMES] + [e for e in engines if e not in ENGINES]
           + [s for s in scenarios if s not in SCENARIOS])
    if bad:
        parser.error(f"unknown {bad}; runtimes {list(RUNTIMES)}, engines {list(ENGINES)}, "
                     f"scenarios {list(SCENARIOS)}")
    a.ws_impl = "node"  # read by the bench driver's run_one
    if "SOCKETIO_SERVE_CMD" not in os.environ and runtimes and engines \
            and not (REPO / "benchmarks" / "socketio_serve.py").exists():
        raise SystemExit("benchmarks/socketio_serve.py is missing (or set SOCKETIO_SERVE_CMD)")
    if not a.no_node:
        node_setup()

    bench_dir = Path(os.environ.get("BENCH_DIR", REPO.parent / "shared" / "bench")).resolve()
    os.environ["BENCH_DIR"] = str(bench_dir)  # the load generator finds loadgen/proto.js there
    bench = load_bench(bench_dir)
    with_ports = [(server, PORT0 + i)
                  for i, server in enumerate(servers(runtimes, engines, not a.no_node))]
    outdir: Path = bench.new_outdir(a, "socketio")
    (outdir / "machine.txt").write_text(
        bench.machine_note().split("; Python")[0] + "; " + version_note() + "\n")
    plan = [(r, s, entry) for r in range(1, a.rounds + 1) for s in scenarios
            for entry in with_ports]
    bench.log(f"{len(plan)} runs -> {outdir}")
    with contextlib.suppress(OSError):  # keep the driver off the server's CPU
        os.sched_setaffinity(0, {int(bench.LOADGEN_CPU)})
    for i, (round_no, scenario, ((name, command, raw, _stack), port)) in enumerate(plan, 1):
        bench.log(f"[{i}/{len(plan)}] round {round_no} {scenario} {name}")
        bench.emit(bench.run_one(name, command, port, raw, scenario, a, outdir, round_no), outdir)
    summary = bench.summarize(outdir)
    extra = ratio_table(summary, scenarios, runtimes) + idle_notes(outdir)
    with open(outdir / "summary.md", "a") as f:
        f.write(extra)
    print(extra)
    bench.log(f"results in {outdir}")


if __name__ == "__main__":
    main()
