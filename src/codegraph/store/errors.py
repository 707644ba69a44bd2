"""The store's errors, with messages fit for a user, and RocksDB's errors translated.

rocksdict raises a plain ``Exception`` whose text is RocksDB's status ("Corruption: block
checksum mismatch", "IO error: No space left on device", "IO error: lock ..."):
:func:`store_error` turns that text into one of the types below.
"""

from __future__ import annotations

import re

from codegraph.errors import DiskFull, Unavailable, is_disk_full


class StoreError(Unavailable):
    """A store problem with a message fit for a user."""


class StoreLocked(StoreError):
    pass


class StoreCorrupted(StoreError):
    pass


class StoreFull(StoreError, DiskFull):
    """No space left on the store's disk (RocksDB's "IO error: No space left on device")."""


def store_error(path: str, exc: Exception, doing: str = "open") -> StoreError:
    """RocksDB's error (a plain Exception with its status as text) as a StoreError."""
    text = str(exc)
    lower = text.lower()
    if is_disk_full(exc):
        return StoreFull(path)
    if "corrupt" in lower or "checksum" in lower or "manifest" in lower or "bad magic" in lower:
        return StoreCorrupted(f"the store at {path} is corrupted ({text.splitlines()[0]}); "
                              "nothing was changed: move it aside and re-index")
    if re.search(r"\block\b", lower):  # a word: not "block checksum mismatch"
        return StoreLocked(f"the store at {path} is locked by another writer "
                           "(another `codegraph index` or server is running)")
    return StoreError(f"cannot {doing} the store at {path}: {text.splitlines()[0]}")


def raise_if_corrupted(path: str, exc: Exception) -> None:
    """Raise :class:`StoreCorrupted` for RocksDB's "Corruption: ..." (damage found while
    reading); return for any other error, which the caller re-raises as it is."""
    if str(exc).startswith("Corruption"):
        raise store_error(path, exc, "read") from exc
