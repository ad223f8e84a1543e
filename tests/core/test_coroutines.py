"""``engineio_core.coroutines``: started by hand, carried on by a task if it suspends."""

from __future__ import annotations

import asyncio

import pytest

from engineio_core.coroutines import Finished, Started, start


async def test_a_coroutine_that_does_not_suspend_finishes_in_the_caller() -> None:
    async def quick() -> int:
        return 7

    step = start(quick())
    assert isinstance(step, Finished)
    assert step.value == 7


async def test_exceptions_of_the_first_step_reach_the_caller() -> None:
    async def broken() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        start(broken())


async def test_a_suspended_coroutine_goes_on_in_a_task() -> None:
    """Results and cancellation reach the coroutine as if the task had started it."""
    loop = asyncio.get_running_loop()
    waited: asyncio.Future[bytes] = loop.create_future()
    seen: list[str] = []

    async def serve() -> bytes:
        try:
            return await waited
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def carry(step: Finished[bytes] | Started[bytes]) -> bytes:
        assert isinstance(step, Started)
        return await step

    task = asyncio.ensure_future(carry(start(serve())))
    await asyncio.sleep(0)
    waited.set_result(b"late")
    assert await task == b"late"

    waited = loop.create_future()
    task = asyncio.ensure_future(carry(start(serve())))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


async def test_bare_yields_and_exceptions_inside_pass_through() -> None:
    async def steps() -> int:
        await asyncio.sleep(0)  # a bare yield to the loop
        try:
            await asyncio.sleep(0.001)
            raise ValueError("inside")
        except ValueError:
            return 3

    step = start(steps())
    assert isinstance(step, Started)
    assert await step == 3
