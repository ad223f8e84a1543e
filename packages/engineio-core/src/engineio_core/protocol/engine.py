"""The Engine.IO engine: every session of one server, driven by requests, frames and time.

Sans-I/O in the style of h11 and aioquic: the runtime feeds the engine HTTP
requests (:meth:`Engine.handle_request`), WebSocket frames
(:meth:`Engine.receive_ws`) and the time (``now``, :meth:`Engine.handle_timer`),
and reads back responses, channels to serve (:meth:`Engine.take_ready`, whose
WebSocket frames come from :meth:`Engine.data_to_send`), application events
(:meth:`Engine.events_received`), the requests it refused
(:meth:`Engine.refusals_received`) and the next deadline (:meth:`Engine.get_timer`).
The engine never blocks, never reads a clock and never touches a socket.

Each session is plain data (:class:`~engineio_core.protocol.session.Session`,
changed only through its intent methods); the channels serving it are the
engine's, kept beside it, so a session can be exported to another engine.
"""

from __future__ import annotations

import base64
import copy
import heapq
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, Final

from .config import ServerConfig
from .errors import (
    BadHandshakeMethod,
    BadRequest,
    Forbidden,
    ParseError,
    PayloadTooLarge,
    ProtocolError,
    SessionUnknown,
    TransportUnknown,
    UnsupportedProtocolVersion,
)
from .events import Disconnect, DisconnectReason, Event, Message, Refusal, Upgraded
from .http import (
    TEXT_PLAIN,
    Request,
    Response,
    cookie_header,
    error_response,
    host_allowed,
    ok_response,
    origin_allowed,
    polling_response,
    preflight_response,
)
from .jsonp import sanitize_jsonp_index
from .packets import Packet, PacketType, decode_ws, encode_ws
from .session import Channel, Session, State, TransportName
from .versions import TRAITS, VersionTraits

__all__ = ["Engine", "Handshake", "Outcome", "PostBody", "SessionInfo", "SessionSnapshot"]

# The enum members used below, as module globals: an attribute of an Enum class
# (``State.OPEN``) costs ~67 ns on Python 3.11, whose EnumType.__getattr__ puts
# every class attribute lookup on a slow path, and ~20 ns on 3.12+; a global ~6 ns.
# In process this was a sixth of the engine's instructions per polling handshake.
_REASON_CLIENT_DISCONNECT: Final = DisconnectReason.CLIENT_DISCONNECT
_REASON_PARSE_ERROR: Final = DisconnectReason.PARSE_ERROR
_REASON_PING_TIMEOUT: Final = DisconnectReason.PING_TIMEOUT
_REASON_SEND_BUFFER_FULL: Final = DisconnectReason.SEND_BUFFER_FULL
_REASON_SERVER_DISCONNECT: Final = DisconnectReason.SERVER_DISCONNECT
_REASON_TRANSPORT_CLOSE: Final = DisconnectReason.TRANSPORT_CLOSE
_REASON_TRANSPORT_ERROR: Final = DisconnectReason.TRANSPORT_ERROR
_TYPE_CLOSE: Final = PacketType.CLOSE
_TYPE_MESSAGE: Final = PacketType.MESSAGE
_TYPE_NOOP: Final = PacketType.NOOP
_TYPE_OPEN: Final = PacketType.OPEN
_TYPE_PING: Final = PacketType.PING
_TYPE_PONG: Final = PacketType.PONG
_TYPE_UPGRADE: Final = PacketType.UPGRADE
_STATE_CLOSED: Final = State.CLOSED
_STATE_CLOSING: Final = State.CLOSING
_STATE_CONNECTING: Final = State.CONNECTING
_STATE_OPEN: Final = State.OPEN
_STATE_PROBING: Final = State.PROBING
_STATE_UPGRADING: Final = State.UPGRADING

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_TOO_LARGE = 1009

_CLOSE = Packet(_TYPE_CLOSE)
_NOOP = Packet(_TYPE_NOOP)
_PONG_PROBE = "3probe"
CLIENT_CLOSE_GET_GRACE = 1.0
"""Seconds after a client closed its polling session (a POST with ``1``, no GET
held) during which one GET of that sid still gets the noop it would have got had it
arrived first: a client may send its GET and its close at once, and the answer
must not depend on which of the two the server reads first. Later: 400."""
_CLIENT_CLOSED_MAX = 1024  # sids remembered at most for that (the oldest go first)

# A WebSocket closed for these is not read by its peer: drop its frames and the connection.
_UNRESPONSIVE = (_REASON_PING_TIMEOUT, _REASON_SEND_BUFFER_FULL)


@dataclass(frozen=True, slots=True)
class Handshake:
    """A new session waits for the application: call :meth:`Engine.accept` or ``reject``."""

    sid: str
    request: Request
    websocket: bool


