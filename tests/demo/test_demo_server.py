"""The demo chat's server side (examples/demo/app.py), over real WebSockets, no browser.

Each client is a bare EIO 4 WebSocket (websocket-client), so the order in which
the server sent the chat events is the order seen here. The browser test covers
the page; this one covers what the page cannot easily show: taken names, garbage
and posts before joining are ignored, the history a newcomer gets, guests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from tests.interop.harness import RunningServer

TIMEOUT = 5.0  # each receive


class ChatClient:
    """One EIO 4 WebSocket session speaking the demo's JSON events."""

    def __init__(self, server: RunningServer) -> None:
        url = f"ws://127.0.0.1:{server.port}/engine.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=TIMEOUT)
        opening = self.ws.recv()
        assert isinstance(opening, str), opening
        assert opening.startswith("0{"), opening

    def send(self, event: dict[str, Any] | str) -> None:
        self.ws.send("4" + (event if isinstance(event, str) else json.dumps(event)))

    def next_event(self) -> dict[str, Any]:
        """The next chat event (answering pings on the way)."""
        while True:
            frame = self.ws.recv()
            assert isinstance(frame, str), frame
            if frame == "2":
                self.ws.send("3")
                continue
            assert frame.startswith("4"), frame
            event: dict[str, Any] = json.loads(frame[1:])
            return event

    def expect(self, kind: str) -> dict[str, Any]:
        """Skip events until one of type ``kind`` (bounded by TIMEOUT per receive)."""
        skipped = []
        for _ in range(20):
            event = self.next_event()
            if event["type"] == kind:
                return event
            skipped.append(event)
        raise AssertionError(f"no {kind!r} event; got {skipped}")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def clients(demo_server: RunningServer) -> Iterator[list[ChatClient]]:
    """A list the test appends its clients to; all closed at the end."""
    made: list[ChatClient] = []
    yield made
    for client in made:
        client.close()


def test_chat_events(demo_server: RunningServer, clients: list[ChatClient]) -> None:
    alice = ChatClient(demo_server)
    clients.append(alice)
    alice.send("not json")
    alice.send({"no": "type"})
    alice.send({"type": "post", "text": "before joining"})  # ignored: not joined
    alice.send({"type": "hello"})
    assert alice.expect("history") == {"type": "history", "posts": []}
    assert alice.expect("who") == {"type": "who", "users": [], "guests": 1}

    alice.send({"type": "join", "name": "  alice  "})
    assert alice.expect("joined") == {"type": "joined", "name": "alice"}
    assert alice.expect("info") == {"type": "info", "text": "alice joined"}
    who = alice.expect("who")
    assert who["users"] == [{"name": "alice", "transport": "websocket"}]
    assert who["guests"] == 0

    twin = ChatClient(demo_server)
    clients.append(twin)
    twin.send({"type": "join", "name": "alice"})
    assert twin.expect("joined")["name"] == "alice (2)"  # taken names are numbered
    assert alice.expect("info")["text"] == "alice (2) joined"
    assert [u["name"] for u in alice.expect("who")["users"]] == ["alice", "alice (2)"]

    alice.send({"type": "post", "text": " hi " + "x" * 600})
    post = twin.expect("post")
    assert post["from"] == "alice"
    assert post["text"] == ("hi " + "x" * 600)[:500]  # trimmed and capped

    newcomer = ChatClient(demo_server)
    clients.append(newcomer)
    newcomer.send({"type": "hello"})
    assert newcomer.expect("history")["posts"] == [{"from": "alice", "text": post["text"]}]
    who = newcomer.expect("who")
    assert who["guests"] == 1
    assert len(who["users"]) == 2

    twin.close()  # leaving by closing the connection
    assert alice.expect("info") == {"type": "info", "text": "alice (2) left"}
    assert [u["name"] for u in alice.expect("who")["users"]] == ["alice"]

    assert newcomer.expect("info")["text"] == "alice (2) left"
    alice.send({"type": "leave"})
    assert newcomer.expect("info")["text"] == "alice left"
    assert newcomer.expect("who") == {"type": "who", "users": [], "guests": 2}
