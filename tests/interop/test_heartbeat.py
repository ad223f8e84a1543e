"""Heartbeat with short timers (pingInterval 300 ms, pingTimeout 200 ms):
idle clients stay connected; clients that vanish or freeze are dropped in time."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .harness import (
    ALL_KINDS,
    ALL_MODES,
    ClientJob,
    ClientKind,
    CountObserver,
    Mode,
    RunningServer,
    SilentClient,
    run_client,
    run_clients,
    s_close,
    s_count,
    s_expect,
    s_expect_text,
    s_kill,
    s_open,
    s_send,
    s_sleep,
    s_wait_count,
    s_wait_upgrade,
)

pytestmark = pytest.mark.interop

MakeServer = Callable[..., RunningServer]

INTERVAL_MS = 300
TIMEOUT_MS = 200
FAST = {"EIO_PING_INTERVAL": str(INTERVAL_MS), "EIO_PING_TIMEOUT": str(TIMEOUT_MS)}
IDLE_MS = 1500


def test_idle_clients_stay_connected(make_server: MakeServer) -> None:
    """Every client kind on every transport, idle for 1.5 s (about 5 heartbeats),
    all at once; each must still echo afterwards and must not have been closed."""
    server = make_server(FAST)
    jobs: list[ClientJob] = []
    for kind in ALL_KINDS:
        for mode in ALL_MODES:
            steps = [s_open()]
            if mode == "upgrade":
                steps.append(s_wait_upgrade())
            steps += [s_sleep(IDLE_MS), s_send("alive"), s_expect(1), s_close()]
            jobs.append(ClientJob(kind, mode, server.url, steps))
    problems: list[str] = []
    for result in run_clients(jobs):
        try:
            result.expect_ok()
            hs = result.handshake
            assert hs is not None, result.summary()
            assert hs["pingInterval"] == INTERVAL_MS, result.summary()
            assert hs["pingTimeout"] == TIMEOUT_MS, result.summary()
            assert result.texts() == ["alive"], result.summary()
            assert result.close is not None
            assert result.close["reason"] in ("forced close", "client disconnect"), result.summary()
            expected_transport = "polling" if result.mode == "polling" else "websocket"
            assert result.transport == expected_transport, result.summary()
            # Heartbeats really happened: v6 answers server pings ('ping' event);
            # v3 sends pings and gets pongs ('pong' event).
            beats = {"v6": "ping", "v3": "pong"}.get(result.kind)
            if beats is not None:
                n = len(result.events_named(beats))
                assert n >= 3, f"only {n} {beats} events in {IDLE_MS} ms: {result.summary()}"
        except AssertionError as exc:
            problems.append(f"{result.label}: {exc}")
    assert not problems, "\n".join(problems)


DROP_ENV = {**FAST, "INTEROP_POOL": "drop-detection"}  # own server: counts are exact
DEADLINE_S = (INTERVAL_MS + TIMEOUT_MS) / 1000
SLACK_S = 1.0


def _observer(server: RunningServer) -> CountObserver:
    observer = CountObserver(server.url)
    observer.open()
    # Sessions of earlier tests on this server are gone by now (short timers).
    _, count = observer.wait_count(1, timeout=3.0)
    assert count == 1, f"stale sessions on {server.describe()}: count {count}"
    return observer


@pytest.mark.parametrize(
    ("eio", "transport"),
    [(4, "polling"), (4, "websocket"), (3, "polling"), (3, "websocket")],
    ids=["v4-polling", "v4-websocket", "v3-polling", "v3-websocket"],
)
def test_frozen_client_dropped(make_server: MakeServer, eio: int, transport: str) -> None:
    """A peer that opens a session and then never answers (TCP stays open).
    v4: the server's ping goes unanswered; v3: the client never pings. Either
    way the session ends after interval + timeout (not earlier: v3 must not
    drop at pingTimeout alone, PROTOCOL.md §4), and the others see the count drop."""
    server = make_server(DROP_ENV)
    observer = _observer(server)
    silent = SilentClient(server.port, eio, "polling" if transport == "polling" else "websocket")
    try:
        silent.open()
        t0 = time.monotonic()
        assert observer.count() == 2
        t_drop, count = observer.wait_count(1, timeout=DEADLINE_S + SLACK_S + 1)
        assert count == 1, f"frozen {transport} client still counted after {t_drop - t0:.2f} s"
        elapsed = t_drop - t0
        assert elapsed <= DEADLINE_S + SLACK_S, f"dropped after {elapsed:.2f} s"
        assert elapsed >= DEADLINE_S - 0.1, f"dropped too early, after {elapsed:.2f} s"
    finally:
        silent.close()
        observer.close()


@pytest.mark.parametrize(
    ("kind", "mode"),
    [
        pytest.param(k, m, id=f"{k}-{m}")
        for k in ("v6", "v3")
        for m in ("polling", "websocket", "upgrade")
    ],
)
def test_killed_client_dropped(make_server: MakeServer, kind: ClientKind, mode: Mode) -> None:
    """A node client that is SIGKILLed (no close packet, no close frame)."""
    server = make_server(DROP_ENV)
    observer = _observer(server)
    try:
        steps = [s_open()]
        if mode == "upgrade":
            steps.append(s_wait_upgrade())
        steps += [s_count(), s_kill()]
        result = run_client(ClientJob(kind, mode, server.url, steps)).expect_ok()
        t0 = time.monotonic()  # the process is gone
        assert result.counts == [2], result.summary()
        t_drop, count = observer.wait_count(1, timeout=DEADLINE_S + SLACK_S + 1)
        assert count == 1, f"killed client still counted after {t_drop - t0:.2f} s"
        assert t_drop - t0 <= DEADLINE_S + SLACK_S, f"dropped after {t_drop - t0:.2f} s"
    finally:
        observer.close()


def test_broadcast_reaches_every_kind(make_server: MakeServer) -> None:
    """cmd:broadcast:X from one client reaches all connected clients, whatever
    their protocol version or transport."""
    server = make_server(DROP_ENV)
    observer = _observer(server)
    try:
        pairs: list[tuple[ClientKind, Mode]] = [
            ("v6", "polling"),
            ("v3", "websocket"),
            ("py-async", "polling"),
            ("py-sync", "websocket"),
            ("v3", "upgrade"),
            ("v6", "upgrade"),
        ]
        waiting = [
            ClientJob(k, m, server.url, [s_open(), s_expect(1, timeout_ms=6000), s_close()])
            for k, m in pairs
        ]
        sender = ClientJob(
            "v6",
            "websocket",
            server.url,
            [
                s_open(),
                # everyone is connected: observer + 6 waiting + this sender
                s_wait_count(len(waiting) + 2, timeout_ms=6000),
                s_send("cmd:broadcast:hi €😀"),
                s_expect_text("hi €😀"),
                s_close(),
            ],
        )
        *results, sent = run_clients([*waiting, sender])
        for result in results:
            result.expect_ok()
            assert result.texts() == ["hi €😀"], result.summary()
        sent.expect_ok()
        texts = sent.texts()
        assert texts[-1] == "hi €😀", sent.summary()
        assert all(t is not None and t.startswith("count:") for t in texts[:-1]), sent.summary()
        assert sent.counts[-1] == len(waiting) + 2, sent.summary()
    finally:
        observer.close()
    assert run_client(ClientJob("v6", "polling", server.url, [s_open(), s_close()])).ok
