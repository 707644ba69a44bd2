"""Bringing the lexical index in step during an indexing run, with the rows that the parse
workers tokenized.

Tokenizing every chunk again after a run would be the single-threaded bulk of a first
index, and reading every chunk back from the store the bulk of a small update. Instead the
parse workers tokenize the chunks of each file they parse (``lexical.lexical_row``), the
indexer hands those rows to a :class:`LexicalFeed`, and the feed applies them:

- when the lexical index was in step with the store before the run (the same revision:
  each sync records the store revision it reflects), it replaces just the files that the
  run changed, and nothing is read back from the store. It does so as soon as the run has
  made its last chunk change, before edges are resolved: a large update in a forked
  writer process (it inherits the rows; its SQLite work runs on another core meanwhile), a
  small one at once. That transaction records the store revision of that moment, and
  ``finish`` records the final one after the run. Should the run die in between, the two
  differ and the next run syncs everything;
- otherwise (a run was killed before its sync, the lexical index was deleted, ``--full``)
  ``finish`` does a full sync against the store's chunks, which still takes these rows
  instead of tokenizing their chunks again.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from codegraph import config
from codegraph.errors import DiskFull
from codegraph.lifeline import die_with_parent
from codegraph.search.chunks import Chunk
from codegraph.search.lexical import LexicalIndex, LexicalIndexError, LexicalRow, SyncReport
from codegraph.search.lexical_stage import fresh_directory
from codegraph.store.rocks import Store

BACKGROUND_ROWS = 2000  # from this many rows on, a forked process writes them
STAGED_ROW_BYTES = 1000  # about what a staged row takes (for BACKGROUND_ROWS)


def _write_rows(parent: int, path: str, repo: str,
                rows: Mapping[str, Sequence[LexicalRow]], staged: Sequence[str],
                revision: int, answer: Connection) -> None:
    """In the writer process: replace the files' rows through a connection of its own, and
    answer with the report or the error (which the feed raises in the indexing process)."""
    die_with_parent(parent)  # nothing is written for a run that was killed
    try:
        with LexicalIndex.open(path) as index:
            report = index.replace_files(repo, rows, revision=revision, staged=staged)
            # Written into the database file here, while the indexing process resolves:
            # left to the last connection to close, the WAL that the rows filled would be
            # written back at the very end of the run.
            index.checkpoint()
            answer.send(report)
    except DiskFull as exc:  # raised as it is in the indexing process
        answer.send(exc)
    except Exception as exc:
        answer.send(f"{type(exc).__name__}: {exc}")


class LexicalFeed:
    """Create it before the run (it compares revisions then) and give it to the indexer as
    its chunk sink; call ``finish`` after the run."""

    def __init__(self, lexical: LexicalIndex, store: Store, *, full: bool = False,
                 background: bool = True) -> None:
        """``background=False`` never forks a writer: for a process whose other threads
        may hold SQLite's locks at the moment of a fork (a server answering searches)."""
        self.lexical = lexical
        self.store = store
        self.background = background
        self.in_step = not full and lexical.revision == store.revision
        self.rows: dict[tuple[str, str], Sequence[LexicalRow]] = {}  # (repo, path) -> rows
        self._written: SyncReport | None = None
        self._writer: tuple[BaseProcess, Connection] | None = None
        self._stage = os.path.join(os.path.dirname(os.path.abspath(lexical.path)),
                                   config.LEXICAL_STAGE)
        shutil.rmtree(self._stage, ignore_errors=True)  # what a killed run staged, if any

    def stage_directory(self) -> str | None:
        """Where a run's parse workers may stage their rows instead of giving them to
        ``add`` (``lexical_stage.py``), to name in ``chunks_final``; None: not this run
        (the index is not in step, and the run's rows will be taken by a full sync)."""
        return fresh_directory(self._stage) if self.in_step else None

    def add(self, repo: str, path: str, rows: Sequence[LexicalRow]) -> None:
        """The chunks of a file the run parsed, as rows."""
        self.rows[(repo, path)] = rows

    def chunks_final(self, repo: str, changed: Sequence[str], revision: int,
                     staged: Sequence[str] = ()) -> None:
        """The run over ``repo`` has changed the chunks of the files ``changed`` (parsed,
        deleted or skipped), and of no others, and will change no more. The rows of some
        of them may be in ``staged`` files (in the ``stage_directory``) instead."""
        if not self.in_step or self._written is not None or self._writer is not None:
            return
        rows = {path: self.rows.get((repo, path), ()) for path in changed}
        self.rows.clear()
        staged_rows = sum(map(os.path.getsize, staged)) // STAGED_ROW_BYTES
        if not self.background or sum(map(len, rows.values())) + staged_rows < BACKGROUND_ROWS:
            self._written = self.lexical.replace_files(repo, rows, revision=revision,
                                                       staged=staged)
            return
        # Forked, the writer has the rows without copying them, and its SQLite work runs
        # on the other core while this process resolves.
        answer, sender = multiprocessing.Pipe(duplex=False)
        process = multiprocessing.get_context("fork").Process(
            target=_write_rows,
            args=(os.getpid(), self.lexical.path, repo, rows, staged, revision, sender),
            name="codegraph-lexical", daemon=True)
        process.start()
        sender.close()
        self._writer = (process, answer)

    def finish(self, tick: Callable[[], None] | None = None) -> SyncReport:
        """Bring the index in step with the store after the run (``tick``: see
        ``LexicalIndex.sync``)."""
        with self.finishing(tick=tick) as report:
            return report

    @contextmanager
    def finishing(self, store: Store | None = None, tick: Callable[[], None] | None = None,
                  ) -> Iterator[SyncReport]:
        """``finish``, with its last transaction committed when the block ends (rolled back
        if it raises). ``store``: the one to be in step with (a run built beside the live
        store reads its own, and commits once that store is switched in)."""
        if store is not None:
            self.store = store
        try:
            if self._writer is not None:
                self._written = self._wait(*self._writer)
            if self._written is None:
                tokenized = {row.chunk_id: row for rows in self.rows.values() for row in rows}
                with self.lexical.syncing(self._stored_chunks(), revision=self.store.revision,
                                          tokenized=tokenized, tick=tick) as report:
                    yield report
                return
            yield self._written
            self.lexical.set_revision(self.store.revision)
        finally:
            self.rows.clear()
            self._writer = None
            shutil.rmtree(self._stage, ignore_errors=True)

    def abort(self) -> None:
        """The run failed or was cancelled: stop the writer (its transaction is rolled
        back; the index stays behind the store's revision, and the next run syncs it) and
        remove what was staged, at once."""
        try:
            if self._writer is not None:
                process, answer = self._writer
                process.kill()
                process.join()
                answer.close()
                # The write-ahead log holds the killed transaction's pages: emptied.
                with contextlib.suppress(LexicalIndexError):
                    self.lexical.checkpoint()
        finally:
            self.rows.clear()
            self._writer = None
            shutil.rmtree(self._stage, ignore_errors=True)

    def _wait(self, process: BaseProcess, answer: Connection) -> SyncReport:
        try:
            result = answer.recv()
        except EOFError:
            result = "it ended without an answer"
        finally:
            answer.close()
            process.join()
        if isinstance(result, DiskFull):
            raise result
        if not isinstance(result, SyncReport):
            raise LexicalIndexError(f"the lexical index writer failed: {result}")
        return result

    def _stored_chunks(self) -> Iterator[Chunk]:
        for chunk_id, wire in self.store.chunks():
            yield Chunk.from_wire(chunk_id, wire)
