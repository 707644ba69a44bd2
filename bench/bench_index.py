#!/usr/bin/env python
"""Indexing benchmark on a real corpus: Django 5.1.4 from its pinned PyPI sdist.

    python bench/bench_index.py [--corpus-dir DIR] [--workers N] [--json] [--check]

In one run, on a private copy of the tree, it measures universal-ctags as the baseline,
a cold CodeGraph index through the CLI (wall time, throughput, peak RSS of the whole
process tree, store size, graph size), a one-file incremental update and a `callers`
query, and prints them with the targets as a table (or one JSON object with --json).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _corpus import CorpusError, fetch_sdist

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ("django", "5.1.4")
EDIT_FILE = "django/db/models/query.py"
QUERY_SYMBOL = "django.db.models.query.QuerySet.filter"

CTAGS_RUNS = 3
QUERY_RUNS = 5
NOOP_RUNS = 2  # per cold index, with --baseline
EDIT_ROUNDS = 3
TARGET_RATIO = 10.0  # cold index wall time / ctags wall time
TARGET_INCREMENTAL_MS = 200.0  # checked against the in-process duration (report "seconds")
TARGET_QUERY_MS = 200.0  # wall time of the CLI, process start included
TARGET_RSS_MB = 500.0  # peak RSS of the cold index, largest single process of its tree

PR_SET_CHILD_SUBREAPER = 36


class BenchError(RuntimeError):
    pass


@dataclass(slots=True)
class Measured:
    """One finished child: its wall time and the peak RSS of its process tree."""

    cmd: list[str]
    seconds: float
    maxrss_kb: int  # max over the child and every descendant it (or we) reaped
    cpu_seconds: float  # user + system time of the child and its reaped descendants
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Measured:
        if self.returncode != 0:
            raise BenchError(f"`{' '.join(self.cmd)}` exited {self.returncode}:\n"
                             f"{self.stderr.strip()[-2000:]}")
        return self


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux), so that a worker process that outlives the CLI
    is still reaped by us and its peak RSS counted."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result: int = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return result == 0


def _reap_orphans(deadline: float = 10.0) -> tuple[int, float]:
    """Reap adopted orphans: the largest ru_maxrss among them (KiB) and their CPU time."""
    peak, cpu = 0, 0.0
    stop = time.monotonic() + deadline
    while True:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return peak, cpu
        if pid == 0:  # some are still running
            if time.monotonic() > stop:
                print("warning: orphaned child processes still running; their peak RSS "
                      "is not counted", file=sys.stderr)
                return peak, cpu
            time.sleep(0.01)
            continue
        peak = max(peak, usage.ru_maxrss)
        cpu += usage.ru_utime + usage.ru_stime


def run_measured(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> Measured:
    """Run a command; wall time and the peak RSS of its process tree.

    ``os.wait4`` gives the child's rusage with RUSAGE_BOTH semantics on Linux: ru_maxrss
    is the largest of the child itself and every descendant that was waited for (the
    indexer joins its forked parser workers), i.e. the peak of the largest single process.
    Output goes to temporary files so that nothing but wait4 reaps the child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        orphan_rss, orphan_cpu = _reap_orphans()
        out.seek(0)
        err.seek(0)
        return Measured(list(cmd), seconds, max(usage.ru_maxrss, orphan_rss),
                        usage.ru_utime + usage.ru_stime + orphan_cpu, proc.returncode,
                        out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def child_env(src: str = str(ROOT / "src")) -> dict[str, str]:
    """The environment of the CLI: ``src`` (this checkout's src/) first, no inherited data
    dir."""
    env = dict(os.environ)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["CODEGRAPH_EMBED"] = "0"  # the structural index (and lexical search), not embeddings
    for name in ("CODEGRAPH_DATA_DIR", "ROCKSDB_PATH", "CODEGRAPH_DEBUG"):
        env.pop(name, None)
    return env


def ctags_command() -> list[str]:
    ctags = shutil.which("ctags")
    if ctags is None:
        raise BenchError("ctags not found: install universal-ctags (Debian package "
                         "`universal-ctags`: apt-get install universal-ctags)")
    version = subprocess.run([ctags, "--version"], capture_output=True, text=True,
                             check=False).stdout
    if "Universal Ctags" not in version:
        first = version.splitlines()[0] if version else "unknown"
        raise BenchError(f"{ctags} is not Universal Ctags ({first}); install the Debian "
                         "package `universal-ctags`")
    return [ctags, "-R", "-f", "/dev/null", "."]


def dir_size(path: Path) -> int:
    """Bytes allocated on disk under path."""
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def codegraph(*args: str) -> list[str]:
    return [sys.executable, "-m", "codegraph.cli", *args]


def append_function(path: Path, round_no: int) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(f"\n\ndef _codegraph_bench_probe_{round_no}(queryset):\n"
                f"    return queryset.filter(pk={round_no})\n")


@dataclass(slots=True)
class Target:
    name: str
    value: float
    limit: float
    unit: str
    checked: str  # what the figure is

    @property
    def passed(self) -> bool:
        return self.value <= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": round(self.value, 4), "limit": self.limit,
                "unit": self.unit, "checked": self.checked, "pass": self.passed}


