"""Reading a backup archive, whole, before anything is restored from it: the gzip stream to
its end (a truncated or altered archive fails its length or CRC check), every member's name
and type (relative paths under ``data/`` only: no absolute paths, no ``..``, no links, no
devices), every file's size and SHA-256 against the manifest, and nothing missing or extra.

:func:`read` checks only; given a directory, it also writes the files there as it checks
them (the caller removes that directory if it fails)."""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import zlib
from typing import IO

from codegraph.backup.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    FileEntry,
    Manifest,
    unsafe_name,
)
from codegraph.errors import ArchiveInvalid

_CHUNK = 1 << 20
_BROKEN = (EOFError, gzip.BadGzipFile, zlib.error, tarfile.TarError, UnicodeError)


class _WriteFailed(Exception):
    """Writing an extracted file failed: the disk's fault, not the archive's."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def read(archive: str, extract_to: str | None = None) -> Manifest:
    """The archive's manifest, once every check passed; :class:`ArchiveInvalid` (whose
    message says what is wrong) otherwise. With ``extract_to`` (an empty directory), its
    data files are written there, under their names without ``data/``."""
    try:
        with open(archive, "rb") as raw:
            gz = gzip.GzipFile(fileobj=raw, mode="rb")
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                manifest = _members(tar, extract_to)
            while gz.read(_CHUNK):  # to the end of the gzip stream: its length and CRC
                pass
            if raw.read(1):
                raise ArchiveInvalid("it has data after its end")
    except _WriteFailed as exc:
        raise exc.error from None
    except _BROKEN as exc:
        raise ArchiveInvalid(f"it is truncated or corrupt ({type(exc).__name__}: "
                             f"{str(exc)[:200] or 'unexpected end'})") from None
    except IsADirectoryError:
        raise ArchiveInvalid("it is a directory, not an archive file") from None
    except FileNotFoundError:
        raise ArchiveInvalid("no such file") from None
    return manifest


def _members(tar: tarfile.TarFile, extract_to: str | None) -> Manifest:
    first = tar.next()
    if first is None:
        raise ArchiveInvalid("it is empty")
    if first.name != MANIFEST_NAME or not first.isreg():
        raise ArchiveInvalid(f"its first member is {first.name[:120]!r}, not {MANIFEST_NAME}")
    if first.size > MAX_MANIFEST_BYTES:
        raise ArchiveInvalid(f"its manifest is over {MAX_MANIFEST_BYTES} bytes")
    manifest = Manifest.from_json(_read_all(tar, first))
    expected = {f.path: f for f in manifest.files}
    seen: set[str] = set()
    while (member := tar.next()) is not None:
        name = member.name
        shown = repr(name[:120])
        problem = unsafe_name(name)
        if problem:
            raise ArchiveInvalid(f"its member {shown} is unsafe: {problem}")
        if member.isdir():
            continue
        if not member.isreg():
            raise ArchiveInvalid(f"its member {shown} is {_kind(member)}: only regular "
                                 "files are restored")
        if name in seen:
            raise ArchiveInvalid(f"its member {shown} appears twice")
        entry = expected.get(name)
        if entry is None:
            raise ArchiveInvalid(f"its member {shown} is not in its manifest")
        seen.add(name)
        _check(tar, member, entry, extract_to)
    missing = sorted(set(expected) - seen)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ArchiveInvalid(f"{missing[0]!r}{more} of its manifest is missing from it")
    return manifest


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link (to {member.linkname[:120]!r})"
    if member.islnk():
        return f"a hard link (to {member.linkname[:120]!r})"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO"
    return f"of tar type {member.type!r}"


def _read_all(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    assert f is not None  # (a regular file)
    data = f.read()
    if len(data) != member.size:
        raise EOFError("the manifest is cut short")
    return data


def _check(tar: tarfile.TarFile, member: tarfile.TarInfo, entry: FileEntry,
           extract_to: str | None) -> None:
    if member.size != entry.size:
        raise ArchiveInvalid(f"its member {entry.path!r} has {member.size} bytes, its "
                             f"manifest says {entry.size}")
    src = tar.extractfile(member)
    assert src is not None
    out: IO[bytes] | None = None
    if extract_to is not None:
        out = _create(os.path.join(extract_to, *entry.path.split("/")[1:]))
    try:
        digest = hashlib.sha256()
        size = 0
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                _write(out, chunk)
        if out is not None:
            _sync(out)
    finally:
        if out is not None:
            out.close()
    if size != entry.size:
        raise EOFError(f"{entry.path} is cut short")
    if digest.hexdigest() != entry.sha256:
        raise ArchiveInvalid(f"its member {entry.path!r} does not match its manifest's "
                             "SHA-256 (the archive is corrupt)")


def _create(path: str) -> IO[bytes]:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise _WriteFailed(exc) from None
    return os.fdopen(fd, "wb")


def _write(out: IO[bytes], chunk: bytes) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise _WriteFailed(exc) from None


def _sync(out: IO[bytes]) -> None:
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as exc:
        raise _WriteFailed(exc) from None


def read_manifest(archive: str) -> Manifest | None:
    """The manifest of an archive, read from its first member only (the rest unchecked);
    None if it cannot be read."""
    try:
        with open(archive, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz, \
                tarfile.open(fileobj=gz, mode="r|") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST_NAME or not first.isreg() \
                    or first.size > MAX_MANIFEST_BYTES:
                return None
            return Manifest.from_json(_read_all(tar, first))
    except (*_BROKEN, OSError, ArchiveInvalid):
        return None
