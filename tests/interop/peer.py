"""``Peer``: a python-engineio client that records its messages and its disconnect,
for the tests of several processes (cluster mode, sticky sessions)."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import engineio
from tests.helpers import wait_until_sent


class Peer:
    """Connects at once to ``url`` over ``transports`` (``client_options`` go to
    ``engineio.Client``: an ``http_session``, ``websocket_extra_options``...)."""

    def __init__(self, url: str, transports: list[str], **client_options: Any) -> None:
        self.client = engineio.Client(**client_options)
        self.got: queue.Queue[str | bytes] = queue.Queue()
        self.gone = threading.Event()
        self.client.on("message", self.got.put)
        self.client.on("disconnect", lambda *_: self.gone.set())
        self.client.connect(url, transports=transports)
        # "" when the session is gone already (a request reached a worker without it)
        self.sid: str = self.client.sid or ""

    def next(self, timeout: float = 5) -> str | bytes | None:
        """The next message, or ``None`` once the session is gone or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.gone.is_set():
            try:
                return self.got.get(timeout=0.05)
            except queue.Empty:
                pass
        return None

    def echoes(self, count: int) -> bool:
        """Whether ``count`` messages come back, in order (``False`` as soon as one
        does not: the session is gone, or a request reached a worker without it)."""
        for n in range(count):
            self.client.send(f"m{n}")
            if self.next() != f"m{n}":
                return False
        return True

    def echo(self, text: str) -> None:
        self.client.send(text)
        assert self.next() == text

    def close(self) -> None:
        if not self.gone.is_set():
            wait_until_sent(self.client)
            self.client.disconnect()
