"""Digits that are not ASCII: ``str.isdigit()`` accepts ``"²"`` but ``int()`` does not.

Found by the wire fuzzer (``tests/interop/fuzz.py``): ``EIO=%C2%B2`` answered 500
on every runtime, and so did a POST with ``Content-Length: ²`` where the server
passes the header on as latin-1 (Werkzeug, uWSGI).
"""

from __future__ import annotations

import pytest
from tests.core.protocol.peers import Client, Server, body_json

from engineio_core.protocol.http import Response


@pytest.mark.parametrize("eio", ["²", "٤", "4²"])
def test_eio_of_non_ascii_digits_is_400_code_5(eio: str) -> None:
    server = Server()
    request = Client(server).make_request("GET", with_sid=False)
    request.query = {**request.query, "EIO": eio}
    outcome = server.engine.handle_request(request, server.now)
    assert isinstance(outcome, Response), outcome
    assert outcome.status == 400
    assert body_json(outcome) == {"code": 5, "message": "Unsupported protocol version"}
    assert server.engine.session_count() == 0


@pytest.mark.parametrize("version", [4, 3])
def test_content_length_of_non_ascii_digits_reads_the_body(version: int) -> None:
    server = Server()
    client = Client(server, version)
    client.open()
    body = b"4hi" if version == 4 else b"3:4hi"
    response = client.post_raw(body, headers={"content-length": "²"})
    assert (response.status, response.body) == (200, b"ok")
    assert server.messages() == ["hi"]
