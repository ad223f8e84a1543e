"""The example app: its ``engineio_handlers.py`` is found by django-engineio."""
