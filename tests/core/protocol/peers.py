"""In-memory peers for the protocol tests: a runtime model and clients.

In the style of h11's ``ConnectionPair``: a :class:`Server` wraps the real
:class:`~engineio_core.protocol.engine.Engine` together with a minimal model of
what a runtime does with its outputs (write a returned channel's frames, serve
the channels listed by ``take_ready()``, deliver the messages ``receive_ws``
returns, collect application events, fire the timer at its deadline), and
:class:`Client` / :class:`WebSocket` speak Engine.IO 4 or 3 to it. The protocol
side of a client (requests, payloads, frames, the sid) is
:class:`engineio_core.testing.ClientModel`; this module only delivers what it
builds. Nothing here sleeps, opens a socket or mocks the engine: time is a
float advanced by hand (:class:`~engineio_core.testing.FakeClock`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engineio_core.protocol.config import ServerConfig
from engineio_core.protocol.engine import Engine, Handshake, Outcome, PostBody
from engineio_core.protocol.events import Disconnect, Event, Message
from engineio_core.protocol.http import Request, Response
from engineio_core.protocol.packets import Packet, PacketType
from engineio_core.protocol.session import Channel
from engineio_core.testing import (
    ClientModel,
    FakeClock,
    body_json,
    decompressed,
    header,
    header_values,
)
from engineio_core.testing import message_data as text_messages

__all__ = [
    "Client",
    "FakeClock",
    "Poll",
    "Server",
    "WebSocket",
    "body_json",
    "decompressed",
    "header",
    "header_values",
    "text_messages",
]


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

    def __init__(self, server: Server, channel: Channel, version: int,
                 model: ClientModel | None = None) -> None:
        assert channel.websocket
        self.server = server
        self.channel = channel
        self.version = version
        self.model = model if model is not None else ClientModel(version)
        assert self.model.version == version
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
        self.send(self.model.encode_frame(packet))

    def receive(self) -> list[str | bytes]:
        """Frames received since the last call."""
        self.server.pump()
        frames, self.inbox = self.inbox, []
        return frames

    def packets(self) -> list[Packet]:
        """Frames received since the last call, decoded."""
        return [self.model.decode_frame(frame) for frame in self.receive()]

    def drop(self) -> None:
        """The connection closes (from the client or the network) without a ``1``."""
        self.server.engine.ws_closed(self.channel, self.server.now)
        self.server.pump()


# ---------------------------------------------------------------- client side


class Client:
    """An Engine.IO client of one session, polling first unless told otherwise.

    The protocol is its :attr:`model` (a :class:`~engineio_core.testing.ClientModel`);
    this class delivers the requests the model builds to the in-memory server.

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
        self.model = ClientModel(
            version,
            b64=b64,
            jsonp=jsonp,
            headers={"host": "localhost", **(headers or {})},
            query={"t": "Nx1"},
            address=("127.0.0.1", 50000),
        )

    @property
    def engine(self) -> Engine:
        return self.server.engine

    @property
    def version(self) -> int:
        return self.model.version

    @property
    def b64(self) -> bool:
        return self.model.b64

    @property
    def jsonp(self) -> str | None:
        return self.model.jsonp

    @property
    def headers(self) -> dict[str, str]:
        return self.model.headers

    @property
    def sid(self) -> str | None:
        return self.model.sid

    @sid.setter
    def sid(self, sid: str | None) -> None:
        self.model.sid = sid

    @property
    def open_data(self) -> dict[str, Any]:
        return self.model.open_data

    # -- requests ----------------------------------------------------------
    def make_request(self, method: str = "GET", **kwargs: Any) -> Request:
        """The model's request (``ClientModel.build_request``'s keyword arguments)."""
        return self.model.build_request(method, **kwargs)

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
        packets = self.decode(response)
        assert [p.type for p in packets] == [PacketType.OPEN], packets
        assert self.model.receive(packets).opened
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
        socket = WebSocket(self.server, channel, self.version, self.model)
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
        self.server.pump()  # the handlers run (at once, in these tests)
        self.engine.post_handled(outcome, self.server.now)  # as a runtime does
        return response

    def post(self, *packets: Packet | str) -> Response:
        """POST packets (a ``str`` is a text message) in this client's payload framing."""
        body, content_type = self.encode(list(packets))
        return self.post_raw(body, content_type=content_type)

    def encode(self, packets: list[Packet | str]) -> tuple[bytes, str]:
        """A POST body for ``packets`` and its content type."""
        return self.model.encode_post(packets)

    def decode(self, response: Response) -> list[Packet]:
        """Decode a 200 polling response (checking it is not cached)."""
        assert response.status == 200, _explain(response)
        assert header(response, "cache-control") == "no-store"
        return self.model.decode_poll(response)

    def decode_messages(self, response: Response) -> list[str | bytes]:
        return text_messages(self.decode(response))

    # -- upgrade -----------------------------------------------------------
    def probe(self, **kwargs: Any) -> WebSocket:
        """Open the upgrade WebSocket (``transport=websocket&sid=...``); no frame sent yet."""
        outcome = self.engine.handle_websocket(
            self.make_request("GET", transport="websocket", **kwargs), self.server.now
        )
        assert isinstance(outcome, Channel), _explain(outcome)
        socket = WebSocket(self.server, outcome, self.version, self.model)
        self.server.pump()
        return socket

    def upgrade(self) -> WebSocket:
        """The whole upgrade: probe, ``2probe`` -> ``3probe``, ``5``."""
        socket = self.probe()
        socket.send(self.model.probe_frame())
        answer = socket.receive()
        assert len(answer) == 1, answer
        assert self.model.is_probe_answer(answer[0]), answer
        socket.send(self.model.upgrade_frame())
        return socket


def _explain(outcome: object) -> str:
    if isinstance(outcome, Response):
        return f"Response({outcome.status}, {outcome.headers!r}, {outcome.body!r})"
    return repr(outcome)
