"""JSONP polling: the ``___eio[<j>]("…");`` wrapper and the form-encoded POST.

This module owns the JSONP envelope only; the payload inside is an ordinary
text payload (v4, or v3 text framing whatever ``b64`` says).
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

from engineio_core.protocol.errors import ParseError

__all__ = ["decode_jsonp_body", "sanitize_jsonp_index", "wrap_jsonp"]

_NON_DIGITS = re.compile(r"[^0-9]+")
# An escaped newline (backslash, n), with the backslash before it if any.
_ESCAPED_NEWLINE = re.compile(r"(\\)?\\n")


def sanitize_jsonp_index(raw: str) -> str:
    """Keep only the ASCII digits of the ``j`` query parameter, as JS does.

    Args:
        raw: the ``j`` value as received.

    Returns:
        The digits of ``raw`` in order; ``""`` when it has none. The caller
        decides what an empty index means (JS writes ``___eio[](...)``).
    """
    if raw.isascii() and raw.isdigit():
        return raw
    return _NON_DIGITS.sub("", raw)


def wrap_jsonp(index: str, payload: str) -> str:
    """Wrap a text payload in a JSONP response body.

    Args:
        index: the sanitized JSONP index (see :func:`sanitize_jsonp_index`);
            inserted verbatim.
        payload: the text payload.

    Returns:
        ``___eio[<index>]("<payload>");`` where the payload is a JSON string
        with U+2028 and U+2029 escaped too, so the body is valid JavaScript.
    """
    js = json.dumps(payload, ensure_ascii=False)
    if "\u2028" in js or "\u2029" in js:
        js = js.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"___eio[{index}]({js});"


def _unescape_newline(match: re.Match[str]) -> str:
    return match.group(0) if match.group(1) else "\n"


def decode_jsonp_body(body: bytes) -> str:
    """Extract the text payload from a JSONP POST body.

    The body is form-encoded ``d=<payload>`` (``+`` is a space). Like JS, a
    backslash followed by ``n`` becomes a newline unless another backslash
    precedes it, then ``\\\\n`` (two backslashes, ``n``) becomes ``\\n``.

    Args:
        body: the raw POST body.

    Returns:
        The payload, possibly empty (an empty payload is for the payload
        decoder to reject).

    Raises:
        ParseError: invalid UTF-8 (raw or percent-encoded), or ``d`` missing
            or given more than once.
    """
    try:
        form = parse_qs(
            str(body, "utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError:
        raise ParseError("JSONP body is not valid UTF-8") from None
    values = form.get("d")
    if values is None:
        raise ParseError("JSONP body has no 'd' field")
    if len(values) != 1:
        raise ParseError("JSONP body has more than one 'd' field")
    data = values[0]
    if "\\n" not in data:
        return data
    return _ESCAPED_NEWLINE.sub(_unescape_newline, data).replace("\\\\n", "\\n")
