"""Restoring a data directory from a backup archive, verified first.

1. The store's writer lock is taken (without opening the store): a running server or
   ``codegraph index`` holds it, and the restore says so and stops.
2. The archive is read whole and checked (``verify.read``), writing nothing: a truncated,
   corrupt, unsafe or incomplete archive is refused and nothing is touched.
3. It is read again, checked again, and its files written into a staging directory beside
   the data directory (inside it when the data directory is a mount point of its own, as a
   container volume is).
4. The staged directory takes the data directory's place: in one atomic exchange of the two
   names where the file system allows it, else by renames. The previous contents are
   removed only once the swap succeeded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator

from codegraph.backup import verify
from codegraph.backup.manifest import Manifest
from codegraph.config import Config, layout
from codegraph.durable import exchange, fsync_dir
from codegraph.errors import ArchiveInvalid, BadRequest, DiskFull
from codegraph.store.lock import held
from codegraph.store.rocks import SCHEMA

RESTORING = ".restore-"  # staging directories: <parent>/.<name>.restore-*, <data>/.restore-*


def restore(config: Config, archive: str) -> Manifest:
    """Replace the data directory of ``config`` with the archive's; its manifest."""
    data_dir = config.data_dir
    if layout(data_dir)[1:] != (config.rocksdb_path, config.faiss_path):
        raise BadRequest("a restore replaces the whole data directory: unset ROCKSDB_PATH "
                         "and FAISS_INDEX_PATH (they put the store or the vector index "
                         f"outside {data_dir})")
    data_dir = os.path.realpath(data_dir)  # (a link to it goes on naming the restored one)
    archive = os.path.abspath(archive)
    if _inside(os.path.realpath(archive), data_dir):
        raise BadRequest(f"the archive {archive} is inside the data directory it would "
                         "replace: move it out first")
    with held(config.rocksdb_path):
        manifest = check(archive)
        with _staging(data_dir, manifest.total_bytes) as (staged, in_place):
            _verified(archive, staged)
            _swap(staged, data_dir, in_place)
    return manifest


def check(archive: str) -> Manifest:
    """Verify ``archive`` as a restore would, writing nothing and opening no store (so a
    server may keep running meanwhile); its manifest. Raises :class:`ArchiveInvalid`."""
    archive = os.path.abspath(archive)
    manifest = _verified(archive)
    if manifest.store_schema != SCHEMA:
        raise ArchiveInvalid(f"refusing to restore {archive}: it holds a store of schema "
                             f"{manifest.store_schema}, this CodeGraph needs {SCHEMA}; "
                             "nothing was changed")
    return manifest


def _verified(archive: str, extract_to: str | None = None) -> Manifest:
    try:
        return verify.read(archive, extract_to)
    except ArchiveInvalid as exc:
        raise ArchiveInvalid(f"refusing to restore {archive}: {exc}; nothing was "
                             "changed") from None


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _in_place(data_dir: str) -> bool:
    """Whether the data directory must keep its name (a mount point, or a parent that
    this process may not write), so the swap moves its contents instead."""
    parent = os.path.dirname(data_dir) or "/"
    return os.path.isdir(data_dir) and (os.path.ismount(data_dir)
                                        or not os.access(parent, os.W_OK))


@contextlib.contextmanager
def _staging(data_dir: str, needed: int) -> Iterator[tuple[str, bool]]:
    in_place = _in_place(data_dir)
    parent = data_dir if in_place else os.path.dirname(data_dir) or "/"
    prefix = RESTORING if in_place else f".{os.path.basename(data_dir)}{RESTORING}"
    if not os.path.isdir(parent):
        os.makedirs(parent)
    for name in os.listdir(parent):  # what an interrupted restore left (we hold the lock)
        if name.startswith(prefix):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    free = shutil.disk_usage(parent).free
    if needed > free:
        raise DiskFull(parent, needed)
    staged = os.path.join(parent, f"{prefix}{uuid.uuid4().hex[:12]}")
    os.mkdir(staged, 0o755)
    try:
        yield staged, in_place
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _swap(staged: str, data_dir: str, in_place: bool) -> None:
    if in_place:
        _swap_contents(staged, data_dir)
        return
    parent = os.path.dirname(data_dir) or "/"
    if not os.path.exists(data_dir):
        os.rename(staged, data_dir)
        fsync_dir(parent)
        return
    os.chmod(staged, os.stat(data_dir).st_mode & 0o7777)
    try:
        exchange(staged, data_dir)  # staged now names the previous contents
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise
        old = f"{staged}.old"
        os.rename(data_dir, old)
        try:
            os.rename(staged, data_dir)
        except OSError:
            os.rename(old, data_dir)
            raise
        os.rename(old, staged)
    fsync_dir(parent)
    # (the previous contents, now at ``staged``, go when the staging context ends)


def _swap_contents(staged: str, data_dir: str) -> None:
    """Move the data directory's entries aside (into a directory within it), the staged
    ones in; put them back if that fails. Not atomic: a crash in between leaves the
    entries in the two directories, and running the restore again completes it."""
    old = f"{staged}.old"
    os.mkdir(old, 0o700)
    ours = {os.path.basename(staged), os.path.basename(old)}
    moved: list[str] = []
    placed: list[str] = []
    try:
        for name in sorted(set(os.listdir(data_dir)) - ours):
            os.rename(os.path.join(data_dir, name), os.path.join(old, name))
            moved.append(name)
        for name in sorted(os.listdir(staged)):
            os.rename(os.path.join(staged, name), os.path.join(data_dir, name))
            placed.append(name)
    except OSError:
        for name in placed:
            with contextlib.suppress(OSError):
                os.rename(os.path.join(data_dir, name), os.path.join(staged, name))
        for name in moved:
            with contextlib.suppress(OSError):
                os.rename(os.path.join(old, name), os.path.join(data_dir, name))
        raise
    os.rmdir(staged)
    fsync_dir(data_dir)
    shutil.rmtree(old, ignore_errors=True)
