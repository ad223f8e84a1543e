"""Polling -> WebSocket upgrade with messages in flight (node clients: the
python-engineio client upgrades inside connect(), before anything is sent)."""

from __future__ import annotations

import pytest

from .harness import (
    ClientJob,
    ClientKind,
    RunningServer,
    run_clients,
    s_close,
    s_expect,
    s_open,
    s_send_many,
    s_wait_upgrade,
)

pytestmark = pytest.mark.interop

N = 200
TAIL = 20  # held back until the client has seen 'upgrade'


@pytest.mark.parametrize("kind", ["v6", "v3"])
def test_upgrade_with_messages_in_flight(server: RunningServer, kind: ClientKind) -> None:
    steps = [
        s_open(),
        # Starts right after 'open', i.e. while the probe WebSocket is opening;
        # 1 ms apart, so messages go out before, during and after the upgrade.
        s_send_many(N, prefix="n", interval_ms=1, tail_after_upgrade=TAIL),
        s_wait_upgrade(),
        s_expect(N),
        s_close(),
    ]
    # Two clients at once: more interleaving on the server, and it is cheaper.
    results = run_clients([ClientJob(kind, "upgrade", server.url, steps) for _ in range(2)])
    for result in results:
        result.expect_ok()
        assert result.texts() == [f"n{i}" for i in range(N)], result.summary()
        assert all(m.type == "text" for m in result.messages)
        assert result.transport == "websocket", result.summary()
        upgrades = result.events_named("upgrade")
        assert len(upgrades) == 1, result.summary()
        assert upgrades[0]["transport"] == "websocket"
        # The upgrade completed while the burst was under way.
        assert 1 <= upgrades[0]["sent"] <= N - TAIL, result.summary()
        assert result.events_named("upgradeError") == [], result.summary()
        assert result.close is not None
        assert result.close["reason"] == "forced close", result.summary()
