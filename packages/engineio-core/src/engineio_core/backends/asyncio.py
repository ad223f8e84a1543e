"""The asyncio backend: used by ``AsyncServer`` under any ASGI server or asyncio framework."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

__all__ = ["AsyncioBackend", "backend"]


class AsyncioBackend:
    """Spawn and sleep with asyncio."""

    name = "asyncio"
    kind: Literal["async"] = "async"

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any,
              **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(fn(*args, **kwargs))
        self._tasks.add(task)  # keep a reference until it ends
        task.add_done_callback(self._tasks.discard)
        return task

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()


backend = AsyncioBackend()
