"""Settings of the example project.

``daphne`` first in ``INSTALLED_APPS`` turns ``runserver`` into daphne's ASGI server
(polling, WebSocket and the upgrade, through ``asgi.py``). Without it ``runserver``
is Django's wsgiref server through ``wsgi.py``: polling only.

The example stores nothing, so it has no database: sessions live in signed cookies,
the user is ``AnonymousUser`` (``AuthMiddlewareStack`` still puts it in the scope),
``runserver`` has no migrations to apply and leaves no ``db.sqlite3`` behind. A
project with models configures ``DATABASES`` and runs ``manage.py migrate`` as usual.
"""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "django_engineio",
    "chat",  # chat/engineio_handlers.py is imported by django_engineio
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "chatproject.urls"
ASGI_APPLICATION = "chatproject.asgi.application"
WSGI_APPLICATION = "chatproject.wsgi.application"
DATABASES: dict[str, dict[str, object]] = {}  # nothing stored (above)
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
USE_TZ = True

ENGINEIO = {
    "PING_INTERVAL": 25,                # seconds
    "PING_TIMEOUT": 20,
    "MAX_HTTP_BUFFER_SIZE": 1_000_000,  # bytes
    "CORS_ALLOWED_ORIGINS": None,       # same origin only
}
