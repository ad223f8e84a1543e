"""What a cluster node needs of its message bus, and the in-memory bus.

A bus carries bytes to one node (by its id) or to every node, and says how
many nodes a message reached: a node that is gone (its process killed) has
no subscription left, so a message to it reaches none, and its sessions are
answered "unknown" at once, with no timeout. :class:`MemoryCluster` joins
servers of one process (tests, or several servers in one program); Redis
joins processes (:mod:`engineio_core.cluster.redis`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..backends import SyncBackend

__all__ = ["AsyncBus", "BusUnavailable", "Cluster", "MemoryCluster", "SyncBus"]

Deliver = Callable[[bytes], object]
"""Called with each message for the node, in the order they were published."""


class BusUnavailable(ConnectionError):
    """The bus cannot carry messages now (Redis unreachable)."""


class AsyncBus(Protocol):
    """A node's connection to the bus, for asyncio."""

    async def join(self, node: str, deliver: Deliver) -> bool:
        """Receive the messages for ``node`` and for every node; ``False`` (and
        nothing joined) if a live node already has this id.

        Raises:
            BusUnavailable: the bus cannot be reached.
        """
        ...

    async def publish(self, node: str | None, message: bytes) -> int:
        """Send ``message`` to ``node`` (``None``: every node, this one too); returns
        how many nodes it reached.

        Raises:
            BusUnavailable: the bus cannot be reached.
        """
        ...

    async def alive(self, node: str) -> bool:
        """Whether ``node`` is still joined.

        Raises:
            BusUnavailable: the bus cannot be reached.
        """
        ...

    async def leave(self) -> None:
        """Stop receiving and let go of the connection."""
        ...


class SyncBus(Protocol):
    """A node's connection to the bus, for threads and green threads (the
    methods of :class:`AsyncBus`, blocking)."""

    def join(self, node: str, deliver: Deliver) -> bool: ...
    def publish(self, node: str | None, message: bytes) -> int: ...
    def alive(self, node: str) -> bool: ...
    def leave(self) -> None: ...


class Cluster(Protocol):
    """Where a server's nodes meet: the ``cluster=`` option of the servers."""

    def async_bus(self) -> AsyncBus:
        """A new node's connection, for :class:`~engineio_core.AsyncServer`."""
        ...

    def sync_bus(self, backend: SyncBackend) -> SyncBus:
        """A new node's connection, for :class:`~engineio_core.Server` (its reader
        runs in a task of ``backend``: a thread, or a green thread)."""
        ...

    def describe(self) -> str:
        """Names the bus in logs and errors (a Redis URL without its password)."""
        ...


class MemoryCluster:
    """A bus inside one process: the servers given the same instance form a cluster.

    Messages are delivered on the event loop's next turn, in order, as a
    network bus delivers them (never inside the publisher's call).
    """

    def __init__(self) -> None:
        self._nodes: dict[str, Deliver] = {}

    def async_bus(self) -> AsyncBus:
        return _MemoryBus(self._nodes)

    def sync_bus(self, backend: SyncBackend) -> SyncBus:
        return _MemorySyncBus(self._nodes, backend)

    def describe(self) -> str:
        return "memory"


class _MemoryBus:
    def __init__(self, nodes: dict[str, Deliver]) -> None:
        self._nodes = nodes
        self._node: str | None = None

    async def join(self, node: str, deliver: Deliver) -> bool:
        if node in self._nodes:
            return False
        self._nodes[node] = deliver
        self._node = node
        return True

    async def publish(self, node: str | None, message: bytes) -> int:
        loop = asyncio.get_running_loop()
        targets = list(self._nodes.values()) if node is None else (
            [deliver] if (deliver := self._nodes.get(node)) is not None else [])
        for deliver in targets:
            loop.call_soon(deliver, message)
        return len(targets)

    async def alive(self, node: str) -> bool:
        return node in self._nodes

    async def leave(self) -> None:
        if self._node is not None:
            self._nodes.pop(self._node, None)
            self._node = None


class _MemorySyncBus:
    """In-process, for ``Server``: each node's messages are delivered in order by a
    task of its own (never inside the publisher's call)."""

    def __init__(self, nodes: dict[str, Deliver], backend: SyncBackend) -> None:
        self._nodes = nodes
        self._backend = backend
        self._node: str | None = None
        self._inbox: deque[bytes] = deque()
        self._wake = backend.event()

    def join(self, node: str, deliver: Deliver) -> bool:
        if node in self._nodes:
            return False
        inbox, wake = self._inbox, self._wake

        def arrive(message: bytes) -> None:
            inbox.append(message)
            wake.set()

        def deliver_all() -> None:
            while self._node is not None:
                wake.wait()
                wake.clear()
                while inbox:
                    deliver(inbox.popleft())

        self._nodes[node] = arrive
        self._node = node
        self._backend.spawn(deliver_all)
        return True

    def publish(self, node: str | None, message: bytes) -> int:
        targets = list(self._nodes.values()) if node is None else (
            [arrive] if (arrive := self._nodes.get(node)) is not None else [])
        for arrive in targets:
            arrive(message)
        return len(targets)

    def alive(self, node: str) -> bool:
        return node in self._nodes

    def leave(self) -> None:
        if self._node is not None:
            self._nodes.pop(self._node, None)
            self._node = None
            self._wake.set()
