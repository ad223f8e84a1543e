"""``engineio_core.wsgi_environ``: the engine's view of a WSGI environ, read lazily."""

from __future__ import annotations

from typing import Any

import pytest

from engineio_core.wsgi_environ import EnvironHeaders, to_engine_request


def environ(**extra: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": "post", "SCRIPT_NAME": "/app", "PATH_INFO": "/engine.io/",
        "QUERY_STRING": "EIO=4&transport=polling&sid=abc", "REMOTE_ADDR": "10.0.0.7",
        "REMOTE_PORT": "5123", "wsgi.url_scheme": "https", "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "", "HTTP_X_FORWARDED_FOR": "1.2.3.4", "HTTP_ORIGIN": "http://a",
        "SERVER_NAME": "localhost", "uwsgi.version": b"2.0", "wsgi.input": object(),
    }
    env.update(extra)
    return env


def test_headers_by_lower_case_name() -> None:
    headers = EnvironHeaders(environ())
    assert headers["x-forwarded-for"] == "1.2.3.4"
    assert headers.get("origin") == "http://a"
    assert headers.get("content-type") == "text/plain"
    assert "Origin".lower() in headers


def test_missing_and_empty_headers_are_absent() -> None:
    headers = EnvironHeaders(environ())
    assert headers.get("content-length") is None  # "" means no header
    assert headers.get("cookie", "none") == "none"
    assert "content-length" not in headers
    assert "server-name" not in headers  # not an HTTP_ key
    with pytest.raises(KeyError, match="cookie"):
        headers["cookie"]


def test_iteration_is_the_request_headers_only() -> None:
    headers = EnvironHeaders(environ())
    assert dict(headers) == {"content-type": "text/plain", "x-forwarded-for": "1.2.3.4",
                             "origin": "http://a"}
    assert len(headers) == 3
    assert "x-forwarded-for" in repr(headers)


def test_a_live_view() -> None:
    env = environ()
    headers = EnvironHeaders(env)
    env["HTTP_COOKIE"] = "a=1"
    assert headers["cookie"] == "a=1"


def test_to_engine_request() -> None:
    env = environ()
    request = to_engine_request(env)
    assert request.method == "POST"
    assert request.query == {"EIO": "4", "transport": "polling", "sid": "abc"}
    assert request.client == ("10.0.0.7", 5123)
    assert request.scheme == "https"
    assert request.path == "/app/engine.io/"
    assert request.headers.get("origin") == "http://a"
    assert request.native is env


def test_request_without_peer_port_or_path() -> None:
    request = to_engine_request({"REQUEST_METHOD": "GET", "REMOTE_ADDR": "::1",
                                    "PATH_INFO": "/caf\xc3\xa9"})
    assert request.client is None
    assert request.path == "/caf\u00e9"  # PEP 3333: latin-1 transport of UTF-8 bytes
    assert request.query == {}
