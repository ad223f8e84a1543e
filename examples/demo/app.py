"""A tiny chat on engineio-core's ASGI runtime, with the real engine.io-client in the page.

Run it with ``scripts/demo.sh`` (installs everything, then serves http://127.0.0.1:8000/).
The page takes ``?eio=3`` (engine.io-client 3, protocol v3) and ``?polling=1``
(long-polling only) to try the other paths.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import engineio_core

HERE = Path(__file__).resolve().parent

eio = engineio_core.AsyncServer(cors_allowed_origins=None)
names: dict[str, str] = {}


async def broadcast(event: dict[str, object]) -> None:
    """Send one JSON event to every connected session."""
    text = json.dumps(event)
    for sid in list(names):
        with contextlib.suppress(engineio_core.SessionUnknown):
            await eio.send(sid, text)


@eio.on("connect")
def connect(sid: str, request: engineio_core.Request) -> None:
    names[sid] = f"guest-{sid[:4]}"


@eio.on("message")
async def message(sid: str, data: str | bytes) -> None:
    if not isinstance(data, str):
        return
    event = json.loads(data)
    if event.get("type") == "join":
        names[sid] = str(event.get("name") or names[sid])[:32]
    elif event.get("type") == "post":
        await broadcast({"type": "post", "from": names[sid], "text": str(event.get("text"))[:500]})
    await broadcast({"type": "who", "users": sorted(names.values())})


@eio.on("disconnect")
async def disconnect(sid: str) -> None:
    names.pop(sid, None)
    await broadcast({"type": "who", "users": sorted(names.values())})


app = engineio_core.ASGIApp(
    eio,
    static_files={
        "/": str(HERE / "index.html"),
        "/engine.io.js": str(HERE / "node_modules/engine.io-client/dist/engine.io.min.js"),
        "/engine.io-v3.js": str(HERE / "node_modules/engine.io-client-v3/engine.io.js"),
    },
)
