"""Call edges of JavaScript and TypeScript against the TypeScript compiler's language service.

    python bench/bench_calls_ts.py [--corpus express|mobx] [--baseline REV_OR_DIR] [--json]

The oracle (``bench/ts_oracle.js``, run by the machine's Node.js with a pinned ``typescript``
and ``@types/node`` that the script installs into the corpus cache with npm) asks
``getDefinitionAtPosition`` at the callee's name of every call and ``new`` inside a function
body, and names the caller: the innermost enclosing function that has a name (a function
or class member, a file-level variable, object-literal member or property assignment
holding a function; anonymous callbacks belong to theirs; none: the module).

Corpora (pinned npm tarballs, fetched by ``bench/_npm.py``): express 4.21.2 (CommonJS:
``index.js`` and ``lib/``) and mobx 6.13.5 (TypeScript: its ``src/``). Each is indexed in
memory (``codegraph.graph.build.build_graph``) by this checkout and, with ``--baseline``,
by another (a git revision or a directory), in child processes.

Both sides' targets become graph nodes: a definition's file, name and line (the node of
that name whose lines hold it; a constructor counts as its class). An edge is (caller,
callee, site line); a site is (file, line of the call, callee name).

- precision, per resolution: of our edges to project definitions at the sites the oracle
  resolved (to anything: a project definition, a parameter, a library), the share it
  confirms;
- recall, per resolution: of the oracle's edges to project definitions (functions, methods,
  classes, file-level variables: the graph's own kinds; not parameters, locals or
  properties), the share we have, by the resolution of ours;
- calibration: our stated confidence against the measured share right, by confidence;
- known externals (``external`` at 1.0): the share the oracle resolved outside the project;
- the figures without name_match guesses; the commonest wrong and missed edges.

The scoring is bench/_oracle.py's (shared with bench_calls.py), with a target written
``caller>callee``: an edge from the wrong caller is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _corpus import CorpusError  # noqa: E402
from _npm import fetch_npm, npm_tools  # noqa: E402
from _oracle import Ours, Score, Site, group_edges, report, score  # noqa: E402

TOOLS = [("typescript", "5.9.3"), ("@types/node", "20.19.9")]


@dataclass(frozen=True)
class Corpus:
    name: str
    version: str
    roots: tuple[str, ...]  # files or directories of the package to index
    extensions: tuple[str, ...]
    options: dict[str, Any]  # compiler options for the oracle


CORPORA = {
    "express": Corpus("express", "4.21.2", ("index.js", "lib"), (".js",),
                      {"allowJs": True, "checkJs": False, "noEmit": True, "target": "es2020",
                       "module": "commonjs", "moduleResolution": "node10", "types": ["node"]}),
    "mobx": Corpus("mobx", "6.13.5", ("src",), (".ts",),
                   {"noEmit": True, "target": "es2020", "lib": ["es2020", "dom"],
                    "module": "esnext", "moduleResolution": "bundler", "strict": True,
                    "types": ["node"]}),
}
# Declarations the graph has nodes for (see the module's doc); ":local" ones are inside a
# function, ":function" ones hold a function.
DEFINITIONS = frozenset({"FunctionDeclaration", "FunctionExpression", "MethodDeclaration",
                         "MethodSignature", "Constructor", "ClassDeclaration",
                         "ClassExpression", "GetAccessor", "SetAccessor", "VariableDeclaration",
                         "InterfaceDeclaration", "ModuleDeclaration"})
HELD = frozenset({"PropertyAccessExpression", "PropertyAssignment", "PropertyDeclaration",
                  "BinaryExpression", "VariableDeclaration"})


class BenchError(RuntimeError):
    pass


def corpus_files(corpus: Corpus, tree: Path) -> list[str]:
    out = []
    for root in corpus.roots:
        path = tree / root
        found = [path] if path.is_file() else sorted(path.rglob("*"))
        out += [str(p.relative_to(tree)) for p in found
                if p.is_file() and p.name.endswith(corpus.extensions)
                and not p.name.endswith(".d.ts")]
    return sorted(out)


# -- the two sides -------------------------------------------------------------------------
def oracle(corpus: Corpus, tree: Path, files: list[str], work: Path) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        raise BenchError("Node.js is not installed")
    modules = npm_tools(TOOLS)
    config = work / f"{corpus.name}.json"
    config.write_text(json.dumps({"files": files, "options": corpus.options,
                                  "types_root": str(modules / "@types")}))
    proc = subprocess.run([node, str(ROOT / "bench" / "ts_oracle.js"), str(modules),
                           str(tree), str(config)], capture_output=True, text=True,
                          timeout=1800, check=False)
    if proc.returncode != 0:
        raise BenchError(f"ts_oracle.js exited {proc.returncode}: {proc.stderr[-2000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def graph_of(src: Path, tree: Path, files: list[str]) -> dict[str, Any]:
    """Index the files with the codegraph package in ``src`` (a child process)."""
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = subprocess.run([sys.executable, __file__, "--dump", str(tree), *files],
                          capture_output=True, text=True, env=env, timeout=1800, check=False)
    if proc.returncode != 0:
        raise BenchError(f"indexing with {src} failed: {proc.stderr[-2000:]}")
    dumped: dict[str, Any] = json.loads(proc.stdout)
    return dumped


def dump(tree: Path, files: list[str]) -> None:
    """(In the child) print the graph's nodes and call edges as JSON."""
    from codegraph.graph.build import build_graph
    from codegraph.graph.model import EdgeKind

    graph = build_graph(tree.name, {f: (tree / f).read_bytes() for f in files})
    nodes = {n.id: [n.kind, n.name, n.qualified_name, n.path, n.line, n.end_line, n.parent]
             for n in graph.nodes.values() if n.kind not in ("file", "repository")}
    edges = [[e.src, e.dst, e.line, e.name, e.resolution, e.confidence, e.external]
             for e in graph.edges if e.kind == EdgeKind.CALLS]
    json.dump({"nodes": nodes, "edges": edges}, sys.stdout)


