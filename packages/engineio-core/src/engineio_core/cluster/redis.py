"""The Redis bus: nodes in several processes (or machines) over Redis pub/sub.

Each node subscribes to its own channel (``<prefix>:node:<id>``) and to the
channel of every node (``<prefix>:all``). ``PUBLISH`` answers how many
subscribers a message reached: 0 for a node whose process is gone, which is
how an edge answers a dead owner's sessions at once. Needs redis-py
(``pip install "engineio-core[redis]"``); its asyncio API serves
:class:`~engineio_core.AsyncServer`, its blocking API :class:`~engineio_core.Server`
(the reader in a task of the server's backend: under eventlet and gevent, redis-py's
sockets must be the patched ones, as gunicorn's and uWSGI's workers make them).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .bus import AsyncBus, BusUnavailable, Deliver, SyncBus
from .direct import DirectLinks

if TYPE_CHECKING:
    import redis.client
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

    from ..backends import SyncBackend

__all__ = ["RedisCluster"]

logger = logging.getLogger("engineio_core.cluster")

RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
"""Seconds between attempts to reach Redis again once lost (the last one repeats)."""


class RedisCluster:
    """The ``cluster=`` option for processes that share a Redis server.

    Args:
        url: the Redis URL (``redis://host:port/db``, ``rediss://`` for TLS,
            ``unix:///path``), as redis-py's ``from_url`` takes it.
        prefix: the start of every channel name: servers with the same URL and
            prefix form one cluster.
        direct: let the nodes (of :class:`~engineio_core.AsyncServer`) send the
            messages meant for one node over direct links instead of through Redis
            (:mod:`engineio_core.cluster.direct`): a forwarded request costs half as
            many system calls. ``False``: everything through Redis.
        host: where a node listens for direct links and how the others reach it; the
            default, loopback, links the nodes of one machine (nodes on other
            machines reach it over Redis). A routable address links every node:
            give one only on a network that only the cluster's machines reach.
        **options: passed on to redis-py's ``from_url`` (timeouts, TLS files...).
    """

    def __init__(self, url: str = "redis://localhost:6379/0", *, prefix: str = "engineio",
                 direct: bool = True, host: str = "127.0.0.1", **options: Any) -> None:
        try:
            import redis  # noqa: F401
        except ImportError:
            raise ImportError('the Redis cluster needs redis-py: pip install '
                              '"engineio-core[redis]"') from None
        self.url = url
        self.prefix = prefix
        self.direct = direct
        self.host = host
        self.options = options

    def async_bus(self) -> AsyncBus:
        return _AsyncRedisBus(self)

    def sync_bus(self, backend: SyncBackend) -> SyncBus:
        return _SyncRedisBus(self, backend)

    def describe(self) -> str:
        """The URL without its password (for logs and errors)."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        return urlunsplit(parts._replace(netloc=user + netloc))

    def __repr__(self) -> str:
        return f"RedisCluster({self.describe()!r}, prefix={self.prefix!r})"


class _Channels:
    """The channel names of one cluster, and the Redis URL as logs show it."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.cluster = cluster
        self.all = f"{cluster.prefix}:all"
        self.lost = False  # logged once per outage

    def node(self, node: str) -> str:
        return f"{self.cluster.prefix}:node:{node}"

    def unavailable(self, exc: BaseException) -> BusUnavailable:
        return BusUnavailable(f"cannot reach Redis at {self.cluster.describe()}: {exc}")

    def losing(self, exc: BaseException) -> None:
        if not self.lost:
            self.lost = True
            logger.error("lost Redis at %s (%s): sessions of other nodes are "
                         "unreachable until it is back", self.cluster.describe(), exc)

    def back(self) -> None:
        if self.lost:
            self.lost = False
            logger.warning("Redis at %s is back: the cluster is whole again",
                           self.cluster.describe())


class _AsyncRedisBus:
    def __init__(self, cluster: RedisCluster) -> None:
        from redis.asyncio import Redis

        self._names = _Channels(cluster)
        self._redis: Redis = Redis.from_url(cluster.url, **cluster.options)
        self._node: str | None = None
        self._reader: asyncio.Task[None] | None = None
        # PUBLISHes waiting for the one in flight: (channel, message, its count)
        self._queued: list[tuple[str, bytes, asyncio.Future[int]]] = []
        self._sender: asyncio.Task[None] | None = None  # sends the queue, while it has any
        self._direct = DirectLinks(self._redis, cluster.prefix, cluster.host) \
            if cluster.direct else None

    async def join(self, node: str, deliver: Deliver) -> bool:
        from redis.exceptions import RedisError

        try:
            if await self.alive(node):
                return False
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(self._names.node(node), self._names.all)
            if self._direct is not None:
                await self._direct.open(node, deliver)
        except (RedisError, OSError) as exc:
            raise self._names.unavailable(exc) from exc
        self._node = node
        self._reader = asyncio.ensure_future(self._read(node, pubsub, deliver))
        return True

    async def _read(self, node: str, pubsub: PubSub | None, deliver: Deliver) -> None:
        """Deliver what arrives; when Redis is lost, reconnect with backoff and subscribe again."""
        from redis.exceptions import RedisError

        names = self._names
        attempt = 0
        while True:
            try:
                if pubsub is None:
                    pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                    await pubsub.subscribe(names.node(node), names.all)
                    names.back()
                    attempt = 0
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "message":
                        deliver(message["data"])
            except (RedisError, OSError) as exc:
                names.losing(exc)
                if pubsub is not None:
                    with suppress(Exception):
                        await pubsub.aclose()
                pubsub = None
                await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                attempt += 1

    async def publish(self, node: str | None, message: bytes) -> int:
        """A message for one node over its direct link, when it has one; else a
        PUBLISH, in order: the messages published while one round trip is under way
        leave together in the next (one write and one read for all of them, however
        many requests the node is forwarding at once)."""
        if node is not None and self._direct is not None:
            from redis.exceptions import RedisError

            if self._names.lost:  # the cluster is down while Redis is (docs/cluster.md)
                raise self._names.unavailable(ConnectionError("lost"))
            try:
                direct = await self._direct.send(node, message)
            except (RedisError, OSError) as exc:  # looking its address up
                raise self._names.unavailable(exc) from exc
            if direct is not None:
                return direct
        channel = self._names.all if node is None else self._names.node(node)
        reached: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queued.append((channel, message, reached))
        if self._sender is None:
            self._sender = asyncio.ensure_future(self._send_queued())
        return await reached

    async def _send_queued(self) -> None:
        from redis.exceptions import RedisError

        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    if len(batch) == 1:
                        counts = [await self._redis.publish(batch[0][0], batch[0][1])]
                    else:
                        pipe = self._redis.pipeline(transaction=False)
                        for channel, message, _ in batch:
                            pipe.publish(channel, message)
                        counts = await pipe.execute()
                except (RedisError, OSError) as exc:
                    for _, _, reached in batch:
                        if not reached.done():
                            reached.set_exception(self._names.unavailable(exc))
                    continue
                for (_, _, reached), count in zip(batch, counts, strict=True):
                    if not reached.done():
                        reached.set_result(int(count))
        finally:
            self._sender = None

    async def alive(self, node: str) -> bool:
        from redis.exceptions import RedisError

        try:
            counts = await self._redis.pubsub_numsub(self._names.node(node))
        except (RedisError, OSError) as exc:
            raise self._names.unavailable(exc) from exc
        return bool(counts and counts[0][1])

    async def leave(self) -> None:
        if self._direct is not None:
            await self._direct.close()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with suppress(Exception, asyncio.CancelledError):
                await reader
        with suppress(Exception):
            await self._redis.aclose()


class _SyncRedisBus:
    def __init__(self, cluster: RedisCluster, backend: SyncBackend) -> None:
        from redis import Redis as SyncRedis

        self._names = _Channels(cluster)
        self._backend = backend
        self._redis = SyncRedis.from_url(cluster.url, **cluster.options)
        self._node: str | None = None

    def join(self, node: str, deliver: Deliver) -> bool:
        from redis.exceptions import RedisError

        try:
            if self.alive(node):
                return False
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(self._names.node(node), self._names.all)
        except (RedisError, OSError) as exc:
            raise self._names.unavailable(exc) from exc
        self._node = node
        self._backend.spawn(self._read, node, pubsub, deliver)
        return True

    def _read(self, node: str, pubsub: redis.client.PubSub | None, deliver: Deliver) -> None:
        """Deliver what arrives until :meth:`leave`; when Redis is lost, reconnect
        with backoff and subscribe again."""
        from redis.exceptions import RedisError

        names = self._names
        attempt = 0
        while self._node == node:
            try:
                if pubsub is None:
                    pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(names.node(node), names.all)
                    names.back()
                    attempt = 0
                message = pubsub.get_message(timeout=1.0)  # returns to check for leave()
                if message is not None and message["type"] == "message":
                    deliver(message["data"])
            except (RedisError, OSError, ValueError) as exc:
                names.losing(exc)
                if pubsub is not None:
                    with suppress(Exception):
                        pubsub.close()
                pubsub = None
                self._backend.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                attempt += 1
        if pubsub is not None:
            with suppress(Exception):
                pubsub.close()

    def publish(self, node: str | None, message: bytes) -> int:
        from redis.exceptions import RedisError

        channel = self._names.all if node is None else self._names.node(node)
        try:
            return int(self._redis.publish(channel, message))
        except (RedisError, OSError) as exc:
            raise self._names.unavailable(exc) from exc

    def alive(self, node: str) -> bool:
        from redis.exceptions import RedisError

        try:
            counts = self._redis.pubsub_numsub(self._names.node(node))
        except (RedisError, OSError) as exc:
            raise self._names.unavailable(exc) from exc
        return bool(counts and counts[0][1])

    def leave(self) -> None:
        self._node = None  # the reader stops within a second
        with suppress(Exception):
            self._redis.close()
