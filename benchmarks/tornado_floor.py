"""Tornado with no Engine.IO in it: the bound for our Tornado app on polling and handshakes.

::

    python -m benchmarks.tornado_floor --port 18050

Not an Engine.IO server: just enough of the protocol for the bench's
``polling_echo``, ``handshakes_polling`` and ``handshakes_ws`` scenarios, with
the cheapest Tornado path for each (what no Engine.IO server on Tornado can
beat). Polling: a bare ``HTTPMessageDelegate`` that answers a handshake with a
canned open packet, keeps a POST's body and returns it to the session's next
GET (``6`` when there is nothing), answering within ``finish()``. WebSocket: a
``WebSocketHandler`` whose ``open()`` writes a canned open packet. No sessions,
no timers, no validation.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
from typing import Any
from urllib.parse import parse_qs

import tornado.web
import tornado.websocket
from tornado import httputil
from tornado.routing import PathMatches, Router, Rule

_counter = itertools.count()
_bodies: dict[str, bytes] = {}


def _open_packet() -> str:
    sid = f"s{next(_counter):019d}"
    return (f'0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":25000,'
            '"pingTimeout":20000,"maxPayload":1000000}')


class _Polling(httputil.HTTPMessageDelegate):
    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        self.request = request
        self.chunks: list[bytes] = []

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def finish(self) -> None:
        request = self.request
        sid = parse_qs(request.query).get("sid", [""])[0]
        if request.method == "POST":
            _bodies[sid] = b"".join(self.chunks)
            body = b"ok"
        elif not sid:
            body = _open_packet().encode()
        else:
            body = _bodies.pop(sid, b"6")
        headers = httputil.HTTPHeaders({"Content-Type": "text/plain; charset=UTF-8",
                                        "Content-Length": str(len(body))})
        connection = request.connection
        assert connection is not None
        connection.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers, body)
        connection.finish()


class _PollingRouter(Router):
    def find_handler(self, request: httputil.HTTPServerRequest,
                     **kwargs: Any) -> httputil.HTTPMessageDelegate | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        return _Polling(request)


class _WebSocket(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def open(self, *args: str, **kwargs: str) -> None:
        self.set_nodelay(True)
        self.write_message(_open_packet())

    def on_message(self, message: str | bytes) -> None:
        pass


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until killed."""
    app = tornado.web.Application([Rule(PathMatches(r"/engine.io/?"), _PollingRouter()),
                                   (r"/engine.io/?", _WebSocket)])
    app.listen(port, address="127.0.0.1", backlog=1024)
    await asyncio.Event().wait()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
