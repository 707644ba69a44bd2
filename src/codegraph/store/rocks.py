"""The graph store on RocksDB (rocksdict): one writer, many read-only readers.

Column families and their keys (``\\0`` separates text parts, ids are 8 raw bytes):

- ``nodes``   id -> node record
- ``out``     src -> all of its outgoing edges (see ``edges.py``)
- ``in``      dst + kind + src + line -> edge record (edges by target, one key each)
- ``external_sites`` repo \\0 name \\0 kind + known + src + line + dst -> "" (external
  edges by the name at their site: how many calls to a name were left unresolved)
- ``names``   lower(name) \\0 repo \\0 id -> symbol (the name index)
- ``qnames``  qualified name \\0 repo \\0 id -> symbol
- ``files``   repo \\0 path -> file record (hash, size, mtime, status, node ids)
- ``facts``   repo \\0 path -> the file's parsed facts (to re-resolve without parsing)
- ``deps``    repo \\0 name \\0 path -> "" (files whose edges depend on a name)
- ``dirty``   repo \\0 path -> "" (files whose edges must be resolved again)
- ``chunks``  repo \\0 path \\0 chunk id -> search chunk (text, hash, node)
- ``embeddings`` model \\0 chunk hash -> float32 vector (the embedding cache)
- ``meta``    revision, schema, repositories

Every file's update is one atomic WriteBatch that also advances the revision.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rocksdict import (
    AccessType,
    BlockBasedOptions,
    Cache,
    Checkpoint,
    Options,
    Rdict,
    WriteBatch,
)

from codegraph.config import parse_size
from codegraph.errors import is_disk_full
from codegraph.graph.model import EXTERNAL, Edge, EdgeKind, Node
from codegraph.store import generations, keys, migrate
from codegraph.store.codec import pack as pack  # re-exported
from codegraph.store.codec import unpack as unpack  # re-exported
from codegraph.store.edges import decode_in_edge, decode_out, in_key, site_key, site_prefix
from codegraph.store.embedding_cache import EmbeddingCache
from codegraph.store.errors import StoreCorrupted as StoreCorrupted  # re-exported
from codegraph.store.errors import StoreError as StoreError  # re-exported
from codegraph.store.errors import StoreFull as StoreFull  # re-exported
from codegraph.store.errors import StoreLocked as StoreLocked  # re-exported
from codegraph.store.errors import raise_if_corrupted
from codegraph.store.errors import store_error as store_error  # re-exported
from codegraph.store.keys import REVISION, file_key, id_of, node_key
from codegraph.store.keys import SCHEMA as SCHEMA_KEY
from codegraph.store.marks import FileMarks
from codegraph.store.records import Record, node_records

# 2: a node's outgoing edges in one ``out`` value; 3: external nodes per language (their
# ids changed), a symbol's line and column in ``names`` and ``qnames`` values; 4: the
# ``external_sites`` index (a writer upgrades a store of schema 3: ``migrate.py``).
SCHEMA = 4
COLUMN_FAMILIES = ("nodes", "out", "in", "names", "qnames", "files", "facts", "deps", "dirty",
                   "chunks", "embeddings", "external_sites", "meta")
_WIRE_KIND, _WIRE_PARENT = 0, 12  # in a node record: ``Node.to_wire()``
SPOOL_DIRECTORY = "bulk-spool"  # in the store's directory: a bulk load's files (store/sst.py)




@dataclass(slots=True)
class FileRecord:
    repo: str
    path: str
    hash: str = ""
    size: int = 0
    mtime_ns: int = 0
    language: str = ""
    status: str = "ok"  # ok | partial | skipped | failed
    reason: str = ""
    node_ids: list[str] | None = None
    module: str = ""
    lines: int = 0
    deps: list[str] | None = None  # names this file's edges depend on (the ``deps`` index)

    def to_wire(self) -> bytes:
        return pack([self.hash, self.size, self.mtime_ns, self.language, self.status,
                     self.reason, self.node_ids or [], self.module, self.lines,
                     self.deps or []])

    @classmethod
    def from_wire(cls, repo: str, path: str, data: bytes) -> FileRecord:
        return cls(repo, path, *unpack(data))


class Store:
    """Open with ``Store.open(path)`` (writer) or ``Store.open(path, readonly=True)``.

    Column families and keys stay in this package: other modules read and write through
    typed methods, this class's and those of ``marks`` (dirty marks, dependencies, facts)
    and ``embedding_cache``; workers hand over puts built by ``records.py``."""

    def __init__(self, db: Rdict, path: str, readonly: bool, view: str | None = None) -> None:
        self._db = db
        self.path = path
        self.readonly = readonly
        self.block_cache: str | None = None  # as opened: a store built beside takes it too
        self._view = view  # see ``_linked_view``
        self._cf = {name: db.get_column_family(name) for name in COLUMN_FAMILIES}
        self._handle = {name: db.get_column_family_handle(name) for name in COLUMN_FAMILIES}
        raw = self._get("meta", REVISION)
        self._revision = int(raw) if raw else 0
        self._names: tuple[int, list[str]] | None = None  # (revision, distinct_names())

    @classmethod
    def open(cls, path: str, *, readonly: bool = False, block_cache: str | None = None,
             staging: Sequence[str] = (), tidy: bool = True) -> Store:
        """``staging``: directories of the writer's temporary files besides the store's own
        (``SPOOL_DIRECTORY``), emptied when the store cannot open for lack of space.
        ``tidy`` (a writer): remove what a crashed re-index left beside the store
        (``generations.py``); a switch's own open keeps the store it replaced."""
        opts = Options(raw_mode=True)
        cache_size = parse_size(block_cache or "64MB")
        table = BlockBasedOptions()
        table.set_block_cache(Cache(cache_size))
        opts.set_block_based_table_factory(table)
        # A quarter of the background jobs may be flushes: two flush threads, so that the
        # memtables of a large index reach disk two column families at a time.
        opts.set_max_background_jobs(8)
        # Large memtables: a cold index of a big repository fits in them, so it is not
        # slowed down by flushes and compactions competing for the parser's cores.
        opts.set_db_write_buffer_size(256 << 20)
        opts.set_write_buffer_size(128 << 20)
        cfs = {name: Options(raw_mode=True) for name in COLUMN_FAMILIES}
        view: str | None = None  # a read-only store's, see ``_linked_view``
        try:
            if readonly:
                if not os.path.isdir(path):
                    raise StoreError(f"no index at {path}: run `codegraph index PATH` first")
                view = None if _writable(path) else _linked_view(path)
                try:
                    db = Rdict(view or path, opts, column_families=cfs,
                               access_type=AccessType.read_only())
                except Exception as exc:
                    # A store of an older schema may lack a column family: say so.
                    older = migrate.older_store(view or path, path)
                    if view is not None:
                        _remove(view)
                    if older is not None:
                        raise older from exc
                    raise
                except BaseException:
                    if view is not None:
                        _remove(view)
                    raise
            else:
                generations.recover(path)  # a switch interrupted between two renames
                os.makedirs(path, exist_ok=True)
                if not os.access(path, os.W_OK):
                    raise StoreError(f"the data directory {path} is not writable")
                opts.create_if_missing(True)
                opts.create_missing_column_families(True)
                try:
                    db = Rdict(path, opts, column_families=cfs)
                except Exception as exc:
                    if not is_disk_full(exc):
                        raise
                    # RocksDB writes when it opens (the log it replays goes to a table file).
                    # What a failed or killed run left on the full disk may be in the way,
                    # and nobody is using it: the open took the store's lock before it failed.
                    for directory in (os.path.join(path, SPOOL_DIRECTORY), *staging):
                        _remove(directory)
                    generations.discard(path)  # and a killed full re-index's copy
                    db = Rdict(path, opts, column_families=cfs)
        except StoreError:
            raise
        except PermissionError as exc:
            raise StoreError(f"cannot open the store at {path}: {exc.strerror}") from exc
        except Exception as exc:  # rocksdict raises plain Exception with RocksDB's status
            raise store_error(path, exc, "open") from exc
        try:
            store = cls(db, path, readonly, view)  # reads the revision: may find damage
        except BaseException:
            db.close()
            if view is not None:
                _remove(view)
            raise
        store.block_cache = block_cache
        if tidy and not readonly:  # this process holds the lock: no build is running beside
            generations.discard(path)
        schema = store._get("meta", SCHEMA_KEY)
        if schema is None and not readonly:
            store._cf["meta"][SCHEMA_KEY] = str(SCHEMA).encode()
        elif schema is not None and int(schema) != SCHEMA:
            try:
                migrate.upgrade(store, int(schema))
            except BaseException:
                close_after(store.close, failed=True)
                raise
        return store

    def close(self) -> None:
        db = self._db
        if db is None:
            return
        self._cf.clear()
        self._handle.clear()
        failure: Exception | None = None  # (what a failed flush would write is in the log)
        if not self.readonly:
            try:
                db.flush()
            except Exception as exc:
                failure = exc
        try:
            db.close()
        except Exception as exc:  # RocksDB's background error (a failed flush), again
            failure = failure or exc
        self._db = None  # type: ignore[assignment]
        del db
        if self._view is not None:
            _remove(self._view)
            self._view = None
        if failure is not None:
            raise store_error(self.path, failure, "write to") from failure

    def flush(self, wait: bool = True, column_families: tuple[str, ...] = COLUMN_FAMILIES,
              ) -> None:
        """Write these column families' memtables to SST files (``wait=False``: in RocksDB's
        background threads, while this one goes on; closing waits for them)."""
        for name in column_families:
            self._cf[name].flush(wait)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        close_after(self.close, failed=exc_type is not None)

    @property
    def marks(self) -> FileMarks:
        """Dirty marks, dependencies and facts: what resolving a file again reads."""
        return FileMarks(self)

    @property
    def embedding_cache(self) -> EmbeddingCache:
        """Embeddings by model and chunk hash, and which chunks the vector index holds."""
        return EmbeddingCache(self)

    # -- revision and repositories ------------------------------------------------------
    @property
    def revision(self) -> int:
        return self._revision

    def batch(self) -> WriteBatch:
        return WriteBatch(raw_mode=True)

    def commit(self, wb: WriteBatch, bump: bool = True) -> int:
        """Apply a batch atomically, advancing the revision with it."""
        if bump:
            wb.put(REVISION, str(self._revision + 1).encode(), self._handle["meta"])
        try:
            self._db.write(wb)
        except Exception as exc:
            raise store_error(self.path, exc, "write to") from exc
        if bump:
            self._revision += 1
        return self._revision

    def repos(self) -> dict[str, dict[str, Any]]:
        out = {}
        for key, value in self._scan("meta", keys.REPO):
            out[key[len(keys.REPO):].decode()] = unpack(value)
        return out

    def put_repo(self, name: str, info: dict[str, Any]) -> None:
        wb = self.batch()
        wb.put(keys.REPO + name.encode(), pack(info), self._handle["meta"])
        self.commit(wb, bump=False)

    def delete_repo_meta(self, wb: WriteBatch, name: str) -> None:
        wb.delete(keys.REPO + name.encode(), self._handle["meta"])
        wb.delete(keys.NAMING + name.encode(), self._handle["meta"])

    def naming_files(self, repo: str) -> dict[str, str] | None:
        """The naming files (``go.mod``, ...: ``layout.NAMING_FILES``) that the repository's
        last complete run found, with digests of their content; None: none recorded."""
        raw = self._get("meta", keys.NAMING + repo.encode())
        return None if raw is None else dict(unpack(raw))

    def put_naming_files(self, repo: str, files: dict[str, str]) -> None:
        wb = self.batch()
        wb.put(keys.NAMING + repo.encode(), pack(files), self._handle["meta"])
        self.commit(wb, bump=False)

    # -- reading: RocksDB's "Corruption" raises StoreCorrupted -------------------------------
    def _get(self, cf: str, key: bytes) -> bytes | None:
        try:
            return self._cf[cf].get(key)
        except Exception as exc:
            raise_if_corrupted(self.path, exc)
            raise

    def _multi_get(self, cf: str, keys_: list[bytes]) -> list[bytes | None]:
        try:
            values = self._cf[cf].get(list[Any](keys_))
        except Exception as exc:
            raise_if_corrupted(self.path, exc)
            raise
        return list(values) if values is not None else [None] * len(keys_)

    def _scan(self, cf: str, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        it = self._cf[cf].iter()
        try:
            it.seek(prefix)
            while it.valid():
                key = it.key()
                if not key.startswith(prefix):
                    return
                yield key, it.value()
                it.next()
            # an iterator also stops at a read error (a damaged block): not the end
            it.status()
        except Exception as exc:
            raise store_error(self.path, exc, "read") from exc

    def _scan_keys(self, cf: str, prefix: bytes) -> Iterator[bytes]:
        for key, _ in self._scan(cf, prefix):
            yield key

    def node(self, node_id: str) -> Node | None:
        data = self._get("nodes", node_key(node_id))
        return Node.from_wire(node_id, unpack(data)) if data is not None else None

    def nodes(self, node_ids: list[str]) -> list[Node | None]:
        if not node_ids:
            return []
        values = self._multi_get("nodes", [node_key(i) for i in node_ids])
        return [Node.from_wire(i, unpack(v)) if v is not None else None
                for i, v in zip(node_ids, values, strict=True)]

    def kinds_and_parents(self, node_ids: list[str]) -> list[tuple[str, str] | None]:
        """Each node's kind and parent id (None: no such node), without making Nodes."""
        values = self._multi_get("nodes", [node_key(i) for i in node_ids]) if node_ids else []
        out: list[tuple[str, str] | None] = []
        for value in values:
            wire = unpack(value) if value is not None else None
            out.append((wire[_WIRE_KIND], wire[_WIRE_PARENT]) if wire is not None else None)
        return out

    def qualified_name_ids(self, qname: str, repo: str | None = None) -> list[str]:
        """The ids of the nodes with this qualified name (in one repository or any)."""
        prefix = qname.encode() + b"\0" + (repo.encode() + b"\0" if repo else b"")
        return [id_of(key) for key in self._scan_keys("qnames", prefix)]

    def has_qualified_name(self, qname: str, repo: str) -> bool:
        """Some node of the repository has this qualified name."""
        keys_ = self._scan_keys("qnames", keys.symbol_prefix(qname, repo))
        return next(keys_, None) is not None

    def name_ids(self, name: str, *, exact: bool, repo: str | None = None,
                 limit: int = 10_000) -> list[str]:
        """The ids of the nodes named ``name`` in any case (``exact``), or whose name
        starts with it in any case; in one repository or any; at most ``limit``."""
        prefix = name.lower().encode() + (b"\0" if exact else b"")
        ids = []
        for key in self._scan_keys("names", prefix):
            _key_name, key_repo, _ = [*key[:-9].decode(errors="replace").split("\x00"), ""]
            if repo and key_repo != repo:
                continue
            ids.append(id_of(key))
            if len(ids) >= limit:
                break
        return ids

    def external_sites(self, name: str, repo: str, kinds: tuple[EdgeKind, ...],
                       exclude: frozenset[str] = frozenset()) -> tuple[int, int]:
        """How many external edges of these kinds the nodes of ``repo`` have with ``name``
        written at their site, but for those into the nodes ``exclude``: (unresolved ones,
        known externals). Counted in the ``external_sites`` index: no edge is decoded."""
        skip = {bytes.fromhex(i) for i in exclude}
        counts = [0, 0]
        for kind in kinds:
            for known in (False, True):
                keys_ = self._scan_keys("external_sites", site_prefix(repo, name, kind, known))
                if skip:
                    counts[known] += sum(1 for key in keys_ if key[-8:] not in skip)
                else:
                    counts[known] += sum(1 for _ in keys_)
        return counts[0], counts[1]

    def edges(self, node_id: str, *, incoming: bool, kinds: tuple[EdgeKind, ...] = ()
              ) -> list[Edge]:
        """A node's edges by kind (in the order of ``kinds``; all if none), then by the
        other end's id and the line."""
        base = node_key(node_id)
        if not incoming:
            value = self._get("out", base)
            edges = decode_out(node_id, value) if value is not None else []
            return [e for k in kinds for e in edges if e.kind == k] if kinds else edges
        out: list[Edge] = []
        for prefix in [base + bytes([int(k)]) for k in kinds] if kinds else [base]:
            out.extend(decode_in_edge(k, v) for k, v in self._scan("in", prefix))
        return out

    def file(self, repo: str, path: str) -> FileRecord | None:
        data = self._get("files", file_key(repo, path))
        return FileRecord.from_wire(repo, path, data) if data is not None else None

    def files(self, repo: str) -> Iterator[FileRecord]:
        prefix = keys.repo_prefix(repo)
        for key, value in self._scan("files", prefix):
            yield FileRecord.from_wire(repo, key[len(prefix):].decode(), value)

    def facts(self, repo: str, path: str) -> Any:
        return self.marks.facts(repo, path)

    def dirty(self, repo: str) -> list[str]:
        return self.marks.dirty(repo)

    def dependents(self, repo: str, name: str) -> set[str]:
        return self.marks.dependents(repo, name)

    def distinct_names(self) -> list[str]:
        """Every distinct definition name (lowercased), sorted: what fuzzy name search
        scores. Read once per revision (a scan of the name index: 20 ms on Django)."""
        cached = self._names
        if cached is not None and cached[0] == self._revision:
            return cached[1]
        revision = self._revision
        names = sorted({key.split(b"\0", 1)[0].decode(errors="replace")
                        for key in self._scan_keys("names", b"")})
        self._names = (revision, names)
        return names

    def file_chunks(self, repo: str, path: str) -> Iterator[tuple[str, list[Any]]]:
        for key, value in self._scan("chunks", keys.chunk_prefix(repo, path)):
            yield id_of(key), unpack(value)

    def chunks(self, repo: str | None = None) -> Iterator[tuple[str, list[Any]]]:
        """(chunk id, chunk wire) of every stored chunk, or one repository's."""
        for key, value in self._scan("chunks", keys.repo_prefix(repo) if repo else b""):
            yield id_of(key), unpack(value)

    def chunk_ids(self) -> Iterator[str]:
        """The id of every stored chunk (none is unpacked)."""
        for key in self._scan_keys("chunks", b""):
            yield id_of(key)

    def chunks_at(self, locations: dict[str, tuple[str, str]]) -> dict[str, list[Any]]:
        """Chunk id -> chunk wire, for chunks given with their (repository, path); those
        not stored are left out."""
        values = self._multi_get("chunks", [keys.chunk_key(repo, path, i)
                                            for i, (repo, path) in locations.items()])
        return {i: unpack(v) for i, v in zip(locations, values, strict=True) if v is not None}

    # -- writing --------------------------------------------------------------------------
    def put(self, wb: WriteBatch, records: list[Record]) -> None:
        """Write puts built by ``records.py`` (and ``edges.py``)."""
        handle, put = self._handle, wb.put
        for cf, key, value in records:
            put(key, value, handle[cf])

    def put_node(self, wb: WriteBatch, n: Node) -> None:
        self.put(wb, node_records(n))

    def delete_node(self, wb: WriteBatch, n: Node) -> None:
        key = node_key(n.id)
        wb.delete(key, self._handle["nodes"])
        wb.delete(keys.symbol_prefix(n.name.lower(), n.repo) + key, self._handle["names"])
        wb.delete(keys.symbol_prefix(n.qualified_name, n.repo) + key, self._handle["qnames"])

    def delete_out_edges(self, wb: WriteBatch, node_id: str, repo: str) -> list[Edge]:
        """Delete the outgoing edges of a node of ``repo`` (from ``out``, ``in`` and
        ``external_sites``); returns them."""
        removed = self.edges(node_id, incoming=False)
        if removed:
            wb.delete(node_key(node_id), self._handle["out"])
            for e in removed:
                wb.delete(in_key(e), self._handle["in"])
                if e.resolution == EXTERNAL:
                    wb.delete(site_key(repo, e), self._handle["external_sites"])
        return removed

    def delete_orphaned_externals(self, wb: WriteBatch, removed: list[Edge],
                                  kept: Iterable[str] = ()) -> set[str]:
        """Delete the external nodes that no edge points to once the batch ``wb`` has
        deleted the ``removed`` edges, but for those in ``kept`` (that the batch points new
        edges to): an external node lives as long as an edge points to it, and goes in the
        batch that deletes the last one. Returns their ids.

        For each external node, the scan of the edges into it stops at the first one that
        the batch does not delete: a common name's thousands of callers are not read."""
        gone = {in_key(e) for e in removed if e.resolution == EXTERNAL}
        targets = {e.dst for e in removed if e.resolution == EXTERNAL} - set(kept)
        orphans = sorted(dst for dst in targets
                         if all(key in gone for key in self._scan_keys("in", node_key(dst))))
        for node in self.nodes(orphans):
            if node is not None and node.kind == "external":
                self.delete_node(wb, node)
        return set(orphans)

    def delete_chunks(self, wb: WriteBatch, repo: str, path: str) -> None:
        prefix = keys.chunk_prefix(repo, path)
        wb.delete_range(prefix, prefix[:-1] + b"\1", self._handle["chunks"])

    def put_file(self, wb: WriteBatch, rec: FileRecord) -> None:
        wb.put(file_key(rec.repo, rec.path), rec.to_wire(), self._handle["files"])

    def delete_file(self, wb: WriteBatch, rec: FileRecord) -> None:
        """Delete what is kept of a file besides its nodes and edges: its record, facts,
        dirty mark, chunks and dependencies (those its record lists)."""
        marks = self.marks
        marks.remove_dependencies(wb, rec.repo, rec.path, rec.deps or [])
        wb.delete(file_key(rec.repo, rec.path), self._handle["files"])
        marks.delete_facts(wb, rec.repo, rec.path)
        marks.clear_dirty(wb, rec.repo, rec.path)
        self.delete_chunks(wb, rec.repo, rec.path)

    def checkpoint(self, dest: str) -> str:
        """Publish a consistent point-in-time copy that readers can open read-only."""
        if os.path.exists(dest):
            raise StoreError(f"checkpoint destination {dest} already exists")
        self._db.flush()
        Checkpoint(self._db).create_checkpoint(dest)
        return dest

    def size_on_disk(self) -> int:
        total = 0
        for dirpath, _, filenames in os.walk(self.path):
            for f in filenames:
                with contextlib.suppress(OSError):
                    total += os.path.getsize(os.path.join(dirpath, f))
        return total


_ROCKSDICT_CONFIG = "rocksdict-config.json"  # rocksdict writes it at every open, even read-only


def _writable(path: str) -> bool:
    config = os.path.join(path, _ROCKSDICT_CONFIG)
    return os.access(path, os.W_OK) and (not os.path.exists(config)
                                         or os.access(config, os.W_OK))


def _linked_view(path: str) -> str:
    """A store that cannot be written to (a read-only mount, a published checkpoint, another
    user's files), seen through a directory of symbolic links to its files: rocksdict 0.3.29
    writes its config file where the store is opened, even read-only (fixed upstream, not
    released), and RocksDB its log. Both go to the view, a temporary directory removed when
    the store closes; RocksDB reads the files through the links."""
    try:
        import tempfile

        view = tempfile.mkdtemp(prefix="codegraph-store-")
    except OSError as exc:
        raise StoreError(f"cannot open the read-only store at {path}: no writable temporary "
                         f"directory for its view ({exc.strerror}): set TMPDIR") from exc
    for name in os.listdir(path):
        if name not in (_ROCKSDICT_CONFIG, "LOCK", SPOOL_DIRECTORY) \
                and not name.startswith("LOG"):
            os.symlink(os.path.join(path, name), os.path.join(view, name))
    return view


def _remove(directory: str) -> None:
    import shutil  # (queries start without it: only failures and read-only views need it)

    shutil.rmtree(directory, ignore_errors=True)


def close_after(close: Callable[[], None], failed: bool) -> None:
    """``close()`` when a ``with`` block ends; after a failure, a StoreError of its own is
    dropped: the error that ended the block comes first."""
    if not failed:
        close()
        return
    with contextlib.suppress(StoreError):
        close()
