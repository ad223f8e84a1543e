"""A cluster node for :class:`~engineio_core.Server` (threads, eventlet, gevent).

The same roles and messages as :class:`~engineio_core.cluster.async_node.AsyncNode`
(read its docstring), with blocking calls: a call waits on a backend event, and
checks every :data:`~engineio_core.cluster.node.OWNER_CHECK` seconds that the
node it waits on is still there; what the bus brings is served in tasks of the
server's backend.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from ..base_server import HELD_POLL_WATCH_DELAY, BodyTooLarge
from ..protocol.engine import SessionBusy
from ..protocol.errors import ClusterUnavailable, ProtocolError, SessionUnknown
from .bus import BusUnavailable, Cluster
from .ids import new_node_id
from .node import (
    MAX_HOPS,
    OWNER_CHECK,
    REPLIES,
    REPLY_TIMEOUT,
    TAKE_ATTEMPTS,
    TAKE_RETRY,
    Here,
    NodeBase,
    OwnerGone,
)
from .wire import (
    Envelope,
    Kind,
    WireError,
    encode,
    request_from,
    request_head,
    response_from,
    response_head,
)

if TYPE_CHECKING:
    from ..backends.base import Event as BackendEvent
    from ..protocol.http import Request, Response
    from ..server import Server

__all__ = ["SyncNode"]


class _Call:
    """A call waiting for its reply (or for its node to be found gone)."""

    __slots__ = ("answers", "done", "error", "node", "reply")

    def __init__(self, node: str | None, done: BackendEvent) -> None:
        self.node = node
        self.done = done
        self.reply: Envelope | None = None
        self.error: Exception | None = None
        self.answers: list[Envelope] = []  # COUNTED answers


def _given_body(body: bytes, too_large: bool) -> Callable[[int], bytes]:
    """``read_body`` for a body read already (by an edge, or by this node as one)."""

    def read_body(limit: int) -> bytes:
        if too_large or len(body) > limit:
            raise BodyTooLarge(limit)
        return body

    return read_body


class SyncNode(NodeBase):
    """This process's place in a cluster, for ``Server``."""

    def __init__(self, server: Server, cluster: Cluster | str) -> None:
        super().__init__(cluster)
        self.server = server
        self._backend = server.backend
        self._bus = self.cluster.sync_bus(server.backend)
        self._joined = False
        self._join_lock = server.backend.lock()
        self._calls: dict[int, _Call] = {}
        self._drops: dict[tuple[str, int], BackendEvent] = {}  # requests served for an edge
        self._arriving: dict[str, BackendEvent] = {}  # sessions being taken over

    # ------------------------------------------------------------------ lifecycle
    def join(self) -> None:
        """Join the bus (once; every request waits for it).

        Raises:
            BusUnavailable: the bus cannot be reached (the message names it).
        """
        if self._joined:
            return
        with self._join_lock:
            self._join_once()

    def _join_once(self) -> None:
        if self._joined:
            return  # another request joined while this one waited for the lock
        while not self._bus.join(self.id, self._on_message):
            self.id = new_node_id()  # taken by a live node: draw again
        self._joined = True
        self._joined_as()

    def leave(self) -> None:
        """Leave the bus: this node's sessions become unknown to the others."""
        if self._joined:
            self._joined = False
            self._bus.leave()

    # ------------------------------------------------------------------ edge
    def route_http(self, request: Request, read_body: Callable[[int], bytes],
                   disconnected: Callable[[], bool] | None) -> Response | None:
        """Serve a polling request for a session this server does not hold by
        forwarding it to its owner; ``None`` when the session would be this node's."""
        sid = request.query.get("sid", "")
        owner = self.owner(sid)
        if owner is None:
            return None
        head = request_head(request)
        body = b""
        if request.method == "POST":
            try:
                body = read_body(self.server.engine.config.max_http_buffer_size)
            except BodyTooLarge:
                head["too_large"] = True  # the owner answers 413 as it would itself
        try:
            reply = self._forward(sid, owner, head, body, disconnected)
        except Here:
            if not self.server.has_session(sid):
                return self._refuse(request, SessionUnknown(detail=sid))
            return self.server._handle_http_here(
                request, _given_body(body, bool(head.get("too_large"))), disconnected)
        except OwnerGone as gone:
            return self._refuse(request, SessionUnknown(
                detail=f"its node {gone} is not in the cluster"))
        except BusUnavailable as exc:
            return self._refuse(request, ClusterUnavailable(detail=str(exc)))
        try:
            return response_from(reply.head, reply.body)
        except WireError as exc:
            return self._refuse(request, ClusterUnavailable(detail=str(exc)))

    def _refuse(self, request: Request, error: ProtocolError) -> Response:
        return self.server._refuse(request, error)

    def _forward(self, sid: str, owner: str, head: dict[str, Any], body: bytes,
                 disconnected: Callable[[], bool] | None) -> Envelope:
        watch = disconnected if head["method"] == "GET" else None
        for _ in range(MAX_HOPS):
            call = self._new_call(owner)
            try:
                self._publish(owner, Envelope(Kind.REQUEST, self.id, call[0], head, body))
                answer = self._wait(call, None, watch)
            finally:
                self._calls.pop(call[0], None)
            if answer.kind is not Kind.MOVED:
                return answer
            follow = self._follow(sid, answer)
            if follow is None:  # it moved here, while this request was on its way
                self.arrived(sid)
                raise Here
            owner = follow
        raise OwnerGone(owner)

    def before_get(self, sid: str, via: str) -> None:
        """See :meth:`AsyncNode.before_get`."""
        edge = self._held_from.get(sid)
        if edge is None or edge == via or not self.server.has_session(sid):
            return
        try:
            gone = not self._bus.alive(edge)
        except BusUnavailable:
            return
        if gone and self._held_from.get(sid) == edge:
            del self._held_from[sid]
            self.server._release_poll(sid)

    def arrived(self, sid: str) -> None:
        """Wait while this node is taking ``sid`` over."""
        arriving = self._arriving.get(sid)
        if arriving is not None:
            arriving.wait(REPLY_TIMEOUT)

    def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to another node's session (see ``AsyncNode.send``)."""
        self._to_owner(sid, self._message(Kind.SEND, data, sid))

    def broadcast(self, data: str | bytes) -> None:
        """Send ``data`` to each session of this node, and have every other node
        send it to each of its own."""
        envelope = self._broadcast(data)
        self._publish(None, envelope)
        self._serve_here(envelope)

    def _serve_here(self, envelope: Envelope) -> None:
        """Serve a broadcast here, relay it to sessions that just left (see
        :meth:`AsyncNode._serve_here`)."""
        for to, relay in self.server._run(self._serve_broadcast_here, self.server, envelope):
            self._tell(to, relay)

    def close(self, sid: str) -> None:
        """Close another node's session."""
        self._to_owner(sid, Envelope(Kind.CLOSE, self.id, 0, {"sid": sid}))

    def get_data(self, sid: str) -> dict[str, Any]:
        """A copy of another node's session dict."""
        data: dict[str, Any] = pickle.loads(self._ask(sid, Kind.GET_DATA, b"").body)
        return data

    def save_data(self, sid: str, data: dict[str, Any]) -> None:
        """Replace another node's session dict."""
        self._ask(sid, Kind.SAVE_DATA, pickle.dumps(data))

    def count(self) -> int:
        """How many sessions the nodes of the cluster hold, all together."""
        call = self._new_call(None)
        try:
            reached = self._publish(None, Envelope(Kind.COUNT, self.id, call[0]))
            until = self._backend.monotonic() + REPLY_TIMEOUT
            entry = call[1]
            while len(entry.answers) < reached:
                entry.done.clear()
                if len(entry.answers) >= reached:
                    break  # answered between the check and the clear
                left = until - self._backend.monotonic()
                if left <= 0 or not entry.done.wait(left):
                    break  # a node that left meanwhile: its sessions are gone too
            return sum(int(answer.head["n"]) for answer in entry.answers)
        finally:
            self._calls.pop(call[0], None)

    def take_over(self, sid: str) -> bool:
        """See :meth:`AsyncNode.take_over` (and raises ``BadRequest`` when the server's
        ``cluster_upgrades`` is ``"refuse"``)."""
        if self.owner(sid) is not None:
            self._refuse_upgrade(sid)
        arriving = self._arriving[sid] = self._backend.event()
        try:
            return self._take_over(sid)
        finally:
            del self._arriving[sid]
            arriving.set()

    def _take_over(self, sid: str) -> bool:
        owner = self.owner(sid)
        attempts = 0
        while owner is not None:
            if attempts == TAKE_ATTEMPTS:
                return False
            attempts += 1
            call = self._new_call(owner)
            try:
                self._publish(owner, Envelope(Kind.TAKE, self.id, call[0], {"sid": sid}))
                answer = self._wait(call, REPLY_TIMEOUT)
            except (OwnerGone, TimeoutError):
                return True
            finally:
                self._calls.pop(call[0], None)
            if answer.kind is Kind.MOVED:
                owner = self._follow(sid, answer)
            elif answer.head.get("busy"):
                self._backend.sleep(TAKE_RETRY)
            elif answer.head.get("refused"):
                return False
            else:
                if answer.body:
                    self.server._adopt(self._taken(sid, answer.body))
                return True
        return True

    def ended(self, sid: str) -> None:
        """A session of this server ended (see :meth:`AsyncNode.ended`)."""
        notice = self._ended(sid)
        if notice is not None:
            self._backend.spawn(self._tell, *notice)

    def _to_owner(self, sid: str, envelope: Envelope) -> None:
        owner = self.owner(sid)
        if owner is None:
            raise SessionUnknown(detail=sid)
        try:
            self._publish(owner, envelope)
        except OwnerGone:
            raise SessionUnknown(detail=f"{sid}: its node {owner} is not in the cluster") from None

    def _ask(self, sid: str, kind: Kind, body: bytes) -> Envelope:
        owner = self.owner(sid)
        for _ in range(MAX_HOPS):
            if owner is None:
                break
            call = self._new_call(owner)
            try:
                self._publish(owner, Envelope(kind, self.id, call[0], {"sid": sid}, body))
                answer = self._wait(call, REPLY_TIMEOUT)
            except (OwnerGone, TimeoutError):
                break
            finally:
                self._calls.pop(call[0], None)
            if answer.kind is Kind.MOVED:
                owner = self._follow(sid, answer)
                continue
            if answer.head.get("unknown"):
                break
            return answer
        raise SessionUnknown(detail=sid)

    # ------------------------------------------------------------------ calls
    def _new_call(self, node: str | None) -> tuple[int, _Call]:
        number = next(self._ids)
        entry = self._calls[number] = _Call(node, self._backend.event())
        return number, entry

    def _wait(self, call: tuple[int, _Call], timeout: float | None,
              disconnected: Callable[[], bool] | None = None) -> Envelope:
        """The reply of a call: checks its node every :data:`OWNER_CHECK` seconds,
        and (a held GET) its client every ``HELD_POLL_WATCH_DELAY``, telling the
        owner once it went away.

        Raises:
            OwnerGone: the node is gone. BusUnavailable: the bus is.
            TimeoutError: no reply within ``timeout``.
        """
        number, entry = call
        assert entry.node is not None
        monotonic = self._backend.monotonic
        started = last_check = monotonic()
        step = HELD_POLL_WATCH_DELAY if disconnected is not None else OWNER_CHECK
        dropped = False
        while not entry.done.wait(step):
            now = monotonic()
            if timeout is not None and now - started >= timeout:
                raise TimeoutError
            if disconnected is not None and not dropped and disconnected():
                dropped = True
                self._tell(entry.node, Envelope(Kind.DROPPED, self.id, number))
            if now - last_check >= OWNER_CHECK:
                last_check = now
                if not self._bus.alive(entry.node):
                    raise OwnerGone(entry.node)
        if entry.error is not None:
            raise entry.error
        assert entry.reply is not None
        return entry.reply

    def _publish(self, node: str | None, envelope: Envelope) -> int:
        reached = self._bus.publish(node, encode(envelope))
        if node is not None and not reached:
            raise OwnerGone(node)
        return reached

    def _tell(self, node: str, envelope: Envelope) -> None:
        with suppress(BusUnavailable):
            self._bus.publish(node, encode(envelope))

    def _reply(self, to: Envelope, kind: Kind, head: dict[str, Any] | None = None,
               body: bytes = b"") -> None:
        self._tell(to.sender, Envelope(kind, self.id, to.call, head or {}, body))

    # ------------------------------------------------------------------ owner
    def _on_message(self, data: bytes) -> None:
        """Everything the bus brings this node (in order; never blocks)."""
        envelope = self._read(data)
        if envelope is None:
            return
        kind = envelope.kind
        if kind is Kind.COUNTED or kind in REPLIES:
            entry = self._calls.get(envelope.call)
            if entry is not None:
                if kind is Kind.COUNTED:
                    entry.answers.append(envelope)
                elif entry.reply is None:
                    entry.reply = envelope
                entry.done.set()
            return
        if kind is Kind.DROPPED:
            drop = self._drops.get((envelope.sender, envelope.call))
            if drop is not None:
                drop.set()
            return
        if kind is Kind.REQUEST:
            self._drops[(envelope.sender, envelope.call)] = self._backend.event()
        handler = _HANDLERS.get(kind)
        if handler is not None:
            self._backend.spawn(handler, self, envelope)

    def _serve_request(self, envelope: Envelope) -> None:
        key = (envelope.sender, envelope.call)
        try:
            head = envelope.head
            sid = str(head.get("query", {}).get("sid", ""))
            self.arrived(sid)
            if not self.server.has_session(sid) and (moved := self._moved.get(sid)):
                self._reply(envelope, Kind.MOVED, {"node": moved})
                return
            try:
                request = request_from(head, b"")
            except WireError:
                return
            get = request.method == "GET"
            if get:
                self.before_get(sid, envelope.sender)
                self._held_from[sid] = envelope.sender
            try:
                response = self.server._handle_http_here(
                    request, _given_body(envelope.body, bool(head.get("too_large"))),
                    self._drops[key].is_set)
            finally:
                if get and self._held_from.get(sid) == envelope.sender:
                    del self._held_from[sid]
            self._reply(envelope, Kind.RESPONSE, response_head(response), response.body)
        finally:
            self._drops.pop(key, None)

    def _serve_send(self, envelope: Envelope) -> None:
        sid = self._sid(envelope)
        self.arrived(sid)
        relayed = self._relayed(envelope)
        if relayed is not None and not self.server._run(self._lacks(relayed), sid):
            return  # a relayed broadcast this session has already
        with suppress(SessionUnknown):
            self.server.send(sid, self._data(envelope))

    def _serve_broadcast(self, envelope: Envelope) -> None:
        if envelope.sender != self.id:  # this node sent it to its own sessions already
            self._serve_here(envelope)

    def _serve_close(self, envelope: Envelope) -> None:
        sid = self._sid(envelope)
        self.arrived(sid)
        with suppress(SessionUnknown):
            self.server.disconnect(sid)

    def _serve_data(self, envelope: Envelope) -> None:
        sid = self._sid(envelope)
        self.arrived(sid)
        server = self.server
        if not server.has_session(sid):
            self._reply(envelope, *self._not_here(sid))
        elif envelope.kind is Kind.SAVE_DATA:
            server.save_session(sid, pickle.loads(envelope.body))
            self._reply(envelope, Kind.DATA)
        else:
            self._reply(envelope, Kind.DATA, body=pickle.dumps(server.get_session(sid)))

    def _serve_take(self, envelope: Envelope) -> None:
        sid = self._sid(envelope)
        server = self.server
        if not server.has_session(sid):
            kind, head = self._not_here(sid)
            self._reply(envelope, Kind.TAKEN if kind is Kind.DATA else kind, head)
            return
        self._handing(sid, envelope.sender)
        try:
            snapshot = server._hand_over(sid)
        except SessionBusy:
            self._not_handed(sid)
            self._reply(envelope, Kind.TAKEN, {"busy": True})
            return
        except ValueError:
            self._not_handed(sid)
            self._reply(envelope, Kind.TAKEN, {"refused": True})
            return
        except SessionUnknown:
            self._not_handed(sid)
            self._reply(envelope, Kind.TAKEN, {"unknown": True})
            return
        self._reply(envelope, Kind.TAKEN, body=self._handed(sid, envelope.sender, snapshot))

    def _serve_gone(self, envelope: Envelope) -> None:
        self._forget_moved(envelope)

    def _serve_count(self, envelope: Envelope) -> None:
        self._reply(envelope, Kind.COUNTED, {"n": self.server.session_count()})


_HANDLERS: dict[Kind, Callable[[SyncNode, Envelope], None]] = {
    Kind.REQUEST: SyncNode._serve_request,
    Kind.SEND: SyncNode._serve_send,
    Kind.CLOSE: SyncNode._serve_close,
    Kind.BROADCAST: SyncNode._serve_broadcast,
    Kind.GET_DATA: SyncNode._serve_data,
    Kind.SAVE_DATA: SyncNode._serve_data,
    Kind.COUNT: SyncNode._serve_count,
    Kind.TAKE: SyncNode._serve_take,
    Kind.GONE: SyncNode._serve_gone,
}
