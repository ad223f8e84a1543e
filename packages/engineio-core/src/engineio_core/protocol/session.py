"""One session's state: its state machine, outbox and deadlines, as plain data.

The state machine is :data:`TRANSITIONS`, a table with a row for every
:class:`State` and a cell for every :class:`Input`: the next state, or
``None`` where the input is refused (:class:`IllegalTransition`), so an
illegal sequence fails by construction instead of corrupting the session.
The engine changes a session only through its intent methods
(:meth:`Session.accept`, :meth:`Session.attach_probe`,
:meth:`Session.complete_upgrade`...), each of which moves the state and
updates the fields bound to it together.

A session holds no connection, request or runtime object: the channels that
serve it belong to the engine, so a session pickles as it is (see
:meth:`~engineio_core.protocol.engine.Engine.export_session`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal

from .errors import EngineIOError

if TYPE_CHECKING:
    from .http import Request, Response
    from .packets import Packet
    from .versions import VersionTraits

__all__ = [
    "TRANSITIONS", "UPGRADE_NOOP_DELAY", "Channel", "IllegalTransition", "Input", "Session",
    "State", "TransportName", "transition_table_markdown",
]

TransportName = Literal["polling", "websocket"]
"""The two transports of Engine.IO."""

UPGRADE_NOOP_DELAY = 0.1
"""Seconds a GET that arrives mid-upgrade waits before it is released with a noop."""


class State(Enum):
    """Where a session is in its life."""

    CONNECTING = "connecting"  # handshake seen, the application has not accepted yet
    OPEN = "open"  # serving on its transport
    PROBING = "probing"  # a probe WebSocket is attached, its "2probe" has not come yet
    UPGRADING = "upgrading"  # probe answered "3probe", waiting for the upgrade packet
    CLOSING = "closing"  # server-closed polling session waiting for its last GET
    CLOSED = "closed"

    # Members are singletons compared by identity: hash them so too (Enum's own
    # __hash__ is a Python call, twice per move() in TRANSITIONS).
    __hash__ = object.__hash__


class Input(Enum):
    """What moves a session between states."""

    ACCEPT = "accept"  # the application accepted the handshake
    ATTACH_PROBE = "attach probe"  # a WebSocket arrived to upgrade a polling session
    PROBE = "probe"  # "2probe" on that WebSocket, answered "3probe"
    UPGRADE = "upgrade"  # "5" on that WebSocket: it becomes the transport
    ABORT_PROBE = "abort probe"  # the probe closed, misbehaved or timed out
    DRAIN = "drain"  # closed by the server with no channel: wait for the last GET
    CLOSE = "close"  # gone, for any reason

    # Members are singletons compared by identity: hash them so too (Enum's own
    # __hash__ is a Python call, twice per move() in TRANSITIONS).
    __hash__ = object.__hash__


# The enum members used below, as module globals (cheaper to look up: see engine.py).
_INPUT_ABORT_PROBE: Final = Input.ABORT_PROBE
_INPUT_ACCEPT: Final = Input.ACCEPT
_INPUT_ATTACH_PROBE: Final = Input.ATTACH_PROBE
_INPUT_CLOSE: Final = Input.CLOSE
_INPUT_DRAIN: Final = Input.DRAIN
_INPUT_PROBE: Final = Input.PROBE
_INPUT_UPGRADE: Final = Input.UPGRADE
_STATE_CLOSED: Final = State.CLOSED
_STATE_OPEN: Final = State.OPEN
_STATE_PROBING: Final = State.PROBING
_STATE_UPGRADING: Final = State.UPGRADING

TRANSITIONS: dict[State, dict[Input, State | None]] = {
    State.CONNECTING: {
        Input.ACCEPT: State.OPEN, Input.ATTACH_PROBE: None, Input.PROBE: None,
        Input.UPGRADE: None, Input.ABORT_PROBE: None,
        Input.DRAIN: None, Input.CLOSE: State.CLOSED,
    },
    State.OPEN: {
        Input.ACCEPT: None, Input.ATTACH_PROBE: State.PROBING, Input.PROBE: None,
        Input.UPGRADE: None, Input.ABORT_PROBE: None,
        Input.DRAIN: State.CLOSING, Input.CLOSE: State.CLOSED,
    },
    State.PROBING: {
        Input.ACCEPT: None, Input.ATTACH_PROBE: None, Input.PROBE: State.UPGRADING,
        Input.UPGRADE: None, Input.ABORT_PROBE: State.OPEN,
        Input.DRAIN: None, Input.CLOSE: State.CLOSED,
    },
    State.UPGRADING: {
        Input.ACCEPT: None, Input.ATTACH_PROBE: None, Input.PROBE: None,
        Input.UPGRADE: State.OPEN, Input.ABORT_PROBE: State.OPEN,
        Input.DRAIN: None, Input.CLOSE: State.CLOSED,
    },
    State.CLOSING: {
        Input.ACCEPT: None, Input.ATTACH_PROBE: None, Input.PROBE: None,
        Input.UPGRADE: None, Input.ABORT_PROBE: None,
        Input.DRAIN: None, Input.CLOSE: State.CLOSED,
    },
    State.CLOSED: {
        Input.ACCEPT: None, Input.ATTACH_PROBE: None, Input.PROBE: None,
        Input.UPGRADE: None, Input.ABORT_PROBE: None,
        Input.DRAIN: None, Input.CLOSE: None,
    },
}
"""The whole state machine: ``TRANSITIONS[state][input]`` is the next state, ``None`` = refused.

