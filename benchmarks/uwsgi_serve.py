"""Start the contract app under uWSGI + gevent: ``python -m benchmarks.uwsgi_serve --port N``.

Runs (with the ``uwsgi`` next to this interpreter, from the repository root)::

    uwsgi --http 127.0.0.1:PORT --http-keepalive --gevent 6000 --http-websockets \\
        --master --wsgi-file benchmarks/uwsgi_app.py --callable app

Every WebSocket holds one of uWSGI's async cores (``--gevent N``), so N must
exceed the number of concurrent sessions: 6000 here, for the benchmark's 5,000
idle WebSockets.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Replace this process with uWSGI serving :mod:`benchmarks.uwsgi_app`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    uwsgi = str(Path(sys.executable).with_name("uwsgi"))
    os.chdir(REPO)
    os.execv(uwsgi, [uwsgi, "--http", f"127.0.0.1:{args.port}", "--http-keepalive",
                     "--gevent", "6000", "--http-websockets", "--master",
                     "--wsgi-file", "benchmarks/uwsgi_app.py", "--callable", "app",
                     "--disable-logging", "--die-on-term"])


if __name__ == "__main__":
    main()
