"""Server-initiated close (cmd:close) and oversized messages."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .harness import (
    NODE_KINDS,
    ClientJob,
    ClientKind,
    Mode,
    Msg,
    RunningServer,
    kind_mode_params,
    run_client,
    s_close,
    s_count,
    s_expect,
    s_open,
    s_send,
    s_wait_close,
    s_wait_upgrade,
    skip_on_js_reference,
)

pytestmark = pytest.mark.interop

MakeServer = Callable[..., RunningServer]


@pytest.mark.parametrize(("kind", "mode"), kind_mode_params())
def test_server_close(server: RunningServer, kind: ClientKind, mode: Mode) -> None:
    if kind not in NODE_KINDS and mode != "polling":
        # python-engineio acts on the `1` packet ("server disconnect"); the JS
        # server closes the WebSocket without sending `1`, so the python client
        # only sees the socket drop ("transport error"). We send `1`, then close.
        skip_on_js_reference(server, "server close on WebSocket sends no `1` packet")
    steps = [s_open()]
    if mode == "upgrade":
        steps.append(s_wait_upgrade())
    steps += [s_send("before"), s_expect(1), s_send("cmd:close"), s_wait_close(timeout_ms=3000)]
    result = run_client(ClientJob(kind, mode, server.url, steps)).expect_ok()
    assert result.texts() == ["before"], result.summary()
    assert result.close is not None, result.summary()
    if kind in NODE_KINDS:
        # engine.io-client 6 and 3 report a server close as "transport close"
        # (polling: the `1` packet; WebSocket: the socket closing).
        assert result.close["reason"] == "transport close", result.summary()
    else:
        assert result.close["reason"] == "server disconnect", result.summary()
    # Promptly: not via some ping timeout (defaults are 25 s + 20 s).
    sent_close_at = max(e["t"] for e in result.events if e.get("name") == "open")
    assert result.close["t"] - sent_close_at < 2500, result.summary()


SMALL = {"EIO_MAX_PAYLOAD": "1000"}


@pytest.mark.parametrize(("kind", "mode"), kind_mode_params())
def test_oversized_message(make_server: MakeServer, kind: ClientKind, mode: Mode) -> None:
    server = make_server(SMALL)
    if kind not in NODE_KINDS and mode == "polling":
        # JS answers 413 but keeps the session; python-engineio's polling client
        # only stops writing and goes on long-polling, so it sees no close until
        # the ping timeout. We close the session, so its pending GET gets `1`.
        skip_on_js_reference(server, "413 keeps the session")
    ok_text = "ok€" + "y" * 890  # 895 bytes: a packet under the limit passes
    steps = [s_open()]
    if mode == "upgrade":
        steps.append(s_wait_upgrade())
    steps += [
        s_send(ok_text),
        s_expect(1),
        s_send("z" * 5000),
        s_wait_close(timeout_ms=4000),
    ]
    result = run_client(ClientJob(kind, mode, server.url, steps)).expect_ok()
    if kind in NODE_KINDS:
        assert result.handshake is not None
        assert result.handshake["maxPayload"] == 1000, result.summary()
    assert result.messages[:1] == [Msg.of(ok_text)], result.summary()
    # The oversized message is never echoed; the client saw its session end.
    assert [m for m in result.messages if m.length >= 5000] == [], result.summary()
    assert result.close is not None, result.summary()
    assert result.close["reason"] not in ("forced close", "client disconnect"), result.summary()

    # The server is still up and serves a fresh client normally.
    again = run_client(
        ClientJob(
            kind, mode, server.url, [s_open(), s_send("again"), s_expect(1), s_count(), s_close()]
        )
    ).expect_ok()
    assert again.texts()[0] == "again", again.summary()
    assert server.alive(), server.log_tail()
