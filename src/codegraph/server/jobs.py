"""Index jobs: every write to the store goes through one queue and one writer thread.

The store has a single writer, so indexing a repository, applying a watcher's changes,
removing a repository and filling in embeddings all run here, one at a time. File-watch
updates jump the queue; embedding, the slow part, runs last and steps aside for them.
A job is cancelled between files (or embedding batches): each file's update is one atomic
batch and the indexer's dirty marks let the next run finish what a cancelled one started.
(A repository's first index is a bulk load instead: cancelled while parsing, it keeps the
files of its last checkpoint; see index/bulk.py.)
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("codegraph.jobs")

# Lower runs first: a saved file must not wait behind a 10-minute embedding run. A backup's
# snapshot (``Engine.backup``) takes a moment: it goes before index runs, and so does an
# indexer's publish of a snapshot for replicas (before embedding: structure first).
PRIORITY = {"update": 0, "remove": 1, "backup": 1, "publish": 2, "index": 2, "embed": 3}
KEEP_FINISHED = 200
# Administration's jobs (a backup's snapshot: its archive path, and cancelling it, are the
# admin token's business): left out of the public job endpoints and /debug/info.
ADMIN_KINDS = frozenset({"backup", "publish"})


def _number(value: Any, default: float | None = None) -> float | None:
    """A progress event's figure, rounded for the API (None: not measured)."""
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return round(float(value), 3)
    return default


def _measure(job: Job) -> None:
    """The current phase's rate and time left, from its items done so far (an index job's
    phases report files; embedding reports the model's own figures)."""
    elapsed = time.monotonic() - job.phase_started
    if job.done <= 0 or elapsed <= 0 or not job.phase_started:
        return
    rate = job.done / elapsed
    job.rate = round(rate, 3)  # (may round to 0 for a slow start: the ETA uses ``rate``)
    job.eta_seconds = round(max(0, job.total - job.done) / rate, 3)


class JobCancelled(Exception):
    """Raised inside a job's progress callback to stop it between two atomic steps."""


class JobPreempted(JobCancelled):
    """An embedding run that steps aside for more urgent work; it is queued again."""


