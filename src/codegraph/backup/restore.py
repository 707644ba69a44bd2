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

A data directory that must keep its name (a container volume's mount point) has its
entries swapped instead, which takes several renames: the previous entries go into
``.restore-<id>.old`` inside it, which is renamed ``.restore-<id>.aside`` once all are
there; the new ones come in from ``.restore-<id>``; ``.aside`` is renamed ``.done`` (the
commit) and only then removed. A crash (or a kill, or a power cut) at any point leaves
names that say how far it got, and the next ``codegraph restore`` rolls the swap back
(:func:`recover`: the previous entries return, the half-placed new ones are dropped)
before it verifies anything: the previous data is never removed before the new data is
whole in place. The rename fallback of a directory that may be renamed
(``.<name>.restore-<id>.old`` beside it) is rolled back the same way.
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
from codegraph.errors import ArchiveInvalid, BadRequest, DiskFull, Unavailable
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
        recover(data_dir)  # an interrupted restore's swap, rolled back before anything else
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


OLD, ASIDE, DONE = ".old", ".aside", ".done"  # the in-place swap's phases (see above)


def _entries(data_dir: str) -> list[str]:
    """The data directory's own entries: all but a restore's staging directories."""
    return sorted(n for n in os.listdir(data_dir) if not n.startswith(RESTORING))


def _swap_contents(staged: str, data_dir: str) -> None:
    """Move the data directory's entries aside (into ``<staged>.old``, renamed
    ``<staged>.aside`` once all are there), the staged ones in, then commit (``.aside`` to
    ``.done``) and remove the previous entries. A failure before the commit rolls it back
    here; a crash before it is rolled back by the next restore (:func:`recover`)."""
    old, aside, done = staged + OLD, staged + ASIDE, staged + DONE
    os.mkdir(old, 0o700)
    try:
        for name in _entries(data_dir):
            os.rename(os.path.join(data_dir, name), os.path.join(old, name))
        fsync_dir(old)
        fsync_dir(data_dir)
        os.rename(old, aside)  # every previous entry is aside
        fsync_dir(data_dir)
        for name in sorted(os.listdir(staged)):
            os.rename(os.path.join(staged, name), os.path.join(data_dir, name))
        fsync_dir(data_dir)
    except OSError:
        _recover_in_place(data_dir, os.path.basename(staged))
        raise
    os.rename(aside, done)  # the commit: the new entries are all in place
    fsync_dir(data_dir)
    os.rmdir(staged)
    shutil.rmtree(done, ignore_errors=True)


def recover(data_dir: str) -> list[str]:
    """Roll back what an interrupted restore left of its swap, in the data directory (the
    in-place swap) or beside it (the rename fallback), and remove its staging directories;
    what was done. The caller holds the store's writer lock."""
    done: list[str] = []
    if os.path.isdir(data_dir):
        for name in sorted(os.listdir(data_dir)):
            if name.startswith(RESTORING) and not name.endswith((OLD, ASIDE, DONE)):
                done += _recover_in_place(data_dir, name)
        for name in sorted(os.listdir(data_dir)):  # (a phase dir without its staging dir)
            suffix = next((x for x in (OLD, ASIDE, DONE) if name.endswith(x)), None)
            if name.startswith(RESTORING) and suffix and len(name) > len(RESTORING + suffix):
                done += _recover_in_place(data_dir, name[:-len(suffix)])
    parent = os.path.dirname(data_dir) or "/"
    prefix = f".{os.path.basename(data_dir)}{RESTORING}"
    if os.path.isdir(parent):
        for name in sorted(os.listdir(parent)):
            if name.startswith(prefix) and name.endswith(OLD):
                done += _recover_renamed(data_dir, os.path.join(parent, name[:-len(OLD)]))
        for name in sorted(os.listdir(parent)):
            if name.startswith(prefix):  # a staging dir: unfinished, or the replaced data
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
                done.append(f"removed {name}")
        fsync_dir(parent)
    return done


def _recover_in_place(data_dir: str, name: str) -> list[str]:
    """Roll the in-place swap of staging directory ``name`` back, or finish its cleanup
    if it had committed. Each step is a rename that a crash may interrupt: running this
    again goes on from where it stopped."""
    staged = os.path.join(data_dir, name)
    old, aside, done = staged + OLD, staged + ASIDE, staged + DONE
    out = []
    if os.path.isdir(done):  # committed: the new entries are in place
        shutil.rmtree(done, ignore_errors=True)
        out.append(f"removed the replaced data of a finished restore ({name}{DONE})")
    if os.path.isdir(aside):  # new entries half placed: back into the staging directory
        os.makedirs(staged, exist_ok=True)
        for entry in _entries(data_dir):
            os.rename(os.path.join(data_dir, entry), os.path.join(staged, entry))
        fsync_dir(staged)
        os.rename(aside, old)
        fsync_dir(data_dir)
    if os.path.isdir(old):  # the previous entries back where they were
        for entry in sorted(os.listdir(old)):
            target = os.path.join(data_dir, entry)
            if os.path.lexists(target):  # (a new entry: nothing of the previous data)
                os.makedirs(staged, exist_ok=True)
                os.rename(target, os.path.join(staged, f"{entry}.{uuid.uuid4().hex[:8]}"))
            os.rename(os.path.join(old, entry), target)
        fsync_dir(data_dir)
        os.rmdir(old)
        out.append(f"rolled back an interrupted restore ({name})")
    if os.path.lexists(staged):
        shutil.rmtree(staged, ignore_errors=True)
    fsync_dir(data_dir)
    return out


def _recover_renamed(data_dir: str, staged: str) -> list[str]:
    """The rename fallback interrupted: ``<staged>.old`` is the previous data directory."""
    old = staged + OLD
    if not os.path.lexists(data_dir):  # between its two renames: put the previous back
        os.rename(old, data_dir)
        return [f"rolled back an interrupted restore ({os.path.basename(staged)})"]
    if not os.path.lexists(staged):  # the new one had taken the name: it was complete
        shutil.rmtree(old, ignore_errors=True)
        return [f"removed the replaced data of a finished restore ({os.path.basename(old)})"]
    raise Unavailable(f"an interrupted restore left the previous data directory at {old}, "
                      f"and {data_dir} was made since (was a server started?): check which "
                      f"to keep, move it to {data_dir} by hand, then restore again")
