"""Socket.IO clients for the interop tests: real clients driven through one step list.

Three kinds of client run the same steps (documented at the top of
``js/sio_client.js``) and report the same result:

* ``node``: npm ``socket.io-client`` 4, one node process per scenario (``js/sio_client.js``);
* ``py-sync`` / ``py-async``: python-socketio's own ``Client`` / ``AsyncClient``, in
  this process (:func:`run_py_sync`, :func:`run_py_async`).

A scenario may hold several clients (``"client": "a"``, ``"b"``...), each one
connection with a socket per namespace. Values are JSON with ``{"$bin": base64}``
for binary ones (:func:`binary`), at any depth.

Where python-socketio's clients differ from socket.io-client (what the tests
account for):

* they cannot keep polling when WebSocket is allowed: ``["polling", "websocket"]``
  upgrades during ``connect()``;
* they do not reconnect by themselves after the server closed the Engine.IO session
  (python-socketio's client reconnects only when the connection was lost, not
  closed: ``Client._handle_eio_disconnect``); socket.io-client does;
* they cannot count Engine.IO pings (``wait_pings`` is node only).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import socketio
from tests.helpers import async_wait_until_sent, wait_until_sent

from .harness import JS_DIR, _close_sync_client, _session_factory, node_binary

SIO_CLIENT = JS_DIR / "sio_client.js"

Kind = Literal["node", "py-sync", "py-async"]
Mode = Literal["polling", "websocket", "upgrade"]
Step = dict[str, Any]

KINDS: tuple[Kind, ...] = ("node", "py-sync", "py-async")
MODES: tuple[Mode, ...] = ("polling", "websocket", "upgrade")

#: the transport each mode ends up on
FINAL_TRANSPORT: dict[Mode, str] = {"polling": "polling", "websocket": "websocket",
                                    "upgrade": "websocket"}


def binary(data: bytes) -> dict[str, str]:
    """A binary value in a step or a result."""
    return {"$bin": base64.b64encode(data).decode()}


def transports_of(mode: Mode) -> list[str]:
    return {"polling": ["polling"], "websocket": ["websocket"],
            "upgrade": ["polling", "websocket"]}[mode]


# ---------------------------------------------------------------------------
# Step builders
# ---------------------------------------------------------------------------


def connect(client: str, mode: Mode, namespaces: tuple[str, ...] = ("/",),
            auth: dict[str, Any] | None = None, *, reconnection: bool = False,
            expect_error: bool = False, timeout_ms: int = 5000) -> Step:
    return {"op": "connect", "client": client, "namespaces": list(namespaces),
            "auth": auth or {}, "transports": transports_of(mode), "upgrade": True,
            "reconnection": reconnection, "expect_error": expect_error,
            "timeout_ms": timeout_ms}


def emit(client: str, event: str, *args: Any, ns: str = "/") -> Step:
    return {"op": "emit", "client": client, "ns": ns, "event": event, "args": list(args)}


def call(client: str, event: str, *args: Any, ns: str = "/", timeout_ms: int = 5000) -> Step:
    return {"op": "call", "client": client, "ns": ns, "event": event, "args": list(args),
            "timeout_ms": timeout_ms}


def wait(client: str, event: str, count: int = 1, *, args: list[Any] | None = None,
         ns: str = "/", timeout_ms: int = 5000) -> Step:
    step: Step = {"op": "wait", "client": client, "ns": ns, "event": event, "count": count,
                  "timeout_ms": timeout_ms}
    if args is not None:
        step["args"] = args
    return step


def wait_connect(client: str, count: int, ns: str = "/", timeout_ms: int = 5000) -> Step:
    return {"op": "wait_connect", "client": client, "ns": ns, "count": count,
            "timeout_ms": timeout_ms}


def wait_disconnect(client: str, count: int, ns: str = "/", timeout_ms: int = 5000) -> Step:
    return {"op": "wait_disconnect", "client": client, "ns": ns, "count": count,
            "timeout_ms": timeout_ms}


def connect_again(client: str, ns: str = "/") -> Step:
    return {"op": "connect_again", "client": client, "ns": ns}


def wait_upgrade(client: str, timeout_ms: int = 5000) -> Step:
    return {"op": "wait_upgrade", "client": client, "timeout_ms": timeout_ms}


def wait_pings(client: str, count: int, timeout_ms: int = 5000) -> Step:
    return {"op": "wait_pings", "client": client, "count": count, "timeout_ms": timeout_ms}


def transport(client: str) -> Step:
    return {"op": "transport", "client": client}


def disconnect(client: str) -> Step:
    return {"op": "disconnect", "client": client}


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass
class SocketView:
    """What one client saw on one namespace."""

    id: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    connects: int = 0
    disconnects: list[str] = field(default_factory=list)
    connect_errors: list[str] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)

    def args_of(self, event: str) -> list[list[Any]]:
        """The arguments of every ``event`` received, in order of arrival."""
        return [e["args"] for e in self.events if e["event"] == event]

    def acks_of(self, event: str) -> list[list[Any]]:
        """The arguments of every acknowledgement of ``event``."""
        return [a["args"] for a in self.acks if a["event"] == event]


@dataclass
class ClientView:
    transports: list[str | None] = field(default_factory=list)
    pings: int = 0
    sockets: dict[str, SocketView] = field(default_factory=dict)

    def ns(self, namespace: str = "/") -> SocketView:
        return self.sockets.get(namespace) or SocketView()


@dataclass
class SioResult:
    kind: Kind
    ok: bool
    error: str | None
    clients: dict[str, ClientView]
    stderr: str = ""

    def client(self, name: str) -> ClientView:
        return self.clients.get(name) or ClientView()

    def expect_ok(self) -> SioResult:
        assert self.ok, self.summary()
        return self

    def summary(self) -> str:
        return (f"[{self.kind}] ok={self.ok} error={self.error!r} "
                f"clients={json.dumps(self.raw(), default=str)[:3000]} "
                f"stderr={self.stderr[-800:]!r}")

    def raw(self) -> dict[str, Any]:
        return {name: {"transports": c.transports, "pings": c.pings,
                       "sockets": {ns: vars(s) for ns, s in c.sockets.items()}}
                for name, c in self.clients.items()}


def _views(clients: dict[str, Any]) -> dict[str, ClientView]:
    views = {}
    for name, c in clients.items():
        sockets = {ns: SocketView(**s) for ns, s in c.get("sockets", {}).items()}
        views[name] = ClientView(list(c.get("transports", [])), int(c.get("pings", 0)), sockets)
    return views


def run(kind: Kind, url: str, steps: list[Step], timeout_s: float = 15.0) -> SioResult:
    """Run ``steps`` with one kind of client against the server at ``url``."""
    if kind == "node":
        return run_node(url, steps, timeout_s)
    if kind == "py-sync":
        return run_py_sync(url, steps, timeout_s)
    return run_py_async(url, steps, timeout_s)


def run_together(jobs: list[tuple[Kind, list[Step]]], url: str,
                 timeout_s: float = 15.0) -> list[SioResult]:
    """Run several scenarios at the same time (one thread each); results in order."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(run, kind, url, steps, timeout_s) for kind, steps in jobs]
        return [f.result() for f in futures]


