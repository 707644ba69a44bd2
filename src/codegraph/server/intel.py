"""Code intelligence as the API and the MCP server give it: the engine's queries, bounded.

Every list is paged (``limit`` plus an opaque ``cursor``) and can be cut to a ``max_tokens``
budget, so an agent's context is never flooded. Limits and depths are clamped, not trusted.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from typing import Any

from codegraph.errors import CodeGraphError
from codegraph.graph.model import EdgeKind
from codegraph.query import queries
from codegraph.store.rocks import Store

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_DEPTH = 6
MAX_NEIGHBOURS = 300
SNIPPET_LINES = 400
MAX_OFFSET = 10_000_000  # no list is longer: a larger offset is not one we handed out


class BadRequest(CodeGraphError):
    """A request the API cannot answer as asked: the message says what to change."""


def resolve_inside(root: str, path: str) -> str | None:
    """The real path of ``path`` taken from ``root``, or None when it (or a symlink on the
    way) leads outside ``root``."""
    full = os.path.realpath(os.path.join(root, path))
    return full if os.path.commonpath([full, root]) == root else None


def clamp(value: int | None, default: int, lo: int, hi: int) -> int:
    return default if value is None else max(lo, min(hi, value))


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
        raise BadRequest("cursor is not one this server handed out") from None
    if kind != "o" or not 0 <= offset <= MAX_OFFSET:
        raise BadRequest("cursor is not one this server handed out")
    return offset


def estimate_tokens(item: Any) -> int:
    """About four characters of JSON per token: close enough to budget an LLM's context."""
    return len(json.dumps(item, separators=(",", ":"), default=str)) // 4 + 1


