"""A cluster node for :class:`~engineio_core.AsyncServer`.

The node routes what reaches this process for another node's sessions (the
*edge* role) and serves what other nodes route here (the *owner* role):

- a polling request with a foreign ``sid`` is forwarded whole (the neutral
  request and its body) to the owner, whose server answers it exactly as if it
  had reached it (CORS, compression, cookies, v3 payloads, JSONP, errors); the
  edge writes that answer. A GET is held on the owner, so the edge's request
  waits for the owner's outbox; a client that drops it is reported to the owner;
- ``send``, ``disconnect`` and the session dict reach the owner the same way;
- an owner whose node is gone (no subscriber left on the bus) gets its
  requests answered "Session ID unknown" at once; calls waiting on a node are
  failed as soon as a liveness check (every :data:`OWNER_CHECK` seconds, one
  per node, only while calls wait) finds it gone.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from ..base_server import HELD_POLL_WATCH_DELAY, BodyTooLarge
from ..protocol.engine import SessionBusy
from ..protocol.errors import ClusterUnavailable, ProtocolError, SessionUnknown
from ..protocol.http import Request, Response
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
from .pipes import EdgePipe, PipedWebSocket, pipe_websocket
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
    from ..async_server import AsyncServer, AsyncWebSocket

__all__ = ["OWNER_CHECK", "AsyncNode"]

logger = logging.getLogger("engineio_core.cluster")

def _given_body(body: bytes, too_large: bool) -> Callable[[int], Awaitable[bytes]]:
    """``read_body`` for a body read already (by an edge, or by this node as one)."""

    async def read_body(limit: int) -> bytes:
        if too_large or len(body) > limit:
            raise BodyTooLarge(limit)
        return body

    return read_body


class AsyncNode(NodeBase):
    """This process's place in a cluster (created by the server for its ``cluster=``)."""

    def __init__(self, server: AsyncServer, cluster: Cluster | str) -> None:
        super().__init__(cluster)
        self.server = server
        self._bus = self.cluster.async_bus()
        self._joined = False
        self._join_lock: asyncio.Lock | None = None
        # call id -> (the node it waits on, or None, and the reply's future)
        self._calls: dict[int, tuple[str | None, asyncio.Future[Envelope]]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._tallies: dict[int, asyncio.Queue[Envelope]] = {}  # count calls: every answer
        self._drops: dict[tuple[str, int], asyncio.Event] = {}  # requests served for an edge
        self._arriving: dict[str, asyncio.Event] = {}  # sessions being taken over
        self._pipes: dict[int, EdgePipe] = {}  # relayed WebSockets that reached this node
        self._piped: dict[tuple[str, int], PipedWebSocket] = {}  # those this node serves
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle
    async def join(self) -> None:
        """Join the bus (once; every request waits for it).

        Raises:
            BusUnavailable: the bus cannot be reached (the message names it).
        """
        if self._joined:
            return
        if self._join_lock is None:
            self._join_lock = asyncio.Lock()
        async with self._join_lock:
            await self._join_once()

    async def _join_once(self) -> None:
        if self._joined:
            return  # another request joined while this one waited for the lock
        while not await self._bus.join(self.id, self._on_message):
            self.id = new_node_id()  # taken by a live node: draw again
        self._joined = True
        self._joined_as()

    async def leave(self) -> None:
        """Leave the bus: this node's sessions become unknown to the others."""
        if not self._joined:
            return
        self._joined = False
        for task in list(self._tasks):
            task.cancel()
        await self._bus.leave()

    # ------------------------------------------------------------------ edge
    async def route_http(self, request: Request, read_body: Callable[[int], Awaitable[bytes]],
                         disconnected: Callable[[], Awaitable[object]] | None) -> Response | None:
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
                body = await read_body(self.server.engine.config.max_http_buffer_size)
            except BodyTooLarge:
                head["too_large"] = True  # the owner answers 413 as it would itself
        try:
            reply = await self._forward(sid, owner, head, body, disconnected)
        except Here:
            if not self.server.has_session(sid):
                return await self._refuse(request, SessionUnknown(detail=sid))
            return await self.server._handle_http_here(
                request, _given_body(body, bool(head.get("too_large"))), disconnected)
        except OwnerGone as gone:
            return await self._refuse(request, SessionUnknown(
                detail=f"its node {gone} is not in the cluster"))
        except BusUnavailable as exc:
            return await self._refuse(request, ClusterUnavailable(detail=str(exc)))
        try:
            return response_from(reply.head, reply.body)
        except WireError as exc:
            return await self._refuse(request, ClusterUnavailable(detail=str(exc)))

    async def _refuse(self, request: Request, error: ProtocolError) -> Response:
        response = self.server.engine.refuse(request, error)
        await self.server._refused()
        return response

    async def _forward(self, sid: str, owner: str, head: dict[str, Any], body: bytes,
                       disconnected: Callable[[], Awaitable[object]] | None) -> Envelope:
        for _ in range(MAX_HOPS):
            call, reply = self._new_call(owner)
            watch = None
            try:
                await self._publish(owner, Envelope(Kind.REQUEST, self.id, call, head, body))
                if disconnected is not None and head["method"] == "GET":
                    watch = asyncio.ensure_future(self._report_drop(owner, call, disconnected))
                answer = await reply
            except asyncio.CancelledError:
                self._spawn(self._tell(owner, Envelope(Kind.DROPPED, self.id, call)))
                raise
            finally:
                self._calls.pop(call, None)
                if watch is not None:
                    watch.cancel()
            if answer.kind is not Kind.MOVED:
                return answer
            follow = self._follow(sid, answer)
            if follow is None:  # it moved here, while this request was on its way
                await self.arrived(sid)
                raise Here
            owner = follow
        raise OwnerGone(owner)

    async def before_get(self, sid: str, via: str) -> None:
        """A GET of a session held here reached this node through node ``via``: if
        the GET held now came through another node that is gone (killed while it
        relayed it), answer that one with a noop, so that this one, the client's
        proxy sending it again, is not refused as a second GET."""
        edge = self._held_from.get(sid)
        if edge is None or edge == via or not self.server.has_session(sid):
            return
        try:
            gone = not await self._bus.alive(edge)
        except BusUnavailable:
            return
        if gone and self._held_from.get(sid) == edge:
            del self._held_from[sid]
            await self.server._release_poll(sid)

    async def arrived(self, sid: str) -> None:
        """Wait while this node is taking ``sid`` over (a request for it that
        arrives meanwhile is served once it is here)."""
        arriving = self._arriving.get(sid)
        if arriving is not None:
            await arriving.wait()

    async def _report_drop(self, owner: str, call: int,
                           disconnected: Callable[[], Awaitable[object]]) -> None:
        """A held GET: tell its owner once its client went away (watched after a while)."""
        await asyncio.sleep(HELD_POLL_WATCH_DELAY)
        try:
            await disconnected()
        except Exception:
            return  # the adapter cannot tell: the owner's heartbeat will
        await self._tell(owner, Envelope(Kind.DROPPED, self.id, call))

    async def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to another node's session.

        Raises:
            SessionUnknown: the session would be this node's, or its node is gone.
            ClusterUnavailable: the bus cannot be reached.
        """
        await self._to_owner(sid, self._message(Kind.SEND, data, sid))

    async def broadcast(self, data: str | bytes) -> None:
        """Send ``data`` to each session of this node, and have every other node
        send it to each of its own.

        Raises:
            BusUnavailable: the bus cannot be reached.
        """
        envelope = self._broadcast(data)
        await self._publish(None, envelope)
        await self._serve_here(envelope)

    async def _serve_here(self, envelope: Envelope) -> None:
        """Serve a broadcast to this node's sessions, and relay it to those that
        just left (see :mod:`engineio_core.cluster.node`)."""
        relays = await self.server._run(self._serve_broadcast_here, self.server, envelope)
        for to, relay in relays:
            await self._tell(to, relay)

    async def close(self, sid: str) -> None:
        """Close another node's session (see :meth:`send` for the errors)."""
        await self._to_owner(sid, Envelope(Kind.CLOSE, self.id, 0, {"sid": sid}))

    async def get_data(self, sid: str) -> dict[str, Any]:
        """A copy of another node's session dict (see :meth:`send` for the errors)."""
        reply = await self._ask(sid, Kind.GET_DATA, b"")
        data: dict[str, Any] = pickle.loads(reply.body)
        return data

    async def save_data(self, sid: str, data: dict[str, Any]) -> None:
        """Replace another node's session dict (see :meth:`send` for the errors)."""
        await self._ask(sid, Kind.SAVE_DATA, pickle.dumps(data))

    async def count(self) -> int:
        """How many sessions the nodes of the cluster hold, all together.

        Raises:
            ClusterUnavailable: the bus cannot be reached.
        """
        call = next(self._ids)
        answers: asyncio.Queue[Envelope] = asyncio.Queue()
        self._tallies[call] = answers
        counted = 0
        try:
            reached = await self._publish(None, Envelope(Kind.COUNT, self.id, call))
            loop = asyncio.get_running_loop()
            until = loop.time() + REPLY_TIMEOUT
            for _ in range(reached):
                answer = await asyncio.wait_for(answers.get(), max(0.0, until - loop.time()))
                counted += int(answer.head["n"])
        except TimeoutError:
            pass  # a node that left meanwhile: its sessions are gone too
        finally:
            del self._tallies[call]
        return counted

    async def take_over(self, sid: str) -> bool:
        """A WebSocket upgrade of another node's session reached this node: have its
        owner hand the session over, and serve it here.

        Returns ``False`` when the session lives on, elsewhere, on a WebSocket
        of its own (or one upgrading it there): this one is then accepted and
        closed at once, as the owner itself treats a second WebSocket. ``True``
        otherwise: the session is here now, or nowhere (the engine answers
        "unknown": the owner is gone, or does not hold it).

        Raises:
            BusUnavailable: the bus cannot be reached.
        """
        arriving = self._arriving[sid] = asyncio.Event()
        try:
            return await self._take_over(sid)
        finally:
            del self._arriving[sid]
            arriving.set()

    async def websocket_elsewhere(self, sid: str, request: Request, ws: AsyncWebSocket) -> bool:
        """A WebSocket for ``sid``, which this server does not hold, as the server's
        ``cluster_upgrades`` says: ``True`` once it was served (relayed to the session's
        node, or closed: the session is on a WebSocket there); ``False`` to serve it
        here (taken over, or the engine answers "unknown").

        Raises:
            BusUnavailable: the bus cannot be reached.
            BadRequest: ``cluster_upgrades`` is ``"refuse"``.
        """
        owner = self.owner(sid)
        if owner is None:
            return False
        self._refuse_upgrade(sid)
        if self.upgrades == "relay":
            refusal = await self.pipe(owner, request, ws)
            if refusal is not None:
                await ws.refuse(refusal)
                await self.server._refused()
            return True
        if await self.take_over(sid):
            return False
        # On a WebSocket elsewhere: this one is accepted and closed at once, as the
        # owner's engine treats a second WebSocket.
        with suppress(Exception):
            await ws.accept()
            await ws.close(1000)
        return True

    async def _take_over(self, sid: str) -> bool:
        owner = self.owner(sid)
        attempts = 0
        while owner is not None:
            if attempts == TAKE_ATTEMPTS:
                return False  # still upgrading (or reading a POST) there: it stays there
            attempts += 1
            call, reply = self._new_call(owner)
            try:
                await self._publish(owner, Envelope(Kind.TAKE, self.id, call, {"sid": sid}))
                answer = await asyncio.wait_for(reply, REPLY_TIMEOUT)
            except (OwnerGone, TimeoutError):
                return True
            finally:
                self._calls.pop(call, None)
            if answer.kind is Kind.MOVED:
                owner = self._follow(sid, answer)
            elif answer.head.get("busy"):
                await asyncio.sleep(TAKE_RETRY)
            elif answer.head.get("refused"):
                return False
            else:
                if answer.body:
                    await self.server._adopt(self._taken(sid, answer.body))
                return True
        return True

    def ended(self, sid: str) -> None:
        """A session of this server ended: if it was taken over, its first node
        forgets where it went."""
        notice = self._ended(sid)
        if notice is not None:
            self._spawn(self._tell(*notice))

    async def _to_owner(self, sid: str, envelope: Envelope) -> None:
        owner = self.owner(sid)
        if owner is None:
            raise SessionUnknown(detail=sid)
        try:
            await self._publish(owner, envelope)
        except OwnerGone:
            raise SessionUnknown(detail=f"{sid}: its node {owner} is not in the cluster") from None

    async def _ask(self, sid: str, kind: Kind, body: bytes) -> Envelope:
        owner = self.owner(sid)
        for _ in range(MAX_HOPS):
            if owner is None:
                break
            call, reply = self._new_call(owner)
            try:
                await self._publish(owner, Envelope(kind, self.id, call, {"sid": sid}, body))
                answer = await asyncio.wait_for(reply, REPLY_TIMEOUT)
            except (OwnerGone, TimeoutError):
                break
            finally:
                self._calls.pop(call, None)
            if answer.kind is Kind.MOVED:
                owner = str(answer.head["node"])
                continue
            if answer.head.get("unknown"):
                break
            return answer
        raise SessionUnknown(detail=sid)

    # ------------------------------------------------------------------ calls
    def _new_call(self, node: str | None) -> tuple[int, asyncio.Future[Envelope]]:
        call = next(self._ids)
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._calls[call] = (node, future)
        if node is not None and self._watcher is None:
            self._watcher = asyncio.ensure_future(self._watch_nodes())
        return call, future

    async def _watch_nodes(self) -> None:
        """While calls wait on other nodes: fail those of a node that is gone."""
        try:
            while True:
                await asyncio.sleep(OWNER_CHECK)
                waiting = {node for node, _ in self._calls.values() if node is not None}
                if not waiting:
                    return
                for node in waiting:
                    error: Exception | None = None
                    try:
                        if not await self._bus.alive(node):
                            error = OwnerGone(node)
                    except BusUnavailable as exc:
                        error = exc
                    if error is not None:
                        for waited, future in list(self._calls.values()):
                            if waited == node and not future.done():
                                future.set_exception(error)
        finally:
            self._watcher = None

    async def _publish(self, node: str | None, envelope: Envelope) -> int:
        """Publish; raises :class:`OwnerGone` when a message for a node reached none."""
        reached = await self._bus.publish(node, encode(envelope))
        if node is not None and not reached:
            raise OwnerGone(node)
        return reached

    async def _tell(self, node: str, envelope: Envelope) -> None:
        """Publish, where nobody waits for the outcome (a failure is only logged)."""
        try:
            await self._bus.publish(node, encode(envelope))
        except BusUnavailable as exc:
            logger.debug("could not tell node %s (%s): %s", node, envelope.kind.value, exc)

    def _reply(self, to: Envelope, kind: Kind, head: dict[str, Any] | None = None,
               body: bytes = b"") -> Awaitable[None]:
        return self._tell(to.sender, Envelope(kind, self.id, to.call, head or {}, body))

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ owner
    def _on_message(self, data: bytes) -> None:
        """Everything the bus brings this node (called in order, must not block)."""
        envelope = self._read(data)
        if envelope is None:
            return
        kind = envelope.kind
        if kind is Kind.COUNTED:
            tally = self._tallies.get(envelope.call)
            if tally is not None:
                tally.put_nowait(envelope)
            return
        if kind in REPLIES:
            entry = self._calls.get(envelope.call)
            if entry is not None and not entry[1].done():
                entry[1].set_result(envelope)
            return
        if kind is Kind.WS_OUT:
            pipe = self._pipes.get(envelope.call)
            if pipe is not None:
                pipe.arrived(envelope)
            return
        if kind is Kind.WS_IN:
            piped = self._piped.get((envelope.sender, envelope.call))
            if piped is not None:
                piped.arrived(envelope)
            return
        if kind is Kind.DROPPED:
            drop = self._drops.get((envelope.sender, envelope.call))
            if drop is not None:
                drop.set()
            return
        if kind is Kind.REQUEST:
            # Registered now, in message order: a DROPPED right behind finds it.
            self._drops[(envelope.sender, envelope.call)] = asyncio.Event()
        handler = _HANDLERS.get(kind)
        if handler is not None:
            self._spawn(handler(self, envelope))

    async def _serve_request(self, envelope: Envelope) -> None:
        key = (envelope.sender, envelope.call)
        try:
            head = envelope.head
            sid = str(head.get("query", {}).get("sid", ""))
            await self.arrived(sid)
            if not self.server.has_session(sid) and (moved := self._moved.get(sid)):
                await self._reply(envelope, Kind.MOVED, {"node": moved})
                return
            try:
                request = request_from(head, b"")
            except WireError as exc:
                logger.warning("dropped a forwarded request from node %s: %s",
                               envelope.sender, exc)
                return
            get = request.method == "GET"
            if get:
                await self.before_get(sid, envelope.sender)
                self._held_from[sid] = envelope.sender
            try:
                response = await self.server._handle_http_here(
                    request, _given_body(envelope.body, bool(head.get("too_large"))),
                    self._drops[key].wait)
            finally:
                if get and self._held_from.get(sid) == envelope.sender:
                    del self._held_from[sid]
            await self._reply(envelope, Kind.RESPONSE, response_head(response), response.body)
        finally:
            self._drops.pop(key, None)

    async def _serve_send(self, envelope: Envelope) -> None:
        sid = self._sid(envelope)
        await self.arrived(sid)
        relayed = self._relayed(envelope)
        if relayed is not None and not self._lacks(relayed)(sid):
            return  # a relayed broadcast this session has already
        try:
            await self.server.send(sid, self._data(envelope))
        except SessionUnknown:
            logger.debug("a message from node %s for session %s, which is gone",
                         envelope.sender, sid)

    async def _serve_broadcast(self, envelope: Envelope) -> None:
        if envelope.sender == self.id:
            return  # this node sent it to its own sessions already
        await self._serve_here(envelope)

    async def _serve_close(self, envelope: Envelope) -> None:
        sid = self._sid(envelope)
        await self.arrived(sid)
        with suppress(SessionUnknown):
            await self.server.disconnect(sid)

    async def _serve_data(self, envelope: Envelope) -> None:
        sid = self._sid(envelope)
        await self.arrived(sid)
        server = self.server
        if not server.has_session(sid):
            await self._reply(envelope, *self._not_here(sid))
            return
        if envelope.kind is Kind.SAVE_DATA:
            await server.save_session(sid, pickle.loads(envelope.body))
            await self._reply(envelope, Kind.DATA)
        else:
            await self._reply(envelope, Kind.DATA, body=pickle.dumps(
                await server.get_session(sid)))

    async def _serve_take(self, envelope: Envelope) -> None:
        sid = self._sid(envelope)
        server = self.server
        if not server.has_session(sid):
            kind, head = self._not_here(sid)
            await self._reply(envelope, Kind.TAKEN if kind is Kind.DATA else kind, head)
            return
        self._handing(sid, envelope.sender)
        try:
            snapshot = await server._hand_over(sid)
        except SessionBusy:
            self._not_handed(sid)
            await self._reply(envelope, Kind.TAKEN, {"busy": True})
            return
        except ValueError:  # on WebSocket here, or closing: it stays
            self._not_handed(sid)
            await self._reply(envelope, Kind.TAKEN, {"refused": True})
            return
        except SessionUnknown:
            self._not_handed(sid)
            await self._reply(envelope, Kind.TAKEN, {"unknown": True})
            return
        await self._reply(envelope, Kind.TAKEN, body=self._handed(sid, envelope.sender, snapshot))

    async def _serve_ws_open(self, envelope: Envelope) -> None:
        """Serve a WebSocket that reached node ``envelope.sender`` for a session of
        this node (see :mod:`.pipes`)."""
        key = (envelope.sender, envelope.call)
        piped = self._piped[key] = PipedWebSocket(
            self, envelope.sender, envelope.call, self._bound())
        try:
            try:
                request = request_from(envelope.head, b"")
            except WireError as exc:
                await piped.refuse(self.server.engine.refuse(
                    Request("GET", {}, {}), ClusterUnavailable(detail=str(exc))))
                return
            await self.server._handle_websocket_here(request, piped)
        finally:
            del self._piped[key]
            await piped.finish()

    def _bound(self) -> int:
        """The most messages a pipe holds in either direction."""
        return self.server.engine.config.max_send_buffer_packets

    async def pipe(self, owner: str, request: Request, ws: AsyncWebSocket) -> Response | None:
        """Serve a WebSocket of ``owner``'s session through a pipe to it; the refusal
        to answer with when it cannot be opened (see :mod:`.pipes`)."""
        return await pipe_websocket(self, owner, request, ws, self._bound())

    async def _serve_gone(self, envelope: Envelope) -> None:
        self._forget_moved(envelope)

    async def _serve_count(self, envelope: Envelope) -> None:
        await self._reply(envelope, Kind.COUNTED, {"n": self.server.session_count()})


_HANDLERS: dict[Kind, Callable[[AsyncNode, Envelope], Awaitable[None]]] = {
    Kind.REQUEST: AsyncNode._serve_request,
    Kind.SEND: AsyncNode._serve_send,
    Kind.CLOSE: AsyncNode._serve_close,
    Kind.BROADCAST: AsyncNode._serve_broadcast,
    Kind.GET_DATA: AsyncNode._serve_data,
    Kind.SAVE_DATA: AsyncNode._serve_data,
    Kind.COUNT: AsyncNode._serve_count,
    Kind.TAKE: AsyncNode._serve_take,
    Kind.GONE: AsyncNode._serve_gone,
    Kind.WS_OPEN: AsyncNode._serve_ws_open,
}
