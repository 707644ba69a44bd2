"""A full re-index is built beside the live store and switched in at its end: readers keep
their answers while it runs, and a kill or SIGTERM before the switch leaves the previous
index as it was (store/generations.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from codegraph.store import generations
from codegraph.store.rocks import Store
from helpers import cli_env, dump_store, run_cli, run_json
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(240)
KEY = "rebuild-key"


def _tree(root: Path, packages: int = 24, modules: int = 40) -> Path:
    """About a thousand files of calls: a full index takes a few seconds."""
    for d in range(packages):
        pkg = root / f"pkg{d}"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        for m in range(modules):
            (pkg / f"m{m}.py").write_text("".join(
                f"def func_{d}_{m}_{k}(x):\n    return func_{d}_{m}_{(k + 1) % 12}(x) + {k}\n"
                f"\n\n" for k in range(12)))
    return root


def _beside(data: Path) -> list[str]:
    return sorted(p.name for p in data.iterdir() if p.name.startswith("rocksdb."))


def test_a_full_run_equals_a_clean_index_and_leaves_nothing_beside(tmp_path: Path) -> None:
    repo = _tree(tmp_path / "repo", packages=3, modules=5)
    data, clean = tmp_path / "data", tmp_path / "clean"
    assert run_cli("index", str(repo), data_dir=data)[0] == 0
    (repo / "pkg1" / "m2.py").write_text("def moved():\n    return func_0_0_0(1)\n")
    (repo / "pkg2" / "m4.py").unlink()
    before = run_json("stats", data_dir=data)["revision"]
    report = run_json("index", str(repo), "--full", data_dir=data)
    assert report["files"] == 3 * 6 - 1 and report["revision"] > before
    assert _beside(data) == []
    assert run_cli("index", str(repo), data_dir=clean)[0] == 0
    ours, theirs = dump_store(data), dump_store(clean)
    for cf in ours:
        if cf != "files":  # (file records carry each run's mtimes)
            assert ours[cf] == theirs[cf], cf
    assert ours["files"].keys() == theirs["files"].keys()
    hits = run_json("search", "moved", "--mode", "lexical", data_dir=data)["results"]
    assert hits[0]["qualified_name"] == "pkg1.m2.moved"


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_full_run_leaves_the_previous_index(tmp_path: Path, sig: int) -> None:
    repo = _tree(tmp_path / "repo")
    data = tmp_path / "data"
    assert run_cli("index", str(repo), data_dir=data)[0] == 0
    before = dump_store(data, skip=())
    (repo / "pkg0" / "m0.py").write_text("def only_in_the_new_index():\n    return 1\n")
    proc = subprocess.Popen([sys.executable, "-m", "codegraph.cli", "--data-dir", str(data),
                             "index", str(repo), "--full", "--progress", "json"],
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        events = []
        for line in proc.stderr:  # stopped once the copy is being parsed
            events.append(line)
            if line.startswith('{"event": "parsed"'):
                break
        assert proc.poll() is None, f"the full run ended before it could be stopped: {events}"
        assert _beside(data) == ["rocksdb.next"]
        proc.send_signal(sig)
        proc.wait(30)
    finally:
        proc.kill()
    assert dump_store(data, skip=()) == before  # every column family, byte for byte
    assert run_json("def", "func_0_0_1", data_dir=data)["results"]
    assert not run_json("symbols", "only_in_the_new_index", data_dir=data)["results"]
    # the next writer removes what the killed run left beside, and can rebuild
    assert run_json("index", str(repo), "--full", data_dir=data)["files"] == 24 * 41
    assert _beside(data) == []
    assert run_json("def", "only_in_the_new_index", data_dir=data)["results"]


def test_a_switch_cut_between_its_two_renames_is_completed(tmp_path: Path) -> None:
    """Where the filesystem cannot exchange two names, the switch is two renames; a crash
    between them leaves no store at PATH, and the next writer open completes it."""
    path = str(tmp_path / "rocksdb")
    for where, revision in ((path, b"1"), (generations.staging_path(path), b"2")):
        with Store.open(where, tidy=False) as store:
            store._cf["meta"][b"marker"] = revision
    os.rename(path, path + generations.OLD)  # the first rename done, the second not
    with Store.open(path) as store:
        assert store._cf["meta"].get(b"marker") == b"2"
    assert sorted(os.listdir(tmp_path)) == ["rocksdb"]
    # cut before the first rename: the staging store is dropped, the live one stays
    with Store.open(generations.staging_path(path), tidy=False) as store:
        store._cf["meta"][b"marker"] = b"3"
    with Store.open(path) as store:
        assert store._cf["meta"].get(b"marker") == b"2"
    assert sorted(os.listdir(tmp_path)) == ["rocksdb"]


def test_a_store_on_a_mount_of_its_own_refuses_a_full_run_at_once(tmp_path: Path) -> None:
    """The switch renames the new store into place: where the store is a mount point, the
    full run is refused before any work, with what to do, and the store is left as it
    was."""
    from mounts import small_disk

    repo = _tree(tmp_path / "repo", packages=2, modules=3)
    data = tmp_path / "data"
    with small_disk(data / "rocksdb", 64):
        assert run_cli("index", str(repo), data_dir=data)[0] == 0
        before = dump_store(data, skip=())
        code, _, err = run_cli("index", str(repo), "--full", data_dir=data)
        assert code == 2 and "is a mount point of its own: mount the directory above" in err
        assert dump_store(data, skip=()) == before and _beside(data) == []


def test_readers_keep_their_answers_while_a_full_job_runs(tmp_path: Path) -> None:
    repo = _tree(tmp_path / "repo")
    with ServerProcess(tmp_path, [repo], CODEGRAPH_API_KEY=KEY, CODEGRAPH_EMBED="0") as proc:
        proc.wait_jobs_idle()
        answers: list[tuple[int, int, int]] = []  # status, results, revision
        stop = threading.Event()

        def look() -> None:
            with httpx.Client(base_url=proc.url, timeout=30) as client:
                i = 0
                while not stop.is_set():
                    i += 1
                    r = client.get("/api/v1/definition",
                                   params={"symbol": f"func_{i % 24}_{i % 40}_{i % 12}"})
                    total = r.json().get("total", 0) if r.status_code == 200 else 0
                    answers.append((r.status_code, total,
                                    int(r.headers["x-codegraph-revision"])))

        readers = [threading.Thread(target=look) for _ in range(2)]
        for t in readers:
            t.start()
        job = proc.client.post("/api/v1/jobs", json={"repo": "repo", "full": True},
                               headers={"X-API-Key": KEY}).json()
        seen_running = 0
        while (state := proc.ok(f"/api/v1/jobs/{job['id']}")["state"]) != "done":
            assert state in ("queued", "running"), state
            seen_running += state == "running"
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        for t in readers:
            t.join(30)
        assert seen_running > 5 and len(answers) > 50
        bad = [a for a in answers if a[0] != 200 or a[1] != 1]
        assert not bad, f"{len(bad)} of {len(answers)} lookups failed: {bad[:5]}"
        revisions = [a[2] for a in answers]
        assert revisions[-1] > revisions[0]  # the new index was switched in
        assert not _beside(Path(proc.data_dir))


def test_sigterm_during_a_full_job_keeps_the_repository(tmp_path: Path) -> None:
    repo = _tree(tmp_path / "repo")
    proc = ServerProcess(tmp_path, [repo], CODEGRAPH_API_KEY=KEY, CODEGRAPH_EMBED="0")
    try:
        proc.wait_jobs_idle()
        files = proc.ok("/api/v1/stats")["files"]
        job = proc.client.post("/api/v1/jobs", json={"repo": "repo", "full": True},
                               headers={"X-API-Key": KEY}).json()
        _wait_for(lambda: proc.ok(f"/api/v1/jobs/{job['id']}")["phase"] == "parse", 60,
                  "the full job did not start parsing")
        assert proc.stop(signal.SIGTERM) == 0
    finally:
        proc.stop()
    code, out, err = run_cli("stats", "--json", data_dir=proc.data_dir)
    assert code == 0, err
    assert json.loads(out)["files"] == files
    assert run_json("def", "func_3_3_3", data_dir=proc.data_dir)["results"]
