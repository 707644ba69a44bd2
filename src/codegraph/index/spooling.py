"""Where a phase's store puts go during a bulk load, and forked pools whose workers spool.

During a bulk load (see ``indexer.py``), the parse and resolve phases hand their puts to
the spool of the process they run in (``spool_puts``) instead of returning them to the
indexing process. A worker's spool is a forked copy of the indexing process's one; when
the pool's work is done, each worker writes out its own and reports its files.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from codegraph.store.edges import Record
from codegraph.store.sst import Spool, SstFile

FINISH_TIMEOUT = 600.0  # seconds a worker waits for the others to take their finish task

# Set while a phase runs (before workers fork, so that they inherit it).
_SPOOL: Spool | None = None
_BARRIER: Any = None  # a multiprocessing Barrier, one party per worker


def spooling() -> bool:
    return _SPOOL is not None


def spool_puts(records: Iterable[Record]) -> None:
    assert _SPOOL is not None
    _SPOOL.add(records)


@contextmanager
def spooled(spool: Spool | None) -> Iterator[None]:
    """Puts go to ``spool`` (when given) in this process and in pools started meanwhile."""
    global _SPOOL
    _SPOOL = spool
    try:
        yield
    finally:
        _SPOOL = None


def _ignore_sigint() -> None:
    # Workers leave signal handling (Ctrl-C) to the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _finish_worker(_: int) -> list[SstFile]:
    assert _SPOOL is not None and _BARRIER is not None
    # Every worker waits here until all of them have taken one of these tasks: so each
    # worker takes exactly one, and writes out its own spool.
    _BARRIER.wait(timeout=FINISH_TIMEOUT)
    return _SPOOL.finish()


@contextmanager
def forked_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` forked processes. When a spool is set, leaving the block
    (without an exception) has every worker write out its spool, and adds their files to
    the files of this process's spool."""
    global _BARRIER
    ctx = multiprocessing.get_context("fork")
    spool = _SPOOL
    # Each worker gets a copy of this process's spool: it must hold nothing yet.
    assert spool is None or spool.empty, "a spool must be empty when workers fork"
    _BARRIER = ctx.Barrier(workers) if spool is not None else None
    try:
        # With "fork", the pool starts all of its workers at once (Python >= 3.11).
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_ignore_sigint) as pool:
            yield pool
            if spool is not None:
                for files in pool.map(_finish_worker, range(workers)):
                    spool.files.extend(files)
    finally:
        _BARRIER = None

