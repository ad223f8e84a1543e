"""In-memory peers for the protocol tests: a fake clock, a runtime model and clients.

In the style of h11's ``ConnectionPair``: a :class:`Server` wraps the real
:class:`~engineio_core.protocol.engine.Engine` together with a minimal model of
what a runtime does with its outputs (write a returned channel's frames, serve
the channels listed by ``take_ready()``, deliver the messages ``receive_ws``
returns, collect application events, fire the timer at its deadline), and :class:`Client` / :class:`WebSocket` speak Engine.IO
4 or 3 to it. Nothing here sleeps, opens a socket or mocks the engine: time is
a float advanced by hand, and everything a client receives is decoded with the
library's own codecs.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from engineio_core.protocol import payload_v3, payload_v4
from engineio_core.protocol.config import ServerConfig
from engineio_core.protocol.engine import Engine, Handshake, Outcome, PostBody
from engineio_core.protocol.events import Disconnect, Event, Message
from engineio_core.protocol.http import Request, Response
from engineio_core.protocol.packets import Packet, PacketType, decode_ws, encode_ws
from engineio_core.protocol.session import Channel

__all__ = [
    "Client",
    "FakeClock",
    "Poll",
    "Server",
    "WebSocket",
    "body_json",
    "header",
    "header_values",
    "text_messages",
]

START = 1000.0
"""The fake clock starts here, not at 0, so relative/absolute mix-ups show."""


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new time."""
        assert seconds >= 0, "time never goes backwards"
        self.now += seconds
        return self.now


# ---------------------------------------------------------------- responses


def header_values(response: Response, name: str) -> list[str]:
    """Every value of a response header (case-insensitive name)."""
    wanted = name.lower()
    return [value for key, value in response.headers if key.lower() == wanted]


def header(response: Response, name: str) -> str | None:
    """The single value of a response header, ``None`` when absent."""
    values = header_values(response, name)
    assert len(values) <= 1, f"header {name!r} sent {len(values)} times: {values}"
    return values[0] if values else None


def body_json(response: Response) -> Any:
    """The JSON body of an error response, checking its content type."""
    assert header(response, "content-type") == "application/json", response.headers
    return json.loads(response.body)


def decompressed(response: Response) -> bytes:
    """The response body with its ``Content-Encoding`` undone."""
    encoding = header(response, "content-encoding")
    if encoding is None:
        return response.body
    if encoding == "gzip":
        return gzip.decompress(response.body)
    if encoding == "deflate":
        return zlib.decompress(response.body)
    raise AssertionError(f"unknown Content-Encoding {encoding!r}")


# ---------------------------------------------------------------- server side


