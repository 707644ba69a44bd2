"""Reading and parsing files, in this process or in a pool of worker processes."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from codegraph.graph.layout import RepoLayout
from codegraph.graph.symbols import FileUnit
from codegraph.index.spooling import (
    finish_workers,
    forked_pool,
    spool_puts,
    spooling,
    stage_rows,
    staging,
)
from codegraph.index.walker import content_skip_reason
from codegraph.parse.facts import FileFacts
from codegraph.search.chunks import file_chunks
from codegraph.search.lexical import LexicalRow, lexical_row
from codegraph.store.codec import pack, unpack
from codegraph.store.records import Record, chunk_record, facts_record, node_records

POOL_THRESHOLD = 48  # fewer files than this are parsed in-process
SEGMENT_BYTES = 64 << 20  # of source, between the checkpoints of a bulk load


@dataclass(slots=True)
class ParseJob:
    path: str
    abspath: str
    language: str
    known_hash: str  # the stored content hash: equal content is not parsed again
    size: int = 0


@dataclass(slots=True)
class ParseResult:
    path: str
    hash: str = ""
    status: str = "ok"  # ok | partial | unchanged | skipped | failed
    reason: str = ""
    facts: bytes | None = None  # FileFacts.to_wire(), packed as the store holds it
    module: str = ""
    node_ids: list[str] | None = None  # the file, its module, then its definitions
    def_qnames: list[str] | None = None
    node_names: list[str] | None = None
    records: list[Record] | None = None  # puts for the nodes and chunks (none when spooled)
    lexical: list[LexicalRow] | None = None  # the chunks tokenized for lexical search (or staged)

    def wire(self) -> list[Any] | None:
        """The facts as ``FileFacts.to_wire()`` gave them."""
        return unpack(self.facts) if self.facts is not None else None

    def unit(self, repo: str, language: str) -> FileUnit:
        wire = self.wire()
        assert wire is not None and self.node_ids is not None
        return FileUnit(repo, self.path, language, self.module, self.node_ids[1],
                        self.node_ids[0], FileFacts.from_wire(wire), self.node_ids[2:],
                        self.def_qnames or [])


# Set before workers fork, so that they inherit it: (repository name, layout).
_CONTEXT: tuple[str, RepoLayout] | None = None


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def parse_one(job: ParseJob) -> ParseResult:
    from codegraph.parse.extract import MAX_DEPTH, extract

    try:
        with open(job.abspath, "rb") as f:
            data = f.read()
    except OSError as exc:
        return ParseResult(job.path, status="failed", reason=f"unreadable: {exc.strerror}")
    digest = content_hash(data)
    if digest == job.known_hash:
        return ParseResult(job.path, digest, status="unchanged")
    skip = content_skip_reason(data, job.path)
    if skip is not None:
        return ParseResult(job.path, digest, status="skipped", reason=skip)
    assert _CONTEXT is not None
    from codegraph.graph.build import make_unit

    try:
        facts = extract(data, job.language)
        graph = make_unit(_CONTEXT[0], job.path, facts, _CONTEXT[1])
    except Exception as exc:  # a grammar or hook bug must not stop the whole run
        return ParseResult(job.path, digest, status="failed",
                           reason=f"parser error: {type(exc).__name__}: {exc}")
    reasons = []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        reasons.append("invalid UTF-8 (undecodable bytes replaced)")
    if facts.error_lines:
        shown = ", ".join(map(str, facts.error_lines[:5]))
        more = "" if len(facts.error_lines) <= 5 else ", ..."
        reasons.append(f"syntax errors at lines {shown}{more}")
    if facts.folded:
        reasons.append(f"{facts.folded} definitions nested more than {MAX_DEPTH} levels deep "
                       "folded into the definition enclosing them")
    status = "partial" if reasons else "ok"
    records: list[Record] = []
    for n in graph.nodes:  # containment is each node's parent: no stored edges needed
        records += node_records(n)
    unit = graph.unit
    rows = []
    for chunk in file_chunks(unit.repo, job.path, facts, unit.def_ids, unit.def_qnames,
                             unit.module_id, unit.module, data):
        records.append(chunk_record(unit.repo, job.path, chunk.id, chunk.to_wire()))
        rows.append(lexical_row(chunk))
    wire = pack(facts.to_wire())
    if staging():  # a bulk load: this process writes the rows for the lexical index
        stage_rows(rows)
        rows = []
    if spooling():  # a bulk load: the facts too are written by this process
        records.append(facts_record(unit.repo, job.path, wire))
        spool_puts(records)
    return ParseResult(job.path, digest, status, "; ".join(reasons), wire,
                       graph.unit.module, [n.id for n in graph.nodes], graph.unit.def_qnames,
                       [n.name for n in graph.nodes], None if spooling() else records, rows)


def parse_all(jobs: list[ParseJob], workers: int, repo: str, layout: RepoLayout,
              checkpoint: Callable[[], None] | None = None) -> Iterator[ParseResult]:
    """Parse jobs, in parallel when there are enough of them; results in any order.

    With ``checkpoint`` (a bulk load), the workers' jobs come in segments of about
    ``SEGMENT_BYTES`` of source: after the results of each but the last have been taken,
    every worker writes out what it spooled, and ``checkpoint`` is called."""
    global _CONTEXT
    _CONTEXT = (repo, layout)
    if workers <= 1 or len(jobs) < POOL_THRESHOLD:
        yield from map(parse_one, jobs)
        return
    from codegraph.parse.extract import prepare

    for language in {job.language for job in jobs}:
        # Parser and compiled query, once: the workers inherit them. A language that
        # fails here fails again in parse_one, which reports it for each of its files.
        with contextlib.suppress(Exception):
            prepare(language)
    largest_first = sorted(jobs, key=lambda j: j.size, reverse=True)
    segments = _segments(largest_first, SEGMENT_BYTES) if checkpoint else [largest_first]
    with forked_pool(workers) as pool:
        for n, segment in enumerate(segments, 1):
            chunk = max(1, min(32, len(segment) // (workers * 8)))
            yield from pool.map(parse_one, segment, chunksize=chunk)
            if checkpoint is not None and n < len(segments):
                finish_workers(pool, workers)
                checkpoint()


def _segments(jobs: list[ParseJob], segment_bytes: int) -> list[list[ParseJob]]:
    """The jobs in order, cut where their sizes add up to ``segment_bytes``."""
    segments: list[list[ParseJob]] = [[]]
    size = 0
    for job in jobs:
        if size >= segment_bytes:
            segments.append([])
            size = 0
        segments[-1].append(job)
        size += job.size
    return segments
