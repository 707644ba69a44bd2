"""The repository map: an agent's first look at a codebase, in a token budget.

The definitions of a repository (or of one directory in it) that matter most, with their
signatures, grouped by file. "Matter most" is PageRank over the code graph, as aider's
repo map ranks definitions: every definition and module is a node, and calls, imports,
inheritance and type references are edges (weighted by the edge's kind and confidence,
so a name-match guess counts less than a resolved call); a member also passes some of its
rank to its class, so a class whose methods are used everywhere ranks high. The ranking
is computed once per store revision (and repository) and kept: a map answers from it.

PageRank is a damped power iteration over the sparse weighted edges, with the rank of
nodes without out-edges spread evenly, as networkx does (whose own pagerank needs scipy,
which the project does not have): with numpy, or in plain Python where numpy is not
installed (the minimal image), a few times slower.
"""

from __future__ import annotations

import posixpath
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codegraph.errors import BadRequest, NotFound
from codegraph.graph.model import EdgeKind, Node
from codegraph.parse.facts import CLASS_LIKE, DEF_KINDS
from codegraph.query.paging import estimate_tokens
from codegraph.store.rocks import Store

WEIGHTS = {EdgeKind.CALLS: 1.0, EdgeKind.IMPORTS: 1.0, EdgeKind.INHERITS: 1.0,
           EdgeKind.IMPLEMENTS: 1.0, EdgeKind.REFERENCES: 0.5}
MEMBER_TO_PARENT = 0.5  # a method's (or field's) share passed to its class (not a
# nested function's to the function around it: a closure factory is no hub for that)
DAMPING = 0.85
TOLERANCE = 1e-9
MAX_ITERATIONS = 100
CACHED = 4  # rankings kept: (store, revision, repositories) keys
ENVELOPE_TOKENS = 60  # the answer's fields beside its files, reserved from the budget


@dataclass(frozen=True)
class Ranking:
    """The definitions of some repositories, most important first, with their scores; and
    the files indexed there (to tell an empty directory from a wrong path)."""

    nodes: list[Node]
    scores: list[float]
    files: frozenset[tuple[str, str]]  # (repo, path)


def pagerank(size: int, src: Sequence[int], dst: Sequence[int], weight: Sequence[float],
             damping: float = DAMPING) -> list[float]:
    """PageRank of ``size`` nodes over the weighted edges ``src[i] -> dst[i]``; sums to 1.
    A node without out-edges (dangling) gives its rank to every node evenly."""
    try:
        import numpy  # noqa: F401
    except ImportError:  # (the minimal image has no numpy)
        return pagerank_python(size, src, dst, weight, damping)
    return pagerank_numpy(size, src, dst, weight, damping)


def pagerank_numpy(size: int, src: Sequence[int], dst: Sequence[int],
                   weight: Sequence[float], damping: float = DAMPING) -> list[float]:
    import numpy as np

    if size == 0:
        return []
    s, d = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64)
    out = np.bincount(s, weights=w, minlength=size)
    share = w / out[s] if len(s) else w
    dangling = out == 0
    rank = np.full(size, 1.0 / size)
    for _ in range(MAX_ITERATIONS):
        flow = np.bincount(d, weights=rank[s] * share, minlength=size)
        new = damping * (flow + rank[dangling].sum() / size) + (1.0 - damping) / size
        done = float(np.abs(new - rank).sum()) < size * TOLERANCE
        rank = new
        if done:
            break
    result: list[float] = (rank / rank.sum()).tolist()
    return result


def pagerank_python(size: int, src: Sequence[int], dst: Sequence[int],
                    weight: Sequence[float], damping: float = DAMPING) -> list[float]:
    """:func:`pagerank` without numpy: the same iteration over lists."""
    if size == 0:
        return []
    out = [0.0] * size
    for i, w in zip(src, weight, strict=True):
        out[i] += w
    edges = [(i, j, w / out[i]) for i, j, w in zip(src, dst, weight, strict=True)]
    dangling = [i for i in range(size) if out[i] == 0]
    rank = [1.0 / size] * size
    for _ in range(MAX_ITERATIONS):
        flow = [0.0] * size
        for i, j, share in edges:
            flow[j] += rank[i] * share
        base = damping * sum(rank[i] for i in dangling) / size + (1.0 - damping) / size
        new = [base + damping * f for f in flow]
        done = sum(abs(a - b) for a, b in zip(new, rank, strict=True)) < size * TOLERANCE
        rank = new
        if done:
            break
    total = sum(rank)
    return [r / total for r in rank]


def rank(store: Store, repos: list[str]) -> Ranking:
    """The ranking of the definitions of ``repos`` (computed now: see :func:`ranking`)."""
    nodes: list[Node] = []
    files: set[tuple[str, str]] = set()
    for repo in repos:
        for rec in store.files(repo):
            files.add((repo, rec.path))
            nodes.extend(n for n in store.nodes(rec.node_ids or []) if n is not None)
    index = {n.id: i for i, n in enumerate(nodes)}
    src: list[int] = []
    dst: list[int] = []
    weight: list[float] = []
    kinds = tuple(WEIGHTS)
    for i, n in enumerate(nodes):
        for e in store.edges(n.id, incoming=False, kinds=kinds):
            j = index.get(e.dst)
            if j is not None and j != i:
                src.append(i)
                dst.append(j)
                weight.append(WEIGHTS[e.kind] * max(e.confidence, 0.05))
        parent = index.get(n.parent)
        if parent is not None and n.kind in DEF_KINDS and nodes[parent].kind in CLASS_LIKE:
            src.append(i)
            dst.append(parent)
            weight.append(MEMBER_TO_PARENT)
    scores = pagerank(len(nodes), src, dst, weight)
    order = sorted((i for i, n in enumerate(nodes) if n.kind in DEF_KINDS),
                   key=lambda i: (-scores[i], nodes[i].repo, nodes[i].path, nodes[i].line))
    return Ranking([nodes[i] for i in order], [scores[i] for i in order],
                   frozenset(files))


