"""A repository's first index, loaded in bulk.

When the store holds nothing parsed of a repository yet (at most skipped or failed
files), the indexer does not commit a batch per file. The parse and resolve workers spool
their puts (nodes, names, chunks, facts; edges, dependencies) and write them as sorted SST
files, which are ingested at the checkpoints below (``store/sst.py``); the parse workers
also stage their lexical rows in files of their own (``search/lexical_stage.py``). Only
the file records, dirty marks, external nodes and this module's marker pass through the
indexing process. That saves the write-ahead log, the memtable inserts and the flushes of
several hundred thousand keys, and the pickling of most of what the workers make: on
Django, 9.5 -> 7.5 CPU-seconds for a first index.

The crash contract (kill -9 at any point; the next run completes the store):

1. ``BulkLoad`` first commits a marker, ``meta: bulk \\0 repo``.
2. Parsing goes in segments (``parsing.SEGMENT_BYTES`` of source). At the end of each,
   the spooled files are ingested column family by column family; one batch then records
   the segment's files and marks them dirty (to be resolved). The last such batch also
   removes the marker. A run killed before it leaves the marker: the next run finds it,
   removes what no file record covers (``recover``), and goes on from the recorded files
   as an incremental run would.
3. At the end of resolving, the edges are ingested; one batch then records each file's
   dependencies and clears the dirty marks. A run killed before that batch leaves the
   files dirty, and the next run resolves them again (it replaces their edges).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from codegraph.graph.symbols import FileUnit
from codegraph.index.resolving import ResolvedFile, new_externals
from codegraph.store.bulk_recovery import delete_unrecorded_files, delete_unrecorded_nodes
from codegraph.store.rocks import FileRecord, Store
from codegraph.store.sst import Spool, discard_spools, ingest, spool_directory

INGEST_FIRST = ("qnames", "nodes")  # what ``recover`` finds a node's keys from


def pending(store: Store, repo: str) -> bool:
    """A first index of ``repo`` was killed before its files were recorded."""
    return store.marks.bulk_pending(repo)


def recover(store: Store, repo: str) -> int:
    """Remove what a killed first index of ``repo`` left beyond the files it recorded (at
    its checkpoints), and its marker. Returns how many nodes were removed.

    Every node has a ``qnames`` key ending in the repository's name and its id, ingested
    first (``INGEST_FIRST``): a node's other keys are found from there. Edges into a node
    come from its own repository; chunks and facts are keyed by repository and path."""
    recorded = {rec.path for rec in store.files(repo)}
    wb = store.batch()
    removed, paths = delete_unrecorded_nodes(store, wb, repo, recorded)
    delete_unrecorded_files(store, wb, repo, paths - recorded)
    store.marks.end_bulk(wb, repo)
    store.commit(wb)
    return removed


class BulkLoad:
    """Create it when a run finds nothing of the repository stored (it commits the
    marker); ``close`` it when the run ends, however it ends."""

    def __init__(self, store: Store, repo: str) -> None:
        self.store = store
        self.repo = repo
        self.directory = spool_directory(store)
        discard_spools(store)
        os.makedirs(self.directory)
        self.spool = Spool(self.directory, "parse")
        self.records: dict[str, FileRecord] = {}  # path -> the record it will have
        self._unrecorded: list[FileRecord] = []  # parsed since the last checkpoint
        wb = store.batch()
        store.marks.begin_bulk(wb, repo)
        store.commit(wb)

    def parsed(self, rec: FileRecord) -> None:
        self.records[rec.path] = rec
        self._unrecorded.append(rec)

    def checkpoint(self) -> None:
        """Make the files parsed so far last: ingest what was spooled, then record them
        (dirty: to be resolved) in one batch. The marker stays until the end of parsing:
        a run killed after a checkpoint keeps the files recorded so far, and the next run
        removes only what no file record covers (``recover``), then goes on from there."""
        self._record(done=False)

    def finish_parse(self) -> None:
        """The last checkpoint of the parse phase, which also removes the marker."""
        self._record(done=True)
        self.spool = Spool(self.directory, "resolve")

    def _record(self, done: bool) -> None:
        store, repo = self.store, self.repo
        ingest(store, self.spool.finish(), first=INGEST_FIRST)
        wb = store.batch()
        for rec in self._unrecorded:
            store.put_file(wb, rec)
            store.marks.mark_dirty(wb, repo, rec.path)
        self._unrecorded.clear()
        if done:
            store.marks.end_bulk(wb, repo)
        store.commit(wb)

    def resolved(self, unit: FileUnit, resolved: ResolvedFile,
                 written_externals: set[str]) -> None:
        """Spool the external nodes that a file's edges point to, each once (its edges
        and dependencies were spooled by the process that resolved it)."""
        self.spool.add(new_externals(resolved, written_externals))
        self.records[unit.path].deps = resolved.deps

    def finish_resolve(self, paths: Iterable[str]) -> None:
        store = self.store
        ingest(store, self.spool.finish(), first=INGEST_FIRST)
        wb = store.batch()
        for path in paths:
            store.put_file(wb, self.records[path])
            store.marks.clear_dirty(wb, self.repo, path)
        store.commit(wb)

    def close(self) -> None:
        discard_spools(self.store)
