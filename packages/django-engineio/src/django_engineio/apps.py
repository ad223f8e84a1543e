"""The Django app: ``"django_engineio"`` in ``INSTALLED_APPS``."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules

__all__ = ["HANDLERS_MODULE", "EngineIOConfig"]

HANDLERS_MODULE = "engineio_handlers"
"""The module imported from every installed app, where handlers are registered with ``on``."""


class EngineIOConfig(AppConfig):
    """Registers the system checks and imports each app's ``engineio_handlers`` module."""

    name = "django_engineio"
    verbose_name = "Engine.IO"

    def ready(self) -> None:
        """Register the checks, then autodiscover ``<app>/engineio_handlers.py``."""
        from . import checks  # noqa: F401  (registers the checks)

        autodiscover_modules(HANDLERS_MODULE)
