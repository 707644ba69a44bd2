"""The FAISS vector index: exact and IVF search, updates by id, persistence and crashes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codegraph.config import usable_cores
from codegraph.search import vectors
from codegraph.search.vectors import (
    INDEX_FILE,
    MANIFEST_FILE,
    VectorIndex,
    VectorIndexError,
    VectorIndexMismatch,
    configure_threads,
    to_chunk_id,
    to_label,
)

D = 32
META: dict[str, Any] = {"provider": "local", "model": "test-model", "dimension": D}
EDGE_IDS = ["ffffffffffffffff", "8000000000000000", "7fffffffffffffff", "0000000000000000",
            "fedcba9876543210"]


def unit_rows(rng: np.random.Generator, n: int, d: int = D) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def clustered(rng: np.random.Generator, n: int, d: int = D, clusters: int = 40) -> np.ndarray:
    """Embedding-like data: points around topic centres (cosine ~0.6 to their centre)."""
    centres = unit_rows(rng, clusters, d)
    x = centres[rng.integers(0, clusters, n)] + 0.2 * rng.standard_normal((n, d))
    out: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def make_ids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.choice(2**62, n, replace=False).astype(np.uint64) * np.uint64(4) + np.uint64(3)
    return [f"{int(v):016x}" for v in raw]  # the top bits set too


def brute(x: np.ndarray, ids: list[str], q: np.ndarray, k: int) -> list[tuple[str, float]]:
    scores = x @ q
    top = np.argsort(-scores)[:k]
    return [(ids[i], float(scores[i])) for i in top]


def open_index(path: Path, **kwargs: Any) -> VectorIndex:
    return VectorIndex.open(path, **{**META, **kwargs})


def assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def test_ids_round_trip_including_the_top_bit() -> None:
    for chunk_id in EDGE_IDS:
        assert to_chunk_id(to_label(chunk_id)) == chunk_id
        assert -(2**63) <= to_label(chunk_id) < 2**63
    assert to_label("ffffffffffffffff") == -1 and to_label("8000000000000000") == -(2**63)
    for bad in ("", "abc", "g" * 16, "1" * 17, "-fffffffffffffff", "0x12345678901234",
                "1_23456789abcdef", "FFFFFFFFFFFFFFFF"):
        with pytest.raises(ValueError):
            to_label(bad)


def test_flat_search_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, ids = unit_rows(rng, 2000), make_ids(rng, 2000)
    index = open_index(tmp_path)
    index.add(ids, x)
    assert (index.kind, index.count, len(index.ids())) == ("flat", 2000, 2000)
    for q in unit_rows(rng, 20):
        assert_same(index.search(q, 10), brute(x, ids, q, 10))
    assert len(index.search(x[0], 5000)) == 2000
    assert index.search(x[0], 0) == []
    np.testing.assert_array_equal(index.vector(ids[7]), x[7])
    assert index.vector("0123456789abcdef") is None and index.vector("nonsense") is None
    assert sorted(index.ids()) == sorted(ids) and ids[3] in index


def test_remove_and_replace(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x, ids = unit_rows(rng, 500), make_ids(rng, 500)
    index = open_index(tmp_path)
    index.add(ids, x)
    assert index.remove([*ids[:100], "0123456789abcdef", "bad"]) == 100
    assert index.count == 400 and index.vector(ids[0]) is None
    assert_same(index.search(x[0], 10), brute(x[100:], ids[100:], x[0], 10))
    new = unit_rows(rng, 2)
    index.add([ids[200], ids[300]], new)  # replaces: no duplicates
    assert index.count == 400
    np.testing.assert_array_equal(index.vector(ids[200]), new[0])
    hits = index.search(new[1], 3)
    assert hits[0][0] == ids[300] and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [i for i, _ in index.search(x[300], 400)].count(ids[300]) == 1
    assert index.remove([]) == 0


def test_bad_input_is_refused(tmp_path: Path) -> None:
    index = open_index(tmp_path)
    rows = unit_rows(np.random.default_rng(2), 2)
    with pytest.raises(ValueError, match="2 vectors of 32"):
        index.add(["a" * 16, "b" * 16], rows[:, :8])
    with pytest.raises(ValueError, match=r"1 vectors .* shape \(2, 32\)"):
        index.add(["a" * 16], rows)
    with pytest.raises(ValueError, match="finite"):
        index.add(["a" * 16, "b" * 16], np.full((2, D), np.nan))
    with pytest.raises(ValueError, match="duplicate"):
        index.add(["a" * 16, "a" * 16], rows)
    with pytest.raises(ValueError, match="16 lowercase hex"):
        index.add(["xyz", "b" * 16], rows)
    with pytest.raises(ValueError, match="dimensions"):
        index.search(rows[0][:5], 3)
    assert index.count == 0 and index.search(rows[0], 3) == []
    with pytest.raises(ValueError, match="HNSW"):
        open_index(tmp_path / "other", kind="hnsw")


def test_edge_ids_search_and_persist(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = unit_rows(rng, len(EDGE_IDS))
    index = open_index(tmp_path)
    index.add(EDGE_IDS, x)
    for i, chunk_id in enumerate(EDGE_IDS):
        assert index.search(x[i], 1)[0][0] == chunk_id
        np.testing.assert_array_equal(index.vector(chunk_id), x[i])
    assert index.search(x[0], 1, allowed={"ffffffffffffffff"})[0][0] == "ffffffffffffffff"
    index.save(1)
    again = open_index(tmp_path)
    assert sorted(again.ids()) == sorted(EDGE_IDS)
    assert_same(again.search(x[2], 5), brute(x, EDGE_IDS, x[2], 5))


def test_persistence_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    x, ids = unit_rows(rng, 300), make_ids(rng, 300)
    index = open_index(tmp_path / "faiss")
    assert sorted(p.name for p in (tmp_path / "faiss").iterdir()) == [INDEX_FILE, MANIFEST_FILE]
    index.add(ids, x)
    index.remove(ids[:10])
    index.save(7)
    manifest = json.loads((tmp_path / "faiss" / MANIFEST_FILE).read_text())
    assert {k: manifest[k] for k in ("provider", "model", "dimension", "kind", "count",
                                     "revision", "version")} == {
        **META, "kind": "flat", "count": 290, "revision": 7, "version": 1}
    again = open_index(tmp_path / "faiss")
    assert (again.revision, again.count) == (7, 290)
    assert sorted(again.ids()) == sorted(ids[10:])
    for q in unit_rows(rng, 5):
        assert_same(again.search(q, 10), index.search(q, 10))


def test_mismatch_is_refused_unless_reset(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    index = open_index(tmp_path)
    index.add(make_ids(rng, 10), unit_rows(rng, 10))
    index.save(3)
    with pytest.raises(VectorIndexMismatch, match=r"local/test-model .* not openai/other"):
        VectorIndex.open(tmp_path, provider="openai", model="other", dimension=D)
    with pytest.raises(VectorIndexMismatch, match="dimension 32"):
        VectorIndex.open(tmp_path, provider="local", model="test-model", dimension=64)
    assert open_index(tmp_path).count == 10  # refusing changed nothing
    fresh = VectorIndex.open(tmp_path, provider="openai", model="other", dimension=8,
                             reset=True)
    assert (fresh.count, fresh.revision, fresh.dimension) == (0, 0, 8)
    fresh.add(["00000000000000aa"], unit_rows(rng, 1, 8))
    fresh.save(4)
    with pytest.raises(VectorIndexMismatch):
        open_index(tmp_path)
    assert VectorIndex.open(tmp_path, provider="openai", model="other", dimension=8).count == 1


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_allowed_ids_filter(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    x, ids = clustered(rng, 3000), make_ids(rng, 3000)
    index = open_index(tmp_path, kind=kind)
    index.add(ids, x)
    assert index.kind == kind
    q = x[5]
    few = set(ids[::97])  # 31 ids: exact for both kinds
    keep = [i for i, c in enumerate(ids) if c in few]
    assert_same(index.search(q, 10, allowed=few), brute(x[keep], [ids[i] for i in keep], q, 10))
    assert index.search(q, 10, allowed=set()) == []
    assert index.search(q, 10, allowed={"0123456789abcdef", "junk"}) == []
    assert len(index.search(q, 50, allowed=set(ids[:3]))) == 3
    monkeypatch.setattr(vectors, "FILTER_EXACT_MAX", 100)  # the IVF's selector path
    half = set(ids[::2])
    keep = [i for i, c in enumerate(ids) if c in half]
    got = index.search(q, 10, allowed=half)
    assert {i for i, _ in got} <= half
    want = {i for i, _ in brute(x[keep], [ids[i] for i in keep], q, 10)}
    assert len({i for i, _ in got} & want) >= 9


def test_ivf_recall_updates_and_conversions(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n, dim = 4000, 64
    x, ids = clustered(rng, n, dim, clusters=60), make_ids(rng, n)
    meta = {**META, "dimension": dim}
    index = VectorIndex.open(tmp_path, **meta, threshold=2000)
    index.add(ids[:1500], x[:1500])
    assert index.kind == "flat"
    index.add(ids[1500:], x[1500:])  # crosses the threshold: trained automatically
    assert index.kind == "ivf" and index.count == n
    queries = x[rng.choice(n, 50)] + 0.05 * rng.standard_normal((50, dim)).astype(np.float32)
    recall = np.mean([len({i for i, _ in index.search(q, 10)} & {i for i, _ in brute(
        x, ids, q, 10)}) / 10 for q in queries])
    assert recall >= 0.9, recall
    index.save(2)
    again = VectorIndex.open(tmp_path, **meta, threshold=2000)
    assert again.kind == "ivf" and json.loads((tmp_path / MANIFEST_FILE).read_text())[
        "kind"] == "ivf"
    assert again.search(queries[0], 10) == index.search(queries[0], 10)
    np.testing.assert_array_equal(again.vector(ids[9]), x[9])
    assert again.remove(ids[:1500]) == 1500 and again.kind == "ivf"  # 2500 > 2000 / 2
    assert again.vector(ids[0]) is None and again.count == 2500
    assert all(i not in set(ids[:1500]) for i, _ in again.search(x[0], 50))
    again.add([ids[2000]], x[:1])  # replace inside the IVF
    assert again.count == 2500 and again.search(x[0], 1)[0][0] in {ids[0], ids[2000]}
    assert again.remove(ids[1500:2600]) == 1100 and again.kind == "ivf"  # 1400 > 1000
    assert again.remove(ids[2600:3100]) == 500 and again.kind == "flat"  # 900 <= 1000
    assert_same(again.search(x[3500], 10), brute(x[3100:], ids[3100:], x[3500], 10))
    forced = VectorIndex.open(tmp_path / "forced", **meta, kind="ivf")
    forced.add(ids[:1200], x[:1200])
    assert forced.kind == "ivf"  # forced: from MIN_IVF vectors, whatever the threshold


def test_corrupt_files_are_refused_clearly(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    index = open_index(tmp_path)
    index.add(make_ids(rng, 200), unit_rows(rng, 200))
    index.save(1)
    data = (tmp_path / INDEX_FILE).read_bytes()
    (tmp_path / INDEX_FILE).write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    with pytest.raises(VectorIndexError, match="corrupt or does not match"):
        open_index(tmp_path)
    (tmp_path / INDEX_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(VectorIndexError, match="corrupt"):
        open_index(tmp_path)
    (tmp_path / INDEX_FILE).write_bytes(data)
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(VectorIndexError, match=r"does not match manifest\.json"):
        open_index(tmp_path)
    (tmp_path / INDEX_FILE).unlink()
    with pytest.raises(VectorIndexError, match="cannot read"):
        open_index(tmp_path)
    assert open_index(tmp_path, reset=True).count == 0


def test_saves_leave_no_temp_files_and_ignore_stale_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    x, ids = unit_rows(rng, 100), make_ids(rng, 100)
    index = open_index(tmp_path)
    index.add(ids, x)
    index.save(1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX_FILE, MANIFEST_FILE]
    # A save that crashed before its replaces: a truncated index and a manifest in temps.
    (tmp_path / f"{INDEX_FILE}.999-dead.tmp").write_bytes(
        (tmp_path / INDEX_FILE).read_bytes()[:50])
    (tmp_path / f"{MANIFEST_FILE}.999-dead.tmp").write_text('{"revision": 99')
    again = open_index(tmp_path)
    assert (again.revision, again.count) == (1, 100)
    again.save(2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX_FILE, MANIFEST_FILE]


def test_crash_between_the_two_replaces_uses_the_pending_manifest(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    x, ids = unit_rows(rng, 100), make_ids(rng, 100)
    old, new = tmp_path / "old", tmp_path / "new"
    index = open_index(old)
    index.add(ids[:50], x[:50])
    index.save(1)
    shutil.copytree(old, new)
    index.add(ids[50:], x[50:])
    index.save(2)
    # new/ = revision 1 + the new index file replaced, the new manifest still pending
    shutil.copy(old / INDEX_FILE, new / INDEX_FILE)
    shutil.copy(old / MANIFEST_FILE, new / f"{MANIFEST_FILE}.1234-abcd.tmp")
    recovered = open_index(new)
    assert (recovered.revision, recovered.count) == (2, 100)
    (new / f"{MANIFEST_FILE}.1234-abcd.tmp").unlink()
    with pytest.raises(VectorIndexError, match="does not match"):
        open_index(new)


CHILD = textwrap.dedent("""
    import sys, numpy as np
    from codegraph.search.vectors import VectorIndex
    index = VectorIndex.open(sys.argv[1], provider="local", model="test-model", dimension=64)
    rng = np.random.default_rng(int(sys.argv[2]))
    for revision in range(index.revision + 1, 10_000):
        x = rng.standard_normal((1000, 64)).astype(np.float32)
        ids = [f"{revision:08x}{i:08x}" for i in range(1000)]
        index.add(ids, x / np.linalg.norm(x, axis=1, keepdims=True))
        index.save(revision)
        print(revision, flush=True)
