"""Plain Django views beside Engine.IO: the page, the client script, a broadcast and
the list of sessions (the server keeps the sessions; the views only ask it)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from django_engineio import SessionUnknown, acount_sessions, broadcast, count_sessions, get_server

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
def broadcast_view(request: HttpRequest) -> HttpResponse:
    """``curl -d hi http://127.0.0.1:8000/broadcast``: a sync view sending to every session."""
    broadcast(request.body.decode())
    return HttpResponse(f"sent to {count_sessions()}\n")


async def sessions(request: HttpRequest) -> JsonResponse:
    """``curl http://127.0.0.1:8000/sessions``: an async view listing the sessions (JSON)."""
    server = get_server()  # the AsyncServer under ASGI, the Server under WSGI
    listing = {}
    for sid in server.session_ids():
        with contextlib.suppress(SessionUnknown):  # closed meanwhile (WSGI: other threads)
            listing[sid] = server.transport(sid)
    return JsonResponse({"count": await acount_sessions(), "sessions": listing})
