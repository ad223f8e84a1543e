"""Run one Python code block of the docs, in a process of its own (see test_snippets.py).

``python -m tests.docs.snippet_runner FILE LINE`` runs the block whose fence is on line
LINE of FILE. The calls that would serve forever are replaced by ones that serve one
Engine.IO handshake in memory (or on an ephemeral port for Tornado) and return:
aiohttp's ``web.run_app``, Sanic's ``app.run``, Werkzeug's ``run_simple``,
``eventlet.wsgi.server``, gevent's ``WSGIServer.serve_forever`` and Tornado's
``Application.listen`` (which then sends the process the SIGTERM the block waits for).
A block that ends without serving and leaves an ``app`` (ASGI, WSGI, Flask, aiohttp,
Sanic) gets the same handshake. A block whose last line is ``# raises Name: message``
must raise that exception with that message; a block that starts with
``# test_<name>.py`` is a test module, run with pytest.

The handshake carries the credentials the docs' connect handlers ask for
(``?token=secret``, ``X-Token: secret``). ``SNIPPET_REDIS_URL``, when set, replaces
the docs' ``redis://127.0.0.1:6379/0``. It prints one line per handshake
(``handshake: <what served it>``).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import threading
from typing import Any

from tests.docs.snippets import Block, find_block

HANDSHAKE_QUERY = "?EIO=4&transport=polling&token=secret"
HEADERS = {"X-Token": "secret"}
DOCS_REDIS_URL = "redis://127.0.0.1:6379/0"


def check_body(status: int, body: bytes, what: str) -> None:
    """Fail unless ``body`` is an Engine.IO v4 open packet."""
    if status != 200 or not body.startswith(b'0{"sid":'):
        raise AssertionError(f"{what}: handshake answered {status} {body[:200]!r}")
    print(f"handshake: {what}", flush=True)


def engine_path(block: Block) -> str:
    """Where the block's app serves Engine.IO."""
    return "/socket.io/" if "socketio" in block.code else "/engine.io/"


# --------------------------------------------------------------------------- apps
def handshake_wsgi(app: Any, path: str, what: str) -> None:
    """One polling handshake through a WSGI app."""
    from werkzeug.test import Client

    response = Client(app).get(path + HANDSHAKE_QUERY, headers=HEADERS)
    check_body(response.status_code, response.get_data(), what)


def handshake_asgi(app: Any, path: str, what: str) -> None:
    """One polling handshake through an ASGI app (lifespan not run)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": HANDSHAKE_QUERY[1:].encode(), "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"x-token", b"secret")],
             "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    check_body(status, body, what)


def handshake_aiohttp(app: Any, path: str) -> None:
    """One polling handshake through an aiohttp application, in memory."""
    from aiohttp.test_utils import TestClient, TestServer

    async def run() -> None:
        async with TestClient(TestServer(app)) as client:
            response = await client.get(path + HANDSHAKE_QUERY, headers=HEADERS)
            check_body(response.status, await response.read(), "aiohttp")

    asyncio.run(run())


def handshake_sanic(app: Any, path: str) -> None:
    """One polling handshake through a Sanic app, over ASGI in memory."""
    from sanic_testing.testing import SanicASGITestClient  # type: ignore[import-untyped]

    async def run() -> None:
        _, response = await SanicASGITestClient(app).get(path + HANDSHAKE_QUERY,
                                                         headers=HEADERS)
        check_body(response.status, response.body, "sanic")

    asyncio.run(run())


def handshake_tornado(app: Any, path: str) -> None:
    """One polling handshake through a Tornado application on an ephemeral port."""
    from tornado.httpclient import AsyncHTTPClient
    from tornado.httpserver import HTTPServer

    async def run() -> None:
        server = HTTPServer(app)
        server.listen(0, address="127.0.0.1")
        try:
            (sock,) = server._sockets.values()
            url = f"http://127.0.0.1:{sock.getsockname()[1]}{path}{HANDSHAKE_QUERY}"
            response = await AsyncHTTPClient().fetch(url, headers=HEADERS,
                                                      raise_error=False)
            check_body(response.code, response.body, "tornado")
        finally:
            server.stop()

    asyncio.run(run())


def handshake_app(app: Any, path: str) -> None:
    """The handshake that suits ``app``'s kind."""
    kind = f"{type(app).__module__}.{type(app).__qualname__}"
    if kind.startswith("flask."):
        response = app.test_client().get(path + HANDSHAKE_QUERY, headers=HEADERS)
        check_body(response.status_code, response.get_data(), "flask")
    elif kind.startswith("aiohttp."):
        handshake_aiohttp(app, path)
    elif kind.startswith("sanic."):
        handshake_sanic(app, path)
    elif kind.startswith("tornado."):
        handshake_tornado(app, path)
    elif kind.startswith(("engineio_core.asgi.", "socketio.")) and "ASGI" in kind:
        handshake_asgi(app, path, kind)
    elif kind.startswith("engineio_core.wsgi."):
        handshake_wsgi(app, path, kind)
    else:
        raise AssertionError(f"the block's app is a {kind}: no handshake for it")


