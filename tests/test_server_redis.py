"""The query cache against a real ``redis-server`` and a real ``codegraph serve`` process:
hits, invalidation by re-index, a Redis crash and a hung Redis (answers stay right and fast,
readiness and metrics show the outage), recovery after a restart, and no Redis at all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import write_tree
from redisproc import RedisProcess, redis_server
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(120)

RETRY_SECONDS = 2.0  # codegraph.server.cache.RETRY_SECONDS: reconnects at most this often
FAST = 0.5  # seconds: no request may wait on a dead Redis (its socket timeout is 0.25 s)
EDIT_TIMEOUT = 15.0  # seconds for the watcher to apply a saved edit (it takes about one)

CORE = '''\
def target(x):
    """The function everybody calls."""
    return x + 1


def first():
    return target(1)
'''
SECOND = '''

def second():
    return target(2) * 2
'''
USES = '''\
from pkg.core import target


def helper(values):
    return [target(v) for v in values]
'''
REPO = {"pkg/__init__.py": "", "pkg/core.py": CORE, "pkg/uses.py": USES}


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    yield from redis_server(tmp_path / "redis")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "proj", REPO)


def revision(r: httpx.Response) -> int:
    return int(r.headers["x-codegraph-revision"])


def names(r: httpx.Response) -> set[str]:
    assert r.status_code == 200, (r.status_code, r.text)
    return {hit["name"] for hit in r.json()["results"]}


def metric(server: ServerProcess, name: str, **labels: str) -> float | None:
    """One sample from the server's /metrics (None when it is not exported)."""
    text = httpx.get(server.metrics_url, timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return float(sample.value)
    return None


def cache_status(server: ServerProcess) -> dict[str, Any]:
    r = server.get("/health/ready")
    assert r.status_code == 200, (r.status_code, r.text)
    body: dict[str, Any] = r.json()
    assert body["ready"] is True, body
    return body


def cached_keys(redis: RedisProcess) -> dict[bytes, bytes]:
    with redis.client() as client:
        keys = sorted(client.scan_iter(match="codegraph:*"))
        return {k: client.get(k) for k in keys}


def timed(server: ServerProcess, path: str, **params: Any) -> httpx.Response:
    """A request that must be answered 200 and quickly; the 5xx check comes first."""
    started = time.perf_counter()
    r = server.get(path, **params)
    elapsed = time.perf_counter() - started
    assert r.status_code < 500, (path, params, r.status_code, r.text, server.output()[-4000:])
    assert r.status_code == 200, (path, params, r.status_code, r.text)
    assert elapsed < FAST, f"{path} {params} took {elapsed:.3f} s with Redis unavailable"
    return r


def wait_for_revision_above(server: ServerProcess, before: int) -> int:
    deadline = time.monotonic() + EDIT_TIMEOUT
    while time.monotonic() < deadline:
        now = revision(server.get("/health"))
        if now > before:
            server.wait_jobs_idle()
            return revision(server.get("/health"))
        time.sleep(0.05)
    raise AssertionError(f"revision still {before} {EDIT_TIMEOUT} s after the edit:\n"
                         f"{server.output()[-4000:]}")


def test_second_request_is_a_hit_and_redis_holds_the_answer(
        tmp_path: Path, repo: Path, redis: RedisProcess) -> None:
    with ServerProcess(tmp_path, [repo], REDIS_URL=redis.url) as server:
        server.wait_jobs_idle()
        assert cache_status(server)["components"]["cache"]["status"] == "up"
        first = server.get("/api/v1/callers", symbol="target")
        assert names(first) == {"first", "helper"}
        assert "x-cache" not in first.headers
        second = server.get("/api/v1/callers", symbol="target")
        assert second.headers.get("x-cache") == "hit"
        assert second.content == first.content

        stored = cached_keys(redis)
        rev = revision(first)
        assert stored, "nothing written to Redis"
        assert all(k.startswith(f"codegraph:{rev}.".encode()) for k in stored), stored
        assert first.content in stored.values()
        with redis.client() as client:
            ttl = client.ttl(next(iter(stored)))
        assert 0 < ttl <= 300  # answers expire (CODEGRAPH_CACHE_TTL, 300 s by default)

        sym = server.get("/api/v1/symbol", symbol="target")
        assert sym.status_code == 200 and "x-cache" not in sym.headers
        assert len(cached_keys(redis)) == len(stored) + 1
        assert metric(server, "codegraph_cache_requests_total", layer="redis",
                      result="miss") == 2
        assert metric(server, "codegraph_cache_up") == 1

    # A new process (empty in-process cache) on the same unchanged index: Redis answers.
    with ServerProcess(tmp_path, [repo], REDIS_URL=redis.url) as server:
        server.wait_jobs_idle()
        again = server.get("/api/v1/callers", symbol="target")
        assert revision(again) == rev, "re-opening an unchanged index changed its revision"
        assert again.headers.get("x-cache") == "hit"
        assert again.content == first.content
        assert metric(server, "codegraph_cache_requests_total", layer="redis",
                      result="hit") == 1


def test_reindex_invalidates_cached_answers(tmp_path: Path, repo: Path,
                                            redis: RedisProcess) -> None:
    with ServerProcess(tmp_path, [repo], REDIS_URL=redis.url) as server:
        server.wait_jobs_idle()
        before = server.get("/api/v1/callers", symbol="target")
        assert names(before) == {"first", "helper"}
        assert server.get("/api/v1/callers", symbol="target").headers.get("x-cache") == "hit"
        old = revision(before)

        (repo / "pkg" / "core.py").write_text(CORE + SECOND)
        new = wait_for_revision_above(server, old)

        after = server.get("/api/v1/callers", symbol="target")
        assert revision(after) == new
        assert "x-cache" not in after.headers, "a re-index did not invalidate the answer"
        assert names(after) == {"first", "helper", "second"}
        hit = server.get("/api/v1/callers", symbol="target")
        assert hit.headers.get("x-cache") == "hit" and hit.content == after.content
        stored = cached_keys(redis)
        assert after.content in stored.values()
        assert any(k.startswith(f"codegraph:{new}.".encode()) for k in stored), stored


def test_redis_killed_then_restarted(tmp_path: Path, repo: Path, redis: RedisProcess) -> None:
    with ServerProcess(tmp_path, [repo], REDIS_URL=redis.url) as server:
        server.wait_jobs_idle()
        warm = server.get("/api/v1/callers", symbol="target")
        assert names(warm) == {"first", "helper"}
        assert server.get("/api/v1/callers", symbol="target").headers.get("x-cache") == "hit"
        assert cached_keys(redis)
        assert metric(server, "codegraph_cache_outages_total") == 0

        redis.kill()
        # A cached answer and new ones, for longer than the retry interval so that the
        # reconnect attempts happen too: all 200, right, and fast.
        cached = timed(server, "/api/v1/callers", symbol="target")
        assert cached.content == warm.content
        assert names(timed(server, "/api/v1/callees", symbol="first")) == {"target"}
        assert names(timed(server, "/api/v1/callers", symbol="helper")) == set()
        definition = timed(server, "/api/v1/definition", symbol="helper").json()["results"]
        assert [(d["path"], d["line"]) for d in definition] == [("pkg/uses.py", 4)]
        assert names(timed(server, "/api/v1/outline", file="pkg/uses.py")) == {"helper"}
        assert {"first", "helper"} <= names(timed(server, "/api/v1/impact", symbol="target"))
        assert timed(server, "/api/v1/stats").json()
        until = time.monotonic() + RETRY_SECONDS + 0.7
        limit = 0
        while time.monotonic() < until:
            limit += 1
            r = timed(server, "/api/v1/symbols", query="target", limit=limit)
            assert [h["name"] for h in r.json()["results"]][:1] == ["target"]
            time.sleep(0.05)
        errors = metric(server, "codegraph_cache_requests_total", layer="redis",
                        result="error")
        assert errors is not None and errors >= 2, f"no reconnect attempt: {errors} errors"

        ready = cache_status(server)
        cache = ready["components"]["cache"]
        assert cache["status"] == "down" and cache["outages"] == 1, cache
        assert "cache" in ready["degraded"], ready
        assert cache["last_error"], cache
        assert metric(server, "codegraph_cache_outages_total") == 1
        assert metric(server, "codegraph_cache_up") == 0

        redis.restart()  # same port, empty: nothing was saved
        assert not cached_keys(redis)
        # Without any readiness probe: the next lookups after the retry interval reconnect
        # and new answers are written to Redis again.
        deadline = time.monotonic() + 2 * RETRY_SECONDS + 3
        written: httpx.Response | None = None
        while time.monotonic() < deadline:
            limit += 1
            r = timed(server, "/api/v1/symbols", query="target", limit=limit)
            if cached_keys(redis):
                written = r
                break
            time.sleep(0.1)
        assert written is not None, "nothing written to the restarted Redis"
        assert written.content in cached_keys(redis).values()
        ready = cache_status(server)
        assert ready["components"]["cache"]["status"] == "up", ready
        assert "cache" not in ready["degraded"], ready
        assert metric(server, "codegraph_cache_up") == 1
        assert metric(server, "codegraph_cache_outages_total") == 1
        fresh = server.get("/api/v1/callees", symbol="helper")
        assert names(fresh) == {"target"}
        assert fresh.content in cached_keys(redis).values()
        assert not [e for e in server.logs() if e.get("level") in ("error", "critical")]


def test_hung_redis_costs_at_most_a_socket_timeout(tmp_path: Path, repo: Path,
                                                   redis: RedisProcess) -> None:
    """A Redis that accepts connections but never answers (SIGSTOP) must not stall
    requests: one lookup waits the socket timeout, later ones skip Redis until the retry."""
    with ServerProcess(tmp_path, [repo], REDIS_URL=redis.url) as server:
        server.wait_jobs_idle()
        warm = server.get("/api/v1/callers", symbol="target")
        assert names(warm) == {"first", "helper"}
        redis.pause()
        try:
            until = time.monotonic() + RETRY_SECONDS + 0.7
            slow = 0
            limit = 0
            while time.monotonic() < until:
                limit += 1
                started = time.perf_counter()
                r = timed(server, "/api/v1/symbols", query="first", limit=limit)
                slow += time.perf_counter() - started > 0.2
                assert [h["name"] for h in r.json()["results"]][:1] == ["first"]
                time.sleep(0.02)
            # One lookup at the pause and one per retry interval wait the socket timeout;
            # retrying on every request would make them all slow.
            assert limit > 10 and slow <= max(3, limit // 5), (limit, slow)
            assert timed(server, "/api/v1/callers", symbol="target").content == warm.content
            ready = cache_status(server)
            assert ready["components"]["cache"]["status"] == "down", ready
            assert "cache" in ready["degraded"], ready
            assert metric(server, "codegraph_cache_up") == 0
        finally:
            redis.resume()
        deadline = time.monotonic() + 2 * RETRY_SECONDS + 3
        while cache_status(server)["components"]["cache"]["status"] != "up":
            assert time.monotonic() < deadline, "cache not up again after SIGCONT"
            time.sleep(0.1)
        assert metric(server, "codegraph_cache_up") == 1


def test_without_redis_url_the_cache_is_in_process(tmp_path: Path, repo: Path) -> None:
    with ServerProcess(tmp_path, [repo]) as server:
        server.wait_jobs_idle()
        ready = cache_status(server)
        assert ready["components"]["cache"]["status"] == "disabled", ready
        assert ready["degraded"] == [], ready
        first = server.get("/api/v1/callers", symbol="target")
        assert names(first) == {"first", "helper"}
        second = server.get("/api/v1/callers", symbol="target")
        assert second.headers.get("x-cache") == "hit" and second.content == first.content
        assert names(server.get("/api/v1/callees", symbol="helper")) == {"target"}
        assert server.get("/api/v1/search", query="target", mode="lexical").status_code == 200
        assert metric(server, "codegraph_cache_up") == 1
        assert metric(server, "codegraph_cache_outages_total") == 0
        assert metric(server, "codegraph_cache_requests_total", layer="redis",
                      result="miss") is None

        (repo / "pkg" / "core.py").write_text(CORE + SECOND)
        wait_for_revision_above(server, revision(first))
        after = server.get("/api/v1/callers", symbol="target")
        assert "x-cache" not in after.headers
        assert names(after) == {"first", "helper", "second"}
