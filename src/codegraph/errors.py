"""CodeGraph's one error hierarchy. Every error fit for a user (the CLI prints its message
on one line, the API answers it) derives from :class:`CodeGraphError`, through one of four
kinds that say whose move it is: :class:`BadRequest` (change the question), :class:`NotFound`
(it is not in the index), :class:`Conflict` (it clashes with what is there) and
:class:`Unavailable` (the index or a provider cannot answer now). The HTTP statuses are
mapped from these kinds in ``server/errors.py``, the CLI's messages in ``cli.py``.

The errors of optional parts are kept here, so that catching them never imports those
parts."""

from __future__ import annotations

import errno
import os


class CodeGraphError(Exception):
    pass


class BadRequest(CodeGraphError, ValueError):
    """A question that cannot be answered as asked: the message says what to change."""


class NotFound(BadRequest):
    """The symbol, file, repository or job asked about is not there."""


class Conflict(BadRequest):
    """The request clashes with what is there (a repository name taken, say)."""


class ReadOnlyReplica(Conflict):
    """A write asked of a read-only replica: writes go to the indexer (``--role indexer``)."""


class Unavailable(CodeGraphError):
    """The index, or a provider it needs, cannot answer now: unreadable, corrupt, locked,
    full or not configured."""


class EmbeddingError(Unavailable, RuntimeError):
    """The embedding model is missing, corrupt, mismatched or cannot run."""


class VectorIndexError(Unavailable, RuntimeError):
    """The vector index is unreadable, corrupt or cannot be written."""


class ArchiveInvalid(BadRequest):
    """A backup archive that cannot be restored: truncated, corrupt, unsafe or not whole.
    The message says what is wrong with it; nothing was changed."""


class RepositoryNameError(BadRequest):
    """A repository name that is not allowed."""


class RepositoryConflict(RepositoryNameError, Conflict):
    """The name is taken by another directory, or the directory has another name."""


class DiskFull(Unavailable):
    """A write failed for lack of space (no space left on the device, a disk quota, SQLite's
    "database or disk is full"). The message is made when it is shown, after the run has
    removed its temporary files: it says where, how much is free then, and what to free."""

    def __init__(self, directory: str, needed: int | None = None) -> None:
        super().__init__(directory)
        self.directory = directory
        self.needed = needed  # bytes the run needs on that disk, when known

    def __str__(self) -> str:
        free = _free_bytes(self.directory)
        where = f"no space left on device writing the index in {self.directory}"
        if free is None:
            return f"{where}: free space on that disk or move --data-dir to a larger disk"
        if self.needed is not None and self.needed > free:
            return (f"{where}: {_megabytes(free)} free, this run needs about "
                    f"{_megabytes(self.needed)}: free {_megabytes(self.needed - free)} or "
                    "move --data-dir to a larger disk")
        return (f"{where}: {_megabytes(free)} free: free space on that disk or move "
                "--data-dir to a larger disk")


class BackupDiskFull(DiskFull):
    """A backup archive that did not fit on the disk of its directory."""

    def __str__(self) -> str:
        free = _free_bytes(self.directory)
        where = f"no space left on device writing the backup archive in {self.directory}"
        room = "" if free is None else f": {_megabytes(free)} free"
        return (f"{where}{room}: free space there, or write backups to a larger disk "
                "(CODEGRAPH_BACKUP_DIR, or another destination)")


_FULL = ("no space left on device", "disk quota exceeded", "database or disk is full")


def is_disk_full(exc: BaseException) -> bool:
    """A failed write for lack of space, as an OSError or as the text of RocksDB's or
    SQLite's error (neither has a type of its own for it)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(phrase in text for phrase in _FULL)


def _free_bytes(path: str) -> int | None:
    """Free bytes on the file system of ``path`` (or of its nearest existing parent)."""
    while True:
        try:
            st = os.statvfs(path)
        except OSError:
            parent = os.path.dirname(path)
            if parent == path:
                return None
            path = parent
            continue
        return st.f_bavail * st.f_frsize


def _megabytes(size: int) -> str:
    mb = size / 2**20
    return f"{mb:.1f} MB" if mb < 10 else f"{mb:.0f} MB"