class Server:
    """The engine, a fake clock and a model of the runtime around them.

    Args:
        config: the server options; built from ``options`` when omitted.
        **options: public option names for :meth:`ServerConfig.from_options`.
    """

    def __init__(self, config: ServerConfig | None = None, **options: Any) -> None:
        self.config = config if config is not None else ServerConfig.from_options(**options)
        self.engine = Engine(self.config)
        self.clock = FakeClock()
        self.events: list[Event] = []
        self._polls: dict[int, Poll] = {}
        self._sockets: dict[int, WebSocket] = {}

    @property
    def now(self) -> float:
        """The current fake time."""
        return self.clock.now

    # -- the runtime's loop ------------------------------------------------
    def pump(self) -> None:
        """Serve every ready channel and collect the application events."""
        for channel in self.engine.take_ready():
            if channel.websocket:
                socket = self._sockets.get(id(channel))
                assert socket is not None, f"engine made an unknown channel ready: {channel!r}"
                socket.deliver()
            else:
                poll = self._polls.get(id(channel))
                assert poll is not None, f"engine made an unknown poll ready: {channel!r}"
                assert channel.response is not None, "a held GET was made ready without response"
                poll.deliver(channel.response)
        self.events.extend(self.engine.events_received())

    def take_events(self) -> list[Event]:
        """Events collected since the last call."""
        self.pump()
        events, self.events = self.events, []
        return events

    def disconnects(self) -> list[Disconnect]:
        """Disconnect events collected since the last call (other events are kept)."""
        self.pump()
        found = [e for e in self.events if isinstance(e, Disconnect)]
        self.events = [e for e in self.events if not isinstance(e, Disconnect)]
        return found

    def messages(self) -> list[str | bytes]:
        """Message data collected since the last call (other events are kept)."""
        self.pump()
        found = [e.data for e in self.events if isinstance(e, Message)]
        self.events = [e for e in self.events if not isinstance(e, Message)]
        return found

    def send(self, sid: str | None, data: str | bytes) -> None:
        """The application sends a message (then the runtime serves what is ready)."""
        assert sid is not None
        self.engine.send(sid, data)
        self.pump()

    def close(self, sid: str | None) -> None:
        """The application closes a session."""
        assert sid is not None
        self.engine.close(sid, self.now)
        self.pump()

    # -- time --------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """The engine's next timer deadline."""
        return self.engine.get_timer()

    def fire_next_timer(self) -> float:
        """Advance the clock to the next deadline, fire it and return that time."""
        when = self.engine.get_timer()
        assert when is not None, "no timer armed"
        assert when >= self.clock.now, f"timer {when} is in the past (now {self.clock.now})"
        self.clock.now = when
        self.engine.handle_timer(when)
        self.pump()
        return when

    def advance(self, seconds: float) -> None:
        """Advance the clock by ``seconds``, firing every deadline on the way, exactly."""
        target = self.clock.now + seconds
        while True:
            when = self.engine.get_timer()
            if when is None or when > target:
                break
            self.fire_next_timer()
        self.clock.now = target
        self.pump()

    def advance_to(self, when: float) -> None:
        """Advance the clock to an absolute time, firing deadlines on the way."""
        self.advance(max(0.0, when - self.clock.now))

    # -- registration (runtime bookkeeping) -------------------------------
    def register_poll(self, poll: Poll) -> None:
        self._polls[id(poll.channel)] = poll

    def register_socket(self, socket: WebSocket) -> None:
        self._sockets[id(socket.channel)] = socket


class Poll:
    """A polling GET as the client sees it: answered at once, or held by the engine."""

    def __init__(self, server: Server, outcome: Response | Channel) -> None:
        self.server = server
        self.channel: Channel | None = None
        self._response: Response | None = None
        self.started = server.now
        self.answered_at: float | None = None
        if isinstance(outcome, Response):
            self.answered_at = server.now
            self._response = outcome
        else:
            assert not outcome.websocket
            self.channel = outcome
            server.register_poll(self)

    @property
    def response(self) -> Response | None:
        """The answer, once the runtime was told about it (``None`` while held)."""
        self.server.pump()
        return self._response

    def is_held(self) -> bool:
        """The GET is still waiting for an answer."""
        return self.response is None

    def deliver(self, response: Response) -> None:
        assert self._response is None, "a held GET was answered twice"
        self._response = response
        self.answered_at = self.server.now


class WebSocket:
    """The client end of a WebSocket the runtime accepted for ``channel``."""

    def __init__(self, server: Server, channel: Channel, version: int) -> None:
        assert channel.websocket
        self.server = server
        self.channel = channel
        self.version = version
        self.inbox: list[str | bytes] = []
        self.close_code: int | None = None
        server.register_socket(self)
        self.deliver()  # the runtime writes a returned channel's frames at once

    def deliver(self) -> None:
        """What the runtime does with a ready WebSocket channel."""
        frames = self.server.engine.data_to_send(self.channel)
        if frames:
            assert self.close_code is None, f"frames {frames!r} written after the close"
        self.inbox.extend(frames)
        if self.channel.close_code is not None and self.close_code is None:
            self.close_code = self.channel.close_code

    def is_closed(self) -> bool:
        self.server.pump()
        return self.close_code is not None

    def send(self, frame: str | bytes) -> None:
        """Send one frame to the server (a message it returns is delivered as an event)."""
        message = self.server.engine.receive_ws(self.channel, frame, self.server.now)
        if message is not None:
            self.server.events.append(Message(self.channel.sid, message))
        self.server.pump()

    def send_packet(self, packet: Packet) -> None:
        self.send(encode_ws(packet, self.version))

    def receive(self) -> list[str | bytes]:
        """Frames received since the last call."""
        self.server.pump()
        frames, self.inbox = self.inbox, []
        return frames

    def packets(self) -> list[Packet]:
        """Frames received since the last call, decoded."""
        return [decode_ws(frame, self.version) for frame in self.receive()]

    def drop(self) -> None:
        """The connection closes (from the client or the network) without a ``1``."""
        self.server.engine.ws_closed(self.channel, self.server.now)
        self.server.pump()


