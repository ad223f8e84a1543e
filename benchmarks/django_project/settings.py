"""Settings of the contract project: django-engineio and nothing else (no database)."""

from __future__ import annotations

from benchmarks.contract_app import cluster_option, options

SECRET_KEY = "contract-app-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
"""Clients connect to 127.0.0.1; any other Host is refused, Engine.IO requests included
(tests/interop/test_hosts.py)."""
INSTALLED_APPS = ["django_engineio"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "benchmarks.django_project.urls"
ASGI_APPLICATION = "benchmarks.django_project.asgi.application"
WSGI_APPLICATION = "benchmarks.django_project.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

ENGINEIO = {key.upper(): value for key, value in {**options(), **cluster_option()}.items()}
"""``PING_INTERVAL``, ``PING_TIMEOUT``, ``MAX_HTTP_BUFFER_SIZE`` (and ``CLUSTER`` from
``EIO_CLUSTER_REDIS``) from the environment; any origin, no credentials."""
