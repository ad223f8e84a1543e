"""engineio_core.tcp: corking real sockets."""

from __future__ import annotations

import socket

from engineio_core.tcp import CORK_AVAILABLE, set_cork


def test_cork_and_uncork_a_tcp_connection() -> None:
    assert CORK_AVAILABLE  # Linux: the platform CI and the benchmarks run on
    with socket.create_server(("127.0.0.1", 0)) as listener, \
            socket.create_connection(listener.getsockname()) as client:
        option = (socket.IPPROTO_TCP, socket.TCP_CORK)
        assert client.getsockopt(*option) == 0
        assert set_cork(client, True)
        assert client.getsockopt(*option) == 1
        assert set_cork(client, False)
        assert client.getsockopt(*option) == 0


def test_what_cannot_be_corked_is_reported_not_raised() -> None:
    left, right = socket.socketpair()  # AF_UNIX: no TCP options
    with left, right:
        assert not set_cork(left, True)
    closed = socket.socket()
    closed.close()
    assert not set_cork(closed, True)
    assert not set_cork(None, True)
