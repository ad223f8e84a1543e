"""URL patterns for Channels' ``ProtocolTypeRouter``: one for ``"http"``, one for ``"websocket"``.

::

    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.core.asgi import get_asgi_application
    from django.urls import re_path

    django_asgi_app = get_asgi_application()

    from django_engineio.routing import http_urlpatterns, websocket_urlpatterns

    application = ProtocolTypeRouter({
        "http": URLRouter([*http_urlpatterns, re_path(r"", django_asgi_app)]),
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    })

The patterns match ``ENGINEIO["PATH"]`` (default ``engine.io``) with and without
the trailing slash, read when this module is first imported (like ``urls.py``);
:func:`engineio_urlpatterns` builds them for another path.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, re_path

from .conf import engineio_settings
from .consumers import EngineIOHttpConsumer, EngineIOWebsocketConsumer
from .servers import get_async_server

__all__ = ["engineio_urlpatterns", "http_urlpatterns", "websocket_urlpatterns"]


def engineio_urlpatterns(scope_type: str, path: str | None = None,
                         **initkwargs: Any) -> list[URLPattern]:
    """The URL pattern serving Engine.IO for one scope type.

    Args:
        scope_type: ``"http"`` (polling, :class:`EngineIOHttpConsumer`) or ``"websocket"``
            (:class:`EngineIOWebsocketConsumer`).
        path: the URL path (default ``ENGINEIO["PATH"]``), matched with and without
            its trailing slash.
        **initkwargs: passed to the consumer's ``as_asgi()``.

    Raises:
        ValueError: another scope type.
    """
    get_async_server()  # fail early on a bad setting; get_server() knows the deployment
    consumers: dict[str, Any] = {"http": EngineIOHttpConsumer,
                                 "websocket": EngineIOWebsocketConsumer}
    if scope_type not in consumers:
        raise ValueError(f"scope_type must be 'http' or 'websocket', got {scope_type!r}")
    path = (path if path is not None else engineio_settings.path).strip("/")
    return [re_path(rf"^{re.escape(path)}/?$", consumers[scope_type].as_asgi(**initkwargs),
                    name=f"engineio-{scope_type}")]


http_urlpatterns = engineio_urlpatterns("http")
"""Include under ``"http"`` in ``ProtocolTypeRouter`` (through ``URLRouter``)."""

websocket_urlpatterns = engineio_urlpatterns("websocket")
"""Include under ``"websocket"`` in ``ProtocolTypeRouter`` (through ``URLRouter``)."""
