"""The protocol layer is sans-I/O: no module of it imports I/O, threads, a clock or a framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import engineio_core.protocol

PACKAGE_DIR = Path(engineio_core.protocol.__file__).parent

FORBIDDEN = {
    "asyncio", "threading", "socket", "time", "select", "selectors",
    "multiprocessing", "concurrent", "subprocess", "ssl", "signal", "_thread", "queue",
    "trio", "anyio", "eventlet", "gevent",
    "flask", "django", "aiohttp", "tornado", "sanic", "starlette", "quart", "werkzeug",
    "uvicorn", "hypercorn", "daphne", "channels", "wsproto", "h11", "websockets",
    "engineio",  # the predecessor; python-engineio is a test-only peer
    "engineio_core.asgi", "engineio_core.wsgi", "engineio_core.server",
    "engineio_core.async_server", "engineio_core.base_server", "engineio_core.backends",
    "engineio_core.websocket_sync",
}

KNOWN_MODULES = {
    "__init__.py", "config.py", "engine.py", "errors.py", "events.py", "http.py",
    "jsonp.py", "packets.py", "payload_v3.py", "payload_v4.py", "session.py", "versions.py",
}


def protocol_modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute module an ``import`` names, with its line (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = "engineio_core.protocol"
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in ("__import__", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def test_known_protocol_modules_exist() -> None:
    names = {path.name for path in protocol_modules()}
    missing = KNOWN_MODULES - names
    assert not missing, f"protocol modules not found (is PACKAGE_DIR right?): {missing}"


@pytest.mark.parametrize("path", protocol_modules(), ids=lambda p: p.name)
def test_protocol_module_does_no_io(path: Path) -> None:
    bad = [(line, module) for line, module in imported_modules(path) if forbidden(module)]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import time as clock",
        "from threading import Lock",
        "from socket import socket",
        "import selectors, json",
        "from concurrent.futures import Future",
        "import flask.json",
        "from ..asgi import ASGIApp",
        "from .. import server",
        "importlib.import_module('asyncio')",
    ],
)
def test_checker_catches_forbidden_imports(source: str, tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    path.write_text(source + "\n", encoding="utf-8")
    assert any(forbidden(module) for _, module in imported_modules(path)), source


@pytest.mark.parametrize(
    "source",
    ["import json", "from .packets import Packet", "import zlib, gzip", "from . import http",
     "from typing import TYPE_CHECKING"],
)
def test_checker_allows_pure_imports(source: str, tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    path.write_text(source + "\n", encoding="utf-8")
    assert not any(forbidden(module) for _, module in imported_modules(path)), source
