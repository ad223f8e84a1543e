"""Static files served next to Engine.IO by ``ASGIApp`` and ``WSGIApp``."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Mapping

__all__ = ["StaticFiles", "static_file"]

StaticFiles = Mapping[str, str | Mapping[str, str]]
"""URL path → file path, or → ``{"filename": ..., "content_type": ...}``; a key ending
in ``/`` maps a URL prefix to a directory."""


def static_file(static_files: StaticFiles, path: str) -> tuple[str, str] | None:
    """The file (and its content type) that ``static_files`` maps ``path`` to, if it exists."""
    target: str | Mapping[str, str] | None = static_files.get(path)
    if target is None:
        for prefix in sorted(static_files, key=len, reverse=True):  # the longest prefix wins
            folder = static_files[prefix]
            if prefix.endswith("/") and path.startswith(prefix) and isinstance(folder, str):
                rest = os.path.normpath(path[len(prefix):]).lstrip("/")
                if rest.startswith(".."):
                    return None
                target = os.path.join(folder, rest if rest not in ("", ".") else "index.html")
                break
    if target is None:
        return None
    if isinstance(target, str):
        filename, content_type = target, None
    else:
        filename, content_type = target["filename"], target.get("content_type")
    if not os.path.isfile(filename):
        return None
    return filename, content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