Key = tuple[str, int, tuple[str, ...]]  # (store path, revision, repositories)
_cache: OrderedDict[Key, Ranking] = OrderedDict()
_computing: dict[Key, threading.Event] = {}
_lock = threading.Lock()  # guards the two dicts only, never held while ranking


def ranking(store: Store, repos: list[str]) -> Ranking:
    """The ranking of ``repos`` at the store's current revision: computed once per
    revision (a few seconds for Django's 40,000 definitions), then kept until a newer
    revision's replaces it. A caller asking for a ranking being computed waits for it;
    other rankings are computed meanwhile."""
    key: Key = (store.path, store.revision, tuple(repos))
    while True:
        with _lock:
            found = _cache.get(key)
            if found is not None:
                _cache.move_to_end(key)
                return found
            running = _computing.get(key)
            if running is None:
                running = _computing[key] = threading.Event()
                break
        running.wait()  # (then cached; or it failed, and this caller tries)
    try:
        found = rank(store, repos)
        _keep(key, found)
        return found
    finally:
        with _lock:
            _computing.pop(key, None)
        running.set()


def _keep(key: Key, found: Ranking) -> None:
    """Cache ``found``, dropping the rankings of the same repositories at older revisions
    (a watched repository gets a new revision on every save); at most CACHED."""
    path, revision, repos = key
    with _lock:
        same = [k for k in _cache if k[0] == path and k[2] == repos]
        if any(k[1] > revision for k in same):
            return  # (a newer one was kept meanwhile)
        for k in same:
            del _cache[k]
        _cache[key] = found
        while len(_cache) > CACHED:
            _cache.popitem(last=False)


def directory(path: str | None) -> str:
    """A repository-relative directory (or file), normalised: '' for the whole of it."""
    if path is None:
        return ""
    text = path.strip().replace("\\", "/")
    if text.startswith("/"):
        raise BadRequest(f"path must be relative to the repository, got {path!r}")
    norm = posixpath.normpath(text) if text else "."
    if norm == ".." or norm.startswith("../"):
        raise BadRequest(f"path must stay inside the repository, got {path!r}")
    return "" if norm == "." else norm


def _under(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _item(n: Node, position: int) -> dict[str, Any]:
    return {"qualified_name": n.qualified_name, "kind": n.kind, "line": n.line,
            "signature": n.signature or n.name, "rank": position}


def repo_map(store: Store, repo: str | None, path: str | None, max_tokens: int
             ) -> dict[str, Any]:
    """The map of ``repo`` (every repository when None), or of the directory ``path`` in
    it: the highest-ranked definitions whose entries fit ``max_tokens``, grouped by file
    (files in the order of their best definition, definitions in line order)."""
    known = sorted(store.repos())
    repo = repo or None  # (an empty name is every repository, as for other queries)
    if repo is not None and repo not in known:
        raise NotFound(f"no repository named {repo!r}")
    prefix = directory(path)
    ranked = ranking(store, [repo] if repo else known)
    if prefix and not any(_under(p, prefix) for _, p in ranked.files):
        where = f" in repository {repo!r}" if repo else ""
        raise NotFound(f"no indexed file under {prefix!r}{where}")
    scope = [n for n in ranked.nodes if _under(n.path, prefix)]
    budget = max(1, max_tokens - ENVELOPE_TOKENS)
    files: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for position, n in enumerate(scope, 1):
        item = _item(n, position)
        cost = estimate_tokens(item)
        if (n.repo, n.path) not in files:
            cost += estimate_tokens({"repo": n.repo, "path": n.path, "definitions": []})
        if cost > budget:
            break
        budget -= cost
        files.setdefault((n.repo, n.path), []).append(item)
    shown = sum(len(v) for v in files.values())
    results: list[dict[str, Any]] = []
    for (r, p), items in files.items():
        items.sort(key=lambda d: int(d["line"]))
        results.append({"repo": r, "path": p, "definitions": items})
    return {"repo": repo, "path": prefix or None, "revision": store.revision,
            "results": results, "total": len({(n.repo, n.path) for n in scope}),
            "next_cursor": None, "definitions": len(scope), "shown": shown,
            "truncated": shown < len(scope), "max_tokens": max_tokens}


def render(answer: dict[str, Any]) -> str:
    """The map as text for a terminal: each file, then its definitions' lines and
    signatures."""
    several = len({f["repo"] for f in answer["results"]}) > 1
    lines: list[str] = []
    for f in answer["results"]:
        lines.append(f"{f['repo']}:{f['path']}" if several else f["path"])
        lines.extend(f"{d['line']:>6}  {d['signature']}" for d in f["definitions"])
    if not lines:
        lines.append("(no definitions)")
    if answer["truncated"]:
        lines.append(f"({answer['shown']:,} of {answer['definitions']:,} definitions, the "
                     "most important first: --max-tokens shows more)")
    return "\n".join(lines)
