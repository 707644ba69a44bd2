#!/usr/bin/env python
"""Backups of a live server under load: how long a backup takes, how large it is, and
whether the reads around it fail or slow down. Then a restore of the archive, timed.

    python bench/bench_backup.py --data-dir DIR [--seconds S] [--clients N] [--json]

DIR is an existing data directory (e.g. an indexed Django: bench_index.py leaves one in
~/.cache/codegraph-bench/index-*), copied to a temporary directory and served by
`codegraph serve` (no repositories, the query cache off). N clients (default 50) ask
definitions and callers of the index's own symbols, varied so that no answer is cached,
for S seconds (default 20): the first third without a backup, then backups one after the
other through POST /api/v1/admin/backups. Reported: each backup's time (snapshot, pack),
the archive's size, failed requests (any non-200 or transport error), and read latency
p50/p99 while a backup ran against the rest. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"
TOKEN = "bench-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def names(data_dir: Path, count: int = 400) -> list[str]:
    sys.path.insert(0, str(SRC))
    from codegraph.api import CodeGraph

    with CodeGraph.open(str(data_dir), readonly=True) as cg:
        hits = [h["name"] for prefix in "abcdefghijklmnoprstuvw"
                for h in cg.symbols(prefix, kind="function")[:40]]
    return sorted(set(hits))[:count]


def quantile(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 1) if len(values) > 2 \
        else 0.0


async def load(url: str, symbols: list[str], clients: int, seconds: float,
               done: list[tuple[float, float, int]]) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        async def worker() -> None:
            while time.monotonic() < deadline:
                i = next(counter)
                name = symbols[i % len(symbols)]
                path = ("/api/v1/definition", "/api/v1/callers")[i % 2]
                started = time.monotonic()
                try:
                    r = await client.get(path, params={"symbol": name,
                                                       "limit": i // len(symbols) % 50 + 1})
                    status = r.status_code if r.status_code in (200, 404) else -r.status_code
                except httpx.HTTPError:
                    status = 0
                done.append((started, time.monotonic(), status))

        await asyncio.gather(*(worker() for _ in range(clients)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="codegraph-bench-backup-"))
    data = work / "data"
    shutil.copytree(args.data_dir, data)
    symbols = names(data)
    port, metrics = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGRAPH_", "ROCKSDB_"))}
    env.update(PYTHONPATH=str(SRC), SERVER_HOST="127.0.0.1", SERVER_PORT=str(port),
               METRICS_PORT=str(metrics), CODEGRAPH_DATA_DIR=str(data),
               CODEGRAPH_BACKUP_DIR=str(work / "backups"), CODEGRAPH_ADMIN_TOKEN=TOKEN,
               CODEGRAPH_EMBED="0", CODEGRAPH_CACHE_LOCAL_ENTRIES="0",
               CODEGRAPH_LOG_LEVEL="warn", CODEGRAPH_LOG_FORMAT="json")
    log = open(work / "server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen([sys.executable, "-m", "codegraph.cli", "serve"], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        done: list[tuple[float, float, int]] = []
        loader = threading.Thread(target=lambda: asyncio.run(
            load(url, symbols, args.clients, args.seconds, done)))
        started = time.monotonic()
        loader.start()
        time.sleep(args.seconds / 3)
        backups: list[dict[str, Any]] = []
        windows: list[tuple[float, float]] = []
        with httpx.Client(base_url=url, timeout=600) as admin:
            while time.monotonic() - started < args.seconds * 0.9:
                t0 = time.monotonic()
                r = admin.post("/api/v1/admin/backups",
                               json={"dest": f"b{len(backups)}.tar.gz"},
                               headers={"X-Admin-Token": TOKEN})
                r.raise_for_status()
                windows.append((t0, time.monotonic()))
                backups.append(r.json())
        loader.join()
    finally:
        server.terminate()
        server.wait(30)
        log.close()

    def overlaps(s: float, e: float) -> bool:
        return any(s < w1 and e > w0 for w0, w1 in windows)

    during = [e - s for s, e, _ in done if overlaps(s, e)]
    outside = [e - s for s, e, _ in done if not overlaps(s, e) and s > started + 1]
    archive = backups[-1]["archive"]
    t0 = time.monotonic()
    restored = subprocess.run([sys.executable, "-m", "codegraph.cli", "--data-dir",
                               str(work / "restored"), "restore", archive],
                              env={**env, "PYTHONPATH": str(SRC)}, capture_output=True,
                              text=True)
    report: dict[str, Any] = {
        "data_bytes": backups[-1]["data_bytes"], "archive_bytes": backups[-1]["size"],
        "files": backups[-1]["files"], "backups": len(backups),
        "backup_seconds": [round(w1 - w0, 3) for w0, w1 in windows],
        "snapshot_seconds": [b["snapshot_seconds"] for b in backups],
        "pack_seconds": [b["pack_seconds"] for b in backups],
        "requests": len(done), "failed": sum(1 for *_, st in done if st <= 0),
        "requests_during_backups": len(during),
        "p50_ms_during": quantile(during, 50), "p99_ms_during": quantile(during, 99),
        "p50_ms_outside": quantile(outside, 50), "p99_ms_outside": quantile(outside, 99),
        "restore_seconds": round(time.monotonic() - t0, 3),
        "restore_ok": restored.returncode == 0,
    }
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>24}: {value}")
    return 0 if report["failed"] == 0 and report["restore_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
