"""What a framework package accepts as the server to host.

Each package takes our :class:`~engineio_core.AsyncServer` (or
:class:`~engineio_core.Server`), and also a python-socketio server running on
our engine (``engineio_core.socketio.AsyncServer``): its engine,
``sio.eio.engineio_core_server``, is then the one hosted. Nothing here imports
python-socketio.
"""

from __future__ import annotations

from typing import TypeVar

from .async_server import AsyncServer
from .server import Server

__all__ = ["hosted_server"]

S = TypeVar("S", AsyncServer, Server)


def hosted_server(server: object, kind: type[S], where: str) -> S:
    """The engineio-core server of kind ``kind`` behind ``server``.

    Args:
        server: a server of ours, or a python-socketio server on our engine.
        kind: :class:`~engineio_core.AsyncServer` or :class:`~engineio_core.Server`.
        where: what is asking, for the error (``"aiohttp_engineio.setup()"``).

    Raises:
        TypeError: ``server`` is neither, or of the other kind (a sync ``Server``
            given to an asyncio framework); the message says what to pass.
    """
    if isinstance(server, kind):
        return server
    engine = getattr(server, "eio", server)  # a python-socketio server: its engine
    core = getattr(engine, "engineio_core_server", None)
    if isinstance(core, kind):
        return core
    found = core if core is not None else server
    if isinstance(found, AsyncServer | Server):
        other = "Server" if kind is AsyncServer else "AsyncServer"
        article = "a" if other == "Server" else "an"
        raise TypeError(f"{where} needs an engineio_core.{kind.__name__}, got {article} {other}"
                        f" (the {'blocking' if other == 'Server' else 'asyncio'} one)")
    raise TypeError(f"{where} needs an engineio_core.{kind.__name__} or a python-socketio "
                    f"server on our engine (engineio_core.socketio), got "
                    f"{type(server).__qualname__}")
