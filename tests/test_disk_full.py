"""A full disk (a real one: a size-limited tmpfs): ``codegraph index`` stops with a user
error that says where and what to free, leaves no temporary files behind, and the store
opens again; once space is freed, the next run completes it like a clean index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codegraph.errors import DiskFull
from helpers import cli_env, one_line_error, run_cli, run_json
from mounts import fill, small_disk
from test_crash import assert_same_store, index_clean, write_corpus

MB = 1 << 20
PACKAGES = 12  # 613 files, 3.1 MB of source: a first index peaks at ~17 MB of data


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("full") / "corpus"
    write_corpus(root, PACKAGES)
    return root


@pytest.fixture(scope="module")
def clean_data(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("clean") / "data"
    index_clean(corpus, data)
    return data


def staging_left(data: Path) -> list[str]:
    """The temporary files of index runs found in a data directory."""
    patterns = ("rocksdb/bulk-spool/*", "lexical-stage/*", "faiss/*.tmp")
    return sorted(str(p.relative_to(data)) for pattern in patterns for p in data.glob(pattern))


def search_lexical(data: Path) -> list[str]:
    found = run_json("search", "run step base", "--mode", "lexical", "--limit", "20",
                     data_dir=data)
    return [hit["id"] for hit in found["results"]]


# Full while spooling the parsed files; the resolved ones; the same, with the lexical
# index writer's rows on the disk too.
@pytest.mark.parametrize("free_mb", [3, 8, 12])
def test_index_on_a_full_disk(corpus: Path, clean_data: Path, tmp_path: Path,
                              free_mb: int) -> None:
    with small_disk(tmp_path / "disk", 40) as disk:
        ballast = fill(disk, leave=free_mb * MB)
        data = disk / "data"
        code, out, err = run_cli("index", str(corpus), "--progress", "none", data_dir=data)
        line = one_line_error(code, err, "no space left on device", str(data), "MB free",
                              "this run needs about", "or move --data-dir to a larger disk")
        assert out == ""
        assert staging_left(data) == []
        assert run_json("stats", data_dir=data)["revision"] >= 1  # readers open it
        ballast.unlink()  # space freed: the next run completes what the first one began
        index_clean(corpus, data)
        assert_same_store(data, clean_data)
        assert search_lexical(data) == search_lexical(clean_data)
    # What the message says to free, with what was free, covers the run's peak (17 MB).
    assert free_mb + float(line.split(": free ")[1].split(" MB")[0]) >= 17


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("full") / "big"
    write_corpus(root)  # 1,531 files, 43 MB of data at the peak of a first index
    return root


def test_the_next_run_removes_what_a_killed_run_left_on_a_full_disk(
        big_corpus: Path, tmp_path: Path) -> None:
    """kill -9 late in the parse phase leaves megabytes of staged rows, and then the disk
    fills up. The next run opens the store all the same (RocksDB writes when it opens: the
    leftovers are removed first), and fails for lack of space with nothing left behind."""
    with small_disk(tmp_path / "disk", 64) as disk:
        data = disk / "data"
        cmd = [sys.executable, "-m", "codegraph.cli", "--data-dir", str(data), "index",
               str(big_corpus), "--progress", "json", "--workers", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env=cli_env())
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith('{"event": "parsed", "done": 1400,'):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(30)
        left = staging_left(data)
        assert sum(os.path.getsize(data / p) for p in left) > MB, left
        ballast = fill(disk)
        code, _, err = run_cli("index", str(big_corpus), "--progress", "none", data_dir=data)
        one_line_error(code, err, "no space left on device")
        assert staging_left(data) == []
        ballast.unlink()
        index_clean(big_corpus, data)
        clean = tmp_path / "clean"
        index_clean(big_corpus, clean)
        assert_same_store(data, clean)
        assert search_lexical(data) == search_lexical(clean)


def test_vector_index_save_on_a_full_disk(tmp_path: Path) -> None:
    """A save that does not fit raises DiskFull, leaves no temporary file, and the index
    saved before still loads."""
    from codegraph.search.vectors import VectorIndex

    with small_disk(tmp_path / "disk", 8) as disk:
        path = disk / "faiss"
        index = VectorIndex.open(path, provider="p", model="m", dimension=64)
        rows = np.random.default_rng(7).standard_normal((6000, 64)).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        index.add([f"{i:016x}" for i in range(1000)], rows[:1000])
        index.save(1)
        index.add([f"{i:016x}" for i in range(1000, 6000)], rows[1000:])  # 1.5 MB more
        fill(disk, leave=MB)
        with pytest.raises(DiskFull, match="no space left on device"):
            index.save(2)
        assert sorted(p.name for p in path.iterdir()) == ["index.faiss", "manifest.json"]
        assert VectorIndex.open(path, provider="p", model="m", dimension=64).count == 1000
