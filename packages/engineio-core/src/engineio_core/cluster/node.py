"""What a cluster node knows and decides, with no I/O: the part
:class:`~engineio_core.cluster.async_node.AsyncNode` and
:class:`~engineio_core.cluster.sync_node.SyncNode` share.

A node keeps which of its sessions moved to another node (taken over by a
WebSocket upgrade there), which sessions it took over itself, and which of its
held GETs came through which edge; it builds and reads the messages whose
content does not depend on how it waits.

Broadcasts and take-overs: every node serves each broadcast when it reaches it,
so a session moving while a broadcast travels could miss it (served by its new
node before the session arrived, by its first node after it left) or get it
twice (in the queue it moved with, and again from its new node). So a
broadcast carries an id; a node remembers the ids it served lately, hands them
over with a session, and its new node skips those for it; for
:data:`RELAY_WINDOW` seconds after a hand-over, the first node relays to the
session each broadcast it serves, which the new node delivers unless the
session has it.
"""

from __future__ import annotations

import base64
import itertools
import logging
import os
import pickle
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol.engine import SessionSnapshot
from ..protocol.errors import BadRequest, ConfigError
from .ids import new_node_id, owner_of
from .wire import Envelope, Kind, WireError, decode

if TYPE_CHECKING:
    from ..base_server import BaseServer
    from ..protocol.http import Request
    from .bus import Cluster

BroadcastId = tuple[str, int]
"""A broadcast's id: the node that sent it and its call number there."""

__all__ = ["MAX_HOPS", "OWNER_CHECK", "RELAY_WINDOW", "REPLY_TIMEOUT", "TAKE_ATTEMPTS",
           "TAKE_RETRY", "NodeBase"]

logger = logging.getLogger("engineio_core.cluster")

OWNER_CHECK = 1.0
"""Seconds between two checks that a node some call waits on is still there."""

REPLY_TIMEOUT = 5.0
"""Seconds a call that is not a held GET (session dict, count, take-over) waits for its reply."""

TAKE_ATTEMPTS = 25
"""How many times a WebSocket upgrade asks for a session whose owner is busy with it (a
POST, a handler that runs, an upgrade of its own) before the upgrade is refused (the
client stays on polling)."""

TAKE_RETRY = 0.02
"""Seconds between two such attempts."""

MAX_HOPS = 3
"""How many times a request follows a session that moved (taken over) before giving up."""

RELAY_WINDOW = 10.0
"""Seconds after a hand-over during which the session's first node relays the broadcasts it
serves to the session's new node (far longer than a bus takes to deliver one)."""

RECENT_BROADCASTS = 4096
"""At most how many broadcast ids a node remembers (those of the last :data:`RELAY_WINDOW`
seconds): what a session it hands over already has."""

REPLIES = frozenset({Kind.RESPONSE, Kind.MOVED, Kind.TAKEN, Kind.DATA})
"""The kinds that answer a call (``COUNTED`` answers are collected apart)."""


def as_cluster(option: Cluster | str) -> Cluster:
    """The ``cluster=`` option as a :class:`Cluster`: a string is a Redis URL.

    Raises:
        ConfigError: ``option`` is neither (e.g. a dict from a settings file).
    """
    if isinstance(option, str):
        from .redis import RedisCluster

        return RedisCluster(option)
    if not (callable(getattr(option, "describe", None))
            and any(callable(getattr(option, name, None)) for name in ("async_bus", "sync_bus"))):
        raise ConfigError(f"cluster must be a Redis URL or a Cluster (e.g. RedisCluster(url)), "
                          f"got {option!r}")
    return option


class OwnerGone(Exception):
    """The node a call was for is not on the bus (any more)."""


class Here(Exception):
    """The session a request was forwarded for moved to this very node."""


