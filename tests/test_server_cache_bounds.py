"""The in-process query cache is bounded in bytes: many unique large answers do not grow
the server's memory beyond the budget, and an answer above the entry limit is not kept."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codegraph.server.cache import QueryCache
from helpers import write_tree
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(240)
DEFS = 1500  # functions in one file: its outline is a large answer
UNIQUE = 1200  # unique answers of about 150 KB: 180 MB if every one were kept


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _big_repo(root: Path) -> None:
    body = "".join(f"def handler_number_{i:05d}(request, response, context):\n"
                   f"    return request + {i}\n\n\n" for i in range(DEFS))
    write_tree(root, {"big.py": body})


def test_many_large_answers_stay_within_the_byte_budget(tmp_path: Path) -> None:
    _big_repo(tmp_path / "big")
    with ServerProcess(tmp_path, [tmp_path / "big"], CODEGRAPH_CACHE_LOCAL_BYTES="8MB",
                       CODEGRAPH_WORKERS="2", CODEGRAPH_MAX_TOKENS="1000000") as proc:
        proc.wait_jobs_idle()

        def outline(i: int) -> int:
            # each max_tokens value is another cache key; the answer is the same size
            r = proc.client.get("/api/v1/outline", params={
                "file": "big.py", "limit": "500", "max_tokens": str(1_000_000 - i)})
            assert r.status_code == 200, r.text
            return len(r.content)

        sizes = [outline(i) for i in range(20)]
        assert min(sizes) > 100_000  # large answers, under the 256 KB entry limit
        before = _rss(proc.proc.pid)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(outline, range(20, 20 + UNIQUE)))
        grown = _rss(proc.proc.pid) - before
        assert grown < 60 << 20, f"RSS grew by {grown >> 20} MB over {UNIQUE} answers"
        again = proc.client.get("/api/v1/outline", params={
            "file": "big.py", "limit": "500", "max_tokens": str(1_000_000 - 20 - UNIQUE + 1)})
        assert again.headers.get("x-cache") == "hit"  # the newest answers are kept


def test_an_answer_above_the_entry_limit_is_not_cached(tmp_path: Path) -> None:
    _big_repo(tmp_path / "big")
    # (answers up to 100,000 tokens: the default ceiling, 8,000, keeps them under 64KB)
    with ServerProcess(tmp_path, [tmp_path / "big"], CODEGRAPH_CACHE_MAX_ENTRY="64KB",
                       CODEGRAPH_MAX_TOKENS="100000") as proc:
        proc.wait_jobs_idle()
        params = {"file": "big.py", "limit": "500"}
        for _ in range(2):
            r = proc.client.get("/api/v1/outline", params=params)
            assert r.status_code == 200 and len(r.content) > 64 << 10
            assert "x-cache" not in r.headers
        small = {"file": "big.py", "limit": "3"}
        proc.client.get("/api/v1/outline", params=small)
        assert proc.client.get("/api/v1/outline", params=small).headers["x-cache"] == "hit"


def test_the_local_cache_evicts_by_bytes() -> None:
    import anyio

    cache = QueryCache(None, local_entries=100, local_bytes=1000, max_entry=400)

    async def fill() -> None:
        for i in range(10):
            await cache.set(f"k{i}", b"x" * 300)
        await cache.set("huge", b"x" * 401)

    anyio.run(fill)
    assert list(cache.local) == ["k7", "k8", "k9"] and cache.held == 900
