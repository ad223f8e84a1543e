"""Runtimes, framework packages, tests and examples use the engine's public API only.

No file outside ``engineio_core/protocol/`` reads or writes a channel's frame
list (``Engine.data_to_send`` hands frames out), the engine's session table
(``has_session`` / ``session_ids`` / ``session_count`` / ``session_info``
answer) or the removed mode flags. Checked on the syntax tree, so comments
and strings do not count and attribute names are matched exactly.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "packages" / "engineio-core" / "src" / "engineio_core" / "protocol"
TREES = ("packages", "tests", "benchmarks", "examples")

ANY_OWNER = {"frames", "timer_changed", "inline_messages", "_entries"}
"""Attributes nothing outside the protocol package may touch, on any object."""
ENGINE_ONLY = {"sessions"}
"""Attributes not to touch on anything named ``engine`` (as in ``server.engine.sessions``)."""


def python_files() -> list[Path]:
    files: list[Path] = []
    for tree in TREES:
        for path in (ROOT / tree).rglob("*.py"):
            parts = set(path.relative_to(ROOT).parts)
            if PROTOCOL in path.parents or parts & {"node_modules", ".venv", ".cache"}:
                continue
            files.append(path)
    return sorted(files)


def _named_engine(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "engine"
    return isinstance(node, ast.Attribute) and node.attr in ("engine", "_engine")


def violations(path: Path) -> list[str]:
    """``line: .attr`` for every forbidden attribute access in a file, in line order."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (
            node.attr in ANY_OWNER or (node.attr in ENGINE_ONLY and _named_engine(node.value))
        ):
            found.append((node.lineno, f"{node.lineno}: .{node.attr}"))
    return [text for _, text in sorted(found)]


def test_the_scan_sees_the_tree() -> None:
    files = python_files()
    names = {p.name for p in files}
    assert {"async_server.py", "server.py", "wsgi.py", "peers.py"} <= names
    assert not [p for p in files if PROTOCOL in p.parents]


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "x = channel.frames\n"
        "server.engine.sessions.clear()\n"
        "engine.timer_changed = False\n"
        "# channel.frames in a comment\n"
        "s = 'engine.sessions'\n"
        "session_ids = server.sessions\n"  # not an engine: allowed
    )
    assert violations(sample) == ["1: .frames", "2: .sessions", "3: .timer_changed"]


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reach_into_engine_internals(path: Path) -> None:
    assert violations(path) == []
