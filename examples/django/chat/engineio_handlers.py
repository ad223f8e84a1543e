"""Engine.IO handlers of the chat app, imported at start-up by django-engineio.

The same module works under ASGI (daphne, uvicorn, hypercorn) and WSGI (gunicorn):
plain functions run in a thread under ASGI (where a project with a database could
use the ORM; this example has none), ``async def`` ones through ``async_to_sync``
under WSGI; ``send`` / ``asend`` reach whichever server runs. The sessions are the
server's to keep: ``views.py`` lists and counts them, and broadcasts to them, with no
list of its own.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from django_engineio import ConnectionRefused, DisconnectReason, asend, on
from engineio_core import Request


@on("connect")
def connect(sid: str, request: Request) -> None:
    """Welcome anyone; ``?token=bad`` is refused (HTTP 403) to show how."""
    if request.query.get("token") == "bad":
        raise ConnectionRefused("bad token")
    native: Any = request.native  # the Channels scope (ASGI) or a Django HttpRequest (WSGI)
    user = native.user if isinstance(native, HttpRequest) else native.get("user")
    print(f"{sid} connected from {request.client} as {user}")


@on("message")
async def message(sid: str, data: str | bytes) -> None:
    """Echo every message to its sender."""
    await asend(sid, data)


@on("disconnect")
def disconnect(sid: str, reason: DisconnectReason) -> None:
    print(f"{sid} left: {reason.value}")
