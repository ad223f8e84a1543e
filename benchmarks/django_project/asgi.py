"""The contract project under ASGI: django-engineio's consumers in Channels' router.

``daphne benchmarks.django_project.asgi:application`` (or uvicorn, hypercorn).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.django_project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from django_engineio import get_async_server  # noqa: E402
from django_engineio.routing import http_urlpatterns, websocket_urlpatterns  # noqa: E402

from ..contract_app import register_async  # noqa: E402

register_async(get_async_server())


async def refuse_websocket(scope: MutableMapping[str, Any],
                           receive: Callable[[], Awaitable[Any]],
                           send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
    """Any other WebSocket path: refused (403), as ``ASGIApp`` does, instead of Channels'
    "No route found" ValueError (a 500 and a traceback; found by the wire fuzzer)."""
    await send({"type": "websocket.close", "code": 1000})


application = ProtocolTypeRouter({
    # Channels routes ASGI apps with re_path; django-stubs only types views there.
    "http": URLRouter([*http_urlpatterns, re_path(r"", django_asgi_app)]),  # type: ignore[arg-type]
    "websocket": URLRouter([*websocket_urlpatterns,
                            re_path(r"", refuse_websocket)]),  # type: ignore[arg-type]
})
