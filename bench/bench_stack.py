#!/usr/bin/env python
"""The production stack (docker-compose.production.yml): time to healthy, and what nginx
with TLS costs in front of the API, against the API reached directly in the same run.

    python bench/bench_stack.py [--duration S] [--rounds N] [--up-runs N] [--json] [--check]

Brought up as the stack tests bring it up (tests/stackproc.py: unique project, random
secrets, free ports, this tree's optimized image, every service but grafana), with one
override file in a temporary directory that (a) publishes the API's port 3000 on
127.0.0.1, for this benchmark only, and (b) raises nginx's per-client rate limit out of
the way (every wrk connection comes from one address; the zones stay, keyed by an
empty value, which nginx does not count).

- up to healthy: from `docker compose up -d --wait` until every service's healthcheck
  passes, fresh volumes each time; median of ``--up-runs``. It is bounded below by the
  healthcheck intervals (5 s for the API, then 5 s for nginx, which waits for the API).
- throughput and latency: wrk, 2 threads, 100 connections, ``--duration`` seconds per run,
  on `/health` and on a real query (`/api/v1/definition?symbol=parse_config`, over a small
  indexed repository), through nginx over HTTPS (TLS 1.3; wrk keeps its connections, so
  handshakes are not what is measured) and straight to the API over HTTP (both through
  Docker's port publishing), interleaved direct / nginx, ``--rounds`` times: medians.
- proxy overhead: nginx p50 / direct p50 - 1, per path. Target: <= 20% at 100 connections.

Every wrk client, nginx and the API share the machine's cores: on a 2-core machine the
proxy's cost shows as CPU taken from the API, not only as added hops.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import dockerproc
import stackproc
from stackproc import Stack

CONNECTIONS = 100
OVERHEAD_TARGET = 0.20
PATHS = {"health": "/health", "definition": "/api/v1/definition?symbol=parse_config"}
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
OVERRIDE = """\
services:
  codegraph-api:
    ports:
      - "127.0.0.1:{port}:3000"
  nginx:
    volumes:
      - {ratelimit}:/etc/nginx/ratelimit.conf:ro
"""
# The same zones keyed by an empty value: nginx does not account such requests (a high
# rate alone is not enough: more than `burst` requests in one millisecond are refused).
RATELIMIT = """\
map $remote_addr $codegraph_bench_nolimit { default ""; }
limit_req_zone $codegraph_bench_nolimit zone=codegraph_api:10m rate=1r/s;
limit_req_zone $codegraph_bench_nolimit zone=codegraph_mcp:10m rate=1r/s;
limit_req_status 429;
"""


def wrk(url: str, duration: int, script: Path | None = None) -> dict[str, Any]:
    """wrk's figures for ``url`` (``script``: a Lua script that makes the requests)."""
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "10s",
           "--latency", *(["-s", str(script)] if script else []), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    result: dict[str, Any] = {"errors": 0, "non_2xx": 0}
    for line in (raw.strip() for raw in out.splitlines()):
        if m := re.match(r"(50|99)%\s+([\d.]+)(us|ms|s|m)$", line):
            result[f"p{m.group(1)}_ms"] = round(float(m.group(2)) * UNIT[m.group(3)], 2)
        elif line.startswith("Requests/sec:"):
            result["rps"] = round(float(line.split()[1]), 1)
        elif line.startswith("Socket errors:"):
            result["errors"] = sum(int(n) for n in re.findall(r"\d+", line))
        elif line.startswith("Non-2xx"):
            result["non_2xx"] = int(line.split()[-1])
    if "rps" not in result or "p50_ms" not in result:
        raise RuntimeError(f"wrk gave no result for {url}:\n{out}")
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of the runs' figures; errors and non-2xx summed."""
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 2)
                           for k in ("rps", "p50_ms", "p99_ms") if all(k in r for r in runs)}
    out.update(errors=sum(r["errors"] for r in runs), non_2xx=sum(r["non_2xx"] for r in runs),
               runs=runs)
    return out


