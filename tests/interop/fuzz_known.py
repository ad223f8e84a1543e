"""What third-party servers do wrong on their own, before our code is reached (or around
it), that the wire fuzzer (``fuzz.py``) accepts: one narrow entry per finding.

Each :class:`Known` says why, and matches either a 5xx answered to some input (by
a regex on the bytes the case sent, which names the offending header or line, and
the status) or an error block of the server's log (a traceback with its lines, by
a regex that names the third-party code at fault). Anything
else a run sees is a failure. Every entry was reproduced by hand (``--case``
replays) before it was added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["THIRD_PARTY", "Known"]


@dataclass(frozen=True)
class Known:
    """One known misbehaviour of a third-party server."""

    why: str
    sent: bytes | None = None
    """Regex on what the case sent: a 5xx in ``statuses`` answered to such input is accepted."""
    statuses: tuple[int, ...] = (500,)
    log: str | None = None
    """Regex (DOTALL, MULTILINE) on an error block of the log: the block is accepted."""
    _sent: re.Pattern[bytes] | None = field(init=False, repr=False, compare=False, default=None)
    _log: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.sent is not None:
            object.__setattr__(self, "_sent", re.compile(self.sent, re.S))
        if self.log is not None:
            object.__setattr__(self, "_log", re.compile(self.log, re.S | re.M))

    def allows_status(self, sent: bytes, status: int) -> bool:
        return self._sent is not None and status in self.statuses and bool(
            self._sent.search(sent))

    def allows_log(self, block: str) -> bool:
        return self._log is not None and bool(self._log.search(block))


# ----------------------------------------------------------------------------- uvicorn
UVICORN = [
    Known("uvicorn's websockets-sansio protocol (its default since uvicorn 0.3x) never marks "
          "the handshake done after a `websocket.http.response` denial, so every refused "
          "upgrade (our 400 for an unknown sid, say) logs this line; the 400 itself is right",
          log=r"\AERROR:\s+ASGI callable returned without completing handshake\.\Z"),
    Known("uvicorn's websockets-sansio protocol logs a traceback for a text frame that is "
          "not UTF-8 (its own decode), and a second one when the client's close frame came "
          "in the same read (its send_close(1007) raises InvalidState); our app never sees "
          "the frame",
          log=r'websockets_sansio_impl\.py", line \d+, in send_receive_event_to_app\n.*'
              r"UnicodeDecodeError"),
]

# ----------------------------------------------------------------------------- hypercorn
HYPERCORN = [
    Known("h11 answers 501 to a Transfer-Encoding other than chunked (RFC 9112 6.1 says a "
          "server SHOULD)",
          sent=rb"(?i)\r\ntransfer-encoding:(?! ?chunked\r\n)", statuses=(501,)),
    Known("hypercorn's WebSocket handshake decodes Sec-WebSocket-Extensions as ASCII "
          "(wsproto.utilities.split_comma_header) and the UnicodeDecodeError escapes its "
          "connection task, which asyncio logs",
          log=r'wsproto/utilities\.py", line \d+, in split_comma_header\n.*UnicodeDecodeError'),
]

# ----------------------------------------------------------------------------- daphne
DAPHNE = [
    Known("daphne decodes Sec-WebSocket-Protocol as ASCII in onConnect: a non-ASCII value "
          "is a 500 and a traceback",
          sent=rb"\r\nSec-WebSocket-Protocol: [^\r\n]*[\x80-\xff]"),
    Known("(the same) daphne's traceback for a non-ASCII Sec-WebSocket-Protocol",
          log=r'daphne/ws_protocol\.py", line \d+, in onConnect\n.*UnicodeDecodeError'),
]

# ----------------------------------------------------------------------------- aiohttp
AIOHTTP = [
    Known("aiohttp logs every request its parser rejects (BadHttpMessage, LineTooLong, "
          "InvalidURLError, ...: answered 400) at ERROR with a traceback",
          log=r"\AError handling request from .*in data_received\n\s+messages, upgraded, tail ="
              r" self\._parser\.feed_data\(data\).*^aiohttp\.http_exceptions\.\w+: 400"),
    Known("aiohttp's default Expect handler answers an unknown Expect with a 417 whose text "
          "repeats the value; a non-ASCII value cannot be encoded: 500 and a traceback, "
          "before our handler runs",
          sent=rb"\r\nExpect: [^\r\n]*[\x80-\xff]"),
    Known("(the same) aiohttp's traceback for a non-ASCII Expect",
          log=r'in _default_expect_handler\n.*HTTPExpectationFailed.*UnicodeEncodeError'),
    Known("after our 400 to a body aiohttp cannot decode, its lingering read drains the "
          "payload, gets the same decoding error again and logs 'Unhandled exception'",
          log=r'\AUnhandled exception\n.*web_protocol\.py", line \d+, in start\n'
              r"\s+await payload\.readany\(\).*RequestPayloadError: 400"),
]

# ----------------------------------------------------------------------------- sanic
SANIC = [
    Known("Sanic fails to render its own error page for a non-ASCII Expect or method "
          "(\"An error occurred while handling an error\"), before our handler runs",
          sent=rb"(\r\nExpect: [^\r\n]*[\x80-\xff]|(\A|\r\n\r\n)[^ \r\n]*[\x80-\xff])"),
    Known("Sanic logs a traceback for a request target httptools rejects (no leading "
          "slash, a control character), and may fail to build its error response for it",
          log=r"\AT.*HttpParserInvalidURLError: invalid url .*"
              r"(in create_empty_request|sanic\.exceptions\.BadRequest: Bad URL)"),
    Known("Sanic's WebSocket reader decodes text frames itself and a frame that is not "
          "UTF-8 kills its task ('Task exception was never retrieved'); our app never sees it",
          log=r"\ATask exception was never retrieved\n.*sanic/server/websockets/frame\.py\", "
              r"line \d+, in put\n.*UnicodeDecodeError"),
]

# ----------------------------------------------------------------------------- gunicorn
GUNICORN = [
    Known("gunicorn answers 501 to a Transfer-Encoding it does not support (RFC 9112 6.1)",
          sent=rb"(?i)\r\ntransfer-encoding:(?! ?chunked\r\n)", statuses=(501,)),
]

# ----------------------------------------------------------------------------- gevent
GEVENT = [
    Known("gevent.pywsgi parses headers with http.client, whose 'got more than 100 headers' "
          "it logs with a traceback (and answers 400)",
          log=r"http/client\.py\", line \d+, in _read_headers\n.*got more than 100 headers"),
    Known("gevent.pywsgi's version check indexes a version without a minor ('HTTP/1'): "
          "IndexError, logged",
          log=r"pywsgi\.py\", line \d+, in _check_http_version\n.*IndexError"),
    Known("after the response, gevent.pywsgi drains the rest of a malformed chunked body "
          "(our 400) with its own chunk parser, which raises and is logged",
          log=r'pywsgi\.py", line \d+, in handle_one_response\n\s+self\.wsgi_input\._discard\(\)'
              r".*in __read_chunk_length\n.*ValueError"),
]
GEVENT_WS = [
    *GEVENT,
    Known("gevent-websocket base64-decodes Sec-WebSocket-Key catching only TypeError: a "
          "key that is not base64 (non-ASCII, bad padding) is a ValueError, a 500",
          sent=rb"\r\nSec-WebSocket-Key: (?![A-Za-z0-9+/]{22}==\r\n)"),
    Known("(the same) gevent-websocket's traceback for a key that is not base64",
          log=r'geventwebsocket/handler\.py", line \d+, in upgrade_connection\n.*b64decode'),
    Known("gevent-websocket (0.10.1) refuses a bad upgrade (version, key) with a str body, "
          "which gevent cannot write after the 400 head: TypeError, logged",
          log=r'geventwebsocket/handler\.py", line \d+, in run_application\n\s+self\.'
              r"process_result\(\).*TypeError: memoryview: a bytes-like object is required, "
              r"not 'str'"),
]

# ----------------------------------------------------------------------------- nginx
NGINX = [
    Known("nginx (the cluster's round-robin proxy) answers a request line with an HTTP "
          "version it does not speak with 505 HTTP Version Not Supported, as RFC 9110 "
          "§15.6.6 says; the request never reaches a worker",
          sent=rb"\A[^\r\n]* HTTP/(?!1\.[01]\r\n)[^\r\n]*\r\n", statuses=(505,)),
    Known("nginx answers a Transfer-Encoding it does not implement (anything but a lone "
          "`chunked`) with 501 Not Implemented, as RFC 9112 §6.1 says",
          sent=rb"\r\nTransfer-Encoding:(?! ?chunked\r\n)[^\r\n]*\r\n", statuses=(501,)),
]

#: server name (``harness.SERVER_COMMANDS``) -> what it is known to do wrong by itself
THIRD_PARTY: dict[str, list[Known]] = {
    "uvicorn": UVICORN,
    "hypercorn": HYPERCORN,
    "daphne": DAPHNE,
    "django-daphne": DAPHNE,
    "aiohttp": AIOHTTP,
    "sanic": SANIC,
    "gunicorn-gthread": GUNICORN,
    "django-gunicorn-gthread": GUNICORN,
    "gevent": GEVENT,
    "gevent-ws": GEVENT_WS,
    "cluster-uvicorn-nginx": UVICORN + NGINX,
    "cluster-uvicorn-workers": UVICORN,
    "cluster-aiohttp-nginx": AIOHTTP + NGINX,
    "cluster-gevent-nginx": NGINX,
}
