"""Where a phase's output goes during a bulk load, and pools whose workers write their own.

During a bulk load (see ``bulk.py``), the parse and resolve phases hand their store puts
to a :class:`Spool`, and the parse phase its lexical rows to a :class:`RowStage`, instead
of returning them to the indexing process: an :class:`Output`. The indexing process passes
its own where it parses or resolves; a pool's workers each make theirs when they start
(the pool's initializer), write to it, and when the pool's work is done, each worker writes
out its own and reports its files (``finish_workers``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from codegraph.index.pools import worker_pool
from codegraph.search.lexical_stage import RowStage
from codegraph.store.sst import Spool, SstFile

FINISH_TIMEOUT = 600.0  # seconds a worker waits for the others to take their finish task


@dataclass(slots=True)
class Output:
    """A process's spool and row stage (those given)."""

    spool: Spool | None = None
    stage: RowStage | None = None

    def plan(self) -> tuple[str | None, str, str | None]:
        """What a worker makes its own from (``_open``): the directories, the spool's name."""
        return (self.spool.directory if self.spool else None,
                self.spool.name if self.spool else "", self.stage.directory if self.stage else None)


def _open(plan: tuple[str | None, str, str | None]) -> Output:
    spool_directory, name, stage_directory = plan
    return Output(Spool(spool_directory, name) if spool_directory else None,
                  RowStage(stage_directory) if stage_directory else None)


# A pool worker's, made when it starts (``_start_worker``).
_OUTPUT: Output | None = None
_BARRIER: Any = None  # a multiprocessing Barrier, one party per worker


def worker_output() -> Output | None:
    """In a pool worker: its own output (None when its pool writes none)."""
    return _OUTPUT


def _start_worker(plan: tuple[str | None, str, str | None] | None, barrier: Any,
                  initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    global _OUTPUT, _BARRIER
    _OUTPUT = _open(plan) if plan is not None else None
    _BARRIER = barrier
    if initializer is not None:
        initializer(*initargs)


def _finish_worker(_: int) -> tuple[list[SstFile], list[str]]:
    assert _BARRIER is not None and _OUTPUT is not None
    # Every worker waits here until all of them have taken one of these tasks: so each
    # worker takes exactly one, and writes out its own spool and stage.
    _BARRIER.wait(timeout=FINISH_TIMEOUT)
    return (_OUTPUT.spool.finish() if _OUTPUT.spool is not None else [],
            _OUTPUT.stage.finish() if _OUTPUT.stage is not None else [])


@contextmanager
def output_pool(workers: int, start_method: str, output: Output | None,
                initializer: Callable[..., None] | None = None,
                initargs: tuple[Any, ...] = ()) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` processes (``pools.worker_pool``), each with an output like
    ``output``, if given, of its own; leaving the block (without an exception) has every
    worker write out its own (``finish_workers``)."""
    writing = output is not None and (output.spool is not None or output.stage is not None)
    barrier = multiprocessing.get_context(start_method).Barrier(workers) if writing else None
    plan = output.plan() if output is not None and writing else None
    with worker_pool(workers, start_method, _start_worker,
                     (plan, barrier, initializer, initargs)) as pool:
        yield pool
        if output is not None and writing:
            finish_workers(pool, workers, output)


def finish_workers(pool: ProcessPoolExecutor, workers: int, output: Output) -> None:
    """Have every (idle) worker of an ``output_pool`` write out its spool and stage, and add
    their files to those of ``output`` (this process's); the workers can go on spooling
    after it."""
    finishing = [pool.submit(_finish_worker, i) for i in range(workers)]
    if output.spool is not None:  # this process's own puts, written while the workers write
        output.spool.spill()
    for sst_files, stage_files in (f.result() for f in finishing):
        if output.spool is not None:
            output.spool.files.extend(sst_files)
        if output.stage is not None:
            output.stage.files.extend(stage_files)
