"""A search hit's snippet: a few lines of its chunk, bounded to stay within a token budget.

For a hit the lexical ranking found, the snippet starts at the body line that holds the
most distinct query terms (code tokens, as the lexical index matches them); for a hit
found by meaning alone, it is the first lines of the body after the definition's header
line(s). At most ``MAX_LINES`` lines and ``MAX_CHARS`` characters (each line cut to
``MAX_LINE_CHARS``), dedented. ``line`` is the source line of its first line.

A chunk's text is its header (``chunks.header``: path, qualified name, signature,
docstring), then its body, where a definition nested inside it is cut to its first line
and `` ...``: line numbers are exact up to the first such cut, so the snippet is looked
for there.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection
from typing import Any

from codegraph.search.chunks import Chunk, header
from codegraph.search.tokens import code_tokens

MAX_LINES = 3
MAX_LINE_CHARS = 120
MAX_CHARS = 240
_OPENERS = (":", "{", "=>", "->")  # a line that ends a definition's header
HEAD_LINES = 6  # a definition's header spans at most this many lines, for the snippet


def body_lines(chunk: Chunk, node: dict[str, Any] | None) -> list[str] | None:
    """The chunk's body lines (its text after the header), None when the header is not
    the one its node makes (its lines would be numbered wrong)."""
    if node is None:
        return None
    text = chunk.text
    head = header(chunk.path, chunk.qualified_name, node.get("signature") or "",
                  node.get("doc") or "")
    if text.startswith(head + "\n"):
        return text[len(head) + 1:].split("\n")
    return [] if text == head else None


def _numbered(chunk: Chunk, lines: list[str]) -> list[tuple[int, str]]:
    """(source line, text) of the body lines whose line number is known: up to the first
    line that cuts a nested definition (it included), within the chunk's span."""
    out = []
    for i, line in enumerate(lines):
        number = chunk.line + i
        if number > chunk.end_line:
            break
        out.append((number, line))
        if line.endswith(" ..."):
            break
    return out


def _after_header(chunk: Chunk, node: dict[str, Any] | None,
                  numbered: list[tuple[int, str]]) -> int:
    """Where the body proper starts: after the definition's header line(s), when the
    chunk starts with them (a later window of a long body does not)."""
    if node is not None and chunk.line > int(node.get("line") or 0):
        return 0
    for i, (_, line) in enumerate(numbered[:HEAD_LINES]):
        if line.rstrip().endswith(_OPENERS):
            return i + 1
    return 1 if len(numbered) > 1 else 0


def _past_docstring(numbered: list[tuple[int, str]], start: int) -> int:
    """Past a docstring that starts at ``start`` (the hit's ``doc`` holds it already),
    unless nothing follows it."""
    first = numbered[start][1].strip() if start < len(numbered) else ""
    quote = next((q for q in ('"""', "'''") if first.lstrip("rRuUbB").startswith(q)), None)
    if quote is None:
        return start
    rest = first.lstrip("rRuUbB")[3:]
    end = start
    if quote not in rest:
        end = next((i for i in range(start + 1, len(numbered))
                    if quote in numbered[i][1]), len(numbered) - 1)
    return end + 1 if end + 1 < len(numbered) else start


def snippet(chunk: Chunk, node: dict[str, Any] | None,
            terms: Collection[str] = ()) -> dict[str, Any] | None:
    """{"line": n, "text": "..."} for a hit's chunk, or None when its body is empty.
    ``terms``: the query's lexical terms, when the lexical ranking found the hit."""
    lines = body_lines(chunk, node)
    numbered = _numbered(chunk, lines) if lines else []
    if not numbered:
        return None
    start = None
    if terms:
        wanted = set(terms)
        best = 0
        for i, (_, line) in enumerate(numbered):
            low = line.lower()  # (a line holding no term as a substring has none)
            if not any(t in low for t in wanted):
                continue
            found = len(wanted.intersection(code_tokens(line)))
            if found > best:
                best, start = found, i
    if start is None:
        start = _past_docstring(numbered, _after_header(chunk, node, numbered))
    while start < len(numbered) and not numbered[start][1].strip():
        start += 1
    if start >= len(numbered):
        start = 0
    kept = numbered[start:start + MAX_LINES]
    while kept and not kept[-1][1].strip():
        kept.pop()
    if not kept:
        return None
    first = kept[0][0]
    text = textwrap.dedent("\n".join(line for _, line in kept))
    lines = [line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS - 3] + "..."
             for line in text.split("\n")]
    out = "\n".join(lines)
    if len(out) > MAX_CHARS:
        out = out[:MAX_CHARS - 3].rstrip() + "..."
    return {"line": first, "text": out}
