"""Neutral HTTP objects and the pure helpers around them: CORS, cookie, compression.

Runtimes turn their framework's request into a :class:`Request` and write a
:class:`Response` back; nothing here knows about ASGI, WSGI or sockets.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from .config import CookieOptions, ServerConfig
from .errors import ProtocolError

__all__ = [
    "ContentEncoding",
    "Headers",
    "Request",
    "Response",
    "cors_headers",
    "error_response",
    "host_allowed",
    "host_name",
    "origin_allowed",
    "parse_query",
    "request_headers",
]

Headers = list[tuple[str, str]]

ContentEncoding = Literal["gzip", "deflate"]
"""The ``Content-Encoding`` values polling responses may be compressed with."""

TEXT_PLAIN = "text/plain; charset=UTF-8"
OCTET_STREAM = "application/octet-stream"


@dataclass(slots=True)
class Request:
    """An HTTP request as the engine sees it.

    Attributes:
        method: upper-case method.
        query: query parameters, first value of each.
        headers: header names in lower case; repeated headers joined with ``", "``.
        body: the complete body (filled by the runtime before the engine reads it).
        client: the peer's ``(host, port)``, when known.
        scheme: ``http`` or ``https`` (``ws``/``wss`` are reported as ``http``/``https``).
        path: the request path.
        native: the runtime's own request object (ASGI scope, WSGI environ, ...).
    """

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""
    client: tuple[str, int] | None = None
    scheme: str = "http"
    path: str = "/"
    native: Any = None


@dataclass(slots=True)
class Response:
    """An HTTP response for the runtime to write."""

    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""


def parse_query(query_string: str | bytes) -> dict[str, str]:
    """Parse a query string, keeping the first value of each parameter."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    out: dict[str, str] = {}
    if "%" in query_string or "+" in query_string:
        for key, value in parse_qsl(query_string, keep_blank_values=True):
            out.setdefault(key, value)
        return out
    # Nothing to unquote (the usual ``EIO=4&transport=polling&sid=...``): split only,
    # with parse_qsl's rules (``&`` separates, empty fields are skipped).
    for pair in query_string.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            if key not in out:
                out[key] = value
    return out


def request_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A request's ``(name, value)`` pairs as :attr:`Request.headers`: names in lower
    case, the values of a repeated header joined with ``", "``, in order."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def host_name(host: str) -> str:
    """The host name of a ``Host`` value: lower case, without port or trailing dot.

    ``"Example.COM:8000"`` is ``"example.com"``, ``"[::1]:8000"`` is ``"[::1]"``;
    a value with a non-numeric port is ``""`` (it names no host).
    """
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1:] if end > 0 else "?"
        if rest and not (rest[0] == ":" and rest[1:].isdigit()):
            return ""
        name = host[:end + 1]
    else:
        name, colon, port = host.rpartition(":")
        if not colon:
            name = host
        elif not port.isdigit():
            return ""
    return name.lower().rstrip(".")


def host_allowed(config: ServerConfig, request: Request) -> bool:
    """Whether the request's ``Host`` is one this server answers to (``allowed_hosts``)."""
    allowed = config.allowed_hosts
    if allowed is None:
        return True
    if callable(allowed):
        return bool(allowed(request))
    name = host_name(request.headers.get("host", ""))
    if not name:
        return False
    for entry in allowed:
        if entry == name or entry == "*" or (
                entry[0] == "." and (name.endswith(entry) or name == entry[1:])):
            return True
    return False


def origin_allowed(config: ServerConfig, request: Request) -> bool:
    """Whether the request's ``Origin`` (if any) may talk to this server."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    allowed = config.cors_allowed_origins
    if allowed is None:
        host = request.headers.get("host", "")
        return origin in (f"{request.scheme}://{host}", f"{_ws_scheme(request.scheme)}://{host}")
    if isinstance(allowed, str):
        return allowed == "*" or origin == allowed
    if callable(allowed):
        return bool(allowed(origin))
    return origin in allowed


def _ws_scheme(scheme: str) -> str:
    return "https" if scheme == "http" else "http"


def cors_headers(config: ServerConfig, request: Request) -> Headers:
    """CORS headers for a response to ``request`` (empty when no Origin or not allowed)."""
    origin = request.headers.get("origin")
    if origin is None or not origin_allowed(config, request):
        return []
    if config.cors_allowed_origins == "*" and not config.cors_credentials:
        return [("Access-Control-Allow-Origin", "*")]
    headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    if config.cors_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return headers


def preflight_response(config: ServerConfig, request: Request) -> Response:
    """Answer a CORS preflight ``OPTIONS``."""
    headers = cors_headers(config, request)
    if headers:
        headers.append(("Access-Control-Allow-Methods", "OPTIONS, GET, POST"))
        wanted = request.headers.get("access-control-request-headers")
        if wanted:
            headers.append(("Access-Control-Allow-Headers", wanted))
    headers.append(("Content-Length", "0"))
    return Response(204, headers)


def error_response(config: ServerConfig, request: Request, error: ProtocolError) -> Response:
    """The ``{"code", "message"}`` JSON response for a protocol error, with CORS headers."""
    fields = {"code": error.code, "message": error.message}
    body = json.dumps(fields, separators=(",", ":")).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
        ("Content-Length", str(len(body))),
        *cors_headers(config, request),
    ]
    return Response(error.status, headers, body)


def cookie_header(cookie: CookieOptions, sid: str) -> tuple[str, str]:
    """The ``Set-Cookie`` header carrying the sid."""
    parts = [f"{cookie.name}={sid}"]
    if cookie.path:
        parts.append(f"Path={cookie.path}")
    if cookie.domain:
        parts.append(f"Domain={cookie.domain}")
    if cookie.max_age is not None:
        parts.append(f"Max-Age={cookie.max_age}")
    if cookie.http_only:
        parts.append("HttpOnly")
    if cookie.secure:
        parts.append("Secure")
    if cookie.same_site:
        parts.append(f"SameSite={cookie.same_site}")
    return ("Set-Cookie", "; ".join(parts))


def compress(
    config: ServerConfig, request: Request, body: bytes
) -> tuple[bytes, ContentEncoding | None]:
    """Compress a polling body when allowed and worth it.

    Returns:
        The body to send and the ``Content-Encoding`` to declare (``None`` for identity).
    """
    if not config.http_compression or len(body) < config.compression_threshold:
        return body, None
    accepted = request.headers.get("accept-encoding", "")
    if not accepted:
        return body, None
    encodings = {e.split(";", 1)[0].strip().lower() for e in accepted.split(",")}
    if "gzip" in encodings:
        return gzip.compress(body, compresslevel=6, mtime=0), "gzip"
    if "deflate" in encodings:
        return zlib.compress(body, 6), "deflate"
    return body, None


def polling_response(
    config: ServerConfig,
    request: Request,
    body: bytes,
    content_type: str,
    extra: Headers | None = None,
) -> Response:
    """A 200 polling response with caching, CORS and compression handled."""
    body, encoding = compress(config, request, body)
    headers: Headers = [
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
        ("Content-Length", str(len(body))),
    ]
    if encoding:
        headers.append(("Content-Encoding", encoding))
    headers.extend(cors_headers(config, request))
    if extra:
        headers.extend(extra)
    return Response(200, headers, body)


def ok_response(config: ServerConfig, request: Request) -> Response:
    """The ``200 ok`` answer to a polling POST."""
    headers: Headers = [
        ("Content-Type", "text/html; charset=UTF-8"),
        ("Cache-Control", "no-store"),
        ("Content-Length", "2"),
        *cors_headers(config, request),
    ]
    return Response(200, headers, b"ok")
