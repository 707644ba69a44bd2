#!/usr/bin/env python
"""Load benchmark of the HTTP API with wrk, on an indexed Django (the `django/` package of
the pinned 5.1.4 sdist, with embeddings), against a bare uvicorn+Starlette hello-world
measured in the same run.

    python bench/bench_api.py [--duration S] [--json] [--check]

Prints, per endpoint and connection count, requests/s and p50/p99 latency (wrk), the
10,000-connection hold, the time from start to ready on the existing index and the idle
RSS; then the targets with PASS/FAIL. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _corpus import fetch_sdist

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ("django", "5.1.4")
CACHE = Path(os.environ.get("CODEGRAPH_BENCH_CACHE") or Path.home() / ".cache" /
             "codegraph-bench")
ENDPOINTS = {
    "health": "/health",
    "symbol lookup": "/api/v1/definition?symbol=QuerySet",
    "callers": "/api/v1/callers?symbol=django.db.models.query.QuerySet.filter",
    "hybrid search": "/api/v1/search?query=parse+an+http+date+header&mode=hybrid",
}
CONNECTIONS = (100, 1000)
HOLD = 10_000
TARGETS = {"symbol_share": 0.40, "symbol_p99_ms": 50.0, "ready_s": 1.5, "idle_rss_mb": 200.0}
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CODEGRAPH_", "ROCKSDB_", "REDIS_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_limits() -> dict[str, Any]:
    """Open files and the listen backlog, for 10,000 connections (children inherit)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 20
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out: dict[str, Any] = {"nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
    for name, value in (("net/core/somaxconn", "65535"),
                        ("net/ipv4/tcp_max_syn_backlog", "65535")):
        path = Path("/proc/sys") / name
        with contextlib.suppress(OSError):  # not allowed here: say what it is below
            path.write_text(value)
        out[name] = path.read_text().strip() if path.exists() else None
    return out


def source_key() -> str:
    """Cached indexes are reused only by the code that wrote them."""
    h = hashlib.sha256()
    for sub in ("parse", "graph", "store", "index", "search"):
        for f in sorted((ROOT / "src" / "codegraph" / sub).rglob("*")):
            if f.is_file():
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


def prepared_index(log: Any) -> tuple[Path, Path]:
    """(tree, cached data dir): a directory holding just the django package, at a stable
    path, indexed with embeddings once per version of the indexing code."""
    tree = CACHE / f"django-{CORPUS[1]}"
    if not (tree / "django").exists():
        src = fetch_sdist(*CORPUS) / "django"
        tmp = tree / "django.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        tmp.rename(tree / "django")
    data = CACHE / f"index-{CORPUS[1]}-{source_key()}"
    if not data.exists():
        log("indexing and embedding the django package once (a few minutes)")
        tmp = data.parent / (data.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "codegraph.cli", "--data-dir", str(tmp), "index",
                        str(tree), "--progress", "none"], check=True, env=child_env(
                            CODEGRAPH_EMBED="1"))
        tmp.rename(data)
    return tree, data


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_for(port: int, path: str, timeout: float, proc: subprocess.Popen[bytes]) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}")
        try:
            if get(port, path, timeout=1.0)[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{path} not 200 within {timeout} s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unknown wrk duration {text!r}")
    return float(m.group(1)) * UNIT[m.group(2)]


def wrk(port: int, path: str, connections: int, duration: int, script: str | None = None,
        timeout: str = "10s") -> dict[str, Any]:
    """``script``: a wrk Lua script (it may choose each request's path itself)."""
    threads = 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", timeout,
           "--latency", *(["-s", script] if script else []), f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    result: dict[str, Any] = {"connections": connections, "errors": 0, "non_2xx": 0,
                              "timeouts": 0}
    for line in out.splitlines():
        line = line.strip()
        if m := re.match(r"(50|99)%\s+(\S+)", line):
            result[f"p{m.group(1)}_ms"] = round(_ms(m.group(2)), 2)
        elif line.startswith("Requests/sec:"):
            result["rps"] = round(float(line.split()[1]), 1)
        elif line.startswith("Socket errors:"):
            result["errors"] = sum(int(n) for n in re.findall(r"\d+", line))
            result["socket_errors"] = line.split(":", 1)[1].strip()
            result["timeouts"] = int(re.findall(r"timeout (\d+)", line)[0])
        elif line.startswith("Non-2xx"):
            result["non_2xx"] = int(line.split()[-1])
        elif m := re.match(r"(\d+) requests in", line):
            result["requests"] = int(m.group(1))
    if "rps" not in result:
        raise RuntimeError(f"wrk gave no result:\n{out}")
    return result


def start(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def bench(args: argparse.Namespace, work: Path, log: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"limits": raise_limits(), "rows": []}
    tree, cached = prepared_index(log)
    # Baseline first: a bare uvicorn+Starlette hello-world on the same machine, same run.
    port = free_port()
    hello = start([sys.executable, str(ROOT / "bench" / "hello_app.py"), str(port)],
                  child_env(), work / "hello.log")
    try:
        wait_for(port, "/", 30, hello)
        for c in CONNECTIONS:
            log(f"baseline, {c} connections")
            report["rows"].append({"target": "baseline hello-world", **wrk(
                port, "/", c, args.duration)})
    finally:
        stop(hello)

    def serve(name: str, **extra: str) -> tuple[subprocess.Popen[bytes], int, float]:
        data = work / f"data-{name}"
        shutil.copytree(cached, data)
        port, metrics = free_port(), free_port()
        env = child_env(SERVER_HOST="127.0.0.1", SERVER_PORT=str(port),
                        METRICS_PORT=str(metrics), CODEGRAPH_LOG_FORMAT="json",
                        CODEGRAPH_EMBED="1", CODEGRAPH_REPOS_ROOT=str(tree), **extra)
        proc = start([sys.executable, "-m", "codegraph.cli", "--data-dir", str(data), "serve",
                      str(tree)], env, work / f"server-{name}.log")
        return proc, port, wait_for(port, "/health/ready", 120, proc)

    server, port, ready = serve("cached")
    try:
        report["ready_seconds"] = round(ready, 3)
        while b'"running"' in get(port, "/api/v1/jobs?limit=500")[1] or \
                b'"queued"' in get(port, "/api/v1/jobs?limit=500")[1]:
            time.sleep(0.2)
        time.sleep(2)
        report["idle_rss_mb"] = round(rss_mb(server.pid), 1)
        for name, path in ENDPOINTS.items():
            status, body = get(port, path, timeout=60)  # warm: load the model, fill caches
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}: {body[:300]!r}")
            for c in CONNECTIONS:
                log(f"{name}, {c} connections")
                report["rows"].append({"target": name, "path": path,
                                       **wrk(port, path, c, args.duration)})
        log(f"holding {HOLD} connections")
        report["hold"] = wrk(port, "/health", HOLD, args.duration)
        report["loaded_rss_mb"] = round(rss_mb(server.pid), 1)
    finally:
        report["server_exit"] = stop(server)
    # The same reads with the query cache off: what a cache miss costs.
    server, port, _ = serve("uncached", CODEGRAPH_CACHE_LOCAL_ENTRIES="0")
    try:
        for name in ("symbol lookup", "callers", "hybrid search"):
            get(port, ENDPOINTS[name], timeout=60)
            log(f"{name} (no cache), 100 connections")
            report["rows"].append({"target": f"{name} (no cache)", "path": ENDPOINTS[name],
                                   **wrk(port, ENDPOINTS[name], 100, args.duration)})
    finally:
        stop(server)
    return report


def verdicts(report: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    rows = {(r["target"], r["connections"]): r for r in report["rows"]}
    base, sym = rows[("baseline hello-world", 100)], rows[("symbol lookup", 100)]
    share = sym["rps"] / base["rps"]
    hold = report["hold"]
    return [
        ("symbol lookup throughput / baseline @100", f"{share:.0%}",
         f">= {TARGETS['symbol_share']:.0%}", share >= TARGETS["symbol_share"]),
        ("symbol lookup p99 @100", f"{sym['p99_ms']} ms", f"<= {TARGETS['symbol_p99_ms']} ms",
         sym["p99_ms"] <= TARGETS["symbol_p99_ms"]),
        (f"{HOLD} connections held", f"{hold['errors']} socket errors, {hold['non_2xx']} "
         f"non-2xx, {hold['requests']} answered", "0 errors",
         hold["errors"] == 0 and hold["non_2xx"] == 0 and hold["requests"] > 0),
        ("ready after start (existing index)", f"{report['ready_seconds']} s",
         f"<= {TARGETS['ready_s']} s", report["ready_seconds"] <= TARGETS["ready_s"]),
        ("idle RSS, Django index open", f"{report['idle_rss_mb']} MB",
         f"<= {TARGETS['idle_rss_mb']} MB", report["idle_rss_mb"] <= TARGETS["idle_rss_mb"]),
    ]


def print_table(report: dict[str, Any]) -> None:
    print(f"limits: {report['limits']}")
    print(f"{'target':34} {'conns':>6} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in [*report["rows"], {"target": "hold /health", **report["hold"]}]:
        print(f"{r['target']:34} {r['connections']:>6} {r['rps']:>10} {r.get('p50_ms', '-'):>8} "
              f"{r.get('p99_ms', '-'):>8} {r['errors'] + r['non_2xx']:>7}")
    print(f"ready {report['ready_seconds']} s, idle RSS {report['idle_rss_mb']} MB, "
          f"RSS after load {report['loaded_rss_mb']} MB, server exit {report['server_exit']}")
    for name, value, target, ok in verdicts(report):
        print(f"{name:44} {value:42} {target:10} {'PASS' if ok else 'FAIL'}")


Verdicts = list[tuple[str, str, str, bool]]


def run_wrk_bench(name: str, doc: str | None, duration: int,
                  bench_fn: Callable[[argparse.Namespace, Path, Any], dict[str, Any]],
                  verdicts_fn: Callable[[dict[str, Any]], Verdicts],
                  print_fn: Callable[[dict[str, Any]], None]) -> int:
    """The command line of a wrk benchmark: run it, print a table or JSON, and with
    ``--check`` exit 1 when a target fails."""
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--duration", type=int, default=duration, help="seconds per wrk run")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    if not shutil.which("wrk"):
        print(f"{name}: wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        if args.verbose:
            print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix=f"codegraph-{name.replace('_', '-')}-") as tmp:
        report = bench_fn(args, Path(tmp), log)
    results = verdicts_fn(report)
    if args.json:
        report["verdicts"] = [{"figure": n, "value": v, "target": t, "pass": ok}
                              for n, v, t, ok in results]
        print(json.dumps(report, indent=2))
    else:
        print_fn(report)
    return 1 if args.check and not all(ok for *_, ok in results) else 0


def main() -> int:
    return run_wrk_bench("bench_api", __doc__, 10, bench, verdicts, print_table)


if __name__ == "__main__":
    sys.exit(main())
