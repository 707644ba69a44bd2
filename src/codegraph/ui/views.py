"""What each UI page shows, asked of the library (:class:`codegraph.api.CodeGraph`)
directly, not through the JSON API: plain dicts for the templates. The functions run in
the server's worker pool, inside ``engine.reading()``; bad input raises
:class:`codegraph.errors.BadRequest` (or ``NotFound``), which the routes show as a 4xx page.
The checks are the catalog's own (``query/catalog.py``): one rule for every interface."""

from __future__ import annotations

import time
from typing import Any

from codegraph.api import CodeGraph
from codegraph.errors import BadRequest, NotFound
from codegraph.graph.model import is_node_id
from codegraph.query import catalog

PAGE = 20  # search hits a page
LIST_CAP = 200  # rows of each relation list on a symbol page
FILES_CAP = 1000  # files listed on a repository page
GRAPH_NODES = 150  # the most nodes a graph view draws
RELATIONS = ("callers", "callees", "references", "impact")
FILTERS = ("mode", "repo", "language", "kind", "path")


def _catalog_args(name: str, given: dict[str, str]) -> dict[str, Any]:
    """``given`` (query-string text) checked and typed as the catalog declares ``name``'s
    parameters; an unknown or bad one raises BadRequest naming it."""
    return catalog.query(name).arguments(dict(given))


def home(cg: CodeGraph) -> dict[str, Any]:
    repos = cg.store.repos()
    now = time.time()
    return {"repos": [{"name": name, "files": info.get("files"),
                       "last_indexed": info.get("last_indexed"),
                       "age": _age(now, info.get("last_indexed")),
                       "revision": info.get("revision")} for name, info in sorted(repos.items())]}


def search(cg: CodeGraph, params: dict[str, str], page: int) -> dict[str, Any]:
    """One page of hits with their scores (``page`` from 1)."""
    if page < 1 or page > 50:
        raise BadRequest("page must be between 1 and 50")
    given = {k: v for k, v in params.items() if v != "" and k in ("q", *FILTERS)}
    query = given.pop("q", "").strip()
    if not query:
        return {"query": "", "results": [], "mode": given.get("mode", "hybrid")}
    args = _catalog_args("search", {**given, "query": query})
    if args.get("repo"):
        cg.known_repo(args["repo"])  # not found, as on every other interface
    found = cg.search(args["query"], mode=args.get("mode") or "hybrid",
                      repo=args.get("repo"), language=args.get("language"),
                      kind=args.get("kind"), path=args.get("path"), limit=PAGE,
                      offset=(page - 1) * PAGE)
    results = list(found.get("results") or [])
    return {"query": query, "mode": found.get("mode", args.get("mode")), "results": results,
            "page": page, "more": bool(found.get("next_cursor")),
            "notes": {k: v for k, v in found.items()
                      if k in ("degraded", "warning", "warnings", "semantic")}}


def symbol(cg: CodeGraph, symbol_id: str, min_confidence: str | None) -> dict[str, Any]:
    """A definition with its source, and who calls it, what it calls, its references and
    its impact, each with resolution and confidence (at least ``min_confidence``)."""
    node = _node(cg, symbol_id)
    confidence = _confidence(min_confidence)
    lists: dict[str, dict[str, Any]] = {}
    for name in RELATIONS:
        found = getattr(cg, name)(node["id"], min_confidence=confidence)
        about = dict(getattr(found, "about", {}) or {})
        lists[name] = {"rows": list(found)[:LIST_CAP], "total": len(found), "about": about}
    return {"node": node, "lists": lists, "min_confidence": confidence}


def candidates(cg: CodeGraph, name: str) -> list[dict[str, Any]]:
    """The definitions a name (not an id) may mean, for a page to choose from."""
    if not name or len(name) > 500:
        raise BadRequest("a symbol name is 1 to 500 characters")
    return list(cg.definition(name))[:50]


def graph(cg: CodeGraph, symbol_id: str, depth: int) -> dict[str, Any]:
    """The neighbourhood of a symbol, ``depth`` (1-3) steps out, as Cytoscape elements."""
    if depth not in (1, 2, 3):
        raise BadRequest("depth must be 1, 2 or 3")
    node = _node(cg, symbol_id)
    around = cg.graph(node["id"], depth=depth, limit=GRAPH_NODES)
    elements: list[dict[str, Any]] = []
    for n in around["nodes"]:
        elements.append({"data": {
            "id": n["id"], "label": _label(n), "kind": n["kind"],
            "title": f"{n['qualified_name']} ({n['kind']})" + (
                f" {n['path']}:{n['line']}" if n.get("path") else ""),
            "center": n["id"] in around["center"], "external": n["kind"] == "external"}})
    for e in around["edges"]:
        elements.append({"data": {
            "id": f"{e['source']}>{e['target']}:{e['kind']}", "source": e["source"],
            "target": e["target"], "kind": e["kind"], "resolution": e.get("resolution"),
            "confidence": e.get("confidence")}})
    return {"node": node, "depth": depth, "elements": elements,
            "nodes": len(around["nodes"]), "edges": len(around["edges"]),
            "truncated": bool(around.get("truncated"))}


def repo(cg: CodeGraph, name: str) -> dict[str, Any]:
    """A repository's figures: files, languages, nodes and edges, index revision and age,
    embedding coverage, and its import cycles."""
    repos = cg.store.repos()
    if name not in repos:
        raise NotFound(f"no repository named {name!r}")
    stats = cg.stats(name)
    info = repos[name]
    files: list[dict[str, Any]] = []
    for rec in cg.store.files(name):
        if len(files) >= FILES_CAP:
            break
        files.append({"path": rec.path, "language": rec.language, "lines": rec.lines,
                      "status": rec.status, "reason": rec.reason})
    cycles = list(cg.dependencies(name, cycles=True))
    return {"name": name, "info": info, "stats": stats, "files": files,
            "files_capped": stats["files"] > len(files), "cycles": cycles,
            "age": _age(time.time(), info.get("last_indexed"))}


def _label(node: dict[str, Any]) -> str:
    """A graph node's label: its name (a module's qualified name, told apart from a
    function of the same name)."""
    if node["kind"] in ("module", "file"):
        return f"{node['qualified_name']} ({node['kind']})"
    return str(node["name"] or node["qualified_name"])


def _node(cg: CodeGraph, symbol_id: str) -> dict[str, Any]:
    if not is_node_id(symbol_id):
        raise BadRequest(f"{symbol_id[:80]!r} is not a symbol id (16 hex digits): search "
                         "for it by name instead")
    found = cg.symbol(symbol_id, context=0)
    if not found:
        raise NotFound(f"no symbol with id {symbol_id!r}")
    return found[0]


def _confidence(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest("min_confidence must be a number from 0 to 1") from None
    if not 0 <= value <= 1:  # (NaN fails this too)
        raise BadRequest("min_confidence must be a number from 0 to 1")
    return value


def _age(now: float, when: Any) -> str:
    """``when`` (epoch seconds) as "3 min ago"; "never" when unknown."""
    if not isinstance(when, int | float) or when <= 0:
        return "never"
    seconds = max(0.0, now - float(when))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"
