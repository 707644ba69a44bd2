"""Resolving files' edges, in worker processes when a cold run has many files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from codegraph.graph.build import external_node, resolve_types, resolve_uses
from codegraph.graph.model import (
    DISPATCH,
    EXTERNAL,
    INFERRED,
    NAME_MATCH,
    SAME_SCOPE,
    Edge,
    EdgeKind,
)
from codegraph.graph.symbols import FileUnit, MemoryTable, SymbolTable
from codegraph.index.spooling import Output, output_pool, worker_output
from codegraph.store.records import (
    Record,
    dependency_records,
    edge_records,
    external_node_records,
)

POOL_THRESHOLD = 200  # fewer files than this are resolved in-process


@dataclass(slots=True)
class ResolvedFile:
    path: str
    language: str
    records: list[Record]  # puts for the edges (none when spooled)
    deps: list[str]  # names whose definition elsewhere would change these edges (sorted)
    externals: dict[str, str]  # the external nodes its edges point to: id -> qualified name


def pack_edges(unit: FileUnit, edges: list[Edge], output: Output | None = None,
               ) -> ResolvedFile:
    own = {unit.module_id, *unit.def_ids}
    by_source: dict[str, list[Edge]] = {}
    deps: set[str] = set()
    externals: dict[str, str] = {}
    for e in edges:
        if e.kind == EdgeKind.REFERENCES and e.resolution == EXTERNAL:
            continue  # an unresolved type or decorator name says nothing useful
        if e.src not in own:  # a node's outgoing edges are stored whole, by its own file
            raise ValueError(f"{unit.path}: an edge from {e.src}, not a node of this file")
        by_source.setdefault(e.src, []).append(e)
        if e.resolution in (NAME_MATCH, EXTERNAL, DISPATCH) or (
                e.kind == EdgeKind.CALLS and e.resolution in (SAME_SCOPE, INFERRED)):
            deps.add(e.name)  # another definition of the name may change them (an override)
        if e.external:
            externals[e.dst] = e.external
    # An imported name may be re-exported (its edges change with the exporter), and an
    # import's edge also changes when its module appears or goes.
    deps.update(i.name for i in unit.facts.imports if i.name)
    deps.update(i.module for i in unit.facts.imports if i.level == 0)
    records = [r for src, src_edges in by_source.items() for r in edge_records(src, src_edges)]
    if output is not None and output.spool is not None:
        # a bulk load: this process writes the edges and the file's dependencies
        records += dependency_records(unit.repo, unit.path, deps)
        output.spool.add(records)
        records = []
    return ResolvedFile(unit.path, unit.language, records, sorted(deps), externals)


def new_externals(resolved: ResolvedFile, written: set[str]) -> list[Record]:
    """The puts of the file's external nodes that are not in ``written`` yet, which it
    extends: external nodes are shared by the files of a run, and written once."""
    records: list[Record] = []
    for ext_id, qualified_name in resolved.externals.items():
        if ext_id not in written:
            written.add(ext_id)
            records += external_node_records(external_node(ext_id, qualified_name,
                                                           resolved.language))
    return records


# A pool worker's, set when it starts (``_start_worker``).
_WORKER: tuple[list[FileUnit], SymbolTable, dict[str, list[Edge]]] | None = None


def _start_worker(units: list[FileUnit], table: SymbolTable, typed: dict[str, list[Edge]],
                  ) -> None:
    global _WORKER
    _WORKER = (units, table, typed)


def _resolve_chunk(indexes: list[int]) -> list[ResolvedFile]:
    assert _WORKER is not None
    units, table, typed = _WORKER
    output = worker_output()
    out = []
    for i in indexes:
        unit = units[i]
        out.append(pack_edges(unit, typed[unit.path] + resolve_uses(unit, table), output))
    return out


def resolve_all(units: list[FileUnit], top: MemoryTable, table: SymbolTable, workers: int,
                output: Output | None = None, start_method: str = "fork",
                ) -> Iterator[ResolvedFile]:
    """Resolve units (with ``output``, a bulk load: this process writes to it, and each
    worker to its own). Workers are used only over an in-memory table (a worker cannot read
    the parent's RocksDB handles), and only forked ones: they inherit the units and the
    table. Spawned, each would be sent all of them, and take seconds to start (or to stop,
    on a busy machine: a server told to stop must do so within seconds)."""
    typed = resolve_types(units, top, table)
    if workers <= 1 or len(units) < POOL_THRESHOLD or table is not top \
            or start_method != "fork":
        for unit in units:
            yield pack_edges(unit, typed[unit.path] + resolve_uses(unit, table), output)
        return
    step = max(1, len(units) // (workers * 16))
    chunks = [list(range(i, min(i + step, len(units)))) for i in range(0, len(units), step)]
    with output_pool(workers, start_method, output, _start_worker,
                     (units, table, typed)) as pool:
        for batch in pool.map(_resolve_chunk, chunks):
            yield from batch
