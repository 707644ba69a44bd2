"""What the indexer keeps per file to resolve its edges again without parsing it:

- ``dirty``  repo \\0 path -> "": the file's edges must be resolved again;
- ``deps``   repo \\0 name \\0 path -> "": the file's edges depend on that name (a
  definition of it appearing or going elsewhere changes them);
- ``facts``  repo \\0 path -> the file's parsed facts (``FileFacts.to_wire()``, packed);
- ``meta``   bulk \\0 repo -> "": a first index of the repository in bulk is unfinished.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rocksdict import WriteBatch

from codegraph.store import keys
from codegraph.store.codec import unpack
from codegraph.store.keys import dependency_key, file_key

if TYPE_CHECKING:
    from codegraph.store.rocks import Store


class FileMarks:
    """A view of one store (``Store.marks``); writes go into the caller's batch."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- dirty marks ----------------------------------------------------------------------
    def dirty(self, repo: str) -> list[str]:
        """The paths of the repository's files whose edges must be resolved again."""
        prefix = keys.repo_prefix(repo)
        return [k[len(prefix):].decode() for k in self._store._scan_keys("dirty", prefix)]

    def mark_dirty(self, wb: WriteBatch, repo: str, path: str) -> None:
        wb.put(file_key(repo, path), b"", self._store._handle["dirty"])

    def clear_dirty(self, wb: WriteBatch, repo: str, path: str) -> None:
        wb.delete(file_key(repo, path), self._store._handle["dirty"])

    # -- dependencies -----------------------------------------------------------------------
    def dependents(self, repo: str, name: str) -> set[str]:
        """The paths of the repository's files whose edges depend on ``name``."""
        prefix = keys.dependency_prefix(repo, name)
        return {k[len(prefix):].decode() for k in self._store._scan_keys("deps", prefix)}

    def add_dependencies(self, wb: WriteBatch, repo: str, path: str,
                         names: Iterable[str]) -> None:
        handle = self._store._handle["deps"]
        for name in names:
            wb.put(dependency_key(repo, name, path), b"", handle)

    def remove_dependencies(self, wb: WriteBatch, repo: str, path: str,
                            names: Iterable[str]) -> None:
        handle = self._store._handle["deps"]
        for name in names:
            wb.delete(dependency_key(repo, name, path), handle)

    # -- facts ------------------------------------------------------------------------------
    def facts(self, repo: str, path: str) -> Any:
        """The file's facts as ``FileFacts.to_wire()`` gave them, or None."""
        data = self._store._get("facts", file_key(repo, path))
        return unpack(data) if data is not None else None

    def put_facts(self, wb: WriteBatch, repo: str, path: str, packed_facts: bytes) -> None:
        wb.put(file_key(repo, path), packed_facts, self._store._handle["facts"])

    def delete_facts(self, wb: WriteBatch, repo: str, path: str) -> None:
        wb.delete(file_key(repo, path), self._store._handle["facts"])

    # -- a first index in bulk --------------------------------------------------------------
    def bulk_pending(self, repo: str) -> bool:
        """A first index of ``repo`` in bulk began and did not record all its files."""
        return self._store._get("meta", keys.BULK + repo.encode()) is not None

    def begin_bulk(self, wb: WriteBatch, repo: str) -> None:
        wb.put(keys.BULK + repo.encode(), b"", self._store._handle["meta"])

    def end_bulk(self, wb: WriteBatch, repo: str) -> None:
        wb.delete(keys.BULK + repo.encode(), self._store._handle["meta"])
