"""Node ids and the session ids that name their owner (pure).

A session id keeps engine.io's shape, 20 url-safe characters: the first
:data:`NODE_ID_LENGTH` are the id of the node that created the session, the
other 16 are random (96 bits). So any node tells a session's owner from its
id alone, with no lookup.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable

from ..protocol.http import Request

__all__ = ["NODE_ID_LENGTH", "SID_LENGTH", "new_node_id", "owner_of", "sid_generator"]

NODE_ID_LENGTH = 4
"""Characters of a node id (24 random bits): the first characters of its session ids."""

SID_LENGTH = 20
"""Characters of a session id, as engine.io's."""


def new_node_id() -> str:
    """A random node id (checked for uniqueness by the node when it joins)."""
    return base64.urlsafe_b64encode(os.urandom(3)).decode()


def owner_of(sid: str) -> str | None:
    """The id of the node that created session ``sid``; ``None`` if ``sid`` is not
    shaped as a cluster session id."""
    return sid[:NODE_ID_LENGTH] if len(sid) == SID_LENGTH else None


def sid_generator(node: str) -> Callable[[Request], str]:
    """The engine's ``sid_generator`` for a node: ids that start with its id."""

    def generate(_request: Request) -> str:
        return node + base64.urlsafe_b64encode(os.urandom(12)).decode()

    return generate
