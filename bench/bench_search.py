#!/usr/bin/env python
"""Search benchmark on real code: docstring -> code retrieval over Django 5.1.4, in two
fixed protocols, with paired bootstrap intervals.

    python bench/bench_search.py [--skip-100k] [--variants] [--with-tests] [--json] [--check]

Django's package is copied with the docstring of EVERY function, method and class
stripped, then indexed and embedded through the real pipeline (kept in a persistent cache:
a re-run only re-ranks). The queries are the first paragraphs of the functions' and
methods' docstrings (unique ones, at least 4 words; those that name the function itself
are excluded and counted). Two protocols, each in lexical, semantic and hybrid mode:

* pool: a fixed seeded pool of 1,000 functions (600 with a query, the rest distractors),
  only the pool's chunks competing (a lexical and a vector index of their own): the
  MTEB/CodeSearchNet shape;
* whole repository: every query, every chunk of the package competing.

recall@1, recall@10 and MRR@10, each with a 95% bootstrap interval, and hybrid minus each
single mode with a paired one; the targets with trivial bodies apart. Then the hybrid
latency at 100k chunks. ``--variants`` also measures the ranking choices of issue 17 (rrf
or z-score fusion, the priors) against each other; ``--with-tests`` indexes Django's tests
beside the package and measures lexical search with and without the test prior. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's codegraph, whatever is installed

from _corpus import CorpusError  # noqa: E402
from _retrieval_set import MIN_WORDS, Probe, RetrievalSetError, choose_pool  # noqa: E402
from _search_index import (  # noqa: E402
    BenchError,
    bench_cache,
    cache_key,
    index_and_embed,
    match_nodes,
    node_chunks,
    open_corpus,
    pool_service,
)
from _search_large import fill_to, fill_vectors, force_kind, index_django_tests  # noqa: E402
from _search_report import print_table  # noqa: E402
from _search_stats import LIMIT, best_of, latency, paired, summary  # noqa: E402
from codegraph import config as configuration  # noqa: E402
from codegraph.api import CodeGraph  # noqa: E402
from codegraph.config import Config  # noqa: E402
from codegraph.search.fusion import DEFAULT, LEGACY, Ranking  # noqa: E402
from codegraph.search.service import SearchService, make_embedder  # noqa: E402

MODES = ("lexical", "semantic", "hybrid")
POOL_SIZE = 1000
POOL_QUERIES = 600
LARGE_CHUNKS = 100_000
WARMUP = 5
TARGET_POOL_MRR = 0.80
TARGET_REPO_MRR = 0.58
TARGET_P50_MS = 30.0
# The ranking choices measured by --variants (fusion.py), against the one before them.
VARIANTS: dict[str, Ranking] = {
    "rrf (before)": LEGACY,
    "rrf + container x0.5": Ranking("rrf", priors={"container": 0.5}),
    "zscore": Ranking("zscore", priors={}),
    "zscore + container x0.5": Ranking("zscore", priors={"container": 0.5}),
    "zscore + test x0.5 (adopted)": DEFAULT,
    "zscore + container + test x0.5": Ranking("zscore", priors={"container": 0.5,
                                                                "test": 0.5}),
}


class Searcher(Protocol):
    def search(self, query: str, *, mode: str = ..., limit: int = ...,
               graph_boost: bool = ...) -> dict[str, Any]: ...


@dataclass(slots=True)
class Ranked:
    """The rank of each probe's target in one mode (0: not in the top LIMIT)."""

    ranks: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


