"""One-in-flight echo over upgraded sessions (polling handshake, then the WebSocket
upgrade), for the cluster's ``cluster_upgrades`` policies (issue 15): the bench's
``ws_echo`` opens WebSocket-only sessions, which are created where they land and
never cross nodes; an upgrade behind a round-robin proxy reaches another node than
the session's about half the time, and is then taken over or relayed.

    python -m benchmarks.upgraded_echo --port P [--sessions 50] [--duration 8]

Run it against ``benchmarks/run-cluster`` (``EIO_CLUSTER_UPGRADES=relay`` or
``take-over`` in its environment). Every request opens a connection of its own
(``Connection: close``), so nginx spreads them round-robin. Prints one JSON line:
echoes per second over the window. The client is Python (aiohttp) on the same
machine: compare policies with each other in one run, not with the bench's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def open_session(http: aiohttp.ClientSession, base: str) -> tuple[str, object]:
    """Polling handshake, then the upgrade; the sid and the upgraded WebSocket."""
    async with http.get(f"{base}?EIO=4&transport=polling",
                        headers={"Connection": "close"}) as response:
        body = await response.text()
    sid = json.loads(body[1:])["sid"]
    ws = await http.ws_connect(f"{base}?EIO=4&transport=websocket&sid={sid}",
                               headers={"Connection": "Upgrade"})
    await ws.send_str("2probe")
    reply = await ws.receive_str()
    if reply != "3probe":
        raise RuntimeError(f"no probe answer: {reply!r}")
    await ws.send_str("5")
    return sid, ws


async def echo_loop(ws: aiohttp.ClientWebSocketResponse, until: float, counts: list[int],
                    index: int) -> None:
    while time.monotonic() < until:
        await ws.send_str("4hello")
        while True:
            message = await ws.receive_str()
            if message == "2":
                await ws.send_str("3")
                continue
            break
        counts[index] += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}/engine.io/"
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        opened = [await open_session(http, base) for _ in range(args.sessions)]
        counts = [0] * len(opened)
        start = time.monotonic()
        until = start + args.warmup + args.duration
        loops = [asyncio.ensure_future(echo_loop(ws, until, counts, i))  # type: ignore[arg-type]
                 for i, (_, ws) in enumerate(opened)]
        await asyncio.sleep(args.warmup)
        before = sum(counts)
        await asyncio.gather(*loops)
        echoes = sum(counts) - before
        for _, ws in opened:
            await ws.close()  # type: ignore[attr-defined]
    print(json.dumps({"scenario": "upgraded_echo", "sessions": len(opened),
                      "rate": round(echoes / args.duration, 1), "unit": "echo/s",
                      "duration_s": args.duration}))


if __name__ == "__main__":
    asyncio.run(main())
