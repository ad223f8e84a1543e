#!/usr/bin/env python
"""django-engineio example: ``python examples/django/manage.py runserver`` (ASGI, daphne).

Run it from anywhere (the project directory is put on ``sys.path``); the page loads
engine.io-client from the demo's ``node_modules`` (``npm ci --prefix examples/demo``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    """Django's command line for the example project."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
