"""kill -9 in the middle of ``codegraph index``: the next run must complete the store so that
it equals a clean index of the same corpus."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from codegraph.graph.model import Node
from codegraph.query.paging import encode_cursor
from codegraph.store.rocks import unpack
from helpers import (
    cli_env,
    dangling_edges,
    dump_store,
    mirrored_edges,
    run_cli,
    run_json,
    sited_edges,
)

pytestmark = pytest.mark.slow

PACKAGES, MODULES, FUNCTIONS = 30, 50, 12  # 1,500 modules


def module_source(rnd: random.Random, p: int, m: int, packages: int) -> str:
    deps = [(rnd.randrange(packages), rnd.randrange(MODULES)) for _ in range(3)]
    lines = [f"from corpus.pkg{dp:02d}.mod{dm:02d} import f1, Base{dp}_{dm}" for dp, dm in deps]
    lines += [f"from corpus.pkg{deps[0][0]:02d} import mod{deps[0][1]:02d} as other", "",
              f"class Base{p}_{m}:",
              "    def run(self, x):",
              "        return self.step(x) + helper_missing(x)",
              "",
              "    def step(self, x):",
              "        return x", "",
              f"class Child{p}_{m}(Base{deps[1][0]}_{deps[1][1]}):",
              "    def go(self):",
              "        return self.run(1) + super().step(2)", ""]
    for i in range(FUNCTIONS):
        lines += [f"def f{i}(a, b=1):",
                  f"    '''Function {i} of module {m}.'''",
                  f"    y = f{(i + 1) % FUNCTIONS}(a) if a else other.f{i % 3}(b)",
                  f"    return f1(y) + len(str(y)) + Base{p}_{m}().run(a)", ""]
    return "\n".join(lines)


def write_corpus(root: Path, packages: int = PACKAGES) -> None:
    """Packages of 50 modules importing and calling each other (and some unknowns)."""
    rnd = random.Random(20240611)
    (root / "corpus").mkdir(parents=True)
    (root / "corpus/__init__.py").write_text("")
    for p in range(packages):
        pkg = root / f"corpus/pkg{p:02d}"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(f"from corpus.pkg{p:02d}.mod00 import f0 as entry\n")
        for m in range(MODULES):
            (pkg / f"mod{m:02d}.py").write_text(module_source(rnd, p, m, packages))


def edit_corpus(root: Path, packages: int) -> None:
    """Renames, deletions and additions that change other files' edges."""
    for p in range(0, packages, 3):
        for m in range(0, MODULES, 7):
            path = root / f"corpus/pkg{p:02d}/mod{m:02d}.py"
            path.write_text(path.read_text().replace("def f1(", "def f1_renamed("))
        (root / f"corpus/pkg{p:02d}/mod49.py").unlink()
    (root / "corpus/helpers.py").write_text("def helper_missing(x):\n    return x\n")


def index_clean(corpus: Path, data: Path) -> dict[str, Any]:
    code, out, err = run_cli("index", str(corpus), "--json", data_dir=data)
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    assert report["failed"] == 0
    return report


def kill_during_index(corpus: Path, data: Path, event: str, nth: int = 1) -> None:
    """Start ``codegraph index`` and SIGKILL it (and its workers) at the nth ``event``."""
    cmd = [sys.executable, "-m", "codegraph.cli", "--data-dir", str(data), "index",
           str(corpus), "--progress", "json", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=cli_env(), start_new_session=True)
    seen, events = 0, []
    deadline = time.monotonic() + 300
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            events.append(line.strip())
            if line.startswith("{") and json.loads(line)["event"] == event:
                seen += 1
                if seen == nth:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
            assert time.monotonic() < deadline, "index run did not reach the event"
    finally:
        if proc.poll() is None and seen < nth:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"finished before {event!r}: {events}"
    assert not any(e.startswith('{"event": "done"') for e in events), events


def mid_run_state(data: Path) -> tuple[int, int, int]:
    """(revision, stored files, dirty files) of the store left by the killed run."""
    code, out, err = run_cli("stats", "--json", data_dir=data)
    assert code == 0, err
    stats = json.loads(out)
    dump = dump_store(data)
    return stats["revision"], stats["files"], len(dump["dirty"])


