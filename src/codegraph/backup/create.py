"""Taking a backup: a consistent snapshot of the data directory (``CodeGraph.checkpoint``:
a RocksDB checkpoint, the lexical index and the vector index, as of one store revision),
staged in a private directory, then packed into an archive with its manifest.

Only the snapshot needs the writer: :func:`stage` runs where no write can run (the server's
writer thread, or a command holding the store), and takes milliseconds to seconds (the
store's files are hard-linked where the staging directory is on the same file system; the
lexical and vector indexes are copied). :func:`pack` reads only the staged copy, while
writes go on."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from codegraph import __version__
from codegraph.backup.manifest import NAME_PATTERN, NAME_RE, SUFFIX, Manifest, describe
from codegraph.backup.pack import write_archive
from codegraph.errors import BackupDiskFull, BadRequest, CodeGraphError, Unavailable, is_disk_full
from codegraph.store.rocks import SCHEMA

if TYPE_CHECKING:
    from codegraph.api import CodeGraph

STAGING = ".backup-"  # in the data directory: a snapshot being packed
LOCAL_HINT = "give a destination on a writable file system"
SERVER_HINT = "make CODEGRAPH_BACKUP_DIR a writable directory (a volume the server may write)"


@dataclass
class Staged:
    root: str  # the staging directory, removed by ``discard``
    revision: int
    repositories: tuple[str, ...]
    created: datetime
    seconds: float

    @property
    def data_dir(self) -> str:
        return os.path.join(self.root, "data")


def archive_path(dest: str, now: datetime) -> str:
    """``dest`` as the archive's path: a directory gets ``codegraph-data-<UTC time>.tar.gz``
    inside it (the next second's name if this second's is taken), a path ending in
    ``.tar.gz`` is taken as it is."""
    dest = os.path.abspath(dest)
    if os.path.isdir(dest):
        path = os.path.join(dest, now.strftime(NAME_PATTERN))
        if os.path.exists(path):  # a backup made this second already: name it the next
            time.sleep(1.0 - now.microsecond / 1e6)
            return archive_path(dest, now.replace(microsecond=0) + timedelta(seconds=1))
        return path
    if not dest.endswith(SUFFIX):
        raise BadRequest(f"backup destination {dest}: give a directory, or a file name "
                         f"ending in {SUFFIX}")
    check_name(dest)
    if not os.path.isdir(os.path.dirname(dest)):
        raise BadRequest(f"backup destination {dest}: no such directory "
                         f"{os.path.dirname(dest)}")
    return dest


def check_name(archive: str) -> None:
    """:class:`BadRequest` if the file system cannot take ``archive``'s name (too long)."""
    directory, name = os.path.split(archive)
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    size = len(os.fsencode(name))
    if size > name_max:
        raise BadRequest(f"backup destination {name[:60]}...: its file name is {size} bytes, "
                         f"the file system takes at most {name_max}")
    if len(os.fsencode(archive)) >= 4096:
        raise BadRequest(f"backup destination {archive[:60]}...: the path is over 4095 bytes")


def write_error(exc: OSError, directory: str, hint: str) -> CodeGraphError:
    """The user's error for a failed write of a backup into ``directory``: a full disk,
    a name the file system refuses (the request's to change), or a directory that cannot be
    written (the configuration's: ``hint`` says what to set)."""
    if is_disk_full(exc):
        return BackupDiskFull(directory)
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ, errno.ENOTDIR):
        return BadRequest(f"backup destination in {directory}: {reason}")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return Unavailable(f"cannot write backups in {directory}: {reason}: {hint}")
    return Unavailable(f"writing the backup archive in {directory} failed: {reason}")