# -- matching ------------------------------------------------------------------------------
Key = tuple[str, int, str]  # file, line of the call, callee's name


@dataclass(frozen=True)
class OurEdge:
    caller: str
    callee: str | None  # None: external
    site: Key
    resolution: str
    confidence: float
    external: str = ""


@dataclass
class OracleSites:
    """What the oracle says at each site it resolved: its edges to project definitions,
    and whether it resolved anything outside them."""

    edges: dict[Key, set[tuple[str, str]]] = field(default_factory=dict)  # (caller, callee)
    outside: set[Key] = field(default_factory=set)  # a library's, an unresolved import's
    other: set[Key] = field(default_factory=set)  # a parameter, a local, a property
    unmatched: Counter[str] = field(default_factory=Counter)  # targets without a node


class Nodes:
    """A graph's nodes by file, to find the one a position names."""

    def __init__(self, nodes: dict[str, list[Any]]) -> None:
        self.nodes = nodes
        self.by_path: dict[str, list[tuple[int, int, str, str]]] = defaultdict(list)
        self.modules: dict[str, str] = {}
        for node_id, (kind, name, _q, path, line, end, _parent) in nodes.items():
            if kind == "module":
                self.modules[path] = node_id
            elif kind != "external":
                self.by_path[path].append((line, end, name, node_id))

    def at(self, path: str, line: int, name: str, normal: bool = True) -> str | None:
        """The innermost node named ``name`` whose lines hold ``line``, else the innermost
        that starts on that line (``var proto = module.exports = function () {}``);
        ``normal``: a constructor's class."""
        nodes = self.by_path.get(path, ())
        found = [(s, -e, i) for s, e, n, i in nodes if s <= line <= e and n == name] or \
            [(s, -e, i) for s, e, n, i in nodes if s == line]
        if not found:
            return None
        return self.normal(max(found)[2]) if normal else max(found)[2]

    def normal(self, node_id: str) -> str:
        kind, *_rest, parent = self.nodes[node_id]
        return parent if kind == "constructor" and parent in self.nodes else node_id


