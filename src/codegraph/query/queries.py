"""Questions about the stored graph: where is it defined, who calls it, what breaks.

Every query returns a list of plain dicts (JSON-ready). Node items carry ``id, name,
qualified_name, kind, language, repo, path, line, end_line``; edge items add the site
(``site_line``, ``site_col``), the edge ``kind``, its ``resolution`` and ``confidence``.
``callers``, ``refs`` and ``impact`` return a :class:`Listing`: the list, and beside it
how many sites of the symbol's name were left unresolved (``unresolved``) or went to a
known external (``external``); ``impact`` adds its cap (``max_nodes``) and whether it
stopped there (``capped``).
"""

from __future__ import annotations

import fnmatch
import os
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

from codegraph.errors import BadRequest, NotFound
from codegraph.graph.model import EdgeKind, Node, is_node_id
from codegraph.query.catalog import IMPACT_NODES
from codegraph.store.rocks import Store

HIDDEN_KINDS = frozenset({"file", "repository", "external"})
SYMBOL_SEPARATORS = (".", "::", "/", "\\")
MAX_IMPACT = IMPACT_NODES  # impact's default cap (``max_nodes``)


class Listing(list[dict[str, Any]]):
    """A query's whole list, and what it says about itself (``about``: ``unresolved``,
    ``external``, ...), which ``CodeGraph.answer`` puts beside each page's results. It is
    the list for everything else: ``cg.callers(x) == []`` holds when nobody calls x."""

    def __init__(self, items: Iterable[dict[str, Any]] = (), **about: Any) -> None:
        super().__init__(items)
        self.about: dict[str, Any] = about


class QueryError(BadRequest):
    """A query that cannot be answered as asked (unknown symbol, bad argument)."""


class NotFoundError(QueryError, NotFound):
    """The symbol, file or repository asked about is not in the index."""


def node_item(n: Node) -> dict[str, Any]:
    return n.to_dict()


def edge_item(n: Node, e: Any, target: str) -> dict[str, Any]:
    item = node_item(n)
    item.update(site_line=e.line, site_col=e.col, edge=e.kind.name.lower(),
                resolution=e.resolution, confidence=e.confidence, target=target)
    return item


def _last_part(text: str) -> str:
    for sep in SYMBOL_SEPARATORS:
        text = text.rpartition(sep)[2] or text
    return text


def by_qualified_name(store: Store, qname: str, repo: str | None = None) -> list[Node]:
    return [n for n in store.nodes(store.qualified_name_ids(qname, repo)) if n is not None]


def by_name(store: Store, name: str, repo: str | None = None, exact: bool = True,
            limit: int = 10_000, ignore_case: bool = False) -> list[Node]:
    """Nodes named ``name`` (``exact``; ``ignore_case``: in any case), or whose name starts
    with it; at most ``limit``."""
    ids = store.name_ids(name, exact=exact, repo=repo, limit=limit)
    nodes = [n for n in store.nodes(ids) if n is not None]
    return [n for n in nodes if n.name == name] if exact and not ignore_case else nodes


def resolve_symbol(store: Store, symbol: str, repo: str | None = None) -> list[Node]:
    """A node id, a qualified name, a partly qualified name or a plain name."""
    if is_node_id(symbol):
        n = store.node(symbol)
        if n is not None:
            return [n]
    found = [n for n in by_qualified_name(store, symbol, repo) if n.kind != "file"]
    # A definition wins over an external node of the same name (one per language: a call
    # left unresolved in one file does not hide the definition another file resolves to).
    if any(n.kind != "external" for n in found):
        return [n for n in found if n.kind != "external"]
    name = _last_part(symbol)
    candidates = [n for n in by_name(store, name, repo)
                  if n.kind not in ("file", "repository", "external")]
    if name != symbol:
        suffixes = tuple(sep + symbol for sep in SYMBOL_SEPARATORS)
        candidates = [n for n in candidates if n.qualified_name.endswith(suffixes)]
    candidates = candidates or found
    if not candidates:
        raise NotFoundError(f"no symbol named {symbol!r}"
                         + (f" in repository {repo!r}" if repo else ""))
    return candidates


