"""The ports tests and benchmarks give their servers (benchmarks/ports.py)."""

from __future__ import annotations

import socket

import pytest
from benchmarks.ports import PortPicker, ephemeral_low, worker_share


def test_each_xdist_worker_draws_from_its_own_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    shares = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        shares.append(worker_share(20000, 32768))
    assert shares == [(20000, 26384), (26384, 32768)]
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT")
    assert worker_share(20000, 32768) == (20000, 32768)


def test_a_picker_hands_out_distinct_free_ports_below_the_ephemeral_range(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pick = PortPicker(20000, max(ephemeral_low(), 24000))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", pick._next))  # the port it would give next is in use
        taken.listen()
        busy = taken.getsockname()[1]
        ports = [pick() for _ in range(50)]
    assert busy not in ports
    assert len(set(ports)) == 50
    assert all(20000 <= port < max(ephemeral_low(), 24000) for port in ports)
    for port in ports:  # each was free when handed out
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
