"""The contract app as WSGI callables, for server command lines (gunicorn)::

    gunicorn -k gevent -w 1 -b 127.0.0.1:18050 benchmarks.wsgi_apps:gevent_app
    gunicorn -k geventwebsocket.gunicorn.workers.GeventWebSocketWorker -w 1 \\
        -b 127.0.0.1:18050 benchmarks.wsgi_apps:auto_app
    gunicorn -k gthread --threads 100 -w 1 -b 127.0.0.1:18050 benchmarks.wsgi_apps:threading_app
    gunicorn -k engineio_core.backends.gunicorn_eventlet.EventletWorker -w 1 \\
        -b 127.0.0.1:18050 benchmarks.wsgi_apps:eventlet_app

With ``EIO_CLUSTER_REDIS`` set, each worker joins that cluster
(``benchmarks/cluster_serve.py --runtime gevent``). gunicorn's gevent and eventlet
workers monkey-patch the process before they
load the application, so this module does not. Each app is built on first access:

* ``gevent_app``: ``async_mode="gevent"``;
* ``eventlet_app``: ``async_mode="eventlet"``;
* ``threading_app``: ``async_mode="threading"``;
* ``auto_app``: ``async_mode=None``, which picks gevent under a gevent worker
  (monkey-patched) and threading otherwise.

The app is built when gunicorn loads it in the worker (after the worker installed its
signal handlers): SIGTERM then closes every session before gunicorn's own handler runs
(:func:`benchmarks.contract_app.close_sessions_on_exit`), so the held polling GETs and
WebSockets end at once instead of holding the worker for its graceful timeout.

uWSGI has its own module, :mod:`benchmarks.uwsgi_app`.
"""

from __future__ import annotations

from typing import Any

import engineio_core

from .contract_app import close_sessions_on_exit, cluster_option, options, register_sync

_MODES = {"gevent_app": "gevent", "threading_app": "threading", "auto_app": None,
          "eventlet_app": "eventlet"}
_apps: dict[str, engineio_core.WSGIApp] = {}


def make_app(async_mode: str | None) -> engineio_core.WSGIApp:
    """The contract app on a sync server with ``async_mode``."""
    eio = engineio_core.Server(async_mode=async_mode, **options(), **cluster_option())
    register_sync(eio)
    close_sessions_on_exit(eio)  # SIGTERM from the master: close them, then gunicorn's handler
    return engineio_core.WSGIApp(eio)


def __getattr__(name: str) -> Any:
    if name not in _MODES:
        raise AttributeError(name)
    if name not in _apps:
        _apps[name] = make_app(_MODES[name])
    return _apps[name]
