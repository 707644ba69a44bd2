"""Where a phase's output goes during a bulk load, and forked pools whose workers write it.

During a bulk load (see ``bulk.py``), the parse and resolve phases hand their store puts
to the spool of the process they run in (``spool_puts``), and the parse phase its lexical
rows to the process's row stage (``stage_rows``), instead of returning them to the
indexing process. A worker's spool and stage are forked copies of the indexing process's
ones; when the pool's work is done, each worker writes out its own and reports its files.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from codegraph.lifeline import die_with_parent
from codegraph.search.lexical import LexicalRow
from codegraph.search.lexical_stage import RowStage
from codegraph.store.records import Record
from codegraph.store.sst import Spool, SstFile

FINISH_TIMEOUT = 600.0  # seconds a worker waits for the others to take their finish task

# Set while a phase runs (before workers fork, so that they inherit them).
_SPOOL: Spool | None = None
_STAGE: RowStage | None = None
_BARRIER: Any = None  # a multiprocessing Barrier, one party per worker


def spooling() -> bool:
    return _SPOOL is not None


def spool_puts(records: Iterable[Record]) -> None:
    assert _SPOOL is not None
    _SPOOL.add(records)


def staging() -> bool:
    return _STAGE is not None


def stage_rows(rows: Sequence[LexicalRow]) -> None:
    assert _STAGE is not None
    _STAGE.add(rows)


@contextmanager
def spooled(spool: Spool | None, stage: RowStage | None = None) -> Iterator[None]:
    """Puts go to ``spool`` and lexical rows to ``stage`` (those given) in this process
    and in pools started meanwhile."""
    global _SPOOL, _STAGE
    _SPOOL, _STAGE = spool, stage
    try:
        yield
    finally:
        _SPOOL = _STAGE = None


def _start_worker(parent: int) -> None:
    die_with_parent(parent)  # a killed indexer leaves no worker behind
    # Workers leave Ctrl-C and SIGTERM (sent to the whole process group, say) to the
    # parent, which stops them: killed while it writes a result, a worker would leave a
    # torn message in the pool's pipe, and the pool's thread would wait for the rest.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _finish_worker(_: int) -> tuple[list[SstFile], list[str]]:
    assert _BARRIER is not None
    # Every worker waits here until all of them have taken one of these tasks: so each
    # worker takes exactly one, and writes out its own spool and stage.
    _BARRIER.wait(timeout=FINISH_TIMEOUT)
    return (_SPOOL.finish() if _SPOOL is not None else [],
            _STAGE.finish() if _STAGE is not None else [])


@contextmanager
def forked_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` forked processes. When a spool or stage is set, leaving the
    block (without an exception) has every worker write out its own (``finish_workers``)."""
    global _BARRIER
    ctx = multiprocessing.get_context("fork")
    # Each worker gets a copy of this process's spool and stage: they must be empty.
    assert _SPOOL is None or _SPOOL.empty, "a spool must be empty when workers fork"
    assert _STAGE is None or _STAGE.empty, "a row stage must be empty when workers fork"
    writing = _SPOOL is not None or _STAGE is not None
    _BARRIER = ctx.Barrier(workers) if writing else None
    try:
        # With "fork", the pool starts all of its workers at once (Python >= 3.11).
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker,
                                 initargs=(os.getpid(),)) as pool:
            yield pool
            if writing:
                finish_workers(pool, workers)
    finally:
        _BARRIER = None


def finish_workers(pool: ProcessPoolExecutor, workers: int) -> None:
    """Have every (idle) worker of a ``forked_pool`` write out its spool and stage, and add
    their files to those of this process's; the workers can go on spooling after it."""
    finishing = [pool.submit(_finish_worker, i) for i in range(workers)]
    if _SPOOL is not None:  # this process's own puts, written while the workers write theirs
        _SPOOL.spill()
    for sst_files, stage_files in (f.result() for f in finishing):
        if _SPOOL is not None:
            _SPOOL.files.extend(sst_files)
        if _STAGE is not None:
            _STAGE.files.extend(stage_files)
