"""Reading and parsing files, in this process or in a pool of worker processes."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from codegraph.graph.layout import RepoLayout
from codegraph.graph.symbols import FileUnit
from codegraph.index.spooling import Output, finish_workers, output_pool, worker_output
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


@dataclass(frozen=True, slots=True)
class ParseContext:
    repo: str
    layout: RepoLayout


# A pool worker's, set when it starts (``_start_worker``).
_WORKER: ParseContext | None = None


# Bumped when the parser extracts new facts from the same source: a file whose stored hash
# has another version is parsed again (2: Python's receiver types, 3: JavaScript and
# TypeScript definitions by assignment and declared types; issue 16).
PARSER_VERSION = "p3"


def content_hash(data: bytes) -> str:
    """The file's content hash, tagged with the parser's version."""
    return f"{PARSER_VERSION}:{hashlib.blake2b(data, digest_size=16).hexdigest()}"


def parsed_by_this_version(stored_hash: str) -> bool:
    return stored_hash.startswith(f"{PARSER_VERSION}:")


def parse_one(job: ParseJob, context: ParseContext, output: Output | None = None,
              ) -> ParseResult:
    """Parse a file. During a bulk load (``output``), its puts go to the output's spool and
    its lexical rows to its stage (those given), not into the result."""
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
    from codegraph.graph.build import make_unit

    try:
        facts = extract(data, job.language)
        graph = make_unit(context.repo, job.path, facts, context.layout)
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
    spool = output.spool if output is not None else None
    if output is not None and output.stage is not None:  # this process writes the rows
        output.stage.add(rows)
        rows = []
    if spool is not None:  # the facts too are written by this process
        records.append(facts_record(unit.repo, job.path, wire))
        spool.add(records)
    return ParseResult(job.path, digest, status, "; ".join(reasons), wire,
                       graph.unit.module, [n.id for n in graph.nodes], graph.unit.def_qnames,
                       [n.name for n in graph.nodes], None if spool else records, rows)


def _prepare(languages: Iterable[str]) -> None:
    """Load the grammars and compile their queries now. A language that fails here fails
    again in parse_one, which reports it for each of its files."""
    from codegraph.parse.extract import prepare

    for language in languages:
        with contextlib.suppress(Exception):
            prepare(language)


def _start_worker(context: ParseContext, languages: list[str]) -> None:
    global _WORKER
    _prepare(languages)  # (forked: done already, in the parent)
    _WORKER = context


def _parse_in_worker(job: ParseJob) -> ParseResult:
    assert _WORKER is not None
    return parse_one(job, _WORKER, worker_output())


def parse_all(jobs: list[ParseJob], workers: int, context: ParseContext,
              output: Output | None = None, checkpoint: Callable[[], None] | None = None,
              start_method: str = "fork") -> Iterator[ParseResult]:
    """Parse jobs, in parallel when there are enough of them; results in any order. With
    ``output`` (a bulk load), this process writes to it, and each worker to its own.

    With ``checkpoint`` (a bulk load), the workers' jobs come in segments of about
    ``SEGMENT_BYTES`` of source: after the results of each but the last have been taken,
    every worker writes out what it spooled, and ``checkpoint`` is called."""
    if workers <= 1 or len(jobs) < POOL_THRESHOLD:
        yield from (parse_one(job, context, output) for job in jobs)
        return
    languages = sorted({job.language for job in jobs})
    if start_method == "fork":
        _prepare(languages)  # once, for all the workers
    largest_first = sorted(jobs, key=lambda j: j.size, reverse=True)
    segments = _segments(largest_first, SEGMENT_BYTES) if checkpoint else [largest_first]
    with output_pool(workers, start_method, output, _start_worker,
                     (context, languages)) as pool:
        for n, segment in enumerate(segments, 1):
            # Spawned workers take small chunks: a server told to stop waits for those
            # its workers have taken (forked ones, the CLI's, gain from larger ones).
            largest = 32 if start_method == "fork" else 8
            chunk = max(1, min(largest, len(segment) // (workers * 8)))
            yield from pool.map(_parse_in_worker, segment, chunksize=chunk)
            if output is not None and checkpoint is not None and n < len(segments):
                finish_workers(pool, workers, output)
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
