"""The ``environ`` python-engineio gives a connect handler, made from an engine request.

python-socketio keeps it per client (``sio.get_environ(sid)``) and Flask-SocketIO
runs every handler in ``app.request_context(environ)``, so its shape matters:

- under WSGI it is the server's own environ, the very dict the request came
  with (Flask-SocketIO's middleware has put ``flask.app`` in it);
- elsewhere a WSGI-style dict as python-engineio builds it (``REQUEST_METHOD``,
  ``PATH_INFO``, ``QUERY_STRING``, ``HTTP_*`` headers, ``REMOTE_ADDR``...) with
  the framework's own request under python-engineio's key: ``asgi.scope``,
  ``aiohttp.request``, ``sanic.request`` or ``tornado.handler``. Unlike
  python-engineio, ``REMOTE_ADDR`` and ``REMOTE_PORT`` are the real peer's.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from ..protocol.http import Request

__all__ = ["environ_of"]

_UNPREFIXED = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def environ_of(request: Request) -> dict[str, Any]:
    """The python-engineio environ of ``request`` (see the module docstring)."""
    native = request.native
    if isinstance(native, dict) and "REQUEST_METHOD" in native:
        return native  # a WSGI environ: the real one
    query = _raw_query(native)
    if query is None:
        query = urlencode(dict(request.query))
    host, port = request.client or ("", 0)
    environ: dict[str, Any] = {
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.url_scheme": request.scheme,
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": query,
        "RAW_URI": request.path + ("?" + query if query else ""),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": host,
        "REMOTE_PORT": str(port),
    }
    for name, value in request.headers.items():
        environ[_UNPREFIXED.get(name) or "HTTP_" + name.upper().replace("-", "_")] = value
    key, value = _framework_key(native)
    if key:
        environ[key] = value
        environ["SERVER_SOFTWARE"] = key.partition(".")[0]
    return environ


def _raw_query(native: Any) -> str | None:
    """The query string as the client sent it, when the framework's request has it."""
    if isinstance(native, Mapping):  # an ASGI scope
        raw = native.get("query_string", b"")
        return raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    raw = getattr(native, "query_string", None)  # aiohttp, Sanic
    if isinstance(raw, str):
        return raw
    request = getattr(native, "request", native)  # a Tornado handler, or its request
    raw = getattr(request, "query", None)
    return raw if isinstance(raw, str) else None


def _framework_key(native: Any) -> tuple[str, Any]:
    """python-engineio's environ key for the framework's request object."""
    if isinstance(native, Mapping):
        return "asgi.scope", native
    module = type(native).__module__.partition(".")[0]
    if module == "aiohttp":
        return "aiohttp.request", native
    if module == "sanic":
        return "sanic.request", native
    if module == "tornado" or hasattr(native, "request"):
        return "tornado.handler", native
    return "", None
