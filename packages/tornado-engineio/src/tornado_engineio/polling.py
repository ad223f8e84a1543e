"""``SessionPollingRouter``: the long-polling of established sessions, below ``RequestHandler``.

A polling GET or POST that names a session (``sid``) is most of the polling
traffic, and the engine needs nothing of Tornado's ``RequestHandler`` for it.
This router serves such requests with a bare ``HTTPMessageDelegate``: the body
is streamed in, :meth:`AsyncServer.handle_http` starts once it is complete (a
held poll goes on in a task), and the response is written straight to the HTTP
connection.

Everything else (handshakes, CORS preflights, other methods, WebSocket
upgrades) is left to the next rule, :class:`~tornado_engineio.EngineIOHandler`
(``find_handler`` returns ``None`` and Tornado's ``RuleRouter`` goes on).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Coroutine
from http.client import responses
from typing import Any

from tornado import httputil
from tornado.http1connection import HTTP1Connection
from tornado.log import app_log
from tornado.routing import Router

from engineio_core.async_server import AsyncServer
from engineio_core.coroutines import Finished, Started, start
from engineio_core.protocol.http import Response, parse_query

from .request import RequestBody, put_headers, to_engine_request

__all__ = ["SessionPollingRouter"]

_METHODS = ("GET", "POST")

_ERROR_PAGE = (b"<html><title>500: Internal Server Error</title>"
               b"<body>500: Internal Server Error</body></html>")
_INTERNAL_ERROR = Response(500, [("Content-Type", "text/html; charset=UTF-8"),
                                 ("Content-Length", str(len(_ERROR_PAGE)))], _ERROR_PAGE)
"""Tornado's own answer to an uncaught exception (``RequestHandler.write_error``)."""


class SessionPollingRouter(Router):
    """Serves the polling GETs and POSTs of established sessions without a ``RequestHandler``.

    :func:`~tornado_engineio.engineio_routes` puts it in a rule just before the
    :class:`~tornado_engineio.EngineIOHandler` one, on the same path. It takes a
    request only when its method is GET or POST, it has a non-empty ``sid`` query
    parameter and it is not a WebSocket upgrade; for any other request it returns
    ``None`` and the handler's rule serves it. The body is kept up to the server's
    ``max_http_buffer_size``, as the handler does (413 above it).

    ``Application.log_request`` (the access log) and ``RequestHandler`` hooks do
    not run for the requests it serves. The engine's request has ``native`` set
    to Tornado's ``HTTPServerRequest``, not a handler: the engine hands
    ``native`` only to handshake code (``connect`` handlers, ``allow_request``,
    ``sid_generator``, ``handshake_headers``), and a request with a ``sid`` is
    never a handshake.

    Args:
        server: the Engine.IO server.
    """

    def __init__(self, server: AsyncServer) -> None:
        self.server = server
        self._tasks: set[asyncio.Task[None]] = set()

    def find_handler(self, request: httputil.HTTPServerRequest,
                     **kwargs: Any) -> httputil.HTTPMessageDelegate | None:
        """A delegate for a polling request of an established session, else ``None``."""
        query = request.query
        # The cheap tests first: a handshake has no "sid=" at all. A sid spelt
        # otherwise ("%73id=") only misses this path, the handler serves it.
        if request.method not in _METHODS or "sid=" not in query:
            return None
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        connection = request.connection
        if connection is None:
            return None
        # The engine's own parse: a request this router takes is never a handshake
        # (the engine starts one when ``sid`` is missing or empty).
        parsed = parse_query(query)
        if not parsed.get("sid"):
            return None
        return _SessionPollingDelegate(self, request, connection, parsed)

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        tasks = self._tasks  # a reference until it is done: the loop keeps a weak one only
        tasks.add(task)
        task.add_done_callback(tasks.discard)


class _SessionPollingDelegate(httputil.HTTPMessageDelegate):
    """One request of :class:`SessionPollingRouter`, from its body to its response."""

    def __init__(self, router: SessionPollingRouter, request: httputil.HTTPServerRequest,
                 connection: httputil.HTTPConnection, query: dict[str, str]) -> None:
        self._router = router
        self._request = request
        self._connection = connection
        self._query = query
        self._body = RequestBody(router.server.config.max_http_buffer_size)
        self._gone = False
        self._lost: asyncio.Future[None] | None = None  # a held GET waits on it

    def data_received(self, chunk: bytes) -> None:
        self._body.add(chunk)

    def finish(self) -> None:
        """The request is complete: serve it.

        The engine's coroutine starts right here, and most requests (every POST,
        a GET with packets waiting) complete without suspending: their response
        is written before Tornado's read loop looks at the connection again,
        which spares a task and a close listener per request. A poll the engine
        holds goes on in a task.
        """
        request = self._request
        coro = self._router.server.handle_http(
            to_engine_request(request, request, self._query), self._body.read,
            self._disconnected)
        try:
            step = start(coro)
        except Exception:
            self._respond(self._failed())
            return
        if isinstance(step, Finished):
            self._respond(step.value)
            return
        connection = self._connection
        if isinstance(connection, HTTP1Connection):
            # Called if the client goes away before the response (a held GET).
            connection.set_close_callback(self._connection_closed)
        self._router._run(self._resume(step))

    def on_connection_close(self) -> None:
        """The connection closed before the request was complete: nothing to serve."""
        self._body.clear()

    def _connection_closed(self) -> None:
        self._gone = True
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_result(None)

    async def _disconnected(self) -> None:
        """Returns once the client has gone away (only asked of a held GET)."""
        if not self._gone:
            self._lost = asyncio.get_running_loop().create_future()
            await self._lost

    async def _resume(self, started: Started[Response]) -> None:
        try:
            response = await started
        except Exception:
            response = self._failed()
        if self._gone:
            # As EngineIOHandler: the engine has handed this response over, and it
            # is lost with the connection (a later poll gets what comes next).
            return
        self._respond(response)

    def _failed(self) -> Response:
        request = self._request
        app_log.error("Uncaught exception %s %s (%s)", request.method, request.uri,
                      request.remote_ip, exc_info=True)
        return _INTERNAL_ERROR

    def _respond(self, response: Response) -> None:
        try:
            self._write(response)
        except Exception:
            request = self._request
            app_log.error("Cannot write the response to %s %s (%s)", request.method,
                          request.uri, request.remote_ip, exc_info=True)
            connection = self._connection
            if isinstance(connection, HTTP1Connection):
                connection.close()  # never leave the client waiting

    def _write(self, response: Response) -> None:
        status = response.status
        headers = httputil.HTTPHeaders()
        put_headers(response, headers.__setitem__, headers.add)
        headers["Date"] = _http_date(int(time.time()))
        connection = self._connection
        # On a closed connection these write nothing and raise nothing (Tornado
        # returns an already failed future, marked as retrieved).
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", status, responses.get(status, "Unknown")),
            headers, response.body or None)
        connection.finish()


@functools.lru_cache(maxsize=1)
def _http_date(second: int) -> str:
    """The ``Date`` header (as ``RequestHandler`` sends it), made once a second."""
    return httputil.format_timestamp(second)
