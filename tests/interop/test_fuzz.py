"""Wire fuzzing on every runtime: seeded malformed input beside a healthy session.

Per runtime, a fresh server (``fuzz.FUZZ_ENV``: 2 s pings, 100 kB maxPayload) gets
``FUZZ_SECONDS`` (default 3) of the cases of ``fuzz.py``, four at a time, each on
connections of its own: malformed request lines, queries, headers, chunked bodies,
v3/v4 payloads, WebSocket handshakes and frames. Meanwhile two python-engineio
clients (WebSocket and polling) keep echoing. The test fails when the server died,
answered 5xx (or closed a WebSocket with 1011) to any case, a healthy session missed
an echo or was disconnected, or the server's log gained a traceback, except what
``fuzz_known.py`` lists as a third-party server's own doing.

The seed is ``FUZZ_SEED`` (default: a fixed one per runtime, so that CI replays the
same cases); a failure message names the seed and the command replaying each
failing case. Long mode, by hand::

    FUZZ_SECONDS=300 FUZZ_SEED=7 INTEROP_SERVERS=uvicorn pytest tests/interop/test_fuzz.py
    python -m tests.interop.fuzz --server uvicorn --seconds 300 --seed 7

``INTEROP_SERVERS`` picks the runtimes (any name of ``harness.SERVER_COMMANDS``).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable

import pytest

from . import fuzz
from .fuzz_known import THIRD_PARTY
from .harness import RunningServer, selected_servers

pytestmark = pytest.mark.interop

MakeServer = Callable[..., RunningServer]

#: One server per runtime the issue names: uvicorn, hypercorn, daphne, Werkzeug,
#: gunicorn gthread, eventlet, gevent, gevent-websocket, uWSGI, aiohttp, Tornado,
#: Sanic, Flask, Django (Channels under daphne, and the WSGI middleware).
FUZZ_SERVERS = [
    "uvicorn", "hypercorn", "daphne", "werkzeug", "gunicorn-gthread", "eventlet", "gevent",
    "gevent-ws", "uwsgi-gevent", "aiohttp", "tornado", "sanic", "flask-run", "django-daphne",
    "django-gunicorn-gthread",
]
SECONDS = float(os.environ.get("FUZZ_SECONDS", "3"))
MIN_CASES = 40  # a run that got through fewer cases did not really fuzz


def fuzz_servers() -> list[str]:
    if os.environ.get("INTEROP_SERVERS", "").strip():
        return selected_servers()
    return FUZZ_SERVERS


def seed_for(name: str) -> int:
    raw = os.environ.get("FUZZ_SEED", "").strip()
    return int(raw) if raw else zlib.crc32(name.encode())


@pytest.mark.parametrize("server_name", fuzz_servers())
def test_fuzz(make_server: MakeServer, server_name: str) -> None:
    server = make_server(fuzz.FUZZ_ENV, fresh_server=True)
    report = fuzz.run_fuzz(server.port, seed=seed_for(server_name), seconds=SECONDS,
                           server=server)
    assert report.ok, report.describe()
    assert server.alive(), f"{server.describe()} died:\n{server.log_tail()}"
    assert report.cases >= MIN_CASES, report.describe()


# ------------------------------------------------------------------------ the checks
# The verdicts themselves, without a server: each must be able to fail a run.


def test_a_5xx_or_a_1011_fails_a_case_unless_known() -> None:
    sent = b"POST /engine.io/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"
    outcome = fuzz.Outcome(1, "headers/post/transfer-encoding:gzip", [200, 501], [], sent)
    assert outcome.problem() == "answered [501]"
    h11 = THIRD_PARTY["hypercorn"]
    assert outcome.problem(h11) is None
    outcome.statuses = [500]  # a 500 to the same input is not what the entry accepts
    assert outcome.problem(h11) == "answered [500]"
    outcome.statuses = [501]
    outcome.sent = sent.replace(b"gzip", b"chunked")  # nor a 501 to a chunked request
    assert outcome.problem(h11) == "answered [501]"
    closed = fuzz.Outcome(2, "ws/v4/frames/rsv:3", [101], [1011], b"")
    assert closed.problem(h11) == "closed the WebSocket with 1011 (internal error)"
    assert fuzz.Outcome(3, "ws/v4/frames/rsv:3", [101], [1002], b"").problem() is None


OUR_TRACEBACK = """\
INFO:     something before
ERROR:    Exception in ASGI application
Traceback (most recent call last):
  File "/x/engineio_core/asgi.py", line 98, in read_body
    raise ConnectionError("the client went away while sending the body")
ConnectionError: the client went away while sending the body
INFO:     something after
"""


def test_a_traceback_in_the_log_fails_unless_a_known_entry_names_its_code() -> None:
    blocks = fuzz.log_errors(OUR_TRACEBACK, THIRD_PARTY["uvicorn"])
    assert len(blocks) == 1
    assert blocks[0].startswith("ERROR:    Exception in ASGI application\nTraceback")
    assert blocks[0].endswith("ConnectionError: the client went away while sending the body")
    uvicorn_utf8 = OUR_TRACEBACK.replace(
        '"/x/engineio_core/asgi.py", line 98, in read_body',
        '"/x/uvicorn/protocols/websockets/websockets_sansio_impl.py", line 298, '
        "in send_receive_event_to_app").replace("ConnectionError", "UnicodeDecodeError")
    assert fuzz.log_errors(uvicorn_utf8, THIRD_PARTY["uvicorn"]) == []
    assert len(fuzz.log_errors(uvicorn_utf8, THIRD_PARTY["hypercorn"])) == 1


def test_responses_and_frames_are_read_back() -> None:
    stream = (b"HTTP/1.1 100 Continue\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
              b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbu")
    parsed = fuzz.parse_http(stream, eof=False)
    assert (parsed.statuses, parsed.complete, parsed.bodies) == ([100, 200, 503], 1, [b"ok"])
    upgraded = fuzz.parse_http(b"HTTP/1.1 101 Switching\r\n\r\n\x81\x024x\x88\x02\x03\xf3",
                               eof=True)
    assert upgraded.upgraded
    frames = fuzz.parse_frames(upgraded.rest)
    assert [(f.opcode, f.payload) for f in frames] == [(1, b"4x"), (8, b"\x03\xf3")]
    masked = fuzz.ws_frame(1, b"4hello", mask=b"\x01\x02\x03\x04")
    assert [f.payload for f in fuzz.parse_frames(masked)] == [b"4hello"]
