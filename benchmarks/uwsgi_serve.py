"""Start the contract app under uWSGI + gevent: ``python -m benchmarks.uwsgi_serve --port N``.

Runs (with the ``uwsgi`` next to this interpreter, from the repository root)::

    uwsgi --http 127.0.0.1:PORT --http-keepalive \\
        --socket /tmp/engineio-uwsgi-PORT.sock --vacuum \\
        --gevent 6000 --http-websockets --master \\
        --wsgi-file benchmarks/uwsgi_app.py --callable app

``--socket`` makes uWSGI's HTTP router reach the worker over a UNIX socket
instead of the TCP socket ``--http`` creates by itself: on polling that hop is
most of the cost (2.5k -> 3.4k round trips/s here). The router forwards to the
first ``--socket`` by itself; naming it again with ``--http-to`` would make it a
"static node", which the router marks as failed, and stops using for 30 s
(``--http-gracetime``), when the worker closes a connection the router is still
writing to (a client streaming past ``maxPayload``).

Every WebSocket holds one of uWSGI's async cores (``--gevent N``), so N must
exceed the number of concurrent sessions: 6000 here, for the benchmark's 5,000
idle WebSockets.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Replace this process with uWSGI serving :mod:`benchmarks.uwsgi_app`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    uwsgi = str(Path(sys.executable).with_name("uwsgi"))
    os.chdir(REPO)
    sock = os.path.join(tempfile.gettempdir(), f"engineio-uwsgi-{args.port}.sock")
    os.execv(uwsgi, [uwsgi, "--http", f"127.0.0.1:{args.port}", "--http-keepalive",
                     "--socket", sock, "--vacuum",
                     "--gevent", "6000", "--http-websockets", "--master",
                     "--wsgi-file", "benchmarks/uwsgi_app.py", "--callable", "app",
                     "--disable-logging", "--die-on-term"])


if __name__ == "__main__":
    main()
