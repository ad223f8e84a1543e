"""``WSGIApp``: serves a :class:`~engineio_core.server.Server` under any WSGI server.

Engine.IO requests (the configured path, with or without its trailing slash,
below the environ's ``SCRIPT_NAME``) go to the server; static files are served
from a mapping; anything else goes to ``wsgi_app`` (or gets a 404).

WebSocket needs the connection, which each server exposes its own way:

* Werkzeug (``werkzeug.socket``) and gunicorn's gthread and gevent workers
  (``gunicorn.socket``): the raw socket;
* ``eventlet.wsgi``: ``environ["eventlet.input"].get_socket()``; the response is
  then marked as already handled so that eventlet writes nothing after it;
* ``gevent.pywsgi``: the socket under the request's buffered reader;
* gevent-websocket's ``WebSocketHandler``: its ``environ["wsgi.websocket"]``;
* uWSGI: ``uwsgi.websocket_handshake``, then the request's connection.

On the raw sockets the framing is done by :class:`~engineio_core.websocket_sync.WebSocket`
(wsproto). Under any other server the upgrade is answered 400, and clients stay
on polling. gunicorn's ``sync`` worker serves one request at a time, which
long-polling cannot live with: it is refused with a 500 and an error log.
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import functools
import io
import socket
import sys
import weakref
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from .base_server import BodyTooLarge
from .protocol.errors import BadRequest
from .protocol.http import Request, Response, error_response
from .server import Server
from .static import StaticFiles, static_file
from .websocket_sync import WebSocket, valid_key
from .wsgi_environ import to_engine_request

__all__ = ["WSGIApp"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGICallable = Callable[[Environ, StartResponse], Iterable[bytes]]

_CHUNK = 65536


class _BodyUnreadable(Exception):
    """The WSGI server's input failed while the body was read (a malformed chunked body)."""


