"""Plain Django views beside Engine.IO: the page, the client script, a broadcast."""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from django_engineio import SessionUnknown, send

from .engineio_handlers import clients

EXAMPLES = Path(__file__).resolve().parents[2]
PAGE = EXAMPLES / "echo.html"
CLIENT_JS = EXAMPLES / "demo/node_modules/engine.io-client/dist/engine.io.min.js"


def index(request: HttpRequest) -> HttpResponse:
    """The shared example page (engine.io-client, echo)."""
    return HttpResponse(PAGE.read_bytes(), content_type="text/html; charset=utf-8")


def client_js(request: HttpRequest) -> HttpResponse:
    """engine.io-client from the demo's node_modules."""
    if not CLIENT_JS.is_file():
        return HttpResponse(b"run `npm ci --prefix examples/demo` first", status=404)
    return FileResponse(CLIENT_JS.open("rb"), content_type="application/javascript")


@csrf_exempt
@require_POST
def broadcast(request: HttpRequest) -> HttpResponse:
    """``curl -d hi http://127.0.0.1:8000/broadcast``: a sync view sending to every client."""
    text = request.body.decode()
    for sid in list(clients):
        with contextlib.suppress(SessionUnknown):
            send(sid, text)
    return HttpResponse(f"sent to {len(clients)}\n")