Nothing else moves a session. The transport is ``polling`` in PROBING and
UPGRADING and becomes ``websocket`` with UPGRADE (or from the start, for a
WebSocket-only session); CLOSING is reached only by polling sessions.
"""


def transition_table_markdown() -> str:
    """:data:`TRANSITIONS` as a Markdown table (``docs/architecture.md`` embeds it)."""
    inputs = list(Input)
    lines = [
        "| state \\ input | " + " | ".join(i.value for i in inputs) + " |",
        "|---" * (len(inputs) + 1) + "|",
    ]
    for state, row in TRANSITIONS.items():
        cells = [_cell(row[i]) for i in inputs]
        lines.append(f"| **{state.value.upper()}** | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(target: State | None) -> str:
    return "·" if target is None else target.value.upper()


class IllegalTransition(EngineIOError):
    """An input the transition table refuses in the current state."""


class Channel:
    """A live connection the runtime serves for the engine: a held GET or a WebSocket.

    The engine fills it; the runtime serves it when the engine lists it in
    ``take_ready()``: a WebSocket's frames come from ``Engine.data_to_send``.
    A runtime keeps its own objects for a channel in its own map (channels
    hash by identity).

    Attributes:
        websocket: a WebSocket (``True``) or a held long-poll GET (``False``).
        sid: the session it serves.
        request: the request that opened it.
        close_code: once set, close the WebSocket with this code after its last frames.
        abort: with ``close_code``: the peer stopped reading or answering; drop the
            connection at once rather than wait to write a close frame.
        size: how much the frames hold (text in characters, binary in bytes).
        taken: how much the last :meth:`Engine.data_to_send` handed over: the
            runtime is writing it until it asks for frames again.
        response: the answer of a held GET, once there is one.
        b64: v3 client that cannot read binary frames.
    """

    __slots__ = ("abort", "b64", "close_code", "frames", "queued", "request", "response", "sid",
                 "size", "taken", "websocket")

    def __init__(self, sid: str, request: Request, *, websocket: bool, b64: bool = False) -> None:
        self.websocket = websocket
        self.sid = sid
        self.request = request
        self.frames: list[str | bytes] = []  # the engine's; runtimes call data_to_send()
        self.close_code: int | None = None
        self.abort = False
        self.size = 0
        self.taken = 0
        self.response: Response | None = None
        self.b64 = b64
        self.queued = False

    @property
    def finished(self) -> bool:
        """Nothing more will come on this channel."""
        return self.close_code is not None or self.response is not None

    def __repr__(self) -> str:
        kind = "websocket" if self.websocket else "poll"
        return f"<Channel {kind} sid={self.sid!r} finished={self.finished}>"


@dataclass(eq=False, slots=True)
class Session:
    """The protocol state of one session: plain data, changed through intent methods."""

    sid: str
    traits: VersionTraits
    transport: TransportName
    state: State = State.CONNECTING
    b64: bool = False
    outbox: list[Packet] = field(default_factory=list)
    post_in_progress: bool = False
    # deadlines (engine clock, seconds); None = not armed
    next_ping: float | None = None
    pong_deadline: float | None = None
    heartbeat_deadline: float | None = None
    upgrade_deadline: float | None = None
    noop_deadline: float | None = None
    closing_deadline: float | None = None
    armed_at: float | None = None  # the deadline the engine's timer heap holds for us
    data: dict[str, Any] = field(default_factory=dict)
    outbox_size: int = 0  # what the outbox holds (text in characters, binary in bytes)
    # A POST's messages are being handled: its client cannot send its heartbeat
    # answer before that POST is answered, so the heartbeat waits for it.
    handling_post: bool = False
    heartbeat_owed: bool = False  # a heartbeat deadline passed while handling_post

    def move(self, event: Input) -> State:
        """Apply one input to the state machine.

        Raises:
            IllegalTransition: the table refuses ``event`` in the current state.
        """
        target = TRANSITIONS[self.state][event]
        if target is None:
            raise IllegalTransition(
                f"session {self.sid}: {event.value!r} is not allowed in state {self.state.value!r}"
            )
        self.state = target
        return target

    @property
    def live(self) -> bool:
        """Open for traffic: OPEN, PROBING or UPGRADING."""
        state = self.state
        return state is _STATE_OPEN or state is _STATE_PROBING or state is _STATE_UPGRADING

    # ------------------------------------------------------------------ intents
    def accept(self, now: float, interval: float, timeout: float) -> None:
        """The application accepted the session: open it and start its heartbeat."""
        self.move(_INPUT_ACCEPT)
        if self.traits.server_pings:
            self.next_ping = now + interval
        else:
            self.heartbeat_deadline = now + interval + timeout

    def attach_probe(self, deadline: float) -> None:
        """A probe WebSocket arrived; the upgrade must complete by ``deadline``."""
        self.move(_INPUT_ATTACH_PROBE)
        self.upgrade_deadline = deadline

    def answer_probe(self) -> None:
        """The probe sent ``2probe`` (answered ``3probe``)."""
        self.move(_INPUT_PROBE)

    def complete_upgrade(self, b64: bool) -> None:
        """The probe sent ``5``: WebSocket is the transport from now on."""
        self.move(_INPUT_UPGRADE)
        self.transport = "websocket"
        self.upgrade_deadline = None
        self.noop_deadline = None
        self.b64 = b64

    def abort_probe(self) -> None:
        """The probe failed: back to OPEN on polling."""
        self.move(_INPUT_ABORT_PROBE)
        self.upgrade_deadline = None

    def hold_poll(self, now: float) -> bool:
        """A GET is held; mid-upgrade it is released with a noop shortly (returns ``True``)."""
        if self.state is _STATE_UPGRADING:
            self.noop_deadline = now + UPGRADE_NOOP_DELAY
            return True
        return False

    def poll_released(self) -> None:
        """The held GET was answered."""
        self.noop_deadline = None

    def begin_post(self) -> None:
        """A POST was admitted (its body is being read)."""
        self.post_in_progress = True

    def end_post(self) -> None:
        """The admitted POST is over (processed, refused or dropped)."""
        self.post_in_progress = False

    def post_handling(self) -> None:
        """The application handles the messages of a POST (its answer waits for them)."""
        self.handling_post = True

    def post_handled(self, now: float, timeout: float) -> bool:
        """The POST is answered; a heartbeat that fell due meanwhile may come until
        ``now + timeout``. Returns whether one did (a deadline moved)."""
        self.handling_post = False
        if not self.heartbeat_owed:
            return False
        self.heartbeat_owed = False
        if self.traits.server_pings:
            self.pong_deadline = now + timeout
        else:
            self.heartbeat_deadline = now + timeout
        return True

    def heartbeat_waits(self, now: float) -> None:
        """A heartbeat deadline passed while a POST's messages were handled.

        v4: the server pings again at once, so that the client, whose pong waits
        behind that POST, still hears from the server within its own timeout.
        """
        self.heartbeat_owed = True
        self.pong_deadline = self.heartbeat_deadline = None
        if self.traits.server_pings:
            self.next_ping = now

    def pong_received(self, now: float, interval: float) -> None:
        """v4: the client answered our ping; the next one is due after ``interval``."""
        self.pong_deadline = None
        self.next_ping = now + interval

    def ping_received(self, now: float, interval: float, timeout: float) -> None:
        """v3: the client pinged; it must ping again within ``interval + timeout``."""
        self.heartbeat_deadline = now + interval + timeout

    def ping_sent(self, now: float, timeout: float, due: float | None = None) -> None:
        """v4: a ping went out; the pong must come within ``timeout`` of when the ping
        was ``due`` (as when the timer fires on time: the session ends interval +
        timeout after the last pong), but never sooner than ``timeout / 2`` from
        ``now`` (a ping sent late by a busy process still gives the client time)."""
        self.next_ping = None
        start = now if due is None else due
        self.pong_deadline = max(start + timeout, now + timeout / 2)

    def drain(self, now: float, grace: float) -> None:
        """Closed by the server while no channel was attached: wait ``grace`` for the last GET."""
        self.move(_INPUT_DRAIN)
        self.next_ping = self.pong_deadline = self.heartbeat_deadline = None
        self.closing_deadline = now + grace

    def close(self) -> None:
        """The session is gone: no deadline stays armed, its packets and data are released."""
        if self.state is not _STATE_CLOSED:
            self.move(_INPUT_CLOSE)
        self.next_ping = self.pong_deadline = self.heartbeat_deadline = None
        self.upgrade_deadline = self.noop_deadline = self.closing_deadline = None
        self.armed_at = None
        self.outbox = []
        self.outbox_size = 0
        self.data = {}

    def queue(self, *packets: Packet) -> None:
        """Keep packets until a transport can take them."""
        self.outbox += packets
        for packet in packets:
            if packet.data:
                self.outbox_size += len(packet.data)

    def take_outbox(self) -> list[Packet]:
        """The queued packets, removed from the outbox."""
        packets, self.outbox = self.outbox, []
        self.outbox_size = 0
        return packets

    def replace_data(self, data: dict[str, Any]) -> None:
        """Replace the application's dict."""
        self.data = dict(data)

    # ------------------------------------------------------------------ time
    def next_deadline(self) -> float | None:
        """The earliest armed deadline of this session."""
        best: float | None = None
        for when in (self.next_ping, self.pong_deadline, self.heartbeat_deadline,
                     self.upgrade_deadline, self.noop_deadline, self.closing_deadline):
            if when is not None and (best is None or when < best):
                best = when
        return best

    def rearm(self) -> float | None:
        """Record the earliest deadline as armed; returns it when the timer must learn it."""
        when = self.next_deadline()
        if when == self.armed_at:
            return None
        self.armed_at = when
        return when

    def disarm(self) -> None:
        """The armed deadline fired."""
        self.armed_at = None

    def shifted(self, delta: float) -> Session:
        """A copy with every deadline moved by ``delta`` (another engine's clock)."""
        def move(when: float | None) -> float | None:
            return None if when is None else when + delta

        return Session(
            self.sid, self.traits, self.transport, self.state, self.b64, list(self.outbox),
            self.post_in_progress, move(self.next_ping), move(self.pong_deadline),
            move(self.heartbeat_deadline), move(self.upgrade_deadline),
            move(self.noop_deadline), move(self.closing_deadline), None, self.data,
            self.outbox_size, self.handling_post, self.heartbeat_owed,
        )