# ---------------------------------------------------------------- client side


class Client:
    """An Engine.IO client of one session, polling first unless told otherwise.

    Args:
        server: the in-memory server.
        version: 4 or 3.
        b64: send ``b64=1`` (v3 clients that cannot read binary).
        jsonp: the JSONP index ``j`` (JSONP polling), or ``None``.
        headers: extra request headers (lower-case names).
    """

    def __init__(
        self,
        server: Server,
        version: int = 4,
        *,
        b64: bool = False,
        jsonp: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.server = server
        self.version = version
        self.b64 = b64
        self.jsonp = jsonp
        self.headers: dict[str, str] = {"host": "localhost"}
        if headers:
            self.headers.update(headers)
        self.sid: str | None = None
        self.open_data: dict[str, Any] = {}

    @property
    def engine(self) -> Engine:
        return self.server.engine

    # -- requests ----------------------------------------------------------
    def make_request(
        self,
        method: str = "GET",
        *,
        transport: str = "polling",
        with_sid: bool = True,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        query: Mapping[str, str] | None = None,
    ) -> Request:
        q: dict[str, str] = {"EIO": str(self.version), "transport": transport, "t": "Nx1"}
        if self.b64:
            q["b64"] = "1"
        if self.jsonp is not None and transport == "polling":
            q["j"] = self.jsonp
        if with_sid and self.sid is not None:
            q["sid"] = self.sid
        if query is not None:
            q.update(query)
        h = dict(self.headers)
        if headers:
            h.update(headers)
        return Request(method, q, h, body, client=("127.0.0.1", 50000), path="/engine.io/")

    def request(self, method: str = "GET", **kwargs: Any) -> Outcome:
        """Send a raw request through ``handle_request``."""
        outcome = self.engine.handle_request(self.make_request(method, **kwargs), self.server.now)
        self.server.pump()
        return outcome

    # -- handshake ---------------------------------------------------------
    def handshake(self, **kwargs: Any) -> Handshake:
        """Start a polling handshake; the application has not decided yet."""
        outcome = self.request("GET", with_sid=False, **kwargs)
        assert isinstance(outcome, Handshake), _explain(outcome)
        return outcome

    def open(self, **kwargs: Any) -> Response:
        """Open a polling session (accepted) and return the handshake response."""
        handshake = self.handshake(**kwargs)
        response = self.engine.accept(handshake, self.server.now)
        self.server.pump()
        assert isinstance(response, Response)
        assert response.status == 200, _explain(response)
        packets = self.decode(response)
        assert len(packets) == 1, packets
        assert packets[0].type is PacketType.OPEN, packets
        data = packets[0].data
        assert isinstance(data, str)
        self.open_data = json.loads(data)
        self.sid = self.open_data["sid"]
        assert self.sid == handshake.sid
        return response

    def open_ws(self, **kwargs: Any) -> WebSocket:
        """Open a WebSocket-only session (accepted); its open packet is left in the inbox."""
        outcome = self.engine.handle_websocket(
            self.make_request("GET", transport="websocket", with_sid=False, **kwargs),
            self.server.now,
        )
        assert isinstance(outcome, Handshake), _explain(outcome)
        self.sid = outcome.sid
        channel = self.engine.accept(outcome, self.server.now)
        assert isinstance(channel, Channel), _explain(channel)
        socket = WebSocket(self.server, channel, self.version)
        self.server.pump()
        return socket

    # -- polling -----------------------------------------------------------
    def get(self, **kwargs: Any) -> Poll:
        """Send a polling GET; it may be answered at once or held."""
        outcome = self.request("GET", **kwargs)
        assert isinstance(outcome, Response | Channel), _explain(outcome)
        poll = Poll(self.server, outcome)
        self.server.pump()
        return poll

    def poll(self) -> list[Packet]:
        """A GET that must be answered at once with a 200 payload; its packets."""
        poll = self.get()
        assert poll.response is not None, "GET was held, expected packets at once"
        return self.decode(poll.response)

    def post_raw(
        self,
        body: bytes,
        *,
        content_type: str | None = None,
        content_length: bool = True,
        **kwargs: Any,
    ) -> Response:
        """POST a raw body through ``handle_request`` and ``handle_body``."""
        headers: dict[str, str] = dict(kwargs.pop("headers", {}) or {})
        if content_type is not None:
            headers["content-type"] = content_type
        if content_length:
            headers.setdefault("content-length", str(len(body)))
        outcome = self.request("POST", headers=headers, body=b"", **kwargs)
        if isinstance(outcome, Response):
            return outcome
        assert isinstance(outcome, PostBody), _explain(outcome)
        response = self.engine.handle_body(outcome, body, self.server.now)
        self.server.pump()
        return response

    def post(self, *packets: Packet | str) -> Response:
        """POST packets (a ``str`` is a text message) in this client's payload framing."""
        items = [Packet(PacketType.MESSAGE, p) if isinstance(p, str) else p for p in packets]
        body, content_type = self.encode(items)
        return self.post_raw(body, content_type=content_type)

    def encode(self, packets: list[Packet]) -> tuple[bytes, str]:
        """A POST body for ``packets`` and its content type."""
        if self.version == 4:
            text = payload_v4.encode_payload(packets)
        elif any(p.binary for p in packets) and not self.b64 and self.jsonp is None:
            return payload_v3.encode_payload_binary(packets), "application/octet-stream"
        else:
            text = payload_v3.encode_payload_text(packets)
        if self.jsonp is not None:
            return urlencode({"d": text}).encode(), "application/x-www-form-urlencoded"
        return text.encode(), "text/plain;charset=UTF-8"

    def decode(self, response: Response) -> list[Packet]:
        """Decode a 200 polling response with the library's payload codecs."""
        assert response.status == 200, _explain(response)
        assert header(response, "cache-control") == "no-store"
        raw = decompressed(response)
        content_type = header(response, "content-type") or ""
        if content_type.startswith("application/octet-stream"):
            assert self.version == 3, "v4 polling is always text"
            return payload_v3.decode_payload_binary(raw)
        text = raw.decode()
        if self.jsonp is not None:
            head = f"___eio[{self.jsonp}]("
            assert text.startswith(head), text
            assert text.endswith(");"), text
            inner = json.loads(text[len(head) : -2])
            assert isinstance(inner, str)
            text = inner
        if self.version == 4:
            return payload_v4.decode_payload(text)
        return payload_v3.decode_payload_text(text)

    def decode_messages(self, response: Response) -> list[str | bytes]:
        return [p.data for p in self.decode(response) if p.type is PacketType.MESSAGE]

    # -- upgrade -----------------------------------------------------------
    def probe(self, **kwargs: Any) -> WebSocket:
        """Open the upgrade WebSocket (``transport=websocket&sid=...``); no frame sent yet."""
        outcome = self.engine.handle_websocket(
            self.make_request("GET", transport="websocket", **kwargs), self.server.now
        )
        assert isinstance(outcome, Channel), _explain(outcome)
        socket = WebSocket(self.server, outcome, self.version)
        self.server.pump()
        return socket

    def upgrade(self) -> WebSocket:
        """The whole upgrade: probe, ``2probe`` -> ``3probe``, ``5``."""
        socket = self.probe()
        socket.send("2probe")
        assert socket.receive() == ["3probe"]
        socket.send("5")
        return socket


def _explain(outcome: object) -> str:
    if isinstance(outcome, Response):
        return f"Response({outcome.status}, {outcome.headers!r}, {outcome.body!r})"
    return repr(outcome)


def text_messages(packets: Iterable[Packet]) -> list[str | bytes]:
    """The data of the MESSAGE packets among ``packets``."""
    return [p.data for p in packets if p.type is PacketType.MESSAGE]
