"""uvicorn with no Engine.IO in it: the bound for our ASGI app on polling, handshakes and echo.

::

    python -m benchmarks.uvicorn_floor --port 18050

Not an Engine.IO server: the least a v4 Engine.IO server on uvicorn must do for
the bench's ``polling_echo``, ``handshakes_polling``, ``handshakes_ws``,
``ws_echo`` and ``ws_echo_pipelined`` scenarios, as a plain ASGI app under the
same ``uvicorn.Config`` as ``python -m benchmarks.contract_app --runtime uvicorn``
(uvloop, httptools, the ``websockets`` protocol, permessage-deflate off), so only
the app differs:

* polling: a dict of sessions, each an outbox and one future for a waiting GET;
  a handshake answers a canned open packet, a POST splits its payload, keeps the
  ``4`` packets and drops the session on ``1``, a GET takes the outbox or waits for
  it (``2`` at the ping interval), answering with one ``http.response.start`` and
  one ``http.response.body``, as ``bare-polling-aiohttp`` does on aiohttp;
* WebSocket: accept, send a canned open packet, send each ``4`` message back as
  it came (one ASGI ``send`` per frame, which is one ``transport.write``), answer
  ``2probe``/``5`` as an upgrade needs;
* no heartbeats, timers, validation, CORS or compression.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
from typing import Any

import uvicorn

_counter = itertools.count()
PING_INTERVAL = int(os.environ.get("EIO_PING_INTERVAL", "25000"))
PING_TIMEOUT = int(os.environ.get("EIO_PING_TIMEOUT", "20000"))
_HEADERS = [(b"content-type", b"text/plain; charset=UTF-8")]
_sessions: dict[str, list[Any]] = {}  # sid -> [outbox, waiting GET's future]

Scope = dict[str, Any]


def _open_packet(sid: str, upgrades: str) -> str:
    return (f'0{{"sid":"{sid}","upgrades":[{upgrades}],"pingInterval":{PING_INTERVAL},'
            f'"pingTimeout":{PING_TIMEOUT},"maxPayload":1000000}}')


def _sid(query: bytes) -> str | None:
    for pair in query.split(b"&"):
        if pair.startswith(b"sid="):
            return pair[4:].decode()
    return None


async def _respond(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _polling(scope: Scope, receive: Any, send: Any) -> None:
    sid = _sid(scope["query_string"])
    if sid is None:
        sid = f"s{next(_counter):019d}"
        _sessions[sid] = [[], None]
        await _respond(send, 200, _open_packet(sid, '"websocket"').encode())
        return
    session = _sessions.get(sid)
    if session is None:
        await _respond(send, 400, b'{"code":1,"message":"Session ID unknown"}')
        return
    if scope["method"] == "POST":
        for packet in (await _body(receive)).decode().split("\x1e"):
            if packet[:1] == "4":
                session[0].append(packet)
            elif packet == "1":
                _sessions.pop(sid, None)
        waiter = session[1]
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        await _respond(send, 200, b"ok")
        return
    if not session[0]:
        session[1] = waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(waiter, PING_INTERVAL / 1000)
        except TimeoutError:
            await _respond(send, 200, b"2")
            return
    out, session[0] = session[0], []
    await _respond(send, 200, "\x1e".join(out).encode())


async def _websocket(receive: Any, send: Any) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": _open_packet(f"s{next(_counter):019d}", "")})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        if text is None:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
        elif text[:1] == "4":
            await send({"type": "websocket.send", "text": text})
        elif text == "2probe":
            await send({"type": "websocket.send", "text": "3probe"})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    """The floor's ASGI app (any path)."""
    if scope["type"] == "http":
        await _polling(scope, receive, send)
    elif scope["type"] == "websocket":
        await _websocket(receive, send)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "18050")))
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, backlog=1024,
                log_level="warning", access_log=False, lifespan="off",
                ws_per_message_deflate=False)


if __name__ == "__main__":
    main()
