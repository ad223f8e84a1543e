"""Handshake values and echo (text, binary, non-BMP UTF-8, near-max size) for
every client kind over polling only, WebSocket only and polling-then-upgrade."""

from __future__ import annotations

import hashlib
import random

import pytest

from .harness import (
    NODE_KINDS,
    ClientJob,
    ClientKind,
    ClientResult,
    Mode,
    Msg,
    RunningServer,
    Step,
    expanded,
    kind_mode_params,
    run_client,
    s_close,
    s_expect,
    s_open,
    s_send,
    s_wait_upgrade,
)

pytestmark = pytest.mark.interop

TEXTS = [
    "hello",
    "€",
    "😀🎉",  # non-BMP: 2 UTF-16 units each (v3 length prefixes count those)
    "中文字符",
    "a\u2028b\u2029c",  # line/paragraph separators (JSONP and JSON edge cases)
    "mixed € 😀 中 \u2028 end \U0001f9ea",
    "x" * 3000,
]
BINARIES = [
    bytes(range(256)),
    b"\x00",
    b"\xff\xfe\x00\x01" * 16,
    random.Random(7).randbytes(70_000),
]


def assert_same_messages(result: ClientResult, sent: list[str | bytes]) -> None:
    """Exactly the sent values came back, in order (as a multiset for py-sync,
    whose message handlers run in separate threads)."""
    expected = [Msg.of(v) for v in sent]
    got = result.messages
    if result.kind == "py-sync":
        assert sorted(m.key for m in got) == sorted(m.key for m in expected), result.summary()
    else:
        assert [m.key for m in got] == [m.key for m in expected], (
            f"{result.summary()}\nexpected: {[m.short() for m in expected]}\n"
            f"got: {[m.short() for m in got]}"
        )


def echo_steps(mode: Mode, values: list[str | bytes], *, timeout_ms: int = 5000) -> list[Step]:
    """Send half the values right after open, the rest after the upgrade (in
    upgrade mode), expect all echoes, close."""
    half = len(values) // 2
    steps: list[Step] = [s_open()]
    steps += [s_send(v) for v in values[:half]]
    if mode == "upgrade":
        steps.append(s_wait_upgrade())
    steps += [s_send(v) for v in values[half:]]
    steps += [s_expect(len(values), timeout_ms=timeout_ms), s_close()]
    return steps


def expected_transport(mode: Mode) -> str:
    return "polling" if mode == "polling" else "websocket"


@pytest.mark.parametrize(("kind", "mode"), kind_mode_params())
def test_handshake_values(server: RunningServer, kind: ClientKind, mode: Mode) -> None:
    steps = [s_open(), s_wait_upgrade(), s_close()] if mode == "upgrade" else [s_open(), s_close()]
    result = run_client(ClientJob(kind, mode, server.url, steps)).expect_ok()
    hs = result.handshake
    assert hs is not None, result.summary()
    assert isinstance(hs["sid"], str), result.summary()
    assert hs["sid"], result.summary()
    assert result.sid == hs["sid"]
    # Polling sessions advertise the upgrade; a WebSocket session has nowhere to go.
    assert hs["upgrades"] == ([] if mode == "websocket" else ["websocket"]), result.summary()
    assert hs["pingInterval"] == 25000, result.summary()
    assert hs["pingTimeout"] == 20000, result.summary()
    if kind in NODE_KINDS:  # python-engineio does not keep maxPayload
        assert hs["maxPayload"] == 1_000_000, result.summary()
        assert set(hs) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert result.transport == expected_transport(mode), result.summary()
    # The client closed itself; nothing else closed it first.
    assert result.close is not None, result.summary()
    assert result.close["reason"] in ("forced close", "client disconnect"), result.summary()


@pytest.mark.parametrize(("kind", "mode"), kind_mode_params())
def test_echo_text_binary_utf8(server: RunningServer, kind: ClientKind, mode: Mode) -> None:
    values: list[str | bytes] = []
    for text, blob in zip(TEXTS, BINARIES + BINARIES, strict=False):
        values += [text, blob]
    result = run_client(ClientJob(kind, mode, server.url, echo_steps(mode, values))).expect_ok()
    assert_same_messages(result, values)
    assert result.transport == expected_transport(mode), result.summary()
    # Short texts are reported verbatim: the non-BMP ones survived unchanged.
    texts = [m.data for m in result.messages if m.type == "text" and len(m.data or "") < 100]
    assert sorted(t for t in texts if t is not None) == sorted(t for t in TEXTS if len(t) < 100)


@pytest.mark.parametrize(("kind", "mode"), kind_mode_params(kinds=("v3",)))
def test_v3_base64_binary_echo(server: RunningServer, kind: ClientKind, mode: Mode) -> None:
    """engine.io-client 3 with forceBase64: binary travels as `b4<base64>` text."""
    values: list[str | bytes] = [BINARIES[0], "€😀", BINARIES[3]]
    job = ClientJob(kind, mode, server.url, echo_steps(mode, values), options={"forceBase64": True})
    result = run_client(job).expect_ok()
    assert_same_messages(result, values)


def test_large_value_helpers() -> None:
    """The large values below are what the tests think they are."""
    assert len(LARGE_TEXT.encode("utf-8")) == 897_000
    assert len(LARGE_BINARY) == 700_000
    assert expanded(s_send("ab", 3)) == "ababab"


UNIT = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ€😀"  # 69 UTF-8 bytes
LARGE_TEXT = UNIT * 13_000  # 897,000 bytes, under the default maxPayload of 1e6
LARGE_BINARY = random.Random(11).randbytes(700_000)  # 933,336 chars as base64


@pytest.mark.parametrize(("kind", "mode"), kind_mode_params())
def test_near_max_payload(server: RunningServer, kind: ClientKind, mode: Mode) -> None:
    steps: list[Step] = [s_open()]
    if mode == "upgrade":
        steps.append(s_wait_upgrade())
    # One at a time: together they exceed maxPayload, and python-engineio's
    # polling client batches queued packets into one POST without looking at
    # maxPayload (the server would answer 413).
    steps += [
        s_send(UNIT, repeat=13_000),
        s_expect(1, timeout_ms=5_000),
        s_send(LARGE_BINARY),
        s_expect(2, timeout_ms=5_000),
        s_close(),
    ]
    result = run_client(ClientJob(kind, mode, server.url, steps, timeout_s=15)).expect_ok()
    assert_same_messages(result, [LARGE_TEXT, LARGE_BINARY])
    text = next(m for m in result.messages if m.type == "text")
    assert text.sha256 == hashlib.sha256(LARGE_TEXT.encode()).hexdigest()