class CachedEmbedder:
    """The service's embedder, with each query's vector kept: for the runs that compare
    rankings (the same queries again), not for latencies."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.provider, self.model, self.dimension = inner.provider, inner.model, inner.dimension
        self.batch_size: int = inner.batch_size
        self.memo: dict[str, Any] = {}

    def release_memory(self) -> None:
        self.inner.release_memory()

    def embed(self, texts: list[str], between: Any = None) -> Any:
        import numpy as np

        missing = [t for t in texts if t not in self.memo]
        if missing:
            for t, v in zip(missing, self.inner.embed(missing, between), strict=True):
                self.memo[t] = v
        return np.stack([self.memo[t] for t in texts])


def rank_all(svc: Searcher, probes: Sequence[Probe], mode: str, *,
             graph_boost: bool = False) -> Ranked:
    out = Ranked()
    for p in probes[:WARMUP]:
        svc.search(p.query, mode=mode, limit=LIMIT, graph_boost=graph_boost)
    for p in probes:
        started = time.perf_counter()
        found = svc.search(p.query, mode=mode, limit=LIMIT, graph_boost=graph_boost)
        out.seconds.append(time.perf_counter() - started)
        ids = [r["id"] for r in found["results"]][:LIMIT]
        out.ranks.append(ids.index(p.node_id) + 1 if p.node_id in ids else 0)
    return out


def subset(ranks: list[int], probes: Sequence[Probe], trivial: bool | None = None,
           kind: str | None = None) -> list[int]:
    return [r for r, p in zip(ranks, probes, strict=True)
            if (trivial is None or p.trivial == trivial) and (kind is None or p.kind == kind)]


def by_kind(ranks: list[int], probes: Sequence[Probe], seed: int) -> dict[str, Any]:
    """Summaries per target kind (function, class), when there are several."""
    kinds = sorted({p.kind for p in probes}, reverse=True)
    if len(kinds) < 2:
        return {}
    return {kind: summary(subset(ranks, probes, kind=kind), seed) for kind in kinds}


def measure(svc: Searcher, probes: list[Probe], seed: int,
            log: Callable[[str], None], label: str) -> dict[str, Any]:
    """Every mode on ``probes``: the figures, the paired deltas, the trivial split."""
    ranked = {}
    for mode in MODES:
        ranked[mode] = rank_all(svc, probes, mode)
        s = summary(ranked[mode].ranks, seed)
        log(f"{label} {mode}: MRR@{LIMIT} {s[f'mrr@{LIMIT}']:.3f}")
    ranks = {m: r.ranks for m, r in ranked.items()}
    rows = {m: {**summary(ranks[m], seed), **latency(ranked[m].seconds)} for m in MODES}
    rows["best of lexical/semantic"] = summary(best_of(ranks["lexical"], ranks["semantic"]),
                                               seed)
    split = {f"{m} ({'trivial' if t else 'non-trivial'})": summary(subset(ranks[m], probes, t),
                                                                   seed)
             for t in (False, True) for m in MODES}
    for m in MODES:
        split.update({f"{m} ({kind} targets)": row
                      for kind, row in by_kind(ranks[m], probes, seed).items()})
    return {"queries": len(probes), "trivial": sum(p.trivial for p in probes),
            "classes": sum(p.kind == "class" for p in probes),
            "rows": rows, "split": split,
            "deltas": {"hybrid - lexical": paired(ranks["hybrid"], ranks["lexical"], seed),
                       "hybrid - semantic": paired(ranks["hybrid"], ranks["semantic"], seed)},
            "_ranks": ranks}


def variants(svc: SearchService, probes: list[Probe], seed: int, modes: Sequence[str],
             log: Callable[[str], None], label: str) -> dict[str, Any]:
    """Each ranking of VARIANTS in ``modes``, and its paired delta to the one before."""
    embedder = svc.embedder()
    svc.use_embedder(CachedEmbedder(embedder))
    try:
        out: dict[str, Any] = {}
        for mode in modes:
            ranks = {}
            for name, ranking in VARIANTS.items():
                svc.ranking = ranking
                ranks[name] = rank_all(svc, probes, mode).ranks
                log(f"{label} {mode} {name}: "
                    f"MRR@{LIMIT} {summary(ranks[name], seed)[f'mrr@{LIMIT}']:.3f}")
            base = ranks["rrf (before)"]
            out[mode] = {name: {**summary(r, seed), "vs_before": paired(r, base, seed),
                                "by_kind": by_kind(r, probes, seed)}
                         for name, r in ranks.items()}
        return out
    finally:
        svc.ranking = DEFAULT
        svc.use_embedder(embedder)


def with_tests(data: Path, work: Path, probes: list[Probe], seed: int,
               log: Callable[[str], None]) -> dict[str, Any]:
    """Lexical search of the whole-repository queries once Django's tests are indexed
    too (a copy of the store), without and with the test prior."""
    copy = work / "data-tests"
    shutil.copytree(data, copy)
    with CodeGraph.open(str(copy)) as cg:
        added = index_django_tests(cg, work)
        log(f"with tests: {added['chunks']:,} chunks")
        svc = cg.search_service()
        ranks = {}
        for name, ranking in (("no test prior", replace(DEFAULT, priors={})),
                              ("test x0.5", DEFAULT)):
            svc.ranking = ranking
            ranks[name] = rank_all(svc, probes, "lexical").ranks
        return {"chunks": added["chunks"],
                "rows": {n: summary(r, seed) for n, r in ranks.items()},
                "delta": paired(ranks["test x0.5"], ranks["no test prior"], seed)}


def large(data: Path, work: Path, probes: list[Probe], args: argparse.Namespace,
          log: Callable[[str], None]) -> dict[str, Any]:
    big = work / "data-100k"
    shutil.copytree(data, big)
    with CodeGraph.open(str(big)) as cg:
        added = fill_to(cg, args.large_chunks, work, log, fetch=args.fetch_large)
        filled = fill_vectors(cg, args.seed)
        sample = probes[:args.latency_queries]
        kind = cg.search_service().vectors().kind
        rows = []
        for mode in MODES:
            r = rank_all(cg.search_service(), sample, mode)
            rows.append({"mode": mode, "vector_index": kind if mode != "lexical" else "-",
                         **latency(r.seconds)})
        if kind == "ivf":  # also the exact worst case
            force_kind(cg, "flat")
            for mode in ("semantic", "hybrid"):
                r = rank_all(cg.search_service(), sample, mode)
                rows.append({"mode": mode, "vector_index": "flat", **latency(r.seconds)})
        chunks = sum(1 for _ in cg.store.chunk_ids())
    log(f"100k: {chunks:,} chunks, hybrid p50 {rows[2]['p50_ms']:.1f} ms ({kind})")
    return {"chunks": chunks, "added": added, "vectors": filled, "queries": len(sample),
            "rows": rows}


@dataclass(slots=True)
class Target:
    name: str
    value: float
    limit: float
    checked: str
    at_least: bool = True
    ok: bool = True

    @property
    def passed(self) -> bool:
        within = self.value >= self.limit if self.at_least else self.value <= self.limit
        return within and self.ok

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": round(self.value, 4), "limit": self.limit,
                "at_least": self.at_least, "checked": self.checked, "pass": self.passed}


def quality_target(name: str, result: dict[str, Any], limit: float) -> Target:
    rows, deltas = result["rows"], result["deltas"]
    mrr = {m: rows[m][f"mrr@{LIMIT}"] for m in MODES}
    above = all(deltas[f"hybrid - {m}"][f"mrr@{LIMIT}"] > 0 for m in ("lexical", "semantic"))
    return Target(f"{name} hybrid MRR@{LIMIT}", mrr["hybrid"], limit,
                  f"{result['queries']:,} queries; above lexical ({mrr['lexical']:.3f}) and "
                  f"semantic ({mrr['semantic']:.3f})", ok=above)


def make_query_embedder(args: argparse.Namespace) -> Any:
    config = Config()
    if args.max_tokens is None:
        return make_embedder(config)
    from codegraph.search.embeddings import LocalEmbedder

    return LocalEmbedder(config.embedding_model_path, threads=config.workers,
                         max_tokens=args.max_tokens)


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    log = logger(args)
    embedder = make_query_embedder(args)
    base = Path(args.cache_dir) if args.cache_dir else \
        bench_cache() / cache_key(embedder.model, args.max_tokens)
    corpus = open_corpus(base)
    st = corpus.stripped
    log(f"{base}: {st.docstrings:,} docstrings stripped from {st.files:,} files")
    result: dict[str, Any] = {"corpus": corpus.label, "cache": str(base)}
    # Every chunk competes with a vector (migrations too): the protocols measure ranking,
    # not CODEGRAPH_EMBED_EXCLUDE's choice, and the pool needs each member's vector.
    config = configuration.load({**os.environ, "CODEGRAPH_EMBED_EXCLUDE": "none"},
                                data_dir=str(corpus.data))
    with CodeGraph.open(config) as cg:
        svc = cg.search_service()
        svc.use_embedder(embedder)
        built = index_and_embed(cg, corpus, log)
        log(f"index: {built['chunks']:,} chunks; embedded {built['embed']['embedded']:,} "
            f"in {built['embed']['seconds']:.0f} s")
        probes, unmatched, leaks = match_nodes(cg, st.probes)
        functions = [p for p in probes if p.kind == "function"]
        eligible = [p for p in functions if not p.names_itself]
        classes = [p for p in probes if p.kind == "class" and not p.names_itself]
        result["retrieval"] = {
            "candidates": len(st.probes), "duplicates": st.duplicates,
            "unmatched": unmatched, "leaks": leaks, "functions": len(functions),
            "names_itself": sum(p.names_itself for p in probes),
            "eligible": len(eligible), "classes": len(classes), "min_words": MIN_WORDS,
            "seed": args.seed, "docstrings_stripped": st.docstrings}
        result["index"] = built
        # The pool.
        chosen, others = choose_pool(eligible, st.functions, args.pool_size,
                                     args.pool_queries, args.seed)
        if args.queries:  # a seeded sample, for quicker runs
            eligible = choose_pool(eligible, [], args.queries, args.queries, args.seed + 1)[0]
            classes = choose_pool(classes, [], args.queries // 5, args.queries // 5,
                                  args.seed + 1)[0]
        by_node = node_chunks(cg)
        owners = {c.qualified_name: n for n, cs in by_node.items() for c in cs
                  if c.kind in ("function", "method", "constructor")}
        pool_nodes = [p.node_id for p in chosen] + [owners[q] for q in others if q in owners]
        pool_chunks = [c for n in pool_nodes for c in by_node.get(n, [])]
        pool = pool_service(cg, base, pool_chunks)
        try:
            result["pool"] = {"functions": len(pool_nodes), "chunks": len(pool_chunks),
                              **measure(pool, chosen, args.seed, log, "pool")}
            if args.variants:
                result["pool"]["variants"] = variants(pool, chosen, args.seed, ("hybrid",),
                                                      log, "pool")
        finally:
            pool.close()
        # The whole repository: the functions' and the classes' docstrings.
        queries = eligible + classes
        result["repo"] = {"chunks": built["chunks"],
                          **measure(svc, queries, args.seed, log, "repo")}
        boost = rank_all(svc, queries, "hybrid", graph_boost=True).ranks
        result["repo"]["rows"]["hybrid + graph_boost"] = summary(boost, args.seed)
        if args.variants:
            result["repo"]["variants"] = variants(svc, queries, args.seed,
                                                  ("lexical", "hybrid"), log, "repo")
    if args.with_tests:
        result["with_tests"] = with_tests(corpus.data, work, queries, args.seed, log)
    result["large"] = None if args.skip_100k else large(corpus.data, work, queries, args, log)
    for key in ("pool", "repo"):
        result[key].pop("_ranks", None)
    targets = [quality_target("pool", result["pool"], TARGET_POOL_MRR),
               quality_target("whole repository", result["repo"], TARGET_REPO_MRR)]
    if result["large"] is not None:
        hybrid = next(r for r in result["large"]["rows"] if r["mode"] == "hybrid")
        targets.append(Target(f"hybrid p50 at {result['large']['chunks']:,} chunks",
                              hybrid["p50_ms"], TARGET_P50_MS,
                              f"in process, query embedding included, vector index "
                              f"{hybrid['vector_index']}", at_least=False))
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                         "platform": platform.platform(),
                         "load_average": [round(x, 2) for x in os.getloadavg()]}
    result["command"] = "python bench/bench_search.py " + " ".join(sys.argv[1:])
    result["targets"] = [t.to_dict() for t in targets]
    result["pass"] = all(t.passed for t in targets) and result["large"] is not None
    return result


_STARTED = time.monotonic()


def logger(args: argparse.Namespace) -> Callable[[str], None]:
    def log(message: str) -> None:
        if args.verbose:
            print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr,
                  flush=True)

    return log


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--pool-size", type=int, default=POOL_SIZE,
                   help=f"functions in the pool (default {POOL_SIZE})")
    p.add_argument("--pool-queries", type=int, default=POOL_QUERIES,
                   help=f"of them with a query (default {POOL_QUERIES})")
    p.add_argument("--queries", type=int, default=0,
                   help="at most this many whole-repository queries (default: all)")
    p.add_argument("--variants", action="store_true",
                   help="also measure the ranking choices (fusion, priors) against each other")
    p.add_argument("--with-tests", action="store_true",
                   help="also index Django's tests and measure lexical search with them")
    p.add_argument("--skip-100k", action="store_true", help="no latency at 100k chunks")
    p.add_argument("--large-chunks", type=int, default=LARGE_CHUNKS,
                   help=f"chunks of the large index (default {LARGE_CHUNKS:,})")
    p.add_argument("--fetch-large", action="store_true",
                   help="download SQLAlchemy and SymPy for the large index if not cached "
                        "(else copies of Django fill it)")
    p.add_argument("--latency-queries", type=int, default=300,
                   help="queries per mode on the large index (default 300)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="token truncation of the local embedder (LocalEmbedder max_tokens)")
    p.add_argument("--seed", type=int, default=0, help="of the pool, the bootstrap, the noise")
    p.add_argument("--cache-dir", help="the index's directory (default: a directory keyed "
                                       "by corpus, model and code under "
                                       "$CODEGRAPH_BENCH_CACHE or ~/.cache/codegraph-bench)")
    p.add_argument("--json", action="store_true", help="print one JSON object, no table")
    p.add_argument("--save", help="also write the JSON object to this file")
    p.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = p.parse_args(argv)
    if args.pool_queries < 1 or args.pool_size < args.pool_queries:
        p.error("--pool-queries must be at least 1 and at most --pool-size")
    try:
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