class WSGIApp:
    """A WSGI application serving a :class:`~engineio_core.server.Server`.

    Args:
        server: the Engine.IO server.
        wsgi_app: a WSGI app for every request that is not Engine.IO traffic.
        static_files: URL path → file path, or → ``{"filename": ..., "content_type": ...}``.
            A path ending in ``/`` maps to a directory.
        engineio_path: where Engine.IO is served; matched with and without the trailing slash.
    """

    websocket_unavailable_hint = ""
    """Appended to the warning logged when the WSGI server gives no access to the
    connection's socket (django-engineio's middleware says there to add daphne)."""

    def __init__(
        self,
        server: Server,
        wsgi_app: WSGICallable | None = None,
        static_files: StaticFiles | None = None,
        engineio_path: str = "engine.io",
    ) -> None:
        from .hosting import hosted_server
        from .server import Server

        self.server = hosted_server(server, Server, "WSGIApp")
        self.wsgi_app = wsgi_app
        self.static_files = dict(static_files or {})
        path = "/" + engineio_path.strip("/")
        self._paths = (path, path + "/")
        self._sync_worker_logged = False

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path in self._paths:
            return self.serve(environ, start_response)
        static = self._static(path) if environ.get("REQUEST_METHOD") in ("GET", "HEAD") else None
        if static is not None:
            return _respond(start_response, static)
        if self.wsgi_app is not None:
            return self.wsgi_app(environ, start_response)
        return _respond(start_response, Response(404, [("Content-Type", "text/plain")],
                                                 b"Not Found"))

    def serve(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Serve ``environ`` as an Engine.IO request, whatever its path (``__call__``
        does for the Engine.IO path; an app that routes by itself can call this)."""
        request = to_engine_request(environ)
        if _single_request_worker(environ):
            return _respond(start_response, self._refuse_sync_worker())
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket" or (
                environ.get("wsgi.websocket") is not None):
            response = self._websocket(environ, request)
            if response is None:
                return []  # the WebSocket was served; nothing more to write
        else:
            _no_delay_once(environ)
            try:
                response = self.server.handle_http(request, _body_reader(environ),
                                                   _disconnect_check(environ))
            except _BodyUnreadable:
                # The engine dropped the POST; what is left on the connection is garbage.
                response = error_response(self.server.config, request,
                                          BadRequest(detail="malformed request body"))
                response.headers.append(("Connection", "close"))
        return _respond(start_response, response)

    def _websocket(self, environ: Environ, request: Request) -> Response | None:
        """Serve a WebSocket request; returns a response when it was refused (and under
        Werkzeug, an answer nobody will read: see the end)."""
        server = self.server
        config = server.config
        upgraded = environ.get("wsgi.websocket")
        if upgraded is not None:  # gevent-websocket did the handshake already
            from .backends.gevent import GeventWebSocket

            gevent_ws = GeventWebSocket(upgraded)
            _no_delay(gevent_ws.socket)
            server.handle_websocket(request, gevent_ws)
            return None
        key = request.headers.get("sec-websocket-key")
        if request.method != "GET" or not valid_key(key) or (
                request.headers.get("sec-websocket-version") != "13"):
            return server._refuse(request, BadRequest(
                detail="invalid WebSocket upgrade", context={"name": "BAD_WEBSOCKET_UPGRADE"}))
        assert key is not None
        if "uwsgi.version" in environ:
            from .backends.gevent_uwsgi import UwsgiWebSocket

            uws = UwsgiWebSocket(environ, key, max_message_size=config.max_http_buffer_size,
                                 lock=server.backend.lock)
            server.handle_websocket(request, uws)
            return uws.finish()
        found = _raw_socket(environ)
        if found is None:
            server.logger.warning(
                "this WSGI server (%s) gives no access to the connection's socket, so it "
                "cannot serve WebSocket; clients stay on polling%s",
                environ.get("SERVER_SOFTWARE", "unknown"), self.websocket_unavailable_hint,
            )
            return server._refuse(request, BadRequest(
                detail="WebSocket unavailable", context={"name": "WEBSOCKET_UNAVAILABLE"}))
        sock, read = found
        _no_delay(sock)
        ws = _WSGIWebSocket(sock, key, max_message_size=config.max_http_buffer_size, read=read,
                            lock=server.backend.lock)
        server.handle_websocket(request, ws)
        if ws.refused is not None:
            return ws.refused
        ws.close(1000)
        eventlet_wsgi = sys.modules.get("eventlet.wsgi")
        if "eventlet.input" in environ and eventlet_wsgi is not None:
            # eventlet's convention: write nothing more and close the connection.
            eventlet_wsgi.WSGI_LOCAL.already_handled = True
            return None
        if "werkzeug.socket" in environ:
            # Werkzeug reads the next request of a connection once the app returns (what
            # the client sent after the close frame would be logged as a bad request),
            # and its debugger turns an exception from the app into a 500: end the
            # connection both ways, then let Werkzeug's own write of the (unused) answer
            # find it closed, which it takes as a dropped connection, silently.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            return Response(101, [])  # the access log says what happened
        # The connection is spent: make the WSGI server drop it quietly (gunicorn and
        # gevent ignore ECONNRESET).
        raise ConnectionResetError(errno.ECONNRESET, "WebSocket closed")

    def _refuse_sync_worker(self) -> Response:
        if not self._sync_worker_logged:
            self._sync_worker_logged = True
            self.server.logger.error(_SYNC_WORKER_ERROR)
        body = _SYNC_WORKER_ERROR.encode()
        return Response(500, [("Content-Type", "text/plain; charset=UTF-8"),
                              ("Content-Length", str(len(body)))], body)

    def _static(self, path: str) -> Response | None:
        found = static_file(self.static_files, path)
        if found is None:
            return None
        filename, content_type = found
        with open(filename, "rb") as f:
            body = f.read()
        return Response(200, [("Content-Type", content_type),
                              ("Content-Length", str(len(body)))], body)


class _WSGIWebSocket(WebSocket):
    """:class:`~engineio_core.server.SyncWebSocket` on the socket of a WSGI request."""

    refused: Response | None = None

    def refuse(self, response: Response) -> None:
        self.refused = response


_SYNC_WORKER_ERROR = (
    "gunicorn's sync worker serves one request at a time, but Engine.IO long-polling "
    "holds a GET while the client POSTs: run gunicorn with -k gthread --threads N "
    "(async_mode='threading'), -k gevent or "
    "-k geventwebsocket.gunicorn.workers.GeventWebSocketWorker (async_mode='gevent'), or "
    "-k engineio_core.backends.gunicorn_eventlet.EventletWorker (async_mode='eventlet'); "
    "see docs/deployment.md"
)


def _single_request_worker(environ: Environ) -> bool:
    """Whether a gunicorn ``sync`` worker serves this request (it says it is not multithreaded)."""
    return "gunicorn.socket" in environ and not environ.get("wsgi.multithread")


def _no_delay(sock: Any) -> None:
    """Turn Nagle's algorithm off on a connection (``None``, or not TCP: nothing to do).

    asyncio servers and gunicorn set ``TCP_NODELAY`` themselves; eventlet.wsgi,
    gevent.pywsgi and Werkzeug do not. There, small WebSocket frames written
    back to back, and gevent's headers-then-body polling responses, would wait
    for the client's delayed ACK (~40 ms each).
    """
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


#: The connections (their buffered readers) whose socket has had ``TCP_NODELAY`` set.
_nodelay_readers: weakref.WeakSet[Any] = weakref.WeakSet()


def _no_delay_once(environ: Environ) -> None:
    """:func:`_no_delay` for a polling request under gevent.pywsgi or eventlet.wsgi, once
    per connection: a keep-alive connection carries a client's every POST and GET, and
    the system call on each cost ~3 us of ~140 us per request (eventlet polling echo)."""
    reader = getattr(environ.get("wsgi.input"), "rfile", None)
    if reader is None or reader in _nodelay_readers:
        return
    _no_delay(_reader_socket(reader))
    with contextlib.suppress(TypeError):  # a reader with no weak references: every time
        _nodelay_readers.add(reader)


def _gevent_socket(environ: Environ) -> Any:
    """The connection's socket under gevent.pywsgi's ``Input`` (``None`` elsewhere)."""
    return _reader_socket(getattr(environ.get("wsgi.input"), "rfile", None))


def _reader_socket(reader: Any) -> Any:
    """The socket under a ``socket.makefile()`` buffered reader (``None`` for anything else)."""
    return getattr(getattr(reader, "raw", None), "_sock", None)


def _disconnect_check(environ: Environ) -> Callable[[], bool] | None:
    """For a GET: whether its client closed the connection (asked only once the GET
    has been held a while, so the socket is looked up then, not for every GET)."""
    if environ.get("REQUEST_METHOD") != "GET" or not hasattr(socket, "MSG_DONTWAIT"):
        return None
    return functools.partial(_client_gone, environ)


def _client_gone(environ: Environ) -> bool:
    """Whether the request's client closed its connection; ``False`` where the server
    gives no access to the socket."""
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is not None and hasattr(uwsgi, "connection_fd"):
        return _peer_closed(uwsgi.connection_fd())
    sock = (environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
            or _gevent_socket(environ))
    if sock is None and "eventlet.input" in environ:
        sock = environ["eventlet.input"].get_socket()
    if sock is None:
        return False
    try:
        fd = sock.fileno()
    except (OSError, ValueError):
        return True  # closed
    return _peer_closed(fd)


def _peer_closed(fd: int) -> bool:
    """Whether the peer of the connected socket ``fd`` closed it (a zero-byte peek).

    Through the C socket type: a green socket (eventlet, gevent) would wait for
    data instead of answering at once.
    """
    try:
        probe = _socket.socket(fileno=fd)
    except OSError:
        return True  # closed already
    try:
        return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False  # open, nothing sent
    except OSError:
        return True  # reset
    finally:
        probe.detach()


def _raw_socket(environ: Environ) -> tuple[socket.socket, Callable[[int], bytes] | None] | None:
    """The connection's socket and a reader for bytes already buffered past the headers."""
    stream = environ.get("wsgi.input")
    sock: socket.socket | None = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
    if sock is None and "eventlet.input" in environ:
        eventlet_input = environ["eventlet.input"]
        sock = eventlet_input.get_socket()
        stream = getattr(eventlet_input, "rfile", None)
    if sock is None and isinstance(stream, io.BufferedReader):
        # gevent.pywsgi hands an upgrade request the connection's buffered reader itself.
        sock = _reader_socket(stream)
    if sock is None:
        return None
    # Read through the server's buffered reader when there is one, so that bytes it
    # already buffered past the headers are not lost.
    read = stream.read1 if isinstance(stream, io.BufferedReader) else None
    return sock, read


def _body_reader(environ: Environ) -> Callable[[int], bytes]:
    def read(size: int) -> bytes:
        try:
            chunk: bytes = environ["wsgi.input"].read(size)
        except Exception as exc:  # each server's own error: OSError, ValueError, ...
            raise _BodyUnreadable(str(exc)) from exc
        return chunk

    def read_body(limit: int) -> bytes:
        length = environ.get("CONTENT_LENGTH") or ""
        chunks: list[bytes] = []
        size = 0
        if length.isascii() and length.isdigit():
            remaining = int(length)
            if remaining > limit:
                raise BodyTooLarge
            while remaining > 0:
                chunk = read(min(remaining, _CHUNK))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        elif environ.get("wsgi.input_terminated"):
            # No length (chunked): the server ends the stream at the end of the body.
            while chunk := read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
        # Otherwise there is no body: reading would wait for the next request.
        return b"".join(chunks)

    return read_body


def _respond(start_response: StartResponse, response: Response) -> list[bytes]:
    start_response(_status_line(response.status), list(response.headers))
    return [response.body]


@functools.cache
def _status_line(code: int) -> str:
    status = HTTPStatus(code)
    return f"{status.value} {status.phrase}"
