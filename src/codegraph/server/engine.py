"""The running service's state: the store (this process is its one writer), search, the
job queue that does every write, the file watchers, and a snapshot of index figures for
metrics and readiness."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from codegraph.api import CodeGraph
from codegraph.config import Config
from codegraph.errors import BadRequest, Conflict, NotFound, Unavailable
from codegraph.index.repos import repo_name_for
from codegraph.query.source import resolve_inside
from codegraph.server.jobs import Job, JobQueue
from codegraph.server.rwlock import ReadWriteLock
from codegraph.snapshots import Manifest
from codegraph.store.rocks import Store

log = structlog.get_logger("codegraph.engine")

STATS_EVERY = 30.0  # seconds between index-figure refreshes after small updates
CHANGES = ("index", "update", "remove", "embed")  # the jobs after which an indexer publishes
REPO_JOBS = ("index", "update", "embed")  # a repository's jobs, cancelled when it is removed


class RepoPathError(BadRequest):
    """A repository path outside ``CODEGRAPH_REPOS_ROOT``, or not a directory."""


@dataclass
class Snapshot:
    """Index figures, refreshed by the writer after jobs (a full count costs a scan)."""

    repositories: int = 0
    files: int = 0
    nodes: int = 0
    edges: int = 0
    parse_failures: int = 0
    nodes_by_kind: dict[str, int] = field(default_factory=dict)
    edges_by_kind: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    embedded: int = 0
    embedding_excluded: int = 0  # left out by CODEGRAPH_EMBED_EXCLUDE
    embedding_pending: int = 0  # the backlog: chunks waiting for a vector
    embedding_eta_seconds: float | None = None  # at the last measured rate
    embedding_taken: float = 0.0  # when the embedding figures were counted (0: not yet)
    embedding_failures: int = 0
    last_index_seconds: float = 0.0
    taken: float = 0.0


class Engine:
    def __init__(self, config: Config, *, on_job_done: Callable[[Job], None] | None = None,
                 ) -> None:
        self.config = config
        self.started = time.time()
        # The one library object: the jobs write through it, HTTP and MCP ask it inside
        # ``reading()``, since a full re-index swaps its store under them (``_exclusive``).
        self.cg = CodeGraph.open(config, threaded=True)
        self._switching = ReadWriteLock()
        self.snapshot = Snapshot(repositories=len(self.store.repos()))  # the rest after a job
        self.revision_changed = time.time()  # set by the writer, the only one changing it
        self._last_revision = self.store.revision
        self.pending_since: dict[str, float] = {}  # repo -> first unapplied save
        self.awaiting_roots: set[str] = set()  # roots to serve, not indexed yet this run
        self._watchers: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._on_job_done = on_job_done or (lambda job: None)
        self.jobs = JobQueue(self._run_job, on_finish=self._job_finished)
        # Embedding changes answers (search, stats) without a new store revision: cached
        # answers are keyed by both.
        self.embed_generation = 0
        self._closed = False
        self._backing_up = threading.Lock()  # one backup at a time
        self._staged: dict[str, Any] = {}  # backup job id -> its snapshot (create.Staged)
        # --role indexer: the snapshot last published for replicas (snapshots.py)
        self.published: Manifest | None = None
        self._published_at = 0.0

    # -- reading --------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self.cg.store

    @contextlib.contextmanager
    def reading(self) -> Iterator[CodeGraph]:
        """The library, with the store it reads kept open until the block ends."""
        with self._switching.reading():
            yield self.cg

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """No reader inside ``reading()`` while a full re-index swaps the store."""
        with self._switching.writing():
            yield

    @property
    def revision(self) -> int:
        return self.store.revision

    @property
    def snapshot_id(self) -> str | None:
        """The snapshot last published (an indexer), None for a standalone server."""
        return self.published.id if self.published is not None else None

    def pinned(self) -> contextlib.AbstractContextManager[None]:
        """A request's hold on what it reads: a replica's snapshot (``replica.py``). This
        server reads its one store, switched under ``reading()``."""
        return contextlib.nullcontext()

    def refresh_pin(self) -> None:
        """After a ``min_revision`` wait: nothing to do on the writer's own store."""

    def cache_epoch(self, revision: int) -> str:
        """What a cached answer depends on: the store revision and the embeddings."""
        return f"{revision}.{self.embed_generation}"

    def repos(self) -> dict[str, dict[str, Any]]:
        out = self.store.repos()
        for name, info in out.items():
            info["watching"] = name in self._watchers
            info["pending_since"] = self.pending_since.get(name)
        return out

    def not_indexed_yet(self) -> list[str]:
        """Roots this server was started to serve that had no index and whose first run
        has not finished yet (or failed). An existing index serves while it catches up."""
        return sorted(self.awaiting_roots)

    def index_lag(self) -> float:
        """Seconds since the oldest saved change that is not in the index yet (0: none)."""
        oldest = min(self.pending_since.values(), default=None)
        return 0.0 if oldest is None else time.time() - oldest

    # -- writing: everything goes through the job queue -------------------------------------
    def check_repo_path(self, path: str) -> str:
        """The real path of ``path`` if it is a directory under the repos root."""
        root = self.config.repos_root
        if any(part == ".." for part in path.replace("\\", "/").split("/")):
            raise RepoPathError("repository paths may not contain '..'")
        full = resolve_inside(root, path)
        if full is None:
            raise RepoPathError(f"{path!r} is outside the repositories root {root}")
        if not os.path.isdir(full):
            raise RepoPathError(f"{path!r} is not a directory under {root}")
        return full

    def add_repo(self, path: str, name: str | None = None, *, trusted: bool = False,
                 watch: bool | None = None) -> Job:
        """Register and index a repository; ``trusted`` (the operator's own command line)
        skips the repos-root check."""
        root = os.path.realpath(path) if trusted else self.check_repo_path(path)
        if not os.path.isdir(root):
            raise RepoPathError(f"not a directory: {path}")
        repo = repo_name_for(self.store, root, name)
        watching = watch if watch is not None else self.config.watch
        # Registered through the API: the choice is kept for the next start. Given at start
        # (trusted): that start's configuration decides, each time.
        job = self.jobs.submit(Job("index", repo, root, watch=None if trusted else watching))
        if trusted and not self.store.repos().get(repo, {}).get("last_indexed"):
            self.awaiting_roots.add(root)  # never indexed: not ready until it is
        if watching:
            self.start_watch(repo, root)
        return job

    def resume_watching(self) -> list[str]:
        """At start: watch again every registered repository recorded with watching on
        through the API (``add_repo``'s choice, kept with its record) whose root is still a
        directory, after an incremental index that catches up with what changed while no
        server ran. The repositories given at start are already watched; CODEGRAPH_WATCH=false
        resumes none. Returns the names resumed."""
        if not self.config.watch:
            return []
        resumed = []
        for repo, info in sorted(self.store.repos().items()):
            root = str(info.get("root") or "")
            if info.get("watch") is not True or repo in self._watchers:
                continue
            if not os.path.isdir(root):
                log.warning("not watching a registered repository: its root is gone",
                            repo=repo, root=root)
                continue
            self.jobs.submit(Job("index", repo, root, watch=True))
            self.start_watch(repo, root)
            resumed.append(repo)
        return resumed

    def reindex(self, repo: str, full: bool = False) -> Job:
        root = self._root_of(repo)
        watch = self.store.repos().get(repo, {}).get("watch")  # a full run drops the record
        return self.jobs.submit(Job("index", repo, root, full=full,
                                    watch=watch if isinstance(watch, bool) else None))

    def remove_repo(self, repo: str) -> tuple[Job, list[Job]]:
        """Queue the removal of a repository, after cancelling its queued and running
        jobs: an embedding run of it stops at its next batch (what it saved is dropped by
        the removal's own embedding pass), and an index run would bring it back. Returns
        the removal and the jobs cancelled."""
        self._root_of(repo)
        self.stop_watch(repo)
        cancelled = list(self.jobs.cancel_repo(repo, REPO_JOBS))
        return self.jobs.submit(Job("remove", repo)), cancelled

    def _root_of(self, repo: str) -> str:
        info = self.store.repos().get(repo)
        if info is None:
            raise NotFound(f"no repository named {repo!r}")
        return str(info["root"])

    # -- backups: the snapshot on the writer, the archive beside it ----------------------------
    def backup(self, dest: str | None = None) -> dict[str, Any]:
        """Back the data directory up into an archive under ``CODEGRAPH_BACKUP_DIR`` (``dest``:
        a directory or a ``.tar.gz`` name there); what it is. Blocks: call it in a thread.
        The snapshot is a job of the writer (no write runs while it is taken; reads go on);
        the archive is packed from it afterwards, while writes go on too."""
        from codegraph.backup import create
        from codegraph.backup.remote import server_target

        if not self._backing_up.acquire(blocking=False):
            raise Conflict("a backup is already running: wait for it to finish")
        try:
            archive = server_target(self.config, dest)
            try:
                job = self.jobs.submit(Job("backup", "", archive))
            except RuntimeError as exc:  # shutting down
                raise Unavailable(str(exc)) from None
            job.wait()
            staged = self._staged.pop(job.id, None)
            if job.state != "done" or staged is None:
                raise Unavailable(f"the backup's snapshot did not complete ({job.state}"
                                  f"{': ' + job.error if job.error else ''})")
            info = create.pack_aside(staged, archive, create.SERVER_HINT)
            log.info("backup written", **{k: info[k] for k in (
                "archive", "size", "revision", "snapshot_seconds", "pack_seconds")})
            return {**info, "job": job.id}
        finally:
            self._backing_up.release()

    def _snapshot(self, job: Job) -> dict[str, Any]:
        from codegraph.backup import create

        staged = create.stage(self.cg, os.path.dirname(job.root))
        self._staged[job.id] = staged
        return {"archive": job.root, "revision": staged.revision,
                "snapshot_seconds": round(staged.seconds, 3)}

    # -- publishing snapshots for replicas (--role indexer) ----------------------------------
    def publish_soon(self) -> None:
        """Queue a publish of the index for replicas (``snapshots.py``), unless one is."""
        with contextlib.suppress(RuntimeError):  # shutting down
            self.jobs.submit(Job("publish", ""))

    def _unpublished(self) -> bool:
        last = self.published
        return last is None or (last.revision, last.generation) != (self.revision,
                                                                   self.embed_generation)

    def _publish(self) -> dict[str, Any]:
        from dataclasses import asdict

        from codegraph import snapshots

        # Saved changes queued behind this publish: publish once, after them. (Not embedding:
        # it runs for a while, and replicas serve the structure meanwhile.)
        waiting = any(j.state == "queued" and j.kind in ("index", "update", "remove")
                      for j in self.jobs.list())
        since = time.time() - self._published_at
        if waiting and since < self.config.publish_interval:
            return {"skipped": "more changes are queued: published after them"}
        if since < self.config.publish_interval:  # at most one publish per interval
            timer = threading.Timer(self.config.publish_interval - since, self.publish_soon)
            timer.daemon = True
            timer.start()
            return {"skipped": f"published {since:.3f} s ago: again in "
                               f"{self.config.publish_interval - since:.3f} s"}
        started = time.monotonic()
        manifest = snapshots.publish(self.cg, generation=self.embed_generation,
                                     figures=asdict(self.snapshot), previous=self.published)
        self.published, self._published_at = manifest, time.time()
        removed = snapshots.prune(self.config.data_dir, self.config.snapshot_grace)
        seconds = round(time.monotonic() - started, 3)
        log.info("snapshot published", snapshot=manifest.id, revision=manifest.revision,
                 seconds=seconds, removed=len(removed))
        return {"snapshot": manifest.id, "revision": manifest.revision, "seconds": seconds,
                "removed": removed}

    def _run_job(self, job: Job, progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        if job.kind == "backup":
            return self._snapshot(job)
        if job.kind == "publish":
            return self._publish()
        if job.kind == "embed":
            def embed_progress(event: dict[str, Any]) -> None:
                if event.get("event") == "embedded":
                    self.embed_generation += 1
                progress(event)

            try:  # this repository's chunks (and stale vectors of any: a removed one's)
                embedded = self.cg.embed(embed_progress, repo=job.repo).to_dict()
                job.saved = job.done  # (the run's last save comes after its last event)
                return embedded
            finally:
                self.embed_generation += 1
        if job.kind == "remove":
            self.cg.remove(job.repo, progress=progress)
            self._queue_embed(job.repo)
            return {"removed": job.repo}
        if job.kind == "update":
            self.pending_since.pop(job.repo, None)
            report = self.cg.update(job.repo, job.root, job.paths, progress=progress)
        else:  # a full run is built beside the live store and switched in at its end
            self._record_watch(job)  # before: a run cut short keeps the choice
            report = self.cg.index(job.root, name=job.repo, full=job.full, progress=progress,
                                   exclusive=self._exclusive)
            self._record_watch(job)  # after: a first or a full run wrote a new record
        if report.changed or job.kind == "index":
            self._queue_embed(job.repo)
        out = report.to_dict()
        out["problems"] = [list(p) for p in report.problems[:100]]
        out["changed"] = report.changed[:1000]
        return out

    def _record_watch(self, job: Job) -> None:
        """Keep an index job's watch choice in its repository's record (the writer thread
        is the only one writing records), for ``resume_watching`` at the next start."""
        if job.watch is None:
            return
        info = self.store.repos().get(job.repo)
        if info is None:
            info = {"root": job.root, "created": time.time()}
        if info.get("watch") is not job.watch:
            info["watch"] = job.watch
            self.store.put_repo(job.repo, info)

    def _queue_embed(self, repo: str) -> None:
        if self.config.embed:
            self.jobs.submit(Job("embed", repo))

    def resume_embedding(self, skip: Collection[str] = ()) -> list[str]:
        """At start (in a thread of its own: it counts): the index figures if no job took
        them yet, then an embedding run queued for every registered repository with chunks
        waiting for a vector (``codegraph index --no-wait`` left them, or a run was
        stopped), except ``skip`` (index runs are queued for them: they queue their own).
        Returns the names queued."""
        if not self.config.embed:
            return []
        with self.reading():
            backlog = self.cg.embed_backlog()  # (one pass: per repository too)
            if not self.snapshot.embedding_taken:  # (no job counted them meanwhile)
                self._count_embedding(backlog)
            if not backlog["pending"]:
                return []
            queued = []
            for repo, pending in backlog["pending_by_repo"].items():
                if repo not in skip and pending:
                    with contextlib.suppress(RuntimeError):  # shutting down
                        self._queue_embed(repo)
                        queued.append(repo)
        return queued

    # -- where embedding is: the same facts for the API, /stats, MCP, readiness, metrics ----
    def embedding(self) -> dict[str, Any]:
        """Semantic search's coverage and backlog, live while a run embeds (see
        ``embedding_status``)."""
        current = self.jobs.current
        queued = [j for j in self.jobs.list() if j.kind == "embed" and j.state == "queued"]
        return embedding_status(self.config.embed, self.snapshot,
                                current if current is not None and current.kind == "embed"
                                else None, queued)

    def annotate(self, name: str, answer: Any) -> Any:
        """A query's answer with what only the server knows (``annotated``)."""
        return annotated(name, answer, self.embedding)

    def _job_finished(self, job: Job) -> None:
        if self.store.revision != self._last_revision:
            self._last_revision, self.revision_changed = self.store.revision, time.time()
        log.info("job finished", job=job.id, kind=job.kind, repo=job.repo, state=job.state,
                 seconds=round((job.finished or 0) - (job.started or job.finished or 0), 3),
                 error=job.error)
        if job.kind == "index" and job.state == "done":
            self.snapshot.last_index_seconds = float(job.result.get("seconds", 0.0))
        if not self._closed and job.kind not in ("backup", "publish") and (
                job.started is not None) and (job.kind != "update" or job.state != "done"
                or time.time() - self.snapshot.taken > STATS_EVERY):
            self.refresh_snapshot()  # (not when stopping: a full count takes seconds)
        if job.kind == "index" and job.state == "done":
            self.awaiting_roots.discard(job.root)  # after the snapshot: ready sees figures
        if (self.config.role == "indexer" and not self._closed and job.kind in CHANGES
                and self._unpublished()):
            self.publish_soon()
        self._on_job_done(job)

    def refresh_snapshot(self) -> None:
        stats = self.cg.stats()
        coverage = stats["search"]
        snap = self.snapshot
        snap.repositories = len(stats["repositories"])
        snap.files = stats["files"]
        snap.nodes, snap.edges = stats["nodes"], stats["edges"]
        snap.nodes_by_kind, snap.edges_by_kind = stats["nodes_by_kind"], stats["edges_by_kind"]
        snap.parse_failures = stats["files_by_status"].get("failed", 0)
        snap.chunks, snap.embedded = coverage["chunks"], coverage["embedded"]
        snap.embedding_failures = int(coverage.get("embedding_failures") or 0)
        self._count_embedding(stats["embedding"])
        snap.taken = time.time()

    def _count_embedding(self, backlog: dict[str, Any]) -> None:
        snap = self.snapshot
        if "chunks" in backlog and not snap.taken:  # (at start: before any full count)
            snap.chunks, snap.embedded = int(backlog["chunks"]), int(backlog["embedded"])
        snap.embedding_excluded = int(backlog.get("excluded") or 0)
        snap.embedding_pending = int(backlog.get("pending") or 0)
        snap.embedding_eta_seconds = backlog.get("eta_seconds")
        snap.embedding_taken = time.time()

    # -- watching ---------------------------------------------------------------------------
    def start_watch(self, repo: str, root: str) -> None:
        if repo in self._watchers or self._closed:
            return
        stop = threading.Event()
        thread = threading.Thread(target=self._watch, args=(repo, root, stop),
                                  name=f"codegraph-watch-{repo}", daemon=True)
        self._watchers[repo] = (thread, stop)
        thread.start()

    def stop_watch(self, repo: str) -> None:
        entry = self._watchers.pop(repo, None)
        if entry is not None:
            entry[1].set()

    def _watch(self, repo: str, root: str, stop: threading.Event) -> None:
        from codegraph.index.watch import changed_paths

        try:
            for paths in changed_paths(root, stop):
                self.pending_since.setdefault(repo, time.time())
                self.jobs.submit(Job("update", repo, root, paths=paths))
        except Exception:
            if self._closed:  # shutting down: the queue refuses new jobs
                return
            log.exception("watcher stopped", repo=repo, root=root)
            self._watchers.pop(repo, None)

    # -- stopping ---------------------------------------------------------------------------
    def close(self, timeout: float = 20.0) -> bool:
        """Stop watchers, let the running job stop at its next atomic step, flush and close
        the store. True when everything stopped within ``timeout``."""
        if self._closed:
            return True
        self._closed = True
        for repo in list(self._watchers):
            self.stop_watch(repo)
        started = time.monotonic()
        stopped = self.jobs.close(timeout)
        if not stopped:
            log.error("the writer did not stop in time; the store is left to RocksDB's "
                      "recovery", timeout=timeout)
            return False
        try:  # queries cut off by the drain may still be reading it
            with self._switching.writing(max(1.0, timeout - (time.monotonic() - started))):
                self.cg.close()
        except TimeoutError as exc:
            log.error("queries still read the store; it is left to RocksDB's recovery",
                      detail=str(exc))
            return False
        return True


def embedding_status(enabled: bool, snap: Snapshot, running: Job | None,
                     queued: list[Job]) -> dict[str, Any]:
    """Semantic search's coverage from the figures of ``snap`` (taken after the last job),
    brought up to date with the ``running`` embedding job's committed vectors; ``state``
    is ``disabled``, ``complete`` (nothing waits for a vector), ``embedding`` (a run is
    running or queued), ``partial`` (chunks wait, and no run is under way: a replica's
    indexer, or one stopped by failures) or ``unknown`` (not counted yet).
    ``eta_seconds``: for the whole backlog, at the running job's rate (else the last
    measured one); None when never measured."""
    pending, embedded = snap.embedding_pending, snap.embedded
    rate = eta = None
    job = None
    if running is not None and (running.started or 0) >= snap.embedding_taken:
        pending = max(0, pending - running.saved)
        embedded = min(snap.chunks, embedded + running.saved)
        rate = running.rate
        job = running.to_dict()  # (the one shape of a job, as /api/v1/jobs shows it)
    if rate:
        eta = round(pending / rate, 1)
    elif snap.embedding_eta_seconds is not None:
        eta = snap.embedding_eta_seconds
    embeddable = snap.chunks - snap.embedding_excluded  # (excluded chunks get no vector)
    if not enabled:
        state = "disabled"
    elif not snap.embedding_taken:
        state = "unknown"  # (not counted yet: a server's first moments)
    elif not pending:
        state = "complete"
    elif running is not None or queued:
        state = "embedding"
    else:
        state = "partial"
    return {"state": state, "chunks": snap.chunks, "embedded": embedded,
            "excluded": snap.embedding_excluded, "pending": pending,
            "coverage": round(embedded / embeddable, 4) if embeddable > 0 else 1.0,
            "rate": rate, "eta_seconds": eta if pending else 0.0,
            "queued": [j.repo for j in queued], "job": job,
            "failures": snap.embedding_failures}


def annotated(name: str, answer: Any, live: Callable[[], dict[str, Any]]) -> Any:
    """``stats`` as the server answers it (HTTP and MCP alike): its ``embedding`` backlog
    (counted by the library, as the command line shows it) with the server's ``state``, and
    the running embedding job's ``rate``, ``eta_seconds`` and ``job`` (``live()``: an
    engine's ``embedding()``)."""
    if name != "stats" or not isinstance(answer, dict) or "embedding" not in answer:
        return answer
    now = live()
    embedding = {**answer["embedding"], "state": now["state"], "rate": now["rate"],
                 "job": now["job"]}
    if now["job"] is not None and now["rate"]:
        embedding["eta_seconds"] = now["eta_seconds"]
    return {**answer, "embedding": embedding}
