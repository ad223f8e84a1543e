"""``EngineIOTestClient``: an in-memory Engine.IO client for testing Flask apps.

It talks to the app's own :class:`engineio_core.Server` without a network: polling
requests go straight to :meth:`~engineio_core.Server.handle_http`, and a WebSocket
is an in-memory :class:`~engineio_core.SyncWebSocket` handed to
:meth:`~engineio_core.Server.handle_websocket`. Each request carries a WSGI
environ built by Werkzeug (``request.native``), so connect handlers see the
headers and query through ``flask.request`` as they would in production.
Packets are encoded and decoded with engineio-core's own codecs (Engine.IO v4).

Example (pytest)::

    def test_echo():
        with eio.test_client(app) as client:        # or transport="websocket"
            client.send("hello")
            assert client.receive(timeout=1) == "hello"
"""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from werkzeug.datastructures import EnvironHeaders
from werkzeug.test import EnvironBuilder

from engineio_core import BodyTooLarge, ConnectionRefused, Request, Response
from engineio_core.protocol.packets import Packet, PacketType, decode_ws, encode_ws
from engineio_core.protocol.payload_v4 import decode_payload, encode_payload

from .extension import get_state

if TYPE_CHECKING:
    from types import TracebackType

    from flask import Flask

    from engineio_core.backends import SyncBackend

__all__ = ["EngineIOTestClient"]

Transport = Literal["polling", "websocket"]

_VERSION = 4


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
        self.headers = {k: v for k, v in (headers or {}).items()
                        if k.lower() != "accept-encoding"}  # keep polling bodies plain
        self.timeout = timeout
        self.sid: str | None = None
        """The session id, once connected."""
        self.handshake: dict[str, Any] | None = None
        """The server's open packet (``sid``, ``pingInterval``, ``maxPayload``...)."""
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
        if self.transport == "polling":
            self._connect_polling()
        else:
            self._connect_websocket()

    def send(self, data: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message to the server.

        Raises:
            ConnectionError: the session is not open.
        """
        if not self.connected:
            raise ConnectionError("the test client is not connected")
        packet = Packet(PacketType.MESSAGE, data)
        if self._ws is not None:
            self._ws.inbound.put(encode_ws(packet, _VERSION))
        elif self._post([packet]).status != 200:
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
                self._ws.inbound.put(encode_ws(close, _VERSION))
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
        response = self.server.handle_http(self._request("GET", self.query), _no_body)
        packets = _packets(response)
        self._opened(packets[0])
        self._task = self.server.start_background_task(self._poll_loop)

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            response = self.server.handle_http(self._request("GET", self._sid_query()), _no_body)
            if response.status != 200:
                break
            for packet in decode_payload(response.body):
                if packet.type is PacketType.PING:
                    self._post([Packet(PacketType.PONG)])
                elif packet.type is PacketType.MESSAGE:
                    self._received.put(packet.data)
                elif packet.type is PacketType.CLOSE:
                    self._set_closed()
        self._set_closed()

    def _post(self, packets: list[Packet]) -> Response:
        body = encode_payload(packets).encode()
        request = self._request("POST", self._sid_query(), body)

        def read_body(limit: int) -> bytes:
            if len(body) > limit:
                raise BodyTooLarge
            return body

        return self.server.handle_http(request, read_body)

    def _sid_query(self) -> dict[str, str]:
        assert self.sid is not None
        return {**self.query, "sid": self.sid}

    # ------------------------------------------------------------------ websocket
    def _connect_websocket(self) -> None:
        ws = self._ws = _MemoryWebSocket(self)
        request = self._request("GET", self.query, websocket=True)
        self._task = self.server.start_background_task(self.server.handle_websocket, request, ws)
        if not ws.opened.wait(self.timeout):
            raise TimeoutError("no answer to the WebSocket handshake")
        if ws.refusal is not None:
            self._ws = None
            _packets(ws.refusal)  # raises with the server's message
        if not ws.open_packet.wait(self.timeout) or ws.first is None:
            raise TimeoutError("no open packet on the WebSocket")
        self._opened(ws.first)

    def _on_frame(self, frame: str | bytes) -> None:
        """A frame the server sent on the in-memory WebSocket (a server thread)."""
        ws = self._ws
        assert ws is not None
        packet = decode_ws(frame, _VERSION)
        if packet.type is PacketType.OPEN:
            ws.first = packet
            ws.open_packet.set()
        elif packet.type is PacketType.PING:
            ws.inbound.put(encode_ws(Packet(PacketType.PONG), _VERSION))
        elif packet.type is PacketType.MESSAGE:
            self._received.put(packet.data)
        elif packet.type is PacketType.CLOSE:
            self._set_closed()

    # ------------------------------------------------------------------ shared
    def _opened(self, packet: Packet) -> None:
        if packet.type is not PacketType.OPEN or not isinstance(packet.data, str):
            raise RuntimeError(f"expected an open packet, got {packet!r}")
        self.handshake = json.loads(packet.data)
        assert self.handshake is not None
        self.sid = str(self.handshake["sid"])

    def _set_closed(self) -> None:
        self._closed.set()
        self._received.close()

    def _request(self, method: str, query: dict[str, str], body: bytes = b"", *,
                 websocket: bool = False) -> Request:
        params = {**query, "EIO": str(_VERSION), "transport": self.transport}
        headers = dict(self.headers)
        if websocket:
            headers.update({"Upgrade": "websocket", "Connection": "Upgrade",
                            "Sec-WebSocket-Version": "13",
                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        builder = EnvironBuilder(path=self.path, method=method, query_string=params,
                                 headers=list(headers.items()), data=body or None,
                                 content_type="text/plain;charset=UTF-8" if body else None)
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        return Request(
            method=method,
            query=params,
            headers={k.lower(): v for k, v in EnvironHeaders(environ).items()},
            client=(environ.get("REMOTE_ADDR", "127.0.0.1"), 0),
            path=self.path,
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
        self.first: Packet | None = None
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


def _no_body(limit: int) -> bytes:
    return b""


def _packets(response: Response) -> list[Packet]:
    """The packets of a polling response; raises for a refusal or an error status."""
    if response.status == 200:
        return decode_payload(response.body)
    try:
        message = json.loads(response.body).get("message")
    except ValueError:
        message = response.body.decode(errors="replace")
    if response.status == 403:
        raise ConnectionRefused(message)
    raise ConnectionRefused(f"HTTP {response.status}: {message}")
