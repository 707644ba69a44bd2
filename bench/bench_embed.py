#!/usr/bin/env python
"""The embedding phase of a first run, this checkout against a baseline, in one run.

    python bench/bench_embed.py [--baseline REV_OR_DIR] [--chunks N] [--runs N] [--json] [-v]

A seeded sample of Django 5.1.4's files (its tests included, as a new user indexes it),
about ``--chunks`` chunks, is indexed by each checkout into a data directory of its own
(not timed); then ``CodeGraph.embed`` runs with the default local model and is timed: wall
time and CPU time of that phase alone, in a child process that has this checkout's (or the
baseline's) ``src`` first on ``PYTHONPATH``. Rounds alternate the order. Printed: the
medians, chunks per second and the ratios this / baseline.

Then, from this checkout's last run, the order of a first run: the share of the embedding
time after which the most-called 10% of the definitions (callers above the 90th
percentile) were embedded, and after which they were saved (searchable: the index is saved
every few seconds of work). Machines differ a lot: compare the ratios, never figures from
another machine.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _corpus import CorpusError, fetch_sdist  # noqa: E402
from bench_index import BenchError, baseline_src, child_env  # noqa: E402

CORPUS = ("django", "5.1.4")
BASELINE = "a7c2bbb"  # main when issue 17 was filed
SEED = 17
TARGET_SPEEDUP = 2.5
TARGET_FIRST_SHARE = 0.10

# Run in the child, with either checkout's codegraph: index the sample (not timed), then
# time the embedding phase; for this checkout, also when the most-called 10% were done.
CHILD = r"""
import json, resource, sys, time
from codegraph.api import CodeGraph

data, tree = sys.argv[1], sys.argv[2]

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