@dataclass(frozen=True, slots=True)
class PostBody:
    """A POST was admitted: read at most ``limit`` body bytes, then :meth:`Engine.handle_body`."""

    sid: str
    request: Request
    limit: int


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """A session exported by :meth:`Engine.export_session`: plain data, picklable.

    ``taken_at`` is the exporting engine's clock, so that the importing engine
    can move the deadlines onto its own clock.
    """

    session: Session
    taken_at: float


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A read-only view of one session, for monitoring and tests.

    Attributes:
        sid: the session id.
        state: where it is in the transition table.
        transport: ``polling`` or ``websocket``.
        version: 3 or 4.
        poll_held: a long-poll GET is held, waiting for packets.
        websocket: a WebSocket transport is attached.
        probe: a WebSocket being upgraded to is attached.
        queued: packets waiting in the outbox.
        buffered: how much waits to be written to the client (the outbox, or the
            WebSocket's frames not yet written; text in characters, binary in bytes).
    """

    sid: str
    state: State
    transport: TransportName
    version: int
    poll_held: bool
    websocket: bool
    probe: bool
    queued: int
    buffered: int


Outcome = Response | Handshake | Channel | PostBody
"""What :meth:`Engine.handle_request` asks of the runtime.

``Response``: write it. ``Handshake``: run the connect handler, then ``accept``
or ``reject``. ``Channel``: hold the GET until the channel is ready.
``PostBody``: read the body, then ``handle_body`` (or ``body_too_large``).
"""


class _Entry:
    """A session and the channels that serve it now (this engine's, never exported)."""

    __slots__ = ("poll", "probe", "session", "ws")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.poll: Channel | None = None  # the held GET
        self.ws: Channel | None = None  # the WebSocket transport
        self.probe: Channel | None = None  # the WebSocket being upgraded to


def _default_sid(_request: Request) -> str:
    return base64.urlsafe_b64encode(os.urandom(15)).decode()


class SessionBusy(ValueError):
    """:meth:`Engine.hand_over` now would lose work in progress: try again shortly."""


class Engine:
    """Every session of one Engine.IO server, as pure state transitions.

    Args:
        config: the validated server options.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._entries: dict[str, _Entry] = {}
        self._events: list[Event] = []
        self._refusals: list[Refusal] = []
        self._ready: list[Channel] = []
        # (deadline, tie-breaker, session); stale once the session's armed_at differs
        self._timers: list[tuple[float, int, Session]] = []
        self._pushes = itertools.count()
        self._sid_generator: Callable[[Request], str] = config.sid_generator or _default_sid
        self._interval = config.ping_interval_ms / 1000
        self._timeout = config.ping_timeout_ms / 1000
        self._max = config.max_http_buffer_size
        # sid -> (until when, traits): polling sessions the client just closed
        self._client_closed: dict[str, tuple[float, VersionTraits]] = {}
        self._max_send = config.max_send_buffer_size
        self._max_packets = config.max_send_buffer_packets
        # The open packet's fields after the sid, for polling and WebSocket-only
        # sessions: the same for every session of this engine.
        self._open_tails = tuple(
            json.dumps({"upgrades": upgrades, "pingInterval": config.ping_interval_ms,
                        "pingTimeout": config.ping_timeout_ms,
                        "maxPayload": config.max_http_buffer_size},
                       separators=(",", ":"))[1:]
            for upgrades in (config.upgrades, []))

    # ------------------------------------------------------------------ outputs
    def events_received(self) -> list[Event]:
        """Application events produced since the last call, in order."""
        events, self._events = self._events, []
        return events

    def refusals_received(self) -> list[Refusal]:
        """Requests refused since the last call, in order: one per error answer.

        Only the calls that answer requests refuse (:meth:`handle_request`,
        :meth:`handle_websocket`, :meth:`handle_body`, :meth:`body_too_large`,
        :meth:`reject`, :meth:`refuse`), each with an error ``Response`` (status
        400 or more); a WebSocket frame, a send, a close or the timer never does.
        """
        refusals, self._refusals = self._refusals, []
        return refusals

    def refuse(self, request: Request, error: ProtocolError, sid: str | None = None) -> Response:
        """Answer ``request`` with ``error`` and record the refusal.

        The engine's own refusals go through here; a runtime or framework adapter
        that refuses a request itself calls it too, so that every refusal is
        reported the same way.

        Args:
            request: the refused request.
            error: the ``{"code", "message"}`` to answer with; its ``detail`` and
                ``context`` go into the :class:`Refusal`.
            sid: the session concerned (default: the request's ``sid`` parameter).
        """
        if sid is None:
            sid = request.query.get("sid") or None
        self._refusals.append(Refusal(request, error.status, error.code, error.message,
                                      error.context, error.detail, sid))
        return error_response(self.config, request, error)

    def has_output(self) -> bool:
        """Whether :meth:`take_ready` or :meth:`events_received` has something."""
        return bool(self._ready or self._events)

    def take_ready(self) -> list[Channel]:
        """Channels with something for the runtime to do.

        A WebSocket: write :meth:`data_to_send`, then close it with ``close_code``
        once that is set. A held GET: answer it with ``response``.
        """
        ready, self._ready = self._ready, []
        for channel in ready:
            channel.queued = False
        return ready

    def data_to_send(self, channel: Channel) -> list[str | bytes]:
        """The frames to write on a WebSocket channel, in order (taken: a second call is empty).

        What it returns still counts against ``max_send_buffer_size`` until the
        next call or :meth:`frames_written`: a runtime writes the frames, then asks
        again until it gets none, or says it wrote them.
        """
        frames = channel.frames
        if frames:
            channel.frames = []
            channel.taken = channel.size
            channel.size = 0
        else:
            channel.taken = 0
        return frames

    def frames_written(self, channel: Channel) -> None:
        """The runtime wrote what :meth:`data_to_send` last returned for ``channel``:
        it no longer counts against ``max_send_buffer_size``.

        Touches nothing but that count, which only the channel's one writer sets:
        a threaded runtime may call it holding the channel's write lock alone.
        """
        channel.taken = 0

    def get_timer(self) -> float | None:
        """The earliest deadline at which :meth:`handle_timer` must be called."""
        timers = self._timers
        while timers:
            when, _, session = timers[0]
            if session.armed_at == when:
                return when
            heapq.heappop(timers)
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every deadline that is due at ``now``."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, session = heapq.heappop(timers)
            if session.armed_at != when:
                continue  # re-armed since, or gone (a closed session is disarmed)
            self._fire_due(self._entries[session.sid], now)

    def _fire_due(self, entry: _Entry, now: float) -> None:
        session = entry.session
        session.disarm()
        self._fire(entry, now)
        if session.state is not _STATE_CLOSED:
            self._arm(session)

    # ------------------------------------------------------------------ queries
    def has_session(self, sid: str) -> bool:
        """Whether a session with this id exists (in any state but CLOSED)."""
        return sid in self._entries

    def session_ids(self) -> list[str]:
        """The ids of every session, in creation order."""
        return list(self._entries)

    def session_count(self) -> int:
        """How many sessions exist."""
        return len(self._entries)

    def session_info(self, sid: str) -> SessionInfo:
        """A read-only view of a session (any state but CLOSED).

        Raises:
            SessionUnknown: no session has this id.
        """
        entry = self._entries.get(sid)
        if entry is None:
            raise SessionUnknown(detail=sid)
        session = entry.session
        ws = entry.ws
        return SessionInfo(sid, session.state, session.transport, session.traits.version,
                           entry.poll is not None, ws is not None,
                           entry.probe is not None, len(session.outbox),
                           session.outbox_size + (0 if ws is None else ws.size + ws.taken))

    def transport(self, sid: str) -> TransportName:
        """The transport a session is on (``polling`` or ``websocket``).

        Raises:
            SessionUnknown: no open session has this id.
        """
        return self._open_session(sid).transport

    def session(self, sid: str) -> Session:
        """The protocol state of an open session.

        Raises:
            SessionUnknown: no open session has this id.
        """
        return self._open_session(sid)

    # ------------------------------------------------------------------ export
    def export_session(self, sid: str, now: float) -> SessionSnapshot:
        """A copy of a session's state for another engine (this one keeps serving it).

        The channels serving it stay here: they are this process's connections.

        Raises:
            SessionUnknown: no session has this id.
        """
        entry = self._entries.get(sid)
        if entry is None:
            raise SessionUnknown(detail=sid)
        return SessionSnapshot(copy.deepcopy(entry.session), now)

    def hand_over(self, sid: str, now: float) -> SessionSnapshot:
        """Export a polling session and stop serving it: another engine takes it over
        (a cluster node that received its WebSocket upgrade).

        No event: for the application the session goes on there. A held GET is
        answered with a noop (the client polls again, and its next GET reaches
        the session where it went); a probe here is dropped.

        Raises:
            SessionUnknown: no open session has this id.
            SessionBusy: the session cannot move yet: a POST of it is being read
                or handled, or a WebSocket is upgrading it here.
            ValueError: the session cannot move: it is on WebSocket (its
                connection is this process's), or it is closing.
        """
        entry = self._entries.get(sid)
        if entry is None or entry.session.state is _STATE_CLOSED:
            raise SessionUnknown(detail=sid)
        session = entry.session
        if entry.ws is not None or session.transport != "polling":
            raise ValueError(f"session {sid} is on WebSocket here")
        if session.state is _STATE_CLOSING or session.state is _STATE_CONNECTING:
            raise ValueError(f"session {sid} is {session.state.name.lower()}")
        if session.post_in_progress or session.handling_post:
            raise SessionBusy(f"a POST of session {sid} is being handled")
        if session.state is not _STATE_OPEN:
            raise SessionBusy(f"session {sid} is being upgraded here")
        self._abort_probe(entry)
        if entry.poll is not None:
            self._release_poll(entry, [_NOOP])
        snapshot = SessionSnapshot(copy.deepcopy(session), now)
        self._forget(session)
        return snapshot

    def import_session(self, snapshot: SessionSnapshot, now: float) -> None:
        """Serve an exported session here, its deadlines moved onto this engine's clock.

        It arrives with no channel: polling requests, timers and ``send`` work
        at once; a probe that stayed behind is aborted at its upgrade deadline.

        Raises:
            ValueError: the snapshot is of a closed session, or its id is taken.
        """
        session = snapshot.session
        if session.state is _STATE_CLOSED:
            raise ValueError(f"session {session.sid} is closed")
        if session.sid in self._entries:
            raise ValueError(f"session {session.sid} already exists here")
        restored = session.shifted(now - snapshot.taken_at)
        self._entries[restored.sid] = _Entry(restored)
        self._arm(restored)

    # ------------------------------------------------------------------ HTTP
    def handle_request(self, request: Request, now: float) -> Outcome:
        """Handle a polling request or a plain-HTTP request to the Engine.IO path.

        Protocol errors are answered with their JSON response, never raised.
        """
        try:
            return self._handle_request(request, now)
        except ProtocolError as exc:
            return self.refuse(request, exc)

    def handle_websocket(self, request: Request, now: float) -> Response | Handshake | Channel:
        """Handle a WebSocket upgrade request before it is accepted.

        Returns:
            A ``Response`` to refuse it with (before the upgrade), a ``Handshake``
            for a new WebSocket-only session, or the ``Channel`` of an upgrade probe
            (accept the WebSocket, then feed its frames to :meth:`receive_ws`).
        """
        try:
            self._check_common(request)
            transport = request.query.get("transport")
            if transport != "websocket":
                raise TransportUnknown(detail="a WebSocket request must say transport=websocket",
                                       context={"transport": transport})
            sid = request.query.get("sid")
            if not sid:
                return self._new_handshake(request, websocket=True)
            entry = self._entries.get(sid)
            if entry is None or not entry.session.live:
                raise _unknown_sid(sid)
            if not self.config.allow_upgrades:
                raise BadRequest(detail="upgrades are disabled",
                                 context={"name": "UPGRADES_DISABLED"})
            session = entry.session
            if session.state is not _STATE_OPEN or session.transport != "polling":
                # Already on (or moving to) WebSocket: accept, then close at once,
                # so the first socket keeps working (as engine.io does).
                extra = Channel(sid, request, websocket=True)
                extra.close_code = CLOSE_NORMAL
                return extra
            probe = Channel(sid, request, websocket=True, b64=_b64(request))
            entry.probe = probe
            session.attach_probe(now + self.config.upgrade_timeout_ms / 1000)
            self._arm(session)
            return probe
        except ProtocolError as exc:
            return self.refuse(request, exc)

    def _check_host(self, request: Request) -> None:
        host = request.headers.get("host")
        try:
            allowed = host_allowed(self.config, request)
        except Exception as exc:
            raise BadRequest(detail=f"allowed_hosts failed: {exc!r}",
                             context={"name": "HOST_NOT_ALLOWED", "host": host,
                                      "error": exc}) from exc
        if not allowed:
            raise BadRequest(detail=f"host {host!r} is not allowed",
                             context={"name": "HOST_NOT_ALLOWED", "host": host})

    def _check_common(self, request: Request) -> None:
        if self.config.allowed_hosts is not None:
            self._check_host(request)
        transport = request.query.get("transport")
        if transport not in self.config.transports:
            raise TransportUnknown(detail=f"transport {transport!r} is not served",
                                   context={"transport": transport})
        origin = request.headers.get("origin")
        if origin is not None:
            if not origin.isprintable():
                raise BadRequest(detail="invalid characters in Origin",
                                 context={"name": "INVALID_ORIGIN", "origin": origin})
            if not origin_allowed(self.config, request):
                raise BadRequest(detail=f"origin {origin!r} is not allowed",
                                 context={"name": "ORIGIN_NOT_ALLOWED", "origin": origin})

    def _handle_request(self, request: Request, now: float) -> Outcome:
        if request.method == "OPTIONS":
            if self.config.allowed_hosts is not None:
                self._check_host(request)
            return preflight_response(self.config, request)
        self._check_common(request)
        sid = request.query.get("sid")
        if not sid:
            if request.method != "GET":
                raise BadHandshakeMethod(detail=f"a handshake by {request.method}",
                                         context={"method": request.method})
            if request.query.get("transport") != "polling":
                raise BadRequest(detail="WebSocket handshake without Upgrade",
                                 context={"name": "TRANSPORT_HANDSHAKE_ERROR"})
            return self._new_handshake(request, websocket=False)
        entry = self._entries.get(sid)
        while entry is not None and entry.session.armed_at is not None \
                and entry.session.armed_at <= now:
            # A deadline of this session passed and the runtime's timer has not fired
            # it yet (a busy process wakes late): it fires first, as it would have.
            self._fire_due(entry, now)
            entry = self._entries.get(sid)
        if entry is None or entry.session.state is _STATE_CONNECTING:
            if entry is None and request.method == "GET" and sid in self._client_closed:
                until, traits = self._client_closed.pop(sid)
                if now <= until:  # sent with the close: answered as if it came first
                    body, content_type = traits.encode_poll(
                        [_NOOP], binary_ok=not _b64(request), jsonp=_jsonp(request))
                    return polling_response(self.config, request, body, content_type)
            raise _unknown_sid(sid)
        session = entry.session
        if session.state is _STATE_CLOSING and request.method != "GET":
            raise _unknown_sid(sid, "the session is closing")
        transport = request.query.get("transport")
        if session.transport != "polling" or transport != "polling":
            raise BadRequest(detail="transport mismatch",
                             context={"name": "TRANSPORT_MISMATCH", "transport": transport,
                                      "previous_transport": session.transport})
        if request.method == "GET":
            return self._poll(entry, request, now)
        if request.method == "POST":
            return self._admit_post(session, request, now)
        raise BadRequest(detail=f"method {request.method} not allowed",
                         context={"name": "METHOD_NOT_ALLOWED", "method": request.method})

    def _new_handshake(self, request: Request, *, websocket: bool) -> Handshake:
        hook = self.config.allow_request
        if hook is not None:
            try:
                verdict = hook(request)
            except Exception as exc:
                raise BadRequest(detail=f"allow_request failed: {exc!r}",
                                 context={"name": "ALLOW_REQUEST_FAILED", "error": exc}) from exc
            if verdict is not True:
                message = verdict if isinstance(verdict, str) else None
                raise Forbidden(message, detail=f"allow_request returned {verdict!r}",
                                context={"name": "ALLOW_REQUEST_REFUSED", "message": message})
        raw_version = request.query.get("EIO", "")
        version = int(raw_version) if raw_version.isascii() and raw_version.isdigit() else 0
        if version not in self.config.protocol_versions:
            raise UnsupportedProtocolVersion(detail=f"EIO={raw_version!r} is not served",
                                             context={"protocol": raw_version})
        try:
            sid = self._sid_generator(request)
        except Exception as exc:
            raise BadRequest(detail=f"sid generator failed: {exc!r}",
                             context={"name": "ID_GENERATION_ERROR", "error": exc}) from exc
        if not isinstance(sid, str) or not sid or sid in self._entries:
            raise BadRequest(detail="sid generator returned an unusable id",
                             context={"name": "ID_GENERATION_ERROR", "sid": sid})
        transport: TransportName = "websocket" if websocket else "polling"
        session = Session(sid, TRAITS[version], transport, b64=_b64(request))
        self._entries[sid] = _Entry(session)
        return Handshake(sid, request, websocket)

    def accept(self, handshake: Handshake, now: float) -> Response | Channel:
        """Open the session the application accepted.

        Returns:
            The polling handshake response, or the ``Channel`` of a WebSocket-only
            session (its first frame is the open packet).

        Raises:
            SessionUnknown: the session was closed while the application decided.
        """
        entry = self._entries.get(handshake.sid)
        if entry is None or entry.session.state is not _STATE_CONNECTING:
            raise SessionUnknown
        session = entry.session
        session.accept(now, self._interval, self._timeout)
        self._arm(session)
        config = self.config
        open_packet = ('0{"sid":' + _json_string(session.sid) + ","
                       + self._open_tails[handshake.websocket])
        if handshake.websocket:
            channel = Channel(session.sid, handshake.request, websocket=True, b64=session.b64)
            entry.ws = channel
            self._push(channel, [open_packet, *(encode_ws(p, session.traits.version, session.b64)
                                                for p in session.take_outbox())])
            return channel
        extra = []
        if config.cookie is not None:
            extra.append(cookie_header(config.cookie, session.sid))
        if config.handshake_headers is not None:
            extra.extend(config.handshake_headers(handshake.request))
        jsonp = _jsonp(handshake.request)
        if session.traits.version == 4 and jsonp is None:
            # A v4 payload of one text packet is that packet: no encoder needed.
            body, content_type = open_packet.encode(), TEXT_PLAIN
        else:
            body, content_type = session.traits.encode_poll(
                [Packet(_TYPE_OPEN, open_packet[1:])], binary_ok=False, jsonp=jsonp)
        return polling_response(config, handshake.request, body, content_type, extra)

    def reject(self, handshake: Handshake, message: str | None = None, *,
               detail: str | None = None, context: dict[str, Any] | None = None) -> Response:
        """Refuse the handshake (403, code 4) and forget the session.

        Args:
            handshake: the handshake the application refused.
            message: the message of the answer (default ``"Forbidden"``).
            detail: why, in words, for the :class:`Refusal` (logs).
            context: the refusal's context (default ``{"name": "CONNECT_REFUSED",
                "message": message}``).
        """
        entry = self._entries.get(handshake.sid)
        if entry is not None and entry.session.state is _STATE_CONNECTING:
            self._forget(entry.session)
        if context is None:
            context = {"name": "CONNECT_REFUSED", "message": message}
        return self.refuse(handshake.request, Forbidden(message, detail=detail, context=context),
                           handshake.sid)

    def _poll(self, entry: _Entry, request: Request, now: float) -> Response | Channel:
        session = entry.session
        if entry.poll is not None:
            self._close(entry, _REASON_TRANSPORT_ERROR, "duplicate GET", now)
            raise BadRequest(detail="overlapping GET requests",
                             context={"name": "OVERLAPPING_GET"})
        if session.state is _STATE_CLOSING:
            packets = session.take_outbox()
            self._forget(session)
            return self._poll_response(session, request, packets)
        if session.outbox:
            return self._poll_response(session, request, session.take_outbox())
        channel = Channel(session.sid, request, websocket=False)
        entry.poll = channel
        # A GET during the upgrade is released with a noop shortly (engine.io
        # checks every 100 ms), unless the upgrade packet lands first.
        if session.hold_poll(now):
            self._arm(session)
        return channel

    def release_poll(self, sid: str) -> None:
        """Answer a session's held GET now with a noop, and keep the session.

        For a GET whose connection is gone while its client is not: a cluster
        node that relayed it died, and the client's proxy sends it again (to
        another node). Nothing is lost: a noop carries no packet.
        """
        entry = self._entries.get(sid)
        if entry is not None and entry.poll is not None:
            self._release_poll(entry, [_NOOP])

    def poll_dropped(self, channel: Channel, now: float) -> None:
        """The runtime lost the connection of a held GET before answering it."""
        entry = self._entries.get(channel.sid)
        if entry is not None and entry.poll is channel:
            entry.poll = None
            entry.session.poll_released()
            self._close(entry, _REASON_TRANSPORT_ERROR, "poll connection dropped", now)

    def _poll_response(self, session: Session, request: Request, packets: list[Packet]) -> Response:
        jsonp = _jsonp(request)
        body, content_type = session.traits.encode_poll(
            packets, binary_ok=not (session.b64 or _b64(request)), jsonp=jsonp
        )
        return polling_response(self.config, request, body, content_type)

    def _release_poll(self, entry: _Entry, packets: list[Packet]) -> None:
        channel = entry.poll
        assert channel is not None
        entry.poll = None
        entry.session.poll_released()
        channel.response = self._poll_response(entry.session, channel.request, packets)
        self._mark(channel)

    def _admit_post(self, session: Session, request: Request, now: float) -> Response | PostBody:
        if session.post_in_progress:
            self._close(self._entries[session.sid], _REASON_TRANSPORT_ERROR,
                        "overlapping POST", now)
            raise BadRequest(detail="overlapping POST requests",
                             context={"name": "OVERLAPPING_POST"})
        length = request.headers.get("content-length")
        if (length is not None and length.isascii() and length.isdigit()
                and int(length) > self._max):
            return self.body_too_large(PostBody(session.sid, request, self._max), now)
        session.begin_post()
        return PostBody(session.sid, request, self._max)

    def post_dropped(self, post: PostBody, now: float) -> None:
        """The runtime could not read an admitted POST's body (the client went away)."""
        entry = self._entries.get(post.sid)
        if entry is not None and entry.session.post_in_progress:
            entry.session.end_post()
            self._close(entry, _REASON_TRANSPORT_ERROR, "POST body not received", now)

    def body_too_large(self, post: PostBody, now: float) -> Response:
        """Answer a POST whose body exceeds the limit (413) and close its session."""
        entry = self._entries.get(post.sid)
        if entry is not None:
            entry.session.end_post()
            self._close(entry, _REASON_TRANSPORT_ERROR, "payload too large", now)
        return self.refuse(post.request, PayloadTooLarge(
            detail=f"a body over {self._max} bytes", context={"limit": self._max}), post.sid)

    def handle_body(self, post: PostBody, body: bytes, now: float) -> Response:
        """Process the complete body of an admitted POST."""
        request = post.request
        entry = self._entries.get(post.sid)
        if entry is None or not entry.session.live:
            return self.refuse(request, _unknown_sid(post.sid, "the session closed"), post.sid)
        session = entry.session
        session.end_post()
        if len(body) > self._max:
            return self.body_too_large(post, now)
        content_type = request.headers.get("content-type", "")
        binary = content_type.startswith("application/octet-stream")
        if binary and session.traits.version == 4:
            self._close(entry, _REASON_TRANSPORT_ERROR, "binary POST body", now)
            return self.refuse(request, BadRequest(
                detail="binary POST body", context={"name": "BINARY_POST"}), post.sid)
        try:
            packets = session.traits.decode_poll(
                body,
                binary=binary,
                jsonp=_jsonp(request) is not None,
            )
        except ParseError as exc:
            self._close(entry, _REASON_PARSE_ERROR, str(exc), now)
            return self.refuse(request, BadRequest(
                detail=str(exc), context={"name": "PARSE_ERROR", "error": exc}), post.sid)
        events = len(self._events)
        for packet in packets:
            self._on_packet(entry, packet, now)
            if not session.live:
                break  # packets after a close are ignored
        if len(self._events) > events and session.live:
            session.post_handling()  # until post_handled(): its heartbeat waits
        return ok_response(self.config, request)

    def post_handled(self, post: PostBody, now: float) -> bool:
        """The runtime has run the handlers of ``post``'s messages and answers it.

        Until then the session's client cannot send its heartbeat answer (it
        sends one POST at a time), so a heartbeat deadline that passed while
        the handlers ran is moved to ``now`` + ping timeout instead of closing
        the session.

        Returns:
            Whether a deadline moved (re-arm the timer); nothing else changes,
            and there is never output to serve.
        """
        entry = self._entries.get(post.sid)
        if entry is not None and entry.session.handling_post and (
                entry.session.post_handled(now, self._timeout)):
            self._arm(entry.session)
            return True
        return False

    # ------------------------------------------------------------------ WebSocket
    def receive_ws(self, channel: Channel, data: str | bytes, now: float) -> str | bytes | None:
        """Feed one WebSocket message (a text ``str`` or a binary ``bytes``).

        Returns:
            The data of an application message, for the runtime to deliver itself
            (the common case, without an event object); such a frame changes
            nothing else (no output, no deadline), so the runtime may skip its
            after-call work. ``None`` otherwise: anything else the frame caused
            is in :meth:`events_received` / :meth:`take_ready` / :meth:`get_timer`.
        """
        entry = self._entries.get(channel.sid)
        if entry is None or channel.close_code is not None:
            return None
        session = entry.session
        if isinstance(data, str):
            size = len(data)
            if size * 4 > self._max and len(data.encode()) > self._max:
                self.ws_too_large(channel, now)
                return None
            if channel is entry.ws and size and data[0] == "4":
                return data[1:]
        elif len(data) > self._max:
            self.ws_too_large(channel, now)
            return None
        elif channel is entry.ws and not session.traits.binary_frames_typed:
            return data
        try:
            packet = decode_ws(data, session.traits.version)
        except ParseError as exc:
            if channel is entry.probe:
                self._abort_probe(entry)
            else:
                self._close(entry, _REASON_PARSE_ERROR, str(exc), now,
                            code=CLOSE_PROTOCOL_ERROR)
            return None
        if channel is entry.ws:
            if packet.type is _TYPE_MESSAGE:
                return packet.data
            self._on_packet(entry, packet, now)
        elif channel is entry.probe:
            self._on_probe_packet(entry, channel, packet)
        return None

    def ws_closed(self, channel: Channel, now: float) -> None:
        """The WebSocket of ``channel`` closed or failed (any reason)."""
        if channel.close_code is None:
            channel.close_code = CLOSE_NORMAL
        entry = self._entries.get(channel.sid)
        if entry is None:
            return
        if channel is entry.ws:
            self._close(entry, _REASON_TRANSPORT_CLOSE, None, now)
        elif channel is entry.probe:
            self._abort_probe(entry)

    def ws_too_large(self, channel: Channel, now: float) -> None:
        """A message over ``max_http_buffer_size`` arrived on ``channel``.

        The engine detects this itself for the messages it is fed; a runtime whose
        WebSocket library enforces the limit (and drops the message) reports it here.
        """
        entry = self._entries.get(channel.sid)
        if entry is None or channel.close_code is not None:
            return
        if channel is entry.probe:
            channel.close_code = CLOSE_TOO_LARGE
            self._mark(channel)
            self._abort_probe(entry)
        else:
            self._close(entry, _REASON_TRANSPORT_ERROR, "message too large", now,
                        code=CLOSE_TOO_LARGE)

    def _on_probe_packet(self, entry: _Entry, channel: Channel, packet: Packet) -> None:
        session = entry.session
        if (packet.type is _TYPE_PING and packet.data == "probe"
                and session.state is _STATE_PROBING):
            session.answer_probe()
            channel.frames.append(_PONG_PROBE)
            self._mark(channel)
            if entry.poll is not None:
                self._release_poll(entry, [_NOOP])
        elif packet.type is _TYPE_UPGRADE and session.state is _STATE_UPGRADING:
            if entry.poll is not None:
                self._release_poll(entry, [_NOOP])
            session.complete_upgrade(channel.b64)
            entry.ws = channel
            entry.probe = None
            version = session.traits.version
            self._push(channel, [encode_ws(p, version, channel.b64)
                                 for p in session.take_outbox()])
            self._mark(channel)
            self._arm(session)
            self._events.append(Upgraded(session.sid))
        else:
            self._abort_probe(entry)

    def _abort_probe(self, entry: _Entry) -> None:
        """Drop the probe (if any) and go back to OPEN on polling."""
        probe = entry.probe
        if probe is not None:
            entry.probe = None
            if probe.close_code is None:
                probe.close_code = CLOSE_NORMAL
                self._mark(probe)
        session = entry.session
        if session.state is _STATE_PROBING or session.state is _STATE_UPGRADING:
            session.abort_probe()
            self._arm(session)

    # ------------------------------------------------------------------ packets in
    def _on_packet(self, entry: _Entry, packet: Packet, now: float) -> None:
        session = entry.session
        kind = packet.type
        if kind is _TYPE_MESSAGE:
            self._events.append(Message(session.sid, packet.data))
        elif kind is _TYPE_PONG and session.traits.server_pings:
            session.pong_received(now, self._interval)
            self._arm(session)
        elif kind is _TYPE_PING and not session.traits.server_pings:
            self._enqueue(entry, Packet(_TYPE_PONG, packet.data))
            session.ping_received(now, self._interval, self._timeout)
            self._arm(session)
        elif kind in (_TYPE_PING, _TYPE_PONG):
            self._close(entry, _REASON_TRANSPORT_ERROR,
                        "invalid heartbeat direction", now)
        elif kind is _TYPE_CLOSE:
            self._close(entry, _REASON_CLIENT_DISCONNECT, None, now)
        # OPEN, UPGRADE and NOOP from an established client change nothing.

    # ------------------------------------------------------------------ packets out
    def send(self, sid: str, data: str | bytes) -> None:
        """Queue a message for a session.

        Raises:
            SessionUnknown: no open session has this id.
            TypeError: ``data`` is neither ``str`` nor ``bytes``.
        """
        entry = self._entries.get(sid)
        if entry is None or entry.session.state is _STATE_CLOSING:  # CLOSED ones are gone
            raise SessionUnknown(detail=sid)
        if isinstance(data, str):
            packet_data: str | bytes = data
        elif isinstance(data, bytes | bytearray | memoryview):
            packet_data = bytes(data)
        else:
            raise TypeError(f"messages are str or bytes, not {type(data).__name__}")
        channel = entry.ws
        if channel is not None and channel.close_code is None:
            session = entry.session
            frame: str | bytes
            if isinstance(packet_data, str):
                frame = "4" + packet_data
            elif session.traits.binary_frames_typed or channel.b64:
                frame = encode_ws(
                    Packet(_TYPE_MESSAGE, packet_data), session.traits.version, channel.b64
                )
            else:
                frame = packet_data
            frames = channel.frames
            frames.append(frame)
            channel.size += len(frame)
            if not channel.queued:
                channel.queued = True
                self._ready.append(channel)
            if (channel.size + channel.taken > self._max_send
                    or len(frames) > self._max_packets):
                self._overflow(entry)
            return
        self._enqueue(entry, Packet(_TYPE_MESSAGE, packet_data))

    def _enqueue(self, entry: _Entry, packet: Packet) -> None:
        channel = entry.ws
        session = entry.session
        if channel is not None:
            if not channel.finished:
                self._push(channel, [encode_ws(packet, session.traits.version, channel.b64)])
                self._mark(channel)
                if (channel.size + channel.taken > self._max_send
                        or len(channel.frames) > self._max_packets):
                    self._overflow(entry)
            return
        if entry.poll is not None:
            self._release_poll(entry, [*session.take_outbox(), packet])
            return
        session.queue(packet)
        if session.outbox_size > self._max_send or len(session.outbox) > self._max_packets:
            self._overflow(entry)

    @staticmethod
    def _push(channel: Channel, frames: list[str | bytes]) -> None:
        channel.frames += frames
        channel.size += sum(map(len, frames))

    def _overflow(self, entry: _Entry) -> None:
        """More is queued for the client than the bound allows: it is not reading."""
        self._close(entry, _REASON_SEND_BUFFER_FULL,
                    f"over {self._max_send} bytes or {self._max_packets} packets queued", None)

    def _mark(self, channel: Channel) -> None:
        if not channel.queued:
            channel.queued = True
            self._ready.append(channel)

    # ------------------------------------------------------------------ closing
    def close(self, sid: str, now: float,
              reason: DisconnectReason = _REASON_SERVER_DISCONNECT) -> None:
        """Close a session from the server side (no-op when it is already gone)."""
        entry = self._entries.get(sid)
        if entry is not None and entry.session.state is not _STATE_CLOSING:
            self._close(entry, reason, None, now)

    def shutdown(self, now: float, code: int = CLOSE_NORMAL) -> None:
        """Close every session (``server disconnect``).

        Args:
            now: the current time.
            code: the close code for WebSockets (1001 "going away" when the process exits).
        """
        for entry in list(self._entries.values()):
            state = entry.session.state
            if state is _STATE_CONNECTING or state is _STATE_CLOSING:
                self._forget(entry.session)
            else:
                self._close(entry, _REASON_SERVER_DISCONNECT, None, now, code=code)

    def _close(self, entry: _Entry, reason: DisconnectReason, detail: str | None,
               now: float | None, *, code: int = CLOSE_NORMAL) -> None:
        """End a session; ``now`` may be ``None`` unless the server closes it (it may drain)."""
        session = entry.session
        if session.state is _STATE_CLOSING or session.state is _STATE_CLOSED:
            return
        server_side = reason is _REASON_SERVER_DISCONNECT
        self._abort_probe(entry)
        channel = entry.ws
        drain = False
        if channel is not None:
            if not channel.finished:
                if reason in _UNRESPONSIVE:  # what waits for it is dropped, not written
                    channel.frames = []
                    channel.size = 0
                    channel.abort = True
                elif server_side:
                    channel.frames.append("1")
                channel.close_code = code
                self._mark(channel)
        elif entry.poll is not None:
            if reason is _REASON_CLIENT_DISCONNECT:
                self._release_poll(entry, [_NOOP])
            elif server_side:
                self._release_poll(entry, [*session.take_outbox(), _CLOSE])
            else:
                self._release_poll(entry, [_CLOSE])
        elif server_side and session.state is not _STATE_CONNECTING:
            session.queue(_CLOSE) if session.outbox else session.queue(_NOOP, _CLOSE)
            drain = True
        elif reason is _REASON_CLIENT_DISCONNECT and now is not None:
            self._remember_client_close(session, now)
        if session.state is not _STATE_CONNECTING:  # the application never saw it
            self._events.append(Disconnect(session.sid, reason, detail))
        if drain:
            assert now is not None
            session.drain(now, self.config.closing_grace_ms / 1000)
            self._arm(session)
        else:
            self._forget(session)

    def _remember_client_close(self, session: Session, now: float) -> None:
        closed = self._client_closed
        if len(closed) >= _CLIENT_CLOSED_MAX:
            # At the bound, keep the newest half of what has not expired (insertion
            # order is deadline order): one pass every _CLIENT_CLOSED_MAX / 2 closes
            # at most, so O(1) a close whatever the rate.
            alive = [item for item in closed.items() if item[1][0] >= now]
            self._client_closed = closed = dict(alive[-(_CLIENT_CLOSED_MAX // 2):])
        closed[session.sid] = (now + CLIENT_CLOSE_GET_GRACE, session.traits)

    def _forget(self, session: Session) -> None:
        session.close()
        self._entries.pop(session.sid, None)

    # ------------------------------------------------------------------ time
    def _arm(self, session: Session) -> None:
        when = session.rearm()
        if when is not None:
            heapq.heappush(self._timers, (when, next(self._pushes), session))

    def _fire(self, entry: _Entry, now: float) -> None:
        session = entry.session
        if session.closing_deadline is not None and session.closing_deadline <= now:
            self._forget(session)
            return
        if session.upgrade_deadline is not None and session.upgrade_deadline <= now:
            self._abort_probe(entry)
        if session.noop_deadline is not None and session.noop_deadline <= now:
            session.poll_released()
            if entry.poll is not None:
                self._release_poll(entry, [_NOOP])
        if (session.pong_deadline is not None and session.pong_deadline <= now) or (
                session.heartbeat_deadline is not None and session.heartbeat_deadline <= now):
            if session.handling_post:
                session.heartbeat_waits(now)  # the answer comes after the POST's
            else:
                self._close(entry, _REASON_PING_TIMEOUT, None, now)
                return
        if session.next_ping is not None and session.next_ping <= now:
            session.ping_sent(now, self._timeout, due=session.next_ping)
            self._enqueue(entry, Packet(_TYPE_PING))

    def _open_session(self, sid: str) -> Session:
        entry = self._entries.get(sid)
        if entry is None or entry.session.state is _STATE_CLOSING:
            raise SessionUnknown(detail=sid)
        return entry.session


def _unknown_sid(sid: str, why: str = "no such session") -> SessionUnknown:
    return SessionUnknown(detail=why, context={"sid": sid})


def _b64(request: Request) -> bool:
    value = request.query.get("b64")
    return value is not None and value not in ("", "0", "false")


def _jsonp(request: Request) -> str | None:
    raw = request.query.get("j")
    if raw is None:
        return None
    return sanitize_jsonp_index(raw) or None
