"""The embedding cache: vectors by model and chunk text, kept across runs, so that a chunk
is embedded again only when its text changed (or the model did).

In the ``embeddings`` column family (a model is ``provider/model``):

- ``model \\0 chunk hash`` -> the vector, float32 bytes;
- ``\\0idmap\\0 model \\0 chunk id`` -> the hash of the text whose vector the saved vector
  index holds for that chunk (the id map: what is embedded, and from what).

And in ``meta``, the last embedding run's failures and each model's last measured rate.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rocksdict import WriteBatch

from codegraph.store.codec import pack, unpack
from codegraph.store.keys import EMBED_FAILURES, EMBED_RATE, IDMAP, id_of

if TYPE_CHECKING:
    from codegraph.store.rocks import Store


def _vector_key(model: str, chunk_hash: str) -> bytes:
    return model.encode() + b"\0" + chunk_hash.encode()


def _idmap_prefix(model: str) -> bytes:
    return IDMAP + model.encode() + b"\0"


class EmbeddingCache:
    """A view of one store (``Store.embedding_cache``); writes go into the caller's batch,
    but for :meth:`record_failures`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- vectors ----------------------------------------------------------------------------
    def vectors(self, model: str, chunk_hashes: list[str]) -> list[bytes | None]:
        """The cached vector (float32 bytes) of each chunk text, or None."""
        return self._store._multi_get("embeddings",
                                      [_vector_key(model, h) for h in chunk_hashes])

    def vector(self, model: str, chunk_hash: str) -> bytes | None:
        return self._store._get("embeddings", _vector_key(model, chunk_hash))

    def put_vector(self, wb: WriteBatch, model: str, chunk_hash: str, vector: bytes) -> None:
        wb.put(_vector_key(model, chunk_hash), vector, self._store._handle["embeddings"])

    def vector_count(self) -> int:
        """How many vectors are cached, of every model."""
        return sum(1 for key in self._store._scan_keys("embeddings", b"")
                   if not key.startswith(b"\0"))

    # -- the id map -------------------------------------------------------------------------
    def embedded(self, model: str) -> dict[str, str]:
        """Chunk id -> the hash of the text its vector in the saved index was made from."""
        return {id_of(k): v.decode()
                for k, v in self._store._scan("embeddings", _idmap_prefix(model))}

    def put_embedded(self, wb: WriteBatch, model: str, chunk_id: str, chunk_hash: str) -> None:
        wb.put(_idmap_prefix(model) + bytes.fromhex(chunk_id), chunk_hash.encode(),
               self._store._handle["embeddings"])

    def delete_embedded(self, wb: WriteBatch, model: str, chunk_id: str) -> None:
        wb.delete(_idmap_prefix(model) + bytes.fromhex(chunk_id), self._store._handle["embeddings"])

    # -- failures ---------------------------------------------------------------------------
    def record_failures(self, failed: int, error: str) -> None:
        """Record the last run's failures (how many chunks, the error), committed at once."""
        wb = self._store.batch()
        wb.put(EMBED_FAILURES, pack([failed, error, time.time()]), self._store._handle["meta"])
        self._store.commit(wb, bump=False)

    # -- the model's measured rate ------------------------------------------------------------
    def record_rate(self, model: str, per_second: float) -> None:
        """Record how fast the model embedded in its last run (for the next run's ETA)."""
        wb = self._store.batch()
        wb.put(EMBED_RATE + model.encode(), pack([per_second, time.time()]),
               self._store._handle["meta"])
        self._store.commit(wb, bump=False)

    def rate(self, model: str) -> float | None:
        """Chunks per second the model embedded in its last measured run; None if never."""
        raw = self._store._get("meta", EMBED_RATE + model.encode())
        return float(unpack(raw)[0]) if raw else None

    def failures(self) -> tuple[int, str]:
        """The last run's failures: how many chunks, and the error ((0, "") if none)."""
        raw = self._store._get("meta", EMBED_FAILURES)
        if not raw:
            return 0, ""
        failed, error = unpack(raw)[:2]
        return failed, error
