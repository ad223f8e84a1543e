"""python-socketio on our engine, against real Socket.IO clients nobody here wrote.

The server is the Socket.IO contract app (``benchmarks/socketio_serve.py``: the
socket.io-protocol suite's reference server plus a few events) under every runtime
of ``harness.SOCKETIO_SERVER_COMMANDS``: uvicorn, aiohttp, Tornado, Sanic,
Flask-SocketIO (threading, eventlet, gevent), Django (Channels under daphne, WSGI
under gunicorn). The clients are npm ``socket.io-client`` 4 and python-socketio's own
``Client`` and ``AsyncClient`` (``sio_harness.py``), over polling only, WebSocket only
and polling upgraded to WebSocket.

The shared server runs with the contract's heartbeat (25 s / 20 s), so that a loaded
machine cannot fail a test by a late pong; :func:`test_heartbeat_at_reference_settings`
runs the suite's own 300 ms / 200 ms.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from .conftest import MakeServer
from .harness import (
    ClientJob,
    RunningServer,
    run_node,
    s_open,
    s_wait_close,
    selected_socketio_servers,
)
from .sio_harness import (
    FINAL_TRANSPORT,
    KINDS,
    MODES,
    Kind,
    Mode,
    Step,
    binary,
    call,
    connect,
    connect_again,
    disconnect,
    emit,
    run,
    run_together,
    transport,
    wait,
    wait_connect,
    wait_disconnect,
    wait_pings,
    wait_upgrade,
)

pytestmark = pytest.mark.interop

CONTRACT_HEARTBEAT = {"EIO_PING_INTERVAL": "25000", "EIO_PING_TIMEOUT": "20000"}
"""The shared server's environment: the Engine.IO contract's heartbeat, not the suite's."""

KIND_MODES = [pytest.param(k, m, id=f"{k}-{m}") for k in KINDS for m in MODES]

#: what each kind of client gives as the reason of a server's Socket.IO disconnect and
#: of a server's Engine.IO close (python-socketio's clients say "server disconnect" for both)
SERVER_DISCONNECT_REASON = {"node": "io server disconnect", "py-sync": "server disconnect",
                            "py-async": "server disconnect"}
SERVER_CLOSE_REASON = {"node": "transport close", "py-sync": "server disconnect",
                       "py-async": "server disconnect"}


@pytest.fixture(params=selected_socketio_servers())
def server_name(request: pytest.FixtureRequest) -> str:
    """The Socket.IO servers (this overrides conftest's Engine.IO ``server_name``)."""
    name: str = request.param
    return name


@pytest.fixture
def sio_server(make_server: MakeServer) -> RunningServer:
    return make_server(CONTRACT_HEARTBEAT)


def same_multiset(a: list[Any], b: list[Any]) -> bool:
    return Counter(map(repr, a)) == Counter(map(repr, b))


@pytest.mark.parametrize(("kind", "mode"), KIND_MODES)
def test_emit_ack_binary(sio_server: RunningServer, kind: Kind, mode: Mode) -> None:
    """Connect with auth, emit and receive, acks both ways, binary at any depth, a
    burst of emits across the upgrade, and the server's view of the transport."""
    auth = {"token": f"{kind}-{mode}", "n": 7}
    args = [1, "2", {"3": [True, None]}, binary(bytes(range(256))),
            {"nested": [binary(b"\x00\xff" * 40), "x"]}]
    # python-engineio's clients refuse a polling payload of more than 16 packets
    # (engineio.payload.Payload.max_decode_packets), and each binary event is two.
    burst = [[i, binary(bytes([i]) * (i + 1))] for i in range(20 if kind == "node" else 6)]
    steps: list[Step] = [
        connect("a", mode, auth=auth),
        *(emit("a", "message", *b) for b in burst),  # sent while the upgrade goes on
        wait("a", "message-back", len(burst)),
        wait("a", "auth"),
        emit("a", "message", *args),
        wait("a", "message-back", args=args),
        call("a", "message-with-ack", *args),
        call("a", "message-with-ack"),
        call("a", "ask", 5, "five", binary(b"\x05" * 5)),  # the server asks the client
    ]
    if mode == "upgrade":
        steps.append(wait_upgrade("a"))
    steps += [call("a", "whoami"), transport("a"), disconnect("a")]
    result = run(kind, sio_server.url, steps).expect_ok()
    socket = result.client("a").ns("/")
    assert socket.args_of("auth") == [[auth]], result.summary()
    backs = socket.args_of("message-back")
    assert backs[-1] == args, result.summary()
    if kind == "py-sync":  # python-engineio's Client runs each message in its own thread
        assert same_multiset(backs[:-1], burst), result.summary()
    else:
        assert backs[:-1] == burst, result.summary()
    assert socket.acks_of("message-with-ack") == [args, []], result.summary()
    question = [5, "five", binary(b"\x05" * 5)]
    assert socket.args_of("question") == [question], result.summary()
    assert socket.acks_of("ask") == [[["answer", *question]]], result.summary()
    [[whoami]] = socket.acks_of("whoami")
    assert whoami == {"sid": socket.id, "namespace": "/",
                      "transport": FINAL_TRANSPORT[mode]}, result.summary()
    assert result.client("a").transports == [FINAL_TRANSPORT[mode]], result.summary()


