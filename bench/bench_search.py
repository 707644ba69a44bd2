#!/usr/bin/env python
"""Search benchmark on real code: docstring -> code retrieval over Django 5.1.4.

    python bench/bench_search.py [--functions N] [--skip-100k] [--json] [--check] [-v]

The functions and methods of the pinned Django sdist that have a docstring (first
paragraph of at least 4 words, told apart from every other docstring of the corpus) are
the retrieval set: the docstring's first paragraph is the query, and the code indexed is
the function WITHOUT its docstring (deleted from a copy of the tree before indexing), so
that only the code can match. The copy is indexed and embedded through the real pipeline
(``CodeGraph.index``, ``CodeGraph.embed`` with the default local model) and each query
is searched in each mode: recall@1, recall@10 and MRR@10 of the function's node, the
cold embedding throughput and the query latency (in process, query embedding included).
Then a one-file edit (which must re-embed only the chunks it changed) and the latency at
100k chunks: more real code (Django's tests, SQLAlchemy, SymPy) in the lexical index,
and real vectors plus perturbed copies of them in the vector index. See bench/README.md.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's codegraph, whatever is installed

from _corpus import KNOWN_SHA256, CorpusError, fetch_sdist  # noqa: E402
from _retrieval_set import (  # noqa: E402
    FUNCS,
    MIN_WORDS,
    Probe,
    RetrievalSetError,
    module_name,
    scan,
    select,
    strip_docstrings,
)
from codegraph.api import CodeGraph  # noqa: E402
from codegraph.search.service import EmbedReport  # noqa: E402
from codegraph.search.vectors import VectorIndex  # noqa: E402

CORPUS = ("django", "5.1.4")
CORPUS_PACKAGE = "django"  # the directory of the sdist that is indexed and queried
# The code added to reach 100k chunks: (repo name, sdist, directory of the sdist).
LARGE_CORPORA = (("django-tests", ("django", "5.1.4"), "tests"),
                 ("sqlalchemy", ("sqlalchemy", "2.0.36"), "."),
                 ("sympy", ("sympy", "1.13.3"), "."))
# sha256 of these sdists on PyPI (from its simple index; pip checks them too).
KNOWN_SHA256.update({
    ("sqlalchemy", "2.0.36"): "7f2767680b6d2398aea7082e45a774b2b0767b5c8d8ffb9c8b683088ea9b29c5",
    ("sympy", "1.13.3"): "b27fd2c6530e0ab39e275fc9b683895367e51d5da91baa8d3d64db2565fec4d9",
})

LIMIT = 10  # results per query: recall@10 and MRR@10
POOL_DEPTH = 400  # results searched when only the retrieval set competes
LARGE_CHUNKS = 100_000
NOISE = 0.02  # per-coordinate sigma of the perturbed copies (cosine ~0.9 to the original)
WARMUP = 5
CALLABLE_KINDS = frozenset({"function", "method", "constructor"})

TARGET_MRR = 0.75
TARGET_FUNCTIONS = 1000
TARGET_P50_MS = 30.0
TARGET_THROUGHPUT = 30.0  # chunks/s


class BenchError(RuntimeError):
    pass


@dataclass(slots=True)
class Ranked:
    """The rank of each probe's function in one mode (0: not in the top LIMIT)."""

    mode: str
    ranks: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        n = len(self.ranks)
        return {"mode": self.mode, "queries": n,
                "recall@1": sum(r == 1 for r in self.ranks) / n,
                f"recall@{LIMIT}": sum(r > 0 for r in self.ranks) / n,
                f"mrr@{LIMIT}": sum(1 / r for r in self.ranks if r) / n,
                **latency(self.seconds)}


def latency(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean())}


