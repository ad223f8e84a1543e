"""Small client-side helpers several test packages share (import as ``tests.helpers``)."""

from __future__ import annotations

import websocket  # websocket-client


def masked_text_frame(text: str, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    """A client's masked WebSocket text frame (payloads under 126 bytes)."""
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))


def assert_websocket_echo(port: int) -> None:
    """Open an EIO 4 WebSocket session on 127.0.0.1:``port`` and check it echoes a message."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/engine.io/?EIO=4&transport=websocket", timeout=5)
    try:
        opened = ws.recv()
        assert isinstance(opened, str)
        assert opened.startswith("0{")
        ws.send("4hello")
        assert ws.recv() == "4hello"
    finally:
        ws.close()
