"""Relayed WebSockets (``cluster_upgrades="relay"``): a WebSocket that reaches a node
other than its session's is served by the session's node, its frames carried between
the two nodes, so that the session never moves.

The *edge* (the node the client's WebSocket reached) opens a pipe to the owner
(``WS_OPEN`` with the request); the owner's server serves a :class:`PipedWebSocket`
exactly as it serves a WebSocket of its own (the upgrade, heartbeats, handlers); the
edge writes what comes out of the pipe (``WS_OUT``) to the client and sends every
message of the client into it (``WS_IN``). Either side ends the pipe with its own
``end``: the client went away, or the owner closed (or refused) the WebSocket. An
edge whose owner is gone drops the client's connection within :data:`OWNER_CHECK`
seconds.

A GET (or a second WebSocket) of a session whose probe WebSocket is relayed first
has the edge forward what the client sent before it (``sync``, answered ``synced``
once the edge's reader has passed on all it read): a client may send ``2probe``,
``5`` and a GET at once, and the GET must find the upgrade done, as on one node.

Bounds: a pipe holds at most the engine's ``max_send_buffer_packets`` messages in each
direction; past that (a client that does not read, or an owner far behind), the
connection is dropped, as the engine drops an unresponsive client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..async_server import settle
from ..base_server import PROBE_CATCH_UP
from ..protocol.errors import SessionUnknown
from ..protocol.http import Request, Response
from .node import OWNER_CHECK, REPLY_TIMEOUT, OwnerGone
from .wire import Envelope, Kind, WireError, request_head, response_from, response_head

if TYPE_CHECKING:
    from ..async_server import AsyncWebSocket
    from .async_node import AsyncNode

__all__ = ["EdgePipe", "PipedWebSocket", "pipe_websocket"]

logger = logging.getLogger("engineio_core.cluster")


class PipedWebSocket:
    """On the owner: the client's WebSocket, which reached node ``edge``, as an
    :class:`~engineio_core.async_server.AsyncWebSocket` the server serves."""

    def __init__(self, node: AsyncNode, edge: str, call: int, bound: int) -> None:
        self._node = node
        self._edge = edge
        self._call = call
        self._bound = bound
        self._inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._ended = False
        self._synced: asyncio.Future[None] | None = None

    def arrived(self, envelope: Envelope) -> None:
        """A ``WS_IN`` of this pipe (called in bus order)."""
        if envelope.head.get("synced"):
            if self._synced is not None and not self._synced.done():
                self._synced.set_result(None)
        elif envelope.head.get("end"):
            self._inbox.put_nowait(None)
        elif self._inbox.qsize() >= self._bound:
            logger.warning("dropped the relayed WebSocket %s/%d: %d messages wait for the "
                           "server", self._edge, self._call, self._bound)
            self.abort()
        else:
            self._inbox.put_nowait(self._node._data(envelope))

    async def catch_up(self, until: float) -> None:
        """Have the edge forward what the client sent so far (until the loop time
        ``until`` at most); the server then lets the reader take it (:meth:`idle`)."""
        if self._ended:
            return
        loop = asyncio.get_running_loop()
        synced = self._synced = loop.create_future()
        await self._out({"sync": True})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(synced, max(0.0, until - loop.time()))

    def idle(self) -> bool:
        """Whether the server has taken every message that came down the pipe."""
        return self._inbox.empty()

    async def accept(self) -> None:
        await self._out({"accepted": True})

    async def refuse(self, response: Response) -> None:
        await self._end({**response_head(response), "refused": True}, response.body)

    async def receive(self) -> str | bytes | None:
        return await self._inbox.get()

    async def send(self, data: str | bytes) -> None:
        if not self._ended:
            await self._node._tell(self._edge, self._node._message(Kind.WS_OUT, data,
                                                                   call=self._call))

    async def close(self, code: int) -> None:
        await self._end({"code": code})
        self._inbox.put_nowait(None)

    def abort(self) -> None:
        self._node._spawn(self._end({"abort": True}))
        self._inbox.put_nowait(None)

    async def finish(self) -> None:
        """The server is done with it: tell the edge, if nothing did."""
        await self._end({"abort": True})

    async def _end(self, head: dict[str, Any], body: bytes = b"") -> None:
        if self._ended:
            return
        self._ended = True
        await self._out({**head, "end": True}, body)

    async def _out(self, head: dict[str, Any], body: bytes = b"") -> None:
        await self._node._tell(self._edge, Envelope(Kind.WS_OUT, self._node.id, self._call,
                                                    head, body))


class EdgePipe:
    """On the edge: what the owner sends down one pipe, for the client's WebSocket."""

    def __init__(self, node: AsyncNode, owner: str, call: int, ws: AsyncWebSocket,
                 bound: int) -> None:
        self.node = node
        self.owner = owner
        self.call = call
        self.ws = ws
        self.queue: asyncio.Queue[Envelope] = asyncio.Queue()
        self._bound = bound
        self.dropped = False
        self.reading = False  # the reader waits in receive(): it passed on all it read

    def arrived(self, envelope: Envelope) -> None:
        """A ``WS_OUT`` of this pipe (called in bus order)."""
        if self.dropped:
            return
        if envelope.head.get("sync"):
            self.node._spawn(self._sync())
            return
        if self.queue.qsize() >= self._bound:
            logger.warning("dropped a relayed WebSocket: %d messages wait for the client",
                           self._bound)
            self.dropped = True
            self.ws.abort()  # a write blocked on the client fails now
            self.queue = asyncio.Queue()
            self.queue.put_nowait(Envelope(Kind.WS_OUT, envelope.sender, envelope.call,
                                           {"end": True, "abort": True}))
            return
        self.queue.put_nowait(envelope)

    async def _sync(self) -> None:
        """Answer a ``sync`` once the reader has passed on what the client sent (see
        the module docstring; the same settling as ``AsyncServer``'s own catch-up)."""
        idle: Callable[[], bool] | None = getattr(self.ws, "idle", None)
        await settle(lambda: self.reading and (idle is None or idle()),
                     asyncio.get_running_loop().time() + PROBE_CATCH_UP)
        await self.node._tell(self.owner, Envelope(Kind.WS_IN, self.node.id, self.call,
                                                   {"synced": True}))


