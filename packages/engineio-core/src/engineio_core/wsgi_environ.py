"""A WSGI environ seen as an engine :class:`~engineio_core.Request`.

:class:`EnvironHeaders` reads header values from the environ when asked,
instead of copying every ``HTTP_*`` key on each request: the engine looks at
three or four headers per request, and servers such as uWSGI put dozens of
keys in the environ.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, overload

from .protocol.http import Request, parse_query

__all__ = ["EnvironHeaders", "to_engine_request"]

#: headers that CGI/WSGI stores without the ``HTTP_`` prefix
_UNPREFIXED = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
_UNPREFIXED_KEYS = {key: name for name, key in _UNPREFIXED.items()}


def _http_key(name: str) -> str:
    """The environ key of a request header sent with the ``HTTP_`` prefix."""
    return "HTTP_" + name.upper().replace("-", "_")


#: the environ keys of the names the engine and the runtimes ask for, made once
_KEYS = {**{name: _http_key(name) for name in (
    "host", "origin", "accept-encoding", "cookie", "upgrade", "connection", "user-agent",
    "x-forwarded-for", "x-forwarded-proto", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-protocol", "sec-websocket-extensions", "access-control-request-method",
    "access-control-request-headers", "transfer-encoding", "content-encoding",
)}, **_UNPREFIXED}


class EnvironHeaders(Mapping[str, str]):
    """The request headers of a WSGI environ, by lower-case name (``"content-type"``).

    A live view: nothing is copied. Names come back in lower case with ``-``
    (``HTTP_X_FORWARDED_FOR`` is ``"x-forwarded-for"``); an empty
    ``CONTENT_TYPE`` / ``CONTENT_LENGTH`` counts as absent, as servers set them
    to ``""`` when the request has none.
    """

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    @staticmethod
    def _key(name: str) -> str:
        return _KEYS.get(name) or _http_key(name)

    def __getitem__(self, name: str) -> str:
        value: str | None = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    @overload
    def get(self, name: str, /) -> str | None: ...
    @overload
    def get(self, name: str, default: str, /) -> str: ...
    @overload
    def get(self, name: str, default: Any, /) -> Any: ...

    def get(self, name: str, default: Any = None, /) -> Any:
        """The header's value, or ``default`` (one lookup, no exception on a miss)."""
        value = self._environ.get(self._key(name)) if isinstance(name, str) else None
        return value if value and isinstance(value, str) else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        for key, value in list(self._environ.items()):
            if not value or not isinstance(value, str):
                continue
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").lower()
            elif key in _UNPREFIXED_KEYS:
                yield _UNPREFIXED_KEYS[key]

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"EnvironHeaders({dict(self.items())!r})"


def to_engine_request(environ: dict[str, Any]) -> Request:
    """The engine's view of a WSGI request (``native`` is the environ itself)."""
    addr = environ.get("REMOTE_ADDR")
    port = environ.get("REMOTE_PORT")
    client = (addr, int(port)) if addr and port is not None and str(port).isdigit() else None
    path = environ.get("SCRIPT_NAME", "") + (environ.get("PATH_INFO") or "/")
    return Request(
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        query=parse_query(environ.get("QUERY_STRING", "")),
        headers=EnvironHeaders(environ),
        client=client,
        scheme=environ.get("wsgi.url_scheme", "http"),
        path=path.encode("latin-1").decode("utf-8", "replace"),
        native=environ,
    )
