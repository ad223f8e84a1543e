"""The contract app (``../shared/bench/CONTRACT.md``) on the green-thread WSGI servers.

One command per deployment::

    python -m benchmarks.sync_app --mode eventlet --port 18050   # eventlet.wsgi.server
    python -m benchmarks.sync_app --mode gevent --port 18050     # gevent.pywsgi.WSGIServer
    python -m benchmarks.sync_app --mode gevent-ws --port 18050  # ... with gevent-websocket

The process monkey-patches itself first, the way an application would (see
docs/deployment.md); handlers and settings are those of
:mod:`benchmarks.contract_app`. SIGTERM closes every session
(:func:`benchmarks.contract_app.close_sessions_on_exit`), then ends the process.
"""

from __future__ import annotations

import sys
from typing import Any

# Monkey-patch before anything else is imported, as the docs tell users to.
_MODE = sys.argv[sys.argv.index("--mode") + 1] if "--mode" in sys.argv[:-1] else "eventlet"
if _MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif _MODE in ("gevent", "gevent-ws"):
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402

import engineio_core  # noqa: E402

from .contract_app import close_sessions_on_exit, options, register_sync  # noqa: E402

MODES = ("eventlet", "gevent", "gevent-ws")


def make_app(mode: str) -> engineio_core.WSGIApp:
    """The contract app for ``mode`` as a WSGI application."""
    eio = engineio_core.Server(async_mode="eventlet" if mode == "eventlet" else "gevent",
                               **options())
    register_sync(eio)
    return engineio_core.WSGIApp(eio)


def serve(mode: str, port: int) -> None:
    """Serve the contract app on 127.0.0.1:``port`` until SIGTERM (which closes every
    session first, then ends the process)."""
    app = make_app(mode)
    close_sessions_on_exit(app.server)
    if mode == "eventlet":
        import eventlet.wsgi

        # max_size: eventlet.wsgi serves at most 1,024 connections at once by default,
        # and every WebSocket holds one (the bench's anchor sets 20,000 too).
        eventlet.wsgi.server(eventlet.listen(("127.0.0.1", port), backlog=1024), app,
                             log_output=False, max_size=20000)
    else:
        from gevent.pywsgi import WSGIHandler, WSGIServer

        handler: Any = WSGIHandler
        if mode == "gevent-ws":
            from geventwebsocket.handler import WebSocketHandler

            handler = WebSocketHandler
        # WSGIApp sets TCP_NODELAY on gevent.pywsgi connections itself.
        WSGIServer(("127.0.0.1", port), app, log=None, backlog=1024,
                   handler_class=handler).serve_forever()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=MODES, default="eventlet")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    serve(args.mode, args.port)


if __name__ == "__main__":
    main()
