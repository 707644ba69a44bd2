"""What a backup archive holds and how its names are checked: the manifest (``manifest.json``,
the archive's first member) lists every data file with its size and SHA-256, and says which
store revision, store schema and CodeGraph version made it, and when.

The archive's members are ``manifest.json``, then the files of a data directory under
``data/`` (``data/rocksdb/...``, ``data/faiss/...``, ``data/lexical.sqlite``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from typing import Any

from codegraph.errors import ArchiveInvalid

FORMAT = "codegraph-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATA = "data"  # the members' top directory
MAX_MANIFEST_BYTES = 16 << 20
NAME_PATTERN = "codegraph-data-%Y%m%d-%H%M%S.tar.gz"
NAME_RE = re.compile(r"codegraph-data-\d{8}-\d{6}\.tar\.gz")
SUFFIX = ".tar.gz"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # the member's name: data/...
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    revision: int
    store_schema: int
    codegraph_version: str
    created: str  # ISO 8601, UTC
    files: tuple[FileEntry, ...]
    repositories: tuple[str, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        return json.dumps({
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "codegraph_version": self.codegraph_version, "created": self.created,
            "revision": self.revision, "store_schema": self.store_schema,
            "repositories": list(self.repositories), "total_bytes": self.total_bytes,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256}
                      for f in self.files]}, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """The manifest in ``data``; :class:`ArchiveInvalid` if it is not one."""
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError):
            raise ArchiveInvalid("its manifest is not valid JSON") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ArchiveInvalid(f"its {MANIFEST_NAME} is not a CodeGraph backup manifest")
        if raw.get("format_version") != FORMAT_VERSION:
            raise ArchiveInvalid(f"its manifest has format version "
                                 f"{raw.get('format_version')!r}; this CodeGraph reads "
                                 f"version {FORMAT_VERSION}")
        try:
            files = tuple(_entry(f) for f in raw["files"])
            manifest = cls(revision=_count(raw["revision"]),
                           store_schema=_count(raw["store_schema"]),
                           codegraph_version=str(raw["codegraph_version"]),
                           created=str(raw["created"]), files=files,
                           repositories=tuple(str(r) for r in raw.get("repositories", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchiveInvalid(f"its manifest is malformed ({exc})") from None
        _check_paths([f.path for f in files])
        return manifest


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value


def _entry(raw: Any) -> FileEntry:
    if not isinstance(raw, dict):
        raise TypeError("a file entry is not an object")
    path, sha = raw["path"], raw["sha256"]
    if not isinstance(path, str) or not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise ValueError(f"bad file entry {str(raw)[:120]}")
    problem = unsafe_name(path)
    if problem:
        raise ValueError(f"file entry {path[:120]!r}: {problem}")
    return FileEntry(path, _count(raw["size"]), sha)


def _check_paths(paths: list[str]) -> None:
    """No file twice, and none where another needs a directory."""
    seen = set(paths)
    if len(seen) != len(paths):
        raise ArchiveInvalid("its manifest lists a file twice")
    for path in paths:
        parent = os.path.dirname(path)
        while parent and parent != DATA:
            if parent in seen:
                raise ArchiveInvalid(f"its manifest lists {parent!r} as a file and as a "
                                     "directory")
            parent = os.path.dirname(parent)


def unsafe_name(name: str) -> str | None:
    """Why a member name must not be extracted (None: it is safe): only relative paths
    under ``data/``, with no ``..``, ``.`` or empty parts, no backslash or control
    characters."""
    if name.startswith("/"):
        return "an absolute path"
    if "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "a backslash or control character in its name"
    parts = name.split("/")
    if ".." in parts:
        return "a '..' in its path"
    if any(part in ("", ".") for part in parts):
        return "an empty or '.' part in its path"
    if parts[0] != DATA or len(parts) < 2:
        return f"outside {DATA}/"
    return None


def hash_file(path: str) -> tuple[int, str]:
    """(size, SHA-256 hex) of a regular file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def describe(data_dir: str) -> tuple[FileEntry, ...]:
    """An entry for every file under ``data_dir`` (a staged checkpoint), sorted: the
    manifest's list. Anything but regular files and directories is refused."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(data_dir):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames
                                          if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            mode = os.lstat(full).st_mode
            if not stat.S_ISREG(mode):
                raise OSError(f"the staged backup holds {full}, not a regular file")
            size, sha = hash_file(full)
            rel = os.path.relpath(full, data_dir).replace(os.sep, "/")
            entries.append(FileEntry(f"{DATA}/{rel}", size, sha))
    return tuple(sorted(entries, key=lambda e: e.path))