def corpus_tree(corpus_dir: str | None) -> tuple[Path, str]:
    if corpus_dir:
        tree = Path(corpus_dir).resolve()
        if not tree.is_dir():
            raise BenchError(f"--corpus-dir {corpus_dir}: not a directory")
        return tree, str(tree)
    try:
        return fetch_sdist(*CORPUS), f"{CORPUS[0]}=={CORPUS[1]} (PyPI sdist)"
    except CorpusError as exc:
        raise BenchError(str(exc)) from exc


def baseline_src(spec: str, work: Path) -> Path:
    """The ``src`` directory of the --baseline checkout: a directory holding the codegraph
    package, or a git revision of this repository, extracted into ``work``."""
    path = Path(spec)
    if (path / "codegraph").is_dir():
        return path.resolve()
    if (path / "src" / "codegraph").is_dir():
        return (path / "src").resolve()
    out = work / "baseline"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", spec, "src"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise BenchError(f"--baseline {spec}: neither a directory with the codegraph package "
                         f"nor a git revision: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out / "src"


def compare(args: argparse.Namespace, tree: Path, work: Path, env: dict[str, str]
            ) -> dict[str, Any]:
    """This checkout against the --baseline one, interleaved on the same tree (the order
    alternates from round to round): cold indexes, and no-op runs (`index` again, nothing
    changed) on the store each cold index left. Medians (of wall time, and of the cold
    indexes' CPU time), and this / baseline."""
    checkouts = {"this": env, "baseline": child_env(str(baseline_src(args.baseline, work)))}
    cold: dict[str, list[float]] = {name: [] for name in checkouts}
    cold_cpu: dict[str, list[float]] = {name: [] for name in checkouts}
    noop: dict[str, list[float]] = {name: [] for name in checkouts}
    workers = ["--workers", str(args.workers)] if args.workers else []
    for i in range(args.compare_runs):
        order = list(checkouts) if i % 2 == 0 else list(reversed(checkouts))
        for name in order:
            data = work / f"data-{name}"
            shutil.rmtree(data, ignore_errors=True)
            index = codegraph("--data-dir", str(data), "index", str(tree), "--progress", "none",
                              "--json", *workers)
            run = run_measured(index, work, checkouts[name]).check()
            cold[name].append(run.seconds)
            cold_cpu[name].append(run.cpu_seconds)
            for _ in range(NOOP_RUNS):
                noop[name].append(run_measured(index, work, checkouts[name]).check().seconds)
            log(args, f"compare {i + 1}/{args.compare_runs} {name}: cold "
                      f"{cold[name][-1]:.2f} s, no-op {noop[name][-1]:.3f} s")
    med = {kind: {name: statistics.median(runs[name]) for name in checkouts}
           for kind, runs in (("cold", cold), ("cold_cpu", cold_cpu), ("noop", noop))}
    return {"baseline": args.baseline, "runs": args.compare_runs,
            "cold_seconds": cold, "cold_cpu_seconds": cold_cpu, "noop_seconds": noop,
            "median_cold": med["cold"], "median_cold_cpu": med["cold_cpu"],
            "median_noop": med["noop"],
            "cold_ratio": med["cold"]["this"] / med["cold"]["baseline"],
            "cold_cpu_ratio": med["cold_cpu"]["this"] / med["cold_cpu"]["baseline"],
            "noop_ratio": med["noop"]["this"] / med["noop"]["baseline"]}