@pytest.mark.parametrize("kind", KINDS)
def test_namespaces_and_auth(sio_server: RunningServer, kind: Kind) -> None:
    """``/`` and ``/custom`` over one connection, each with the auth payload and its
    own sid; a broadcast stays in its namespace; an unknown namespace is refused."""
    auth = {"user": kind}
    steps: list[Step] = [
        connect("a", "upgrade", ("/", "/custom"), auth),
        connect("b", "upgrade"),
        wait("a", "auth"),
        wait("a", "auth", ns="/custom"),
        call("a", "whoami"),
        call("a", "whoami", ns="/custom"),
        emit("a", "message", "no handler on /custom", ns="/custom"),
        call("a", "broadcast", "to-custom", ns="/custom"),
        call("b", "broadcast", "to-root"),
        wait("a", "broadcast", args=["to-root"]),
        wait("b", "broadcast", args=["to-root"]),
        connect("c", "upgrade", ("/nope",), expect_error=True),
        disconnect("a"),
        disconnect("b"),
    ]
    result = run(kind, sio_server.url, steps).expect_ok()
    root, custom = result.client("a").ns("/"), result.client("a").ns("/custom")
    assert root.args_of("auth") == [[auth]], result.summary()
    assert custom.args_of("auth") == [[auth]], result.summary()
    assert root.acks_of("whoami")[0][0]["namespace"] == "/", result.summary()
    assert custom.acks_of("whoami")[0][0]["namespace"] == "/custom", result.summary()
    assert root.id, result.summary()
    assert custom.id not in (None, root.id), result.summary()
    assert custom.args_of("broadcast") == [["to-custom"]], result.summary()
    assert root.args_of("broadcast") == [["to-root"]], result.summary()
    assert result.client("b").ns("/").args_of("broadcast") == [["to-root"]], result.summary()
    assert custom.args_of("message-back") == [], result.summary()
    assert root.args_of("message-back") == [], result.summary()
    nope = result.client("c").ns("/nope")
    assert nope.connects == 0, result.summary()
    assert len(nope.connect_errors) == 1, result.summary()


@pytest.mark.parametrize("kind", KINDS)
def test_rooms(sio_server: RunningServer, kind: Kind) -> None:
    """Join, emit to a room (members only, binary included), leave; a broadcast from a
    client outside the room marks the point by which a wrong delivery would have come."""
    room = f"room-{kind}"
    payload = ["hello", binary(b"\x01\x02\x03")]
    steps: list[Step] = [
        connect("a", "upgrade"),
        connect("b", "upgrade"),
        connect("c", "upgrade"),
        call("a", "join", room),
        call("b", "join", room),
        wait("a", "member-joined", args=[room, 2]),
        call("a", "to-room", room, *payload),
        wait("a", "room-message", args=payload),
        wait("b", "room-message", args=payload),
        call("c", "broadcast", "barrier-1"),
        *(wait(who, "broadcast", args=["barrier-1"]) for who in "abc"),
        call("b", "leave", room),
        call("a", "to-room", room, "second"),
        wait("a", "room-message", args=["second"]),
        call("c", "broadcast", "barrier-2"),
        *(wait(who, "broadcast", args=["barrier-2"]) for who in "abc"),
        call("a", "rooms"),
        call("b", "rooms"),
        *(disconnect(who) for who in "abc"),
    ]
    result = run(kind, sio_server.url, steps).expect_ok()
    a, b, c = (result.client(who).ns("/") for who in "abc")
    assert a.acks_of("join") == [[room]], result.summary()
    assert b.acks_of("join") == [[room]], result.summary()
    assert a.args_of("member-joined") == [[room, 1], [room, 2]], result.summary()
    assert a.args_of("room-message") == [payload, ["second"]], result.summary()
    assert b.args_of("room-message") == [payload], result.summary()
    assert c.args_of("room-message") == [], result.summary()
    assert a.acks_of("rooms") == [[[room]]], result.summary()
    assert b.acks_of("rooms") == [[[]]], result.summary()


