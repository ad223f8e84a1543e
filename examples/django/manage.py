#!/usr/bin/env python
"""django-engineio example: ``python examples/django/manage.py runserver`` (ASGI, daphne).

Run it from anywhere (the project directory is put on ``sys.path``); the page loads
engine.io-client from the demo's ``node_modules`` (``npm ci --prefix examples/demo``).
``runserver`` without an address listens on ``HOST``:``PORT`` from the environment
(default 127.0.0.1:8000)::

    python examples/django/manage.py runserver                   # http://127.0.0.1:8000/
    PORT=9000 HOST=0.0.0.0 python examples/django/manage.py runserver
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_VALUED_OPTIONS = ("--settings", "--pythonpath", "-v", "--verbosity")


def with_address(argv: list[str]) -> list[str]:
    """``argv``, plus ``HOST:PORT`` (environment, default 127.0.0.1:8000) when it is
    ``runserver`` without an address."""
    if argv[1:2] != ["runserver"]:
        return argv
    args = iter(argv[2:])
    for arg in args:
        if arg in _VALUED_OPTIONS:
            next(args, None)  # its value
        elif not arg.startswith("-"):
            return argv  # an address was given
    host = os.environ.get("HOST", "127.0.0.1")
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return [*argv, f"{host}:{os.environ.get('PORT', '8000')}"]


def main() -> None:
    """Django's command line for the example project."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(with_address(sys.argv))


if __name__ == "__main__":
    main()
