"""Pools of worker processes for the parse and resolve phases.

What a worker needs is given to it when it starts (the pool's initializer, and its
arguments), whatever the start method: ``fork`` (the CLI: nothing is copied), or ``spawn``
(a server: forking a process whose other threads may hold locks would leave the child with
locks nobody releases). Not ``forkserver``: its workers are the fork server's children,
and keep it alive, so that they would outlive an indexing process killed with -9.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from codegraph.lifeline import die_with_parent

START_METHODS = ("fork", "spawn")


def _start_worker(parent: int, initializer: Callable[..., None] | None,
                  initargs: tuple[Any, ...]) -> None:
    die_with_parent(parent)  # a killed indexer leaves no worker behind
    # Workers leave Ctrl-C and SIGTERM (sent to the whole process group, say) to the
    # parent, which stops them: killed while it writes a result, a worker would leave a
    # torn message in the pool's pipe, and the pool's thread would wait for the rest.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


def worker_pool(workers: int, start_method: str,
                initializer: Callable[..., None] | None = None,
                initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started with ``start_method``, each of which runs
    ``initializer(*initargs)`` first (with ``fork``, the arguments are not copied)."""
    if start_method not in START_METHODS:
        raise ValueError(f"unknown start method {start_method!r}: one of {START_METHODS}")
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start_method),
                               initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))
