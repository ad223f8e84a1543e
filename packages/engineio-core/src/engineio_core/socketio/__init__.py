"""python-socketio on engineio-core: unchanged python-socketio 5 and Flask-SocketIO.

Needs ``pip install "engineio-core[socketio]"`` (python-socketio, which brings
python-engineio for its own imports; nothing else of ours imports either).

Switch a server you build yourself with one line, a class of ours in place of
python-socketio's::

    from engineio_core.socketio import AsyncServer     # was: socketio.AsyncServer

    sio = AsyncServer(cors_allowed_origins="*")        # every python-socketio option
    app = socketio.ASGIApp(sio)                        # unchanged from here on

For code that builds ``socketio.Server`` itself (Flask-SocketIO), call
:func:`install` once, before it does::

    import engineio_core.socketio
    engineio_core.socketio.install()
    socketio = SocketIO(app)                           # flask_socketio.SocketIO

See ``docs/socketio.md`` for each framework and what changes.
"""

from __future__ import annotations

from typing import Any

try:
    import socketio
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('engineio_core.socketio needs python-socketio: '
                      'pip install "engineio-core[socketio]"') from exc

from .engine import AsyncEngineServer, EngineServer
from .options import IgnoredOptionWarning

__all__ = [
    "AsyncEngineServer",
    "AsyncServer",
    "EngineServer",
    "IgnoredOptionWarning",
    "Server",
    "install",
    "installed",
    "uninstall",
]


class Server(socketio.Server):  # type: ignore[misc]  # python-socketio is untyped
    """``socketio.Server`` on engineio-core (:class:`EngineServer` as ``self.eio``)."""

    def _engineio_server_class(self) -> type[EngineServer]:
        return EngineServer


class AsyncServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` on engineio-core (:class:`AsyncEngineServer` as ``self.eio``)."""

    def _engineio_server_class(self) -> type[AsyncEngineServer]:
        return AsyncEngineServer


_ORIGINAL: dict[type[Any], Any] = {}


def install() -> None:
    """Make every ``socketio.Server`` and ``socketio.AsyncServer`` built from now on
    run on engineio-core (Flask-SocketIO builds its own ``socketio.Server``).
    Calling it again does nothing; :func:`uninstall` undoes it."""
    for cls, engine in ((socketio.Server, EngineServer),
                        (socketio.AsyncServer, AsyncEngineServer)):
        if cls not in _ORIGINAL:
            _ORIGINAL[cls] = cls.__dict__["_engineio_server_class"]
            cls._engineio_server_class = _engine_class(engine)


def uninstall() -> None:
    """Undo :func:`install`: servers built from now on use python-engineio again."""
    for cls, original in list(_ORIGINAL.items()):
        cls._engineio_server_class = original
        del _ORIGINAL[cls]


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_ORIGINAL)


def _engine_class(engine: type[Any]) -> Any:
    def _engineio_server_class(self: Any) -> type[Any]:
        return engine
    return _engineio_server_class
