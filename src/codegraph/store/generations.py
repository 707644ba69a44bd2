"""A store built beside the live one, then switched in whole: a full re-index.

Re-indexing a repository from scratch in place would remove it first, so readers would
find nothing while it runs, and a crash would leave it half built. Instead:

1. ``begin``: a checkpoint of the live store (hard links: cheap) at ``PATH.next``, opened
   as a second writable store. The re-index runs there; the live store is not written
   (its one writer is the one running the re-index) and readers see it unchanged.
2. ``switch``: the writer closes both stores (its own readers of the live one wait the
   moment this takes), ``PATH.next`` takes the place of ``PATH`` in one atomic rename
   (``renameat2(RENAME_EXCHANGE)``: the old store is at ``PATH.next`` afterwards), and the
   writer opens ``PATH``, then removes the old one. Readers in other processes that had
   the old store open keep reading the files they opened.

A crash before the exchange leaves ``PATH`` as it was; a crash after it, the new store.
Either way what is left at ``PATH.next`` is removed by ``discard`` when a writer next
opens the store (it holds ``PATH``'s lock, so no other writer can be building there).
Where the filesystem cannot exchange two names, ``PATH`` is renamed away and ``PATH.next``
into its place; a crash between the two renames leaves no ``PATH``, and ``recover`` (also
when a writer opens the store) completes the second rename, since the new store was
complete before the first.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from codegraph.durable import exchange, fsync_dir

if TYPE_CHECKING:  # the store module opens stores through this one: imported when used
    from codegraph.store.rocks import Store

NEXT = ".next"
OLD = ".old"


def staging_path(path: str) -> str:
    return path.rstrip("/") + NEXT


def recover(path: str) -> None:
    """Finish a switch that a crash interrupted between its two renames (the fallback)."""
    old, new = path.rstrip("/") + OLD, staging_path(path)
    if os.path.exists(path):
        return
    if os.path.isdir(new) and os.path.isdir(old):
        os.rename(new, path)
    if os.path.isdir(old) and not os.path.exists(path):
        os.rename(old, path)  # the switch never got so far: the old store stays


def discard(path: str) -> None:
    """Remove what a build or a switch left beside ``path`` (call holding its lock)."""
    import shutil  # (a writer's work: queries start without it)

    for leftover in (staging_path(path), path.rstrip("/") + OLD):
        shutil.rmtree(leftover, ignore_errors=True)


def begin(live: Store) -> Store:
    """A writable copy of ``live`` at ``PATH.next``, to build the next store in. Refused
    (before any work) where the switch could not rename it into place."""
    from codegraph.store.rocks import Store, StoreError

    parent = os.path.dirname(os.path.abspath(live.path))
    if os.path.ismount(live.path) or os.stat(live.path).st_dev != os.stat(parent).st_dev:
        raise StoreError(f"a full re-index builds a new store beside {live.path} and renames "
                         "it into place, but that directory is a mount point of its own: "
                         "mount the directory above it (the data directory) instead")
    if not os.access(parent, os.W_OK):
        raise StoreError(f"a full re-index builds a new store beside {live.path}, but "
                         f"{parent} is not writable")
    discard(live.path)
    live.checkpoint(staging_path(live.path))
    return Store.open(staging_path(live.path), block_cache=live.block_cache)


def switch(staging: str, live_path: str) -> None:
    """Put the closed store at ``staging`` in the place of ``live_path`` (the store there,
    closed too, moves to ``staging``). Both must be closed: RocksDB names its files by the
    path it opened, so a store still open would write into, and delete from, the
    directory now at that path. The caller opens ``live_path`` again, then ``discard``s
    the old store."""
    fsync_dir(staging)
    try:
        exchange(staging, live_path)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            from codegraph.store.rocks import StoreError

            raise StoreError(f"cannot switch the rebuilt store in at {live_path}: "
                             f"{exc.strerror}") from exc
        os.rename(live_path, live_path.rstrip("/") + OLD)
        os.rename(staging, live_path)
    fsync_dir(os.path.dirname(os.path.abspath(live_path)))