@pytest.mark.parametrize(("py_kind", "node_mode"), [
    ("py-sync", "polling"), ("py-async", "websocket"), ("py-async", "upgrade")])
def test_socketio_client_and_python_client_together(
        sio_server: RunningServer, py_kind: Kind, node_mode: Mode) -> None:
    """socket.io-client and a python-socketio client at once: each reaches the other
    through a room and a broadcast."""
    room = f"mixed-{py_kind}-{node_mode}"
    python: list[Step] = [
        connect("p", "upgrade"),
        call("p", "join", room),
        wait("p", "member-joined", args=[room, 2], timeout_ms=10000),
        call("p", "to-room", room, "from-python", binary(b"py")),
        wait("p", "broadcast", args=["from-node", binary(b"js")], timeout_ms=10000),
        disconnect("p"),
    ]
    node: list[Step] = [
        connect("n", node_mode),
        call("n", "join", room),
        wait("n", "room-message", args=["from-python", binary(b"py")], timeout_ms=10000),
        call("n", "broadcast", "from-node", binary(b"js")),
        disconnect("n"),
    ]
    py_result, node_result = run_together([(py_kind, python), ("node", node)], sio_server.url)
    py_result.expect_ok()
    node_result.expect_ok()
    assert node_result.client("n").ns("/").args_of("room-message") == [
        ["from-python", binary(b"py")]], node_result.summary()


@pytest.mark.parametrize(("kind", "mode"), KIND_MODES)
def test_reconnect_after_server_disconnect_and_close(
        sio_server: RunningServer, kind: Kind, mode: Mode) -> None:
    """The server disconnects the client from its namespace (the client connects again
    itself), then closes its Engine.IO session: socket.io-client reconnects by itself,
    python-socketio's clients are told to (they reconnect only after a lost
    connection). Every connection is a new session that works."""
    node = kind == "node"
    steps: list[Step] = [
        connect("a", mode, auth={"round": 1}, reconnection=node),
        call("a", "whoami"),
        emit("a", "disconnect-me"),
        wait_disconnect("a", 1),
        connect_again("a"),
        wait_connect("a", 2),
        call("a", "message-with-ack", "after the disconnect"),
        call("a", "whoami"),
        emit("a", "close-transport"),
        wait_disconnect("a", 2),
        *([] if node else [connect_again("a")]),
        wait_connect("a", 3),
        call("a", "message-with-ack", "after the close", binary(b"\x00")),
        call("a", "whoami"),
        wait("a", "auth", 3),
        disconnect("a"),
    ]
    result = run(kind, sio_server.url, steps).expect_ok()
    socket = result.client("a").ns("/")
    assert socket.disconnects[:2] == [SERVER_DISCONNECT_REASON[kind],
                                      SERVER_CLOSE_REASON[kind]], result.summary()
    assert socket.connects == 3, result.summary()
    assert socket.acks_of("message-with-ack") == [
        ["after the disconnect"], ["after the close", binary(b"\x00")]], result.summary()
    sids = [ack[0]["sid"] for ack in socket.acks_of("whoami")]
    assert len(set(sids)) == 3, result.summary()
    assert sids[-1] == socket.id, result.summary()
    assert socket.args_of("auth") == [[{"round": 1}]] * 3, result.summary()


@pytest.mark.parametrize("mode", MODES)
def test_heartbeat_at_reference_settings(make_server: MakeServer, mode: Mode) -> None:
    """The suite's 300 ms ping interval and 200 ms timeout: socket.io-client answers
    several pings and the connection goes on working, never dropped."""
    server = make_server({})
    steps: list[Step] = [
        connect("a", mode),
        wait_pings("a", 4, timeout_ms=10000),
        call("a", "message-with-ack", "still here"),
        disconnect("a"),
    ]
    result = run("node", server.url, steps).expect_ok()
    socket = result.client("a").ns("/")
    assert result.client("a").pings >= 4, result.summary()
    assert socket.acks_of("message-with-ack") == [["still here"]], result.summary()
    assert socket.disconnects == ["io client disconnect"], result.summary()  # its own


def test_session_without_namespace_closed_after_connect_timeout(
        sio_server: RunningServer, node_ready: str) -> None:
    """An Engine.IO session (npm engine.io-client 6 at /socket.io/) that joins no
    namespace is closed after the connect timeout (1 s), as the reference server's
    ``connectTimeout``; the heartbeat (25 s) cannot be what closes it."""
    job = ClientJob("v6", "websocket", sio_server.url, [s_open(), s_wait_close(5000)],
                    options={"path": "/socket.io/"})
    result = run_node(job).expect_ok()
    assert result.close is not None, result.summary()
    [opened] = result.events_named("open")
    assert result.close["t"] - opened["t"] >= 900, result.summary()
