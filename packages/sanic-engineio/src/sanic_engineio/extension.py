"""A sanic-ext ``Extension`` for sanic-engineio (needs ``sanic-ext`` installed).

Usage::

    from sanic_ext import Extend
    from sanic_engineio import SanicEngineIO
    from sanic_engineio.extension import EngineIOExtension

    eio = SanicEngineIO(cors_allowed_origins="*")
    Extend(app, extensions=[EngineIOExtension(eio)])   # or app.extend(...), Extend.register(...)

sanic-ext starts the extension, which calls ``eio.init_app(app)``; settings come
from the same ``ENGINEIO_*`` config keys. Importing :mod:`sanic_engineio` alone
never imports ``sanic_ext``.
"""

from __future__ import annotations

from typing import Any

from sanic_ext.extensions.base import Extension

from .integration import SanicEngineIO

__all__ = ["EngineIOExtension"]


class EngineIOExtension(Extension):  # type: ignore[no-untyped-call]  # sanic-ext's __init_subclass__
    """Mounts a :class:`~sanic_engineio.SanicEngineIO` when sanic-ext starts its extensions.

    Args:
        engineio: the extension object to initialise; a new one (with ``options``)
            when ``None``. Reach it later as ``app.ctx.engineio`` (the server) or
            keep your own reference to register handlers.
        **options: options for a new :class:`SanicEngineIO`.
    """

    name = "engineio"

    def __init__(self, engineio: SanicEngineIO | None = None, **options: Any) -> None:
        if engineio is not None and options:
            raise TypeError("pass either an existing SanicEngineIO or options, not both")
        self.engineio = engineio if engineio is not None else SanicEngineIO(**options)

    def startup(self, bootstrap: Any) -> None:
        """Called once by sanic-ext: initialise the Engine.IO server on ``self.app``."""
        self.engineio.init_app(self.app)

    def label(self) -> str:
        """Shown in Sanic's start-up banner: the Engine.IO path."""
        return self.engineio.mounted_path or ""