def match_nodes(cg: CodeGraph, probes: list[Probe]) -> tuple[list[Probe], int, int]:
    """The probes with their function's node id (those without one dropped), the number
    dropped, and how many targets' chunks still hold the query text (should be 0)."""
    owners: dict[str, set[str]] = {}
    texts: dict[str, list[str]] = {}
    for chunk in cg.search_service().chunks():
        if chunk.kind in CALLABLE_KINDS:
            owners.setdefault(chunk.qualified_name, set()).add(chunk.node_id)
            texts.setdefault(chunk.node_id, []).append(" ".join(chunk.text.split()))
    out = []
    for p in probes:
        ids = owners.get(p.qualified_name, set())
        if len(ids) == 1:
            out.append(replace(p, node_id=next(iter(ids))))
    leaks = sum(1 for p in out if any(p.query in t for t in texts[p.node_id]))
    return out, len(probes) - len(out), leaks


# -- measuring -----------------------------------------------------------------------------


def rank_all(cg: CodeGraph, probes: list[Probe], mode: str, *, graph_boost: bool = False,
             label: str | None = None, pool: set[str] | None = None) -> Ranked:
    """Rank every probe's function. With ``pool``, only those definitions compete (the
    retrieval set as the whole corpus): a deeper search, filtered to the pool."""
    out = Ranked(label or mode)
    limit = LIMIT if pool is None else POOL_DEPTH
    for p in probes[:WARMUP]:
        cg.search(p.query, mode=mode, limit=limit, graph_boost=graph_boost)
    for p in probes:
        started = time.perf_counter()
        found = cg.search(p.query, mode=mode, limit=limit, graph_boost=graph_boost)
        out.seconds.append(time.perf_counter() - started)
        ids = [r["id"] for r in found["results"] if pool is None or r["id"] in pool][:LIMIT]
        out.ranks.append(ids.index(p.node_id) + 1 if p.node_id in ids else 0)
    return out


def best_of(a: Ranked, b: Ranked) -> dict[str, Any]:
    """Per query, the better of two rankings: a ceiling for any fusion of the two (not
    strict: a fused ranking can place a hit above its rank in both)."""
    best = [min(x, y) if x and y else x or y for x, y in zip(a.ranks, b.ranks, strict=True)]
    row = Ranked(f"best of {a.mode}/{b.mode}", best, [0.0]).summary()
    row.update(p50_ms=None, p99_ms=None, mean_ms=None)
    return row


def chunk_hashes(cg: CodeGraph) -> dict[str, tuple[str, str]]:
    return {c.id: (c.path, c.hash) for c in cg.search_service().chunks()}


def chunk_count(cg: CodeGraph) -> int:
    return sum(1 for _ in cg.store.chunk_ids())


def one_file_edit(cg: CodeGraph, tree: Path, name: str, probes: list[Probe]
                  ) -> dict[str, Any]:
    """Add a statement to one function of the retrieval set, re-index, re-embed."""
    before = chunk_hashes(cg)
    per_file = Counter(path for path, _ in before.values())
    probe = next((p for p in sorted(probes, key=lambda q: (q.path, q.doc_start))
                  if per_file[p.path] >= 5), probes[0])
    path = tree / probe.path
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    target = _find(ast.parse(source), probe.qualified_name, module_name(probe.path))
    if target is None:
        raise BenchError(f"cannot find {probe.qualified_name} in {probe.path} again")
    first = target.body[0]
    lines.insert(first.lineno - 1, f"{' ' * first.col_offset}_codegraph_bench_edit = 1\n")
    path.write_text("".join(lines), encoding="utf-8")
    report = cg.index(str(tree), name=name)
    after = chunk_hashes(cg)
    changed = {i for i, v in after.items() if before.get(i) != v}
    gone = set(before) - set(after)
    embed = cg.embed()
    files = sorted({after[i][0] for i in changed} | {before[i][0] for i in gone})
    return {"file": probe.path, "function": probe.qualified_name, "parsed": report.parsed,
            "chunks_in_file": per_file[probe.path], "changed_chunks": len(changed),
            "removed_chunks": len(gone), "changed_files": files, "embed": embed.to_dict(),
            "pass": (embed.embedded == len(changed) > 0 and embed.cached == 0
                     and embed.failed == 0 and files == [probe.path])}


