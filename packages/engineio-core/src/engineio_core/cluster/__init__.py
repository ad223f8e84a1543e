"""Cluster mode: several server processes that share their sessions, with no
sticky sessions (see ``docs/cluster.md``).

Give every process's server the same ``cluster=``::

    from engineio_core import AsyncServer
    from engineio_core.cluster import RedisCluster

    eio = AsyncServer(cluster=RedisCluster("redis://localhost:6379/0"))

Any process may then receive any request of any session: a session id names
the node that holds it, and a request for another node's session is served by
that node over the bus.
"""

from __future__ import annotations

from .bus import AsyncBus, BusUnavailable, Cluster, MemoryCluster
from .redis import RedisCluster

__all__ = ["AsyncBus", "BusUnavailable", "Cluster", "MemoryCluster", "RedisCluster"]
