"""A bounded, paced HTTPS load for the stack tests: many connections, a fixed total rate.

``PacedLoad`` holds ``connections`` client connections (one httpx client of one connection
each, so that every one of them is really open) and sends GETs on them in turn at
``rate`` requests per second in total, until stopped, ``max_requests`` were sent or
``max_seconds`` passed: bounded in count and in time. Every answer is recorded: its start,
duration, status or exception. The total rate is a parameter because nginx limits each
client address (deploy/nginx/ratelimit.conf: 20 r/s, burst 40) and every client on this
host reaches nginx from the same address: a load meant to test something else than the
rate limiter stays under it.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Outcome:
    connection: int
    path: str
    started: float       # time.monotonic()
    seconds: float
    status: int | None   # None: an exception, in ``error``
    error: str | None = None
    rate_limited: bool = False  # a 429 from nginx's limit_req (JSON code rate_limited)
    note: str | None = None     # what PacedLoad's ``note`` made of the answer

    def in_flight(self, t0: float, t1: float) -> bool:
        """Whether the request was in flight at some time in [t0, t1]."""
        return self.started <= t1 and self.started + self.seconds >= t0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class PacedLoad:
    base_url: str
    ca: str
    paths: Sequence[str]
    connections: int = 50
    rate: float = 16.0
    max_requests: int = 3000
    max_seconds: float = 180.0
    # made of each answer (its headers, its body) and kept in Outcome.note
    note: Callable[[httpx.Response], str] | None = None
    check_hostname: bool = True  # False: the certificate is checked, not the name in it
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True,
                                        name="paced-load")
        self._lock = threading.Lock()

    async def _run(self) -> None:
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.check_hostname = self.check_hostname
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients = [httpx.AsyncClient(base_url=self.base_url, verify=ctx, timeout=30,
                                     limits=one) for _ in range(self.connections)]
        t0 = time.monotonic()
        deadline = t0 + self.max_seconds

        async def worker(k: int) -> None:
            i = k  # this connection sends requests k, k + n, k + 2n, ... of the schedule
            while i < self.max_requests and not self._stop.is_set():
                at = t0 + i / self.rate
                if at > deadline:
                    return
                while (delay := at - time.monotonic()) > 0 and not self._stop.is_set():
                    await asyncio.sleep(min(delay, 0.2))
                if self._stop.is_set():
                    return
                path = self.paths[i % len(self.paths)]
                started = time.monotonic()
                try:
                    r = await clients[k].get(path)
                except httpx.HTTPError as exc:
                    out = Outcome(k, path, started, time.monotonic() - started, None,
                                  f"{type(exc).__name__}: {exc}")
                else:
                    limited = r.status_code == 429 and _error_code(r) == "rate_limited"
                    out = Outcome(k, path, started, time.monotonic() - started,
                                  r.status_code, None if r.is_success else r.text[:200],
                                  limited, self.note(r) if self.note else None)
                with self._lock:
                    self.outcomes.append(out)
                i += self.connections

        try:
            await asyncio.gather(*(worker(k) for k in range(self.connections)))
        finally:
            for c in clients:
                await c.aclose()

    # -- control -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"the load did not stop within {timeout} s")

    def __enter__(self) -> PacedLoad:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_connections(self, timeout: float = 60.0) -> float:
        """Wait until every connection has had an answer (all are open): the seconds."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if len(self.used_connections()) >= self.connections:
                return time.monotonic() - t0
            if not self._thread.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"only {len(self.used_connections())} of {self.connections} "
                             f"connections answered within {timeout} s")

    # -- results -----------------------------------------------------------------------------
    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def used_connections(self) -> set[int]:
        return {o.connection for o in self.snapshot()}

    def between(self, t0: float, t1: float) -> list[Outcome]:
        """The requests that were in flight at some time in [t0, t1]."""
        return [o for o in self.snapshot() if o.in_flight(t0, t1)]


def _error_code(r: httpx.Response) -> str | None:
    """The code of an error in the API's shape ({"error": {"code", ...}}), or None."""
    try:
        body = r.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def summary(outcomes: Sequence[Outcome]) -> str:
    """'N requests: a x 200, b x 429 (nginx limit_req), c failed; p50/p95/max ms'."""
    if not outcomes:
        return "0 requests"
    ms = sorted(o.seconds * 1000 for o in outcomes)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    ok = sum(o.ok for o in outcomes)
    limited = sum(o.rate_limited for o in outcomes)
    failed = len(outcomes) - ok - limited
    return (f"{len(outcomes)} requests: {ok} x 2xx, {limited} x 429 (nginx limit_req), "
            f"{failed} failed; latency p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
            f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")
