#!/usr/bin/env python
"""Uncached, varied load on the HTTP API over an indexed Django, with /health probed all the
while: does a busy server still answer its probes, and how many distinct lookups does it
serve? Against a bare uvicorn+Starlette hello-world measured in the same run.

    python bench/bench_load.py [--duration S] [--json] [--check]

The `django/` package of the pinned Django 5.1.4 sdist is indexed (no embeddings) into a
temporary data directory and served by `codegraph serve` with the query cache off. wrk
(100 connections) walks a list of thousands of distinct request paths made from the index's
own definitions, so no two requests in a row ask the same thing:

- mixed: definitions, symbols with source, callers, callees, references, impact, outlines,
  fuzzy symbol search and lexical search;
- symbol lookups: `/api/v1/definition?symbol=` of distinct names.

Meanwhile a prober sends `GET /health` every 20 ms on its own connection and records its
latency. Semantic search, which runs the embedding model per query, is measured by
bench/bench_search.py. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _corpus import fetch_sdist
from bench_api import (
    CACHE,
    CORPUS,
    ROOT,
    child_env,
    free_port,
    raise_limits,
    rss_mb,
    run_wrk_bench,
    start,
    stop,
    wait_for,
    wrk,
)

TARGETS = {"health_p99_ms": 50.0, "lookup_rps": 500.0}
CONNECTIONS = 100
SEED = 20261206
PROBE_EVERY = 0.02
LUA = """
local paths = {}
for line in io.lines(os.getenv("CODEGRAPH_BENCH_PATHS")) do paths[#paths + 1] = line end
local i = 0
function init(args) i = math.random(#paths) end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def django_tree() -> Path:
    tree = CACHE / f"django-{CORPUS[1]}"
    if not (tree / "django").exists():
        tmp = tree / "django.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(fetch_sdist(*CORPUS) / "django", tmp)
        tmp.rename(tree / "django")
    return tree


def request_paths(data: Path) -> dict[str, list[str]]:
    """Distinct request paths from the index's definitions (a fixed seed: same each run)."""
    sys.path.insert(0, str(ROOT / "src"))
    from urllib.parse import urlencode

    from codegraph.api import CodeGraph

    defs: list[tuple[str, str, str]] = []
    with CodeGraph.open(str(data), readonly=True) as cg:
        for rec in cg.store.files("django"):
            for n in cg.store.nodes((rec.node_ids or [])[2:]):
                if n is not None and n.kind in ("function", "method", "class"):
                    defs.append((n.name, n.qualified_name, n.path))
    rng = random.Random(SEED)
    rng.shuffle(defs)
    api = "/api/v1/"

    def url(endpoint: str, **params: str) -> str:
        return api + endpoint + "?" + urlencode(params)

    names = sorted({name for name, _, _ in defs})
    rng.shuffle(names)
    lookups = [url("definition", symbol=name) for name in names]
    words = [w for name in names for w in name.lower().split("_") if len(w) > 3]
    mixed = []
    for i, (name, qname, path) in enumerate(defs):
        kind = i % 10
        mixed.append(
            url("symbol", symbol=qname) if kind == 0 else
            url("callers", symbol=qname) if kind == 1 else
            url("callees", symbol=qname) if kind == 2 else
            url("references", symbol=qname) if kind == 3 else
            url("impact", symbol=qname, depth="2") if kind == 4 else
            url("outline", file=path) if kind == 5 else
            url("symbols", query=name[:max(3, len(name) - 2)]) if kind == 6 else
            url("search", query=" ".join(rng.sample(words, 2)), mode="lexical") if kind in (7, 8)
            else url("definition", symbol=name))
    return {"mixed": mixed, "symbol lookups": lookups}


class Prober(threading.Thread):
    """``GET path`` every ``every`` seconds on one keep-alive connection."""

    def __init__(self, port: int, path: str = "/health", every: float = PROBE_EVERY) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.path = path
        self.every = every
        self.latencies: list[float] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stopping.wait(self.every):
            started = time.perf_counter()
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                ok = False
            if ok:
                self.latencies.append((time.perf_counter() - started) * 1000)
            else:
                self.failures += 1
        conn.close()

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        if not lat:
            return {"probes": 0, "failures": self.failures}
        return {"probes": len(lat), "failures": self.failures,
                "p50_ms": round(statistics.median(lat), 2),
                "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
                "max_ms": round(lat[-1], 2)}


def loaded(port: int, metrics_port: int, name: str, paths: list[str], work: Path,
           duration: int) -> dict[str, Any]:
    listing = work / f"paths-{name.replace(' ', '-')}.txt"
    listing.write_text("\n".join(paths) + "\n")
    script = work / "walk.lua"
    script.write_text(LUA)
    prober, scraper = Prober(port), Prober(metrics_port, "/metrics", 0.1)
    prober.start()
    scraper.start()
    os.environ["CODEGRAPH_BENCH_PATHS"] = str(listing)  # read by the Lua script
    try:
        row = wrk(port, "/", CONNECTIONS, duration, script=str(script), timeout="5s")
    finally:
        for probe in (prober, scraper):
            probe.stopping.set()
            probe.join()
    return {"target": name, "distinct_paths": len(paths), **row, "health": prober.summary(),
            "metrics": scraper.summary()}


def bench(args: argparse.Namespace, work: Path, log: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"limits": raise_limits(), "rows": []}
    tree = django_tree()
    data = work / "data"
    log("indexing the django package (no embeddings)")
    subprocess.run([sys.executable, "-m", "codegraph.cli", "--data-dir", str(data), "index",
                    str(tree), "--name", "django", "--progress", "none"], check=True,
                   env=child_env(CODEGRAPH_EMBED="0"), stdout=subprocess.DEVNULL)
    paths = request_paths(data)
    port = free_port()
    hello = start([sys.executable, str(ROOT / "bench" / "hello_app.py"), str(port)],
                  child_env(), work / "hello.log")
    try:
        wait_for(port, "/", 30, hello)
        log("baseline hello-world")
        report["baseline"] = wrk(port, "/", CONNECTIONS, args.duration)
    finally:
        stop(hello)
    port, metrics_port = free_port(), free_port()
    env = child_env(SERVER_HOST="127.0.0.1", SERVER_PORT=str(port),
                    METRICS_PORT=str(metrics_port), CODEGRAPH_LOG_FORMAT="json",
                    CODEGRAPH_EMBED="0", CODEGRAPH_WATCH="false",
                    CODEGRAPH_CACHE_LOCAL_ENTRIES="0", CODEGRAPH_REPOS_ROOT=str(tree))
    server = start([sys.executable, "-m", "codegraph.cli", "--data-dir", str(data), "serve"],
                   env, work / "server.log")
    try:
        wait_for(port, "/health/ready", 120, server)
        idle = Prober(port)
        idle.start()
        time.sleep(2)
        idle.stopping.set()
        idle.join()
        report["health_idle"] = idle.summary()
        for name, listing in paths.items():
            log(f"{name}: {len(listing)} distinct paths, {CONNECTIONS} connections")
            report["rows"].append(loaded(port, metrics_port, name, listing, work,
                                         args.duration))
        report["rss_mb"] = round(rss_mb(server.pid), 1)
    finally:
        report["server_exit"] = stop(server)
    return report


def verdicts(report: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    rows = {r["target"]: r for r in report["rows"]}
    out = []
    for name, row in rows.items():
        p99 = row["health"].get("p99_ms", float("inf"))
        out.append((f"/health p99 during {name}", f"{p99} ms",
                    f"< {TARGETS['health_p99_ms']} ms", p99 < TARGETS["health_p99_ms"]))
        scraped = row["metrics"]
        out.append((f"/metrics during {name}", f"p99 {scraped.get('p99_ms')} ms, "
                    f"{scraped['failures']} failed", "answered", scraped["failures"] == 0
                    and scraped["probes"] > 0))
        out.append((f"{name}: timeouts and errors", f"{row['errors']} errors, "
                    f"{row['non_2xx']} non-2xx", "0", row["errors"] + row["non_2xx"] == 0))
    lookups = rows["symbol lookups"]["rps"]
    out.append(("uncached symbol lookups", f"{lookups} req/s", f">= {TARGETS['lookup_rps']:.0f}",
                lookups >= TARGETS["lookup_rps"]))
    return out


def print_table(report: dict[str, Any]) -> None:
    base = report["baseline"]
    print(f"baseline hello-world @{CONNECTIONS}: {base['rps']} req/s, p99 {base['p99_ms']} ms")
    print(f"/health idle: {report['health_idle']}")
    print(f"{'load':16} {'paths':>6} {'req/s':>8} {'/base':>6} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'t/o':>5} {'non2xx':>6}  /health p50 / p99 / max ms")
    for r in report["rows"]:
        h = r["health"]
        print(f"{r['target']:16} {r['distinct_paths']:>6} {r['rps']:>8} "
              f"{r['rps'] / base['rps']:>6.1%} {r.get('p50_ms', '-'):>8} "
              f"{r.get('p99_ms', '-'):>8} {r['timeouts']:>5} {r['non_2xx']:>6}  "
              f"{h.get('p50_ms')} / {h.get('p99_ms')} / {h.get('max_ms')} "
              f"({h['probes']} probes, {h['failures']} failed)")
        m = r["metrics"]
        print(f"{'':16} /metrics p50 / p99 / max ms: {m.get('p50_ms')} / {m.get('p99_ms')} / "
              f"{m.get('max_ms')} ({m['probes']} scrapes, {m['failures']} failed)")
    print(f"server RSS after the load {report['rss_mb']} MB, exit {report['server_exit']}")
    for name, value, target, ok in verdicts(report):
        print(f"{name:44} {value:28} {target:10} {'PASS' if ok else 'FAIL'}")


def main() -> int:
    return run_wrk_bench("bench_load", __doc__, 15, bench, verdicts, print_table)


if __name__ == "__main__":
    sys.exit(main())
