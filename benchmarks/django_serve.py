"""The contract app as a Django project (``benchmarks/django_project``), on one server::

    python -m benchmarks.django_serve --server daphne --port 18050
    python -m benchmarks.django_serve --server uvicorn --port 18050
    python -m benchmarks.django_serve --server hypercorn --port 18050
    python -m benchmarks.django_serve --server gunicorn-gthread --port 18050
    python -m benchmarks.django_serve --server gunicorn-eventlet --port 18050

Settings come from the environment: ``EIO_PING_INTERVAL`` and ``EIO_PING_TIMEOUT``
(ms), ``EIO_MAX_PAYLOAD`` (bytes). CORS allows any origin; EIO 3 and 4 are served.
SIGTERM closes every session first: under daphne (run in this process) through
:func:`benchmarks.contract_app.run_daphne`, under gunicorn through the WSGI module
(``django_project/wsgi.py``); uvicorn and hypercorn run ``python -m`` as is.
"""

from __future__ import annotations

import argparse
import os
import sys

SERVERS = ("daphne", "uvicorn", "hypercorn", "gunicorn-gthread", "gunicorn-eventlet")
ASGI = "benchmarks.django_project.asgi:application"
WSGI = "benchmarks.django_project.wsgi:application"


def command(server: str, port: int, threads: int = 64, connections: int = 1000) -> list[str]:
    """The command line serving the project with ``server`` on 127.0.0.1:``port``
    (gunicorn: ``connections`` open connections at most, each one a thread under gthread:
    ``threads``)."""
    python = sys.executable
    if server == "daphne":
        return [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--verbosity", "0",
                ASGI]
    if server == "uvicorn":
        return [python, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
                "--backlog", "1024", "--log-level", "warning", "--no-access-log",
                "--ws-per-message-deflate", "false", ASGI]
    if server == "hypercorn":
        return [python, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "--backlog", "1024", ASGI]
    gunicorn = [python, "-m", "gunicorn", "-w", "1", "--no-control-socket", "--backlog", "1024",
                "-b", f"127.0.0.1:{port}", "--graceful-timeout", "2",
                "--worker-connections", str(connections)]
    if server == "gunicorn-gthread":
        return [*gunicorn, "-k", "gthread", "--threads", str(threads), WSGI]
    if server == "gunicorn-eventlet":
        return [*gunicorn, "-k", "engineio_core.backends.gunicorn_eventlet.EventletWorker", WSGI]
    raise SystemExit(f"unknown server {server!r}; choose from {SERVERS}")


def main() -> None:
    """Command line entry point: runs daphne here, replaces this process with the others."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--server", choices=SERVERS, default="daphne")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    parser.add_argument("--threads", type=int, default=64,
                        help="gunicorn-gthread: worker threads (default 64)")
    parser.add_argument("--worker-connections", type=int, default=1000,
                        help="gunicorn: open connections at most (default 1000)")
    args = parser.parse_args()
    argv = command(args.server, args.port, args.threads, args.worker_connections)
    if args.server == "daphne":
        # In this process, so that SIGTERM closes every session first (daphne has no
        # lifespan: it would cancel the application instances and drop the connections).
        from django_engineio import get_async_server

        from .contract_app import close_sessions_async, run_daphne

        run_daphne(["daphne", *argv[3:]], lambda: close_sessions_async(get_async_server()))
        return
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
