"""Engine.IO for django."""

from __future__ import annotations

__all__: list[str] = []
