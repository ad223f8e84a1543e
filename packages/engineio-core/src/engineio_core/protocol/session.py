"""One session's state: its state machine, outbox, transport binding and deadlines.

The state machine is a transition table; an input that the table does not
allow in the current state raises :class:`IllegalTransition`, so an illegal
sequence fails by construction instead of corrupting the session. A session
holds only plain data (no sockets or tasks): the runtime's objects live in
:class:`Channel` objects the engine hands out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from .errors import EngineIOError

if TYPE_CHECKING:
    from .http import Request, Response
    from .packets import Packet
    from .versions import VersionTraits

__all__ = ["TRANSITIONS", "Channel", "IllegalTransition", "Input", "Session", "State"]


class State(Enum):
    """Where a session is in its life."""

    CONNECTING = "connecting"  # handshake seen, the application has not accepted yet
    OPEN = "open"  # serving on its transport (a probe WebSocket may be attached)
    UPGRADING = "upgrading"  # probe answered, waiting for the upgrade packet
    CLOSING = "closing"  # server-closed polling session waiting for its last GET
    CLOSED = "closed"


class Input(Enum):
    """What moves a session between states."""

    ACCEPT = "accept"
    PROBE = "probe"
    UPGRADE = "upgrade"
    UPGRADE_FAILED = "upgrade failed"
    DRAIN = "drain"
    CLOSE = "close"


TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.CONNECTING, Input.ACCEPT): State.OPEN,
    (State.CONNECTING, Input.CLOSE): State.CLOSED,
    (State.OPEN, Input.PROBE): State.UPGRADING,
    (State.OPEN, Input.DRAIN): State.CLOSING,
    (State.OPEN, Input.CLOSE): State.CLOSED,
    (State.UPGRADING, Input.UPGRADE): State.OPEN,
    (State.UPGRADING, Input.UPGRADE_FAILED): State.OPEN,
    (State.UPGRADING, Input.DRAIN): State.CLOSING,
    (State.UPGRADING, Input.CLOSE): State.CLOSED,
    (State.CLOSING, Input.CLOSE): State.CLOSED,
}
"""The whole state machine: (state, input) -> next state. Nothing else moves a session."""


class IllegalTransition(EngineIOError):
    """An input the transition table does not allow in the current state."""


class Channel:
    """A live connection the runtime serves for the engine: a held GET or a WebSocket.

    The engine fills it; the runtime drains it when the engine lists it in
    ``take_ready()``. ``owner`` belongs to the runtime (a future, a socket
    wrapper...) and is never read by the engine.

    Attributes:
        websocket: a WebSocket (``True``) or a held long-poll GET (``False``).
        sid: the session it serves.
        request: the request that opened it.
        frames: WebSocket frames to write, in order.
        close_code: once set, close the WebSocket with this code after writing ``frames``.
        response: the answer of a held GET, once there is one.
        b64: v3 client that cannot read binary frames.
    """

    __slots__ = ("b64", "close_code", "frames", "owner", "queued", "request", "response",
                 "sid", "websocket")

    def __init__(self, sid: str, request: Request, *, websocket: bool, b64: bool = False) -> None:
        self.websocket = websocket
        self.sid = sid
        self.request = request
        self.frames: list[str | bytes] = []
        self.close_code: int | None = None
        self.response: Response | None = None
        self.b64 = b64
        self.queued = False
        self.owner: Any = None

    @property
    def finished(self) -> bool:
        """Nothing more will come on this channel."""
        return self.close_code is not None or self.response is not None

    def __repr__(self) -> str:
        kind = "websocket" if self.websocket else "poll"
        return f"<Channel {kind} sid={self.sid!r} finished={self.finished}>"


@dataclass(eq=False, slots=True)
class Session:
    """The protocol state of one session."""

    sid: str
    traits: VersionTraits
    request: Request
    transport: str
    state: State = State.CONNECTING
    b64: bool = False
    outbox: list[Packet] = field(default_factory=list)
    poll: Channel | None = None
    post_in_progress: bool = False
    ws: Channel | None = None
    probe: Channel | None = None
    # deadlines (engine clock, seconds); None = not armed
    next_ping: float | None = None
    pong_deadline: float | None = None
    heartbeat_deadline: float | None = None
    upgrade_deadline: float | None = None
    noop_deadline: float | None = None
    closing_deadline: float | None = None
    armed_at: float | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def move(self, event: Input) -> State:
        """Apply one input to the state machine.

        Raises:
            IllegalTransition: the table has no entry for (state, event).
        """
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise IllegalTransition(
                f"session {self.sid}: {event.value!r} is not allowed in state {self.state.value!r}"
            ) from None
        return self.state

    def next_deadline(self) -> float | None:
        """The earliest armed deadline of this session."""
        best: float | None = None
        for when in (self.next_ping, self.pong_deadline, self.heartbeat_deadline,
                     self.upgrade_deadline, self.noop_deadline, self.closing_deadline):
            if when is not None and (best is None or when < best):
                best = when
        return best
