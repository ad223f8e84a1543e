"""ASGI entry point: Engine.IO through django-engineio's Channels consumers.

``daphne chatproject.asgi:application`` (or uvicorn, hypercorn), or ``manage.py runserver``.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
django_asgi_app = get_asgi_application()  # sets Django up before the imports below

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from django_engineio.routing import http_urlpatterns, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": AuthMiddlewareStack(URLRouter([
        *http_urlpatterns,
        re_path(r"", django_asgi_app),  # type: ignore[arg-type]  # an ASGI app, not a view
    ])),
    "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
})