def wait_indexed(api: str) -> None:
    """Until the replica at ``api`` answers a definition in the small repository, which the
    indexer indexes at start (CODEGRAPH_REPOS) and publishes as a snapshot."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = httpx.get(f"{api}{PATHS['definition']}", timeout=10)
        if r.status_code == 200 and r.json().get("results"):
            return
        time.sleep(0.3)
    raise RuntimeError("the small repository was not served within 120 s")


def bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    images = dockerproc.pinned_images()
    repos = tmp / "repos"
    repos.mkdir()
    repos.chmod(0o755)
    dockerproc.small_repo(repos / "small")
    report: dict[str, Any] = {"connections": CONNECTIONS, "duration_s": args.duration,
                              "rounds": args.rounds,
                              "not_started": sorted(stackproc.NOT_STARTED), "up_s": []}
    try:
        for run in range(args.up_runs):  # fresh volumes each time: down -v in between
            with Stack(tag=images["optimized"], repos_dir=repos,
                       workdir=tmp / f"up{run}") as st:
                report["up_s"].append(round(st.up_seconds, 2))
        port = stackproc.free_port()
        (tmp / "ratelimit.conf").write_text(RATELIMIT)
        override = tmp / "bench.override.yml"
        override.write_text(OVERRIDE.format(port=port, ratelimit=tmp / "ratelimit.conf"))
        # one replica, its port published: the direct route; the indexer indexes the
        # repository at start
        with Stack(tag=images["optimized"], repos_dir=repos, workdir=tmp / "load",
                   overrides=[override], extra_env={"CODEGRAPH_REPLICAS": "1",
                                                    "CODEGRAPH_REPOS": "/repos/small"}) as st:
            direct = f"http://127.0.0.1:{port}"
            wait_indexed(direct)
            for path in PATHS.values():  # warm both routes (and the query cache)
                httpx.get(f"{direct}{path}", timeout=10).raise_for_status()
                httpx.get(f"{st.https}{path}", verify=st.ca, timeout=10).raise_for_status()
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
            for name, path in PATHS.items():
                for _round in range(args.rounds):
                    for route, base in (("direct", direct), ("nginx_tls", st.https)):
                        res = wrk(f"{base}{path}", args.duration)
                        runs.setdefault(name, {}).setdefault(route, []).append(res)
            report["stack_logs_tail"] = st.logs("nginx", tail=3)[-500:]
    finally:
        dockerproc.unpin_images(images)
    report["up_median_s"] = statistics.median(report["up_s"])
    report["load"] = {}
    for name, routes in runs.items():
        best = {route: median_run(rs) for route, rs in routes.items()}
        overhead = best["nginx_tls"]["p50_ms"] / best["direct"]["p50_ms"] - 1
        report["load"][name] = {**best, "p50_overhead": round(overhead, 3),
                                "rps_ratio": round(best["nginx_tls"]["rps"]
                                                   / best["direct"]["rps"], 3)}
    return report


def verdicts(report: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    out = []
    for name, row in report["load"].items():
        ok = row["p50_overhead"] <= OVERHEAD_TARGET
        out.append((f"nginx+TLS p50 overhead, {name}", f"{row['p50_overhead']:+.1%}",
                    f"<= +{OVERHEAD_TARGET:.0%}", ok))
        clean = all(row[r]["errors"] == 0 and row[r]["non_2xx"] == 0
                    for r in ("direct", "nginx_tls"))
        out.append((f"no errors or non-2xx, {name}", "yes" if clean else "NO", "yes", clean))
    return out


def print_table(report: dict[str, Any]) -> None:
    print(f"services started: every production service but {', '.join(report['not_started'])}")
    print(f"up -> all healthy: {report['up_median_s']:.1f} s median of "
          f"{len(report['up_s'])} ({', '.join(f'{s:.1f}' for s in report['up_s'])})")
    print(f"\nwrk, {report['connections']} connections, {report['duration_s']} s per run, "
          f"medians of {report['rounds']} interleaved rounds")
    print(f"{'path':<11} {'route':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, row in report["load"].items():
        for route in ("direct", "nginx_tls"):
            r = row[route]
            print(f"{name:<11} {route:<10} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} "
                  f"{r.get('p99_ms', float('nan')):>8.2f} {r['errors'] + r['non_2xx']:>7}")
        print(f"{'':<11} {'nginx/dir':<10} {row['rps_ratio']:>8.2f}x "
              f"{row['p50_overhead']:>+8.1%}")
    print()
    for figure, value, target, ok in verdicts(report):
        print(f"{'PASS' if ok else 'FAIL'}  {figure}: {value} (target {target})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (max 60)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (max 9)")
    p.add_argument("--up-runs", type=int, default=2, help="times the stack is brought up "
                   "cold to time it (max 5)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = p.parse_args()
    args.duration = max(1, min(args.duration, 60))
    args.up_runs = max(1, min(args.up_runs, 5))
    args.rounds = max(1, min(args.rounds, 9))
    if not shutil.which("wrk"):
        print("bench_stack: wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2
    problem = stackproc.compose_problem()
    if problem:
        print(f"bench_stack: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="codegraph-bench-stack-") as tmp:
        Path(tmp).chmod(0o755)
        report = bench(args, Path(tmp))
    results = verdicts(report)
    if args.json:
        report["verdicts"] = [{"figure": f, "value": v, "target": t, "pass": ok}
                              for f, v, t, ok in results]
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 1 if args.check and not all(ok for *_, ok in results) else 0


if __name__ == "__main__":
    sys.exit(main())
