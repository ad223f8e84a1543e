"""The demo chat: engineio-core's ``AsyncServer`` + ``ASGIApp`` under uvicorn, and a page
that uses the real npm ``engine.io-client`` (6 for EIO 4, 3 for EIO 3).

``scripts/demo.sh`` installs everything and runs ``python examples/demo/app.py``
(http://127.0.0.1:8000/; ``PORT=9000 HOST=0.0.0.0`` in the environment, or
``--port``/``--host``, change that). The page has two switches (``?polling=1`` forces
long-polling, ``?eio=3`` loads engine.io-client 3); the browser test in
``tests/demo/`` drives it with headless Chromium.

The chat speaks JSON over Engine.IO messages. Page → server: ``hello`` (send me
the history and who is here), ``join`` (name), ``post`` (text), ``leave``.
Server → page: ``history`` (posts), ``joined`` (your name), ``who`` (users with
their transport, and the number of guests who have not joined), ``post`` and
``info`` (someone joined or left).

The server keeps no list of connections of its own: ``eio.broadcast`` reaches every
session and ``eio.session_count()`` counts them (guests are those not in ``names``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections import deque
from pathlib import Path
from typing import Any

import engineio_core

HERE = Path(__file__).resolve().parent
NAME_LIMIT = 32
TEXT_LIMIT = 500
HISTORY = 50

eio = engineio_core.AsyncServer(cors_allowed_origins=None)  # same origin: the page is served here
names: dict[str, str] = {}  # sid -> name, for those who joined
history: deque[dict[str, str]] = deque(maxlen=HISTORY)


async def send(sid: str, event: dict[str, Any]) -> None:
    """Send one JSON event to one session (gone sessions are skipped)."""
    with contextlib.suppress(engineio_core.SessionUnknown):
        await eio.send(sid, json.dumps(event))


async def broadcast(event: dict[str, Any]) -> None:
    """Send one JSON event to every open session."""
    await eio.broadcast(json.dumps(event))


def transport_of(sid: str) -> str:
    try:
        return eio.transport(sid)
    except engineio_core.SessionUnknown:
        return "closed"


async def broadcast_who() -> None:
    users = sorted(
        ({"name": name, "transport": transport_of(sid)} for sid, name in names.items()),
        key=lambda user: user["name"].casefold(),
    )
    guests = eio.session_count() - len(names)
    await broadcast({"type": "who", "users": users, "guests": guests})


def unique_name(wanted: str, sid: str) -> str:
    """``wanted`` (trimmed, at most NAME_LIMIT characters), numbered when already taken."""
    base = " ".join(wanted.split())[:NAME_LIMIT] or f"guest-{sid[:4]}"
    taken = {name for other, name in names.items() if other != sid}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    return name


async def leave(sid: str) -> None:
    name = names.pop(sid, None)
    if name is not None:
        await broadcast({"type": "info", "text": f"{name} left"})


@eio.on("message")
async def message(sid: str, data: str | bytes) -> None:
    try:
        event = json.loads(data)
        kind = event["type"]
    except (ValueError, TypeError, KeyError):
        return  # not ours: ignore
    if kind == "hello":
        await send(sid, {"type": "history", "posts": list(history)})
    elif kind == "join":
        old = names.get(sid)
        names[sid] = name = unique_name(str(event.get("name", "")), sid)
        await send(sid, {"type": "joined", "name": name})
        if old != name:
            text = f"{name} joined" if old is None else f"{old} is now {name}"
            await broadcast({"type": "info", "text": text})
    elif kind == "post" and sid in names:
        text = str(event.get("text", "")).strip()[:TEXT_LIMIT]
        if not text:
            return
        post = {"from": names[sid], "text": text}
        history.append(post)
        await broadcast({"type": "post", **post})
        return
    elif kind == "leave":
        await leave(sid)
    else:
        return
    await broadcast_who()


@eio.on("upgrade")
async def upgrade(sid: str) -> None:
    if sid in names:
        await broadcast_who()  # everyone sees the new transport


@eio.on("disconnect")
async def disconnect(sid: str) -> None:
    await leave(sid)
    await broadcast_who()


app = engineio_core.ASGIApp(
    eio,
    static_files={
        "/": str(HERE / "index.html"),
        "/engine.io.js": str(HERE / "node_modules/engine.io-client/dist/engine.io.min.js"),
        "/engine.io-v3.js": str(HERE / "node_modules/engine.io-client-v3/engine.io.js"),
    },
)


def main() -> None:
    """Serve the demo with uvicorn (``--host``/``--port``, by default ``HOST``/``PORT``
    from the environment, else 127.0.0.1:8000; permessage-deflate off)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()
    for script in ("engine.io-client/dist/engine.io.min.js", "engine.io-client-v3/engine.io.js"):
        if not (HERE / "node_modules" / script).is_file():
            parser.exit(1, f"missing {HERE / 'node_modules' / script}: run scripts/setup.sh\n")
    print(f"demo chat on http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False,
                ws_per_message_deflate=False, log_level="info")


if __name__ == "__main__":
    main()
