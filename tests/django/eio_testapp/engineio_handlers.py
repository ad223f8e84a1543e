"""The test app's handlers, found by django-engineio's autodiscovery.

They mix plain and ``async def`` handlers on purpose: under ASGI ``connect`` and
``disconnect`` run through ``sync_to_async``, under WSGI ``message`` runs through
``async_to_sync``. What they see is recorded in :data:`seen`.

* ``connect``: refuses with ``?refuse=1`` (returns ``False``) and ``?refuse=<text>``
  (raises ``ConnectionRefused(text)``); records the request and the user, and
  with ``?orm`` uses the ORM (``User.objects.count()``);
* ``message``: ``"whoami"`` answers the user name seen at connect, ``"sync:X"``
  answers ``X`` from a plain function through :func:`django_engineio.send`,
  anything else is echoed with :func:`django_engineio.asend`;
* ``disconnect``: records the reason;
* ``connection_error``: appends each refusal to ``seen["refusals"]``.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from django_engineio import ConnectionRefused, DisconnectReason, asend, on, send
from engineio_core import Refusal, Request

seen: dict[str, Any] = {}
"""What the handlers saw, by key (cleared before each test)."""


@on("connect")
def connect(sid: str, request: Request) -> bool:
    refuse = request.query.get("refuse")
    if refuse == "1":
        return False
    if refuse:
        raise ConnectionRefused(refuse)
    native = request.native
    user = native.user if isinstance(native, HttpRequest) else native.get("user")
    seen["native"] = native
    seen[sid] = getattr(user, "username", None)
    if "orm" in request.query:
        seen["users_in_db"] = get_user_model().objects.count()
    return True


@on("message")
async def message(sid: str, data: str | bytes) -> None:
    if data == "whoami":
        await asend(sid, f"user:{seen.get(sid)}")
    elif isinstance(data, str) and data.startswith("sync:"):
        await sync_to_async(send)(sid, data[5:])
    else:
        await asend(sid, data)


@on("disconnect")
def disconnect(sid: str, reason: DisconnectReason) -> None:
    seen[f"disconnect:{sid}"] = reason


@on("connection_error")
def connection_error(refusal: Refusal) -> None:
    seen.setdefault("refusals", []).append(refusal)