def oracle_sites(rows: list[dict[str, Any]], nodes: Nodes) -> OracleSites:
    out = OracleSites()
    for row in rows:
        if not row["defs"]:
            continue
        site: Key = (row["file"], row["line"], row["name"])
        caller = nodes.modules.get(row["file"]) if row["caller"] is None else \
            nodes.at(row["file"], row["caller_line"], row["caller"], normal=False)
        for d in row["defs"]:
            decl = str(d.get("decl", ""))
            base, *marks = decl.split(":")
            if d["file"] is None or decl == "alias":
                out.outside.add(site)
            elif "local" in marks or not ((base in DEFINITIONS and base not in HELD)
                                          or (base in HELD and "function" in marks)
                                          or base == "VariableDeclaration"):
                out.other.add(site)
            else:
                callee = nodes.at(d["file"], d["line"], row["name"] if row["name"] != "super"
                                  else "constructor") or nodes.at(d["file"], d["line"],
                                                                  d["name"])
                if callee is None or caller is None:
                    out.unmatched["callee" if callee is None else "caller"] += 1
                    out.edges.setdefault(site, set()).add(
                        (caller or f"?{row['caller']}", callee or f"?{d['name']}"))
                else:
                    out.edges.setdefault(site, set()).add((caller, callee))
    return out


def our_edges(graph: dict[str, Any], nodes: Nodes) -> list[OurEdge]:
    out = []
    for src, dst, line, name, resolution, confidence, external in graph["edges"]:
        path = graph["nodes"][src][3]
        callee = None if external else nodes.normal(dst)
        out.append(OurEdge(src, callee, (path, line, name), resolution, confidence, external))
    return out


# -- scoring (bench/_oracle.py) -------------------------------------------------------------
def scored(rows: list[dict[str, Any]], sites: OracleSites, ours: list[OurEdge],
           graph: dict[str, Any]) -> tuple[Score, dict[str, Any]]:
    """The shared scoring, and what it does not count: known externals' share right,
    the figures without guesses, oracle targets without a graph node.

    _oracle.py keys sites by (path, line, col, name) and targets by a string: here the
    column is 0 (the oracle's are in UTF-16 units, ours in bytes) and a target is
    ``caller>callee``, so that an edge with the wrong caller is wrong."""
    names = {i: n[2] for i, n in graph["nodes"].items()}
    truth: dict[Site, frozenset[str] | None] = {}
    for row in rows:
        truth.setdefault(Site(row["file"], row["line"], 0, row["name"]), None)
    labels: dict[str, str] = {}
    for (path, line, name), pairs in sites.edges.items():
        keys = {f"{c}>{t}" for c, t in pairs}
        labels.update({f"{c}>{t}": f"{names.get(c, c)} -> {names.get(t, t)}" for c, t in pairs})
        truth[Site(path, line, 0, name)] = frozenset(keys)
    for path, line, name in sites.outside | sites.other:
        truth[Site(path, line, 0, name)] = truth.get(Site(path, line, 0, name)) or frozenset()
    grouped = group_edges(
        (Site(*e.site[:2], 0, e.site[2]),
         Ours(f"{e.caller}>{e.callee}" if e.callee else None, e.resolution, e.confidence,
              f"{names.get(e.caller, e.caller)} -> {names.get(e.callee, e.external)}"
              if e.callee else e.external))
        for e in ours)
    result = score(truth, grouped, labels)
    known = [0, 0]
    for e in ours:
        if e.callee is None and e.confidence >= 1.0 and e.site in (set(sites.edges)
                                                                   | sites.outside):
            known[1] += 1
            known[0] += e.site not in sites.edges
    g_right, g_all = result.by_resolution.get("name_match", [0, 0])
    right = sum(r for res, (r, _) in result.by_resolution.items() if res != "dispatch")
    total = sum(t for res, (_, t) in result.by_resolution.items() if res != "dispatch")
    g_found = result.recall_by_resolution["name_match"]
    extra = {"known_externals": known,
             "without_guesses": [(right - g_right) / max(total - g_all, 1),
                                 (result.found - g_found) / max(result.oracle_edges, 1)],
             "unmatched_oracle_targets": dict(sites.unmatched)}
    return result, extra


