"""The Redis bus itself (``engineio_core.cluster.redis``) against a real ``redis-server``:
messages to one node arrive in the order they were published, also when many are
published at once (they leave in batches), each PUBLISH reports the nodes it reached,
and a lost Redis is a :class:`BusUnavailable` naming the URL.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engineio_core.backends import load_backend
from engineio_core.cluster import BusUnavailable, RedisCluster

from .harness import redis_server

pytestmark = pytest.mark.interop

COUNT = 300


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


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
