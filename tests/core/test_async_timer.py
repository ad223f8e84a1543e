"""AsyncServer's one timer on a coarse loop clock: a deadline fires once, never in a busy loop.

asyncio runs a ``call_at`` callback once ``loop.time() + clock_resolution``
passes its deadline, so on a coarse clock (15.6 ms on Windows) the callback
can run while ``loop.time()`` still reads before the deadline. The server must
count the deadline as reached (as aioquic does), not re-arm the same instant
until the clock catches up.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import engineio_core
from engineio_core.protocol.http import Request

STEP = 0.05  # the fake clock's resolution


class CoarseLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves in 50 ms steps, and that counts timer arms."""

    def __init__(self) -> None:
        super().__init__()
        self._clock_resolution = STEP
        self.server: object = None
        self.timer_arms = 0

    def time(self) -> float:
        return math.floor(super().time() / STEP) * STEP

    def call_at(self, when: float, callback: Any, *args: Any,  # type: ignore[override]
                context: Any = None) -> asyncio.TimerHandle:
        if getattr(callback, "__self__", None) is self.server:
            self.timer_arms += 1
        return super().call_at(when, callback, *args, context=context)


async def no_body(_limit: int) -> bytes:
    return b""


async def scenario(loop: CoarseLoop) -> tuple[int, engineio_core.SessionInfo]:
    # Deadlines off the clock's 50 ms grid: the loop runs them up to 25 ms early.
    server = engineio_core.AsyncServer(ping_interval=0.225, ping_timeout=0.3)
    loop.server = server
    request = Request("GET", {"EIO": "4", "transport": "polling"}, {}, path="/engine.io/")
    response = await server.handle_http(request, no_body)
    assert response.status == 200
    (sid,) = server.session_ids()
    await asyncio.sleep(0.35)  # past the first ping (0.225 s), before its pong deadline (0.525 s)
    info = server.session_info(sid)
    arms = loop.timer_arms
    await server.shutdown()
    return arms, info


def test_a_deadline_reached_early_by_the_loop_fires_once() -> None:
    with asyncio.Runner(loop_factory=CoarseLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, CoarseLoop)
        arms, info = runner.run(scenario(loop))
    assert info.queued == 1  # the ping waits for the client's next GET
    # One arm for the ping, one for its pong deadline; a busy loop arms hundreds.
    assert arms == 2, f"the timer was armed {arms} times"


async def closing_in_order(loop: CoarseLoop) -> tuple[int, engineio_core.SessionInfo]:
    server = engineio_core.AsyncServer(ping_interval=0.3, ping_timeout=0.3)
    loop.server = server
    request = Request("GET", {"EIO": "4", "transport": "polling"}, {}, path="/engine.io/")
    for _ in range(4):  # deadlines 50 ms apart: the first session's is the earliest
        assert (await server.handle_http(request, no_body)).status == 200
        await asyncio.sleep(STEP)
    *first, last = server.session_ids()
    for sid in first:  # each close takes the earliest deadline away
        await server.disconnect(sid)
    await asyncio.sleep(0.3)  # past the last session's ping (0.3 s after its handshake)
    info = server.session_info(last)
    arms = loop.timer_arms
    await server.shutdown()
    return arms, info


def test_closing_the_session_due_first_moves_no_timer() -> None:
    """A later earliest deadline leaves the armed timer alone; it fires early, finds
    nothing due, and arms for the deadline then due: the last session is still pinged."""
    with asyncio.Runner(loop_factory=CoarseLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, CoarseLoop)
        arms, info = runner.run(closing_in_order(loop))
    assert info.queued == 1  # its ping came on time
    # The first handshake's arm, the re-arm after the early firing, the pong deadline;
    # moving the timer on every close would add one arm per closed session (3).
    assert arms == 3, f"the timer was armed {arms} times"


def test_a_timer_left_on_a_former_loop_is_armed_again_on_the_new_one() -> None:
    """An app served again on a new loop (as aiohttp's and Sanic's test clients do)
    with a session of the old loop still open: once that session closes, the timer
    is armed on the new loop, and the new loop's session is pinged on time."""
    server = engineio_core.AsyncServer(ping_interval=0.2, ping_timeout=0.3)
    request = Request("GET", {"EIO": "4", "transport": "polling"}, {}, path="/engine.io/")

    async def open_one() -> str:
        assert (await server.handle_http(request, no_body)).status == 200
        return server.session_ids()[-1]

    with asyncio.Runner() as former:
        first = former.run(open_one())  # its deadline armed on this loop, which then ends

    async def on_the_new_loop() -> engineio_core.SessionInfo:
        await asyncio.sleep(0.05)
        second = await open_one()  # a later deadline than the first session's
        await server.disconnect(first)
        await asyncio.sleep(0.3)  # past the second session's ping (0.2 s)
        info = server.session_info(second)
        await server.shutdown()
        return info

    with asyncio.Runner() as new:
        assert new.run(on_the_new_loop()).queued == 1
