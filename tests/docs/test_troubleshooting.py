"""The log lines and answers docs/troubleshooting.md quotes are the ones the code produces.

Each ``text`` block of the page is output; every line of them must be produced by one
of the situations below, and every line these produce must be on the page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from tests.docs.snippets import ROOT, blocks_of
from werkzeug.test import Client

import engineio_core

PAGE = ROOT / "docs" / "troubleshooting.md"
CLIENT = "203.0.113.7"
SID = "AbCdEfGhIjKlMnOpQrSt"


class Lines(logging.Handler):
    """The messages logged to it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, Lines]]:
    logger = logging.getLogger("tests.docs.troubleshooting")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = Lines()
    logger.addHandler(handler)
    yield logger, handler
    logger.removeHandler(handler)


def serve(logger: logging.Logger, path: str = "/engine.io/?EIO=4&transport=polling",
          method: str = "GET", **environ: Any) -> tuple[int, bytes]:
    """One request to a threading ``WSGIApp``, from :data:`CLIENT`."""
    server = engineio_core.Server(async_mode="threading", logger=logger,
                                  sid_generator=lambda request: SID)
    try:
        client = Client(engineio_core.WSGIApp(server))
        response = client.open(path, method=method,
                               environ_base={"REMOTE_ADDR": CLIENT, "REMOTE_PORT": "50000",
                                             **environ})
        return response.status_code, response.get_data()
    finally:
        server.shutdown()


def produced(logger: logging.Logger, lines: Lines) -> list[str]:
    """Everything the page's situations log or answer, in the page's order."""
    out: list[str] = []
    # gunicorn's sync worker: the answer's body, logged once at ERROR
    sync_worker: dict[str, Any] = {"gunicorn.socket": object(), "wsgi.multithread": False}
    status, body = serve(logger, **sync_worker)
    assert status == 500
    assert lines.lines == [body.decode()]
    out += lines.lines
    lines.lines.clear()

    # WebSocket under a WSGI server without the socket: a probe upgrade of a session
    server = engineio_core.Server(async_mode="threading", logger=logger,
                                  sid_generator=lambda request: SID)
    try:
        client = Client(engineio_core.WSGIApp(server))
        base = {"REMOTE_ADDR": CLIENT, "REMOTE_PORT": "50000", "SERVER_SOFTWARE": "waitress"}
        assert client.get("/engine.io/?EIO=4&transport=polling",
                          environ_base=base).status_code == 200
        upgrade = client.get(f"/engine.io/?EIO=4&transport=websocket&sid={SID}",
                             environ_base=base,
                             headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                      "Sec-WebSocket-Version": "13"})
        assert upgrade.status_code == 400
        out += lines.lines
    finally:
        server.shutdown()
    lines.lines.clear()  # "session … closed: server disconnect"

    # CORS: a page of another origin
    status, body = serve(logger, HTTP_ORIGIN="https://app.example")
    assert (status, body) == (400, b'{"code":3,"message":"Bad request"}')
    out += lines.lines
    lines.lines.clear()

    # a session this worker does not know
    status, body = serve(logger, f"/engine.io/?EIO=4&transport=polling&sid={SID}", "POST",
                         CONTENT_TYPE="text/plain;charset=UTF-8")
    assert (status, body) == (400, b'{"code":1,"message":"Session ID unknown"}')
    out += lines.lines
    return out


def test_quoted_output_is_what_the_code_says(logged: tuple[logging.Logger, Lines]) -> None:
    quoted = [line for block in blocks_of(PAGE) if block.lang == "text"
              for line in block.code.splitlines() if line.strip()]
    assert produced(*logged) == quoted