def _find(module: ast.Module, qname: str, prefix: str
          ) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    def visit(body: list[ast.stmt], at: str) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
        for node in body:
            if isinstance(node, ast.ClassDef):
                yield from visit(node.body, f"{at}.{node.name}")
            elif isinstance(node, FUNCS) and f"{at}.{node.name}" == qname:
                yield node

    return next(visit(module.body, prefix), None)


def fill_to(cg: CodeGraph, target: int, work: Path, args: argparse.Namespace
            ) -> list[dict[str, Any]]:
    """Index more real code (LARGE_CORPORA, file by file in path order, in batches sized
    to land just past ``target``) until the store holds ``target`` chunks."""
    total = chunk_count(cg)
    added = []
    indexer = cg.indexer()
    for name, (package, version), sub in LARGE_CORPORA:
        if total >= target:
            break
        src = (fetch_sdist(package, version) / sub).resolve()
        files = sorted(src.rglob("*.py"), key=lambda p: p.relative_to(src).as_posix())
        dest = work / "large" / name
        rate, copied, start_total = 20.0, 0, total
        while copied < len(files) and total < target:
            batch = max(5, min(2000, int((target - total) / rate * 0.5)))
            for path in files[copied:copied + batch]:
                out = dest / path.relative_to(src)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, out)
            copied = min(len(files), copied + batch)
            indexer.index(str(dest), name=name)
            total = chunk_count(cg)
            rate = max(1.0, (total - start_total) / copied)
            log(args, f"100k: {name} {copied}/{len(files)} files, {total:,} chunks")
        added.append({"repo": name, "corpus": f"{package}=={version}", "directory": sub,
                      "files": copied, "of_files": len(files), "chunks": total - start_total})
    cg.search_service().sync_lexical()
    return added


def fill_vectors(cg: CodeGraph, seed: int) -> dict[str, int]:
    """Give every chunk without a vector a perturbed copy of a real one (unit-normalised
    real vector + gaussian noise), so that the vector index is as large as the store."""
    vectors = cg.search_service().vectors(for_writing=True)
    real_ids = vectors.ids()
    if not real_ids:
        raise BenchError("no real vectors to copy")
    real = np.stack([v for i in real_ids if (v := vectors.vector(i)) is not None])
    ids = list(cg.store.chunk_ids())
    missing = [i for i in ids if i not in vectors]
    rng = np.random.default_rng(seed)
    for at in range(0, len(missing), 50_000):
        part = missing[at:at + 50_000]
        rows = real[rng.integers(0, len(real), len(part))]
        rows = rows + rng.normal(0.0, NOISE, rows.shape).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        vectors.add(part, rows)
    vectors.save(cg.store.revision)
    return {"real": len(real_ids), "perturbed": len(missing), "total": vectors.count}


def force_kind(cg: CodeGraph, kind: str) -> str:
    """Reopen the service's vector index as ``kind`` (flat: exact, ivf: approximate)."""
    svc = cg.search_service()
    e = svc.embedder()
    svc._vectors = VectorIndex.open(svc.vector_dir, provider=e.provider,
                                    model=e.model, dimension=e.dimension, kind=kind)
    return str(svc._vectors.kind)


# -- the run -------------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    name: str
    value: float
    limit: float
    unit: str
    checked: str
    at_least: bool = False  # the value must be >= limit (else <=)
    ok: bool = True  # other conditions of the target

    @property
    def passed(self) -> bool:
        within = self.value >= self.limit if self.at_least else self.value <= self.limit
        return within and self.ok

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": round(self.value, 4), "limit": self.limit,
                "unit": self.unit, "at_least": self.at_least, "checked": self.checked,
                "pass": self.passed}


def corpus_tree(corpus_dir: str | None, work: Path) -> tuple[Path, str]:
    """A private copy of the tree to query (the repository root) and its label."""
    if corpus_dir:
        source = Path(corpus_dir).resolve()
        if not source.is_dir():
            raise BenchError(f"--corpus-dir {corpus_dir}: not a directory")
        tree = work / "retrieval" / source.name
        shutil.copytree(source, tree, symlinks=True)
        return tree, str(source)
    # The package alone (not the sdist's tests or docs), as the root's only directory: its
    # modules are named django.*, as in a checkout.
    tree = work / "retrieval" / CORPUS[0]
    shutil.copytree(fetch_sdist(*CORPUS) / CORPUS_PACKAGE, tree / CORPUS_PACKAGE, symlinks=True)
    return tree, f"{CORPUS[0]}=={CORPUS[1]} (PyPI sdist), its {CORPUS_PACKAGE}/ package"


