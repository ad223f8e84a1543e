"""Direct links: node-to-node TCP connections for the messages addressed to one node.

A forwarded polling request and its answer are a message to the owner and one
back; over Redis each costs a ``PUBLISH`` (and its reply) and a pub/sub
delivery, through a third process. Nodes of the same machine (``gunicorn -w 4``,
``uvicorn --workers 4``) therefore also listen on a loopback port, registered
in Redis (``<prefix>:direct``, node id -> address), and send each other those
messages directly: length-prefixed frames on one connection per pair and
direction, so they stay in order. Redis keeps what needs it: membership
(``alive``), broadcasts and the registry itself; a node with no registered
address (another machine, a sync server, or ``direct=False``) is reached over
Redis as before.

Every connection starts with the cluster's token (``<prefix>:token``, random,
created by the first node): only a process that can read the cluster's Redis
can send a node messages, as only it can publish on its channels.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import socket
import struct
from contextlib import suppress
from typing import TYPE_CHECKING

from .bus import Deliver

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DirectLinks", "machine_id"]

logger = logging.getLogger("engineio_core.cluster")

_LENGTH = struct.Struct(">I")
MAX_FRAME = 1 << 31
"""Largest message a link carries (a forwarded body is bounded by ``max_http_buffer_size``)."""
DRAIN_ABOVE = 1 << 20
"""Bytes queued on a link past which a sender waits for the peer to read."""


def machine_id() -> str:
    """Names this machine: nodes of one machine may use loopback links."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with suppress(OSError):
            with open(path) as file:
                found = file.read().strip()
            if found:
                return found
    return socket.gethostname()


class DirectLinks:
    """One node's listening port and its links to the other nodes (asyncio).

    Args:
        redis: the node's Redis client (registry and token).
        prefix: the cluster's key prefix.
        host: the address to listen on and advertise; a loopback address serves
            the nodes of this machine only.
    """

    def __init__(self, redis: Redis, prefix: str, host: str) -> None:
        self._redis = redis
        self._registry = f"{prefix}:direct"
        self._token_key = f"{prefix}:token"
        self._host = host
        self._machine = machine_id()
        self._token = b""
        self._node: str | None = None
        self._server: asyncio.Server | None = None
        self._links: dict[str, asyncio.StreamWriter] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._addresses: dict[str, tuple[str, int] | None] = {}  # None: reach it over Redis
        self._readers: set[asyncio.Task[None]] = set()
        # Frames sent during this loop turn, per link, written together at its end
        # (one system call for many: a busy node sends many per turn).
        self._outgoing: dict[asyncio.StreamWriter, list[bytes]] = {}

    async def open(self, node: str, deliver: Deliver) -> None:
        """Listen, and register this node's address (Redis errors propagate)."""
        await self._redis.set(self._token_key, os.urandom(16).hex(), nx=True)
        token = await self._redis.get(self._token_key)
        self._token = token if isinstance(token, bytes) else str(token).encode()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # Cancelled when the node leaves: ended quietly (Python 3.11's streams
            # would log a cancelled connection callback as an error).
            with suppress(asyncio.CancelledError):
                await self._serve(reader, writer, deliver)

        self._server = await asyncio.start_server(accept, self._host, 0)
        port = self._server.sockets[0].getsockname()[1]
        self._node = node
        await self._redis.hset(self._registry, node, json.dumps(
            {"host": self._host, "port": port, "machine": self._machine}))

    async def send(self, node: str, message: bytes) -> int | None:
        """Send ``message`` to ``node`` over its link: 1 once queued (the link's frames
        of a loop turn are written together at its end), 0 when the link broke under a
        write, ``None`` when there is no link to it (send it over
        Redis, which also knows whether the node is alive: a node killed before it
        could unregister leaves an address that refuses connections)."""
        lock = self._locks.get(node)
        if lock is None:
            lock = self._locks[node] = asyncio.Lock()
        async with lock:  # one connect at a time; the writes stay in order
            writer = self._links.get(node)
            if writer is None:
                if node not in self._addresses:
                    self._addresses[node] = await self._lookup(node)
                address = self._addresses[node]
                if address is None:
                    return None
                try:
                    writer = await self._connect(node, address)
                except OSError:
                    self._addresses[node] = None  # from now on over Redis
                    return None
            outgoing = self._outgoing.get(writer)
            if outgoing is None:
                outgoing = self._outgoing[writer] = []
                asyncio.get_running_loop().call_soon(self._write, writer)
            outgoing.append(_LENGTH.pack(len(message)))
            outgoing.append(message)
            if writer.transport.get_write_buffer_size() > DRAIN_ABOVE:
                try:
                    await writer.drain()
                except OSError:
                    return 0
            return 1

    async def close(self) -> None:
        """Unregister, stop listening and close every link."""
        if self._node is not None:
            with suppress(Exception):
                await self._redis.hdel(self._registry, self._node)
        if self._server is not None:
            self._server.close()
        for writer in self._links.values():
            writer.close()
        self._links.clear()
        for task in list(self._readers):
            task.cancel()

    # ------------------------------------------------------------------ internals
    def _write(self, writer: asyncio.StreamWriter) -> None:
        """The end of a loop turn: write the frames a link got during it, in order."""
        frames = self._outgoing.pop(writer, None)
        if frames and not writer.is_closing():
            writer.write(b"".join(frames))

    async def _lookup(self, node: str) -> tuple[str, int] | None:
        raw = await self._redis.hget(self._registry, node)
        if raw is None:
            return None
        found = json.loads(raw)
        loopback = found["host"].startswith("127.") or found["host"] in ("::1", "localhost")
        if loopback and found["machine"] != self._machine:
            return None  # another machine's loopback: over Redis
        return found["host"], int(found["port"])

    async def _connect(self, node: str, address: tuple[str, int]) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection(*address)
        writer.write(_LENGTH.pack(len(self._token)) + self._token)
        self._links[node] = writer

        async def watch() -> None:  # the peer never writes: EOF means it is gone
            with suppress(Exception):
                await reader.read()
            if self._links.get(node) is writer:
                del self._links[node]
                self._addresses.pop(node, None)
            writer.close()

        self._track(asyncio.ensure_future(watch()))
        return writer

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     deliver: Deliver) -> None:
        self._track(asyncio.current_task())  # type: ignore[arg-type]
        try:
            token = await _frame(reader)
            if not hmac.compare_digest(token, self._token):
                logger.warning("refused a cluster link from %s: wrong token",
                               writer.get_extra_info("peername"))
                return
            while True:
                deliver(await _frame(reader))
        except (asyncio.IncompleteReadError, OSError, ValueError):
            pass  # the peer left (or sent garbage): its next connection starts afresh
        finally:
            writer.close()

    def _track(self, task: asyncio.Task[None]) -> None:
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)


async def _frame(reader: asyncio.StreamReader) -> bytes:
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes")
    return await reader.readexactly(length)
