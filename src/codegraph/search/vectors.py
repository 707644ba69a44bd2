"""The FAISS vector index of chunk embeddings (L2-normalised: inner product = cosine).

Labels are the chunk ids (16 hex digits) as signed 64-bit integers. Up to ``threshold``
vectors the index is exact (``IndexIDMap2(IndexFlatIP)``); beyond, an ``IndexIVFFlat``
(about 4*sqrt(n) lists, retrained when the count changes 4-fold), which removes by id in
place: HNSW cannot, and incremental indexing removes or replaces chunks on every change.

On disk: ``index.faiss`` and ``manifest.json``, which also records the ids held and the
index file's size and CRC-32: open checks them before FAISS parses a byte, and after a
crash between a save's two replaces it uses the pending manifest that matches the new
index file.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import re
import secrets
import threading
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from codegraph import config
from codegraph.durable import fsync_dir
from codegraph.errors import DiskFull, is_disk_full
from codegraph.errors import VectorIndexError as VectorIndexError  # re-exported
from codegraph.search.vector_manifest import INDEX_FILE as INDEX_FILE  # re-exported
from codegraph.search.vector_manifest import MANIFEST_FILE as MANIFEST_FILE  # re-exported
from codegraph.search.vector_manifest import VectorManifest, encode_ids

# faiss-cpu ships partial type stubs that lack most of its API: use it untyped.
faiss: Any = importlib.import_module("faiss")

FORMAT_VERSION = 1
APPROX_THRESHOLD = 100_000  # "auto" is exact up to this many vectors
MIN_IVF = 1_000  # fewer vectors are always searched exactly
FILTER_EXACT_MAX = 10_000  # an IVF search restricted to at most this many ids is exact
KINDS = ("auto", "flat", "ivf")
_HEX16 = re.compile(r"[0-9a-f]{16}")

Vectors = npt.NDArray[np.float32]
Hits = list[tuple[str, float]]


class VectorIndexMismatch(VectorIndexError):
    """The stored index holds vectors of another provider, model, dimension or format."""


class VectorIndexFull(VectorIndexError, DiskFull):
    """No space left to save the vector index."""


def configure_threads(threads: int | None = None) -> int:
    """Set FAISS's OpenMP threads: ``threads`` (``CODEGRAPH_WORKERS``), else the usable
    cores."""
    threads = threads or config.usable_cores()
    faiss.omp_set_num_threads(threads)
    return threads


def to_label(chunk_id: str) -> int:
    """A chunk id (16 lowercase hex digits) as a signed 64-bit FAISS label."""
    if not isinstance(chunk_id, str) or not _HEX16.fullmatch(chunk_id):
        raise ValueError(f"a chunk id is 16 lowercase hex digits, got {chunk_id!r}")
    value = int(chunk_id, 16)
    return value - 2**64 if value >= 2**63 else value


def to_chunk_id(label: int) -> str:
    return f"{label & (2**64 - 1):016x}"


def nlist_for(count: int) -> int:
    """IVF lists: about 4*sqrt(n), with at least 39 training points per list."""
    return max(1, min(int(4 * math.sqrt(count)), count // 39))


def nprobe_for(nlist: int) -> int:
    return min(nlist, max(16, nlist // 8))


class VectorIndex:
    """Chunk vectors searchable by inner product (see the module docstring). Methods are
    serialised by a lock, so one instance can serve several threads."""

    def __init__(self, path: Path, manifest: dict[str, Any], index: Any, kind: str,
                 threshold: int, threads: int | None = None) -> None:
        self.path, self.requested_kind, self.threshold = path, kind, threshold
        self.provider: str = manifest["provider"]
        self.model: str = manifest["model"]
        self.dimension: int = manifest["dimension"]
        self.revision: int = manifest.get("revision", 0)
        self._trained: int = manifest.get("trained_count", 0)
        self._index = index
        self._lock = threading.RLock()
        # Bulk work (training, adds, conversions) uses the workers; a single query is one
        # thread: it takes a few ms, and OpenMP threads that share cores with other work
        # made it 3-30x slower (flat 100k x 384 at load 6: 9.8 ms p50 on 1 thread, 32 on 2).
        self.threads, self.search_threads = configure_threads(threads), 1
        self._labels: set[int] = set(_labels_of(index).tolist())
        self.nprobe = nprobe_for(index.nlist) if self.kind == "ivf" else 0
        self._convert_if_needed()

    @classmethod
    def open(cls, path: str | Path, *, provider: str, model: str, dimension: int,
             kind: str = "auto", threshold: int = APPROX_THRESHOLD,
             reset: bool = False, threads: int | None = None) -> VectorIndex:
        """Load the index stored in ``path``, or create an empty one there. A stored index
        of another provider, model, dimension or format raises :class:`VectorIndexMismatch`.
        ``reset=True`` ignores whatever is stored (mismatched, corrupt or not) and starts
        empty; the files are replaced at the next :meth:`save`."""
        if kind not in KINDS:
            raise ValueError(f"vector index kind must be one of {', '.join(KINDS)}, got "
                             f"{kind!r} (HNSW is not offered: it cannot remove vectors)")
        if dimension < 1:
            raise ValueError(f"dimension must be positive, got {dimension}")
        base = Path(path)
        wanted = {"provider": provider, "model": model, "dimension": dimension,
                  "version": FORMAT_VERSION}
        if reset or not ((base / MANIFEST_FILE).exists() or (base / INDEX_FILE).exists()):
            empty = cls(base, {**wanted, "kind": "flat", "count": 0, "revision": 0},
                        _flat(dimension), kind, threshold, threads)
            if not reset:
                with contextlib.suppress(VectorIndexError):  # read-only: not persisted
                    empty.save(0)
            return empty
        saved, index = _load(base)
        manifest = saved.fields
        stored = {k: manifest.get(k) for k in wanted}
        if stored != wanted:
            raise VectorIndexMismatch(
                f"the vector index in {base} holds {stored['provider']}/{stored['model']} "
                f"vectors of dimension {stored['dimension']} (format {stored['version']}), "
                f"not {provider}/{model} of dimension {dimension} (format {FORMAT_VERSION}): "
                "re-embed with reset=True, or delete the directory")
        if index.d != dimension or index.ntotal != manifest.get("count"):
            raise VectorIndexError(f"{base / INDEX_FILE} does not match {MANIFEST_FILE} "
                                   f"(dimension {index.d}, {index.ntotal} vectors)")
        return cls(base, manifest, index, kind, threshold, threads)

    @property
    def kind(self) -> str:
        """The structure in use: "flat" (exact) or "ivf" (approximate)."""
        return "ivf" if isinstance(self._index, faiss.IndexIVFFlat) else "flat"

    @property
    def count(self) -> int:
        return len(self._labels)

    def __contains__(self, chunk_id: object) -> bool:
        return isinstance(chunk_id, str) and _label_or_none(chunk_id) in self._labels

    def ids(self) -> list[str]:
        with self._lock:
            return [to_chunk_id(label) for label in self._labels]

    def vector(self, chunk_id: str) -> Vectors | None:
        """A copy of the stored vector of a chunk, or None."""
        label = _label_or_none(chunk_id)
        with self._lock:
            if label not in self._labels:
                return None
            row: Vectors = np.asarray(self._index.reconstruct(label), dtype=np.float32)
            return row

    def search(self, vector: npt.ArrayLike, k: int, allowed: Iterable[str] | None = None
               ) -> Hits:
        """The ``k`` nearest chunks by inner product, best first, as (chunk id, score);
        ``allowed`` keeps only those chunk ids (exact unless the IVF is in use and more
        than FILTER_EXACT_MAX of them are present)."""
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.dimension:
            raise ValueError(f"the query has {query.shape[1]} dimensions, the index "
                             f"{self.dimension}")
        with self._lock:
            faiss.omp_set_num_threads(self.search_threads)
            try:
                return self._search_locked(query, k, allowed)
            finally:
                faiss.omp_set_num_threads(self.threads)

    def _search_locked(self, query: Vectors, k: int, allowed: Iterable[str] | None) -> Hits:
        ivf = self.kind == "ivf"
        if allowed is None:
            params = faiss.SearchParametersIVF(nprobe=self.nprobe) if ivf else None
            return self._search(query, min(k, self.count), params)
        labels = np.array([lb for lb in _labels(allowed) if lb in self._labels], np.int64)
        want = min(k, labels.size)
        if not ivf:
            sel = faiss.IDSelectorBatch(labels)
            return self._search(query, want, faiss.SearchParameters(sel=sel))
        if labels.size > FILTER_EXACT_MAX:
            sel = faiss.IDSelectorBatch(labels)
            hits = self._search(query, want, faiss.SearchParametersIVF(sel=sel,
                                                                       nprobe=self.nprobe))
            if len(hits) == want:
                return hits  # else too few allowed ids in the probed lists: exact
        if want < 1:
            return []
        rows = self._index.reconstruct_batch(labels)
        scores, rank = faiss.knn(query, rows, want, metric=faiss.METRIC_INNER_PRODUCT)
        return [(to_chunk_id(int(labels[i])), float(s)) for s, i in zip(scores[0], rank[0],
                                                                        strict=True)]

    def add(self, ids: list[str], vectors: npt.ArrayLike) -> None:
        """Add one vector per chunk id, replacing those already present."""
        rows = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if rows.shape != (len(ids), self.dimension):
            raise ValueError(f"expected {len(ids)} vectors of {self.dimension} dimensions, "
                             f"got shape {rows.shape}")
        if not np.isfinite(rows).all():
            raise ValueError("vectors must be finite (no NaN or infinity)")
        labels = np.array([to_label(i) for i in ids], dtype=np.int64)
        if len(set(labels.tolist())) != len(ids):
            raise ValueError("duplicate chunk ids in one add")
        with self._lock:
            self._remove_labels([lb for lb in labels.tolist() if lb in self._labels])
            self._index.add_with_ids(rows, labels)
            self._labels.update(labels.tolist())
            self._convert_if_needed()

    def remove(self, ids: Iterable[str]) -> int:
        """Remove vectors by chunk id (absent ids are ignored); returns how many went."""
        with self._lock:
            present = {lb for lb in map(_label_or_none, ids) if lb in self._labels}
            self._remove_labels(list(present))
            self._convert_if_needed()
            return len(present)

    def save(self, revision: int) -> None:
        """Persist atomically, recording the store ``revision`` the vectors reflect."""
        with self._lock:
            token = f"{os.getpid()}-{secrets.token_hex(4)}.tmp"
            tmp_index = self.path / f"{INDEX_FILE}.{token}"
            tmp_manifest = self.path / f"{MANIFEST_FILE}.{token}"
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                for stale in _temp_files(self.path, INDEX_FILE):  # a crashed save's: useless
                    stale.unlink(missing_ok=True)
                with tmp_index.open("wb") as f:
                    size, crc = _write_index(self._index, f)
                manifest = VectorManifest({
                    "provider": self.provider, "model": self.model,
                    "dimension": self.dimension, "kind": self.kind, "count": self.count,
                    "revision": revision, "version": FORMAT_VERSION,
                    "trained_count": self._trained, "index_bytes": size, "index_crc32": crc,
                    "ids": self._ids_text()})
                with tmp_manifest.open("wb") as f:
                    f.write(manifest.to_json())
                    f.flush()
                    os.fsync(f.fileno())
                fsync_dir(self.path)
                os.replace(tmp_index, self.path / INDEX_FILE)
                os.replace(tmp_manifest, self.path / MANIFEST_FILE)  # the commit point
                fsync_dir(self.path)
            except OSError as exc:
                for tmp in (tmp_index, tmp_manifest):
                    tmp.unlink(missing_ok=True)
                if is_disk_full(exc):
                    raise VectorIndexFull(str(self.path)) from exc
                raise VectorIndexError(f"cannot save the vector index in {self.path}: "
                                       f"{exc}") from exc
            self.revision = revision
            for stale in _temp_files(self.path):  # left by crashed saves: obsolete now
                stale.unlink(missing_ok=True)

    def _ids_text(self) -> str:
        """The ids held, for the manifest: each chunk id's 8 bytes (its label, big-endian),
        in order, in base64 (1.1 MB for 100k vectors): what the saved index holds, read
        without loading it (SearchService.coverage)."""
        labels = np.fromiter(self._labels, dtype=np.int64, count=len(self._labels))
        return encode_ids(np.sort(labels).astype(">i8").tobytes())

    def _search(self, query: Vectors, k: int, params: Any) -> Hits:
        if k < 1:
            return []
        scores, labels = self._index.search(query, k, params=params)
        # FAISS pads missing results with label -1 and score -FLT_MAX; -1 is also the label
        # of the chunk id ffffffffffffffff, told apart by its real score.
        return [(to_chunk_id(int(lb)), float(s)) for s, lb in zip(scores[0], labels[0],
                                                                   strict=True)
                if lb != -1 or s > -1e30]

    def _remove_labels(self, labels: list[int]) -> None:
        if labels:
            array = np.array(labels, dtype=np.int64)
            # The IVF's id hashtable removes only by IDSelectorArray; the flat IDMap tests
            # every stored id against the selector, so it needs the hashed IDSelectorBatch.
            self._index.remove_ids(faiss.IDSelectorArray(array) if self.kind == "ivf"
                                   else faiss.IDSelectorBatch(array))
            self._labels.difference_update(labels)

    def _target_kind(self) -> str:
        n, kind = self.count, self.requested_kind
        if kind == "flat" or n < MIN_IVF:
            return "flat"
        limit = self.threshold // 2 if self.kind == "ivf" else self.threshold  # hysteresis
        return "ivf" if kind == "ivf" or n > limit else "flat"

    def _convert_if_needed(self) -> None:
        target, n = self._target_kind(), self.count
        trained = self._trained // 4 <= n <= 4 * self._trained
        if target == self.kind and (target == "flat" or trained):
            return
        labels = np.fromiter(self._labels, dtype=np.int64, count=n)
        rows = self._index.reconstruct_batch(labels) if n else np.zeros((0, self.dimension))
        if target == "flat":
            index, self._trained, self.nprobe = _flat(self.dimension), 0, 0
        else:
            nlist = nlist_for(n)
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dimension), self.dimension,
                                       nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.max_points_per_centroid = 64  # k-means on a sample of 64 per list
            index.train(rows)
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            self._trained, self.nprobe = n, nprobe_for(nlist)
        index.add_with_ids(np.ascontiguousarray(rows, dtype=np.float32), labels)
        self._index = index


def _flat(dimension: int) -> Any:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def _label_or_none(chunk_id: str) -> int | None:
    try:
        return to_label(chunk_id)
    except ValueError:
        return None


def _labels(ids: Iterable[str]) -> list[int]:
    """The labels of the valid chunk ids among ``ids`` (fast for many valid ids)."""
    ids = list(ids)
    try:
        raw = bytes.fromhex("".join(ids))  # skips whitespace: then the length is short
        if len(raw) == 8 * len(ids) and all(len(i) == 16 for i in ids):
            labels: list[int] = np.frombuffer(raw, dtype=">i8").tolist()
            return labels
    except (TypeError, ValueError):
        pass
    return [lb for lb in map(_label_or_none, ids) if lb is not None]


def _labels_of(index: Any) -> npt.NDArray[np.int64]:
    if isinstance(index, faiss.IndexIDMap2):
        out: npt.NDArray[np.int64] = faiss.vector_to_array(index.id_map).astype(np.int64)
        return out
    lists = index.invlists
    parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).astype(np.int64)
             for i in range(index.nlist) if lists.list_size(i)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _write_index(index: Any, f: BinaryIO) -> tuple[int, int]:
    state = [0, 0]  # size, CRC-32

    def write(chunk: bytes) -> None:
        f.write(chunk)
        state[:] = state[0] + len(chunk), zlib.crc32(chunk, state[1])

    faiss.write_index(index, faiss.PyCallbackIOWriter(write))
    f.flush()
    os.fsync(f.fileno())
    return state[0], state[1]


def _load(base: Path, attempts: int = 5) -> tuple[VectorManifest, Any]:
    """The manifest and index of ``base``, checked against each other first. A reader
    racing saves may see an index file whose manifest is not (or no longer) there: it
    tries again."""
    for attempt in range(attempts):
        time.sleep(0.01 * (2**attempt - 1))
        try:
            f = (base / INDEX_FILE).open("rb")
        except OSError as exc:
            raise VectorIndexError(f"cannot read the vector index {base / INDEX_FILE}: "
                                   f"{exc} (open it with reset=True to rebuild it)") from exc
        with f:
            size, crc = 0, 0
            while chunk := f.read(1 << 20):
                size, crc = size + len(chunk), zlib.crc32(chunk, crc)
            # The committed manifest, or a pending one if a save crashed between replaces.
            for candidate in [base / MANIFEST_FILE, *sorted(_temp_files(base, MANIFEST_FILE))]:
                with contextlib.suppress(OSError, ValueError):
                    manifest = VectorManifest.read(candidate)
                    if (manifest.index_bytes, manifest.index_crc32) == (size, crc):
                        break
            else:
                if attempt + 1 < attempts:
                    continue
                raise VectorIndexError(
                    f"the vector index {base / INDEX_FILE} is corrupt or does not match "
                    f"{MANIFEST_FILE} ({size} bytes, CRC-32 {crc:#010x}): open it with "
                    "reset=True (or delete the directory) to rebuild it from the chunks")
            f.seek(0)
            try:
                index = faiss.read_index(faiss.PyCallbackIOReader(f.read))
            except RuntimeError as exc:
                raise VectorIndexError(f"FAISS cannot read {base / INDEX_FILE}: {exc}") from exc
        if not isinstance(index, faiss.IndexIDMap2 | faiss.IndexIVFFlat):
            raise VectorIndexError(f"{base / INDEX_FILE} holds a {type(index).__name__}, "
                                   "not a CodeGraph vector index")
        if isinstance(index, faiss.IndexIVFFlat) and index.direct_map.type != 2:
            index.set_direct_map_type(faiss.DirectMap.Hashtable)  # 2 = Hashtable
        return manifest, index
    raise AssertionError("unreachable")


def _temp_files(base: Path, prefix: str | None = None) -> list[Path]:
    return [p for n in ((prefix,) if prefix else (INDEX_FILE, MANIFEST_FILE))
            for p in base.glob(f"{n}.*.tmp")]
