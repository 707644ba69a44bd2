"""Part of bench/bench_scale.py: what a published snapshot costs, and how long a saved edit
takes to reach every replica. Real processes on 127.0.0.1, no Docker: one
``serve --role indexer`` watching a copy of the corpus, and ``--replicas`` processes of
``serve --role replica`` on its data directory (the replicas' code path is the same in a
container; the network hop is not what is measured here).

- publish: the seconds of each publish job (the indexer's "snapshot published" log lines);
- disk per snapshot: what each new snapshot adds on disk once one file changed, counting
  hard-linked files once (``snapshots.disk_usage``), split into the store's new files and the
  copies of the lexical and the vector index;
- edit to every replica: from writing the file until every replica answers a symbol query
  with the function the edit added (the watcher's debounce, the update, the publish, and the
  replicas' noticing it: inotify on the snapshots directory, else their poll of
  CODEGRAPH_SNAPSHOT_POLL, 1 s by default); beside it, until the indexer answers with it.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from codegraph import snapshots
from serverproc import ServerProcess

KEY = "bench-" + "k" * 26


def wait_embedded_snapshot(indexer: ServerProcess, embed: bool, timeout: float) -> str:
    """The id of the first snapshot with the whole index (and its embeddings)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        name = snapshots.current(indexer.data_dir)
        if name is not None:
            m = snapshots.Manifest.read(snapshots.path_of(indexer.data_dir, name))
            figures = m.figures
            if figures.get("files", 0) > 0 and (
                    not embed or 0 < figures.get("chunks", 0) <= figures.get("embedded", 0)):
                return name
        time.sleep(0.2)
    raise RuntimeError(f"no complete snapshot in {timeout} s:\n{indexer.output()[-3000:]}")


def new_bytes(data_dir: str, names: list[str]) -> list[dict[str, int]]:
    """For each snapshot (oldest first), the bytes of the files it added: files no earlier
    snapshot links and the live store does not hold, by part."""
    seen = {(st.st_dev, st.st_ino) for st in _stats(os.path.join(data_dir, "rocksdb"))}
    out = []
    for name in names:
        base = snapshots.path_of(data_dir, name)
        added = {"rocksdb": 0, "lexical": 0, "faiss": 0, "other": 0}
        for directory, _, files in os.walk(base):
            for f in files:
                st = os.lstat(os.path.join(directory, f))
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                part = os.path.relpath(directory, base).split(os.sep)[0]
                key = ("rocksdb" if part == "rocksdb" else "faiss" if part == "faiss"
                       else "lexical" if f.startswith("lexical") else "other")
                added[key] += st.st_size
        out.append(added)
    return out


def _stats(path: str) -> list[os.stat_result]:
    return [os.lstat(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs]


def measure(tree: Path, work: Path, *, replicas: int, edits: int, embed: bool,
            edit_file: str, timeout: float = 1800.0) -> dict[str, Any]:
    repo = work / "repo"
    shutil.copytree(tree, repo)
    target = repo / edit_file
    original = target.read_text()
    env = {"CODEGRAPH_API_KEY": KEY, "CODEGRAPH_EMBED": "1" if embed else "0",
           "CODEGRAPH_SNAPSHOT_GRACE": "86400"}  # keep every snapshot: each one is measured
    started = time.monotonic()
    with ServerProcess(work / "indexer", [repo], repos_root=work,
                       env={"CODEGRAPH_ROLE": "indexer", **env}) as indexer:
        first = wait_embedded_snapshot(indexer, embed, timeout)
        ready_seconds = time.monotonic() - started
        servers = [ServerProcess(work / f"replica-{i}", flags=("--data-dir", indexer.data_dir),
                                 env={"CODEGRAPH_ROLE": "replica", **env})
                   for i in range(replicas)]
        try:
            lags, every = [], []
            own, pause = [], random.Random(15)
            for k in range(1, edits + 1):
                lag = edit_and_wait(indexer, servers, target, original, k)
                own.append(lag[0])
                every.append(max(lag[1:]))
                lags.append(lag)
                time.sleep(pause.uniform(0.2, 1.5))  # (no fixed phase against the polls)
            rss = [rss_bytes(s.proc.pid) for s in servers]
            indexer_rss = rss_bytes(indexer.proc.pid)
        finally:
            for s in servers:
                s.stop()
        names = snapshots.published(indexer.data_dir)
        usage = snapshots.disk_usage(indexer.data_dir)
        added = new_bytes(indexer.data_dir, names)[names.index(first) + 1:]
        per_edit = {k: sum(a[k] for a in added) // edits for k in added[0]}
        publish = [float(e["seconds"]) for e in indexer.logs()
                   if e.get("msg") == "snapshot published"]
        store_bytes = dir_bytes(os.path.join(indexer.data_dir, "rocksdb"))
        full = snapshot_bytes(indexer.data_dir, first)
    return {
        "replicas": replicas, "edits": edits, "embed": embed,
        "first_snapshot_seconds": round(ready_seconds, 1),
        "publish_seconds_median": round(statistics.median(publish), 3),
        "publish_seconds_max": round(max(publish), 3),
        "edit_to_indexer_seconds_median": round(statistics.median(own), 2),
        "edit_to_every_replica_seconds": {
            "median": round(statistics.median(every), 2), "max": round(max(every), 2),
            "per_edit": [[round(x, 2) for x in lag] for lag in lags]},
        "store_bytes": store_bytes, "first_snapshot_bytes": full,
        "snapshots_per_edit": round(len(added) / edits, 2),
        "bytes_per_edit": sum(per_edit.values()), "bytes_per_edit_parts": per_edit,
        "replica_rss_bytes_median": int(statistics.median(rss)),
        "indexer_rss_bytes": indexer_rss,
        "figures": {k: v for k, v in snapshots.Manifest.read(snapshots.path_of(
            indexer.data_dir, names[-1])).figures.items() if isinstance(v, int)},
        "snapshots": usage["snapshots"], "snapshots_shared_bytes": usage["shared_bytes"],
        "snapshots_apparent_bytes": usage["apparent_bytes"],
    }


def edit_and_wait(indexer: ServerProcess, replicas: list[ServerProcess], target: Path,
                  original: str, k: int, timeout: float = 120.0) -> list[float]:
    """Seconds from saving edit ``k`` until the indexer, then each replica, answers with
    it."""
    name = f"codegraph_bench_marker_{k}"
    t0 = time.monotonic()
    target.write_text(f"{original}\n\ndef {name}():\n    return {k}\n")
    waiting = {i: r for i, r in enumerate([indexer, *replicas])}
    seen: dict[int, float] = {}
    clients = {i: httpx.Client(base_url=r.url, timeout=10) for i, r in waiting.items()}
    try:
        while waiting and time.monotonic() - t0 < timeout:
            for i in list(waiting):
                r = clients[i].get("/api/v1/symbols", params={"query": name, "limit": 5})
                if r.status_code == 200 and any(  # (the query also matches older markers)
                        s["name"] == name for s in r.json()["results"]):
                    seen[i] = time.monotonic() - t0
                    del waiting[i]
            time.sleep(0.01)
    finally:
        for c in clients.values():
            c.close()
    if waiting:
        raise RuntimeError(f"edit {k} not served by {sorted(waiting)} (0: the indexer) in "
                           f"{timeout} s")
    return [seen[i] for i in sorted(seen)]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (``VmRSS``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def dir_bytes(path: str) -> int:
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(path) for f in fs)


def snapshot_bytes(data_dir: str, snapshot_id: str) -> int:
    return dir_bytes(snapshots.path_of(data_dir, snapshot_id))