def bench(args: argparse.Namespace) -> dict[str, Any]:
    source, label = corpus_tree(args.corpus_dir)
    ctags = ctags_command()
    subreaper = become_subreaper()
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="codegraph-bench-") as tmp:
        work = Path(tmp)
        tree = work / "tree"
        shutil.copytree(source, tree, symlinks=True)
        log(args, f"corpus {label} copied to {tree}")
        compared = compare(args, tree, work, env) if args.baseline else None

        ctags_runs = [run_measured(ctags, tree, env).check().seconds
                      for _ in range(CTAGS_RUNS)]
        ctags_best = min(ctags_runs)
        log(args, f"ctags: best {ctags_best:.3f} s of {CTAGS_RUNS}")

        workers = ["--workers", str(args.workers)] if args.workers else []
        cold: Measured | None = None
        peak_rss_kb = 0  # over all cold runs, not only the fastest one
        data = work / "data"
        for i in range(args.cold_runs):
            shutil.rmtree(data, ignore_errors=True)
            run = run_measured(codegraph("--data-dir", str(data), "index", str(tree),
                                         "--progress", "none", "--json", *workers),
                               work, env).check()
            log(args, f"cold index {i + 1}/{args.cold_runs}: {run.seconds:.2f} s, "
                      f"{run.maxrss_kb / 1024:.0f} MB")
            peak_rss_kb = max(peak_rss_kb, run.maxrss_kb)
            if cold is None or run.seconds < cold.seconds:
                cold = run
        assert cold is not None
        # The data dir now holds the last cold run's store: the one sized and queried.
        report = json.loads(cold.stdout)
        stats = json.loads(run_measured(codegraph("--data-dir", str(data), "stats", "--json"),
                                        work, env).check().stdout)
        store_bytes = dir_size(data)
        log(args, f"stats: {stats['files']} files, {stats['lines']} lines, "
                  f"store {store_bytes / 2**20:.1f} MB")

        incremental: dict[str, Any] | None = None
        edit = tree / args.edit_file
        if edit.is_file():
            in_process: list[float] = []
            walls: list[float] = []
            for round_no in range(1, EDIT_ROUNDS + 1):
                append_function(edit, round_no)
                run = run_measured(codegraph("--data-dir", str(data), "index", str(tree),
                                             "--progress", "none", "--json", *workers),
                                   work, env).check()
                rep = json.loads(run.stdout)
                if rep["parsed"] != 1:
                    raise BenchError(f"incremental run parsed {rep['parsed']} files, "
                                     f"expected 1: {rep}")
                in_process.append(rep["seconds"])
                walls.append(run.seconds)
            incremental = {"file": args.edit_file, "rounds": EDIT_ROUNDS,
                           "seconds": statistics.median(in_process),
                           "wall_seconds": statistics.median(walls),
                           "all_seconds": in_process, "all_wall_seconds": walls}
            log(args, f"incremental: {incremental['seconds'] * 1000:.0f} ms in process, "
                      f"{incremental['wall_seconds'] * 1000:.0f} ms wall")
        else:
            warn(f"{args.edit_file} is not in the corpus: no incremental update measured")

        query_runs: list[float] = []
        query_results = 0
        for _ in range(QUERY_RUNS):
            run = run_measured(codegraph("--data-dir", str(data), "callers", args.symbol),
                               work, env)
            if run.returncode != 0:
                warn(f"callers {args.symbol} failed, no query measured: "
                     f"{run.stderr.strip()}")
                break
            query_runs.append(run.seconds)
            query_results = sum(1 for line in run.stdout.splitlines()
                                if line and line != "(no results)")
        log(args, f"callers: {query_runs}")
        query = ({"symbol": args.symbol, "runs": len(query_runs),
                  "wall_seconds": min(query_runs), "results": query_results}
                 if query_runs else None)

    cold_seconds = cold.seconds
    files = int(report["files"])
    lines = int(stats["lines"])
    targets = [
        Target("cold index / ctags", cold_seconds / ctags_best, TARGET_RATIO, "x",
               "CLI wall time of the cold index over ctags' best wall time"),
        Target("peak RSS (cold index)", peak_rss_kb / 1024, TARGET_RSS_MB, "MB",
               "largest single process of the index command's tree"),
    ]
    if incremental is not None:
        targets.append(Target("one-file incremental update", incremental["seconds"] * 1000,
                              TARGET_INCREMENTAL_MS, "ms",
                              "in-process duration (the report's `seconds`), median"))
    if query is not None:
        targets.append(Target(f"callers {args.symbol}", query["wall_seconds"] * 1000,
                              TARGET_QUERY_MS, "ms",
                              "CLI wall time incl. process start, best of "
                              f"{QUERY_RUNS}"))
    return {
        "corpus": label,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(), "subreaper": subreaper},
        "workers": args.workers,
        "ctags": {"runs": ctags_runs, "best_seconds": ctags_best},
        "cold_index": {
            "runs": args.cold_runs,
            "wall_seconds": cold_seconds,
            "in_process_seconds": report["seconds"],
            "cpu_seconds": cold.cpu_seconds,
            "files": files,
            "lines": lines,
            "files_per_second": files / cold_seconds,
            "lines_per_second": lines / cold_seconds,
            "peak_rss_mb": peak_rss_kb / 1024,
            "store_bytes": store_bytes,
            "parsed": report["parsed"],
            "failed": report["failed"],
            "skipped": report["skipped"],
            "languages": stats["languages"],
            "nodes": stats["nodes"],
            "edges": stats["edges"],
            "nodes_by_kind": stats["nodes_by_kind"],
            "edges_by_kind": stats["edges_by_kind"],
            "edges_by_resolution": stats["edges_by_resolution"],
        },
        "incremental": incremental,
        "query": query,
        "compare": compared,
        "targets": [t.to_dict() for t in targets],
        # A figure that could not be measured is not a pass.
        "pass": all(t.passed for t in targets) and incremental is not None
        and query is not None,
    }


