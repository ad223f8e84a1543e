"""The benchmarks' contract app (``benchmarks/contract_app.py``) on both servers, in-process."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from benchmarks.contract_app import register_async, register_sync

from engineio_core import AsyncServer, Request, Server


def _polling(method: str, sid: str | None = None) -> Request:
    query = {"EIO": "4", "transport": "polling", **({"sid": sid} if sid else {})}
    return Request(method=method, query=query, headers={"content-type": "text/plain"})


def _sid(body: bytes) -> str:
    sid: str = json.loads(body[1:])["sid"]
    return sid


def test_a_message_before_the_close_in_one_post_is_no_error(
        caplog: pytest.LogCaptureFixture) -> None:
    """``4hi<RS>1``: ``hi`` reaches the handler once the session is closed, and its
    echo finds no session; the handler must not fail on that (the wire fuzzer saw
    "message handler failed ... SessionUnknown" tracebacks)."""
    caplog.set_level(logging.ERROR, logger="engineio_core")

    async def run_async() -> None:
        eio = AsyncServer()
        register_async(eio)

        async def nothing(limit: int) -> bytes:
            return b""

        async def payload(limit: int) -> bytes:
            return b"4hi\x1e1"

        sid = _sid((await eio.handle_http(_polling("GET"), nothing)).body)
        response = await eio.handle_http(_polling("POST", sid), payload)
        assert (response.status, response.body) == (200, b"ok")
        assert not eio.has_session(sid)

    asyncio.run(run_async())
    eio = Server(async_mode="threading")
    register_sync(eio)
    sid = _sid(eio.handle_http(_polling("GET"), lambda limit: b"").body)
    response = eio.handle_http(_polling("POST", sid), lambda limit: b"4hi\x1e1")
    assert (response.status, response.body) == (200, b"ok")
    assert not eio.has_session(sid)
    assert [r.getMessage() for r in caplog.records] == []


@pytest.mark.parametrize("scenario", ["handshake", "polling_echo", "ws_echo"])
def test_the_in_process_benchmark_serves_what_it_measures(scenario: str) -> None:
    """``benchmarks/inprocess.py`` drives the contract app's ASGIApp: every unit it
    counts got its answer (the open packet and ``ok`` of each close, each echo)."""
    from benchmarks import contract_app, inprocess

    async def run() -> int:
        app = contract_app.make_async_app()
        await inprocess.RUNS[scenario](app, 50, 5)
        return app.server.session_count()

    assert asyncio.run(run()) == (1 if scenario == "polling_echo" else 0)


@pytest.mark.parametrize("scenario", ["handshake", "polling_echo", "ws_echo"])
def test_the_in_process_benchmark_drives_uvicorns_floor_app(scenario: str) -> None:
    """``inprocess.py --app floor`` runs the same units through ``uvicorn_floor.app``
    (the driver checks each answer): the floor's sessions end as ours do."""
    from benchmarks import inprocess, uvicorn_floor

    before = set(uvicorn_floor._sessions)
    asyncio.run(inprocess.RUNS[scenario](inprocess.make_app("floor"), 50, 5))
    left = set(uvicorn_floor._sessions) - before
    assert len(left) == (1 if scenario == "polling_echo" else 0)
