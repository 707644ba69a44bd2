"""Immutable snapshots of the index: published by the one writer (``serve --role indexer``),
served by read-only replicas (``serve --role replica``) that mount the data volume read-only.

    DATA_DIR/snapshots/
        current                     the id of the newest complete snapshot (one line)
        000000000042-<ns>/          one snapshot: a data directory of its own
            rocksdb/                a RocksDB checkpoint: its SST files hard-linked
            lexical.sqlite  faiss/  the lexical and the vector index
            manifest.json           what it is (written last, before the rename)

A snapshot costs what changed: the store's files are hard links to the live store's (only
the newest SST files are new), and the lexical and vector indexes are copied only when
their files changed since the snapshot before (``_signature``), else hard-linked from it.

Publishing builds the snapshot under a hidden name, writes its manifest, renames it into
place, then replaces ``current`` by renaming a new file over it: a reader sees the old
snapshot or the new one, whole. A crash leaves at most a hidden directory, removed at the
next publish.

A snapshot stops being served once ``current`` names a newer one: each replica switches
within its poll interval, and the requests already on the old one finish. So a snapshot is
removed ``grace`` seconds after the next one was published (it is no longer used then),
never while it is ``current``. Removal unlinks files a replica may still have open; on a
local file system those stay readable until closed (on NFS, make the grace longer than the
slowest request).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from codegraph import __version__
from codegraph.durable import fsync_dir
from codegraph.errors import Unavailable

if TYPE_CHECKING:
    from codegraph.api import CodeGraph

DIRECTORY = "snapshots"
CURRENT = "current"
MANIFEST = "manifest.json"
BUILDING = ".building-"  # a snapshot being written: never read, removed at the next publish
ID = re.compile(r"\d{12}-\d{19,20}")
WRITER = uuid.uuid4().hex  # this process: it links only from snapshots it published itself


@dataclass(frozen=True)
class Manifest:
    id: str
    revision: int
    created: float  # epoch seconds
    generation: int = 0  # the writer's embedding generation: vectors change without a revision
    figures: dict[str, Any] = field(default_factory=dict)  # engine.Snapshot, as published
    version: str = __version__
    writer: str = ""  # the publishing process (WRITER)
    sources: dict[str, str] = field(default_factory=dict)  # part -> what it was copied from

    @classmethod
    def read(cls, directory: str) -> Manifest:
        try:
            with open(os.path.join(directory, MANIFEST), encoding="utf-8") as f:
                raw = json.load(f)
            return cls(id=str(raw["id"]), revision=int(raw["revision"]),
                       created=float(raw["created"]), generation=int(raw.get("generation", 0)),
                       figures=dict(raw.get("figures") or {}),
                       version=str(raw.get("version", "")), writer=str(raw.get("writer", "")),
                       sources=dict(raw.get("sources") or {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise Unavailable(f"snapshot {directory}: unreadable manifest: {exc}") from exc


def root(data_dir: str) -> str:
    return os.path.join(data_dir, DIRECTORY)


def current(data_dir: str) -> str | None:
    """The id that ``current`` names, or None when nothing is published yet."""
    try:
        with open(os.path.join(root(data_dir), CURRENT), encoding="ascii") as f:
            name = f.read(64).strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise Unavailable(f"cannot read {root(data_dir)}/{CURRENT}: {exc}") from exc
    if not ID.fullmatch(name):
        raise Unavailable(f"{root(data_dir)}/{CURRENT} names no snapshot: {name[:40]!r}")
    return name


def path_of(data_dir: str, snapshot_id: str) -> str:
    return os.path.join(root(data_dir), snapshot_id)


def published(data_dir: str) -> list[str]:
    """The complete snapshots, oldest first."""
    try:
        names = os.listdir(root(data_dir))
    except FileNotFoundError:
        return []
    return sorted(n for n in names if ID.fullmatch(n))


def publish(cg: CodeGraph, *, generation: int = 0, figures: dict[str, Any] | None = None,
            previous: Manifest | None = None) -> Manifest:
    """Publish the index of ``cg`` as it is now, and make it ``current``. Only the writer
    may, with no write running (its writer thread). ``previous``: the snapshot this writer
    published last, whose unchanged indexes the new one links instead of copying."""
    from codegraph.config import layout
    from codegraph.search.lexical import default_path

    base = root(cg.data_dir)
    os.makedirs(base, exist_ok=True)
    for name in os.listdir(base):  # a publish that a crash cut short
        if name.startswith(BUILDING):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    revision = cg.revision
    search = cg.search_service()
    if os.path.exists(default_path(cg.data_dir)):
        search.lexical()  # opened first: opening it creates its WAL file
    sources = {"lexical": _signature(cg.data_dir, default_path(cg.data_dir)),
               "vectors": _signature(search.vector_dir, None)}
    manifest = Manifest(id=f"{revision:012d}-{time.time_ns():020d}", revision=revision,
                        created=time.time(), generation=generation, figures=figures or {},
                        writer=WRITER, sources=sources)
    building = os.path.join(base, BUILDING + manifest.id)
    # the previous snapshot's copy of an index whose files are as they were then: linked
    before = path_of(cg.data_dir, previous.id) if previous is not None else ""
    prior = previous.sources if previous is not None and previous.writer == WRITER and (
        os.path.isdir(before)) else {}
    same = {part: prior.get(part) == sig != "" for part, sig in sources.items()}
    try:
        os.makedirs(building)
        if same["lexical"]:
            _link(default_path(before), default_path(building))
        if same["vectors"]:
            _link(layout(before)[2], layout(building)[2])
        cg.checkpoint(building, lexical=not same["lexical"], vectors=not same["vectors"])
        _write(os.path.join(building, MANIFEST), json.dumps(asdict(manifest), indent=1))
        fsync_dir(building)
        os.rename(building, os.path.join(base, manifest.id))
        _write(os.path.join(base, f".{CURRENT}.new"), manifest.id + "\n")
        os.rename(os.path.join(base, f".{CURRENT}.new"), os.path.join(base, CURRENT))
        fsync_dir(base)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return manifest


def _signature(directory: str, only: str | None) -> str:
    """What identifies the files of an index as they are now: each one's name, inode, size
    and modification time ("" when there are none). A write changes one of these (SQLite
    writes its WAL file, the vector index renames new files into place; readers change
    neither)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return ""
    parts = []
    for name in names:
        path = os.path.join(directory, name)
        if (only is not None and not path.startswith(only)) or name.endswith("-shm"):
            continue  # (SQLite's shared-memory index: readers touch it, no rows are there)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if os.path.isfile(path):
            parts.append(f"{name}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _link(source: str, dest: str) -> None:
    """Hard-link a file, or a directory's files, from an older snapshot (never written
    again: snapshots are immutable)."""
    if os.path.isdir(source):
        os.makedirs(dest)
        for name in os.listdir(source):
            os.link(os.path.join(source, name), os.path.join(dest, name))
    elif os.path.exists(source):
        os.link(source, dest)


def prune(data_dir: str, grace: float, now: float | None = None) -> list[str]:
    """Remove the snapshots superseded more than ``grace`` seconds ago (by the publish of
    the next one); never ``current`` nor anything newer. Returns the ids removed."""
    now = time.time() if now is None else now
    live = current(data_dir)
    names = published(data_dir)
    removed = []
    for older, newer in itertools.pairwise(names):
        if older == live or (live is not None and older > live):
            break
        superseded = _created(path_of(data_dir, newer))
        if superseded is None or now - superseded <= grace:
            break
        shutil.rmtree(path_of(data_dir, older), ignore_errors=True)
        removed.append(older)
    return removed


def disk_usage(data_dir: str) -> dict[str, int]:
    """The snapshots' sizes: ``shared_bytes`` counts every file once however many snapshots
    link it (what they take), ``apparent_bytes`` counts each snapshot's files in full (what
    whole copies would take)."""
    seen: set[tuple[int, int]] = set()
    shared = apparent = 0
    names = published(data_dir)
    for name in names:
        for directory, _, files in os.walk(path_of(data_dir, name)):
            for f in files:
                try:
                    st = os.lstat(os.path.join(directory, f))
                except OSError:
                    continue
                apparent += st.st_size
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    shared += st.st_size
    return {"snapshots": len(names), "shared_bytes": shared,
            "apparent_bytes": apparent}


def _created(directory: str) -> float | None:
    try:
        return Manifest.read(directory).created
    except Unavailable:
        return None


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