def progress_logger(args: argparse.Namespace) -> Callable[[dict[str, Any]], None]:
    step = [0.0]

    def progress(event: dict[str, Any]) -> None:
        if event.get("event") == "embedded" and event["total"]:
            share = event["done"] / event["total"]
            if share >= step[0] or event["done"] == event["total"]:
                log(args, f"embedded {event['done']:,}/{event['total']:,}")
                step[0] = share + 0.1

    return progress


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    tree, label = corpus_tree(args.corpus_dir, work)
    name = tree.name
    candidates, counts = scan(tree)
    chosen = select(candidates, counts, args.functions, args.seed)
    strip_docstrings(tree, chosen)
    log(args, f"{len(candidates):,} candidate functions, {len(chosen):,} chosen, their "
              f"docstrings removed from {tree}")

    data = work / "data"
    with CodeGraph.open(str(data)) as cg:
        report = cg.index(str(tree), name=name)
        chunks = chunk_count(cg)
        log(args, f"indexed {report.files:,} files, {chunks:,} chunks in {report.seconds:.1f} s")
        probes, unmatched, leaks = match_nodes(cg, chosen)
        embed: EmbedReport = cg.embed(progress_logger(args))
        if embed.failed or embed.embedded != chunks:
            raise BenchError(f"the cold embed did not embed every chunk: {embed}")
        log(args, f"cold embed: {embed.embedded:,} chunks in {embed.seconds:.1f} s")
        runs = []
        ranked_by: dict[str, Ranked] = {}
        for mode, boost in (("lexical", False), ("semantic", False), ("hybrid", False),
                            ("hybrid", True)):
            ranked = rank_all(cg, probes, mode, graph_boost=boost,
                              label=f"{mode}+graph_boost" if boost else mode)
            runs.append(ranked.summary())
            ranked_by[ranked.mode] = ranked
            log(args, f"{ranked.mode}: MRR@{LIMIT} {runs[-1][f'mrr@{LIMIT}']:.3f}, "
                      f"p50 {runs[-1]['p50_ms']:.1f} ms")
        runs.append(best_of(ranked_by["lexical"], ranked_by["semantic"]))
        pool = {p.node_id for p in probes}
        for mode in ("lexical", "semantic", "hybrid"):
            row = rank_all(cg, probes, mode, label=f"{mode} [pool=set]", pool=pool).summary()
            row.update(p50_ms=None, p99_ms=None, mean_ms=None)
            runs.append(row)
        edit = one_file_edit(cg, tree, name, probes)
        log(args, f"one-file edit: {edit['embed']['embedded']} embedded, "
                  f"{edit['changed_chunks']} chunks changed")

    large: dict[str, Any] | None = None
    if not args.skip_100k:
        big = work / "data-100k"
        shutil.copytree(data, big)  # the same Django chunks, real vectors included
        with CodeGraph.open(str(big)) as cg:
            added = fill_to(cg, args.large_chunks, work, args)
            filled = fill_vectors(cg, args.seed)
            sample = probes[:args.latency_queries]
            kind = cg.search_service().vectors().kind
            rows = [rank_all(cg, sample, mode).summary() for mode in
                    ("lexical", "semantic", "hybrid")]
            for row in rows:
                row["vector_index"] = kind if row["mode"] != "lexical" else "-"
            other = "flat" if kind == "ivf" else None  # also the exact worst case
            if other:
                force_kind(cg, other)
                for mode in ("semantic", "hybrid"):
                    row = rank_all(cg, sample, mode).summary()
                    row["vector_index"] = other
                    rows.append(row)
            large = {"chunks": chunk_count(cg), "added": added, "vectors": filled,
                     "queries": len(sample), "rows": rows}
            log(args, f"100k: {large['chunks']:,} chunks, hybrid p50 "
                      f"{rows[2]['p50_ms']:.1f} ms ({kind})")

    by_mode = {r["mode"]: r for r in runs}
    mrr = {m: by_mode[m][f"mrr@{LIMIT}"] for m in ("lexical", "semantic", "hybrid")}
    throughput = embed.embedded / embed.seconds
    targets = [
        Target(f"hybrid MRR@{LIMIT}", mrr["hybrid"], TARGET_MRR, "",
               f"over {len(probes):,} functions (>= {TARGET_FUNCTIONS:,}), above lexical "
               f"({mrr['lexical']:.3f}) and semantic ({mrr['semantic']:.3f})",
               at_least=True, ok=len(probes) >= TARGET_FUNCTIONS
               and mrr["hybrid"] > max(mrr["lexical"], mrr["semantic"])),
        Target("embedding throughput", throughput, TARGET_THROUGHPUT, "chunks/s",
               "cold embed, local model: embedded / seconds of its EmbedReport",
               at_least=True),
        Target("one-file edit re-embeds", edit["embed"]["embedded"], edit["changed_chunks"],
               "chunks", "exactly the chunks that changed, nothing from the cache, one file",
               at_least=True, ok=edit["pass"]),
    ]
    if large is not None:
        hybrid = next(r for r in large["rows"] if r["mode"] == "hybrid")
        targets.append(Target(f"hybrid p50 at {large['chunks']:,} chunks", hybrid["p50_ms"],
                              TARGET_P50_MS, "ms",
                              f"in process, query embedding included, vector index "
                              f"{hybrid['vector_index']}"))
    return {
        "corpus": label,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "retrieval": {"candidates": len(candidates), "chosen": len(chosen),
                      "unmatched": unmatched, "functions": len(probes), "leaks": leaks,
                      "min_words": MIN_WORDS, "seed": args.seed},
        "index": {"files": report.files, "chunks": chunks, "seconds": report.seconds},
        "embed": {**embed.to_dict(), "chunks_per_second": throughput},
        "runs": runs,
        "edit": edit,
        "large": large,
        "targets": [t.to_dict() for t in targets],
        "pass": all(t.passed for t in targets) and large is not None,
    }


