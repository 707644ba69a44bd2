"""The library API: the same questions as the CLI, as Python calls."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from codegraph.config import LEXICAL_STAGE, data_paths, max_file_size
from codegraph.query import queries
from codegraph.store.rocks import Store, close_after

if TYPE_CHECKING:  # the indexer and search load only when used: queries start fast
    from codegraph.index.indexer import Indexer, IndexReport, Progress
    from codegraph.search.service import EmbedReport, SearchService


class CodeGraph:
    def __init__(self, store: Store, data_dir: str, faiss_dir: str | None = None) -> None:
        self.store = store
        self.data_dir = data_dir
        self.faiss_dir = faiss_dir or os.path.join(data_dir, "faiss")
        self._search: SearchService | None = None

    @classmethod
    def open(cls, data_dir: str | None = None, *, readonly: bool = False) -> CodeGraph:
        paths = data_paths(data_dir)
        staging = () if readonly else (os.path.join(paths.data_dir, LEXICAL_STAGE),)
        return cls(Store.open(paths.rocksdb, readonly=readonly, staging=staging),
                   paths.data_dir, paths.faiss)

    def close(self) -> None:
        try:
            if self._search is not None:
                self._search.close()
        finally:
            self.store.close()

    def __enter__(self) -> CodeGraph:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        close_after(self.close, failed=exc_type is not None)

    @property
    def revision(self) -> int:
        return self.store.revision

    def indexer(self, workers: int | None = None, progress: Progress | None = None) -> Indexer:
        from codegraph.index.indexer import Indexer

        return Indexer(self.store, workers=workers, max_file_size=max_file_size(),
                       progress=progress)

    def index(self, path: str, *, name: str | None = None, full: bool = False,
              workers: int | None = None, progress: Progress | None = None,
              embed: bool = False) -> IndexReport:
        """Index a repository (structure, then lexical search); with ``embed``, then fill
        in the embeddings for semantic search."""
        feed = self.search_service().lexical_feed(full=full)
        report = self.indexer(workers, progress).index(path, name=name, full=full,
                                                       on_chunks=feed)
        feed.finish()
        if embed:
            self.embed(progress)
        return report

    def rebuild(self, path: str, *, name: str | None = None, workers: int | None = None,
                progress: Progress | None = None,
                exclusive: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
                ) -> IndexReport:
        """Index a repository from scratch beside the live store, then switch to the result
        (``store/generations.py``): until the switch, readers (this object's, and other
        processes') see the previous index and its lexical rows, and a crash, a cancel or
        a failure leaves both as they were. The lexical index's new rows are written before
        the switch, in a transaction committed with it. The switch is made inside
        ``exclusive()``: a server's readers wait there for the moment it takes."""
        from codegraph.index.indexer import Indexer
        from codegraph.search.lexical import LexicalIndex, default_path
        from codegraph.search.lexical_feed import LexicalFeed
        from codegraph.store import generations

        live = self.store
        staging = generations.begin(live)
        try:
            with LexicalIndex.open(default_path(self.data_dir)) as lexical:
                feed = LexicalFeed(lexical, staging, full=True, background=False)
                report = Indexer(staging, workers=workers, max_file_size=max_file_size(),
                                 progress=progress).index(path, name=name, full=True,
                                                          on_chunks=feed)
                tick = None
                if progress is not None:  # a cancel may stop the run until the switch
                    progress({"event": "lexical"})
                    tick = functools.partial(progress, {"event": "tick"})
                with feed.finishing(staging, tick):  # committed when the switch is made
                    staging.close()
                    with exclusive():
                        self._switch(staging.path)
        finally:  # what is left beside: the old store, or a failed run's staging one
            staging.close()
            generations.discard(live.path)
        return report

    def _switch(self, staging: str) -> None:
        """Put the store at ``staging`` in the live one's place, and open it (the live one
        is open again if that fails)."""
        from codegraph.store import generations

        live = self.store
        live.close()
        gc.collect()  # an iterator left in a reference cycle would keep RocksDB open
        try:
            # Anything still holding the live store open would go on naming its files
            # under the path that the switch gives the new store: refuse (StoreLocked).
            Store.open(live.path, block_cache=live.block_cache, tidy=False).close()
            generations.switch(staging, live.path)
        finally:  # the new store, or the previous one if the switch failed
            self.store = Store.open(live.path, block_cache=live.block_cache, tidy=False)
            if self._search is not None:  # its lexical and vector indexes stay
                self._search.store = self.store

    def embed(self, progress: Progress | None = None) -> EmbedReport:
        return self.search_service().embed(progress)

    def search_service(self) -> SearchService:
        if self._search is None:
            from codegraph.search.service import SearchService

            self._search = SearchService(self.store, self.data_dir, self.faiss_dir)
        return self._search

    def search(self, query: str, **options: Any) -> dict[str, Any]:
        return self.search_service().search(query, **options)

    def similar(self, symbol: str, limit: int = 10, repo: str | None = None,
                ) -> list[dict[str, Any]]:
        nodes = queries.resolve_symbol(self.store, symbol, repo)
        return self.search_service().similar([n.id for n in nodes], limit)

    def checkpoint(self, dest: str) -> str:
        """Publish a consistent copy of the index in ``dest``, a new data directory that
        readers open read-only (``--data-dir DEST``, on read-only media too): the store,
        the lexical index and the vector index, as of now. Only the writer may: nothing
        changes meanwhile."""
        paths = data_paths(dest)
        self.store.checkpoint(paths.rocksdb)
        self.search_service().copy_to(paths.data_dir)
        return paths.data_dir

    def symbols(self, query: str, **filters: Any) -> list[dict[str, Any]]:
        return queries.symbols(self.store, query, **filters)

    def definition(self, name: str, repo: str | None = None) -> list[dict[str, Any]]:
        return queries.definition(self.store, name, repo)

    def refs(self, symbol: str, repo: str | None = None) -> list[dict[str, Any]]:
        return queries.refs(self.store, symbol, repo)

    def callers(self, symbol: str, repo: str | None = None) -> list[dict[str, Any]]:
        return queries.callers(self.store, symbol, repo)

    def callees(self, symbol: str, repo: str | None = None) -> list[dict[str, Any]]:
        return queries.callees(self.store, symbol, repo)

    def impact(self, symbol: str, depth: int = 3, repo: str | None = None,
               ) -> list[dict[str, Any]]:
        return queries.impact(self.store, symbol, depth, repo)

    def outline(self, file: str, repo: str | None = None) -> list[dict[str, Any]]:
        return queries.outline(self.store, file, repo)

    def deps(self, repo: str | None = None, cycles: bool = False) -> list[dict[str, Any]]:
        return queries.deps(self.store, repo, cycles)

    def stats(self, repo: str | None = None) -> dict[str, Any]:
        out = queries.stats(self.store, repo)
        out["search"] = self.search_service().coverage()
        return out
