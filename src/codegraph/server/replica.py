"""``serve --role replica``: answer from the newest snapshot the indexer published
(``snapshots.py``), on a data volume mounted read-only. Nothing is written anywhere.

A thread reads ``snapshots/current`` when the snapshots directory changes, and every
``CODEGRAPH_SNAPSHOT_POLL`` seconds anyway. When it names a new snapshot, the thread opens
it read-only, warms it (the vector index loads), and makes it the one new requests take; a
request keeps the snapshot it started on until it ends (``pinned``), and a snapshot is
closed when it is no longer current and its last request has ended. So a switch fails no
request, and no answer mixes two revisions.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import structlog
from watchfiles import watch

from codegraph import snapshots
from codegraph.api import CodeGraph
from codegraph.config import Config, layout
from codegraph.errors import ReadOnlyReplica, Unavailable
from codegraph.server.engine import Engine, Snapshot, annotated, embedding_status
from codegraph.server.jobs import Job
from codegraph.snapshots import Manifest

log = structlog.get_logger("codegraph.replica")

WRITES = ("this is a read-only replica: send writes (repositories, jobs, backups) to the "
          "indexer (serve --role indexer)")


class Lease:
    """One open snapshot, counted by the requests reading it."""

    def __init__(self, cg: CodeGraph, manifest: Manifest) -> None:
        self.cg = cg
        self.manifest = manifest
        self.figures = Snapshot(**{k: v for k, v in manifest.figures.items()
                                   if k in Snapshot.__dataclass_fields__})
        self._users = 0
        self._retired = False
        self._lock = threading.Lock()

    def take(self) -> Lease:
        with self._lock:
            self._users += 1
        return self

    def give_back(self) -> None:
        with self._lock:
            self._users -= 1
            done = self._retired and self._users == 0
        if done:
            self._close()

    def retire(self) -> None:
        with self._lock:
            self._retired = True
            done = self._users == 0
        if done:
            self._close()

    def _close(self) -> None:
        try:
            self.cg.close()
        except Exception:
            log.exception("closing a snapshot failed", snapshot=self.manifest.id)


class _Pin:
    """The lease a request reads (mutable: ``refresh_pin`` moves it to a newer one)."""

    def __init__(self, lease: Lease | None) -> None:
        self.lease = lease


_PIN: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("codegraph_pin",
                                                                  default=None)


class NoJobs:
    """A replica runs no jobs: the job endpoints find none, and refuse new ones."""

    def list(self) -> list[Job]:
        return []

    def get(self, job_id: str) -> Job | None:
        return None

    def cancel(self, job_id: str) -> Job | None:
        return None

    def submit(self, job: Job) -> Job:
        raise ReadOnlyReplica(WRITES)

    def idle(self) -> bool:
        return True


class Replica:
    """The engine of a replica: what ``server/engine.py``'s is to a writer, read-only."""

    def __init__(self, config: Config, **_: Any) -> None:
        self.config = config
        self.started = time.time()
        self.jobs = NoJobs()
        self._current: Lease | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._behind_since: float | None = None  # ``current`` names one not served yet
        self._failed: str | None = None  # the id that could not be opened, and why
        self._embedder: Any = None  # one model for every snapshot served (loaded once)
        self._poller = threading.Thread(target=self._poll, name="codegraph-snapshots",
                                        daemon=True)

    def start(self) -> None:
        """Serve the newest snapshot now if there is one, then follow ``current``."""
        self.check()
        self._poller.start()

    # -- following ``current`` ----------------------------------------------------------------
    def _poll(self) -> None:
        """Check ``current`` when the snapshots directory changes (inotify, where the file
        system reports changes: a local volume), and every poll interval anyway (NFS and
        other network file systems report none)."""
        base = snapshots.root(self.config.data_dir)
        while not self._stop.is_set():
            if os.path.isdir(base):
                try:
                    for _ in watch(base, watch_filter=None, debounce=10, step=5,
                                   stop_event=self._stop, recursive=False,
                                   rust_timeout=int(self.config.snapshot_poll * 1000),
                                   yield_on_timeout=True, raise_interrupt=False):
                        self._check_logged()
                except Exception as exc:  # (the directory went away: a restore) poll instead
                    log.warning("not watching the snapshots directory", error=str(exc))
            self._check_logged()
            self._stop.wait(self.config.snapshot_poll)

    def _check_logged(self) -> None:
        try:
            self.check()
        except Exception:  # never let the poller die: the next poll tries again
            log.exception("checking for a new snapshot failed")

    def check(self) -> bool:
        """Switch to the snapshot ``current`` names if it is not the one served; True if
        this switched."""
        try:
            wanted = snapshots.current(self.config.data_dir)
        except Unavailable as exc:
            self._note_behind(str(exc))
            return False
        served = self._current.manifest.id if self._current is not None else None
        if wanted is None or wanted == served:
            self._behind_since = None
            return False
        if self._failed == wanted:
            return False  # (retried when ``current`` names another)
        try:
            lease = self._open(wanted)
        except Exception as exc:
            self._failed = wanted
            self._note_behind(f"cannot open snapshot {wanted}: {exc}")
            return False
        with self._lock:
            old, self._current = self._current, lease.take()  # (the replica's own hold)
        self._behind_since = None
        if old is not None:
            old.retire()
            old.give_back()
        log.info("serving snapshot", snapshot=wanted, revision=lease.manifest.revision,
                 previous=served)
        return True

    def _note_behind(self, why: str) -> None:
        if self._behind_since is None:
            self._behind_since = time.time()
            log.error("not serving the newest snapshot", reason=why)

    def _open(self, snapshot_id: str) -> Lease:
        directory = snapshots.path_of(self.config.data_dir, snapshot_id)
        manifest = Manifest.read(directory)
        data_dir, rocksdb, faiss = layout(directory)
        config = dataclasses.replace(self.config, data_dir=data_dir, rocksdb_path=rocksdb,
                                     faiss_path=faiss)
        cg = CodeGraph.open(config, readonly=True, threaded=True)
        # Every file of the snapshot is open before it serves: the store's (RocksDB keeps
        # them open), the lexical index's (a first read), the vectors (loaded whole). Its
        # removal after the grace then takes nothing from a request still on it, on a local
        # file system (an unlinked file stays readable while open).
        try:
            cg.search_service().lexical().count()
        except Exception as exc:  # (lexical search then says why)
            log.warning("the snapshot's lexical index did not open", snapshot=snapshot_id,
                        error=str(exc))
        if self.config.embed:
            from codegraph.search.service import make_embedder

            if self._embedder is None:
                self._embedder = make_embedder(self.config)
            search = cg.search_service()
            search.use_embedder(self._embedder)
            try:  # the model and the vector index load now, not in the first search
                search.vectors()
            except Exception as exc:  # (semantic search then says why, lexical answers)
                log.warning("the snapshot's vector index did not load", snapshot=snapshot_id,
                            error=str(exc))
        return Lease(cg, manifest)

    # -- reading ----------------------------------------------------------------------------
    def _served(self) -> Lease:
        """The current snapshot (call holding ``_lock``)."""
        if self._current is None:
            raise Unavailable("no snapshot published yet: the indexer has not finished its "
                              "first publish")
        return self._current

    def _take(self) -> Lease:
        with self._lock:
            return self._served().take()

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Hold the current snapshot for the whole request (none yet: the request reads
        nothing, and ``reading`` says why)."""
        try:
            pin = _Pin(self._take())
        except Unavailable:
            pin = _Pin(None)
        token = _PIN.set(pin)
        try:
            yield
        finally:
            _PIN.reset(token)
            if pin.lease is not None:
                pin.lease.give_back()

    def refresh_pin(self) -> None:
        pin = _PIN.get()
        if pin is None:
            return
        with contextlib.suppress(Unavailable):
            newer = self._take()
            if pin.lease is not None:
                pin.lease.give_back()
            pin.lease = newer

    def _lease(self) -> Lease:
        """The request's snapshot, or (outside a request) the current one."""
        pin = _PIN.get()
        if pin is not None and pin.lease is not None:
            return pin.lease
        with self._lock:
            return self._served()

    @contextlib.contextmanager
    def reading(self) -> Iterator[CodeGraph]:
        pin = _PIN.get()
        if pin is not None and pin.lease is not None:
            yield pin.lease.cg
            return
        lease = self._take()  # MCP's sessions run outside the request's context
        try:
            yield lease.cg
        finally:
            lease.give_back()

    @property
    def cg(self) -> CodeGraph:
        return self._lease().cg

    @property
    def revision(self) -> int:
        """The revision this request reads (0: no snapshot yet, an empty index)."""
        try:
            return self._lease().manifest.revision
        except Unavailable:
            return 0

    @property
    def snapshot_id(self) -> str | None:
        try:
            return self._lease().manifest.id
        except Unavailable:
            return None

    @property
    def snapshot(self) -> Snapshot:
        try:
            return self._lease().figures
        except Unavailable:
            return Snapshot()

    @property
    def revision_changed(self) -> float:
        try:
            return self._lease().manifest.created
        except Unavailable:
            return self.started

    def cache_epoch(self, revision: int) -> str:
        return self._lease().manifest.id

    def repos(self) -> dict[str, dict[str, Any]]:
        out = self._lease().cg.store.repos()
        for info in out.values():
            info["watching"] = False
            info["pending_since"] = None
        return out

    def not_indexed_yet(self) -> list[str]:
        return []

    def embedding(self) -> dict[str, Any]:
        """The served snapshot's coverage (the indexer embeds: no run is seen here)."""
        return embedding_status(self.config.embed, self.snapshot, None, [])

    def annotate(self, name: str, answer: Any) -> Any:
        return annotated(name, answer, self.embedding)

    def index_lag(self) -> float:
        """Seconds since ``current`` named a snapshot this replica does not serve (0: none)."""
        return 0.0 if self._behind_since is None else time.time() - self._behind_since

    # -- writes: the indexer's ----------------------------------------------------------------
    def add_repo(self, *args: Any, **kwargs: Any) -> Job:
        raise ReadOnlyReplica(WRITES)

    reindex = add_repo

    def remove_repo(self, repo: str) -> tuple[Job, list[Job]]:
        raise ReadOnlyReplica(WRITES)

    def backup(self, dest: str | None = None) -> dict[str, Any]:
        raise ReadOnlyReplica(WRITES)

    def resume_watching(self) -> list[str]:
        return []

    def close(self, timeout: float = 20.0) -> bool:
        self._stop.set()
        with self._lock:
            lease, self._current = self._current, None
        if lease is not None:
            lease.retire()
            lease.give_back()
        close = getattr(self._embedder, "close", None)
        if close is not None:
            close()
        return True


Serving = Engine | Replica  # what a server answers from: its own store, or snapshots
