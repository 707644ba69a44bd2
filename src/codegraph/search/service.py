"""Search over the indexed code: lexical (BM25), semantic (embeddings + FAISS) and hybrid.

The structural index stores every definition's chunk in the graph store. This service
keeps two derived indexes in step with those chunks: the lexical index (fed during each
structural run, see ``lexical_feed.py``, so lexical search is usable at once) and the
vector index (filled in afterwards, embedding only chunks whose content changed: vectors
are cached by (model, chunk hash) in the store).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codegraph.config import Config
from codegraph.errors import BadRequest, EmbeddingError, Unavailable
from codegraph.graph.model import EdgeKind
from codegraph.search.chunks import Chunk
from codegraph.search.embed_scope import EmbedScope
from codegraph.search.embedding_run import EmbeddingRun, embedding_backlog, scope
from codegraph.search.embedding_run import EmbedReport as EmbedReport  # re-exported
from codegraph.search.fusion import DEFAULT, Fused, Ranking, fuse, reciprocal_rank_fusion
from codegraph.search.lexical import LexicalIndex, default_path, lexical_row
from codegraph.search.snippets import snippet
from codegraph.search.tokens import query_terms
from codegraph.search.vector_manifest import INDEX_FILE, MANIFEST_FILE, saved_manifest
from codegraph.store.rocks import Store

if TYPE_CHECKING:

    from codegraph.search.embeddings import Embedder
    from codegraph.search.vectors import VectorIndex

MODES = ("lexical", "semantic", "hybrid")
CANDIDATES = 100  # per ranking, before fusion
MAX_WINDOW = 1000  # offset + limit: results deeper than this are not ranked


class SearchError(BadRequest):
    """A search that cannot be answered as asked."""


class SemanticUnavailable(SearchError, Unavailable):
    """Semantic search was asked for and cannot run here (not installed, no model)."""


def make_embedder(config: Config) -> Embedder:
    """The configured embedding provider (``EMBEDDING_PROVIDER``): the local model, run on
    ``CODEGRAPH_WORKERS`` threads, or an OpenAI-compatible server."""
    if config.embedding_provider == "openai":
        from codegraph.search.openai_embed import OpenAIEmbedder

        return OpenAIEmbedder(api_key=config.openai_api_key, base_url=config.openai_base_url,
                              model=config.openai_embedding_model)
    from codegraph.search.embeddings import LocalEmbedder

    return LocalEmbedder(config.embedding_model_path, threads=config.workers)


@dataclass
class SearchService:
    store: Store
    data_dir: str
    faiss_dir: str = ""  # the vector index's directory (default: <data_dir>/faiss)
    config: Config = field(default_factory=Config)
    _embedder: Any = field(default=None, repr=False)
    _owns_embedder: bool = field(default=True, repr=False)
    _lexical: LexicalIndex | None = field(default=None, repr=False)
    _vectors: Any = field(default=None, repr=False)
    _excluded_at: tuple[int, int] | None = field(default=None, repr=False)
    _exclusions: EmbedScope | None = field(default=None, repr=False)
    _query_thread: ThreadPoolExecutor | None = field(default=None, repr=False)
    ranking: Ranking = DEFAULT  # how hits are fused and which priors apply (fusion.py)
    # Guards the lexical connection and the vector index when a server searches while it
    # indexes; embedding holds it only around index updates, never while the model runs.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- the derived indexes -------------------------------------------------------------
    @property
    def vector_dir(self) -> str:
        return self.faiss_dir or os.path.join(self.data_dir, "faiss")

    @property
    def exclusions(self) -> EmbedScope:
        """CODEGRAPH_EMBED_EXCLUDE, compiled once for this service."""
        if self._exclusions is None:
            self._exclusions = EmbedScope(self.config.embed_exclude)
        return self._exclusions

    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            self._lexical = LexicalIndex.open(default_path(self.data_dir),
                                              readonly=self.store.readonly)
        return self._lexical

    def use_embedder(self, embedder: Embedder) -> None:
        """Embed queries with ``embedder``, which the caller owns (a replica keeps one model
        across the snapshots it serves): it is not closed with this service."""
        self._embedder, self._owns_embedder = embedder, False

    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.config)
        return self._embedder  # type: ignore[no-any-return]

    def vectors(self, *, for_writing: bool = False) -> VectorIndex:
        """The vector index of the configured model; a writer replaces a mismatched one."""
        with self.lock:
            return self._open_vectors(for_writing)

    def _open_vectors(self, for_writing: bool) -> VectorIndex:
        if self._vectors is None:
            from codegraph.search.vectors import VectorIndex, VectorIndexMismatch

            e = self.embedder()
            try:
                self._vectors = VectorIndex.open(self.vector_dir, provider=e.provider,
                                                 model=e.model, dimension=e.dimension,
                                                 threads=self.config.workers)
            except VectorIndexMismatch as exc:
                if not for_writing:
                    raise SearchError(f"{exc}; run `codegraph index` to re-embed with "
                                      f"{e.provider}/{e.model}") from None
                self._vectors = VectorIndex.open(self.vector_dir,
                                                 provider=e.provider, model=e.model,
                                                 dimension=e.dimension, reset=True,
                                                 threads=self.config.workers)
        return self._vectors  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._lexical is not None:
            self._lexical.close()
            self._lexical = None
        if self._query_thread is not None:
            self._query_thread.shutdown()
            self._query_thread = None
        close = getattr(self._embedder, "close", None) if self._owns_embedder else None
        if close is not None:
            close()

    def chunks(self) -> Iterator[Chunk]:
        for chunk_id, wire in self.store.chunks():
            yield Chunk.from_wire(chunk_id, wire)

    def sync_lexical(self, tick: Callable[[], None] | None = None) -> dict[str, int]:
        with self.lock:
            report = self.lexical().sync(self.chunks(), revision=self.store.revision,
                                         tick=tick)
        return {"added": report.added, "removed": report.removed,
                "unchanged": report.unchanged}

    def sync_paths(self, repo: str, paths: list[str], since: int,
                   tick: Callable[[], None] | None = None) -> dict[str, int]:
        """Bring the lexical index in step for just these files, after an incremental run
        that started at store revision ``since``. If the index was not in step with that
        revision (a run killed before its sync, say), all of it is synced instead: stamping
        it with the new revision would hide its other stale rows for good."""
        if self.lexical().revision != since:
            return self.sync_lexical(tick)
        with self.lock:
            rows = {path: [lexical_row(Chunk.from_wire(i, w))
                           for i, w in self.store.file_chunks(repo, path)] for path in paths}
            report = self.lexical().replace_files(repo, rows, revision=self.store.revision)
        return {"added": report.added, "removed": report.removed,
                "unchanged": report.unchanged}

    def copy_to(self, data_dir: str, faiss_dir: str, *, lexical: bool = True,
                vectors: bool = True) -> None:
        """Copy the lexical and vector indexes (or one of them), as they are now, into
        another data directory and its vector index's directory (``CodeGraph.checkpoint``)."""
        import shutil

        with self.lock:
            if lexical and os.path.exists(default_path(self.data_dir)):
                self.lexical().copy_to(default_path(data_dir))
            source = self.vector_dir
            files = [name for name in sorted(os.listdir(source)) if name == INDEX_FILE
                     or name.startswith(MANIFEST_FILE)] if os.path.isdir(source) else []
            if vectors and files:  # (a manifest pending after a crashed save: vectors._load)
                os.makedirs(faiss_dir)
                for name in files:
                    shutil.copy2(os.path.join(source, name), faiss_dir)

    # -- embedding -----------------------------------------------------------------------
    def embed(self, progress: Callable[[dict[str, Any]], None] | None = None, *,
              repo: str | None = None) -> EmbedReport:
        """Bring the vector index in step with the stored chunks (of ``repo``, or all):
        see ``embedding_run.py``."""
        return EmbeddingRun(self, progress, repo).run()

    def backlog(self, repo: str | None = None) -> dict[str, Any]:
        """Chunks in scope (of ``repo``, or all) without a current vector in the saved
        index, and the time they would take at the model's last measured rate."""
        return embedding_backlog(self, repo)

    def coverage(self) -> dict[str, Any]:
        """How many chunks have a current embedding in the saved vector index, and the last
        failure. Cheap: the index's manifest lists the ids it holds; neither the index nor
        the model is loaded."""
        chosen = scope(self, None)
        current = {c.id: c.hash for c in chosen.chunks}
        excluded = chosen.excluded
        cache = self.store.embedding_cache
        failed, error = cache.failures()
        out: dict[str, Any] = {"chunks": len(current) + excluded, "excluded": excluded,
                               "embedded": 0, "provider": None, "model": None,
                               "embedding_failures": failed, "last_embedding_error": error}
        try:
            manifest = saved_manifest(self.vector_dir)
        except (OSError, ValueError):
            manifest = None
        if manifest is None:
            return out
        # Current chunks whose vector was made from their present text (the id map), among
        # those the saved index holds (listed by its manifest).
        # (40 ms for 100k ids; loading the index instead: 350 ms and 150 MB)
        current_ids = {i for i, h in cache.embedded(f"{manifest.provider}/{manifest.model}")
                       .items() if current.get(i) == h}
        held = manifest.held_ids()
        if held is not None:  # (else saved before manifests had them: until the next save)
            current_ids &= held
        out.update(provider=manifest.provider, model=manifest.model, embedded=len(current_ids))
        return out

    # -- searching -----------------------------------------------------------------------
    def search(self, query: str, *, mode: str = "hybrid", limit: int = 10, offset: int = 0,
               repo: str | None = None, language: str | None = None, kind: str | None = None,
               path: str | None = None, graph_boost: bool = False) -> dict[str, Any]:
        with self.lock:
            return self._search(query, mode, limit, offset, repo, language, kind, path,
                                graph_boost)

    def _search(self, query: str, mode: str, limit: int, offset: int, repo: str | None,
                language: str | None, kind: str | None, path: str | None,
                graph_boost: bool) -> dict[str, Any]:
        if mode not in MODES:
            raise SearchError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if limit < 1 or offset < 0:
            raise SearchError("limit must be at least 1 and offset at least 0")
        if offset + limit > MAX_WINDOW:
            raise SearchError(f"offset + limit must be at most {MAX_WINDOW}: narrow the "
                              "search instead of paging this deep")
        if not query.strip():
            raise SearchError("the search query is empty")
        wanted = offset + limit
        depth = max(CANDIDATES, wanted * 3)
        filters: dict[str, Any] = {"repo": repo, "language": language, "kind": kind,
                                   "path": path}
        rankings: dict[str, list[tuple[str, float]]] = {}
        info: dict[str, Any] = {"mode": mode}
        pending = self._embed_beside(query) if mode == "hybrid" else None
        if mode in ("lexical", "hybrid"):
            hits = self.lexical().search(query, limit=depth, **filters)
            rankings["lexical"] = [(h.chunk_id, h.score) for h in hits]
        if mode in ("semantic", "hybrid"):
            try:
                rankings["semantic"], info["coverage"] = self._semantic(query, depth, filters,
                                                                        pending)
            except (ImportError, EmbeddingError) as exc:  # (a model mismatch is refused)
                reason = (f"not installed in this build ({exc})"
                          if isinstance(exc, ImportError) else str(exc))
                if mode == "semantic":
                    raise SemanticUnavailable(f"semantic search is unavailable: {reason}"
                                              ) from None
                info["semantic"] = f"unavailable: {reason}"  # hybrid goes on with words
        chunks = self._chunk_meta(list(dict.fromkeys(
            key for ranking in rankings.values() for key, _ in ranking)))
        facts = {i: (c.kind, c.path) for i, c in chunks.items()}
        centrality = self._centrality(chunks) if graph_boost else None
        fused = fuse(rankings, facts=facts, ranking=self.ranking, centrality=centrality)
        terms = query_terms(query) if "lexical" in rankings else []
        results = self._items(fused, wanted, chunks, terms)[offset:wanted]
        return {**info, "results": results}

    def _embed_beside(self, query: str) -> Future[Any] | None:
        """The query's vector, computed in a thread of its own while the lexical search
        runs (SQLite and onnxruntime both release the GIL): a hybrid search then takes
        about the longer of the two, not their sum. None when nothing is embedded yet."""
        try:
            if not self.vectors().count:
                return None
        except (ImportError, EmbeddingError, SearchError):
            return None  # (``_semantic`` reports it)
        if self._query_thread is None:
            self._query_thread = ThreadPoolExecutor(1, thread_name_prefix="query-embed")
        embedder = self.embedder()
        return self._query_thread.submit(embedder.embed, [query])

    def _semantic(self, query: str, depth: int, filters: dict[str, Any],
                  pending: Future[Any] | None = None,
                  ) -> tuple[list[tuple[str, float]], dict[str, Any]]:
        vectors = self.vectors()
        total = self.lexical().count()  # not a scan of the store: 130 ms at 100k chunks
        coverage = {"embedded": vectors.count, "chunks": total,
                    "partial": vectors.count < total - self._excluded()}
        if not vectors.count:  # nothing embedded yet: no need to start the model
            return [], coverage
        query_vector = (pending.result() if pending is not None
                        else self.embedder().embed([query]))[0]
        return vectors.search(query_vector, depth, allowed=self._allowed(filters)), coverage

    def _excluded(self) -> int:
        """How many chunks CODEGRAPH_EMBED_EXCLUDE leaves without a vector (counted once
        per store revision: a scan of the chunks' paths)."""
        revision = self.store.revision
        if self._excluded_at is None or self._excluded_at[0] != revision:
            count = sum(1 for chunk in self.chunks() if self.exclusions.excluded(chunk.path))
            self._excluded_at = (revision, count)
        return self._excluded_at[1]

    def _allowed(self, filters: dict[str, Any]) -> set[str] | None:
        if not any(filters.values()):
            return None
        return self.lexical().filter_ids(**filters)

    def _items(self, fused: list[Fused], wanted: int, chunks: dict[str, Chunk] | None = None,
               terms: list[str] | None = None) -> list[dict[str, Any]]:
        """One hit per definition (its best chunk), with the node's fields, the scores
        explained and a snippet (the lines that matched the query's terms when the
        lexical ranking found it, else the first lines of its body)."""
        if chunks is None:
            chunks = self._chunk_meta([f.key for f in fused])
        seen: set[str] = set()
        items = []
        for f in fused:
            chunk = chunks.get(f.key)
            if chunk is None or chunk.node_id in seen:
                continue
            node = self.store.node(chunk.node_id)
            if node is None:
                continue
            seen.add(chunk.node_id)
            fields = node.to_dict()
            matched = terms if terms and "lexical" in f.components else ()
            items.append({**fields, "score": round(f.score, 6), "scores": f.explain(),
                          "chunk": {"id": chunk.id, "line": chunk.line,
                                    "end_line": chunk.end_line},
                          "snippet": snippet(chunk, fields, matched)})
            if len(items) >= wanted:
                break
        return items

    def _chunk_meta(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        wires = self.store.chunks_at(self.lexical().chunk_locations(chunk_ids))
        return {chunk_id: Chunk.from_wire(chunk_id, wire) for chunk_id, wire in wires.items()}

    def similar(self, node_ids: list[str], limit: int = 10) -> list[dict[str, Any]]:
        """Definitions whose embeddings are nearest to these nodes' own."""
        with self.lock:
            return self._similar(node_ids, limit)

    def _similar(self, node_ids: list[str], limit: int) -> list[dict[str, Any]]:
        import numpy as np

        vectors = self.vectors()
        own = [c for c in self.chunks() if c.node_id in set(node_ids)]
        rows = [v for c in own if (v := vectors.vector(c.id)) is not None]
        if not rows:
            if own and all(self.exclusions.excluded(c.path) for c in own):
                raise SearchError(f"{own[0].path} matches CODEGRAPH_EMBED_EXCLUDE: its "
                                  "definitions get no embedding (they stay in lexical search)")
            raise SearchError("no embedding for that symbol yet: run `codegraph index` and "
                              "let embedding finish")
        centre = np.mean(np.stack(rows), axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        hits = vectors.search(centre, limit + len(own) + 5)
        fused = reciprocal_rank_fusion({"semantic": hits})
        items = [i for i in self._items(fused, limit + len(node_ids)) if i["id"] not in node_ids]
        return items[:limit]

    def _centrality(self, chunks: dict[str, Chunk]) -> dict[str, int]:
        """Chunk id -> how many call sites reach its definition."""
        return {i: len(self.store.edges(c.node_id, incoming=True, kinds=(EdgeKind.CALLS,)))
                for i, c in chunks.items()}