async def pipe_websocket(node: AsyncNode, owner: str, request: Request,
                         ws: AsyncWebSocket, bound: int) -> Response | None:
    """On the edge: serve the client's WebSocket through a pipe to the session's node.

    Returns the refusal to answer with when the pipe could not be opened (the owner
    is gone, or it does not hold the session), else ``None`` once the pipe ended.
    """
    call = next(node._ids)
    pipe = node._pipes[call] = EdgePipe(node, owner, call, ws, bound)
    reader: asyncio.Task[None] | None = None
    try:
        try:
            await node._publish(owner, Envelope(Kind.WS_OPEN, node.id, call,
                                                request_head(request)))
            first = await asyncio.wait_for(pipe.queue.get(), REPLY_TIMEOUT)
        except (OwnerGone, TimeoutError):
            return node.server.engine.refuse(request, SessionUnknown(
                detail=f"its node {owner} is not in the cluster"))
        if first.head.get("refused"):
            try:
                return response_from(first.head, first.body)
            except WireError:
                return node.server.engine.refuse(request, SessionUnknown())
        if not first.head.get("accepted"):
            return node.server.engine.refuse(request, SessionUnknown())
        await ws.accept()
        reader = asyncio.ensure_future(_pipe_in(pipe))
        try:
            await _pipe_out(pipe)
        except Exception:  # the client's connection failed: the reader ends the pipe
            ws.abort()
        return None
    finally:
        del node._pipes[call]
        if reader is not None:
            reader.cancel()


async def _pipe_in(pipe: EdgePipe) -> None:
    """The client's messages into the pipe, then its end."""
    node, owner, call = pipe.node, pipe.owner, pipe.call
    try:
        while True:
            pipe.reading = True
            data = await pipe.ws.receive()
            pipe.reading = False
            if data is None:
                break
            await node._tell(owner, node._message(Kind.WS_IN, data, call=call))
    finally:
        pipe.reading = False
        await node._tell(owner, Envelope(Kind.WS_IN, node.id, call, {"end": True}))


async def _pipe_out(pipe: EdgePipe) -> None:
    """What comes out of the pipe, to the client, until the owner ends it (or is gone)."""
    node, owner, ws = pipe.node, pipe.owner, pipe.ws
    send_many = getattr(ws, "send_many", None)
    while True:
        try:
            envelope = await asyncio.wait_for(pipe.queue.get(), OWNER_CHECK)
        except TimeoutError:
            if not await node._bus.alive(owner):
                logger.info("the node %s of a relayed WebSocket is gone: dropped", owner)
                ws.abort()
                return
            continue
        frames: list[str | bytes] = []
        while True:
            head = envelope.head
            if head.get("end"):
                await _write(ws, send_many, frames)
                if head.get("abort"):
                    ws.abort()
                else:
                    with contextlib.suppress(Exception):
                        await ws.close(int(head.get("code", 1000)))
                return
            frames.append(node._data(envelope))
            if pipe.queue.empty():
                break
            envelope = pipe.queue.get_nowait()
        await _write(ws, send_many, frames)


async def _write(ws: AsyncWebSocket, send_many: Any, frames: list[str | bytes]) -> None:
    if len(frames) > 1 and send_many is not None:
        await send_many(frames)
        return
    for frame in frames:
        await ws.send(frame)