""")


def test_kill_9_during_saves_leaves_a_consistent_index(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(vectors.__file__).parents[2])}
    for round_ in range(4):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(round_)],
                                 stdout=subprocess.PIPE, env=env, text=True)
        assert child.stdout is not None
        child.stdout.readline()  # at least one save is done; now kill it mid-run
        time.sleep(0.05 + 0.07 * round_)
        child.send_signal(signal.SIGKILL)
        child.wait()
        index = VectorIndex.open(tmp_path, provider="local", model="test-model", dimension=64)
        assert index.revision >= 1
        assert index.count == 1000 * index.revision  # every save is a whole revision
        assert {i[:8] for i in index.ids()} == {f"{r:08x}" for r in
                                                range(1, index.revision + 1)}


def test_threads() -> None:
    """FAISS runs on the configured workers (CODEGRAPH_WORKERS), else the usable cores."""
    assert configure_threads(1) == 1
    assert vectors.faiss.omp_get_max_threads() == 1
    assert configure_threads(3) == 3 and vectors.faiss.omp_get_max_threads() == 3
    assert configure_threads() == usable_cores()


def test_readers_opening_during_saves_always_see_a_whole_index(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    writer = open_index(tmp_path)
    errors: list[Exception] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                index = open_index(tmp_path)
                assert index.count == 50 * index.revision
            except Exception as exc:  # reported below
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for revision in range(1, 40):
            writer.add(make_ids(rng, 50), unit_rows(rng, 50))
            writer.save(revision)
    finally:
        done.set()
        reader.join()
    assert not errors, errors[:3]
