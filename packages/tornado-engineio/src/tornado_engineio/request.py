"""Between Tornado and the engine: the request, its body, and the response headers.

Both ways of serving a request (:class:`~tornado_engineio.EngineIOHandler` and
:class:`~tornado_engineio.SessionPollingRouter`) build the engine's request and
keep the body with these, so the engine sees the same thing whichever served it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tornado.httputil import HTTPServerRequest

from engineio_core.base_server import BodyTooLarge
from engineio_core.protocol.http import Request, Response, parse_query, request_headers

__all__ = ["RequestBody", "headers_to_write", "put_headers", "to_engine_request"]


def to_engine_request(request: HTTPServerRequest, native: Any,
                      query: Mapping[str, str] | None = None) -> Request:
    """The :class:`engineio_core.Request` for Tornado's ``request``.

    Args:
        request: Tornado's request.
        native: what the engine's request carries as ``native``.
        query: ``request.query`` already parsed with ``parse_query`` (parsed here if not).
    """
    headers = request_headers(request.headers.get_all())
    address = getattr(getattr(request.connection, "context", None), "address", None)
    port = address[1] if isinstance(address, tuple) and len(address) >= 2 else 0
    remote_ip: str | None = request.remote_ip
    return Request(
        method=request.method or "GET",
        query=parse_query(request.query) if query is None else query,
        headers=headers,
        client=(remote_ip, port) if remote_ip else None,
        scheme=request.protocol,
        path=request.path,
        native=native,
    )


def headers_to_write(response: Response) -> Iterator[tuple[str, str]]:
    """The engine's response headers as Tornado must send them (no ``Content-Length`` on 204)."""
    no_body = response.status == 204
    for name, value in response.headers:
        if not (no_body and name == "Content-Length"):
            yield name, value


def put_headers(response: Response, set_header: Callable[[str, str], object],
                add_header: Callable[[str, str], object]) -> None:
    """Hand the engine's response headers (:func:`headers_to_write`) to Tornado: a name's
    first value with ``set_header``, a repeated name's next ones with ``add_header``.

    (Tornado's ``HTTPHeaders.add`` looks the name up first, which raises and catches a
    ``KeyError`` for a new one: 3 us of a 4-header response, measured.)
    """
    seen: set[str] = set()
    for name, value in headers_to_write(response):
        key = name.lower()
        if key in seen:
            add_header(name, value)
        else:
            seen.add(key)
            set_header(name, value)


class RequestBody:
    """A request body streamed in: kept up to ``limit`` bytes; past it, only counted.

    So no buffer grows past the limit, whatever the body's size; :meth:`read` is
    the engine's ``read_body`` and raises ``BodyTooLarge`` for such a body.
    """

    __slots__ = ("_chunks", "_limit", "size")

    def __init__(self, limit: int) -> None:
        self._chunks: list[bytes] = []
        self._limit = limit
        self.size = 0

    def add(self, chunk: bytes) -> None:
        """Take the next piece of the body."""
        size = self.size + len(chunk)
        self.size = size
        if size <= self._limit:
            self._chunks.append(chunk)
        elif self._chunks:
            self._chunks = []

    def clear(self) -> None:
        """Drop what was kept (the body will not be read)."""
        self._chunks = []

    async def read(self, limit: int) -> bytes:
        """The whole body; ``BodyTooLarge`` when it is over ``limit`` bytes (or was not kept)."""
        size = self.size
        if size > limit or size > self._limit:
            raise BodyTooLarge
        chunks = self._chunks
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
