"""Lexical search: BM25 over code-aware tokens, in SQLite FTS5 (``<data dir>/lexical.sqlite``).

Tables:

- ``docs``  rowid -> chunk_id (hex, unique), hash, repo, language, kind, path: the filters,
  read by rowid for the matching rows only (never the chunk text);
- ``fts``   FTS5 over three columns of pre-tokenized text (``tokens.token_text``: code tokens
  joined by spaces, kept as is by the ``ascii`` tokenizer): ``name`` (the definition's own name),
  ``context`` (its qualified name and signature) and ``body`` (the whole chunk text),
  weighted ``WEIGHTS`` in bm25;
- ``meta``  schema, revision (the graph store revision this index is in step with).

The index is derived data: a corrupted file raises :class:`LexicalIndexError` and can be
deleted and rebuilt from the graph store. Each write is one transaction (WAL journal).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from codegraph.errors import DiskFull, Unavailable, is_disk_full
from codegraph.graph.model import short_name
from codegraph.search.chunks import Chunk
from codegraph.search.tokens import query_terms, token_text

FILE_NAME = "lexical.sqlite"
SCHEMA = 1
# bm25 weights of the columns name, context, body. An own-name match counts 3x: the best
# of the weights tried on a labelled query set over the stdlib (names also count in body).
WEIGHTS = (3.0, 1.0, 1.0)
MAX_QUERY_TERMS = 64
SYNC_BATCH = 5000  # rows a sync inserts between two ticks (a cancel may stop it there)
# Above this many files, the chunks held for them are found by one scan of ``docs``.
_SCAN_ABOVE = 32
_ATTACH_GROUP = 8  # staged files attached at once (SQLite allows 10 by default)
_DOC_COLUMNS = "chunk_id, hash, repo, language, kind, path"  # LexicalRow's first six
STAGE_TABLE = "rows"  # of a staged file (lexical_stage.py): LexicalRow's fields, in order
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS docs(rowid INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE,"
    " hash TEXT NOT NULL, repo TEXT NOT NULL, language TEXT NOT NULL, kind TEXT NOT NULL,"
    " path TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(name, context, body, tokenize = 'ascii')",
    # Terms are held in memory up to this size before FTS5 writes a segment (1 MB by
    # default): a first index of a large repository writes fewer, larger segments and
    # merges less (its FTS5 insert time, measured on Django: 0.40 -> 0.28 s).
    "INSERT INTO fts(fts, rank) VALUES('hashsize', 16777216)",
)


class LexicalIndexError(Unavailable):
    """A lexical index problem with a message fit for a user."""


class LexicalIndexFull(LexicalIndexError, DiskFull):
    """No space left to write the lexical index."""


@dataclass(frozen=True, slots=True)
class SyncReport:
    """Counted by (chunk_id, hash): a changed chunk is one removed and one added."""

    added: int
    removed: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class LexicalHit:
    chunk_id: str
    score: float  # -bm25: higher is better
    rank: int  # 1-based, counting from the first result of the first page


def default_path(data_dir: str) -> str:
    return os.path.join(data_dir, FILE_NAME)


def name_columns(chunk: Chunk) -> tuple[str, str]:
    """The ``name`` and ``context`` columns: the definition's own name; its qualified name
    and the signature line of the chunk's header (see ``chunks.header``)."""
    text, signature = chunk.text, ""
    if text.startswith("# "):  # the third line (found, not split: a chunk can be long)
        second = text.find("\n") + 1
        third = text.find("\n", second) + 1 if second else 0
        if third:
            end = text.find("\n", third)
            signature = text[third:end] if end >= 0 else text[third:]
    return (token_text(short_name(chunk.qualified_name)),
            token_text(f"{chunk.qualified_name}\n{signature}"))


class LexicalRow(NamedTuple):
    """A chunk as the index holds it: its ``docs`` columns and its tokenized text (made
    where the chunk is made, e.g. in a parse worker process, by ``lexical_row``)."""

    chunk_id: str
    hash: str
    repo: str
    language: str
    kind: str
    path: str
    name: str
    context: str
    body: str


def lexical_row(chunk: Chunk) -> LexicalRow:
    name, context = name_columns(chunk)
    return LexicalRow(chunk.id, chunk.hash, chunk.repo, chunk.language, chunk.kind,
                      chunk.path, name, context, token_text(chunk.text))


