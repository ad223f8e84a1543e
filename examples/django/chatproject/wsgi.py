"""WSGI entry point: Engine.IO in front of Django.

``gunicorn -k gthread --threads 100 chatproject.wsgi:application`` gives polling and
WebSocket; Django's own ``runserver`` (without daphne) polling only.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")

from django_engineio.wsgi import get_wsgi_application

application = get_wsgi_application()