def _filter(nodes: Iterable[Node], kind: str | None, language: str | None, repo: str | None,
            path: str | None) -> list[Node]:
    out = []
    for n in nodes:
        if n.kind in HIDDEN_KINDS or (kind and n.kind != kind) or (
                language and n.language != language):
            continue
        if (repo and n.repo != repo) or (path and not fnmatch.fnmatch(n.path, path)):
            continue
        out.append(n)
    return out


FUZZY_FLOOR = 82  # rapidfuzz score (0-100) below which a fuzzy name match is junk
FUZZY_WEIGHT = 0.7  # a fuzzy match's score is its rapidfuzz score scaled under prefix's 0.8
FUZZY_NAMES_PER_HIT = 4  # names looked up, at most, per hit wanted


def _nth_score(found: dict[str, tuple[tuple[Any, ...], dict[str, Any]]], n: int) -> float:
    """The score of the ``n``-th best hit so far (keys start with minus the score)."""
    return float(-sorted(key for key, _ in found.values())[n - 1][0])


def symbols(store: Store, query: str, *, kind: str | None = None, language: str | None = None,
            repo: str | None = None, path: str | None = None, limit: int = 50) -> Listing:
    """Exact matches of a name or qualified name (score 1), then names starting with it
    (0.8), then fuzzy matches (below 0.7) at or above :data:`FUZZY_FLOOR`. Within a score:
    the qualified name asked for, then shorter names, then by qualified name and place: the
    same order every run, whatever order the index yields them in. At most ``limit``;
    ``about['capped']`` says more matched (``total`` is then the cap, not a count)."""
    if not query.strip():
        raise QueryError("the symbol query is empty")
    found: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def add(nodes: Iterable[Node], match: str, score: float, named: int = 1) -> None:
        for n in _filter(nodes, kind, language, repo, path):
            key = (-score, named, len(n.name), n.qualified_name, n.repo, n.path, n.line, n.id)
            if n.id not in found or key < found[n.id][0]:
                found[n.id] = (key, {**node_item(n), "match": match, "score": score})

    add(by_qualified_name(store, query), "exact", 1.0, named=0)  # before a name's others
    add(by_name(store, _last_part(query), exact=True), "exact", 1.0)
    if len(found) <= limit:
        add(by_name(store, query, exact=False, limit=(limit + 1) * 20), "prefix", 0.8)
    if len(found) <= limit:
        # Best first, and bounded: a short query can be like tens of thousands of names
        # (``est`` in every ``test_*``), each a lookup. Past the page, a name scoring less
        # than the page's last hit cannot enter it; at most FUZZY_NAMES_PER_HIT names a hit.
        names = fuzzy_names(query.lower(), store.distinct_names())
        last: float | None = None  # the page's last score, once the page is full
        for name, score in names[:(limit + 1) * FUZZY_NAMES_PER_HIT]:
            fuzzy = round(score / 100 * FUZZY_WEIGHT, 3)
            if last is None and len(found) > limit:  # (later names score no higher)
                last = _nth_score(found, limit)
            if last is not None and fuzzy < last:
                break
            add(by_name(store, name, ignore_case=True, limit=200), "fuzzy", fuzzy)
    ranked = [item for _, item in sorted(found.values(), key=lambda pair: pair[0])]
    return Listing(ranked[:limit], capped=len(ranked) > limit, max_results=limit)


def fuzzy_names(query: str, names: list[str]) -> list[tuple[str, float]]:
    """The names like ``query``, best first, each with its score (0-100): the similarity of
    the whole name (a typo: ``chekout``), or 0.9 of the best part of a longer name that is
    like the whole query (``cursor`` in ``decode_cursor``; for a query of 3 letters, only
    one that contains it); none under the floor, so that ``c`` or ``out`` is no match of
    ``chekout``, nor every name with an ``a`` of ``a``."""
    from rapidfuzz import fuzz, process

    best = {name: score for name, score, _ in process.extract(
        query, names, scorer=fuzz.ratio, limit=None, score_cutoff=FUZZY_FLOOR)}
    if len(query) >= 3:  # (a part of 3 letters only as it is: "tax" in apply_tax)
        cutoff = 100 if len(query) == 3 else FUZZY_FLOOR / 0.9
        for name, score, _ in process.extract(query, names, scorer=fuzz.partial_ratio,
                                              limit=None, score_cutoff=cutoff):
            if len(name) >= len(query):
                best[name] = max(best.get(name, 0.0), score * 0.9)
    return sorted(best.items(), key=lambda pair: (-pair[1], len(pair[0]), pair[0]))