_STARTED = time.monotonic()


def warn(message: str) -> None:
    print(f"bench_index: warning: {message}", file=sys.stderr, flush=True)


def log(args: argparse.Namespace, message: str) -> None:
    if args.verbose:
        print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr,
              flush=True)


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items())


def print_table(r: dict[str, Any]) -> None:
    c = r["cold_index"]
    m = r["machine"]
    workers = r["workers"] or "default (cores)"
    print(f"CodeGraph index benchmark: {r['corpus']}")
    print(f"Python {m['python']}, {m['cpus']} CPUs, workers {workers}, {m['platform']}")
    print()
    rows: list[tuple[str, str]] = [
        ("universal-ctags -R (best of 3)", f"{r['ctags']['best_seconds']:.3f} s"),
        ("cold index, CLI wall time", f"{c['wall_seconds']:.2f} s (in process "
                                      f"{c['in_process_seconds']:.2f} s, CPU "
                                      f"{c['cpu_seconds']:.2f} s)"),
        ("  files", f"{c['files']:,} ({c['parsed']:,} parsed, {c['failed']} failed, "
                    f"{c['skipped']} skipped)"),
        ("  throughput", f"{c['files_per_second']:,.0f} files/s, "
                         f"{c['lines_per_second']:,.0f} lines/s ({c['lines']:,} lines)"),
        ("  peak RSS (process tree)", f"{c['peak_rss_mb']:.0f} MB"),
        ("  store size on disk", f"{c['store_bytes'] / 2**20:.1f} MB"),
        ("  nodes", f"{c['nodes']:,}: {_kinds(c['nodes_by_kind'])}"),
        ("  edges", f"{c['edges']:,}: {_kinds(c['edges_by_kind'])}"),
        ("  edges by resolution", _kinds(c["edges_by_resolution"])),
    ]
    inc = r["incremental"]
    if inc is not None:
        rows.append((f"incremental ({inc['file']}, +1 function)",
                     f"{inc['seconds'] * 1000:.0f} ms in process, "
                     f"{inc['wall_seconds'] * 1000:.0f} ms CLI wall "
                     f"(median of {inc['rounds']})"))
    else:
        rows.append(("incremental", "not measured (edit file not in the corpus)"))
    q = r["query"]
    if q is not None:
        rows.append((f"callers {q['symbol']}",
                     f"{q['wall_seconds'] * 1000:.0f} ms wall incl. start "
                     f"(best of {q['runs']}, {q['results']} results)"))
    else:
        rows.append(("callers query", "not measured (the query failed)"))
    cmp = r["compare"]
    if cmp is not None:
        for kind, label in (("cold", "cold index"), ("cold_cpu", "cold index CPU"),
                            ("noop", "no-op index")):
            runs = cmp[f"{kind}_seconds"]
            rows.append((f"{label}, this vs --baseline",
                         f"{cmp[f'median_{kind}']['this']:.3f} s vs "
                         f"{cmp[f'median_{kind}']['baseline']:.3f} s: "
                         f"{cmp[f'{kind}_ratio']:.3f}x (medians of {len(runs['this'])}, "
                         f"interleaved)"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    tw = max(len(t["name"]) for t in r["targets"])
    print(f"{'target':<{tw}}  {'value':>10}  {'limit':>10}  result  checked against")
    for t in r["targets"]:
        value = f"{t['value']:.1f} {t['unit']}"
        limit = f"<= {t['limit']:g} {t['unit']}"
        print(f"{t['name']:<{tw}}  {value:>10}  {limit:>10}  "
              f"{'PASS' if t['pass'] else 'FAIL':<6}  {t['checked']}")
    print()
    print("overall: " + ("PASS" if r["pass"] else "FAIL"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--corpus-dir", help="index this tree instead of the Django 5.1.4 sdist "
                                        "(it is copied first, never modified)")
    p.add_argument("--workers", type=int, help="parser processes for `codegraph index` "
                                               "(default: the CLI's default)")
    p.add_argument("--cold-runs", type=int, default=3,
                   help="cold index runs, each on a fresh store; the fastest is reported "
                        "(default 3, like ctags)")
    p.add_argument("--baseline", metavar="REV_OR_DIR",
                   help="also compare with another checkout, interleaved: a git revision of "
                        "this repository, or a directory with the codegraph package")
    p.add_argument("--compare-runs", type=int, default=5,
                   help="rounds of the --baseline comparison (default 5)")
    p.add_argument("--edit-file", default=EDIT_FILE,
                   help=f"repo-relative file to append a function to (default {EDIT_FILE})")
    p.add_argument("--symbol", default=QUERY_SYMBOL,
                   help=f"symbol for the callers query (default {QUERY_SYMBOL})")
    p.add_argument("--json", action="store_true", help="print one JSON object, no table")
    p.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = p.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        p.error("--workers must be at least 1")
    if args.compare_runs < 1:
        p.error("--compare-runs must be at least 1")
    if args.cold_runs < 1:
        p.error("--cold-runs must be at least 1")
    try:
        result = bench(args)
    except BenchError as exc:
        print(f"bench_index: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 1 if args.check and not result["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