# --------------------------------------------------------------------------- stubs
def patch(owner: Any, name: str, value: Any) -> None:
    """Replace ``owner.name`` for the rest of the process."""
    setattr(owner, name, value)


def install_stubs(block: Block, served: list[str]) -> None:
    """Replace what would serve forever, for the frameworks the block names."""
    path = engine_path(block)
    code = block.code
    if "run_app" in code:
        from aiohttp import web

        def run_app(app: Any, **kwargs: Any) -> None:
            handshake_aiohttp(app, path)
            served.append("aiohttp.web.run_app")

        patch(web, "run_app", run_app)
    if "Sanic" in code and ".run(" in code:
        from sanic import Sanic

        def sanic_run(self: Any, *args: Any, **kwargs: Any) -> None:
            handshake_sanic(self, path)
            served.append("Sanic.run")

        patch(Sanic, "run", sanic_run)
    if "run_simple" in code:
        import werkzeug.serving

        def run_simple(host: str, port: int, app: Any, **kwargs: Any) -> None:
            handshake_wsgi(app, path, "werkzeug.serving.run_simple")
            served.append("run_simple")

        patch(werkzeug.serving, "run_simple", run_simple)
    if "eventlet.wsgi" in code:
        import eventlet
        import eventlet.wsgi

        def eventlet_server(sock: Any, app: Any, **kwargs: Any) -> None:
            handshake_wsgi(app, path, "eventlet.wsgi.server")
            served.append("eventlet.wsgi.server")

        patch(eventlet, "listen", lambda *args, **kwargs: None)  # no port taken
        patch(eventlet.wsgi, "server", eventlet_server)
    if "WSGIServer" in code and "gevent" in code:
        from gevent.pywsgi import WSGIServer

        def serve_forever(self: Any, *args: Any, **kwargs: Any) -> None:
            handshake_wsgi(self.application, path, "gevent.pywsgi.WSGIServer")
            served.append("WSGIServer.serve_forever")

        patch(WSGIServer, "serve_forever", serve_forever)
    if "tornado" in code and ".listen(" in code:
        install_tornado_stub(path, served)


def install_tornado_stub(path: str, served: list[str]) -> None:
    """``Application.listen`` on an ephemeral port, one handshake, then SIGTERM."""
    import tornado.web
    from tornado.httpclient import AsyncHTTPClient

    listen = tornado.web.Application.listen

    def listen_then_stop(self: Any, port: int, address: str = "", **kwargs: Any) -> Any:
        server = listen(self, 0, address="127.0.0.1", **kwargs)
        (sock,) = server._sockets.values()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}{path}{HANDSHAKE_QUERY}"

        async def handshake() -> None:
            response = await AsyncHTTPClient().fetch(url, headers=HEADERS, raise_error=False)
            check_body(response.code, response.body, "tornado")
            served.append("tornado.web.Application.listen")
            os.kill(os.getpid(), signal.SIGTERM)

        task = asyncio.get_running_loop().create_task(handshake())
        tasks.add(task)
        return server

    tasks: set[asyncio.Task[None]] = set()
    patch(tornado.web.Application, "listen", listen_then_stop)


# --------------------------------------------------------------------------- main
def run_tests(block: Block) -> None:
    """Run a block that is a test module with pytest, in a directory of its own."""
    import tempfile

    import pytest

    name = block.code.split("\n", 1)[0].removeprefix("#").strip()
    with tempfile.TemporaryDirectory() as directory:
        module = os.path.join(directory, name)
        with open(module, "w") as f:
            f.write(block.code)
        status = pytest.main([module, "-q", "-p", "no:cacheprovider", "--rootdir", directory])
    if status != 0:
        raise AssertionError(f"pytest {name}: exit status {status}")


def run(block: Block) -> None:
    """Run the block (see the module's docstring)."""
    if re.match(r"# test_\w+\.py\n", block.code):
        run_tests(block)
        return
    served: list[str] = []
    install_stubs(block, served)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    source = block.code
    if os.environ.get("SNIPPET_REDIS_URL"):
        source = source.replace(DOCS_REDIS_URL, os.environ["SNIPPET_REDIS_URL"])
    code = compile(source, f"{block.file}:{block.line}", "exec")
    expected = block.raises
    try:
        exec(code, namespace)
    except Exception as exc:
        if expected is None:
            raise
        got = f"{type(exc).__name__}: {exc}"
        if got != expected:
            raise AssertionError(f"the block raised {got!r}, its comment says {expected!r}") \
                from exc
        print(f"raised: {got}")
        return
    if expected is not None:
        raise AssertionError(f"the block did not raise {expected!r}")
    app = namespace.get("app")
    if not served and app is not None:
        handshake_app(app, engine_path(block))


def main() -> None:
    """``python -m tests.docs.snippet_runner FILE LINE``."""
    file, line = sys.argv[1], int(sys.argv[2])
    run(find_block(file, line))
    # Nothing the block started (a server's timer thread) may keep the process alive.
    sys.stdout.flush()
    if threading.active_count() > 1:
        os._exit(0)


if __name__ == "__main__":
    main()