def definition(store: Store, name: str, repo: str | None = None) -> list[dict[str, Any]]:
    nodes = [n for n in resolve_symbol(store, name, repo) if n.kind not in HIDDEN_KINDS]
    return [node_item(n) for n in sorted(nodes, key=lambda n: (n.repo, n.path, n.line))]


def unresolved(store: Store, targets: list[Node], repo: str | None,
               kinds: tuple[EdgeKind, ...]) -> dict[str, int]:
    """How many edges of ``kinds`` with a target's name written at their site (in
    ``repo``, or in every repository) are external: ``unresolved``, whose target could not
    be found (a method called on a receiver of unknown type: any of them could be one of
    ``targets``), and ``external``, which went to a known external (``builtins.filter``).
    Edges into the targets themselves (an external symbol's callers) are not counted."""
    names = sorted({n.name for n in targets if n.name})
    exclude = frozenset(n.id for n in targets if n.kind == "external")
    counts = [0, 0]
    for name in names:
        for repo_name in [repo] if repo else sorted(store.repos()):
            found = store.external_sites(name, repo_name, kinds, exclude)
            counts = [counts[0] + found[0], counts[1] + found[1]]
    return {"unresolved": counts[0], "external": counts[1]}


def _edges(store: Store, symbol: str, repo: str | None, kinds: tuple[EdgeKind, ...],
           incoming: bool, min_confidence: float | None) -> Listing:
    """The edges into (out of) a symbol; into it, with the count of the unresolved."""
    results = []
    targets = resolve_symbol(store, symbol, repo)
    floor = min_confidence or 0.0
    for target in targets:
        edges = [e for e in store.edges(target.id, incoming=incoming, kinds=kinds)
                 if e.confidence >= floor]
        others = store.nodes([e.src if incoming else e.dst for e in edges])
        for e, other in zip(edges, others, strict=True):
            if other is not None:
                results.append(edge_item(other, e, target.id))
    results.sort(key=lambda r: (-r["confidence"], r["repo"], r["path"], r["site_line"]))
    if not incoming:
        return Listing(results)
    return Listing(results, **unresolved(store, targets, repo, kinds))


REFERENCE_KINDS = (EdgeKind.CALLS, EdgeKind.REFERENCES, EdgeKind.IMPORTS, EdgeKind.INHERITS,
                   EdgeKind.IMPLEMENTS)


def refs(store: Store, symbol: str, repo: str | None = None,
         min_confidence: float | None = None) -> Listing:
    return _edges(store, symbol, repo, REFERENCE_KINDS, True, min_confidence)


def callers(store: Store, symbol: str, repo: str | None = None,
            min_confidence: float | None = None) -> Listing:
    return _edges(store, symbol, repo, (EdgeKind.CALLS,), True, min_confidence)


def callees(store: Store, symbol: str, repo: str | None = None,
            min_confidence: float | None = None) -> Listing:
    return _edges(store, symbol, repo, (EdgeKind.CALLS,), False, min_confidence)