def _quoted(terms: list[str]) -> list[str]:
    return ['"' + t.replace('"', '""') + '"' for t in terms]


def _filters(repo: str | None, language: str | None, kind: str | None,
             path: str | None) -> tuple[str, dict[str, object]]:
    """`` AND d.repo = :repo ...`` (docs as ``d``) and its parameters."""
    where, params = "", dict[str, object]()
    for column, value in (("repo", repo), ("language", language), ("kind", kind),
                          ("path", path)):
        if value is not None:
            where += f" AND d.{column} {'GLOB' if column == 'path' else '='} :{column}"
            params[column] = value
    return where, params


class LexicalIndex:
    """Open with ``LexicalIndex.open(path)``; one writer at a time, any number of readers."""

    def __init__(self, db: sqlite3.Connection, path: str) -> None:  # use open()
        self.db = db
        self.path = path
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: str, *, readonly: bool = False) -> LexicalIndex:
        """``readonly``: never write, not even the journal files (a read-only mount)."""
        if readonly:
            return cls._open_read_only(path)
        parent = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(parent, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise LexicalIndexError(f"cannot open the lexical index {path}: {exc}") from exc
        index = cls(db, path)
        try:
            with index._guard():
                index._init()
        except BaseException:
            db.close()
            raise
        return index

    @classmethod
    def _open_read_only(cls, path: str) -> LexicalIndex:
        """Read-only (``mode=ro``). A database in WAL mode needs its shared-memory file,
        which SQLite cannot create in a read-only directory: without a write-ahead log
        beside it, nothing is missed by opening it as immutable instead."""
        if not os.path.isfile(path):
            raise LexicalIndexError(f"no lexical index at {path}: run `codegraph index`")
        uri = Path(os.path.abspath(path)).as_uri()
        modes = ["mode=ro"] + ([] if os.path.exists(f"{path}-wal") else ["immutable=1"])
        for n, mode in enumerate(modes, 1):
            db = sqlite3.connect(f"{uri}?{mode}", uri=True, isolation_level=None,
                                 check_same_thread=False, timeout=30.0)
            index = cls(db, path)
            try:
                with index._guard():
                    index._check()
                return index
            except LexicalIndexError as exc:
                db.close()
                if n == len(modes) or "unable to open" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def _init(self) -> None:
        db = self.db
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA journal_size_limit = 67108864")  # a big sync's WAL shrinks back
        if not self._tables():
            try:
                with self._write(None):
                    self._create()
                    self._set_meta("schema", str(SCHEMA))
            except LexicalIndexError as exc:
                if "fts5" in str(exc):
                    raise LexicalIndexError("this Python's SQLite lacks FTS5 (needed for "
                                            "lexical search)") from exc
                raise
        self._check()

    def _tables(self) -> set[str]:
        tables = {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and not {"meta", "docs", "fts"} <= tables:
            raise LexicalIndexError(f"{self.path} is an SQLite file but not a lexical index")
        return tables

    def _check(self) -> None:
        if not self._tables():
            raise LexicalIndexError(f"{self.path} holds no lexical index yet")
        schema = self._meta("schema")
        if schema != str(SCHEMA):
            raise LexicalIndexError(f"the lexical index {self.path} has schema {schema}, "
                                    f"expected {SCHEMA}: delete it to rebuild it")

    def _create(self) -> None:
        for statement in _SCHEMA:
            self.db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def copy_to(self, path: str) -> None:
        """A consistent copy of the index in ``path`` (a new file), in rollback-journal
        mode: a reader on a read-only mount then needs no write-ahead log files."""
        try:
            target = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise LexicalIndexError(f"cannot write {path}: {exc}") from exc
        try:
            with self._guard():
                self.db.backup(target)
                target.execute("PRAGMA journal_mode = DELETE").fetchall()
        finally:
            target.close()

    def checkpoint(self) -> None:
        """Write the write-ahead log into the database file, and empty it."""
        with self._guard():
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def __enter__(self) -> LexicalIndex:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite errors -> LexicalIndexError, under the connection's lock."""
        with self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                text = str(exc)
                if is_disk_full(exc):
                    raise LexicalIndexFull(os.path.dirname(os.path.abspath(self.path))) from exc
                if "not a database" in text or "malformed" in text or "corrupt" in text:
                    raise LexicalIndexError(
                        f"the lexical index {self.path} is corrupted ({text}): delete it "
                        "to rebuild it from the graph store") from exc
                raise LexicalIndexError(f"lexical index {self.path}: {text}") from exc

    @contextmanager
    def _write(self, revision: int | None) -> Iterator[sqlite3.Connection]:
        """One write transaction (that also sets the revision, when given)."""
        with self._guard():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                if revision is not None:
                    self._set_meta("revision", str(int(revision)))
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- writes ------------------------------------------------------------------------

    def sync(self, chunks: Iterable[Chunk], *, revision: int | None = None,
             tokenized: Mapping[str, LexicalRow] | None = None,
             tick: Callable[[], None] | None = None) -> SyncReport:
        """Make the index hold exactly ``chunks`` (one transaction; idempotent).
        ``tokenized``: rows already made for some of them (by chunk id; used when the hash
        matches), so that only the others are tokenized here. ``tick`` is called between
        batches of rows: an exception it raises (a cancel) rolls the sync back."""
        with self.syncing(chunks, revision=revision, tokenized=tokenized,
                          tick=tick) as report:
            return report

    @contextmanager
    def syncing(self, chunks: Iterable[Chunk], *, revision: int | None = None,
                tokenized: Mapping[str, LexicalRow] | None = None,
                tick: Callable[[], None] | None = None) -> Iterator[SyncReport]:
        """``sync``, with its transaction committed when the block ends (and rolled back if
        it raises): the caller picks the moment readers see the new rows."""
        wanted = {c.id: c for c in chunks}
        known = tokenized or {}
        with self._write(revision) as db:
            held: dict[str, str] = dict(db.execute("SELECT chunk_id, hash FROM docs"))
            stale = [cid for cid, h in held.items()
                     if (c := wanted.get(cid)) is None or c.hash != h]
            fresh = [c for cid, c in wanted.items() if held.get(cid) != c.hash]
            if stale and len(stale) == len(held):
                db.execute("DELETE FROM docs")
                db.execute("DROP TABLE fts")
                self._create()
            else:
                self._delete(stale)
            for start in range(0, len(fresh), SYNC_BATCH):
                if tick is not None:
                    tick()
                self._insert([row if (row := known.get(c.id)) is not None
                              and row.hash == c.hash else lexical_row(c)
                              for c in fresh[start:start + SYNC_BATCH]])
            yield SyncReport(len(fresh), len(stale), len(wanted) - len(fresh))

    def replace_files(self, repo: str, rows: Mapping[str, Sequence[LexicalRow]], *,
                      revision: int | None = None, staged: Sequence[str] = ()) -> SyncReport:
        """Make these files of ``repo`` (path -> its rows; none: it has no chunks now)
        hold exactly these rows, and the rows staged in the ``staged`` files
        (``lexical_stage.py``, rows of files among them); every other file is left alone.
        One transaction, or one per group of staged files (``revision`` is set by the
        last: a run killed in between leaves the index behind the store's revision, and
        the next one syncs it)."""
        wanted = {r.chunk_id: r for path_rows in rows.values() for r in path_rows}
        groups = [staged[at:at + _ATTACH_GROUP] for at in range(0, len(staged), _ATTACH_GROUP)]
        with self._write(None if groups else revision):
            held = self._held(repo, list(rows))
            stale = [cid for cid, h in held.items()
                     if (r := wanted.get(cid)) is None or r.hash != h]
            fresh = [r for cid, r in wanted.items() if held.get(cid) != r.hash]
            self._delete(stale)
            self._insert(fresh)
        added = sum(self._insert_staged(group, revision if n == len(groups) else None)
                    for n, group in enumerate(groups, 1))
        return SyncReport(len(fresh) + added, len(stale), len(wanted) - len(fresh))

    def _insert_staged(self, files: Sequence[str], revision: int | None) -> int:
        """Copy the rows of staged files in, in SQL alone: one transaction."""
        names = [f"stage{i}" for i in range(len(files))]
        with self._guard():  # (SQLite attaches outside transactions only)
            for name, path in zip(names, files, strict=True):
                self.db.execute(f"ATTACH ? AS {name}", (path,))
        try:
            added = 0
            with self._write(revision) as db:
                for name in names:
                    table = f"{name}.{STAGE_TABLE}"
                    base = db.execute("SELECT coalesce(max(rowid), 0) FROM docs").fetchone()[0]
                    added += db.execute(f"INSERT INTO docs SELECT ? + rowid, {_DOC_COLUMNS} "
                                        f"FROM {table}", (base,)).rowcount
                    db.execute("INSERT INTO fts(rowid, name, context, body) SELECT ? + rowid, "
                               f"name, context, body FROM {table}", (base,))
        finally:
            with self._guard():
                for name in names:
                    self.db.execute(f"DETACH {name}")
        return added

    def _held(self, repo: str, paths: list[str]) -> dict[str, str]:
        """chunk_id -> hash of the chunks held for these files."""
        if len(paths) > _SCAN_ABOVE:
            wanted = set(paths)
            return {cid: h for cid, h, path in self.db.execute(
                "SELECT chunk_id, hash, path FROM docs WHERE repo = ?", (repo,))
                if path in wanted}
        held: dict[str, str] = {}
        for path in paths:
            held.update(self.db.execute(
                "SELECT chunk_id, hash FROM docs WHERE repo = ? AND path = ?", (repo, path)))
        return held

    def upsert(self, chunks: Iterable[Chunk], *, revision: int | None = None) -> SyncReport:
        """Add new chunks and replace changed ones; keep every other chunk."""
        wanted = {c.id: c for c in chunks}
        with self._write(revision) as db:
            fresh = [c for c in wanted.values() if (row := db.execute(
                "SELECT hash FROM docs WHERE chunk_id = ?", (c.id,)).fetchone()) is None
                or row[0] != c.hash]
            removed = self._delete([c.id for c in fresh])
            self._insert([lexical_row(c) for c in fresh])
        return SyncReport(len(fresh), removed, len(wanted) - len(fresh))

    def remove(self, chunk_ids: Iterable[str], *, revision: int | None = None) -> int:
        """Remove these chunks (absent ones are ignored): how many were removed."""
        with self._write(revision):
            return self._delete(list(dict.fromkeys(chunk_ids)))

    def set_revision(self, revision: int) -> None:
        with self._write(revision):
            pass

    def _delete(self, chunk_ids: list[str]) -> int:
        if not chunk_ids:
            return 0
        self.db.executemany("DELETE FROM fts WHERE rowid = (SELECT rowid FROM docs "
                            "WHERE chunk_id = ?)", ((i,) for i in chunk_ids))
        return self.db.executemany("DELETE FROM docs WHERE chunk_id = ?",
                                   ((i,) for i in chunk_ids)).rowcount

    def _insert(self, rows: list[LexicalRow]) -> None:
        if not rows:
            return
        db = self.db
        first = int(db.execute("SELECT coalesce(max(rowid), 0) + 1 FROM docs").fetchone()[0])
        db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?)",
                       ((first + i, *row[:6]) for i, row in enumerate(rows)))
        db.executemany("INSERT INTO fts(rowid, name, context, body) VALUES (?, ?, ?, ?)",
                       ((first + i, *row[6:]) for i, row in enumerate(rows)))

    # -- reads -------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        with self._guard():
            value = self._meta("revision")
        return int(value) if value is not None else 0

    def count(self) -> int:
        with self._guard():
            return int(self.db.execute("SELECT count(*) FROM docs").fetchone()[0])

    def chunk_ids(self) -> dict[str, str]:
        """Every chunk held: chunk_id -> hash."""
        with self._guard():
            return dict(self.db.execute("SELECT chunk_id, hash FROM docs"))

    def filter_ids(self, *, repo: str | None = None, language: str | None = None,
                   kind: str | None = None, path: str | None = None) -> set[str]:
        """The ids of the chunks that pass these filters (as in ``search``)."""
        where, params = _filters(repo, language, kind, path)
        with self._guard():
            return {r[0] for r in self.db.execute(
                f"SELECT chunk_id FROM docs AS d WHERE 1{where}", params)}

    def chunk_locations(self, chunk_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """chunk_id -> (repo, path) for the chunks held, in the order asked."""
        ids = list(dict.fromkeys(chunk_ids))
        found: dict[str, tuple[str, str]] = {}
        with self._guard():
            for at in range(0, len(ids), 500):
                batch = ids[at:at + 500]
                found.update((cid, (repo, path)) for cid, repo, path in self.db.execute(
                    "SELECT chunk_id, repo, path FROM docs WHERE chunk_id IN "
                    f"({','.join('?' * len(batch))})", batch))
        return {cid: found[cid] for cid in ids if cid in found}

    def search(self, query: str, *, repo: str | None = None, language: str | None = None,
               kind: str | None = None, path: str | None = None, limit: int = 10,
               offset: int = 0) -> list[LexicalHit]:
        """Chunks by BM25 relevance: those with every query term first, then the others
        with any term. Filters are exact (``path`` is SQLite GLOB: case-sensitive,
        ``*`` also matches ``/``). A query without terms (empty, only punctuation or stop
        words) finds nothing.

        Two tiers, two queries: the all-terms one is small and fast, and fills most pages
        alone; the any-term one (BM25 over every row with a term) runs only to complete a
        page, and then the all-terms rows are few: they are left out of its ranking by
        their chunk ids. A row scores the same in either (bm25 sums over the terms it has).
        """
        terms = query_terms(query)[:MAX_QUERY_TERMS]
        if not terms or limit <= 0:
            return []
        offset = max(offset, 0)
        quoted = _quoted(terms)
        where, params = _filters(repo, language, kind, path)
        params.update({"all": " AND ".join(quoted), "any": " OR ".join(quoted),
                       "w0": WEIGHTS[0], "w1": WEIGHTS[1], "w2": WEIGHTS[2]})
        base = f"FROM fts JOIN docs AS d ON d.rowid = fts.rowid WHERE fts MATCH :m{where}"
        rows: list[tuple[str, float]] = []
        with self._guard():
            self.db.execute("BEGIN")  # one snapshot for both tiers
            try:
                n_all = 0
                if len(terms) > 1:
                    n_all = self.db.execute(f"SELECT count(*) {base}",
                                            {**params, "m": params["all"]}).fetchone()[0]
                if offset < n_all:
                    rows += self._page(where, {**params, "m": params["all"]}, limit, offset)
                if len(rows) < limit:  # then n_all < offset + limit: few
                    skip, want = max(0, offset - n_all), limit - len(rows)
                    anyone = {**params, "m": params["any"]}
                    if n_all:  # the any-term rows, less those ranked above
                        above = {cid for (cid,) in self.db.execute(
                            f"SELECT d.chunk_id {base}", {**params, "m": params["all"]})}
                        ranked = self._page(where, anyone, skip + want + n_all, 0)
                        rows += [r for r in ranked if r[0] not in above][skip:skip + want]
                    else:
                        rows += self._page(where, anyone, want, skip)
            finally:
                self.db.execute("COMMIT")
        return [LexicalHit(cid, -b, offset + i + 1) for i, (cid, b) in enumerate(rows)]

    def _page(self, where: str, params: dict[str, Any], limit: int,
              offset: int) -> list[tuple[str, float]]:
        """(chunk id, bm25) of one tier's page: by score, then chunk id. Unfiltered, the
        rows are ranked in the full-text index alone and only the page's are joined to
        their chunk ids (joining every matched row first, and leaving the all-terms rows
        out with a subquery, made a search at 100k chunks cost 33 ms of CPU, not 25); a
        tie on the last score fetched would make the cut arbitrary, so it then falls back
        to ranking joined rows."""
        joined = (f"SELECT d.chunk_id, bm25(fts, :w0, :w1, :w2) AS b FROM fts JOIN docs AS d "
                  f"ON d.rowid = fts.rowid WHERE fts MATCH :m{where} "
                  "ORDER BY b, d.chunk_id LIMIT :limit OFFSET :offset")
        if not where:
            wanted = offset + limit + 1
            ranked = list(self.db.execute(
                "SELECT d.chunk_id, s.b FROM (SELECT fts.rowid AS r, bm25(fts, :w0, :w1, :w2) "
                "AS b FROM fts WHERE fts MATCH :m ORDER BY b LIMIT :wanted) AS s "
                "JOIN docs AS d ON d.rowid = s.r ORDER BY s.b, d.chunk_id",
                {**params, "wanted": wanted}))
            if len(ranked) < wanted or ranked[-1][1] != ranked[-2][1]:
                return ranked[offset:offset + limit]
        return list(self.db.execute(joined, {**params, "limit": limit, "offset": offset}))
