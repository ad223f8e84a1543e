"""The runtime primitives a backend provides, as Protocols.

A sync backend (threading, eventlet, gevent...) and an async backend
(asyncio) each provide the same small set of names; servers use nothing else
to spawn, sleep, wait or lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

__all__ = ["AsyncBackend", "BackendKind", "Event", "Lock", "NoLock", "SyncBackend"]

BackendKind = Literal["sync", "async"]
"""``"sync"``: a :class:`SyncBackend`, for ``Server``; ``"async"``: an :class:`AsyncBackend`,
for ``AsyncServer``."""


class Event(Protocol):
    """A one-shot flag a thread (or green thread) can wait on."""

    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class Lock(Protocol):
    """A re-entrant lock."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> Any: ...
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...
    def release(self) -> None: ...


class NoLock:
    """A lock that is always free: what :meth:`SyncBackend.state_lock` gives where
    nothing can run in between (green threads, for sections that never wait)."""

    __slots__ = ()

    def __enter__(self) -> NoLock:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        return None


class SyncBackend(Protocol):
    """Primitives of a blocking (thread or green thread) runtime."""

    name: str
    kind: Literal["sync"]

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` concurrently; returns a handle with ``join()``."""
        ...

    def sleep(self, seconds: float) -> None: ...
    def event(self) -> Event: ...
    def lock(self) -> Lock: ...

    def state_lock(self) -> Lock:
        """A lock for state changed in short sections that never wait: a real lock
        under OS threads; a :class:`NoLock` under green threads, which switch only
        where they wait, so such a section runs whole anyway."""
        ...

    def monotonic(self) -> float: ...

    def current(self) -> object:
        """The running thread or green thread (compared by identity)."""
        ...

    def defer(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Run ``fn(*args)`` in a new green thread once the caller yields, and return
        ``True``; return ``False`` (and run nothing) where that is not cheap (OS threads).

        Servers defer WebSocket writes to other sessions with it, so that a burst
        of messages (a broadcast) reaches each socket in one write.
        """
        ...


class AsyncBackend(Protocol):
    """Primitives of an asyncio runtime."""

    name: str
    kind: Literal["async"]

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Run the coroutine function concurrently; returns an awaitable task."""
        ...

    async def sleep(self, seconds: float) -> None: ...
    def monotonic(self) -> float: ...
