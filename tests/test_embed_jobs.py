"""The server's embedding jobs, with the real local model: one repository's chunks each,
cancelled when that repository is removed, and where they are (``done``, ``total``,
``rate``, ``eta_seconds``) in /api/v1/jobs, /api/v1/stats, MCP, the backlog gauge and
readiness's ``semantic`` component, which never makes the server unready."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import write_tree
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(300)

KEY = {"X-API-Key": "k"}
EMBED = {"CODEGRAPH_EMBED": "1", "CODEGRAPH_API_KEY": "k", "CODEGRAPH_WATCH": "false"}


def shop(root: Path, topics: list[str], per_module: int = 12) -> Path:
    """A module per topic of ``per_module`` functions: a chunk each."""
    return write_tree(root, {f"shop/{topic}.py": "".join(
        f'def {topic}_{n}(items, rate={n}):\n    """Return the {topic} of the items, '
        f'step {n}."""\n    return [i * rate for i in items if i > {n}]\n\n\n'
        for n in range(per_module)) for topic in topics})


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def embed_jobs(proc: ServerProcess, repo: str) -> list[dict[str, Any]]:
    return [j for j in proc.ok("/api/v1/jobs", limit=500)["results"]
            if j["kind"] == "embed" and j["repo"] == repo]


def finished(proc: ServerProcess, repo: str) -> dict[str, Any] | None:
    return next((j for j in embed_jobs(proc, repo) if j["state"] == "done"), None)