def summary(result: Score, extra: dict[str, Any]) -> dict[str, Any]:
    return {"precision": result.precision(), "recall": result.recall(),
            "oracle_edges": result.oracle_edges, "oracle_resolved": result.oracle_resolved,
            "by_resolution": result.by_resolution,
            "recall_by_resolution": dict(result.recall_by_resolution),
            "calibration": {str(k): v for k, v in result.calibration.items()}, **extra}


def extra_lines(extra: dict[str, Any]) -> list[str]:
    k_right, k_all = extra["known_externals"]
    share = f"{k_right / k_all:.3f}" if k_all else "-"
    precision, recall = extra["without_guesses"]
    lines = [f"  known externals (at 1.0) where the oracle resolved the callee: {share} right "
             f"({k_right}/{k_all})",
             f"  without name_match guesses: precision {precision:.3f}  recall {recall:.3f}"]
    if extra["unmatched_oracle_targets"]:
        lines.append(f"  oracle ends without a graph node: {extra['unmatched_oracle_targets']}")
    return lines


# -- main ------------------------------------------------------------------------------------
def baseline_src(spec: str, work: Path) -> Path:
    """A directory holding the codegraph package, or a git revision of this repository."""
    path = Path(spec)
    for candidate in (path, path / "src"):
        if (candidate / "codegraph").is_dir():
            return candidate.resolve()
    out = work / "baseline"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", spec, "src"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise BenchError(f"--baseline {spec}: not a directory with the codegraph package nor "
                         f"a git revision: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out / "src"


def run(args: argparse.Namespace) -> dict[str, tuple[Score, dict[str, Any]]]:
    results: dict[str, tuple[Score, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-calls-ts-") as tmp:
        work = Path(tmp)
        checkouts = {"this": ROOT / "src"}
        if args.baseline:
            checkouts = {"baseline": baseline_src(args.baseline, work), **checkouts}
        for name in args.corpus:
            corpus = CORPORA[name]
            try:
                tree = fetch_npm(corpus.name, corpus.version)
            except CorpusError as exc:
                raise BenchError(str(exc)) from exc
            files = corpus_files(corpus, tree)
            rows = oracle(corpus, tree, files, work)
            for label, src in checkouts.items():
                graph = graph_of(src, tree, files)
                nodes = Nodes(graph["nodes"])
                results[f"{name} {corpus.version}, {label}"] = scored(
                    rows, oracle_sites(rows, nodes), our_edges(graph, nodes), graph)
    return results


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--dump":
        dump(Path(sys.argv[2]), sys.argv[3:])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", action="append", choices=sorted(CORPORA),
                   help="a corpus (default: all)")
    p.add_argument("--baseline", metavar="REV_OR_DIR",
                   help="also score another checkout: a git revision or a directory")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = p.parse_args()
    args.corpus = args.corpus or sorted(CORPORA)
    try:
        results = run(args)
    except BenchError as exc:
        print(f"bench_calls_ts: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump({label: summary(*r) for label, r in results.items()}, sys.stdout, indent=1)
        print()
    else:
        for label, (result, extra) in results.items():
            print("\n".join([*report(label, result), *extra_lines(extra)]), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
