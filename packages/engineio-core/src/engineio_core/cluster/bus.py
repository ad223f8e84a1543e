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
from collections.abc import Callable
from typing import Protocol

__all__ = ["AsyncBus", "BusUnavailable", "Cluster", "MemoryCluster"]

Deliver = Callable[[bytes], None]
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


class Cluster(Protocol):
    """Where a server's nodes meet: the ``cluster=`` option of the servers."""

    def async_bus(self) -> AsyncBus:
        """A new node's connection, for :class:`~engineio_core.AsyncServer`."""
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