_STARTED = time.monotonic()


def log(args: argparse.Namespace, message: str) -> None:
    if args.verbose:
        print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr,
              flush=True)


def print_table(r: dict[str, Any]) -> None:
    m, rt, e = r["machine"], r["retrieval"], r["embed"]
    print(f"CodeGraph search benchmark: {r['corpus']}")
    print(f"Python {m['python']}, {m['cpus']} CPUs, load average {m['load_average']}, "
          f"{m['platform']}")
    print()
    print(f"retrieval set: {rt['functions']:,} functions and methods with a docstring "
          f"(first paragraph >= {rt['min_words']} words, unique), chosen from "
          f"{rt['candidates']:,} (seed {rt['seed']}); query = the first paragraph; the code "
          f"indexed has the docstring removed ({rt['unmatched']} without a node, "
          f"{rt['leaks']} with the query still in their chunks)")
    print(f"index: {r['index']['files']:,} files, {r['index']['chunks']:,} chunks; cold embed "
          f"{e['embedded']:,} chunks in {e['seconds']:.1f} s = {e['chunks_per_second']:.1f} "
          f"chunks/s ({e['provider']}/{e['model']})")
    print()
    print(f"{'mode':<24} {'recall@1':>8} {f'recall@{LIMIT}':>9} {f'MRR@{LIMIT}':>7}  "
          f"{'p50 ms':>7} {'p99 ms':>7}   (latency at {r['index']['chunks']:,} chunks)")
    for run in r["runs"]:
        note = ("(only the set's functions compete)" if "[pool=set]" in run["mode"]
                else "(a ceiling for fusion, per query)")
        speed = (f"{run['p50_ms']:>7.1f} {run['p99_ms']:>7.1f}" if run["p50_ms"] is not None
                 else f"{'-':>7} {'-':>7}   {note}")
        print(f"{run['mode']:<24} {run['recall@1']:>8.3f} {run[f'recall@{LIMIT}']:>9.3f} "
              f"{run[f'mrr@{LIMIT}']:>7.3f}  {speed}")
    big = r["large"]
    if big is not None:
        v = big["vectors"]
        print()
        added = ", ".join(f"{a['repo']} {a['chunks']:,} ({a['files']:,}/{a['of_files']:,} "
                          f"files)" for a in big["added"])
        print(f"at {big['chunks']:,} chunks: lexical index of real chunks (+ {added}); "
              f"vector index = {v['real']:,} real vectors + {v['perturbed']:,} perturbed "
              f"copies (unit real vector + N(0, {NOISE}) noise, renormalised); "
              f"{big['queries']} queries")
        print(f"{'mode':<24} {'vectors':>8} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>7}")
        for row in big["rows"]:
            print(f"{row['mode']:<24} {row['vector_index']:>8} {row['p50_ms']:>7.1f} "
                  f"{row['p99_ms']:>7.1f} {row['mean_ms']:>7.1f}")
    else:
        print()
        print("100k chunks: skipped (--skip-100k)")
    ed = r["edit"]
    print()
    print(f"one-file edit: a statement added to {ed['function']} ({ed['file']}, "
          f"{ed['chunks_in_file']} chunks): {ed['parsed']} file parsed, "
          f"{ed['changed_chunks']} chunk(s) changed, embed: {ed['embed']['embedded']} "
          f"embedded, {ed['embed']['cached']} cached, {ed['embed']['removed']} removed")
    print()
    tw = max(len(t["name"]) for t in r["targets"])
    print(f"{'target':<{tw}}  {'value':>14}  {'limit':>16}  result  checked against")
    for t in r["targets"]:
        value = f"{t['value']:.3f} {t['unit']}".strip()
        limit = f"{'>=' if t['at_least'] else '<='} {t['limit']:g} {t['unit']}".strip()
        print(f"{t['name']:<{tw}}  {value:>14}  {limit:>16}  "
              f"{'PASS' if t['pass'] else 'FAIL':<6}  {t['checked']}")
    print()
    print("overall: " + ("PASS" if r["pass"] else "FAIL"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--functions", type=int, default=1200,
                   help="size of the retrieval set (default 1200)")
    p.add_argument("--corpus-dir", help="a Python tree to query instead of Django's package "
                                        "(copied first, never modified)")
    p.add_argument("--skip-100k", action="store_true", help="no latency at 100k chunks")
    p.add_argument("--large-chunks", type=int, default=LARGE_CHUNKS,
                   help=f"chunks of the large index (default {LARGE_CHUNKS:,})")
    p.add_argument("--latency-queries", type=int, default=300,
                   help="queries per mode on the large index (default 300)")
    p.add_argument("--seed", type=int, default=0, help="of the sample and of the noise")
    p.add_argument("--work-dir", help="keep the trees and indexes here (default: a "
                                      "temporary directory, removed at the end)")
    p.add_argument("--json", action="store_true", help="print one JSON object, no table")
    p.add_argument("--save", help="also write the JSON object to this file")
    p.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = p.parse_args(argv)
    if args.functions < 1 or args.latency_queries < 1:
        p.error("--functions and --latency-queries must be at least 1")
    try:
        if args.work_dir:
            work = Path(args.work_dir).resolve()
            if work.exists() and any(work.iterdir()):
                raise BenchError(f"--work-dir {work} is not empty")
            work.mkdir(parents=True, exist_ok=True)
            result = bench(args, work)
        else:
            with tempfile.TemporaryDirectory(prefix="codegraph-bench-search-") as tmp:
                result = bench(args, Path(tmp))
    except (BenchError, CorpusError, RetrievalSetError) as exc:
        print(f"bench_search: error: {exc}", file=sys.stderr)
        return 2
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 1 if args.check and not result["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
