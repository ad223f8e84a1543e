"""A sans-I/O Engine.IO client model (v3 and v4), for tests and as the seed of a client.

:class:`ClientModel` knows what a client puts on the wire and how it reads the
server's answers; it never sends anything. It builds the
:class:`~engineio_core.protocol.http.Request` of each step of a session
(handshake, long-poll GET, POST, upgrade probe), encodes POST bodies and
WebSocket frames, decodes polling responses and frames, and tracks the session
id, the open packet and the heartbeat answers. Whoever holds it delivers the
requests: to an :class:`~engineio_core.protocol.engine.Engine` directly, to a
server's ``handle_http``, or over a socket. Everything is encoded and decoded
with the library's own codecs.

Example, against an engine::

    engine = Engine(ServerConfig.from_options())
    clock = FakeClock()
    client = ClientModel(version=4, headers={"host": "localhost"})
    handshake = engine.handle_request(client.handshake_request(), clock.now)
    client.open(engine.accept(handshake, clock.now))
    client.sid, client.ping_interval            # ('...', 25.0)

The module also holds the small helpers tests need around it: :class:`FakeClock`
and the response helpers :func:`header`, :func:`header_values`,
:func:`body_json` and :func:`decompressed`.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .protocol import payload_v3, payload_v4
from .protocol.errors import EngineIOError, ParseError
from .protocol.http import Request, Response
from .protocol.jsonp import sanitize_jsonp_index
from .protocol.packets import Packet, PacketType, decode_ws, encode_ws
from .protocol.session import TransportName

__all__ = [
    "ClientModel",
    "FakeClock",
    "Received",
    "ResponseError",
    "body_json",
    "decompressed",
    "header",
    "header_values",
    "message_data",
]

TEXT_CONTENT_TYPE = "text/plain;charset=UTF-8"
"""The content type of a text POST body (what browsers send)."""
BINARY_CONTENT_TYPE = "application/octet-stream"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

_PROBE_PING = Packet(PacketType.PING, "probe")
_PROBE_PONG = Packet(PacketType.PONG, "probe")
_JSONP_BODY = re.compile(r"___eio\[([0-9]*)\]\((.*)\);", re.S)


# ---------------------------------------------------------------- responses


def header_values(response: Response, name: str) -> list[str]:
    """Every value of a response header (case-insensitive name), in order."""
    wanted = name.lower()
    return [value for key, value in response.headers if key.lower() == wanted]


def header(response: Response, name: str) -> str | None:
    """The single value of a response header, ``None`` when absent.

    Raises:
        ValueError: the header was sent more than once.
    """
    values = header_values(response, name)
    if len(values) > 1:
        raise ValueError(f"header {name!r} sent {len(values)} times: {values}")
    return values[0] if values else None


def body_json(response: Response) -> Any:
    """The JSON body of a response (an error's ``{"code", "message"}``).

    Raises:
        ValueError: the content type is not ``application/json``, or the body is not JSON.
    """
    content_type = header(response, "content-type")
    if content_type != "application/json":
        raise ValueError(f"not a JSON response: Content-Type {content_type!r}")
    return json.loads(response.body)


def decompressed(response: Response) -> bytes:
    """The response body with its ``Content-Encoding`` (gzip, deflate) undone.

    Raises:
        ValueError: an unknown content encoding.
    """
    encoding = header(response, "content-encoding")
    if encoding is None or encoding == "identity":
        return response.body
    if encoding == "gzip":
        return gzip.decompress(response.body)
    if encoding == "deflate":
        return zlib.decompress(response.body)
    raise ValueError(f"unknown Content-Encoding {encoding!r}")


def message_data(packets: Iterable[Packet]) -> list[str | bytes]:
    """The data of the MESSAGE packets among ``packets``, in order."""
    return [p.data for p in packets if p.type is PacketType.MESSAGE]


class ResponseError(EngineIOError):
    """The server answered with an error status instead of a payload.

    Attributes:
        response: the response.
        status: its HTTP status.
        code: the Engine.IO error code of a ``{"code", "message"}`` body, else ``None``.
        message: the body's ``message``, or the body as text.
    """

    def __init__(self, response: Response) -> None:
        self.response = response
        self.status = response.status
        self.code: int | None = None
        self.message = response.body.decode(errors="replace")
        try:
            fields = json.loads(response.body)
        except ValueError:
            fields = None
        if isinstance(fields, dict):
            code, message = fields.get("code"), fields.get("message")
            self.code = code if isinstance(code, int) else None
            if isinstance(message, str):
                self.message = message
        super().__init__(f"HTTP {self.status}: {self.message}")


# ---------------------------------------------------------------- time


class FakeClock:
    """A clock that moves only when told to (for the engine's ``now`` arguments).

    It starts at 1000, not 0, so that mix-ups of relative and absolute times show.
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new time.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("time never goes backwards")
        self.now += seconds
        return self.now


# ---------------------------------------------------------------- the client


@dataclass(slots=True)
class Received:
    """What packets from the server mean for the client (see :meth:`ClientModel.receive`).

    Attributes:
        messages: the data of the application messages, in order.
        replies: packets to send back now (a v4 client's pongs).
        opened: an open packet arrived (``sid`` and ``open_data`` are set).
        closed: the server closed the session.
    """

    messages: list[str | bytes] = field(default_factory=list)
    replies: list[Packet] = field(default_factory=list)
    opened: bool = False
    closed: bool = False


class ClientModel:
    """The protocol side of one Engine.IO client session, without I/O.

    Args:
        version: the protocol version, 4 or 3 (``EIO``).
        b64: ask for base64 instead of binary (``b64=1``; v3 clients that cannot read binary).
        jsonp: the JSONP callback index (``j``) for JSONP polling, or ``None``.
        headers: headers of every request (lower-case names, as :class:`Request` has them).
        query: extra query parameters of every request (the protocol's own win).
        path: the Engine.IO path.
        address: the client's ``(host, port)`` put in each request.

    Attributes:
        sid: the session id, once an open packet was received (may be set by hand).
        open_data: the open packet's fields (``sid``, ``upgrades``, ``pingInterval``...).
        closed: the server closed the session (a close packet was received).
    """

    def __init__(
        self,
        version: int = 4,
        *,
        b64: bool = False,
        jsonp: str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        path: str = "/engine.io/",
        address: tuple[str, int] | None = None,
    ) -> None:
        if version not in (3, 4):
            raise ValueError(f"Engine.IO version must be 3 or 4, got {version!r}")
        self.version = version
        self.b64 = b64
        self.jsonp = jsonp
        self.headers: dict[str, str] = dict(headers or {})
        self.query: dict[str, str] = dict(query or {})
        self.path = path
        self.address = address
        self.sid: str | None = None
        self.open_data: dict[str, Any] = {}
        self.closed = False

    # ------------------------------------------------------------------ session state
    @property
    def ping_interval(self) -> float | None:
        """The server's ``pingInterval`` in seconds, once open."""
        value = self.open_data.get("pingInterval")
        return value / 1000 if isinstance(value, int | float) else None

    @property
    def ping_timeout(self) -> float | None:
        """The server's ``pingTimeout`` in seconds, once open."""
        value = self.open_data.get("pingTimeout")
        return value / 1000 if isinstance(value, int | float) else None

    @property
    def max_payload(self) -> int | None:
        """The server's ``maxPayload`` in bytes (v4), once open."""
        value = self.open_data.get("maxPayload")
        return value if isinstance(value, int) else None

    @property
    def upgrades(self) -> list[str]:
        """The transports the server offers to upgrade to."""
        value = self.open_data.get("upgrades")
        return [str(v) for v in value] if isinstance(value, list) else []

    # ------------------------------------------------------------------ requests
    def build_request(
        self,
        method: str = "GET",
        *,
        transport: str = "polling",
        with_sid: bool = True,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        query: Mapping[str, str] | None = None,
    ) -> Request:
        """A request of this client, for any step (the methods below are shortcuts).

        Args:
            method: the HTTP method.
            transport: the ``transport`` parameter.
            with_sid: send ``sid`` when known.
            headers: headers added to (or replacing) the client's.
            body: the body.
            query: parameters added to (or replacing) the protocol's, even ``EIO``.
        """
        params = dict(self.query)
        params["EIO"] = str(self.version)
        params["transport"] = transport
        if self.b64:
            params["b64"] = "1"
        if self.jsonp is not None and transport == "polling":
            params["j"] = self.jsonp
        if with_sid and self.sid is not None:
            params["sid"] = self.sid
        if query is not None:
            params.update(query)
        all_headers = dict(self.headers)
        if headers:
            all_headers.update(headers)
        return Request(method, params, all_headers, body, client=self.address, path=self.path)

    def handshake_request(self, transport: TransportName = "polling") -> Request:
        """The GET that opens a session (``transport="websocket"``: a WebSocket-only one)."""
        return self.build_request("GET", transport=transport, with_sid=False)

    def poll_request(self) -> Request:
        """A long-poll GET of the open session."""
        self._require_sid()
        return self.build_request("GET")

    def post_request(self, packets: Sequence[Packet | str | bytes]) -> Request:
        """A POST of ``packets`` (see :meth:`encode_post`), with its content headers."""
        self._require_sid()
        body, content_type = self.encode_post(packets)
        headers = {"content-type": content_type, "content-length": str(len(body))}
        return self.build_request("POST", headers=headers, body=body)

    def probe_request(self) -> Request:
        """The WebSocket request that starts the upgrade of a polling session."""
        self._require_sid()
        return self.build_request("GET", transport="websocket")

    def _require_sid(self) -> None:
        if self.sid is None:
            raise RuntimeError("the session is not open: no sid yet")

    # ------------------------------------------------------------------ polling
    def encode_post(self, packets: Sequence[Packet | str | bytes]) -> tuple[bytes, str]:
        """A POST body for ``packets`` and its content type.

        A ``str`` is a text message and ``bytes`` a binary one. v4 sends a text
        payload; v3 an XHR2 binary payload when a packet is binary (unless ``b64``
        or JSONP), else a text one; JSONP a form ``d=<payload>`` with newlines
        escaped as the JavaScript client does.
        """
        items = [_packet(p) for p in packets]
        if self.version == 4:
            text = payload_v4.encode_payload(items)
        elif any(p.binary for p in items) and not self.b64 and self.jsonp is None:
            return payload_v3.encode_payload_binary(items), BINARY_CONTENT_TYPE
        else:
            text = payload_v3.encode_payload_text(items)
        if self.jsonp is not None:
            escaped = text.replace("\\n", "\\\n").replace("\n", "\\n")
            return urlencode({"d": escaped}).encode(), FORM_CONTENT_TYPE
        return text.encode(), TEXT_CONTENT_TYPE

    def decode_poll(self, response: Response) -> list[Packet]:
        """The packets of a polling GET response (any framing this client asked for).

        Undoes ``Content-Encoding``, then reads a v3 XHR2 binary payload, a JSONP
        wrapper or a text payload.

        Raises:
            ResponseError: the status is not 200.
            ParseError: the body is not a payload this client can receive.
        """
        if response.status != 200:
            raise ResponseError(response)
        try:
            raw = decompressed(response)
        except (ValueError, OSError, EOFError, zlib.error) as exc:
            raise ParseError(f"cannot undo the content encoding: {exc}") from exc
        content_type = header(response, "content-type") or ""
        if content_type.startswith(BINARY_CONTENT_TYPE):
            if self.version != 3:
                raise ParseError("binary polling payloads are not part of Engine.IO 4")
            return payload_v3.decode_payload_binary(raw)
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise ParseError("payload is not valid UTF-8") from None
        if self.jsonp is not None:
            text = self._unwrap_jsonp(text)
        if self.version == 4:
            return payload_v4.decode_payload(text)
        return payload_v3.decode_payload_text(text)

    def _unwrap_jsonp(self, text: str) -> str:
        assert self.jsonp is not None
        match = _JSONP_BODY.fullmatch(text)
        if match is None:
            raise ParseError(f"not a JSONP body: {text[:40]!r}")
        if match.group(1) != sanitize_jsonp_index(self.jsonp):
            raise ParseError(f"JSONP callback {match.group(1)!r}, expected {self.jsonp!r}")
        try:
            inner = json.loads(match.group(2))
        except ValueError:
            inner = None
        if not isinstance(inner, str):
            raise ParseError("the JSONP argument is not a JSON string")
        return inner

    def open(self, response: Response) -> Received:
        """Read the polling handshake response: its first packet must be the open packet.

        Raises:
            ResponseError: the server refused (403) or failed the handshake.
            ParseError: no open packet first.
        """
        packets = self.decode_poll(response)
        if not packets or packets[0].type is not PacketType.OPEN:
            raise ParseError(f"expected an open packet first, got {packets!r}")
        return self.receive(packets)

    # ------------------------------------------------------------------ WebSocket
    def encode_frame(self, packet: Packet | str | bytes) -> str | bytes:
        """One WebSocket frame for a packet (``str``/``bytes``: a message)."""
        return encode_ws(_packet(packet), self.version, self.b64)

    def decode_frame(self, frame: str | bytes) -> Packet:
        """The packet of one WebSocket frame from the server.

        Raises:
            ParseError: not a valid frame for this version.
        """
        return decode_ws(frame, self.version)

    def probe_frame(self) -> str | bytes:
        """The first frame on the upgrade WebSocket (``2probe``)."""
        return encode_ws(_PROBE_PING, self.version)

    def is_probe_answer(self, frame: str | bytes) -> bool:
        """Whether ``frame`` is the server's answer to the probe (``3probe``)."""
        return frame == encode_ws(_PROBE_PONG, self.version)

    def upgrade_frame(self) -> str | bytes:
        """The frame that completes the upgrade (``5``); the poll is over after it."""
        return encode_ws(Packet(PacketType.UPGRADE), self.version)

    # ------------------------------------------------------------------ packets in
    def receive(self, packets: Iterable[Packet]) -> Received:
        """Take in packets from the server, from a poll or a WebSocket, in order.

        An open packet sets ``sid`` and ``open_data``; a close packet sets ``closed``.

        Raises:
            ParseError: an open packet whose data is not a JSON object with a ``sid``.
        """
        received = Received()
        for packet in packets:
            kind = packet.type
            if kind is PacketType.MESSAGE:
                received.messages.append(packet.data)
            elif kind is PacketType.OPEN:
                self._opened(packet)
                received.opened = True
            elif kind is PacketType.CLOSE:
                self.closed = True
                received.closed = True
            else:
                reply = self.answer(packet)
                if reply is not None:
                    received.replies.append(reply)
        return received

    def _opened(self, packet: Packet) -> None:
        try:
            data = json.loads(packet.data) if isinstance(packet.data, str) else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            raise ParseError(f"invalid open packet {packet.data!r}")
        self.open_data = data
        self.sid = data["sid"]
        self.closed = False

    def answer(self, packet: Packet) -> Packet | None:
        """The packet a client sends back at once: a v4 client answers a ping with a pong."""
        if packet.type is PacketType.PING and self.version == 4:
            return Packet(PacketType.PONG, packet.data)
        return None

    def heartbeat(self) -> Packet | None:
        """What the client sends every ``ping_interval`` by itself: a ping in v3, nothing in v4."""
        return Packet(PacketType.PING) if self.version == 3 else None


def _packet(item: Packet | str | bytes) -> Packet:
    if isinstance(item, Packet):
        return item
    if isinstance(item, bytes | bytearray | memoryview):
        return Packet(PacketType.MESSAGE, bytes(item))
    return Packet(PacketType.MESSAGE, item)
