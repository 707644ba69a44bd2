"""One embedding run: bring the vector index in step with the stored chunks.

What it embeds: the chunks of one repository (or all) that ``CODEGRAPH_EMBED_EXCLUDE``
does not leave out, whose vector is missing or was made from other text, in the order of
``in_order`` (the most-called definitions first, then source before tests). Vectors come from
the embedding cache when the text was embedded before, else from the model.

What it keeps: the vector index is saved (committed) every few seconds of work, and the
id map records what each save holds, so Ctrl-C, SIGTERM or kill -9 lose at most those
seconds: the next run goes on from the last save. A run stopped by its ``progress``
callback (a cancelled job) or an exception saves what it made before it stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codegraph.graph.model import EdgeKind
from codegraph.search.chunks import Chunk
from codegraph.search.fusion import is_test_path

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from codegraph.search.embeddings import Embedder
    from codegraph.search.service import SearchService
    from codegraph.search.vectors import VectorIndex

Progress = Callable[[dict[str, Any]], None]
EMBED_BATCH = 32  # chunks per step: a step's vectors are added to the index together
SAVE_SECONDS = 2.0  # work between two saves of the vector index...
SAVE_SHARE = 0.05  # ...or longer, so that saving takes at most this share of the run
RATE_WINDOW = 30.0  # seconds of recent work the reported rate is measured over
MIN_RATED = 8  # chunks a run embeds before its rate is kept for the next estimate
ORDER_TICK = 2000  # chunks ordered between two points where a run may stop


@dataclass(slots=True)
class EmbedReport:
    provider: str
    model: str
    repo: str | None = None
    total: int = 0  # chunks in scope
    excluded: int = 0  # left out by CODEGRAPH_EMBED_EXCLUDE
    embedded: int = 0  # computed by the model in this run
    cached: int = 0  # taken from the embedding cache
    removed: int = 0
    failed: int = 0
    error: str = ""
    seconds: float = 0.0
    rate: float = 0.0  # chunks per second the model embedded in this run

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class _ProviderFailed(Exception):
    """The embedding provider failed (or answered nonsense): the run stops, reports it."""


class Rate:
    """Chunks per second over the last ``RATE_WINDOW`` seconds of work, and the time left."""

    def __init__(self) -> None:
        self._marks: list[tuple[float, int]] = [(time.monotonic(), 0)]

    def update(self, done: int) -> None:
        now = time.monotonic()
        self._marks.append((now, done))
        while len(self._marks) > 2 and now - self._marks[1][0] > RATE_WINDOW:
            self._marks.pop(0)

    @property
    def per_second(self) -> float:
        (t0, d0), (t1, d1) = self._marks[0], self._marks[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 and d1 > d0 else 0.0

    def eta(self, left: int) -> float | None:
        rate = self.per_second
        return round(left / rate, 1) if rate else None


@dataclass(slots=True)
class Scope:
    chunks: list[Chunk]  # to embed: the run's repository's (or all), not excluded
    excluded: int  # of the run's repository's, left out by the patterns
    kept: set[str]  # the ids of every chunk that may keep a vector (any repository's)


def scope(service: SearchService, repo: str | None) -> Scope:
    """One pass over the stored chunks: the run's, those excluded, those that keep their
    vectors."""
    patterns = service.exclusions
    out = Scope([], 0, set())
    for chunk in service.chunks():
        if patterns.excluded(chunk.path):
            out.excluded += repo is None or chunk.repo == repo
            continue
        out.kept.add(chunk.id)
        if repo is None or chunk.repo == repo:
            out.chunks.append(chunk)
    return out


def in_order(service: SearchService, chunks: list[Chunk],
             tick: Callable[[], None] | None = None) -> list[Chunk]:
    """The most-called definitions first (a test helper called from 300 tests is worth
    finding early too); among those called as often (most: never), source before tests.
    ``tick`` is called every ``ORDER_TICK`` chunks (it may raise to stop: 1.4 s for 41k
    chunks)."""
    store = service.store
    callers: dict[str, int] = {}
    for n, c in enumerate(chunks):
        if tick is not None and n and n % ORDER_TICK == 0:
            tick()
        if c.node_id not in callers:
            callers[c.node_id] = len(store.edges(c.node_id, incoming=True,
                                                 kinds=(EdgeKind.CALLS,)))
    return sorted(chunks, key=lambda c: (-callers[c.node_id], is_test_path(c.path), c.repo,
                                         c.path, c.line))


def last_rate(service: SearchService, model_key: str) -> float | None:
    rate = service.store.embedding_cache.rate(model_key)
    return rate if rate and rate > 0 else None


class EmbeddingRun:
    def __init__(self, service: SearchService, progress: Progress | None, repo: str | None,
                 batch: int = EMBED_BATCH) -> None:
        self.service, self.progress, self.repo, self.batch = service, progress, repo, batch
        self.embedder: Embedder = service.embedder()
        self.model_key = f"{self.embedder.provider}/{self.embedder.model}"
        self.report = EmbedReport(self.embedder.provider, self.embedder.model, repo)
        self.unsaved: list[Chunk] = []  # added to the index since its last save
        self.saved = 0
        self._last_save = time.monotonic()
        self._save_cost = 0.0
        self._model_seconds = 0.0

    def run(self) -> EmbedReport:
        started = time.monotonic()
        report = self.report
        chosen = scope(self.service, self.repo)
        report.total, report.excluded = len(chosen.chunks), chosen.excluded
        try:
            self.embedder.dimension  # noqa: B018 (the openai provider may ask its server)
        except Exception as exc:  # a provider failure: nothing stored, the index untouched
            report.failed, report.error = report.total, f"{type(exc).__name__}: {exc}"
            self._finish(started)
            return report
        vectors = self.service.vectors(for_writing=True)
        todo = self._todo(vectors, chosen)
        if self.progress:
            self.progress({"event": "embed", "repo": self.repo, "total": len(todo),
                           "chunks": report.total, "excluded": report.excluded,
                           "provider": report.provider, "model": report.model,
                           "eta_seconds": self._estimate(len(todo))})
        progress = self.progress
        tick = (lambda: progress({"event": "tick"})) if progress is not None else None
        ordered = in_order(self.service, todo, tick)
        embedding = time.monotonic()
        try:
            self._embed(vectors, ordered)
        finally:  # a cancelled or failed run keeps what it made
            self._model_seconds = time.monotonic() - embedding
            self._save(vectors)
            self.embedder.release_memory()  # the batches' buffers, back to the system
            self._finish(started)
        return report

    def _estimate(self, count: int) -> float | None:
        rate = last_rate(self.service, self.model_key)
        return round(count / rate, 1) if rate and count else (0.0 if not count else None)

    def _todo(self, vectors: VectorIndex, chosen: Scope) -> list[Chunk]:
        """Drop the vectors of chunks gone, changed or excluded (any repository's); return
        the chunks of this run that need one."""
        store, cache = self.service.store, self.service.store.embedding_cache
        embedded = cache.embedded(self.model_key)
        chunks = chosen.chunks
        wanted = {c.id: c for c in chunks}
        stale = [i for i, h in embedded.items()
                 if i not in chosen.kept or (i in wanted and wanted[i].hash != h)]
        stale += [i for i in vectors.ids() if i not in embedded]
        if stale:
            with self.service.lock:
                self.report.removed = vectors.remove(stale)
            wb = store.batch()
            for i in stale:
                cache.delete_embedded(wb, self.model_key, i)
            store.commit(wb, bump=False)
            with self.service.lock:
                vectors.save(store.revision)
        # Also any chunk missing from the index although the id map has it (an index just
        # reset for another model, or deleted): its vector comes back from the cache.
        return [c for c in chunks if embedded.get(c.id) != c.hash or c.id in stale
                or c.id not in vectors]

    def _embed(self, vectors: VectorIndex, todo: list[Chunk]) -> None:
        progress = self.progress
        # Between two model runs: where a cancellation (raised by ``progress``) stops a run.
        between = (lambda: progress({"event": "tick"})) if progress else None
        rate = Rate()
        for start in range(0, len(todo), self.batch):
            part = todo[start:start + self.batch]
            try:
                found = self._vectors_for(part, between)
            except _ProviderFailed as exc:  # nothing stored in the index for this batch
                self.report.failed = len(todo) - start
                self.report.error = str(exc)
                return
            with self.service.lock:
                vectors.add([c.id for c in part], found)
            self.unsaved += part
            if self._save_due():
                self._save(vectors)
            done = start + len(part)
            rate.update(done)
            if progress:
                progress({"event": "embedded", "done": done, "total": len(todo),
                          "rate": round(rate.per_second, 2),
                          "eta_seconds": rate.eta(len(todo) - done), "saved": self.saved})

    def _save_due(self) -> bool:
        waited = time.monotonic() - self._last_save
        return waited >= max(SAVE_SECONDS, self._save_cost / SAVE_SHARE)

    def _save(self, vectors: VectorIndex) -> None:
        """Save the vector index, then record what it holds in the id map: an id map entry
        is never ahead of the saved index (a run killed in between re-adds those chunks
        from the embedding cache)."""
        if not self.unsaved:
            return
        store, cache = self.service.store, self.service.store.embedding_cache
        started = time.monotonic()
        with self.service.lock:
            vectors.save(store.revision)
        wb = store.batch()
        for c in self.unsaved:
            cache.put_embedded(wb, self.model_key, c.id, c.hash)
        store.commit(wb, bump=False)
        self.saved += len(self.unsaved)
        self.unsaved.clear()
        self._last_save = time.monotonic()
        self._save_cost = self._last_save - started

    def _vectors_for(self, part: list[Chunk], between: Callable[[], None] | None,
                     ) -> npt.NDArray[np.float32]:
        """The chunks' vectors, from the cache or the embedder (``embedder.batch_size``
        texts a call), with ``between`` called between two model runs (or requests): it
        may raise to stop (a cancelled job). The vectors of the calls that ended are cached
        all the same; a stopped call's are not (at most ``batch_size`` texts: a second of
        work on 2 threads)."""
        import numpy as np

        embedder, report = self.embedder, self.report
        cache, store = self.service.store.embedding_cache, self.service.store
        cached = cache.vectors(self.model_key, [c.hash for c in part])
        out = np.zeros((len(part), embedder.dimension), dtype=np.float32)
        for i, v in enumerate(cached):
            if v is not None:
                out[i] = np.frombuffer(v, dtype=np.float32)
        # Texts of similar length share a model run: less padding.
        missing = sorted((i for i, v in enumerate(cached) if v is None),
                         key=lambda i: len(part[i].text))
        step = max(1, embedder.batch_size)
        stopped: list[BaseException] = []

        def check() -> None:  # what ``between`` raises stops the run; not a failure
            if between is None:
                return
            try:
                between()
            except BaseException as exc:
                stopped.append(exc)
                raise

        wb = store.batch()
        try:
            for at in range(0, len(missing), step):
                if at:
                    check()
                rows = missing[at:at + step]
                try:
                    fresh = embedder.embed([part[i].text for i in rows], between=check)
                except Exception as exc:
                    if stopped:  # the stop itself, whatever the embedder made of it
                        raise stopped[0] from None
                    raise _ProviderFailed(f"{type(exc).__name__}: {exc}") from exc
                if fresh.shape != (len(rows), embedder.dimension):
                    raise _ProviderFailed(f"SearchError: the embedder returned {fresh.shape}, "
                                          f"expected {(len(rows), embedder.dimension)}")
                for row, i in zip(fresh, rows, strict=True):
                    out[i] = row
                    cache.put_vector(wb, self.model_key, part[i].hash,
                                     row.astype(np.float32).tobytes())
                report.embedded += len(rows)
        finally:
            store.commit(wb, bump=False)
        report.cached += len(part) - len(missing)
        return out

    def _finish(self, started: float) -> None:
        report = self.report
        report.seconds = time.monotonic() - started
        cache = self.service.store.embedding_cache
        cache.record_failures(report.failed, report.error)
        if report.embedded >= MIN_RATED and self._model_seconds > 0:
            report.rate = round(report.embedded / self._model_seconds, 2)
            cache.record_rate(self.model_key, report.rate)


def embedding_backlog(service: SearchService, repo: str | None) -> dict[str, Any]:
    """What ``SearchService.backlog`` reports, from the saved index's manifest and id map
    (neither the index nor the model is loaded)."""
    from codegraph.search.vector_manifest import saved_manifest

    chosen = scope(service, repo)
    embedder = service.embedder()
    model_key = f"{embedder.provider}/{embedder.model}"
    embedded = service.store.embedding_cache.embedded(model_key)
    try:
        manifest = saved_manifest(service.vector_dir)
    except (OSError, ValueError):
        manifest = None
    held = manifest.held_ids() if manifest is not None and manifest.model == embedder.model \
        else set()
    by_repo: dict[str, int] = {}  # chunks waiting, per repository
    for c in chosen.chunks:
        waiting = embedded.get(c.id) != c.hash or (held is not None and c.id not in held)
        by_repo[c.repo] = by_repo.get(c.repo, 0) + waiting
    pending = sum(by_repo.values())
    current = len(chosen.chunks) - pending
    rate = last_rate(service, model_key)
    return {"repo": repo, "pending": pending, "chunks": len(chosen.chunks) + chosen.excluded,
            "embedded": current, "excluded": chosen.excluded,
            "eta_seconds": round(pending / rate, 1) if rate else (0.0 if not pending else None),
            "pending_by_repo": dict(sorted(by_repo.items()))}
