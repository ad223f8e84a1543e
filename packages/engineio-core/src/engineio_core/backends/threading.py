"""The threading backend: OS threads (Werkzeug's threaded server, gunicorn gthread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["ThreadingBackend", "backend"]


class ThreadingBackend:
    """Spawn, sleep and wait with the standard library's threads."""

    name = "threading"
    kind: Literal["sync"] = "sync"

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> threading.Thread:
        thread = threading.Thread(target=fn, args=args, kwargs=kwargs, daemon=True)
        thread.start()
        return thread

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def event(self) -> threading.Event:
        return threading.Event()

    def lock(self) -> threading.RLock:
        return threading.RLock()

    def state_lock(self) -> threading.RLock:
        return threading.RLock()

    def monotonic(self) -> float:
        return time.monotonic()

    def current(self) -> object:
        return threading.current_thread()

    def defer(self, fn: Callable[..., Any], *args: Any) -> bool:
        return False  # a thread per write would cost more than the write


backend = ThreadingBackend()
