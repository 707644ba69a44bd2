#!/usr/bin/env python
"""``stats`` and ``dependencies`` on Django 5.1.4, before and after their per-revision cache
(``src/codegraph/query/summaries.py``), in one run.

    python bench/bench_summaries.py [--data-dir DIR] [--repeat N] [--no-http] [--json]

Without ``--data-dir`` the `django/` package of the pinned sdist is indexed (structure and
lexical search, no embeddings) into a temporary directory first. Then, per question:

- before: what each call computed until now (the uncached library path, ``queries.stats``
  plus search coverage and backlog; ``queries.deps``), every call;
- after, first call: the first call at a new revision (it computes, and fills the cache);
- after, next calls: the median of ``--repeat`` calls at the same revision;
- HTTP: the same through ``codegraph serve`` on 127.0.0.1 with its response cache off
  (``CODEGRAPH_CACHE_LOCAL_ENTRIES=0``), so that each request reaches the library.

Wall time and this process's CPU time (user + system) are printed: the wall figures of a
busy machine are upper bounds, the CPU figures are not.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _corpus import fetch_sdist
from codegraph.api import CodeGraph
from codegraph.query import queries

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ("django", "5.1.4")
TARGET_MS = 200.0


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def median(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return (statistics.median(s[0] for s in samples),
            statistics.median(s[1] for s in samples))


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGRAPH_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    env.update(extra)
    return env


def index_django(data_dir: Path) -> None:
    tree = fetch_sdist(*CORPUS) / "django"
    subprocess.run([sys.executable, "-c", "from codegraph.cli import run; run()",
                    "--data-dir", str(data_dir), "index", str(tree), "--name", "django",
                    "--no-embed", "--progress", "none"], check=True,
                   env=child_env(CODEGRAPH_EMBED="0"))


def library(data_dir: Path, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with CodeGraph.open(str(data_dir), readonly=True) as cg:
        service = cg.search_service()
        service.coverage()  # (loads what a running process has loaded already)

        def uncached_stats() -> None:
            queries.stats(cg.store, None)
            service.coverage()
            cg.embed_backlog(None)

        questions: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
            "stats": (uncached_stats, lambda: cg.answer("stats", {})),
            "dependencies": (lambda: queries.deps(cg.store, None, False),
                             lambda: cg.answer("dependencies", {"limit": 500})),
            "dependencies --cycles": (lambda: queries.deps(cg.store, None, True),
                                      lambda: cg.answer("dependencies", {"cycles": True})),
        }
        for name, (before, after) in questions.items():
            cg.summaries.clear()  # as after a new revision
            first = timed(after)
            out[name] = {"before": median([timed(before) for _ in range(max(1, repeat // 4))]),
                         "first": first,
                         "after": median([timed(after) for _ in range(repeat)])}
        out["revision"] = cg.revision
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        started = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status, (time.perf_counter() - started) * 1e3
    finally:
        conn.close()


def over_http(data_dir: Path, repeat: int) -> dict[str, Any]:
    port, metrics = free_port(), free_port()
    env = child_env(CODEGRAPH_DATA_DIR=str(data_dir), CODEGRAPH_CACHE_LOCAL_ENTRIES="0",
                    CODEGRAPH_EMBED="0", SERVER_PORT=str(port),
                    METRICS_PORT=str(metrics), SERVER_HOST="127.0.0.1",
                    CODEGRAPH_LOG_LEVEL="warn")
    proc = subprocess.Popen([sys.executable, "-c", "from codegraph.cli import run; run()",
                             "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if get(port, "/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.1)
        out = {}
        for name, path in (("stats", "/api/v1/stats"),
                           ("dependencies", "/api/v1/dependencies?limit=500")):
            samples = []
            for _ in range(repeat):
                status, ms = get(port, path)
                assert status == 200, (path, status)
                samples.append(ms)
            out[name] = {"first": samples[0], "after": statistics.median(samples[1:])}
        return out
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="an index of Django (default: index it now)")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--no-http", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="cg-summaries-") as tmp:
        data = Path(args.data_dir) if args.data_dir else Path(tmp) / "data"
        if not args.data_dir:
            print("indexing django/ (a few minutes)...", file=sys.stderr)
            index_django(data)
        report: dict[str, Any] = {"library": library(data, args.repeat),
                                  "load": os.getloadavg()}
        if not args.no_http:
            report["http"] = over_http(data, args.repeat)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    lib = report["library"]
    print(f"Django {CORPUS[1]}, revision {lib['revision']}, load average "
          f"{report['load'][0]:.2f} (wall ms / CPU ms of this process)")
    print(f"{'library':<24}{'before':>18}{'after, first':>18}{'after, next':>18}")
    for name in ("stats", "dependencies", "dependencies --cycles"):
        row = lib[name]
        print(f"{name:<24}" + "".join(f"{w:>9.1f} /{c:>7.1f}" for w, c in
                                      (row["before"], row["first"], row["after"])))
    ok = all(lib[n]["after"][0] < TARGET_MS for n in ("stats", "dependencies"))
    if "http" in report:
        print(f"{'HTTP (no response cache)':<24}{'':>18}{'first':>18}{'next (median)':>18}")
        for name, row in report["http"].items():
            print(f"{name:<24}{'':>18}{row['first']:>15.1f} ms{row['after']:>15.1f} ms")
            ok = ok and row["after"] < TARGET_MS
    print(f"target: next calls under {TARGET_MS:.0f} ms: {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
