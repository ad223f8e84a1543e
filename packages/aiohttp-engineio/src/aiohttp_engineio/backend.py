"""The ``aiohttp`` backend: what ``AsyncServer(async_mode="aiohttp")`` loads.

aiohttp runs on the asyncio event loop, so the backend is the asyncio one under
its own name. It is registered in the ``engineio_core.backends`` entry-point
group by this package's ``pyproject.toml``.
"""

from __future__ import annotations

from engineio_core.backends.asyncio import AsyncioBackend

__all__ = ["AiohttpBackend", "backend"]


class AiohttpBackend(AsyncioBackend):
    """Spawn and sleep with asyncio, for servers attached to an aiohttp application."""

    name = "aiohttp"


backend = AiohttpBackend()
"""The backend object the entry point ``aiohttp_engineio.backend:backend`` names."""
