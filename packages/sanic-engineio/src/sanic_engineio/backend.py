"""The ``sanic`` backend: asyncio primitives under the name Sanic users pass as ``async_mode``.

Registered through the ``engineio_core.backends`` entry-point group (see this
package's ``pyproject.toml``), so ``AsyncServer(async_mode="sanic")`` works.
Sanic runs on plain asyncio (or uvloop), so nothing differs from the asyncio backend.
"""

from __future__ import annotations

from engineio_core.backends.asyncio import AsyncioBackend

__all__ = ["SanicBackend", "backend"]


class SanicBackend(AsyncioBackend):
    """Spawn and sleep on the loop Sanic runs (asyncio or uvloop)."""

    name = "sanic"


backend = SanicBackend()
"""The backend object the entry point names."""
