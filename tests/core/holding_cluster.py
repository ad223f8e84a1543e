"""An in-memory cluster whose messages of some kinds (broadcasts by default) can be
held back on their way to one node: a bus slow to bring them there, for the
take-over and relay tests of ``test_cluster_async.py`` and ``test_cluster_sync.py``."""

from __future__ import annotations

from engineio_core.backends import SyncBackend
from engineio_core.cluster import MemoryCluster
from engineio_core.cluster.bus import AsyncBus, Deliver, SyncBus
from engineio_core.cluster.wire import Kind, decode


class Gate:
    """Holds the messages of some kinds that reach one node while :meth:`hold` is on."""

    def __init__(self) -> None:
        self._held: list[tuple[Deliver, bytes]] | None = None
        self._kinds: tuple[Kind, ...] = ()

    def hold(self, kinds: tuple[Kind, ...] = (Kind.BROADCAST,)) -> None:
        self._held = []
        self._kinds = kinds

    def release(self) -> None:
        """Deliver what was held, in order, and stop holding."""
        held, self._held = self._held or [], None
        for deliver, message in held:
            deliver(message)

    def wrap(self, deliver: Deliver) -> Deliver:
        def gated(message: bytes) -> None:
            if self._held is not None and decode(message).kind in self._kinds:
                self._held.append((deliver, message))
            else:
                deliver(message)

        return gated


class HoldingCluster(MemoryCluster):
    """A :class:`MemoryCluster`; ``gates[i]`` holds messages on their way to the i-th
    server created on it."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: list[Gate] = []

    def async_bus(self) -> AsyncBus:
        gate = Gate()
        self.gates.append(gate)
        return _GatedAsyncBus(super().async_bus(), gate)

    def sync_bus(self, backend: SyncBackend) -> SyncBus:
        gate = Gate()
        self.gates.append(gate)
        return _GatedSyncBus(super().sync_bus(backend), gate)


class _GatedAsyncBus:
    def __init__(self, bus: AsyncBus, gate: Gate) -> None:
        self._bus, self._gate = bus, gate

    async def join(self, node: str, deliver: Deliver) -> bool:
        return await self._bus.join(node, self._gate.wrap(deliver))

    async def publish(self, node: str | None, message: bytes) -> int:
        return await self._bus.publish(node, message)

    async def alive(self, node: str) -> bool:
        return await self._bus.alive(node)

    async def leave(self) -> None:
        await self._bus.leave()


class _GatedSyncBus:
    def __init__(self, bus: SyncBus, gate: Gate) -> None:
        self._bus, self._gate = bus, gate

    def join(self, node: str, deliver: Deliver) -> bool:
        return self._bus.join(node, self._gate.wrap(deliver))

    def publish(self, node: str | None, message: bytes) -> int:
        return self._bus.publish(node, message)

    def alive(self, node: str) -> bool:
        return self._bus.alive(node)

    def leave(self) -> None:
        self._bus.leave()
