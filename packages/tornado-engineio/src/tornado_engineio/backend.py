"""The ``tornado`` backend: ``AsyncServer(async_mode="tornado")``.

Tornado runs on the asyncio event loop, so the backend is the asyncio one under
its own name (registered through the ``engineio_core.backends`` entry point).
"""

from __future__ import annotations

from engineio_core.backends.asyncio import AsyncioBackend

__all__ = ["TornadoBackend", "backend"]


class TornadoBackend(AsyncioBackend):
    """Spawn and sleep on the asyncio loop Tornado's ``IOLoop`` runs on."""

    name = "tornado"


backend = TornadoBackend()
"""The instance the entry point ``tornado_engineio.backend:backend`` names."""
