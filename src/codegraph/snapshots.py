"""Immutable snapshots of the index: published by the one writer (``serve --role indexer``),
served by read-only replicas (``serve --role replica``) that mount the data volume read-only.

    DATA_DIR/snapshots/
        current                     the id of the newest complete snapshot (one line)
        000000000042-<ns>/          one snapshot: a data directory of its own
            rocksdb/                a RocksDB checkpoint: its SST files hard-linked
            lexical.db  faiss/      copies of the lexical and the vector index
            manifest.json           what it is (written last, before the rename)

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


@dataclass(frozen=True)
class Manifest:
    id: str
    revision: int
    created: float  # epoch seconds
    generation: int = 0  # the writer's embedding generation: vectors change without a revision
    figures: dict[str, Any] = field(default_factory=dict)  # engine.Snapshot, as published
    version: str = __version__

    @classmethod
    def read(cls, directory: str) -> Manifest:
        try:
            with open(os.path.join(directory, MANIFEST), encoding="utf-8") as f:
                raw = json.load(f)
            return cls(id=str(raw["id"]), revision=int(raw["revision"]),
                       created=float(raw["created"]), generation=int(raw.get("generation", 0)),
                       figures=dict(raw.get("figures") or {}),
                       version=str(raw.get("version", "")))
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
            ) -> Manifest:
    """Publish the index of ``cg`` as it is now, and make it ``current``. Only the writer
    may, with no write running (its writer thread)."""
    base = root(cg.data_dir)
    os.makedirs(base, exist_ok=True)
    for name in os.listdir(base):  # a publish that a crash cut short
        if name.startswith(BUILDING):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    revision = cg.revision
    manifest = Manifest(id=f"{revision:012d}-{time.time_ns():020d}", revision=revision,
                        created=time.time(), generation=generation, figures=figures or {})
    building = os.path.join(base, BUILDING + manifest.id)
    try:
        os.makedirs(building)
        cg.checkpoint(building)
        _write(os.path.join(building, MANIFEST), json.dumps(asdict(manifest), indent=1))
        fsync_dir(building)
        os.rename(building, os.path.join(base, manifest.id))
        _write(os.path.join(base, f".{CURRENT}.new"), manifest.id + "\n")
        os.rename(os.path.join(base, f".{CURRENT}.new"), os.path.join(base, CURRENT))
        fsync_dir(base)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return manifest


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
    for name in published(data_dir):
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
    return {"snapshots": len(published(data_dir)), "shared_bytes": shared,
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