# ---------------------------------------------------------------------------
# node: socket.io-client 4
# ---------------------------------------------------------------------------


def run_node(url: str, steps: list[Step], timeout_s: float = 15.0) -> SioResult:
    scenario = json.dumps({"url": url, "timeout_ms": int(timeout_s * 1000), "steps": steps})
    proc = subprocess.Popen([node_binary(), str(SIO_CLIENT)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=JS_DIR)
    try:
        out, err = proc.communicate(scenario.encode(), timeout=timeout_s + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    stderr = err.decode("utf-8", "replace")
    lines = [ln for ln in out.decode("utf-8", "replace").split("\n") if ln.strip()]
    try:
        data: dict[str, Any] = json.loads(lines[-1]) if lines else {
            "ok": False, "error": f"no output from node (exit {proc.returncode})"}
    except json.JSONDecodeError:
        data = {"ok": False, "error": f"unparsable output: {lines[-1][:2000]!r}"}
    ok = bool(data.get("ok")) and proc.returncode == 0
    return SioResult("node", ok, data.get("error"), _views(data.get("clients", {})), stderr)


# ---------------------------------------------------------------------------
# python-socketio's Client and AsyncClient
# ---------------------------------------------------------------------------


def decode(value: Any) -> Any:
    """A step's value as python-socketio takes it (``{"$bin": ...}`` -> bytes)."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return base64.b64decode(value["$bin"])
        return {k: decode(v) for k, v in value.items()}
    return value


def encode(value: Any) -> Any:
    """A received value as a result holds it (bytes -> ``{"$bin": ...}``, tuples -> lists)."""
    if isinstance(value, bytes | bytearray):
        return binary(bytes(value))
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


class _Record:
    """What python clients saw, in the node driver's shape; ``changed()`` after each change."""

    def __init__(self) -> None:
        self.clients: dict[str, dict[str, Any]] = {}

    def client(self, name: str) -> dict[str, Any]:
        return self.clients.setdefault(name, {"transports": [], "pings": 0, "sockets": {}})

    def socket(self, name: str, ns: str) -> dict[str, Any]:
        return self.client(name)["sockets"].setdefault(ns, {  # type: ignore[no-any-return]
            "id": None, "events": [], "connects": 0, "disconnects": [], "connect_errors": [],
            "acks": []})

    def count(self, step: Step) -> int:
        events = self.socket(step["client"], step.get("ns", "/"))["events"]
        return sum(1 for e in events if e["event"] == step["event"]
                   and ("args" not in step or e["args"] == step["args"]))

    def done(self, step: Step) -> Callable[[], bool]:
        """The condition a waiting step waits for."""
        op = step["op"]
        rec = self.socket(step["client"], step.get("ns", "/"))
        if op == "wait":
            return lambda: self.count(step) >= int(step.get("count", 1))
        if op == "wait_connect":
            return lambda: bool(rec["connects"] >= step["count"])
        if op == "wait_disconnect":
            return lambda: len(rec["disconnects"]) >= step["count"]
        raise ValueError(op)


def _message(data: tuple[Any, ...]) -> str:
    """A connect_error's message (python-socketio passes the server's data as is)."""
    first = data[0] if data else None
    if isinstance(first, dict):
        return str(first.get("message"))
    return str(first)


def _handlers(record: _Record, name: str, ns: str, client: Any,
              changed: Callable[[], None]) -> dict[str, Callable[..., Any]]:
    """Recording handlers for one namespace of a python client (sync functions: the
    async client runs them as they are)."""
    rec = record.socket(name, ns)

    def on_connect() -> None:
        rec["id"] = client.get_sid(ns)
        rec["connects"] += 1
        changed()

    def on_disconnect(reason: Any = None) -> None:
        rec["disconnects"].append(str(reason))
        changed()

    def on_connect_error(*data: Any) -> None:
        rec["connect_errors"].append(_message(data))
        changed()

    def on_any(event: str, *args: Any) -> Any:
        rec["events"].append({"event": event, "args": encode(list(args))})
        changed()
        return ["answer", *args] if event == "question" else None

    return {"connect": on_connect, "disconnect": on_disconnect,
            "connect_error": on_connect_error, "*": on_any}


_AGAIN = """``connect_again`` (python clients) connects a new client object with the same
handlers and options, not the same one again: after the server closed the session,
python-engineio's client leaves its write loop waiting on the queue it shares with
the next connection (for up to ping interval + 5 s), and that loop then takes the new
connection's first packet (the namespace CONNECT) and sends it the old way: over
polling, to a session that upgraded meanwhile, it is refused (400, as the protocol
says; python-engineio's server takes it) and the namespace never connects.

The old client only has to have left the ``connected`` state first, not to have
finished disconnecting: when the server disconnects its last namespace while one of
its polling POSTs is on the way, python-engineio's client leaves its write loop
without sending its CLOSE (the loop checks its state before each write) and then
waits for its held GET, which the server answers at the next ping (25 s at the
contract's heartbeat)."""


def _connect_kwargs(url: str, step: Step) -> dict[str, Any]:
    transports = step.get("transports", ["polling", "websocket"])
    if transports == ["polling", "websocket"] and step.get("upgrade") is False:
        raise ValueError("python-socketio's clients always upgrade when WebSocket is allowed")
    return {"url": url, "auth": step.get("auth") or {}, "transports": transports,
            "namespaces": step.get("namespaces", ["/"]),
            "wait_timeout": step.get("timeout_ms", 5000) / 1000}


def _client_options(step: Step) -> dict[str, Any]:
    return {"reconnection": bool(step.get("reconnection")), "reconnection_delay": 0.05,
            "reconnection_delay_max": 0.1, "randomization_factor": 0, "handle_sigint": False,
            "request_timeout": 5}


def _check_connected(record: _Record, name: str, step: Step, error: Exception | None) -> None:
    for ns in step.get("namespaces", ["/"]):
        rec = record.socket(name, ns)
        if step.get("expect_error"):
            if rec["connects"] or not rec["connect_errors"]:
                raise RuntimeError(f"{name}{ns}: a connect_error was expected, got {rec}")
        elif error is not None:
            raise RuntimeError(f"{name}{ns} did not connect: {error!r}; {rec}")


def run_py_sync(url: str, steps: list[Step], timeout_s: float = 15.0) -> SioResult:
    """Run the steps with python-socketio's ``Client`` (threads)."""
    record = _Record()
    cond = threading.Condition()
    clients: dict[str, Any] = {}  # name -> its current client object
    every_client: list[Any] = []
    connects: dict[str, Step] = {}  # name -> its connect step
    sessions: list[Any] = []
    error: str | None = None
    deadline = time.monotonic() + timeout_s

    def changed() -> None:
        with cond:
            cond.notify_all()

    def wait_until(what: str, pred: Callable[[], bool], tmo: float) -> None:
        with cond:
            if not cond.wait_for(pred, min(tmo, max(0.0, deadline - time.monotonic()))):
                raise TimeoutError(f"timed out after {tmo} s waiting for {what}")

    def poll_until(what: str, pred: Callable[[], bool], tmo: float) -> None:
        """For states no handler reports (the engine's state, its transport)."""
        end = time.monotonic() + tmo
        while not pred():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out after {tmo} s waiting for {what}")
            time.sleep(0.01)

    def new_client(name: str, step: Step) -> Any:
        client = socketio.Client(http_session=_session_factory(sessions), **_client_options(step))
        clients[name] = client
        every_client.append(client)
        for ns in step.get("namespaces", ["/"]):
            for event, handler in _handlers(record, name, ns, client, changed).items():
                client.on(event, lambda *a, _h=handler: _locked(cond, _h, a), namespace=ns)
        return client

    try:
        for step in steps:
            if time.monotonic() > deadline:
                raise TimeoutError(f"hard timeout after {timeout_s} s")
            op = step["op"]
            name = step.get("client", "")
            tmo = step.get("timeout_ms", 5000) / 1000
            if op == "connect":
                connects[name] = step
                failure: Exception | None = None
                try:
                    new_client(name, step).connect(**_connect_kwargs(url, step))
                except socketio.exceptions.ConnectionError as exc:
                    failure = exc
                with cond:
                    _check_connected(record, name, step, failure)
            elif op == "emit":
                clients[name].emit(step["event"], tuple(decode(step["args"])),
                                   namespace=step.get("ns", "/"))
            elif op == "call":
                rec = record.socket(name, step.get("ns", "/"))
                with cond:
                    before = len(rec["acks"])

                def on_ack(*args: Any, _rec: dict[str, Any] = rec, _event: str = step["event"]
                           ) -> None:
                    with cond:
                        _rec["acks"].append({"event": _event, "args": encode(list(args))})
                        cond.notify_all()

                clients[name].emit(step["event"], tuple(decode(step["args"])),
                                   namespace=step.get("ns", "/"), callback=on_ack)
                wait_until(f"the ack of {step['event']}",
                           _acks_grew(rec, before), tmo)
            elif op in ("wait", "wait_connect", "wait_disconnect"):
                wait_until(json.dumps(step), record.done(step), tmo)
            elif op == "connect_again":  # a new client object: see _AGAIN
                poll_until("the engine to leave the connected state",
                           _engine_disconnected(clients[name]), tmo)
                new_client(name, connects[name]).connect(**_connect_kwargs(url, connects[name]))
            elif op == "wait_upgrade":
                poll_until("the upgrade", _upgraded(clients[name]),
                           tmo)
            elif op == "transport":
                with cond:
                    record.client(name)["transports"].append(clients[name].transport())
            elif op == "disconnect":
                _drain(clients[name])
                clients[name].disconnect()
            else:
                raise ValueError(f"unsupported step for python-socketio's clients: {step}")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        for client in every_client:
            with contextlib.suppress(Exception):
                _drain(client)
                client.shutdown()
            _close_sync_client(client.eio, [])
        for session in sessions:
            session.close()
    with cond:
        views = _views(json.loads(json.dumps(record.clients)))
    return SioResult("py-sync", error is None, error, views)


def _drain(client: Any) -> None:
    """Before a connected client's ``disconnect()``: let it write what it queued (else
    its close packet may never leave over polling, see ``tests.helpers.wait_until_sent``).
    Polling only: over WebSocket there is no such loss, and the queue's count of
    unfinished items may be left over from an earlier connection of the same client."""
    if client.eio.state == "connected" and client.transport() == "polling":
        wait_until_sent(client.eio)


async def _async_drain(client: Any) -> None:
    if client.eio.state == "connected" and client.transport() == "polling":
        await async_wait_until_sent(client.eio)


def _acks_grew(rec: dict[str, Any], before: int) -> Callable[[], bool]:
    return lambda: len(rec["acks"]) > before


def _engine_disconnected(client: Any) -> Callable[[], bool]:
    """Whether the client's Engine.IO connection has left ``connected`` (see _AGAIN)."""
    return lambda: bool(client.eio.state != "connected")


def _upgraded(client: Any) -> Callable[[], bool]:
    return lambda: bool(client.transport() == "websocket")


def _locked(cond: threading.Condition, handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    with cond:
        return handler(*args)


def run_py_async(url: str, steps: list[Step], timeout_s: float = 15.0) -> SioResult:
    """Run the steps with python-socketio's ``AsyncClient`` (its own event loop)."""
    return asyncio.run(_run_py_async(url, steps, timeout_s))


async def _run_py_async(url: str, steps: list[Step], timeout_s: float) -> SioResult:
    record = _Record()
    sessions: list[aiohttp.ClientSession] = []
    changes = asyncio.Event()
    clients: dict[str, Any] = {}  # name -> its current client object
    every_client: list[Any] = []
    connects: dict[str, Step] = {}  # name -> its connect step
    error: str | None = None

    def changed() -> None:
        changes.set()

    async def wait_until(what: str, pred: Callable[[], bool], tmo: float) -> None:
        async def waiting() -> None:
            while not pred():
                changes.clear()
                await changes.wait()

        try:
            await asyncio.wait_for(waiting(), tmo)
        except TimeoutError:
            raise TimeoutError(f"timed out after {tmo} s waiting for {what}") from None

    async def poll_until(what: str, pred: Callable[[], bool], tmo: float) -> None:
        """For states no handler reports (the engine's state, its transport)."""
        end = time.monotonic() + tmo
        while not pred():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out after {tmo} s waiting for {what}")
            await asyncio.sleep(0.01)

    def new_client(name: str, step: Step) -> Any:
        # Its own aiohttp session, closed here at the end: python-engineio leaves one
        # of its own unclosed when the server ended the connection.
        sessions.append(aiohttp.ClientSession())
        client = socketio.AsyncClient(http_session=sessions[-1], **_client_options(step))
        clients[name] = client
        every_client.append(client)
        for ns in step.get("namespaces", ["/"]):
            for event, handler in _handlers(record, name, ns, client, changed).items():
                client.on(event, handler, namespace=ns)
        return client

    async def steps_() -> None:
        for step in steps:
            op = step["op"]
            name = step.get("client", "")
            tmo = step.get("timeout_ms", 5000) / 1000
            if op == "connect":
                connects[name] = step
                failure: Exception | None = None
                try:
                    await new_client(name, step).connect(**_connect_kwargs(url, step))
                except socketio.exceptions.ConnectionError as exc:
                    failure = exc
                _check_connected(record, name, step, failure)
            elif op == "emit":
                await clients[name].emit(step["event"], tuple(decode(step["args"])),
                                         namespace=step.get("ns", "/"))
            elif op == "call":
                rec = record.socket(name, step.get("ns", "/"))
                before = len(rec["acks"])

                def on_ack(*args: Any, _rec: dict[str, Any] = rec, _event: str = step["event"]
                           ) -> None:
                    _rec["acks"].append({"event": _event, "args": encode(list(args))})
                    changed()

                await clients[name].emit(step["event"], tuple(decode(step["args"])),
                                         namespace=step.get("ns", "/"), callback=on_ack)
                await wait_until(f"the ack of {step['event']}",
                                 _acks_grew(rec, before), tmo)
            elif op in ("wait", "wait_connect", "wait_disconnect"):
                await wait_until(json.dumps(step), record.done(step), tmo)
            elif op == "connect_again":  # a new client object: see _AGAIN
                await poll_until("the engine to leave the connected state",
                                 _engine_disconnected(clients[name]), tmo)
                await new_client(name, connects[name]).connect(
                    **_connect_kwargs(url, connects[name]))
            elif op == "wait_upgrade":
                await poll_until("the upgrade",
                                 _upgraded(clients[name]), tmo)
            elif op == "transport":
                record.client(name)["transports"].append(clients[name].transport())
            elif op == "disconnect":
                await _async_drain(clients[name])
                await clients[name].disconnect()
            else:
                raise ValueError(f"unsupported step for python-socketio's clients: {step}")

    try:
        await asyncio.wait_for(steps_(), timeout_s)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        for client in every_client:
            with contextlib.suppress(Exception):
                await _async_drain(client)
                await client.shutdown()
        for session in sessions:
            await session.close()
    return SioResult("py-async", error is None, error,
                     _views(json.loads(json.dumps(record.clients))))