with CodeGraph.open(data) as cg:
    cg.index(tree, name="sample", workers=1)
    events = []
    started, cpu0 = time.perf_counter(), cpu()
    def progress(event):
        if event.get("event") == "embedded":
            events.append((time.perf_counter() - started, event["done"], event.get("saved")))
    report = cg.embed(progress).to_dict()
    seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu0
    out = {"seconds": seconds, "cpu_seconds": cpu_seconds, "embedded": report["embedded"],
           "total": report["total"]}
    try:
        from codegraph.graph.model import EdgeKind
        from codegraph.search.embedding_run import in_order, scope
    except ImportError:
        pass
    else:  # the position of the most-called 10% in this run's order
        service = cg.search_service()
        order = in_order(service, scope(service, None).chunks)
        callers = {c.node_id: len(cg.store.edges(c.node_id, incoming=True,
                                                 kinds=(EdgeKind.CALLS,))) for c in order}
        counts = sorted(callers.values(), reverse=True)
        cut = counts[max(0, len(counts) // 10 - 1)]
        top = {n for n, k in callers.items() if k > cut} or {n for n, k in callers.items()
                                                             if k >= cut}
        last = max(i for i, c in enumerate(order) if c.node_id in top) + 1
        done_at = next(t for t, done, _ in events if done >= last)
        saved_at = next((t for t, _, saved in events if saved is not None and saved >= last),
                        seconds)
        out.update(top_definitions=len(top), definitions=len(callers), top_callers_over=cut,
                   top_done_share=done_at / seconds, top_saved_share=saved_at / seconds)
print(json.dumps(out))
"""


def log(args: argparse.Namespace, text: str) -> None:
    if args.verbose:
        print(text, file=sys.stderr, flush=True)


def sample_tree(source: Path, dest: Path, chunks: int) -> int:
    """Copy a seeded sample of the tree's Python files, about ``chunks`` definitions in all
    (counted as ``def``/``class`` lines), keeping their paths; returns that count."""
    files = sorted(p for p in source.rglob("*.py") if p.is_file())
    random.Random(SEED).shuffle(files)
    total = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        count = sum(1 for line in text.splitlines()
                    if line.lstrip().startswith(("def ", "class ", "async def ")))
        if not count:
            continue
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        total += count
        if total >= chunks:
            break
    return total


def run_child(env: dict[str, str], data: Path, tree: Path) -> dict[str, Any]:
    env = {**env, "CODEGRAPH_EMBED": "1", "CODEGRAPH_EMBED_EXCLUDE": "none"}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(data), str(tree)], env=env,
                          capture_output=True, text=True, timeout=6 * 3600, check=False)
    if proc.returncode != 0:
        raise BenchError(f"the embedding run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def bench(args: argparse.Namespace) -> dict[str, Any]:
    try:
        source = fetch_sdist(*CORPUS)
    except CorpusError as exc:
        raise BenchError(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        work = Path(tmp)
        tree = work / "sample"
        definitions = sample_tree(source, tree, args.chunks)
        checkouts = {"this": child_env(), "baseline": child_env(str(baseline_src(args.baseline,
                                                                              work)))}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
        for i in range(args.runs):
            for name in (list(checkouts) if i % 2 == 0 else list(reversed(checkouts))):
                data = work / f"data-{name}"
                shutil.rmtree(data, ignore_errors=True)
                runs[name].append(run_child(checkouts[name], data, tree))
                r = runs[name][-1]
                log(args, f"round {i + 1}/{args.runs} {name}: {r['embedded']} chunks in "
                          f"{r['seconds']:.1f} s ({r['embedded'] / r['seconds']:.1f}/s), "
                          f"CPU {r['cpu_seconds']:.1f} s")
    med = {name: {kind: statistics.median(r[kind] for r in runs[name])
                  for kind in ("seconds", "cpu_seconds")} for name in checkouts}
    chunks = runs["this"][-1]["embedded"]
    last = runs["this"][-1]
    out: dict[str, Any] = {
        "corpus": f"{CORPUS[0]}=={CORPUS[1]} (sdist, tests included), seeded sample",
        "definitions_sampled": definitions, "chunks": chunks, "baseline": args.baseline,
        "rounds": args.runs, "runs": runs, "median": med,
        "chunks_per_second": {n: chunks / med[n]["seconds"] for n in checkouts},
        "speedup": med["baseline"]["seconds"] / med["this"]["seconds"],
        "cpu_ratio": med["baseline"]["cpu_seconds"] / med["this"]["cpu_seconds"],
    }
    for key in ("top_definitions", "definitions", "top_callers_over", "top_done_share",
                "top_saved_share"):
        out[key] = last.get(key)
    out["checks"] = {
        "speedup >= 2.5": out["speedup"] >= TARGET_SPEEDUP,
        "most-called 10% saved within the first 10% of the time":
            (out["top_saved_share"] or 1.0) <= TARGET_FIRST_SHARE,
    }
    return out


def report(out: dict[str, Any]) -> str:
    cps = out["chunks_per_second"]
    med = out["median"]
    lines = [
        f"corpus: {out['corpus']}: {out['chunks']} chunks; {out['rounds']} rounds, "
        f"alternating",
        f"baseline ({out['baseline']}): {med['baseline']['seconds']:.1f} s "
        f"({cps['baseline']:.1f} chunks/s), CPU {med['baseline']['cpu_seconds']:.1f} s",
        f"this checkout: {med['this']['seconds']:.1f} s ({cps['this']:.1f} chunks/s), "
        f"CPU {med['this']['cpu_seconds']:.1f} s",
        f"speedup (baseline / this, wall): {out['speedup']:.2f}x (target >= "
        f"{TARGET_SPEEDUP}x); CPU: {out['cpu_ratio']:.2f}x",
    ]
    if out["top_done_share"] is not None:
        lines.append(
            f"most-called 10%: {out['top_definitions']} of {out['definitions']} definitions "
            f"(more than {out['top_callers_over']} callers): embedded after "
            f"{out['top_done_share']:.1%} of the time, saved (searchable) after "
            f"{out['top_saved_share']:.1%} (target <= {TARGET_FIRST_SHARE:.0%})")
    lines += [f"{'PASS' if ok else 'FAIL'}: {name}" for name, ok in out["checks"].items()]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", default=BASELINE, metavar="REV_OR_DIR",
                   help=f"a git revision or a directory with the codegraph package "
                        f"(default {BASELINE})")
    p.add_argument("--chunks", type=int, default=2000, help="definitions in the sample")
    p.add_argument("--runs", type=int, default=2, help="rounds of each checkout")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    try:
        out = bench(args)
    except BenchError as exc:
        print(f"bench_embed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2) if args.json else report(out))
    return 1 if args.check and not all(out["checks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
