"""``AsyncServer`` watches held long-poll GETs (``handle_http(..., disconnected)``):
one whose client went away ends its session, also when the server is served
again on a new event loop (as aiohttp's and Sanic's test clients do)."""

from __future__ import annotations

import asyncio
import json

from engineio_core import AsyncServer, DisconnectReason, Request
from engineio_core.protocol.http import Response

WAIT = 3.0  # HELD_POLL_WATCH_DELAY (0.5 s) at most twice, with room


async def _no_body(limit: int) -> bytes:
    return b""


async def _open(eio: AsyncServer) -> str:
    response = await eio.handle_http(
        Request("GET", {"EIO": "4", "transport": "polling"}, {}), _no_body)
    assert isinstance(response, Response)
    assert response.status == 200
    sid: str = json.loads(response.body[1:])["sid"]
    return sid


def _poll(sid: str) -> Request:
    return Request("GET", {"EIO": "4", "transport": "polling", "sid": sid}, {})


def test_a_dead_held_poll_ends_its_session_on_every_loop() -> None:
    eio = AsyncServer(ping_interval=60, ping_timeout=60)
    reasons: list[DisconnectReason] = []
    eio.on("disconnect", lambda sid, reason: reasons.append(reason))

    async def client_stays() -> None:
        await asyncio.Event().wait()

    async def first_loop() -> None:
        # A GET held, then cancelled with its loop's work (the client is fine).
        sid = await _open(eio)
        held = asyncio.ensure_future(eio.handle_http(_poll(sid), _no_body, client_stays))
        await asyncio.sleep(0.01)
        held.cancel()
        await asyncio.gather(held, return_exceptions=True)

    async def client_gone() -> None:
        return None

    async def second_loop() -> list[DisconnectReason]:
        sid = await _open(eio)
        loop = asyncio.get_running_loop()
        started = loop.time()
        held = asyncio.ensure_future(eio.handle_http(_poll(sid), _no_body, client_gone))
        while eio.has_session(sid) and loop.time() - started < WAIT:
            await asyncio.sleep(0.02)
        seen = list(reasons)  # before the cancel below ends the session anyway
        held.cancel()
        await asyncio.gather(held, return_exceptions=True)
        return seen

    asyncio.run(first_loop())
    reasons.clear()
    assert asyncio.run(second_loop()) == [DisconnectReason.TRANSPORT_ERROR]