class NodeBase:
    """The state and the decisions of a node (see the module docstring)."""

    def __init__(self, cluster: Cluster | str) -> None:
        self.cluster = as_cluster(cluster)
        self.id = new_node_id()
        self._ids = itertools.count(1)
        self._moved: dict[str, str] = {}  # sid -> the node that took the session over
        self._adopted: set[str] = set()  # sessions this node took over from another
        self._held_from: dict[str, str] = {}  # sid -> the edge whose GET is held here
        self.upgrades = "take-over"  # the server's cluster_upgrades
        # Broadcasts across take-overs (see the module docstring):
        self._relays: dict[str, tuple[str, float]] = {}  # sid -> (node it moves to, since)
        self._has: dict[str, tuple[float, set[BroadcastId]]] = {}  # adopted sid -> (since, ids)
        self._recent: deque[tuple[float, BroadcastId]] = deque(maxlen=RECENT_BROADCASTS)

    def name_sessions(self, options: dict[str, Any]) -> None:
        """Make the server's options give its sessions ids that name this node.

        Raises:
            ConfigError: ``options`` has a ``sid_generator`` of its own.
        """
        if options.get("sid_generator") is not None:
            raise ConfigError("sid_generator cannot be combined with cluster: a cluster's "
                              "session ids name the node that holds them")
        options["sid_generator"] = self.generate_sid

    def generate_sid(self, _request: Request) -> str:
        """A session id that names this node (see :mod:`engineio_core.cluster.ids`)."""
        return self.id + base64.urlsafe_b64encode(os.urandom(12)).decode()

    def owner(self, sid: str) -> str | None:
        """The node to ask about ``sid``, or ``None`` when it is this one's."""
        owner = self._moved.get(sid) or owner_of(sid)
        return None if owner == self.id else owner

    def set_upgrades(self, policy: str, choices: tuple[str, ...]) -> None:
        """Take the server's ``cluster_upgrades`` option (one of ``choices``).

        Raises:
            ConfigError: not one of them.
        """
        if policy not in choices:
            raise ConfigError(f"cluster_upgrades must be one of {', '.join(map(repr, choices))}, "
                              f"got {policy!r}")
        self.upgrades = policy

    def _refuse_upgrade(self, sid: str) -> None:
        """An upgrade of another node's ``sid`` reached this node.

        Raises:
            BadRequest: the server's ``cluster_upgrades`` is ``"refuse"`` (answered
                400; the client stays on polling).
        """
        if self.upgrades == "refuse":
            raise BadRequest(detail=f"the upgrade of session {sid} reached node {self.id}, "
                                    "not the session's, and cluster_upgrades is 'refuse'")

    def _joined_as(self) -> None:
        logger.info("node %s joined the cluster on %s", self.id, self.cluster.describe())

    # ------------------------------------------------------------------ messages
    def _message(self, kind: Kind, data: str | bytes, sid: str | None = None,
                 call: int = 0) -> Envelope:
        """An envelope carrying ``data`` (SEND, BROADCAST, a relayed WebSocket's frame)."""
        head: dict[str, Any] = {"binary": isinstance(data, bytes)}
        if sid is not None:
            head["sid"] = sid
        return Envelope(kind, self.id, call, head,
                        data if isinstance(data, bytes) else data.encode())

    def _broadcast(self, data: str | bytes) -> Envelope:
        """A BROADCAST envelope, with an id of its own (its call number)."""
        return self._message(Kind.BROADCAST, data, call=next(self._ids))

    @staticmethod
    def _data(envelope: Envelope) -> str | bytes:
        """The data an envelope of :meth:`_message` carries."""
        body = envelope.body
        return body if envelope.head.get("binary") else body.decode()

    @staticmethod
    def _sid(envelope: Envelope) -> str:
        return str(envelope.head.get("sid", ""))

    def _read(self, data: bytes) -> Envelope | None:
        """Decode a message from the bus; ``None`` (logged) if it is not one of ours."""
        try:
            return decode(data)
        except WireError as exc:
            logger.warning("dropped a message that is not a cluster message: %s", exc)
            return None

    def _not_here(self, sid: str) -> tuple[Kind, dict[str, Any]]:
        """The answer to a call about a session this node does not hold: where it
        moved, or that it is unknown (``kind`` is used when it is unknown)."""
        moved = self._moved.get(sid)
        return (Kind.MOVED, {"node": moved}) if moved else (Kind.DATA, {"unknown": True})

    def _follow(self, sid: str, answer: Envelope) -> str | None:
        """A MOVED answer: the node to ask next (``None``: it moved here)."""
        owner = str(answer.head["node"])
        if owner == self.id:
            self._moved.pop(sid, None)
            return None
        self._moved[sid] = owner
        return owner

    # ------------------------------------------------------------------ take-over
    def _handing(self, sid: str, to: str) -> None:
        """Node ``to`` asks for ``sid``: from now on, a broadcast this node serves
        once the session has left is relayed to it."""
        now = time.monotonic()
        self._prune(now)
        self._relays[sid] = (to, now)

    def _not_handed(self, sid: str) -> None:
        """The hand-over of ``sid`` did not happen: it stays (or was not) here."""
        self._relays.pop(sid, None)

    def _handed(self, sid: str, to: str, snapshot: SessionSnapshot) -> bytes:
        """This node handed ``sid`` over to node ``to``: remember where it went; the
        snapshot to send, its deadlines made relative (clocks differ), with the ids
        of the broadcasts this node served lately (the session has those)."""
        self._moved[sid] = to
        self._adopted.discard(sid)
        shifted = SessionSnapshot(snapshot.session.shifted(-snapshot.taken_at), 0.0)
        recent = list(self._recent)  # one step: a sync node's threads append meanwhile
        return pickle.dumps((shifted, [served for _, served in recent]))

    def _taken(self, sid: str, body: bytes) -> SessionSnapshot:
        """This node took ``sid`` over: the snapshot it received."""
        snapshot, served = pickle.loads(body)
        now = time.monotonic()
        self._prune(now)
        self._moved.pop(sid, None)
        self._adopted.add(sid)
        self._has[sid] = (now, {(str(node), int(call)) for node, call in served})
        return snapshot  # type: ignore[no-any-return]

    def _serve_broadcast_here(self, server: BaseServer, envelope: Envelope
                              ) -> list[tuple[str, Envelope]]:
        """Queue a broadcast for this node's sessions, but those that have it (run
        under the server's choke point); the relays of it to send: one per session
        that left this node lately (see the module docstring)."""
        now = time.monotonic()
        self._prune(now)
        recent = self._recent  # changed only here, under the choke point
        while recent and now - recent[0][0] > RELAY_WINDOW:
            recent.popleft()
        served = (envelope.sender, envelope.call)
        recent.append((now, served))
        data = self._data(envelope)
        server._send_all(data, self._lacks(served) if self._has else None)
        if not self._relays:
            return []
        here = server.engine.has_session
        return [(to, Envelope(Kind.SEND, self.id, 0,
                              {**envelope.head, "sid": sid, "of": list(served)}, envelope.body))
                for sid, (to, _) in list(self._relays.items()) if not here(sid)]

    def _lacks(self, served: BroadcastId) -> Callable[[str], bool]:
        """Whether a session lacks broadcast ``served``; marks it as having it."""

        def lacks(sid: str) -> bool:
            entry = self._has.get(sid)
            if entry is None:
                return True
            if served in entry[1]:
                return False
            entry[1].add(served)
            return True

        return lacks

    @staticmethod
    def _relayed(envelope: Envelope) -> BroadcastId | None:
        """The broadcast a SEND relays, if it relays one."""
        served = envelope.head.get("of")
        return None if served is None else (str(served[0]), int(served[1]))

    def _prune(self, now: float) -> None:
        """Forget relays, and what adopted sessions have, once past the window."""
        for sid, (_, since) in list(self._relays.items()):
            if now - since > RELAY_WINDOW:
                self._relays.pop(sid, None)
        for sid, (since, _) in list(self._has.items()):
            if now - since > 2 * RELAY_WINDOW:  # a relay may be late: keep them longer
                self._has.pop(sid, None)

    def _ended(self, sid: str) -> tuple[str, Envelope] | None:
        """A session ended here: if it was taken over, the notice for its first node."""
        self._has.pop(sid, None)
        if sid not in self._adopted:
            return None
        self._adopted.discard(sid)
        first = owner_of(sid)
        if first is None or first == self.id:
            return None
        return first, Envelope(Kind.GONE, self.id, 0, {"sid": sid})

    def _forget_moved(self, envelope: Envelope) -> None:
        """A GONE notice: the node a session moved to says it has ended."""
        sid = self._sid(envelope)
        if self._moved.get(sid) == envelope.sender:
            del self._moved[sid]
            self._relays.pop(sid, None)
