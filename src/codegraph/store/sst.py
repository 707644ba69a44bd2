"""Bulk loading: puts gathered in memory, written out as sorted SST files and ingested.

A first index of a repository writes hundreds of thousands of keys. Put one batch at a
time, each key goes through the write-ahead log and a memtable skiplist, and is then
flushed and compressed again: a quarter of the CPU time of the whole index. A
:class:`Spool` instead keeps a process's puts in memory, and writes each column family's
puts, sorted, straight into an SST file (``SstFileWriter``); :func:`ingest` then links the
files into the store. Workers spool in parallel, each in its own process.

Within one spool, the last put of a key wins (as in a WriteBatch). Keys written by
different spools must not collide unless their values are equal: files are ingested in
the order given, but that order says nothing about which worker wrote first.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from itertools import starmap
from operator import itemgetter

from rocksdict import IngestExternalFileOptions, Options, SstFileWriter

from codegraph.store.edges import Record
from codegraph.store.rocks import SPOOL_DIRECTORY, Store, store_error

SPILL_BYTES = 128 << 20  # keys and values held before a spool writes them out
SstFile = tuple[str, str]  # (column family, path)


class Spool:
    """Puts held by one process; ``finish`` writes the rest and gives the files written
    since the last ``finish`` (the spool can go on after it)."""

    def __init__(self, directory: str, name: str, spill_bytes: int = SPILL_BYTES) -> None:
        self.directory = directory
        self.name = name  # in the file names: spools of one process need different ones
        self.spill_bytes = spill_bytes
        self.files: list[SstFile] = []
        self._puts: defaultdict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
        self._bytes = 0
        self._spills = 0

    def add(self, records: Iterable[Record]) -> None:
        puts, size = self._puts, 0
        for cf, key, value in records:
            puts[cf].append((key, value))
            size += len(key) + len(value)
        self._bytes += size
        if self._bytes >= self.spill_bytes:
            self.spill()

    def spill(self) -> None:
        """Write what is held: one SST file per column family, keys in order."""
        for cf, puts in sorted(self._puts.items()):
            puts.sort(key=itemgetter(0))  # stable: a key's puts stay in the order given
            latest = dict(puts)  # keys in order, each with its last put
            path = os.path.join(self.directory,
                                f"{self.name}-{os.getpid()}-{self._spills}-{cf}.sst")
            writer = SstFileWriter(Options(raw_mode=True))
            try:
                writer.open(path)
                deque(starmap(writer.__setitem__, latest.items()), maxlen=0)  # a loop in C
                writer.finish()
            except Exception as exc:  # RocksDB's status, as text
                raise store_error(self.directory, exc, "write to") from exc
            self.files.append((cf, path))
        self._puts.clear()
        self._bytes = 0
        self._spills += 1

    def finish(self) -> list[SstFile]:
        self.spill()
        files, self.files = self.files, []
        return files


def ingest(store: Store, files: Sequence[SstFile], first: Sequence[str] = ()) -> None:
    """Move the files into the store, column family by column family (each one atomic):
    those in ``first`` in that order, then the others by name."""
    opts = IngestExternalFileOptions()
    opts.set_move_files(True)  # hard links: the files are not copied
    by_cf: dict[str, list[str]] = {}
    for cf, path in files:
        by_cf.setdefault(cf, []).append(path)
    order = [*(cf for cf in first if cf in by_cf), *sorted(set(by_cf) - set(first))]
    for cf in order:
        try:
            store._cf[cf].ingest_external_file(by_cf[cf], opts)
        except Exception as exc:  # RocksDB's status, as text
            raise store_error(store.path, exc, "write to") from exc


def spool_directory(store: Store) -> str:
    """A bulk load's directory for its files: inside the store's directory, which the
    writer can always write to (a mount of its own, say), on the same file system (the
    files are linked, not copied, into the store). RocksDB leaves subdirectories alone."""
    return os.path.join(store.path, SPOOL_DIRECTORY)


def discard_spools(store: Store) -> None:
    """Remove the files of a bulk load killed before it ingested them (the writer's job)."""
    shutil.rmtree(spool_directory(store), ignore_errors=True)
