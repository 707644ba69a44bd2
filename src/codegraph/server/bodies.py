"""Request bodies that no handler gets to parse: not UTF-8 (every body the server takes is
JSON), nested deeper than ``CODEGRAPH_MAX_DEPTH`` levels (Python's JSON parser recurses,
and a body of 100,000 ``[`` raised RecursionError), or holding text that is not Unicode (a
lone surrogate escape such as ``"\\ud800"`` decodes to a string that cannot be encoded
again). The middleware checks every request body once, for the declared endpoints and MCP
alike; the size limit is the middleware's own."""

from __future__ import annotations

import json
import re

DEFAULT_MAX_DEPTH = 64

# An escaped character, a JSON string once those are gone (its brackets do not nest), and
# the bytes that are not brackets. Escapes go first: a string pattern that takes them in
# backtracked on runs of \" with no closing quote (quadratic: 3 s for 32 KB).
_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = [0] * 256
for _c in b"[{":
    _STEP[_c] = 1
for _c in b"]}":
    _STEP[_c] = -1
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class BodyRejected(ValueError):
    """The reason a body is refused, fit for the client."""


def too_deep(body: bytes, max_depth: int) -> bool:
    """Whether the brackets of ``body`` (outside JSON strings) nest deeper than
    ``max_depth``. Linear in the body: 20-65 ms for 1 MB of hostile text, at once for a deep
    one."""
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", body)).translate(None, _NOT_BRACKETS)
    if len(brackets) <= max_depth:
        return False
    depth = 0
    for c in brackets:
        depth += _STEP[c]
        if depth > max_depth:
            return True
    return False


def check(body: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Raise :class:`BodyRejected` for a body no handler should parse. A body that is not
    JSON at all passes: the handler that expects JSON says so."""
    try:
        body.decode()
    except UnicodeDecodeError:
        raise BodyRejected("the request body is not UTF-8 text") from None
    if too_deep(body, max_depth):
        raise BodyRejected(f"the request body nests deeper than {max_depth} levels")
    if _SURROGATE_ESCAPE.search(body) is None:
        return
    try:
        value = json.loads(body)
    except ValueError:
        return
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BodyRejected("the request body holds a lone surrogate (\\ud800-\\udfff): "
                           "text must be valid Unicode") from None