def assert_same_store(recovered: Path, clean: Path) -> None:
    got, want = dump_store(recovered), dump_store(clean)
    assert got["dirty"] == {} and want["dirty"] == {}
    assert dangling_edges(got) == []
    assert mirrored_edges(got) and sited_edges(got)
    for cf in ("nodes", "out", "in", "names", "qnames", "files", "facts", "deps",
               "external_sites"):
        missing, extra = want[cf].keys() - got[cf].keys(), got[cf].keys() - want[cf].keys()
        assert (len(missing), len(extra)) == (0, 0), (cf, sorted(missing)[:3],
                                                      sorted(extra)[:3])
        assert got[cf] == want[cf], cf
    got_stats = run_json("stats", data_dir=recovered)
    want_stats = run_json("stats", data_dir=clean)
    for key in ("revision", "repositories"):
        got_stats.pop(key), want_stats.pop(key)
    assert got_stats == want_stats


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash") / "big"
    write_corpus(root)
    return root


@pytest.fixture(scope="module")
def clean_data(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("clean") / "data"
    report = index_clean(corpus, data)
    assert report["files"] == PACKAGES * (MODULES + 1) + 1
    return data


@pytest.mark.parametrize("event", ["parsed", "resolve", "resolved"])
def test_kill_during_cold_index(corpus: Path, clean_data: Path, tmp_path: Path,
                                event: str) -> None:
    """Killed after the first 200 files are parsed, when resolving starts, and after the
    first 500 files are resolved. A first index is a bulk load (index/bulk.py): killed
    while parsing, it has recorded no file yet; while resolving, every file is recorded
    and still dirty."""
    data = tmp_path / "data"
    kill_during_index(corpus, data, event)
    total = PACKAGES * (MODULES + 1) + 1
    revision, files, dirty = mid_run_state(data)
    assert revision >= 1  # the bulk load's marker, at least
    assert (files, dirty) == ((0, 0) if event == "parsed" else (total, total))
    report = index_clean(corpus, data)
    assert not (data / "rocksdb" / "bulk-spool").exists()  # what the killed run spooled is gone
    assert report["parsed"] == (total - files)
    assert_same_store(data, clean_data)
    # and the next run has nothing left to do
    report = index_clean(corpus, data)
    assert (report["parsed"], report["resolved"]) == (0, 0)


class Killed(Exception):
    """Stands for a kill -9 at one exact point of a run."""


def copy_corpus(corpus: Path, tmp_path: Path) -> Path:
    root = tmp_path / corpus.name  # the same repository name
    shutil.copytree(corpus, root)
    return root


def recorded_paths(dump: dict[str, dict[bytes, bytes]]) -> set[str]:
    return {key.split(b"\0", 1)[1].decode() for key in dump["files"]}


def unrecorded_paths(dump: dict[str, dict[bytes, bytes]]) -> list[str]:
    """Paths of the stored nodes that no file record covers (what a killed run left)."""
    paths = {Node.from_wire(k.hex(), unpack(v)).path for k, v in dump["nodes"].items()}
    return sorted(paths - recorded_paths(dump))


def rerun_without(root: Path, data: Path, gone: list[str], tmp_path: Path) -> dict[str, Any]:
    """Delete five of these files (whose data a killed run may have left), index again,
    and check the store against a clean index of what is left: nothing of the deleted
    files may stay behind."""
    gone = [path for path in gone if not path.endswith("__init__.py")]  # renames modules
    assert len(gone) >= 5
    for path in gone[:5]:
        (root / path).unlink()
    report = index_clean(root, data)
    clean = tmp_path / "clean"
    index_clean(root, clean)
    assert_same_store(data, clean)
    return report


@pytest.mark.parametrize("ingested", [("qnames", "nodes"), ("qnames", "nodes", "names",
                                                            "chunks", "facts")])
def test_first_index_killed_while_ingesting(corpus: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            ingested: tuple[str, ...]) -> None:
    """The state that a kill leaves between the ingestion of the parsed files' column
    families and the batch that records the files (too short a window to hit with a
    signal): the next run removes what was ingested, and indexes the repository again."""
    from codegraph.index.bulk import INGEST_FIRST, BulkLoad
    from codegraph.index.indexer import Indexer
    from codegraph.store.rocks import Store
    from codegraph.store.sst import ingest

    def ingest_then_die(load: BulkLoad) -> None:
        files = load.spool.finish()
        assert {cf for cf, _ in files} == {"qnames", "nodes", "names", "chunks", "facts"}
        ingest(load.store, [f for f in files if f[0] in ingested], first=INGEST_FIRST)
        raise Killed

    root, data = copy_corpus(corpus, tmp_path), tmp_path / "data"
    with Store.open(str(data / "rocksdb")) as store, monkeypatch.context() as patch:
        patch.setattr(BulkLoad, "finish_parse", ingest_then_die)
        with pytest.raises(Killed):
            Indexer(store, workers=2).index(str(root))
    left = dump_store(data)
    assert left["files"] == {} and len(left["nodes"]) > 1000  # data, but no file
    if "chunks" in ingested:
        assert left["chunks"] and left["facts"]
    report = rerun_without(root, data, unrecorded_paths(left), tmp_path)
    assert report["parsed"] == PACKAGES * (MODULES + 1) + 1 - 5
    assert not (data / "rocksdb" / "bulk-spool").exists()  # spooled files: none left behind


@pytest.mark.parametrize("point", ["after_ingesting", "after_recording"])
def test_first_index_killed_between_segments(corpus: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            point: str) -> None:
    """A first index parses in segments and records each one's files: killed at its third
    checkpoint (the segment's files ingested, or also recorded), it keeps what it recorded,
    and the next run removes the rest and goes on from there."""
    from codegraph.index import parsing
    from codegraph.index.bulk import INGEST_FIRST, BulkLoad
    from codegraph.index.indexer import Indexer
    from codegraph.store.rocks import Store
    from codegraph.store.sst import ingest

    checkpoints: list[int] = []  # files recorded by each
    real_record = BulkLoad._record

    def record_then_die(load: BulkLoad, done: bool) -> None:
        files = len(load._unrecorded)
        if len(checkpoints) < 2 or done:
            checkpoints.append(files)
            return real_record(load, done)
        if point == "after_ingesting":
            ingest(load.store, load.spool.finish(), first=INGEST_FIRST)
        else:
            real_record(load, done)
            checkpoints.append(files)
        raise Killed

    root, data = copy_corpus(corpus, tmp_path), tmp_path / "data"
    with Store.open(str(data / "rocksdb")) as store, monkeypatch.context() as patch:
        patch.setattr(parsing, "SEGMENT_BYTES", 200_000)  # about 15 segments
        patch.setattr(BulkLoad, "_record", record_then_die)
        with pytest.raises(Killed):
            Indexer(store, workers=2).index(str(root))
    left = dump_store(data)
    kept = len(left["files"])
    assert kept == sum(checkpoints) and len(checkpoints) in (2, 3) and kept > 0
    assert len(left["dirty"]) == kept  # recorded, and still to be resolved
    orphaned = unrecorded_paths(left)
    assert bool(orphaned) == (point == "after_ingesting")
    gone = orphaned or sorted({str(p.relative_to(root)) for p in root.rglob("*.py")}
                              - recorded_paths(left))
    report = rerun_without(root, data, gone, tmp_path)
    total = PACKAGES * (MODULES + 1) + 1 - 5
    assert (report["parsed"], report["resolved"]) == (total - kept, total)


@pytest.mark.parametrize("event", ["parsed", "resolve"])
def test_kill_during_incremental_index(tmp_path: Path, event: str) -> None:
    packages = 12  # 600 modules: enough to be killed mid-run, and faster
    root = tmp_path / "big"
    write_corpus(root, packages)
    data = tmp_path / "data"
    index_clean(root, data)
    edit_corpus(root, packages)
    kill_during_index(root, data, event)
    report = index_clean(root, data)
    # Killed at the end of parsing, the run may or may not have removed the four deleted
    # files (each its own small batch) before the signal landed; killed while resolving,
    # it had.
    assert report["deleted"] in ((packages // 3, 0) if event == "parsed" else (0,))
    clean = tmp_path / "clean"
    index_clean(root, clean)
    assert_same_store(data, clean)
    callers: list[dict[str, Any]] = []
    cursor = encode_cursor(0)
    while cursor:  # pages of at most CODEGRAPH_MAX_TOKENS, to the end
        page = run_json("callers", "corpus.helpers.helper_missing", "--limit", "500",
                        "--cursor", cursor, data_dir=data)
        callers, cursor = callers + page["results"], page["next_cursor"]
    assert len(callers) == packages * MODULES - packages // 3
