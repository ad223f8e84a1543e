"""The contract app under uWSGI with gevent (``async_mode="gevent_uwsgi"``)::

    uwsgi --http 127.0.0.1:18050 --gevent 1000 --http-websockets --master \\
        --wsgi-file benchmarks/uwsgi_app.py --callable app

The module monkey-patches first, the way an application would.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engineio_core  # noqa: E402
from benchmarks.contract_app import close_sessions_on_exit, options, register_sync  # noqa: E402

eio = engineio_core.Server(async_mode="gevent_uwsgi", **options())
register_sync(eio)
close_sessions_on_exit(eio)  # uwsgi.atexit: the worker closes every session as it stops
app = engineio_core.WSGIApp(eio)
