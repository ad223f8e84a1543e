"""The eventlet backend: green threads (``eventlet.wsgi.server``, ``gunicorn -k eventlet``).

Start the process with ``eventlet.monkey_patch()`` (first lines of the app
module) so that the application's own blocking calls yield too; the server
itself only uses eventlet's green primitives, patched or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import eventlet
from eventlet.green import threading as green_threading

from .base import NoLock

__all__ = ["EventletBackend", "backend"]


class _Task:
    """A green thread with the ``join()`` the servers expect."""

    __slots__ = ("_thread",)

    def __init__(self, thread: Any) -> None:
        self._thread = thread

    def join(self, timeout: float | None = None) -> None:
        if timeout is None:
            self._thread.wait()
            return
        with eventlet.Timeout(timeout, False):
            self._thread.wait()


class EventletBackend:
    """Spawn, sleep and wait with eventlet green threads."""

    name = "eventlet"
    kind: Literal["sync"] = "sync"

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Task:
        return _Task(eventlet.spawn(fn, *args, **kwargs))

    def sleep(self, seconds: float) -> None:
        eventlet.sleep(seconds)

    def event(self) -> Any:
        return green_threading.Event()

    def lock(self) -> Any:
        return green_threading.RLock()

    def state_lock(self) -> NoLock:
        return NoLock()  # green threads switch only where they wait

    def monotonic(self) -> float:
        return time.monotonic()

    def current(self) -> object:
        return eventlet.getcurrent()

    def defer(self, fn: Callable[..., Any], *args: Any) -> bool:
        eventlet.spawn_n(fn, *args)
        return True


backend = EventletBackend()
