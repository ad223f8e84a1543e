"""The Redis bus itself (``engineio_core.cluster.redis``) against a real ``redis-server``:
messages to one node arrive in the order they were published, also when many are
published at once (they leave in batches, or over the direct link between two nodes of
this machine, which Redis never sees), each message reports the nodes it reached, a
link needs the cluster's token, and a lost Redis is a :class:`BusUnavailable` naming
the URL.
"""

from __future__ import annotations

import asyncio
import json
import queue
import struct
import threading
from pathlib import Path

import pytest
import redis

from engineio_core.backends import load_backend
from engineio_core.cluster import BusUnavailable, RedisCluster
from engineio_core.cluster.direct import machine_id

from .harness import free_port, redis_server

pytestmark = pytest.mark.interop

COUNT = 300


async def test_async_messages_published_at_once_arrive_in_order(redis_url: str) -> None:
    cluster = RedisCluster(redis_url, prefix="bus-test")
    a, b = cluster.async_bus(), cluster.async_bus()
    got: asyncio.Queue[bytes] = asyncio.Queue()
    try:
        assert await a.join("aaaa", lambda message: None)
        assert await b.join("bbbb", got.put_nowait)
        # all at once: most of them wait for the PUBLISH in flight and leave together
        counts = await asyncio.gather(*(a.publish("bbbb", b"m%d" % n) for n in range(COUNT)))
        assert counts == [1] * COUNT
        received = [await asyncio.wait_for(got.get(), 5) for _ in range(COUNT)]
        assert received == [b"m%d" % n for n in range(COUNT)]
        assert await a.publish("cccc", b"to nobody") == 0
        assert await a.publish(None, b"to all") == 2
        assert await asyncio.wait_for(got.get(), 5) == b"to all"
    finally:
        await a.leave()
        await b.leave()


async def test_async_publish_without_redis_is_bus_unavailable(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        bus = RedisCluster(url).async_bus()
        assert await bus.join("aaaa", lambda message: None)
    try:  # redis-server is gone now
        with pytest.raises(BusUnavailable, match="cannot reach Redis at redis://127"):
            await asyncio.gather(*(bus.publish("bbbb", b"x") for _ in range(3)))
    finally:
        await bus.leave()


def test_sync_messages_published_from_many_threads_arrive(redis_url: str) -> None:
    backend = load_backend("threading", "sync")
    assert backend.kind == "sync"
    cluster = RedisCluster(redis_url, prefix="bus-test")
    a, b = cluster.sync_bus(backend), cluster.sync_bus(backend)
    got: queue.Queue[bytes] = queue.Queue()
    try:
        assert a.join("aaaa", lambda message: None)
        assert b.join("bbbb", got.put)
        counts: list[int] = []

        def publish(first: int) -> None:
            for n in range(first, first + COUNT // 4):
                counts.append(a.publish("bbbb", b"m%d" % n))

        threads = [threading.Thread(target=publish, args=(k * COUNT // 4,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert counts == [1] * COUNT
        received = [got.get(timeout=5) for _ in range(COUNT)]
        for k in range(4):  # each thread's messages in its order
            mine = [m for m in received if k * COUNT // 4 <= int(m[1:]) < (k + 1) * COUNT // 4]
            assert mine == [b"m%d" % n for n in range(k * COUNT // 4, (k + 1) * COUNT // 4)]
        assert a.publish("cccc", b"to nobody") == 0
    finally:
        a.leave()
        b.leave()


def _publishes(url: str) -> int:
    """How many PUBLISH commands the Redis server has run."""
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


@pytest.mark.parametrize("direct", [True, False])
async def test_async_node_messages_take_the_direct_link(redis_url: str, direct: bool) -> None:
    cluster = RedisCluster(redis_url, prefix="bus-test", direct=direct)
    a, b = cluster.async_bus(), cluster.async_bus()
    got: asyncio.Queue[bytes] = asyncio.Queue()
    try:
        assert await a.join("aaaa", lambda message: None)
        assert await b.join("bbbb", got.put_nowait)
        before = _publishes(redis_url)
        assert await asyncio.gather(*(a.publish("bbbb", b"m%d" % n) for n in range(50))) \
            == [1] * 50
        assert [await asyncio.wait_for(got.get(), 5) for _ in range(50)] \
            == [b"m%d" % n for n in range(50)]
        assert _publishes(redis_url) - before == (0 if direct else 50)
    finally:
        await a.leave()
        await b.leave()


async def test_async_a_node_gone_without_leaving_reaches_nobody(redis_url: str) -> None:
    cluster = RedisCluster(redis_url, prefix="bus-test")
    a, b = cluster.async_bus(), cluster.async_bus()
    try:
        assert await a.join("aaaa", lambda message: None)
        assert await b.join("bbbb", lambda message: None)
        assert await a.publish("bbbb", b"hello") == 1
        await b.leave()  # unregisters: the next message goes to Redis, where nobody listens
        assert await a.publish("bbbb", b"hello") == 0
        # a node killed before it could unregister: its address answers nothing
        redis.Redis.from_url(redis_url).hset("bus-test:direct", "dddd", json.dumps(
            {"host": "127.0.0.1", "port": free_port(), "machine": machine_id()}))
        assert await a.publish("dddd", b"hello") == 0
        # another machine's loopback address is never dialled: over Redis
        redis.Redis.from_url(redis_url).hset("bus-test:direct", "eeee", json.dumps(
            {"host": "127.0.0.1", "port": 1, "machine": "another machine"}))
        assert await a.publish("eeee", b"hello") == 0
    finally:
        await a.leave()


async def test_async_a_link_without_the_token_is_refused(redis_url: str) -> None:
    cluster = RedisCluster(redis_url, prefix="bus-test")
    b = cluster.async_bus()
    got: asyncio.Queue[bytes] = asyncio.Queue()
    try:
        assert await b.join("bbbb", got.put_nowait)
        registered = redis.Redis.from_url(redis_url).hget("bus-test:direct", "bbbb")
        assert registered is not None
        address = json.loads(registered)
        reader, writer = await asyncio.open_connection(address["host"], address["port"])
        for frame in (b"not the token", b"a message"):
            writer.write(struct.pack(">I", len(frame)) + frame)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed on us
        writer.close()
        assert got.empty()
    finally:
        await b.leave()
