"""``EngineIOTestClient``: an in-memory Engine.IO client for testing Flask apps.

It talks to the app's own :class:`engineio_core.Server` without a network: polling
requests go straight to :meth:`~engineio_core.Server.handle_http`, and a WebSocket
is an in-memory :class:`~engineio_core.SyncWebSocket` handed to
:meth:`~engineio_core.Server.handle_websocket`. Each request carries a WSGI
environ built by Werkzeug (``request.native``), so connect handlers see the
headers and query through ``flask.request`` as they would in production.
The protocol (Engine.IO v4 requests, payloads, frames, pongs) is
:class:`engineio_core.testing.ClientModel`; this module only delivers it.

Example (pytest)::

    def test_echo():
        with eio.test_client(app) as client:        # or transport="websocket"
            client.send("hello")
            assert client.receive(timeout=1) == "hello"
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from werkzeug.datastructures import EnvironHeaders
from werkzeug.test import EnvironBuilder

from engineio_core import BodyTooLarge, ConnectionRefused, Request, Response
from engineio_core.protocol.packets import Packet, PacketType
from engineio_core.testing import ClientModel, Received, ResponseError

from .extension import get_state

if TYPE_CHECKING:
    from types import TracebackType

    from flask import Flask

    from engineio_core.backends import SyncBackend

__all__ = ["EngineIOTestClient"]

Transport = Literal["polling", "websocket"]

_WEBSOCKET_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade",
                      "Sec-WebSocket-Version": "13",
                      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


class EngineIOTestClient:
    """An Engine.IO v4 client driving a Flask app's server in memory.

    Args:
        app: a Flask app initialised with :class:`~flask_engineio.FlaskEngineIO`.
        transport: ``"polling"`` (long-polling, a background poller answers
            pings) or ``"websocket"`` (an in-memory WebSocket). No upgrade between them.
        query: extra query parameters of the handshake request.
        headers: headers of every request (the handshake's reach ``flask.request``).
        connect: connect at once (default); else call :meth:`connect`.
        timeout: seconds to wait for the handshake and for threads at disconnect.

    Raises:
        ConnectionRefused: the server refused the connection (see :meth:`connect`).
    """

    def __init__(self, app: Flask, *, transport: Transport = "polling",
                 query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                 connect: bool = True, timeout: float = 5.0) -> None:
        if transport not in ("polling", "websocket"):
            raise ValueError(f"transport must be 'polling' or 'websocket', got {transport!r}")
        state = get_state(app)
        self.app = app
        self.server = state.server
        self.path = state.path
        self.transport: Transport = transport
        self.query = dict(query or {})
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.model = ClientModel(4, headers=self.headers, query=self.query, path=self.path)
        """The protocol state (:class:`engineio_core.testing.ClientModel`)."""
        backend: SyncBackend = self.server.backend
        self._backend = backend
        self._received = _Inbox(backend)
        self._closed = backend.event()
        self._task: Any = None
        self._ws: _MemoryWebSocket | None = None
        if connect:
            self.connect()

    # ------------------------------------------------------------------ public API
    @property
    def sid(self) -> str | None:
        """The session id, once connected."""
        return self.model.sid

    @property
    def handshake(self) -> dict[str, Any] | None:
        """The server's open packet (``sid``, ``pingInterval``, ``maxPayload``...)."""
        return self.model.open_data if self.model.sid is not None else None

    @property
    def connected(self) -> bool:
        """Whether the session is open (connected and not closed by either side)."""
        return self.sid is not None and not self._closed.is_set()

    def connect(self) -> None:
        """Open the session (the server runs the app's connect handler).

        Raises:
            ConnectionRefused: the connect handler refused (its message, if any, is
                the exception's ``message``), or another handshake error (403/400).
            RuntimeError: already connected.
            TimeoutError: no answer within ``timeout``.
        """
        if self.sid is not None:
            raise RuntimeError("this test client is already connected")
        try:
            if self.transport == "polling":
                self._connect_polling()
            else:
                self._connect_websocket()
        except ResponseError as exc:
            raise ConnectionRefused(exc.message if exc.status == 403 else str(exc)) from None

    def send(self, data: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message to the server.

        Raises:
            ConnectionError: the session is not open.
        """
        if not self.connected:
            raise ConnectionError("the test client is not connected")
        if self._ws is not None:
            self._ws.inbound.put(self.model.encode_frame(data))
        elif self._post([data]).status != 200:
            self._set_closed()
            raise ConnectionError("the server refused the message: the session is closed")

    def receive(self, timeout: float = 1.0) -> str | bytes:
        """The next message the server sent (waits up to ``timeout`` seconds).

        Raises:
            TimeoutError: nothing arrived in time.
            ConnectionError: the session closed and every message was received.
        """
        item = self._received.get(timeout)
        if item is None:
            raise ConnectionError("the session is closed and no message is left")
        return item

    def get_received(self) -> list[str | bytes]:
        """Every message received so far and not yet returned, without waiting."""
        return self._received.drain()

    def wait_closed(self, timeout: float = 1.0) -> bool:
        """Wait until the session is closed (e.g. by the server); ``True`` if it is."""
        return self._closed.wait(timeout)

    def disconnect(self) -> None:
        """Close the session (the server runs the app's disconnect handler)."""
        if self.connected:
            close = Packet(PacketType.CLOSE)
            if self._ws is not None:
                self._ws.inbound.put(self.model.encode_frame(close))
            else:
                self._post([close])
        self._set_closed()
        if self._ws is not None:
            self._ws.inbound.close()
        if self._task is not None:
            self._task.join(self.timeout)
            self._task = None

    def __enter__(self) -> EngineIOTestClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.disconnect()

    # ------------------------------------------------------------------ polling
    def _connect_polling(self) -> None:
        response = self.server.handle_http(self._native(self.model.handshake_request()),
                                           _no_body)
        self._take(self.model.open(response))
        self._task = self.server.start_background_task(self._poll_loop)

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            response = self.server.handle_http(self._native(self.model.poll_request()),
                                               _no_body)
            if response.status != 200:
                break
            self._take(self.model.receive(self.model.decode_poll(response)))
        self._set_closed()

    def _post(self, packets: list[Packet | str | bytes]) -> Response:
        request = self.model.post_request(packets)
        body = request.body

        def read_body(limit: int) -> bytes:
            if len(body) > limit:
                raise BodyTooLarge
            return body

        return self.server.handle_http(self._native(request), read_body)

    # ------------------------------------------------------------------ websocket
    def _connect_websocket(self) -> None:
        ws = self._ws = _MemoryWebSocket(self)
        request = self._native(self.model.handshake_request("websocket"), websocket=True)
        self._task = self.server.start_background_task(self.server.handle_websocket, request, ws)
        if not ws.opened.wait(self.timeout):
            raise TimeoutError("no answer to the WebSocket handshake")
        if ws.refusal is not None:
            self._ws = None
            raise ResponseError(ws.refusal)
        if not ws.open_packet.wait(self.timeout) or self.sid is None:
            raise TimeoutError("no open packet on the WebSocket")

    def _on_frame(self, frame: str | bytes) -> None:
        """A frame the server sent on the in-memory WebSocket (a server thread)."""
        ws = self._ws
        assert ws is not None
        received = self.model.receive([self.model.decode_frame(frame)])
        self._take(received)
        if received.opened:
            ws.open_packet.set()

    # ------------------------------------------------------------------ shared
    def _take(self, received: Received) -> None:
        """Act on what the model made of the server's packets."""
        if received.replies:
            if self._ws is not None:
                for reply in received.replies:
                    self._ws.inbound.put(self.model.encode_frame(reply))
            else:
                self._post(list(received.replies))
        for message in received.messages:
            self._received.put(message)
        if received.closed:
            self._set_closed()

    def _set_closed(self) -> None:
        self._closed.set()
        self._received.close()

    def _native(self, request: Request, *, websocket: bool = False) -> Request:
        """``request`` as the WSGI runtime would make it: from a Werkzeug environ."""
        headers = dict(request.headers)
        if websocket:
            headers.update(_WEBSOCKET_HEADERS)
        builder = EnvironBuilder(path=request.path, method=request.method,
                                 query_string=dict(request.query),
                                 headers=list(headers.items()), data=request.body or None)
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        return Request(
            method=request.method,
            query=request.query,
            headers={k.lower(): v for k, v in EnvironHeaders(environ).items()},
            client=(environ.get("REMOTE_ADDR", "127.0.0.1"), 0),
            path=request.path,
            native=environ,
        )


class _Inbox:
    """A queue of messages one thread (or green thread) waits on; closable."""

    def __init__(self, backend: SyncBackend) -> None:
        self._backend = backend
        self._items: deque[str | bytes] = deque()
        self._lock = backend.lock()
        self._ready = backend.event()
        self._closed = False

    def put(self, item: str | bytes) -> None:
        with self._lock:
            self._items.append(item)
            self._ready.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._ready.set()

    def get(self, timeout: float | None) -> str | bytes | None:
        """The next item; ``None`` once closed and empty; ``TimeoutError`` after ``timeout``."""
        deadline = None if timeout is None else self._backend.monotonic() + timeout
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                if self._closed:
                    return None
                self._ready.clear()
            remaining = None if deadline is None else deadline - self._backend.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("no message from the server in time")
            self._ready.wait(remaining)

    def drain(self) -> list[str | bytes]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items


class _MemoryWebSocket:
    """:class:`engineio_core.SyncWebSocket` in memory: the server's side of the test client."""

    def __init__(self, client: EngineIOTestClient) -> None:
        backend = client.server.backend
        self._client = client
        self.inbound = _Inbox(backend)  # frames from the client to the server
        self.opened = backend.event()  # accepted or refused
        self.open_packet = backend.event()
        self.refusal: Response | None = None
        self.close_code: int | None = None

    def accept(self) -> None:
        self.opened.set()

    def refuse(self, response: Response) -> None:
        self.refusal = response
        self.opened.set()

    def receive(self) -> str | bytes | None:
        return self.inbound.get(None)

    def send(self, data: str | bytes) -> None:
        if self.close_code is not None:
            raise ConnectionError("the WebSocket is closed")
        self._client._on_frame(data)

    def close(self, code: int) -> None:
        self.close_code = code
        self.inbound.close()
        self._client._set_closed()

    def abort(self) -> None:
        """The connection dropped (no close frame): seen as close code 1006."""
        self.close(1006)


def _no_body(limit: int) -> bytes:
    return b""
