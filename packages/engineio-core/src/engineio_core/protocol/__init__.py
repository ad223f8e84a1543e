"""The sans-I/O Engine.IO protocol: packets, payloads, sessions and the engine.

Nothing in this package does I/O or reads a clock: time arrives as ``now``.
"""

from __future__ import annotations
