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
- the commonest errors.

The scoring (``score``, ``report``) takes plain edges, to be shared with other oracles.
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
Site = tuple[str, int, str]  # file, line of the call, callee's name


@dataclass(frozen=True)
class OurEdge:
    caller: str
    callee: str | None  # None: external
    site: Site
    resolution: str
    confidence: float
    external: str = ""


@dataclass
class OracleSites:
    """What the oracle says at each site it resolved: its edges to project definitions,
    and whether it resolved anything outside them."""

    edges: dict[Site, set[tuple[str, str]]] = field(default_factory=dict)  # (caller, callee)
    outside: set[Site] = field(default_factory=set)  # a library's, an unresolved import's
    other: set[Site] = field(default_factory=set)  # a parameter, a local, a property
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
        site: Site = (row["file"], row["line"], row["name"])
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


# -- scoring -------------------------------------------------------------------------------
def score(sites: OracleSites, ours: list[OurEdge]) -> dict[str, Any]:
    """Precision and recall per resolution, calibration, known externals, errors."""
    resolved = set(sites.edges) | sites.outside | sites.other
    precision: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # resolution -> right, all
    calibration: dict[float, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    errors: Counter[tuple[str, str, str]] = Counter()
    examples: dict[tuple[str, str, str], Site] = {}
    known = [0, 0]
    at_site: dict[Site, list[OurEdge]] = defaultdict(list)
    for e in ours:
        at_site[e.site].append(e)
        if e.site not in resolved:
            continue
        if e.callee is None:
            if e.confidence >= 1.0:
                known[1] += 1
                known[0] += e.site not in sites.edges
            continue
        right = (e.caller, e.callee) in sites.edges.get(e.site, set())
        precision[e.resolution][0] += right
        precision[e.resolution][1] += 1
        bucket = calibration[round(e.confidence, 2)]
        bucket[0] += right
        bucket[1] += 1
        if not right:
            key = ("wrong", e.resolution, e.site[2])
            errors[key] += 1
            examples.setdefault(key, e.site)
    recall: dict[str, int] = Counter()
    total = 0
    for site, pairs in sites.edges.items():
        for pair in pairs:
            total += 1
            mine = [e for e in at_site.get(site, []) if (e.caller, e.callee) == pair]
            if mine:
                recall[mine[0].resolution] += 1
                continue
            others = at_site.get(site, [])
            why = ("no edge" if not others else "external" if all(e.callee is None for e in others)
                   else "other caller" if any(e.callee == pair[1] for e in others)
                   else "other target")
            key = ("missed", why, site[2])
            errors[key] += 1
            examples.setdefault(key, site)
            recall["(missed)"] += 1
    return {"precision": {k: tuple(v) for k, v in precision.items()},
            "recall": dict(recall), "oracle_edges": total,
            "calibration": {k: tuple(v[:2]) for k, v in sorted(calibration.items())},
            "known_externals": tuple(known),
            "errors": [(n, *k, ":".join(map(str, examples[k]))) for k, n in errors.most_common(10)],
            "sites": {"resolved": len(resolved), "to_definitions": len(sites.edges),
                      "outside": len(sites.outside), "other": len(sites.other)},
            "unmatched_oracle_targets": dict(sites.unmatched)}


def _ratio(num: float, den: float) -> str:
    return f"{num / den:.3f}" if den else "-"


def report(label: str, s: dict[str, Any]) -> list[str]:
    lines = [f"## {label}",
             f"sites the oracle resolved: {s['sites']['resolved']} ({s['sites']['to_definitions']}"
             f" to project definitions, {s['sites']['outside']} outside the project, "
             f"{s['sites']['other']} to parameters, locals or properties); oracle edges to "
             f"definitions: {s['oracle_edges']}"]
    right = sum(v[0] for v in s["precision"].values())
    claimed = sum(v[1] for v in s["precision"].values())
    found = sum(v for k, v in s["recall"].items() if k != "(missed)")
    lines.append(f"precision {_ratio(right, claimed)} ({right}/{claimed})   "
                 f"recall {_ratio(found, s['oracle_edges'])} ({found}/{s['oracle_edges']})")
    g_right, g_claimed = s["precision"].get("name_match", (0, 0))
    g_found = s["recall"].get("name_match", 0)
    lines.append(f"without name_match guesses: precision "
                 f"{_ratio(right - g_right, claimed - g_claimed)}   recall "
                 f"{_ratio(found - g_found, s['oracle_edges'])}")
    lines.append(f"{'resolution':<12} {'precision':>18} {'recall share':>18}")
    for res in sorted(set(s["precision"]) | set(s["recall"])):
        r, n = s["precision"].get(res, (0, 0))
        lines.append(f"{res:<12} {_ratio(r, n):>8} ({r:>4}/{n:<4}) "
                     f"{_ratio(s['recall'].get(res, 0), s['oracle_edges']):>8} "
                     f"({s['recall'].get(res, 0):>4})")
    lines.append("calibration: confidence -> share right (edges)")
    for conf, (r, n) in s["calibration"].items():
        flag = "" if abs(r / n - conf) <= 0.1 else "   OFF by more than 0.1"
        lines.append(f"  {conf:.2f} -> {r / n:.3f} ({n}){flag}")
    k_right, k_all = s["known_externals"]
    lines.append(f"known externals at resolved sites: {_ratio(k_right, k_all)} right "
                 f"({k_right}/{k_all})")
    lines.append("commonest errors:")
    for n, kind, what, name, example in s["errors"]:
        lines.append(f"  {n:>4}  {kind} ({what}) {name}  e.g. {example}")
    if s["unmatched_oracle_targets"]:
        lines.append(f"oracle ends without a graph node: {s['unmatched_oracle_targets']}")
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
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
                results[f"{name} {corpus.version}, {label}"] = score(oracle_sites(rows, nodes),
                                                                    our_edges(graph, nodes))
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
        json.dump(results, sys.stdout, indent=1, default=list)
        print()
    else:
        for label, s in results.items():
            print("\n".join(report(label, s)), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