@dataclass
class Job:
    kind: str
    repo: str
    root: str = ""
    full: bool = False
    paths: list[str] = field(default_factory=list)
    # index jobs: watch the repository (recorded with it, resumed by the next start); None:
    # leave the recorded choice as it is
    watch: bool | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "queued"  # queued, running, done, failed, cancelled
    phase: str = "queued"
    done: int = 0
    total: int = 0
    # the current phase's items/s so far and the seconds it has left at that rate (None:
    # not measured yet; embedding: the model's, as its run reports them), and embedding
    # jobs' vectors committed to the saved index (kept if the run stops)
    rate: float | None = None
    eta_seconds: float | None = None
    saved: int = 0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    phase_started: float = field(default=0.0, repr=False)  # time.monotonic()
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    ended: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def admin(self) -> bool:
        """Whether only administration may see or cancel it (``ADMIN_KINDS``)."""
        return self.kind in ADMIN_KINDS

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job is done, failed or cancelled; False if ``timeout`` passed."""
        return self.ended.wait(timeout)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "repo": self.repo, "full": self.full,
                "state": self.state, "phase": self.phase,
                "progress": {"done": self.done, "total": self.total, "rate": self.rate,
                             "eta_seconds": self.eta_seconds, "saved": self.saved},
                "created": self.created, "started": self.started, "finished": self.finished,
                "error": self.error, "result": self.result}


Runner = Callable[[Job, Callable[[dict[str, Any]], None]], dict[str, Any]]


class JobQueue:
    """A priority queue of jobs and the one thread that runs them with ``runner``."""

    def __init__(self, runner: Runner, on_finish: Callable[[Job], None] | None = None) -> None:
        self._runner = runner
        self._on_finish = on_finish or (lambda job: None)
        self._queue: queue.PriorityQueue[tuple[int, int, Job | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.current: Job | None = None
        self._thread = threading.Thread(target=self._run, name="codegraph-writer", daemon=True)
        self._thread.start()

    # -- the public side ------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        with self._lock:
            if self._closing.is_set():
                raise RuntimeError("the server is shutting down")
            if job.kind == "update":  # merge into a queued update of the same repository
                for other in self._jobs.values():
                    if (other.kind == "update" and other.repo == job.repo
                            and other.state == "queued"):
                        other.paths = sorted(set(other.paths) | set(job.paths))
                        return other
            if job.kind in ("index", "embed", "publish"):  # one queued run per repository
                for other in self._jobs.values():
                    if (other.kind == job.kind and other.repo == job.repo
                            and other.state == "queued" and other.full >= job.full):
                        return other
            self._jobs[job.id] = job
            self._forget_old()
        self._queue.put((PRIORITY[job.kind], next(self._order), job))
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def cancel(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is not None and job.state in ("queued", "running"):
            job.cancel_requested.set()
            if job.state == "queued":
                self._finish(job, "cancelled")
        return job

    def cancel_repo(self, repo: str, kinds: tuple[str, ...]) -> Sequence[Job]:
        """Cancel the queued and running jobs of ``kinds`` for ``repo`` (a repository being
        removed: its embedding run must not go on, nor an index run bring it back)."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.repo == repo and j.kind in kinds
                    and j.state in ("queued", "running")]
        return [job for j in jobs if (job := self.cancel(j.id)) is not None]

    def urgent_waiting(self) -> bool:
        return any(j.state == "queued" and PRIORITY[j.kind] < PRIORITY["embed"]
                   for j in list(self._jobs.values()))

    def idle(self) -> bool:
        return self.current is None and not any(j.state == "queued"
                                                for j in list(self._jobs.values()))

    def close(self, timeout: float) -> bool:
        """Stop taking jobs, cancel the queued ones, let the running one stop at its next
        atomic step; True when the writer thread stopped within ``timeout``."""
        with self._lock:
            self._closing.set()
            for job in self._jobs.values():
                if job.state == "queued":
                    self._finish(job, "cancelled")
            if self.current is not None:
                self.current.cancel_requested.set()
        self._queue.put((-1, -1, None))
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the writer thread ---------------------------------------------------------------
    def _run(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None:
                return
            if job.state != "queued":
                continue
            self.current = job
            job.state, job.started = "running", time.time()
            try:
                job.result = self._runner(job, self._progress_for(job))
            except JobPreempted:
                job.state, job.phase = "queued", "preempted"
                self._queue.put((PRIORITY[job.kind], next(self._order), job))
                self.current = None
                continue
            except JobCancelled:
                self._finish(job, "cancelled")
            except Exception as exc:  # a failed job is reported; the server keeps serving
                job.error = f"{type(exc).__name__}: {exc}"
                log.error("job failed", job=job.id, kind=job.kind, repo=job.repo,
                          error=job.error)
                self._finish(job, "failed")
            else:
                self._finish(job, "done")
            self.current = None

    def _progress_for(self, job: Job) -> Callable[[dict[str, Any]], None]:
        def progress(event: dict[str, Any]) -> None:
            name = event.get("event", "")
            if name in ("walk", "parse", "resolve", "embed", "lexical"):
                job.phase, job.done = name, 0
                job.phase_started, job.rate, job.eta_seconds = time.monotonic(), None, None
            if name == "embed":  # a run's start (again, after it stepped aside)
                job.rate, job.saved = None, 0
            if "total" in event:
                job.total = int(event["total"])
            if "done" in event and isinstance(event["done"], int):
                job.done = event["done"]
                if job.phase != "embed":
                    _measure(job)
            if name in ("embed", "embedded"):
                job.eta_seconds = _number(event.get("eta_seconds"))
                job.rate = _number(event.get("rate"), job.rate)
                if isinstance(event.get("saved"), int):
                    job.saved = event["saved"]
            if job.cancel_requested.is_set():
                raise JobCancelled(job.id)
            if job.kind == "embed" and self.urgent_waiting() and not self._closing.is_set():
                raise JobPreempted(job.id)
        return progress

    def _finish(self, job: Job, state: str) -> None:
        job.state, job.finished, job.phase = state, time.time(), state
        if state == "done":  # (the last phase may report no count of its own)
            job.done, job.eta_seconds = max(job.done, job.total), 0.0
        try:
            self._on_finish(job)
        except Exception:  # metrics or stats refresh must never kill the writer
            log.exception("after-job hook failed", job=job.id)
        finally:
            job.ended.set()

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values()
                           if j.state not in ("queued", "running")), key=lambda j: j.created)
        for job in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            self._jobs.pop(job.id, None)
