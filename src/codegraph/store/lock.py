"""The store's writer lock, taken without opening the store: RocksDB's own ``LOCK`` file,
locked the way RocksDB locks it (a POSIX record lock on the whole file), so that a process
that holds it keeps every writer out (a server, ``codegraph index``) and a process that
finds it held knows a writer is running. Opening the store would take the same lock but
also write (a log, the options file, the replay of the write-ahead log): a restore must
check the lock before it may touch anything."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator

from codegraph.store.errors import StoreLocked

LOCK_FILE = "LOCK"


@contextlib.contextmanager
def held(store_path: str) -> Iterator[None]:
    """Hold the writer lock of the store at ``store_path`` until the block ends; raise
    :class:`StoreLocked` at once if another process holds it. A store that does not exist
    (or has never been opened: no lock file) has no writer: nothing is taken."""
    try:
        fd = os.open(os.path.join(store_path, LOCK_FILE), os.O_RDWR)
    except FileNotFoundError:
        yield
        return
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise StoreLocked(f"the store at {store_path} is open in a running CodeGraph "
                              "server or `codegraph index`: stop it first") from None
        yield
    finally:
        os.close(fd)  # (releases the lock)
