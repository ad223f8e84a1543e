"""The code blocks of README.md and docs/*.md, as test_snippets.py checks them.

A block is a fenced block with a language (```` ```python ````, ``bash``, ``nginx``,
``haproxy``, ``text``). A Python block that cannot run alone (a piece of a larger
program: it uses names defined elsewhere, or it is one file of several) is marked on
the line right before its fence::

    <!-- fragment: the connect handler of the app above -->

The reason after the colon is optional. A block whose last line is
``# raises Name: message`` is one that must fail with exactly that error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
"""Every Markdown file whose blocks are checked."""

FRAGMENT = re.compile(r"^\s*<!-- fragment(?::[^>]*)? -->\s*$")
OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)(?P<lang>[^`\s]*)\s*$")
RAISES = re.compile(r"^# raises (?P<expected>\w+: .+)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block."""

    file: str
    """Its file, relative to the repository (``docs/flask.md``)."""
    line: int
    """The line of its opening fence (1-based)."""
    lang: str
    code: str
    fragment: bool
    """Marked ``<!-- fragment -->``: compiled, not run."""

    @property
    def id(self) -> str:
        """``docs/flask.md:3``."""
        return f"{self.file}:{self.line}"

    @property
    def raises(self) -> str | None:
        """``Name: message`` when the block ends with ``# raises Name: message``."""
        last = self.code.rstrip().rsplit("\n", 1)[-1]
        m = RAISES.match(last)
        return m.group("expected") if m else None


def blocks_of(path: Path) -> list[Block]:
    """Every fenced block of one Markdown file, in order."""
    lines = path.read_text("utf-8").split("\n")
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    found = []
    i = 0
    while i < len(lines):
        m = OPEN.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        close = re.compile(rf"^\s*{re.escape(fence)}\s*$")
        end = i + 1
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        if end == len(lines):
            raise ValueError(f"{name}:{i + 1}: the code block is never closed")
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip()
                for line in lines[i + 1:end]]
        fragment = i > 0 and FRAGMENT.match(lines[i - 1]) is not None
        found.append(Block(name, i + 1, m.group("lang"), "\n".join(body) + "\n", fragment))
        i = end + 1
    return found


def all_blocks() -> list[Block]:
    """Every block of every file of :data:`SOURCES`."""
    return [block for path in SOURCES for block in blocks_of(path)]


def find_block(file: str, line: int) -> Block:
    """The block whose opening fence is on ``line`` of ``file``."""
    path = Path(file) if Path(file).is_absolute() else ROOT / file
    for block in blocks_of(path):
        if block.line == line:
            return block
    raise LookupError(f"no code block starts on {file}:{line}")
