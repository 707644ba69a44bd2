"""Incremental indexing of a repository into the store.

A run has two phases, each committing one WriteBatch per file:

1. **parse**: every new or changed file (by size/mtime, then content hash) is parsed;
   its old nodes and edges are replaced by the new nodes, structural edges and facts,
   and it is marked *dirty*. Deleted files are removed with their edges. Files with
   edges into a changed file, or that depend on a name it added or removed, are
   marked dirty too.
2. **resolve**: every dirty file's calls, imports and references are resolved against
   the whole repository, its edges replaced and its dirty mark cleared.

Because dirty marks are written in the same batch as the change that causes them, a
run killed at any point leaves a store that the next run completes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from codegraph import config
from codegraph.errors import DiskFull
from codegraph.graph.build import make_unit, resolver_for
from codegraph.graph.layout import NAMING_FILES, RepoLayout
from codegraph.graph.model import Edge, EdgeKind, Node
from codegraph.graph.symbols import FileUnit, LayeredTable, MemoryTable, SymbolTable
from codegraph.index.bulk import BulkLoad, pending, recover
from codegraph.index.gcpause import gc_paused
from codegraph.index.parsing import (
    ParseContext,
    ParseJob,
    ParseResult,
    parse_all,
    parsed_by_this_version,
)
from codegraph.index.repos import repo_name_for
from codegraph.index.resolving import ResolvedFile, new_externals, resolve_all
from codegraph.index.spooling import Output
from codegraph.index.type_facts import typed_definitions
from codegraph.index.walker import (
    IGNORE_FILES,
    SkippedFile,
    SourceFile,
    is_utf8,
    shown_path,
    walk,
)
from codegraph.parse.facts import CLASS_LIKE, FileFacts
from codegraph.search.lexical import LexicalRow
from codegraph.search.lexical_stage import RowStage
from codegraph.store.rocks import FileRecord, Store
from codegraph.store.sst import discard_spools
from codegraph.store.table import StoreTable

STRUCTURAL_KINDS = frozenset({EdgeKind.CONTAINS, EdgeKind.DEFINES})
# The most a run adds to the data directory at once (store, lexical index, their temporary
# files) per byte of the source it parses, measured on first indexes: 11x for Django
# (17.5 MB of source, 194 MB at the peak), 14x for tests/test_crash.py's corpus, 10x for
# Flask. What a full disk's error says the run needs.
DISK_PER_SOURCE_BYTE = 15
# Given to ``progress`` after each file walked, parsed or resolved: a point where a run may
# stop (a cancelled job's progress raises), with nothing to show.
TICK: dict[str, Any] = {"event": "tick"}
_TYPE_EDGES = (EdgeKind.INHERITS, EdgeKind.IMPLEMENTS)
Progress = Callable[[dict[str, Any]], None]


class ChunkSink(Protocol):
    """Takes the chunks of each file a run parses, tokenized for lexical search (given, or
    staged in files), and hears when the run has made every chunk change it will (see
    search/lexical_feed.py)."""

    def add(self, repo: str, path: str, rows: Sequence[LexicalRow]) -> None: ...

    def stage_directory(self) -> str | None: ...

    def chunks_final(self, repo: str, changed: Sequence[str], revision: int,
                     staged: Sequence[str] = ()) -> None: ...

    def abort(self) -> None:
        """The run failed or was cancelled: drop what was staged, stop any writing."""


@dataclass(slots=True)
class IndexReport:
    repo: str
    root: str
    files: int = 0
    parsed: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: int = 0
    resolved: int = 0
    revision: int = 0
    seconds: float = 0.0
    problems: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # paths whose nodes and chunks changed

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def _imports(store: Store, rec: FileRecord, wire: list[Any] | None) -> set[tuple[str, ...]]:
    """(bound name, module, level, name) of a file's module-level imports from the
    repository: the names it may re-export (anything, for a wildcard: the files that
    import from its module depend on it)."""
    if wire is None:
        return set()
    return {(rec.module if imp.wildcard else imp.alias or imp.name or imp.module.split(".")[0],
             imp.module, str(imp.level), imp.name or "")
            for imp in FileFacts.from_wire(wire).imports
            if imp.source < 0 and (imp.level > 0
                                   or store.has_qualified_name(imp.module, rec.repo))}


def renamed_modules(stored: dict[str, FileRecord], added_or_gone: set[str],
                    parsing: set[str], layout: RepoLayout,
                    naming_changed: Iterable[str] = ()) -> list[str]:
    """Stored files, not parsed in this run, whose module names may change with the layout
    (and with them the ids of their nodes):

    - Python: a package's ``__init__.py`` added or removed renames the modules below it;
      those whose name changes;
    - Go and Rust: a naming file (``go.mod``, ``Cargo.toml``) added, removed or edited
      (``naming_changed``) may rename every module below it; all of them, each named
      again by its parse (a Go file's name may come from the package clause it holds)."""
    packages = {p.rpartition("/")[0] for p in added_or_gone
                if p.rpartition("/")[2] == "__init__.py"}
    named = {(NAMING_FILES[p.rpartition("/")[2]], p.rpartition("/")[0]) for p in naming_changed}
    if not packages and not named:
        return []
    python = resolver_for("python")

    def below(path: str, directory: str) -> bool:
        return not directory or path.startswith(directory + "/")

    out = []
    for path, rec in stored.items():
        if not rec.node_ids or path in parsing or path in added_or_gone:
            continue
        if rec.language == "python":
            if any(below(path, d) for d in packages) and \
                    python.module_name(path, "", layout) != rec.module:
                out.append(path)
        elif any(language == rec.language and below(path, d) for language, d in named):
            out.append(path)
    return out


def changed_naming_files(before: dict[str, str] | None, now: dict[str, str]) -> set[str]:
    """The naming files added, removed or edited since the last complete run (none known
    when it recorded none: a store from before they were recorded, or a first run)."""
    if before is None:
        return set()
    return {path for path in before.keys() | now.keys() if before.get(path) != now.get(path)}


class Indexer:
    def __init__(self, store: Store, *, workers: int | None = None,
                 max_file_size: int = 1_000_000, progress: Progress | None = None,
                 start_method: str = "fork") -> None:
        """``start_method``: how worker processes start (``pools.START_METHODS``): a
        process with other threads (a server) must not ``fork``."""
        self.store = store
        self.workers = workers or config.usable_cores()
        self.start_method = start_method
        self.max_file_size = max_file_size
        self.progress = progress or (lambda event: None)

    # -- entry points -------------------------------------------------------------------
    def index(self, root: str, name: str | None = None, full: bool = False,
              on_chunks: ChunkSink | None = None) -> IndexReport:
        root = os.path.realpath(root)
        if not os.path.exists(root):
            raise FileNotFoundError(f"no such directory: {root}")
        if not os.path.isdir(root):
            raise NotADirectoryError(f"not a directory: {root}")
        if not is_utf8(root):  # the store keys paths by their text
            raise ValueError(f"repository path is not valid UTF-8: {shown_path(root)}")
        repo = repo_name_for(self.store, root, name)
        started = time.monotonic()
        discard_spools(self.store)  # a killed run's, if any
        if pending(self.store, repo):  # a first index of it was killed while loading
            recover(self.store, repo)
        if full:
            self.remove_repo(repo)
        info = self.store.repos().get(repo) or {"root": root, "created": time.time()}
        self.store.put_repo(repo, info)
        report = IndexReport(repo, root)
        self.progress({"event": "walk", "repo": repo, "root": root})
        found: dict[str, SourceFile] = {}
        skipped: list[SkippedFile] = []
        for item in walk(root, max_file_size=self.max_file_size):
            self.progress(TICK)
            if isinstance(item, SourceFile):
                found[item.path] = item
            else:
                skipped.append(item)
        with gc_paused():
            self._apply(repo, root, found, skipped, report, complete=True, on_chunks=on_chunks)
        report.seconds = time.monotonic() - started
        info.update(last_indexed=time.time(), last_duration=report.seconds,
                    files=report.files, revision=self.store.revision)
        self.store.put_repo(repo, info)
        report.revision = self.store.revision
        self.progress({"event": "done", **report.to_dict()})
        return report

    def update_paths(self, repo: str, root: str, paths: Iterable[str]) -> IndexReport:
        """Re-index just these repo-relative paths (the file watcher's entry point). Among
        them, a naming file (``go.mod``, ``Cargo.toml``) or a package's ``__init__.py``
        added or removed makes it a complete run: the modules they name may all be
        renamed, and the files that hold them parsed again; so does an ignore file (which
        files are walked may change), or "." (the root: all of it)."""
        paths = list(paths)
        if any(p == "." or p.rpartition("/")[2] in (*NAMING_FILES, *IGNORE_FILES)
               for p in paths):
            return self.index(root, name=repo)
        started = time.monotonic()
        report = IndexReport(repo, root)
        found: dict[str, SourceFile] = {}
        skipped: list[SkippedFile] = []
        from codegraph.index.walker import stat_one

        gone = []
        for path in paths:
            item = stat_one(root, path, max_file_size=self.max_file_size)
            if item is None:
                gone.append(shown_path(path))  # as the walk records it
            elif isinstance(item, SourceFile):
                found[item.path] = item
            else:
                skipped.append(item)
        if any(p.rpartition("/")[2] == "__init__.py"
               and (p in found) != (self.store.file(repo, shown_path(p)) is not None)
               for p in paths):
            return self.index(root, name=repo)
        with gc_paused():
            self._apply(repo, root, found, skipped, report, complete=False, deleted=gone)
        report.seconds = time.monotonic() - started
        report.revision = self.store.revision
        return report

    def remove_repo(self, repo: str) -> None:
        records = list(self.store.files(repo))
        for rec in records:
            wb = self.store.batch()
            self._delete_file(wb, rec)
            self.store.commit(wb)
        wb = self.store.batch()
        self.store.delete_repo_meta(wb, repo)
        self.store.commit(wb)

    # -- the run ------------------------------------------------------------------------
    def _apply(self, repo: str, root: str, found: dict[str, SourceFile],
               skipped: list[SkippedFile], report: IndexReport, complete: bool,
               deleted: list[str] | None = None, on_chunks: ChunkSink | None = None) -> None:
        store = self.store
        stored = {rec.path: rec for rec in store.files(repo)} if complete else {
            p: r for p in [*found, *(s.path for s in skipped), *(deleted or [])]
            if (r := store.file(repo, p)) is not None
        }
        # A first index (nothing parsed is stored: at most skipped or failed files) is
        # loaded in bulk.
        cold = complete and not any(rec.node_ids for rec in stored.values())
        report.files = len(found)
        jobs = []
        for path, sf in found.items():
            rec = stored.get(path)
            if rec and rec.status in ("ok", "partial") and rec.size == sf.size \
                    and rec.mtime_ns == sf.mtime_ns and parsed_by_this_version(rec.hash):
                report.unchanged += 1
                continue
            known = rec.hash if rec and rec.status in ("ok", "partial") else ""
            jobs.append(ParseJob(path, sf.abspath, sf.language, known, sf.size))
        gone = set(deleted or [])
        if complete:
            gone |= {p for p in stored if p not in found}
        gone -= {s.path for s in skipped}

        layout = RepoLayout(root, set(found) | ({p for p in stored if p not in gone}
                                                if not complete else set()))
        # A complete run sees every naming file (go.mod, ...): those added, removed or
        # edited since the last one rename modules below them.
        naming = layout.naming_files((p, sf.language) for p, sf in found.items()) \
            if complete else None
        naming_changed = changed_naming_files(store.naming_files(repo), naming) \
            if naming is not None else set()
        parsing = {job.path for job in jobs}
        for path in renamed_modules(stored, set(found) - set(stored) | gone, parsing, layout,
                                    naming_changed):
            sf = found[path]  # unchanged, but named anew: parsed again, its nodes replaced
            jobs.append(ParseJob(path, sf.abspath, sf.language, "", sf.size))
            report.unchanged -= 1
        load = BulkLoad(store, repo) if cold else None
        # A bulk load's parse workers also write the lexical rows themselves, when they can.
        directory = on_chunks.stage_directory() if load and on_chunks else None
        stage = RowStage(directory) if directory else None
        try:
            top = MemoryTable()  # the parsed files' symbols, built while the workers parse
            output = Output(load.spool, stage) if load is not None else None
            units = self._parse(ParseContext(repo, layout), jobs, found, stored, top, report,
                                load, output, on_chunks)
            for path in sorted(gone):
                rec = stored.get(path)
                if rec is not None:
                    wb = store.batch()
                    self._delete_file(wb, rec)
                    store.commit(wb)
                    self.progress(TICK)
                    report.deleted += 1
                    report.changed.append(path)
            for s in skipped:
                self._write_skip(repo, s, stored.get(s.path), report)
            if load is not None:
                load.finish_parse()
            if on_chunks is not None:  # resolving changes edges, not chunks
                on_chunks.chunks_final(repo, report.changed, store.revision,
                                       stage.finish() if stage else ())
            dirty = set(store.dirty(repo)) - gone
            self._resolve(repo, layout, units, top, dirty, gone, report, load)
            if naming is not None:
                store.put_naming_files(repo, naming)
        except BaseException as exc:  # the temporary files go first: the disk may be full
            if load is not None:
                load.close()
            if on_chunks is not None:
                on_chunks.abort()
            if isinstance(exc, DiskFull) and exc.needed is None:
                exc.needed = DISK_PER_SOURCE_BYTE * sum(job.size for job in jobs)
            raise
        finally:
            if load is not None:
                load.close()

    def _parse(self, context: ParseContext, jobs: list[ParseJob],
               found: dict[str, SourceFile], stored: dict[str, FileRecord], top: MemoryTable,
               report: IndexReport, load: BulkLoad | None, output: Output | None,
               on_chunks: ChunkSink | None) -> dict[str, FileUnit]:
        """Parse the jobs and write (or spool, to ``output``) what they give; their units
        by path, also added to ``top``."""
        store, repo = self.store, context.repo
        units: dict[str, FileUnit] = {}
        self.progress({"event": "parse", "total": len(jobs)})
        checkpoint = load.checkpoint if load is not None else None
        for done, result in enumerate(parse_all(jobs, self.workers, context, output,
                                                checkpoint, self.start_method), 1):
            sf = found[result.path]
            rec = stored.get(result.path)
            if result.status == "unchanged" and rec is not None:
                rec.mtime_ns, rec.size = sf.mtime_ns, sf.size
                wb = store.batch()
                store.put_file(wb, rec)
                store.commit(wb, bump=False)
                report.unchanged += 1
            elif result.status in ("ok", "partial") and result.facts is not None:
                unit = result.unit(repo, sf.language)
                new_rec = FileRecord(repo, result.path, result.hash, sf.size, sf.mtime_ns,
                                     sf.language, result.status, result.reason,
                                     result.node_ids, unit.module, unit.facts.lines,
                                     rec.deps if rec else None)
                if load is not None:  # its puts are spooled: recorded at the phase's end
                    load.parsed(new_rec)
                else:
                    self._write_parsed(result, new_rec, rec)
                units[result.path] = unit
                top.add(unit)
                report.parsed += 1
                report.changed.append(result.path)
                if on_chunks is not None:
                    on_chunks.add(repo, result.path, result.lexical or [])
                if result.status == "partial":
                    report.problems.append((result.path, result.reason))
            else:
                self._write_problem(repo, sf, rec, result, report)
            if done % 200 == 0 or done == len(jobs):
                self.progress({"event": "parsed", "done": done, "total": len(jobs)})
            else:
                self.progress(TICK)
        return units

    def _write_parsed(self, result: ParseResult, rec: FileRecord, old: FileRecord | None,
                      ) -> None:
        store = self.store
        wb = store.batch()
        dependents: set[str] = set()
        old_names: dict[str, str] = {}  # id -> name
        if old is not None and old.node_ids:
            old_nodes = [n for n in store.nodes(old.node_ids) if n is not None]
            # Edges into nodes that survive stay valid; edges into removed ones must go.
            kept = set(rec.node_ids or [])
            dependents |= self._incoming_files([n for n in old_nodes if n.id not in kept],
                                               rec.path)
            dependents |= self._subclass_files(old_nodes, rec.path)
            removed: list[Edge] = []
            for n in old_nodes:
                old_names[n.id] = n.name
                removed += store.delete_out_edges(wb, n.id, n.repo)
                store.delete_node(wb, n)
            store.delete_orphaned_externals(wb, removed)  # resolving writes those it needs
            store.delete_chunks(wb, rec.repo, rec.path)
        # Names of added or removed definitions: another "f" changes name matches on "f"
        # even when this file defined one before.
        new_names = dict(zip(result.node_ids or [], result.node_names or [], strict=True))
        changed = {name for i, name in new_names.items() if i not in old_names}
        changed |= {name for i, name in old_names.items() if i not in new_names}
        # Names it imports at module level may be re-exported (``from m import *``).
        old_facts = store.facts(rec.repo, rec.path) if old is not None else None
        changed |= {i[0] for i in _imports(store, rec, old_facts)
                    ^ _imports(store, rec, result.wire())}
        # Names whose declared types changed: receivers typed through them may change.
        changed |= {name for t in typed_definitions(old_facts) ^ typed_definitions(result.wire())
                    for name in t[:2] if name}
        if old is None or old.module != rec.module:
            changed.add(rec.module)
        for name in changed:
            dependents |= store.dependents(rec.repo, name)
        store.put(wb, result.records or [])
        store.put_file(wb, rec)
        assert result.facts is not None  # (parsed)
        marks = store.marks
        marks.put_facts(wb, rec.repo, rec.path, result.facts)
        marks.mark_dirty(wb, rec.repo, rec.path)
        dependents.discard(rec.path)
        for path in dependents:
            marks.mark_dirty(wb, rec.repo, path)
        store.commit(wb)

    def _incoming_files(self, nodes: list[Node], own_path: str) -> set[str]:
        """Files with non-structural edges into these nodes."""
        sources: set[str] = set()
        for n in nodes:
            for e in self.store.edges(n.id, incoming=True):
                if e.kind not in STRUCTURAL_KINDS:
                    sources.add(e.src)
        files = {n.path for n in self.store.nodes(sorted(sources)) if n is not None}
        files.discard(own_path)
        return files

    def _subclass_files(self, nodes: list[Node], own_path: str) -> set[str]:
        """Files with classes that inherit from these nodes, directly or not: the methods
        that their ``self.m()`` calls find may change with them."""
        seen: set[str] = set()
        queue = [n.id for n in nodes if n.kind in CLASS_LIKE]
        while queue:
            for e in self.store.edges(queue.pop(), incoming=True, kinds=_TYPE_EDGES):
                if e.src not in seen:
                    seen.add(e.src)
                    queue.append(e.src)
        files = {n.path for n in self.store.nodes(sorted(seen)) if n is not None}
        files.discard(own_path)
        return files

    def _delete_file(self, wb: Any, rec: FileRecord) -> set[str]:
        store = self.store
        nodes = [n for n in store.nodes(rec.node_ids or []) if n is not None]
        dependents = self._incoming_files(nodes, rec.path) | self._subclass_files(nodes, rec.path)
        names = {n.name for n in nodes} | ({rec.module} if rec.module else set())
        names |= {i[0] for i in _imports(store, rec, store.facts(rec.repo, rec.path))}
        for name in names:
            dependents |= store.dependents(rec.repo, name)
        dependents.discard(rec.path)
        removed: list[Edge] = []
        for n in nodes:
            removed += store.delete_out_edges(wb, n.id, n.repo)
            store.delete_node(wb, n)
        store.delete_orphaned_externals(wb, removed)
        store.delete_file(wb, rec)
        for path in dependents:
            store.marks.mark_dirty(wb, rec.repo, path)
        return dependents

    def _write_problem(self, repo: str, sf: SourceFile, rec: FileRecord | None,
                       result: ParseResult, report: IndexReport) -> None:
        """Skipped content (binary, minified) or a failure: keep what was stored before."""
        if result.status == "skipped":
            report.skipped += 1
            if rec is not None and rec.node_ids:
                wb = self.store.batch()
                self._delete_file(wb, rec)
                self.store.commit(wb)
                report.changed.append(sf.path)
            new = FileRecord(repo, sf.path, result.hash, sf.size, sf.mtime_ns, sf.language,
                             "skipped", result.reason)
        else:
            report.failed += 1
            new = FileRecord(repo, sf.path, "", sf.size, sf.mtime_ns, sf.language, "failed",
                             result.reason, rec.node_ids if rec else None,
                             rec.module if rec else "", rec.lines if rec else 0,
                             rec.deps if rec else None)
        report.problems.append((sf.path, result.reason))
        wb = self.store.batch()
        self.store.put_file(wb, new)
        self.store.commit(wb)

    def _write_skip(self, repo: str, s: SkippedFile, rec: FileRecord | None,
                    report: IndexReport) -> None:
        report.skipped += 1
        report.problems.append((s.path, s.reason))
        if rec is not None and rec.status == "skipped" and rec.reason == s.reason:
            return
        wb = self.store.batch()
        if rec is not None and rec.node_ids:
            self._delete_file(wb, rec)
            report.changed.append(s.path)
        self.store.put_file(wb, FileRecord(repo, s.path, status="skipped", reason=s.reason))
        self.store.commit(wb)

    def _resolve(self, repo: str, layout: RepoLayout, units: dict[str, FileUnit],
                 top: MemoryTable, dirty: set[str], gone: set[str], report: IndexReport,
                 load: BulkLoad | None) -> None:
        """Resolve the dirty files' edges against the whole repository: the parsed files
        (``units``, whose symbols ``top`` holds) and the others, as stored or reloaded
        from their facts."""
        store = self.store
        hidden = gone | set(units)  # the store's view of these files is out of date
        reloaded = set()
        for path in sorted(dirty - set(units)):
            wire = store.facts(repo, path)
            if wire is None:
                continue
            unit = make_unit(repo, path, FileFacts.from_wire(wire), layout).unit
            units[path] = unit
            reloaded.add(path)
            hidden.add(path)
            top.add(unit)
        todo = [units[p] for p in sorted(dirty) if p in units]
        self.progress({"event": "resolve", "total": len(todo)})
        table: SymbolTable = (top if load is not None
                              else LayeredTable(top, StoreTable(store, repo), hidden))
        by_path = {u.path: u for u in todo}
        written_externals: set[str] = set()  # external nodes are shared: write each once
        output = Output(load.spool) if load is not None else None
        for i, resolved in enumerate(resolve_all(todo, top, table, self.workers, output,
                                                 self.start_method)):
            unit = by_path[resolved.path]
            if load is not None:
                load.resolved(unit, resolved, written_externals)
            else:
                self._write_resolved(unit, resolved, unit.path in reloaded, written_externals)
            report.resolved += 1
            if (i + 1) % 500 == 0:
                self.progress({"event": "resolved", "done": i + 1, "total": len(todo)})
            else:
                self.progress(TICK)
        if load is not None:
            load.finish_resolve(by_path)

    def _write_resolved(self, unit: FileUnit, resolved: ResolvedFile, reloaded: bool,
                        written_externals: set[str]) -> None:
        """Replace a file's edges and dependencies, and clear its dirty mark: one batch."""
        store, repo = self.store, unit.repo
        wb = store.batch()
        if reloaded:
            removed: list[Edge] = []
            for node_id in [unit.module_id, *unit.def_ids]:
                removed += store.delete_out_edges(wb, node_id, repo)
            written_externals.difference_update(
                store.delete_orphaned_externals(wb, removed, resolved.externals))
        store.put(wb, resolved.records)
        store.put(wb, new_externals(resolved, written_externals))
        rec = store.file(repo, unit.path)
        marks = store.marks
        if rec is not None:
            deps = resolved.deps
            marks.remove_dependencies(wb, repo, unit.path, set(rec.deps or []) - set(deps))
            marks.add_dependencies(wb, repo, unit.path, deps)
            rec.deps = deps
            store.put_file(wb, rec)
        marks.clear_dirty(wb, repo, unit.path)
        store.commit(wb)
