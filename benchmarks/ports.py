"""Ports for the servers tests and benchmarks start, outside the kernel's ephemeral range.

A port found by binding port 0 comes from the ephemeral range, which the kernel
also hands to the client side of every outgoing connection: between the moment
a test picks such a port and the moment its server binds it, any connection the
test run opens may take it (seen: nginx "bind() ... Address already in use" in a
full run). Ports below that range are never given to connections. Each
pytest-xdist worker draws from its own share of a range, and a picker hands out
consecutive ports from a random start, skipping any that cannot be bound now.
"""

from __future__ import annotations

import os
import random
import socket

__all__ = ["PortPicker", "ephemeral_low", "worker_share"]


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 where it cannot be read)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def worker_share(low: int, high: int) -> tuple[int, int]:
    """``[low, high)`` narrowed to this pytest-xdist worker's share (all of it outside xdist).

    Processes a test starts inherit the worker's environment, so they draw from the
    same share as the test; the two ranges of :class:`PortPicker`'s users keep them apart.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or "1"), 1)
    index = int(worker[2:]) % count if worker[:2] == "gw" and worker[2:].isdigit() else 0
    size = (high - low) // count
    return low + index * size, low + (index + 1) * size


class PortPicker:
    """Hands out ports of ``[low, high)`` (this worker's share) that are free right now."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = worker_share(low, high)
        self._next = random.randrange(self.low, self.high)

    def __call__(self) -> int:
        for _ in range(self.high - self.low):
            port = self._next
            self._next = port + 1 if port + 1 < self.high else self.low
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
        raise RuntimeError(f"no free port in {self.low}-{self.high - 1} on 127.0.0.1")