def page(items: list[dict[str, Any]], limit: int | None, cursor: str | None,
         max_tokens: int | None = None) -> dict[str, Any]:
    """One page of ``items``; ``next_cursor`` is set when more remain."""
    limit = clamp(limit, DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = decode_cursor(cursor)
    chosen = items[offset:offset + limit]
    truncated = False
    if max_tokens is not None:
        budget, kept = max(1, max_tokens), list[dict[str, Any]]()
        for item in chosen:
            cost = estimate_tokens(item)
            if kept and cost > budget:
                truncated = True
                break
            budget -= cost
            kept.append(item)
        chosen = kept
    end = offset + len(chosen)
    return {"results": chosen, "total": len(items), "truncated": truncated,
            "next_cursor": encode_cursor(end) if end < len(items) else None}


class Intel:
    """The questions, over one store and search service (both may be shared with a writer
    thread: the store is thread-safe, search takes its own lock)."""

    def __init__(self, store: Store, search: Any) -> None:
        self.store = store
        self.search_service = search

    # -- symbols ---------------------------------------------------------------------------
    def symbols(self, query: str, *, kind: str | None = None, lang: str | None = None,
                repo: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        return queries.symbols(self.store, query, kind=kind, lang=lang, repo=repo, path=path,
                               limit=MAX_LIMIT)

    def symbol(self, symbol: str, repo: str | None = None, context: int = 0,
               ) -> list[dict[str, Any]]:
        """The matching definitions, each with its source text."""
        context = clamp(context, 0, 0, 50)
        out = []
        for n in queries.resolve_symbol(self.store, symbol, repo)[:20]:
            item = queries.node_item(n)
            item["source"] = self.snippet(n.repo, n.path, n.line - context,
                                           n.end_line + context)
            out.append(item)
        return out

    def snippet(self, repo: str, path: str, start: int, end: int) -> str | None:
        info = self.store.repos().get(repo)
        if info is None or not path or start < 1:
            return None
        full = resolve_inside(str(info.get("root", "")), path)
        if full is None:  # never read outside the repository
            return None
        end = min(max(end, start), start + SNIPPET_LINES - 1)
        try:
            with open(full, encoding="utf-8", errors="replace") as f:
                lines = [line for i, line in enumerate(f, 1) if start <= i <= end]
        except OSError:
            return None
        return "".join(lines)

    def definition(self, name: str, repo: str | None = None) -> list[dict[str, Any]]:
        return queries.definition(self.store, name, repo)

    def edges(self, which: str, symbol: str, repo: str | None = None) -> list[dict[str, Any]]:
        fn: Callable[..., list[dict[str, Any]]] = {
            "refs": queries.refs, "callers": queries.callers, "callees": queries.callees}[which]
        return fn(self.store, symbol, repo)

    def impact(self, symbol: str, depth: int | None = None, repo: str | None = None,
               ) -> list[dict[str, Any]]:
        return queries.impact(self.store, symbol, clamp(depth, 3, 1, MAX_DEPTH), repo)

    def outline(self, file: str, repo: str | None = None) -> list[dict[str, Any]]:
        if os.path.isabs(file):
            raise BadRequest("give the file's path relative to its repository")
        return queries.outline(self.store, file, repo)

    def deps(self, repo: str | None = None, cycles: bool = False) -> list[dict[str, Any]]:
        return queries.deps(self.store, repo, cycles)

    def neighbourhood(self, symbol: str, depth: int | None = None, repo: str | None = None,
                      limit: int | None = None) -> dict[str, Any]:
        """Nodes and edges around a symbol, both directions, for drawing."""
        depth = clamp(depth, 1, 1, 3)
        limit = clamp(limit, 100, 1, MAX_NEIGHBOURS)
        start = queries.resolve_symbol(self.store, symbol, repo)[:5]
        nodes = {n.id: n for n in start}
        edges: dict[tuple[str, str, str], dict[str, Any]] = {}
        frontier = list(nodes)
        truncated = False
        for _ in range(depth):
            nxt = []
            for node_id in frontier:
                for incoming in (False, True):
                    for e in self.store.edges(node_id, incoming=incoming):
                        if e.kind in (EdgeKind.CONTAINS, EdgeKind.DEFINES):
                            continue
                        other = e.src if incoming else e.dst
                        if other not in nodes:
                            if len(nodes) >= limit:
                                truncated = True
                                continue
                            n = self.store.node(other)
                            if n is None:
                                continue
                            nodes[other] = n
                            nxt.append(other)
                        edges[(e.src, e.dst, e.kind.name)] = {
                            "source": e.src, "target": e.dst, "kind": e.kind.name.lower(),
                            "resolution": e.resolution, "confidence": e.confidence,
                            "line": e.line}
            frontier = nxt
        return {"center": [n.id for n in start],
                "nodes": [queries.node_item(n) for n in nodes.values()],
                "edges": list(edges.values()), "truncated": truncated}

    def stats(self, repo: str | None = None) -> dict[str, Any]:
        out = queries.stats(self.store, repo)
        out["search"] = self.search_service.coverage()
        return out

    # -- search ----------------------------------------------------------------------------
    def search(self, query: str, *, mode: str = "hybrid", limit: int | None = None,
               cursor: str | None = None, repo: str | None = None, lang: str | None = None,
               kind: str | None = None, path: str | None = None,
               graph_boost: bool = False, max_tokens: int | None = None) -> dict[str, Any]:
        limit = clamp(limit, 10, 1, 100)
        offset = decode_cursor(cursor)
        found = self.search_service.search(query, mode=mode, limit=limit + 1, offset=offset,
                                           repo=repo, language=lang, kind=kind, path=path,
                                           graph_boost=graph_boost)
        results = found.pop("results")
        more = len(results) > limit
        paged = page(results[:limit], limit, None, max_tokens)
        paged["next_cursor"] = (encode_cursor(offset + len(paged["results"]))
                                if more or paged["truncated"] else None)
        paged.pop("total")
        return {**found, **paged}

    def similar(self, symbol: str, limit: int | None = None, repo: str | None = None,
                ) -> list[dict[str, Any]]:
        nodes = queries.resolve_symbol(self.store, symbol, repo)
        return self.search_service.similar([n.id for n in nodes],  # type: ignore[no-any-return]
                                           clamp(limit, 10, 1, 100))
