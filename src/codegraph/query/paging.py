"""Pages of answers: at most ``limit`` items, cut to a ``max_tokens`` budget, and an opaque
``next_cursor`` to pass back for the next page, so that an agent's context is never
flooded and a long list is read in order."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from codegraph.errors import BadRequest

MAX_OFFSET = 10_000_000  # no list is longer: a larger offset is not one we handed out


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        offset = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("cursor is not one CodeGraph handed out") from None
    if kind != "o" or not 0 <= offset <= MAX_OFFSET:
        raise BadRequest("cursor is not one CodeGraph handed out")
    return offset


def estimate_tokens(item: Any) -> int:
    """About four characters of JSON per token: close enough to budget an LLM's context."""
    return len(json.dumps(item, separators=(",", ":"), default=str)) // 4 + 1


def budgeted(items: list[dict[str, Any]], max_tokens: int | None) -> tuple[list[Any], bool]:
    """The head of ``items`` that fits ``max_tokens`` (always at least one item; a lone
    item over the budget with a ``source`` keeps the head of it, ``source_truncated``),
    and whether anything was cut."""
    if max_tokens is None or not items:
        return items, False
    budget, kept, truncated = max(1, max_tokens), list[dict[str, Any]](), False
    for item in items:
        cost = estimate_tokens(item)
        if kept and cost > budget:
            truncated = True
            break
        budget -= cost
        kept.append(item)
    first = kept[0]
    if first.get("source") and estimate_tokens(first) > max_tokens:
        room = max(0, (max_tokens - estimate_tokens({**first, "source": ""})) * 4)
        kept[0] = {**first, "source": first["source"][:room], "source_truncated": True}
        truncated = True
    return kept, truncated


def page(items: list[dict[str, Any]], limit: int, cursor: str | None,
         max_tokens: int | None = None) -> dict[str, Any]:
    """One page of ``items``; ``next_cursor`` is set when more remain."""
    offset = decode_cursor(cursor)
    chosen, truncated = budgeted(items[offset:offset + limit], max_tokens)
    end = offset + len(chosen)
    return {"results": chosen, "total": len(items), "truncated": truncated,
            "next_cursor": encode_cursor(end) if end < len(items) else None}


def token_ceiling(requested: int | None, ceiling: int) -> tuple[int, dict[str, int] | None]:
    """The budget an answer gets: ``requested``, at most the server's ``ceiling``
    (``CODEGRAPH_MAX_TOKENS``; the ceiling itself when none was asked), and, when the
    request was over it, what the answer says about that (``max_tokens_capped``)."""
    if requested is None:
        return ceiling, None
    if requested > ceiling:
        return ceiling, {"requested": requested, "max_tokens": ceiling}
    return requested, None
