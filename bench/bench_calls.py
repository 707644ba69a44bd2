#!/usr/bin/env python
"""Call-edge accuracy on real Python projects, against jedi as the oracle.

    python bench/bench_calls.py [--project NAME ...] [--errors N] [--json]

For each pinned project (its PyPI sdist, package sources only), CodeGraph builds the graph
in memory, and jedi is asked, at every call inside a function body, where the called name
is defined (``goto``, following imports; ``infer`` when ``goto`` lands on an assignment or a
parameter). Edges are compared per call site (see ``_oracle.py``): precision where jedi
resolved the callee, recall over jedi's in-repository edges, per resolution value, with a
calibration table (stated confidence against the share right) and the commonest errors.

jedi's answers are cached per project and jedi version under the corpus cache
(``oracle/``): the first run takes minutes, later runs seconds.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jedi  # type: ignore[import-untyped]

from _corpus import KNOWN_SHA256, cache_dir, fetch_sdist
from _oracle import Ours, Score, Site, group_edges, report, score
from codegraph.graph.build import build_graph
from codegraph.graph.model import EdgeKind
from codegraph.parse.facts import CALLABLE

# name, version, the package directory inside the sdist (what is indexed, and the root
# that module names start from).
PROJECTS = {
    "httpx": ("httpx", "0.28.1", ".", "httpx"),
    "attrs": ("attrs", "25.3.0", "src", "attr attrs"),
    "rich": ("rich", "14.0.0", ".", "rich"),
    "jinja2": ("jinja2", "3.1.6", "src", "jinja2"),
}
KNOWN_SHA256.update({
    ("httpx", "0.28.1"): "75e98c5f16b0f35b567856f597f06ff2270a374470a5c2392242528e3e3e42fc",
    ("attrs", "25.3.0"): "75d7cefc7fb576747b2c81b4442d4d4a1ce0900973527c011d1030fd3bf4af1b",
    ("rich", "14.0.0"): "82f1bc23a6a21ebca4ae0c45af9bdbc492ed20231dcb63f297d6d1021a9d5725",
    ("jinja2", "3.1.6"): "0137fb05990d35f1275a587e9aee6d56da821fc83491a0fb838183be43f66d6d",
})
_DEFINITION_TYPES = frozenset({"function", "class"})


def sources(root: Path, packages: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for package in packages.split():
        for path in sorted((root / package).rglob("*.py")):
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def call_sites(source: bytes) -> list[tuple[int, int, str, int, int]]:
    """(line, col, name, name_line, name_col) of each call inside a function body; ``col``
    1-based in bytes (as CodeGraph's), ``name_col`` 0-based in characters (as jedi's)."""
    tree = ast.parse(source)
    lines = source.split(b"\n")
    out: list[tuple[int, int, str, int, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                for part in [*child.decorator_list, *child.args.defaults,
                             *[d for d in child.args.kw_defaults if d is not None]]:
                    visit_expr(part, in_function)
                for stmt in child.body:
                    visit_expr(stmt, True)
            elif isinstance(child, ast.ClassDef):
                for part in [*child.decorator_list, *child.bases]:
                    visit_expr(part, in_function)
                for stmt in child.body:
                    visit_expr(stmt, False)
            else:
                visit_expr(child, in_function)

    def visit_expr(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            wrapper = ast.Module(body=[node], type_ignores=[])
            visit(wrapper, in_function)
            return
        if in_function and isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                name, nline, nbyte = func.id, func.lineno, func.col_offset
            elif isinstance(func, ast.Attribute) and func.end_lineno is not None \
                    and func.end_col_offset is not None:
                name, nline = func.attr, func.end_lineno
                nbyte = func.end_col_offset - len(func.attr.encode())
            else:
                name = ""
            if name:
                nchar = len(lines[nline - 1][:nbyte].decode("utf-8", errors="replace"))
                out.append((node.lineno, node.col_offset + 1, name, nline, nchar))
        visit(node, in_function)

    visit(tree, False)
    return out


def _jedi_targets(script: jedi.Script, line: int, col: int, root: Path) -> list[Any] | None:
    try:
        names = script.goto(line, col, follow_imports=True)
        if names and not any(n.type in _DEFINITION_TYPES for n in names):
            names = script.infer(line, col)
    except Exception:  # jedi's own failures: count the site as unresolved by the oracle
        return None
    if not names:
        return None
    out = []
    for n in names:
        path = n.module_path
        if path is not None and Path(path).is_relative_to(root) and n.line is not None:
            out.append([Path(path).relative_to(root).as_posix(), n.line, n.type, n.name])
        else:
            out.append([None, 0, n.type, n.full_name or n.name])
    return out


def jedi_oracle(name: str, root: Path, files: dict[str, bytes]) -> dict[str, Any]:
    """{"path:line:col:name": [[path|None, line, type, name], ...] | None}, cached."""
    cache = cache_dir() / "oracle" / f"jedi-{jedi.__version__}-bare-{name}-{root.name}.json"
    if cache.exists():
        cached: dict[str, Any] = json.loads(cache.read_text())
        return cached
    # An environment with the standard library only: the corpus must not be found in a
    # site-packages (httpx, attrs, rich and jinja2 are all installed beside CodeGraph).
    bare = cache_dir() / "oracle" / "bare-venv"
    if not (bare / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    project = jedi.Project(root, environment_path=str(bare), added_sys_path=[str(root)],
                           smart_sys_path=False)
    answers: dict[str, Any] = {}
    started = time.monotonic()
    for i, (path, source) in enumerate(sorted(files.items())):
        script = jedi.Script(source.decode("utf-8"), path=root / path, project=project)
        for line, col, called, nline, ncol in call_sites(source):
            answers[f"{path}:{line}:{col}:{called}"] = _jedi_targets(script, nline, ncol, root)
        if (i + 1) % 20 == 0:
            print(f"  jedi {name}: {i + 1}/{len(files)} files, {len(answers):,} sites, "
                  f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(answers))
    tmp.replace(cache)
    return answers


def measure(name: str) -> tuple[Score, dict[str, float]]:
    dist, version, subdir, packages = PROJECTS[name]
    root = (fetch_sdist(dist, version) / subdir).resolve()
    files = sources(root, packages)
    started = time.monotonic()
    graph = build_graph(name, files)
    build_s = time.monotonic() - started
    answers = jedi_oracle(name, root, files)

    def_at: dict[tuple[str, int], str] = {}
    labels: dict[str, str] = {}
    for n in graph.nodes.values():
        if n.path and n.kind not in ("file", "module", "external"):
            def_at.setdefault((n.path, n.line), n.id)
            labels[f"{n.path}:{n.line}"] = n.qualified_name
    oracle: dict[Site, frozenset[str] | None] = {}
    for key, targets in answers.items():
        path, line, col, called = key.rsplit(":", 3)
        site = Site(path, int(line), int(col), called)
        if targets is None:
            oracle[site] = None
            continue
        inside = {(p, ln) for p, ln, _, _ in targets if p is not None}
        mapped = frozenset(f"{p}:{ln}" for p, ln in inside if (p, ln) in def_at)
        # A target jedi found in the repository but that is no definition of ours (a
        # lambda, an assignment): the site is left out, not counted against either side.
        oracle[site] = mapped if len(mapped) == len(inside) else None
    callables = {n.id for n in graph.nodes.values() if n.kind in CALLABLE}
    ours = group_edges(
        (Site(graph.nodes[e.src].path, e.line, e.col, e.name),
         Ours(None if e.external else f"{graph.nodes[e.dst].path}:{graph.nodes[e.dst].line}",
              e.resolution, e.confidence, graph.nodes[e.dst].qualified_name))
        for e in graph.edges if e.kind == EdgeKind.CALLS and e.src in callables)
    return score(oracle, ours, labels), {"files": len(files), "build_s": build_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", action="append", choices=sorted(PROJECTS))
    parser.add_argument("--errors", type=int, default=10, help="commonest errors to list")
    parser.add_argument("--json", action="store_true", help="one JSON object of the figures")
    args = parser.parse_args(argv)
    total = Score()
    figures: dict[str, Any] = {}
    for name in args.project or sorted(PROJECTS):
        s, info = measure(name)
        total.add(s)
        figures[name] = {"precision": round(s.precision(), 4), "recall": round(s.recall(), 4),
                         "oracle_edges": s.oracle_edges, **info}
        if not args.json:
            dist, version, _, _ = PROJECTS[name]
            print("\n".join(report(f"{dist} {version} ({info['files']} files)", s,
                                   args.errors)))
    figures["overall"] = {"precision": round(total.precision(), 4),
                          "recall": round(total.recall(), 4)}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print("\n".join(report("overall", total, args.errors)))
        print("targets: precision >= 0.95, recall >= 0.90, each confidence within 0.1 of "
              "its share right")
    return 0


if __name__ == "__main__":
    sys.exit(main())
