"""Bringing the lexical index in step after an indexing run, with the rows that the parse
workers tokenized.

Tokenizing every chunk again after a run would be the single-threaded bulk of a first
index, and reading every chunk back from the store the bulk of a small update. Instead the
parse workers tokenize the chunks of each file they parse (``lexical.lexical_row``), the
indexer hands those rows to a :class:`LexicalFeed`, and the feed applies them:

- when the lexical index was in step with the store before the run (the same revision:
  each sync records the store revision it reflects), only the files that the run changed
  are replaced, and nothing is read back from the store;
- otherwise (a run was killed before its sync, the lexical index was deleted, ``--full``)
  it is a full sync against the store's chunks, which still takes these rows instead of
  tokenizing their chunks again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from codegraph.search.chunks import Chunk
from codegraph.search.lexical import LexicalIndex, LexicalRow, SyncReport
from codegraph.store.rocks import Store


class LexicalFeed:
    """Create it before the run (it compares revisions then); pass ``add`` to the indexer
    as its chunk sink; call ``finish`` after the run."""

    def __init__(self, lexical: LexicalIndex, store: Store) -> None:
        self.lexical = lexical
        self.store = store
        self.in_step = lexical.revision == store.revision
        self.rows: dict[tuple[str, str], Sequence[LexicalRow]] = {}  # (repo, path) -> rows

    def add(self, repo: str, path: str, rows: Sequence[LexicalRow]) -> None:
        """The chunks of a file the run parsed, as rows."""
        self.rows[(repo, path)] = rows

    def finish(self, repo: str, changed: Sequence[str], full: bool = False) -> SyncReport:
        """Bring the index in step after a run over ``repo`` that changed the chunks of the
        files ``changed`` (parsed, deleted or skipped) and no others, unless ``full``."""
        revision = self.store.revision
        try:
            if self.in_step and not full:
                return self.lexical.replace_files(
                    repo, {path: self.rows.get((repo, path), ()) for path in changed},
                    revision=revision)
            tokenized = {row.chunk_id: row for rows in self.rows.values() for row in rows}
            return self.lexical.sync(self._stored_chunks(), revision=revision,
                                     tokenized=tokenized)
        finally:
            self.rows.clear()

    def _stored_chunks(self) -> Iterator[Chunk]:
        for chunk_id, wire in self.store.chunks():
            yield Chunk.from_wire(chunk_id, wire)
