"""Pausing Python's cyclic garbage collector during a bulk indexing step."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Automatic cyclic garbage collection off for the duration.

    An indexing run builds millions of small objects (facts, symbols, records, unpickled
    worker results) that live until it ends, and makes no reference cycles to speak of:
    the collector would only traverse the growing heap again and again, which took a
    quarter of the main process's time on a large repository. Worker processes forked
    meanwhile inherit the setting. Reference counting still frees everything else as
    usual, and cycles made meanwhile are collected once the collector is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
