"""The benchmark / conformance contract app (``../shared/bench/CONTRACT.md``) on Flask.

A Flask app with :class:`flask_engineio.FlaskEngineIO`; ``async_mode`` is left
to the process it runs in (threading under ``flask run``, eventlet or gevent
under the gunicorn workers that monkey-patch first)::

    flask --app benchmarks.flask_app:app run --host 127.0.0.1 --port 18050 --no-reload --no-debugger
    gunicorn -w 1 -b 127.0.0.1:18050 -k engineio_core.backends.gunicorn_eventlet.EventletWorker \\
        benchmarks.flask_app:app
    gunicorn -w 1 -b 127.0.0.1:18050 -k gevent benchmarks.flask_app:app
    python -m benchmarks.flask_app --port 18050      # eio.run(app): Werkzeug, threaded

Settings come from the environment: ``EIO_PING_INTERVAL`` and ``EIO_PING_TIMEOUT``
(ms), ``EIO_MAX_PAYLOAD`` (bytes), ``EIO_CLUSTER_REDIS`` (a Redis URL: cluster mode).
CORS allows any origin; EIO 3 and 4 are served.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import cast

from flask import Flask

import engineio_core
from flask_engineio import FlaskEngineIO, get_server

from .contract_app import close_sessions_on_exit, cluster_option, options, register_sync

eio = FlaskEngineIO()
# The contract handlers, registered before init_app through the extension (so they
# run in the app context and send through it). The extension has the Server's
# handler API (on, send, disconnect), which is all register_sync uses.
register_sync(cast(engineio_core.Server, eio))


def make_app() -> Flask:
    """The contract app as a Flask application."""
    flask_app = Flask(__name__)
    for name, value in {**options(), **cluster_option()}.items():
        flask_app.config[f"ENGINEIO_{name.upper()}"] = value
    eio.init_app(flask_app)

    @flask_app.get("/")
    def index() -> str:
        return "flask-engineio contract app\n"

    return flask_app


app = make_app()
close_sessions_on_exit(get_server(app))  # SIGTERM (uWSGI: atexit) closes every session first
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log under flask run


def main() -> None:
    """Command line entry point: ``eio.run(app)`` (Werkzeug, threaded)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    args = parser.parse_args()
    eio.run(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
