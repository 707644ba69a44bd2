"""Making a change to a directory (a file created, replaced or renamed in it) durable, and
putting one directory in another's place in one step."""

from __future__ import annotations

import errno
import os

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries to disk: after a rename into it, before relying on it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def exchange(a: str, b: str) -> None:
    """Swap the names ``a`` and ``b`` atomically (Linux's ``renameat2(RENAME_EXCHANGE)``).
    OSError with EINVAL, ENOSYS or ENOTSUP where the file system or the C library cannot."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # this process's own symbols, libc's among them
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
