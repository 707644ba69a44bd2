"""The library API: the same questions as the CLI, as Python calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codegraph.config import data_paths, max_file_size
from codegraph.query import queries
from codegraph.store.rocks import Store

if TYPE_CHECKING:  # the indexer (multiprocessing, tree-sitter) loads only when indexing
    from codegraph.index.indexer import Indexer, IndexReport, Progress


class CodeGraph:
    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def open(cls, data_dir: str | None = None, *, readonly: bool = False) -> CodeGraph:
        return cls(Store.open(data_paths(data_dir).rocksdb, readonly=readonly))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> CodeGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def revision(self) -> int:
        return self.store.revision

    def indexer(self, workers: int | None = None, progress: Progress | None = None) -> Indexer:
        from codegraph.index.indexer import Indexer

        return Indexer(self.store, workers=workers, max_file_size=max_file_size(),
                       progress=progress)

    def index(self, path: str, *, name: str | None = None, full: bool = False,
              workers: int | None = None, progress: Progress | None = None) -> IndexReport:
        return self.indexer(workers, progress).index(path, name=name, full=full)

    def checkpoint(self, dest: str) -> str:
        return self.store.checkpoint(dest)

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
        return queries.stats(self.store, repo)
