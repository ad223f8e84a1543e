"""One interleaved ``../shared/bench`` run of our servers beside the anchors.

Imports the bench driver from ``BENCH_DIR`` (default ``../shared/bench`` next
to this repository), appends our servers to its anchor list in memory and runs
its ``anchors`` command; nothing in the bench folder is modified. Arguments
are the driver's ``anchors`` arguments, e.g.::

    python3 benchmarks/compare.py --rounds 2 \\
        --servers ours-uvicorn,ours-werkzeug,pyeio-asgi-uvicorn,node-engine.io,raw-uvicorn-ws

Run it with the system ``python3`` (the driver is stdlib only).
"""

from __future__ import annotations

import os
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
    # python-engineio's threading mode on Werkzeug (the bench has no such anchor)
    ("pyeio-werkzeug", f"{REPO}/.venv/bin/python {REPO}/benchmarks/pyeio_werkzeug.py {{port}}",
     False, "raw-aiohttp-ws"),
]


def main() -> None:
    """Run the bench driver's ``anchors`` command with our servers added."""
    bench_dir = Path(os.environ.get("BENCH_DIR", REPO.parent / "shared" / "bench"))
    sys.path.insert(0, str(bench_dir))
    os.chdir(bench_dir)
    import bench  # type: ignore[import-not-found]

    bench.ANCHORS.extend(OURS)
    sys.argv = ["bench.py", "anchors", *sys.argv[1:]]
    bench.main()


if __name__ == "__main__":
    main()
