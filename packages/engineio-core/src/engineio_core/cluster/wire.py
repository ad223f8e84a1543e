"""What cluster nodes say to each other over the bus, and how it is encoded.

Pure: no I/O. A message is an :class:`Envelope`: its kind, the node that sent
it (where replies go), a call id (0 when no reply is awaited), a small
JSON-able ``head`` and raw ``body`` bytes (a request's or response's body, a
message's data, a pickled session). On the wire: the head's JSON length
(4 bytes, big-endian), the JSON ``[kind, sender, call, head]``, then the body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..protocol.http import Request, Response

__all__ = ["Envelope", "Kind", "WireError", "decode", "encode", "request_from", "request_head",
           "response_from", "response_head"]


class Kind(StrEnum):
    """The kinds of message between nodes (edge: the node a client's request
    reached; owner: the node that holds the session)."""

    REQUEST = "req"  #: edge -> owner: serve this polling request (head: the request)
    RESPONSE = "res"  #: owner -> edge: its answer (head: status, headers)
    DROPPED = "drop"  #: edge -> owner: the client of that held GET went away
    MOVED = "moved"  #: owner -> edge: the session moved to ``head["node"]``: ask there
    SEND = "send"  #: any -> owner: send ``body`` to ``head["sid"]``
    CLOSE = "close"  #: any -> owner: close ``head["sid"]``
    BROADCAST = "all"  #: any -> every node: send ``body`` to each of your sessions
    TAKE = "take"  #: edge -> owner: hand the session ``head["sid"]`` over (a WebSocket came)
    TAKEN = "taken"  #: owner -> edge: the session, pickled (empty body: not here)
    GONE = "gone"  #: new owner -> first owner: a session it took over has ended
    GET_DATA = "get"  #: any -> owner: the session's application dict
    DATA = "data"  #: owner -> asker: that dict, pickled (empty body: no such session)
    SAVE_DATA = "save"  #: any -> owner: replace the session's application dict
    COUNT = "count"  #: any -> every node: how many sessions do you hold?
    COUNTED = "counted"  #: node -> asker: ``head["n"]``
    WS_OPEN = "wso"  #: edge -> owner: serve this WebSocket (head: the request; call: the pipe)
    WS_IN = "wsi"  #: edge -> owner: a client message of pipe ``call`` (or its ``end``)
    WS_OUT = "wsx"  #: owner -> edge: ``accepted``, a message for the client, or the ``end``


class WireError(ValueError):
    """A message that is not one of ours (logged and dropped by the node)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message between nodes."""

    kind: Kind
    sender: str
    call: int = 0
    head: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""


def encode(envelope: Envelope) -> bytes:
    """The bytes of a message."""
    # ASCII JSON: a header value a server decoded with surrogate escapes (bytes that
    # are not UTF-8) travels as \udcXX escapes and comes back the same.
    head = json.dumps([envelope.kind.value, envelope.sender, envelope.call, envelope.head],
                      separators=(",", ":")).encode()
    return len(head).to_bytes(4, "big") + head + envelope.body


def decode(data: bytes) -> Envelope:
    """A message from its bytes.

    Raises:
        WireError: the bytes are not a message of this format.
    """
    if len(data) < 4:
        raise WireError("truncated message")
    size = int.from_bytes(data[:4], "big")
    if len(data) < 4 + size:
        raise WireError("truncated message head")
    try:
        kind, sender, call, head = json.loads(data[4:4 + size])
        envelope = Envelope(Kind(kind), sender, call, head, data[4 + size:])
    except (ValueError, TypeError) as exc:
        raise WireError(f"not a cluster message: {exc}") from None
    if not isinstance(sender, str) or not isinstance(call, int) or not isinstance(head, dict):
        raise WireError("not a cluster message: bad field types")
    return envelope


def request_head(request: Request) -> dict[str, Any]:
    """What an owner needs of a request to answer it as if it had reached it (no body)."""
    return {"method": request.method, "query": dict(request.query),
            "headers": dict(request.headers), "scheme": request.scheme, "path": request.path,
            "client": None if request.client is None else list(request.client)}


def request_from(head: dict[str, Any], body: bytes) -> Request:
    """The request an edge forwarded (``native`` is ``None``: it is another process's).

    Raises:
        WireError: the head does not describe a request.
    """
    try:
        client = head["client"]
        return Request(str(head["method"]), dict(head["query"]), dict(head["headers"]), body,
                       None if client is None else (str(client[0]), int(client[1])),
                       str(head["scheme"]), str(head["path"]))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise WireError(f"not a forwarded request: {exc!r}") from None


def response_head(response: Response) -> dict[str, Any]:
    """A response's status and headers (its body travels as the message body)."""
    return {"status": response.status, "headers": [list(pair) for pair in response.headers]}


def response_from(head: dict[str, Any], body: bytes) -> Response:
    """The response an owner sent back.

    Raises:
        WireError: the head does not describe a response.
    """
    try:
        return Response(int(head["status"]),
                        [(str(name), str(value)) for name, value in head["headers"]], body)
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"not a forwarded response: {exc!r}") from None
