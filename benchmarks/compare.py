"""One interleaved ``../shared/bench`` run of our servers beside the anchors.

Imports the bench driver from ``BENCH_DIR`` (default ``../shared/bench`` next
to this repository), appends our servers to its anchor list in memory and runs
its ``anchors`` command; nothing in the bench folder is modified. Arguments
are the driver's ``anchors`` arguments, e.g.::

    python3 benchmarks/compare.py --rounds 2 \\
        --servers ours-uvicorn,ours-werkzeug,pyeio-asgi-uvicorn,node-engine.io,raw-uvicorn-ws
    python3 benchmarks/compare.py --preset asyncio --rounds 2 --duration 5   # issues 5 and 8
    python3 benchmarks/compare.py --preset sync --rounds 1 --duration 5      # issue 4
    python3 benchmarks/compare.py --preset cluster --rounds 2 --duration 5   # issue 15
    python3 benchmarks/compare.py --preset floors --rounds 2 --duration 5 \
        --scenarios polling_echo,handshakes_polling,handshakes_ws,ws_echo,ws_echo_pipelined

``--baseline DIR`` adds, for every ``ours-*`` server named, a ``base-*`` twin
served from another checkout of this repository (e.g. ``git worktree add
/tmp/base <commit>``; its ``.venv`` may be a symlink to this one's), so that a
change is measured A/B in one interleaved run::

    python3 benchmarks/compare.py --preset asyncio --baseline /tmp/base --rounds 1

Run it with the system ``python3`` (the driver is stdlib only).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVE = REPO / "benchmarks" / "serve"

#: name, command, raw?, the raw limit of the same stack
OURS = [
    ("ours-uvicorn", f"{SERVE} uvicorn {{port}}", False, "raw-uvicorn-ws"),
    ("ours-hypercorn", f"{SERVE} hypercorn {{port}}", False, "raw-uvicorn-ws"),
    ("ours-daphne", f"{SERVE} daphne {{port}}", False, "raw-uvicorn-ws"),
    ("ours-werkzeug", f"{SERVE} werkzeug {{port}}", False, "raw-aiohttp-ws"),
    ("ours-tornado", f"{REPO}/benchmarks/run-app tornado_app {{port}}", False, "raw-tornado-ws"),
    ("ours-aiohttp", f"{REPO}/benchmarks/run-app aiohttp_app {{port}}", False, "raw-aiohttp-ws"),
    ("ours-sanic", f"{REPO}/benchmarks/run-app sanic_app {{port}}", False, "raw-aiohttp-ws"),
    ("ours-django-daphne", f"{REPO}/benchmarks/run-app django_serve {{port}}", False,
     "raw-uvicorn-ws"),
    ("ours-flask", f"{REPO}/benchmarks/run-app flask_app {{port}}", False, "raw-aiohttp-ws"),
    ("ours-eventlet", f"{REPO}/benchmarks/run-sync eventlet {{port}}", False, "raw-aiohttp-ws"),
    ("ours-gevent", f"{REPO}/benchmarks/run-sync gevent {{port}}", False, "raw-aiohttp-ws"),
    ("ours-gevent-ws", f"{REPO}/benchmarks/run-sync gevent-ws {{port}}", False, "raw-aiohttp-ws"),
    ("ours-uwsgi", f"{REPO}/benchmarks/run-sync uwsgi {{port}}", False, "raw-aiohttp-ws"),
    ("ours-gunicorn-gevent", f"{REPO}/benchmarks/run-sync gunicorn-gevent {{port}}", False,
     "raw-aiohttp-ws"),
    # issue 15: 2 uvicorn workers in cluster mode behind nginx round-robin (Redis), and
    # the one worker (no cluster) behind the same nginx it is measured against
    ("ours-cluster2-uvicorn",
     f"{REPO}/benchmarks/run-cluster --runtime uvicorn --workers 2 --port {{port}}", False, None),
    ("ours-nginx1-uvicorn",
     f"{REPO}/benchmarks/run-cluster --runtime uvicorn --workers 1 --no-cluster --port {{port}}",
     False, None),
    # uvicorn with no Engine.IO (polling_echo, handshakes_*, ws_echo, ws_echo_pipelined)
    ("floor-uvicorn", f"{REPO}/benchmarks/run-app uvicorn_floor {{port}}", False,
     "raw-uvicorn-ws"),
    # Tornado with no Engine.IO (only polling_echo, handshakes_polling, handshakes_ws)
    ("floor-tornado", f"{REPO}/benchmarks/run-app tornado_floor {{port}}", False, None),
    # gevent.pywsgi with no Engine.IO (only ws_echo, ws_echo_pipelined): ours-gevent's bound
    ("floor-gevent-ws", f"{REPO}/benchmarks/run-app gevent_floor {{port}}", False, None),
    # python-engineio's threading mode on Werkzeug (the bench has no such anchor)
    ("pyeio-werkzeug", f"{REPO}/.venv/bin/python {REPO}/benchmarks/pyeio_werkzeug.py {{port}}",
     False, "raw-aiohttp-ws"),
]


#: ``--preset NAME``: the server sets of benchmarks/RESULTS.md, one command each.
PRESETS = {
    # issues 5 and 8: the asyncio stacks beside python-engineio and the raw limits
    "asyncio": "ours-aiohttp,pyeio-aiohttp,raw-aiohttp-ws,ours-uvicorn,pyeio-asgi-uvicorn,"
               "raw-uvicorn-ws,ours-tornado,pyeio-tornado,raw-tornado-ws",
    # issue 4: the green-thread deployments beside python-engineio on eventlet
    "sync": "ours-eventlet,ours-gevent,ours-uwsgi,pyeio-eventlet",
    # issue 15: the cost of the cluster
    "cluster": "ours-cluster2-uvicorn,ours-nginx1-uvicorn",
    # issue 18: each stack we tune beside its floor (no Engine.IO) and its raw echo; run
    # with --scenarios polling_echo,handshakes_polling,handshakes_ws,ws_echo,ws_echo_pipelined
    "floors": "ours-aiohttp,bare-polling-aiohttp,bare-ws-aiohttp,raw-aiohttp-ws,"
              "ours-uvicorn,floor-uvicorn,raw-uvicorn-ws,ours-tornado,floor-tornado",
}


def expand_presets(argv: list[str]) -> list[str]:
    """Replace ``--preset NAME`` by ``--servers ...`` (several presets are merged)."""
    out: list[str] = []
    servers: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--preset":
            name = next(args, "")
            if name not in PRESETS:
                raise SystemExit(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
            servers.extend(PRESETS[name].split(","))
        else:
            out.append(arg)
    if servers:
        out += ["--servers", ",".join(dict.fromkeys(servers))]
    return out


def baseline_servers(argv: list[str]) -> tuple[list[str], list[tuple[str, str, bool, str | None]]]:
    """Take ``--baseline DIR`` out of ``argv``; the ``base-*`` twins of the ``ours-*`` servers."""
    if "--baseline" not in argv:
        return argv, []
    at = argv.index("--baseline")
    base = Path(argv[at + 1]).resolve()
    argv = argv[:at] + argv[at + 2:]
    if not (base / ".venv").exists():
        raise SystemExit(f"{base}/.venv is missing (a symlink to {REPO}/.venv will do)")
    sources = ":".join(str(p) for p in sorted((base / "packages").glob("*/src")))
    twins = []
    for name, command, raw, limit in OURS:
        if not name.startswith("ours-"):
            continue  # the floors are not ours to A/B (and a twin would take their name)
        twin = command.replace(str(REPO), str(base))
        twins.append((name.replace("ours-", "base-", 1), f"env PYTHONPATH={sources} {twin}",
                      raw, limit))
    at = argv.index("--servers")
    names = argv[at + 1].split(",")
    wanted = [n for n in names if n.startswith("ours-")]
    argv[at + 1] = ",".join(names + [n.replace("ours-", "base-", 1) for n in wanted])
    return argv, [t for t in twins if t[0] in argv[at + 1].split(",")]


def main() -> None:
    """Run the bench driver's ``anchors`` command with our servers added."""
    argv, twins = baseline_servers(expand_presets(sys.argv[1:]))
    bench_dir = Path(os.environ.get("BENCH_DIR", REPO.parent / "shared" / "bench"))
    sys.path.insert(0, str(bench_dir))
    os.chdir(bench_dir)
    if not (Path("loadgen/wsecho").exists() and Path(".venv-anchors").is_dir()
            and Path("servers/node/node_modules").is_dir()):
        subprocess.run(["./setup.sh"], check=True)  # the bench's own idempotent setup
    import bench  # type: ignore[import-not-found]

    bench.ANCHORS.extend(OURS)
    bench.ANCHORS.extend(twins)
    sys.argv = ["bench.py", "anchors", *argv]
    bench.main()


if __name__ == "__main__":
    main()
