"""Django for the tests of this directory only: settings configured here, not globally.

The settings install ``eio_testapp`` (its ``engineio_handlers.py`` is autodiscovered),
Django's auth and sessions (in-memory SQLite) and django-engineio. Every test starts
with no Engine.IO server in the process (:func:`django_engineio.servers.reset_servers`).
"""

from __future__ import annotations

from collections.abc import Iterator

import django
import pytest
from django.conf import settings

if not settings.configured:
    settings.configure(
        SECRET_KEY="tests-not-a-secret",
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "django_engineio",
            "tests.django.eio_testapp",
        ],
        MIDDLEWARE=[],
        ROOT_URLCONF="tests.django.eio_testapp.urls",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        USE_TZ=True,
        ENGINEIO={"PING_INTERVAL": 25, "MAX_HTTP_BUFFER_SIZE": 1000},
    )
    django.setup()

from tests.django.eio_testapp import engineio_handlers

from django_engineio.servers import reset_servers


@pytest.fixture(autouse=True)
def _fresh_servers() -> Iterator[None]:
    """No server survives a test (its sessions and timers belong to that test's loop)."""
    reset_servers()
    engineio_handlers.seen.clear()
    yield
    reset_servers()
