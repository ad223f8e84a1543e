"""Fixtures of the interop suite: servers under test and the client runners.

* ``server_name``: parametrized over ``harness.selected_servers()``.
* ``server``: the named server with default settings, shared by the tests
  that only need echo (started once per session, checked alive after each test).
* ``make_server(env, fresh=False)``: the named server with extra environment
  (e.g. ``{"EIO_PING_INTERVAL": "300"}``); shared per (name, env) unless
  ``fresh=True`` (then stopped after the test).
* ``node_ready``: fails with a clear message when node or the JS packages are
  missing (``npm ci --prefix tests/interop/js``).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from .harness import (
    RunningServer,
    check_node_modules,
    node_binary,
    redis_server,
    selected_servers,
    start_server,
)

if TYPE_CHECKING:
    from pathlib import Path

MakeServer = Callable[..., RunningServer]


class ServerPool:
    """Servers shared across tests, keyed by (name, env)."""

    def __init__(self, log_dir_factory: pytest.TempPathFactory) -> None:
        self._factory = log_dir_factory
        self._shared: dict[tuple[str, tuple[tuple[str, str], ...]], RunningServer] = {}
        self._retired: list[RunningServer] = []  # asked to stop, not waited for yet
        self._counter = 0

    def _log_path(self, name: str) -> Path:
        self._counter += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        return self._factory.mktemp("interop-logs") / f"{safe}-{self._counter}.log"

    def start(self, name: str, env: dict[str, str]) -> RunningServer:
        return start_server(name, env, self._log_path(name))

    def shared(self, name: str, env: dict[str, str]) -> RunningServer:
        key = (name, tuple(sorted(env.items())))
        server = self._shared.get(key)
        if server is not None and not server.alive():
            # A previous test already failed on this; start a new one.
            del self._shared[key]
            server = None
        if server is None:
            server = self.start(name, env)
            self._shared[key] = server
        return server

    def retire(self, server: RunningServer) -> None:
        """Ask a test's own server to stop, and wait for it with the others at the
        end (shutting down takes a server up to 2 s: closing its sessions, then
        the drain of the contract app; the next tests need not wait for that)."""
        server.terminate()
        self._retired.append(server)

    def retire_group(self, name: str) -> None:
        """Stop every shared server named ``name``: its tests are over (they run one
        after another, see :func:`pytest_collection_modifyitems`). Idle servers left
        running would hold memory and wake up for their timers until the end."""
        for key in [key for key in self._shared if key[0] == name]:
            self.retire(self._shared.pop(key))
        still_running = []
        for server in self._retired:
            if server.proc.poll() is None:
                still_running.append(server)
            else:
                server.stop()  # exited: reaped, and its process group's leftovers killed
        self._retired = still_running

    def stop_all(self) -> None:
        servers = [*self._shared.values(), *self._retired]
        for server in servers:
            server.terminate()  # all at once: some take seconds to shut down (gunicorn)
        for server in servers:
            server.stop()
        self._shared.clear()
        self._retired.clear()


def _server_of(item: pytest.Item | None) -> str | None:
    """The interop server a test runs against, if any."""
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("server_name") if callspec is not None else None
    return name if isinstance(name, str) else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``, as scripts/test.sh runs the suite),
    every test of one server runs in the same worker, so each shared server is
    started once; tests of no particular server go to whichever worker is free.

    The tests of one server are also put one after another (in their first
    test's place), so that its servers can be stopped as soon as they are over
    (:func:`pytest_runtest_protocol`) instead of idling until the end."""
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        name = _server_of(item)
        if name is not None:
            item.add_marker(pytest.mark.xdist_group(name=name))
            first.setdefault(name, index)
    order = {id(item): (first[name] if (name := _server_of(item)) is not None else index, index)
             for index, item in enumerate(items)}
    items.sort(key=lambda item: order[id(item)])


_POOLS: list[ServerPool] = []  # this process's pool, once a test has asked for it


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Once the last test of a server has run here, stop that server's shared servers."""
    yield
    name = _server_of(item)
    if name is not None and _POOLS and _server_of(nextitem) != name:
        _POOLS[0].retire_group(name)


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect after each test, so that a socket a client library leaked is
    reported (ResourceWarning, an error here) against the test that leaked it."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory)
    _POOLS.append(pool)
    try:
        yield pool
    finally:
        _POOLS.remove(pool)
        pool.stop_all()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A ``redis-server`` of the test's own (pub/sub channels span a server's
    databases: a worker of another deployment still shutting down would otherwise
    answer this one's ``count_sessions()``)."""
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def node_ready() -> str:
    problem = check_node_modules()
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        return node_binary()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(params=selected_servers())
def server_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _assert_alive(server: RunningServer) -> None:
    assert server.alive(), (
        f"{server.describe()} died during the test (exit {server.proc.returncode}):\n"
        f"{server.log_tail()}"
    )


@pytest.fixture
def make_server(server_name: str, server_pool: ServerPool, node_ready: str) -> Iterator[MakeServer]:
    used: list[RunningServer] = []
    fresh: list[RunningServer] = []

    def make(env: dict[str, str] | None = None, *, fresh_server: bool = False) -> RunningServer:
        env = dict(env or {})
        if fresh_server:
            server = server_pool.start(server_name, env)
            fresh.append(server)
        else:
            server = server_pool.shared(server_name, env)
        used.append(server)
        return server

    try:
        yield make
        for server in used:
            _assert_alive(server)
    finally:
        for server in fresh:
            server_pool.retire(server)


@pytest.fixture
def server(make_server: MakeServer) -> RunningServer:
    return make_server()