def impact(store: Store, symbol: str, depth: int = 3, repo: str | None = None,
           min_confidence: float | None = None, max_nodes: int = MAX_IMPACT) -> Listing:
    """Everything that may break: the reverse closure over calls, imports and uses (over
    edges at least ``min_confidence`` sure), nearest first (and of the dependents of one
    definition, the surest first), at most ``max_nodes`` of it (``capped``: there was
    more)."""
    if depth < 1:
        raise QueryError("depth must be at least 1")
    if max_nodes < 1:
        raise QueryError("max_nodes must be at least 1")
    start = resolve_symbol(store, symbol, repo)
    floor = min_confidence or 0.0
    seen = {n.id for n in start}
    queue = deque((n.id, 0) for n in start)
    results: list[dict[str, Any]] = []
    capped = False
    while queue and not capped:
        node_id, d = queue.popleft()
        if d >= depth:
            continue
        edges = [e for e in store.edges(node_id, incoming=True, kinds=REFERENCE_KINDS)
                 if e.src not in seen and e.confidence >= floor]
        found = [(e, n) for e, n in zip(edges, store.nodes([e.src for e in edges]),
                                        strict=True) if n is not None]
        # the surest first, then by place: what a cap keeps, and the same order every time
        found.sort(key=lambda f: (-f[0].confidence, f[1].repo, f[1].path, f[0].line))
        for e, n in found:
            if n.id in seen:
                continue
            if len(results) >= max_nodes:
                capped = True
                break
            seen.add(n.id)
            item = edge_item(n, e, node_id)
            item["depth"] = d + 1
            results.append(item)
            queue.append((n.id, d + 1))
    return Listing(results, **unresolved(store, start, repo, REFERENCE_KINDS),
                   max_nodes=max_nodes, capped=capped)


def neighbourhood(store: Store, symbol: str, depth: int = 1, repo: str | None = None,
                  limit: int = 100) -> dict[str, Any]:
    """Nodes and edges around a symbol, both directions, for drawing: at most ``limit``
    nodes, ``depth`` steps out (containment left out)."""
    start = resolve_symbol(store, symbol, repo)[:5]
    nodes = {n.id: n for n in start}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    frontier = list(nodes)
    truncated = False
    for _ in range(depth):
        nxt = []
        for node_id in frontier:
            for incoming in (False, True):
                for e in store.edges(node_id, incoming=incoming):
                    if e.kind in (EdgeKind.CONTAINS, EdgeKind.DEFINES):
                        continue
                    other = e.src if incoming else e.dst
                    if other not in nodes:
                        if len(nodes) >= limit:
                            truncated = True
                            continue
                        n = store.node(other)
                        if n is None:
                            continue
                        nodes[other] = n
                        nxt.append(other)
                    edges[(e.src, e.dst, e.kind.name)] = {
                        "source": e.src, "target": e.dst, "kind": e.kind.name.lower(),
                        "resolution": e.resolution, "confidence": e.confidence,
                        "line": e.line}
        frontier = nxt
    return {"center": [n.id for n in start], "nodes": [node_item(n) for n in nodes.values()],
            "edges": list(edges.values()), "truncated": truncated}


def find_file(store: Store, file: str, repo: str | None = None) -> tuple[str, str]:
    """(repo, repo-relative path) of a file given by its path in its repository, or by an
    absolute path inside an indexed repository (the CLI makes its arguments absolute)."""
    repos = store.repos()
    absolute = os.path.realpath(file) if os.path.isabs(file) else None
    for name, info in repos.items():
        root = info.get("root", "")
        if (repo and name != repo) or absolute is None:
            continue
        if root and absolute.startswith(root.rstrip("/") + "/"):
            rel = absolute[len(root.rstrip("/")) + 1:]
            if store.file(name, rel) is not None:
                return name, rel
    for name in repos:
        if (not repo or name == repo) and store.file(name, file.strip("/")) is not None:
            return name, file.strip("/")
    raise NotFoundError(f"{file} is not indexed")


def outline(store: Store, file: str, repo: str | None = None) -> list[dict[str, Any]]:
    repo_name, path = find_file(store, file, repo)
    rec = store.file(repo_name, path)
    if rec is None or rec.status == "skipped":
        reason = f": skipped ({rec.reason})" if rec else ""
        raise QueryError(f"{file} has no outline{reason}")
    nodes = [n for n in store.nodes(rec.node_ids or []) if n is not None]
    depth: dict[str, int] = {}
    results = []
    for n in sorted(nodes, key=lambda n: (n.line, n.col)):
        if n.kind in ("file", "module"):
            depth[n.id] = -1
            continue
        depth[n.id] = depth.get(n.parent, -1) + 1
        results.append({**node_item(n), "depth": depth[n.id]})
    return results


