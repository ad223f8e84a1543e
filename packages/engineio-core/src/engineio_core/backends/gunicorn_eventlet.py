"""A gunicorn worker on eventlet, for gunicorn releases that no longer ship ``-k eventlet``.

gunicorn 23 deprecated its eventlet worker and later releases removed it. Run::

    gunicorn -k engineio_core.backends.gunicorn_eventlet.EventletWorker -w 1 module:app

with ``Server(async_mode="eventlet")`` (or ``async_mode=None``: the worker
monkey-patches the process before it loads the application). Polling and
WebSocket both work: the WebSocket is served on ``environ["gunicorn.socket"]``.
On a gunicorn that still has ``-k eventlet``, either worker will do.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import eventlet
import eventlet.greenio
import eventlet.wsgi
from gunicorn.workers.base_async import AsyncWorker

__all__ = ["EventletWorker"]


class EventletWorker(AsyncWorker):  # type: ignore[misc]
    """gunicorn's async worker, with eventlet green threads serving the connections."""

    def init_process(self) -> None:
        eventlet.monkey_patch()
        super().init_process()

    def timeout_ctx(self) -> Any:
        return eventlet.Timeout(self.cfg.keepalive or None, False)

    def is_already_handled(self, respiter: Any) -> bool:
        # An application that took the connection over (eventlet's convention).
        if getattr(eventlet.wsgi.WSGI_LOCAL, "already_handled", False):
            raise StopIteration
        return bool(super().is_already_handled(respiter))

    def handle_quit(self, sig: int, frame: Any) -> None:
        # Not in the signal handler: stopping may block.
        eventlet.spawn(super().handle_quit, sig, frame)

    def handle_usr1(self, sig: int, frame: Any) -> None:
        eventlet.spawn(super().handle_usr1, sig, frame)

    def run(self) -> None:
        acceptors = []
        for sock in self.sockets:
            listener = eventlet.greenio.GreenSocket(sock)
            listener.setblocking(True)
            acceptors.append(eventlet.spawn(self._serve, listener,
                                            partial(self.handle, listener)))
        while self.alive:
            self.notify()
            eventlet.sleep(1.0)
        self.notify()
        for acceptor in acceptors:
            acceptor.kill()  # stop accepting; connections in flight go on
        pool_empty = eventlet.Timeout(self.cfg.graceful_timeout, False)
        with pool_empty:
            while self._pool is not None and self._pool.running():
                self.notify()
                eventlet.sleep(0.1)

    _pool: Any = None

    def _serve(self, listener: Any, handle: Any) -> None:
        pool = self._pool = eventlet.GreenPool(self.worker_connections)
        while True:
            client, addr = listener.accept()
            client.setblocking(True)
            pool.spawn_n(handle, client, addr)
