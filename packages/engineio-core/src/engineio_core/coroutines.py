"""Start a coroutine by hand and, only if it suspends, let a task carry it on.

Most coroutines an Engine.IO runtime starts (a polling request, a message
handler) finish without suspending; running them to their first suspension
in the caller spares a task each. :func:`start` does that; a coroutine that
did suspend comes back as a :class:`Started`, which a task awaits as if it had
started the coroutine itself.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

__all__ = ["Finished", "Started", "start"]

T = TypeVar("T")


class Finished(Generic[T]):
    """A coroutine that :func:`start` ran to its end without suspending."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


class Started(Generic[T]):
    """Awaits a coroutine that was started by hand and is suspended on ``suspended``.

    Awaited in a task, it hands the task what the coroutine yielded (the future
    it waits for) and passes back what the task sends or throws in (a result,
    a cancellation), as if the task had started the coroutine itself.
    """

    __slots__ = ("_coro", "_suspended")

    def __init__(self, coro: Coroutine[Any, Any, T], suspended: Any) -> None:
        self._coro = coro
        self._suspended = suspended

    def __await__(self) -> Generator[Any, Any, T]:
        coro = self._coro
        value = self._suspended
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    value = coro.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]


def start(coro: Coroutine[Any, Any, T]) -> Finished[T] | Started[T]:
    """Run ``coro`` until it finishes or first suspends (its exceptions propagate)."""
    try:
        suspended = coro.send(None)
    except StopIteration as done:
        return Finished(done.value)
    return Started(coro, suspended)