def module_imports(store: Store, repo: str | None = None) -> dict[str, dict[str, Any]]:
    """Module -> the modules it imports (internal) and the externals it uses."""
    graph: dict[str, dict[str, Any]] = {}
    for name in sorted(store.repos()):
        if repo and name != repo:
            continue
        module_of = {rec.path: rec.module for rec in store.files(name) if rec.node_ids}
        for rec in store.files(name):
            if not rec.node_ids:
                continue
            entry = graph.setdefault(rec.module, {
                "module": rec.module, "repo": name, "path": rec.path,
                "language": rec.language, "imports": set(), "external": set()})
            for node_id in rec.node_ids[1:]:
                edges = store.edges(node_id, incoming=False, kinds=(EdgeKind.IMPORTS,))
                for _e, dst in zip(edges, store.nodes([e.dst for e in edges]), strict=True):
                    if dst is None:
                        continue
                    if dst.kind == "external":
                        entry["external"].add(dst.qualified_name)
                    elif dst.path in module_of and module_of[dst.path] != rec.module:
                        entry["imports"].add(module_of[dst.path])
    return graph


def deps(store: Store, repo: str | None = None, cycles: bool = False) -> list[dict[str, Any]]:
    graph = module_imports(store, repo)
    if not cycles:
        return [{**v, "imports": sorted(v["imports"]), "external": sorted(v["external"])}
                for v in graph.values()]
    import networkx as nx

    g: Any = nx.DiGraph()
    for module, entry in graph.items():
        g.add_node(module)
        g.add_edges_from((module, target) for target in entry["imports"])
    results: list[dict[str, Any]] = []
    for component in nx.strongly_connected_components(g):
        if len(component) < 2:
            continue
        example = [u for u, _ in nx.find_cycle(g.subgraph(component))]
        results.append({"modules": sorted(component), "size": len(component),
                        "cycle": [*example, example[0]]})
    results.sort(key=lambda r: (-r["size"], r["modules"]))
    return results


def stats(store: Store, repo: str | None = None) -> dict[str, Any]:
    repos = store.repos()
    if repo and repo not in repos:
        raise NotFoundError(f"no repository named {repo!r}")
    files: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    node_kinds: Counter[str] = Counter()
    edge_kinds: Counter[str] = Counter()
    resolutions: Counter[str] = Counter()
    problems = []
    lines = 0
    for name in sorted(repos):
        if repo and name != repo:
            continue
        for rec in store.files(name):
            files[rec.status] += 1
            if rec.status != "skipped":
                languages[rec.language] += 1
                lines += rec.lines
            if rec.status != "ok":
                problems.append({"repo": name, "path": rec.path, "status": rec.status,
                                 "reason": rec.reason})
            ids = rec.node_ids or []
            module_id = ids[1] if len(ids) > 1 else ""
            for key, found in zip(ids, store.kinds_and_parents(ids), strict=True):
                if found is not None:
                    kind, parent = found
                    node_kinds[kind] += 1
                    # Containment is kept as each node's parent, not as stored edges.
                    structural = "defines" if parent == module_id else "contains"
                    edge_kinds[structural] += 1
                    resolutions["structural"] += 1
                for e in store.edges(key, incoming=False):
                    edge_kinds[e.kind.name.lower()] += 1
                    resolutions[e.resolution] += 1
    return {
        "revision": store.revision,
        "repositories": {k: v for k, v in repos.items() if not repo or k == repo},
        "files": sum(files.values()),
        "files_by_status": dict(files),
        "lines": lines,
        "languages": dict(languages.most_common()),
        "nodes": sum(node_kinds.values()),
        "nodes_by_kind": dict(node_kinds.most_common()),
        "edges": sum(edge_kinds.values()),
        "edges_by_kind": dict(edge_kinds.most_common()),
        "edges_by_resolution": dict(resolutions.most_common()),
        "problems": problems,
    }
