"""django-engineio: Engine.IO (v3 and v4) for Django, under ASGI (Channels) and WSGI.

Quick start::

    # settings.py
    INSTALLED_APPS = [..., "channels", "django_engineio"]
    ENGINEIO = {"PING_INTERVAL": 25, "CORS_ALLOWED_ORIGINS": ["https://example.com"]}

    # chat/engineio_handlers.py (imported from every installed app)
    from django_engineio import asend, on

    @on("message")
    async def message(sid, data):
        await asend(sid, data)

    # asgi.py: django_engineio.routing.http_urlpatterns / websocket_urlpatterns
    # in Channels' ProtocolTypeRouter; or wsgi.py: django_engineio.wsgi.get_wsgi_application()

Importing this package does not import Channels: the consumers live in
:mod:`django_engineio.consumers` and :mod:`django_engineio.routing`.
"""

from __future__ import annotations

from engineio_core import ConnectionRefused, DisconnectReason, SessionUnknown

from .registry import on
from .servers import (
    ServerNotConfigured,
    abroadcast,
    acount_sessions,
    adisconnect,
    asend,
    broadcast,
    count_sessions,
    disconnect,
    get_async_server,
    get_server,
    get_sync_server,
    send,
)

__all__ = [
    "ConnectionRefused",
    "DisconnectReason",
    "ServerNotConfigured",
    "SessionUnknown",
    "abroadcast",
    "acount_sessions",
    "adisconnect",
    "asend",
    "broadcast",
    "count_sessions",
    "disconnect",
    "get_async_server",
    "get_server",
    "get_sync_server",
    "on",
    "send",
]

__version__ = "0.1.0"