def metric(proc: ServerProcess, name: str) -> float | None:
    for line in httpx.get(proc.metrics_url, timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_an_embedding_job_covers_its_repository_only(tmp_path: Path) -> None:
    """Two repositories: the job queued by registering the second embeds its 36 chunks,
    not the first one's 24 again (nor the whole store); the figures are reported."""
    first = shop(tmp_path / "first", ["prices", "taxes"])
    shop(tmp_path / "second", ["carts", "orders", "stock"])
    with ServerProcess(tmp_path, [first], env=EMBED) as proc:
        job = until(lambda: finished(proc, "first"), 120, "the first repository embedded")
        assert (job["progress"]["done"], job["progress"]["total"]) == (24, 24)
        added = proc.client.post("/api/v1/repos", json={"path": "second"}, headers=KEY)
        assert added.status_code == 202, added.text
        job = until(lambda: finished(proc, "second"), 120, "the second repository embedded")
        progress = job["progress"]
        assert (progress["done"], progress["total"], progress["saved"]) == (36, 36, 36)
        assert progress["rate"] > 0 and progress["eta_seconds"] is not None
        assert job["result"]["repo"] == "second" and job["result"]["total"] == 36
        assert len(embed_jobs(proc, "first")) == 1  # nothing queued for it again

        until(lambda: proc.ok("/api/v1/stats")["search"]["embedded"] == 60, 30, "counted")
        stats = proc.ok("/api/v1/stats")
        assert stats["embedding"]["pending"] == 0 and stats["embedding"]["state"] == "complete"
        assert stats["embedding"]["job"] is None
        per_repo = proc.ok("/api/v1/stats", repo="second")["embedding"]
        assert (per_repo["chunks"], per_repo["embedded"], per_repo["pending"]) == (36, 36, 0)
        assert metric(proc, "codegraph_search_embedding_backlog_chunks") == 0.0
        assert metric(proc, "codegraph_search_embedded_chunks") == 60.0
        ready = proc.ok("/health/ready")
        assert ready["components"]["semantic"]["status"] == "complete"
        assert (ready["components"]["semantic"]["embedded"],
                ready["components"]["semantic"]["chunks"]) == (60, 60)

        # MCP's stats answer as the API's does (one rule for every interface)
        mcp = _mcp_stats(proc)
        assert mcp["embedding"]["state"] == "complete" and mcp["embedding"]["pending"] == 0


def test_deleting_a_repository_cancels_its_embedding_job(tmp_path: Path) -> None:
    """A repository of 480 chunks (about 15 s of the model here) is removed while its
    embedding job runs: the job is cancelled at its next batch, the removal drops the
    vectors it saved, and the other repository's stay. While it ran the job, /stats, the
    gauge and readiness said where it was, and the server stayed ready."""
    small = shop(tmp_path / "small", ["prices"])
    with ServerProcess(tmp_path, [small], env=EMBED) as proc:
        until(lambda: finished(proc, "small"), 120, "the small repository embedded")
        shop(tmp_path / "big", [f"topic{n}" for n in range(24)], per_module=20)
        added = proc.client.post("/api/v1/repos", json={"path": "big"}, headers=KEY)
        assert added.status_code == 202, added.text

        def running() -> dict[str, Any] | None:
            return next((j for j in embed_jobs(proc, "big") if j["state"] == "running"
                         and j["progress"]["rate"] is not None), None)

        job = until(running, 120, "the big repository's embedding job running")
        assert job["progress"]["total"] == 480 and 0 < job["progress"]["done"] < 480
        assert job["progress"]["eta_seconds"] > 0
        assert proc.ok(f"/api/v1/jobs/{job['id']}")["progress"]["total"] == 480

        ready = proc.get("/health/ready")
        assert ready.status_code == 200, ready.text  # structure and lexical search answer
        semantic = ready.json()["components"]["semantic"]
        assert semantic["status"] == "embedding" and semantic["repo"] == "big"
        assert semantic["pending"] > 0 and semantic["rate"] > 0
        stats = proc.ok("/api/v1/stats")["embedding"]
        assert stats["state"] == "embedding" and stats["job"]["id"] == job["id"]
        assert stats["job"]["progress"]["total"] == 480 and stats["rate"] > 0
        assert (metric(proc, "codegraph_search_embedding_backlog_chunks") or 0) > 0

        removed = proc.client.delete("/api/v1/repos/big", headers=KEY)
        assert removed.status_code == 202, removed.text
        assert [j["id"] for j in removed.json()["cancelled"]] == [job["id"]]

        def ended() -> dict[str, Any] | None:
            found = proc.ok(f"/api/v1/jobs/{job['id']}")
            return found if found["state"] not in ("queued", "running") else None

        stopped = until(ended, 30, "the embedding job stopped")
        assert stopped["state"] == "cancelled"
        assert stopped["progress"]["done"] < 480
        proc.wait_jobs_idle(kinds=("remove", "embed"))
        assert "big" not in {r["name"] for r in proc.ok("/api/v1/repos")["results"]}
        stats = proc.ok("/api/v1/stats")
        assert stats["search"]["chunks"] == stats["search"]["embedded"] == 12
        assert stats["embedding"]["pending"] == 0
        assert proc.ok("/health/ready")["components"]["semantic"]["status"] == "complete"


def test_a_bad_repository_name_is_a_clear_404(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, [shop(tmp_path / "r", ["prices"], 2)],
                       CODEGRAPH_API_KEY="k") as proc:
        r = proc.client.delete("/api/v1/repos/nope", headers=KEY)
        assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
        r = proc.get("/api/v1/stats", repo="nope")
        assert r.status_code == 404
        ready = proc.ok("/health/ready")["components"]["semantic"]
        assert ready["status"] == "disabled"  # (CODEGRAPH_EMBED=0 in these tests)


def _mcp_stats(proc: ServerProcess) -> dict[str, Any]:
    """``stats`` through the server's MCP endpoint (streamable HTTP, JSON responses)."""
    import json

    headers = {"Accept": "application/json, text/event-stream", "X-API-Key": "k"}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}}
    assert proc.client.post("/mcp", json=init, headers=headers).status_code == 200
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "stats", "arguments": {}}}
    r = proc.client.post("/mcp", json=call, headers=headers)
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert not result.get("isError"), result
    return dict(json.loads(result["content"][0]["text"]))
