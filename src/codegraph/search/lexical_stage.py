"""Lexical rows staged in SQLite files by the processes that make them.

A first index tokenizes tens of thousands of chunks in its parse workers. Sent back to the
indexing process, the rows would be pickled, unpickled, held and handed to the lexical
index writer through Python again: on Django, more CPU time than inserting them into
FTS5. Instead each worker writes its rows into a plain SQLite table of its own (no
journal: a file that a killed run leaves is discarded), and the writer copies them into
the index with ``INSERT ... SELECT`` (``LexicalIndex.replace_files(staged=...)``), in C.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from codegraph.errors import DiskFull, is_disk_full
from codegraph.search.lexical import STAGE_TABLE, LexicalRow


class RowStage:
    """One process's staged rows (a file is created on the first rows); ``finish`` closes
    it and gives the files written since the last ``finish`` (rows added after it go to a
    new file)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.files: list[str] = []
        self._db: sqlite3.Connection | None = None
        self._opened = 0

    def add(self, rows: Sequence[LexicalRow]) -> None:
        if not rows:
            return
        with self._writing():
            if self._db is None:
                self._db = self._create(os.path.join(
                    self.directory, f"rows-{os.getpid()}-{self._opened}.sqlite"))
                self._opened += 1
            self._db.executemany(
                f"INSERT INTO {STAGE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            if is_disk_full(exc):
                raise DiskFull(self.directory) from exc
            raise

    def _create(self, path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        columns = ", ".join(f"{name} TEXT NOT NULL" for name in LexicalRow._fields)
        db.execute(f"CREATE TABLE {STAGE_TABLE}({columns})")
        db.execute("BEGIN")
        self.files.append(path)
        return db

    def finish(self) -> list[str]:
        if self._db is not None:
            with self._writing():
                self._db.execute("COMMIT")
            self._db.close()
            self._db = None
        files, self.files = self.files, []
        return files


def fresh_directory(path: str) -> str:
    """``path``, emptied (what a killed run staged there is of no use)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path
