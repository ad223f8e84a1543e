"""The contract project under WSGI: django-engineio's middleware in front of Django.

``gunicorn -k gthread --threads 64 benchmarks.django_project.wsgi:application``
(or ``-k engineio_core.backends.gunicorn_eventlet.EventletWorker``, ``-k gevent``).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.django_project.settings")

from django_engineio import get_sync_server
from django_engineio.wsgi import get_wsgi_application

from ..contract_app import close_sessions_on_exit, register_sync

application = get_wsgi_application()
register_sync(get_sync_server())
close_sessions_on_exit(get_sync_server())  # SIGTERM in the worker: close every session first