def check_writable(directory: str, hint: str) -> None:
    """Create and remove a file in ``directory``: its write errors, translated by
    :func:`write_error`, before any snapshot is taken."""
    probe = os.path.join(directory, f".codegraph-write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise write_error(exc, directory, hint) from None


def stage(cg: CodeGraph, near: str) -> Staged:
    """Snapshot ``cg``'s data directory into a new staging directory: in the data directory
    (same file system: hard links), or in ``near`` (the archive's directory) when the data
    directory cannot be written. The caller guarantees that no write runs meanwhile, and
    that no other backup of this data directory stages at the same time."""
    started = time.monotonic()
    created = datetime.now(UTC)
    base = cg.data_dir if os.access(cg.data_dir, os.W_OK) else near
    discard_stale(cg.data_dir)
    root = os.path.join(base, f"{STAGING}{uuid.uuid4().hex[:12]}")
    os.mkdir(root, 0o700)
    try:
        os.mkdir(os.path.join(root, "data"))
        cg.checkpoint(os.path.join(root, "data"))
        return Staged(root, cg.revision, tuple(sorted(cg.store.repos())), created,
                      time.monotonic() - started)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def discard_stale(data_dir: str) -> None:
    """Remove what an interrupted backup left in the data directory."""
    if os.path.isdir(data_dir):
        for name in os.listdir(data_dir):
            if name.startswith(STAGING):
                shutil.rmtree(os.path.join(data_dir, name), ignore_errors=True)


def pack(staged: Staged, archive: str, hint: str = LOCAL_HINT) -> dict[str, Any]:
    """Write the staged snapshot into ``archive`` (atomically), then remove the staging
    directory; what the archive is: path, name, size, sha256, revision, created, files."""
    started = time.monotonic()
    try:
        files = describe(staged.data_dir)
        manifest = Manifest(revision=staged.revision, store_schema=SCHEMA,
                            codegraph_version=__version__,
                            created=staged.created.isoformat(timespec="seconds"),
                            files=files, repositories=staged.repositories)
        try:
            info = write_archive(staged.data_dir, manifest, archive)
        except OSError as exc:
            raise write_error(exc, os.path.dirname(archive), hint) from None
    finally:
        shutil.rmtree(staged.root, ignore_errors=True)
    return {**info, "revision": staged.revision, "created": manifest.created,
            "files": len(files), "data_bytes": manifest.total_bytes,
            "snapshot_seconds": round(staged.seconds, 3),
            "pack_seconds": round(time.monotonic() - started, 3)}


def pack_aside(staged: Staged, archive: str, hint: str = LOCAL_HINT, nice: int = 10,
               ) -> dict[str, Any]:
    """:func:`pack` in a thread of its own whose CPU priority is lowered by ``nice`` (Linux
    sets a thread's own nice value): a server's queries get the cores first. (Its work is
    compression and hashing, done with the GIL released.)"""
    out: dict[str, Any] = {}
    failure: list[BaseException] = []

    def run() -> None:
        with contextlib.suppress(OSError, AttributeError):  # (not Linux: as it is)
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
        try:
            out.update(pack(staged, archive, hint))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="codegraph-backup-pack", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return out


def backup(cg: CodeGraph, dest: str) -> dict[str, Any]:
    """A backup of ``cg`` (which no one else writes meanwhile) at ``dest``."""
    archive = archive_path(dest, datetime.now(UTC))
    check_writable(os.path.dirname(archive), LOCAL_HINT)
    return pack(stage(cg, os.path.dirname(archive)), archive)


def list_archives(directory: str) -> list[dict[str, Any]]:
    """The archives in ``directory`` (named as backups are), newest first, with what their
    manifests say (None where one cannot be read)."""
    from codegraph.backup.verify import read_manifest

    out = []
    names = sorted(os.listdir(directory), reverse=True) if os.path.isdir(directory) else []
    for name in names:
        path = os.path.join(directory, name)
        if not name.endswith(SUFFIX) or name.startswith(".") or not os.path.isfile(path):
            continue
        manifest = read_manifest(path)
        st = os.stat(path)
        out.append({"name": name, "size": st.st_size,
                    "modified": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(
                        timespec="seconds"),
                    "standard_name": bool(NAME_RE.fullmatch(name)),
                    "revision": manifest.revision if manifest else None,
                    "created": manifest.created if manifest else None,
                    "codegraph_version": manifest.codegraph_version if manifest else None})
    return out
