"""One API shape (issue 18, section 3), against a real server on 127.0.0.1, MCP over its
/mcp endpoint, and the CLI in a subprocess: every list is ``{results, total, next_cursor}``,
every job has one shape with live progress, writes answer with what they created or
affected, an unknown repository is not found everywhere, and the repositories paginate."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegraph.query.catalog import QUERIES
from codegraph.server.jobs import Job, JobQueue
from helpers import run_cli, run_json, write_tree
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(180)
KEY = "shape-key"
AUTH = {"X-API-Key": KEY}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
LIST_KEYS = {"results", "total", "next_cursor"}

SHOP = {
    "shop/__init__.py": "",
    "shop/pricing.py": "def total_price(items):\n    return apply_tax(sum(items))\n\n\n"
                       "def apply_tax(amount):\n    return amount * 1.2\n",
    "shop/cart.py": "from shop.pricing import total_price\n\n\nclass Cart:\n"
                    "    def total(self):\n        return total_price([1, 2])\n",
}
# A required argument of each declared query that takes one, with a value that exists.
REQUIRED = {"symbol": "apply_tax", "query": "total", "file": "shop/pricing.py"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("shape")
    for name in ("shop", "alpha", "beta", "gamma", "delta"):
        write_tree(work / "repos" / name, SHOP if name == "shop" else
                   {f"{name}.py": f"def {name}_fn():\n    return 1\n"})
    with ServerProcess(work, [work / "repos" / "shop"], repos_root=work / "repos",
                       CODEGRAPH_API_KEY=KEY) as proc:
        proc.wait_jobs_idle()
        yield proc


def mcp_call(server: ServerProcess, tool: str, **arguments: Any) -> tuple[bool, str]:
    """(isError, text) of one MCP tools/call over the server's /mcp endpoint."""
    r = server.client.post("/mcp", headers=MCP_HEADERS, json={
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}})
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    return bool(result.get("isError")), result["content"][0]["text"]


def tool_of(query_name: str) -> str:
    """The MCP tool of a query (its name, unless it declares another)."""
    query = next(q for q in QUERIES if q.name == query_name)
    return str(getattr(query, "tool", None) or query.name)


def args_for(query_name: str) -> dict[str, Any]:
    """Its required arguments (a query declared later: its parameter's default, a number
    in range, or some text)."""
    query = next(q for q in QUERIES if q.name == query_name)
    return {p.name: REQUIRED.get(p.name, p.default if p.default is not None else
                                 p.minimum if p.kind in (int, float) else "x")
            for p in query.params if p.required}


def test_every_list_has_one_shape(server: ServerProcess) -> None:
    # (similar: the same page(), but it needs embeddings, off in these tests)
    listed = [q for q in QUERIES if (q.paged or q.name == "search") and q.name != "similar"]
    assert {q.name for q in listed} >= {"callers", "symbols", "search", "dependencies"}
    for query in listed:
        args = {**args_for(query.name), "limit": 1}
        answer = server.ok(f"/api/v1/{query.name}", **args)
        assert set(answer) >= LIST_KEYS, (query.name, answer)
        assert isinstance(answer["results"], list), query.name
        if query.name == "search":  # a ranked window: never counted (docs/server.md)
            assert answer["total"] is None
        else:
            assert isinstance(answer["total"], int), (query.name, answer)
            more = answer["total"] > len(answer["results"])
            assert (answer["next_cursor"] is not None) == more, (query.name, answer)
        # MCP answers the same shape
        failed, text = mcp_call(server, tool_of(query.name), **args)
        assert not failed, text
        assert set(json.loads(text)) >= LIST_KEYS, (query.name, text)
    for path in ("/api/v1/repos", "/api/v1/jobs"):
        answer = server.ok(path)
        assert set(answer) >= LIST_KEYS and isinstance(answer["total"], int), answer
    # The OpenAPI document says so, for every list.
    spec = server.ok("/openapi.json")
    for path in ["/api/v1/repos", "/api/v1/jobs", *[f"/api/v1/{q.name}" for q in listed]]:
        schema = spec["paths"][path]["get"]["responses"]["200"]["content"][
            "application/json"]["schema"]
        assert set(schema["required"]) == LIST_KEYS, path
    search = spec["paths"]["/api/v1/search"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert search["properties"]["total"]["nullable"] is True


def test_the_cli_lists_in_the_same_shape(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop", SHOP)
    data = tmp_path / "data"
    code, _, err = run_cli("index", str(repo), "--name", "shop", "--progress", "none",
                           data_dir=data)
    assert code == 0, err
    answer = run_json("callers", "apply_tax", data_dir=data)
    assert set(answer) >= LIST_KEYS and answer["total"] == 1, answer
    found = run_json("search", "total", "--mode", "lexical", data_dir=data)
    assert set(found) >= LIST_KEYS and found["total"] is None, found
    # and an unknown repository is the same not-found error as an unknown symbol: exit 2
    code, _, err = run_cli("callers", "apply_tax", "--repo", "nope", data_dir=data)
    assert code == 2 and err.strip() == "codegraph: error: no repository named 'nope'", err
    code, _, symbol_err = run_cli("callers", "nothing_here", data_dir=data)
    assert code == 2 and symbol_err.startswith("codegraph: error: no symbol named"), symbol_err
    code, _, err = run_cli("stats", "--repo", "nope", data_dir=data)
    assert code == 2 and "no repository named 'nope'" in err, err


def test_repositories_paginate(server: ServerProcess) -> None:
    for name in ("alpha", "beta", "gamma"):
        r = server.client.post("/api/v1/repos", json={"path": name, "watch": False},
                               headers=AUTH)
        assert r.status_code == 202, r.text
    server.wait_jobs_idle()
    names, cursor, pages = [], None, 0
    while True:
        page = server.ok("/api/v1/repos", limit=2, cursor=cursor)
        assert page["total"] == 4 and len(page["results"]) <= 2
        names += [r["name"] for r in page["results"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["alpha", "beta", "gamma", "shop"] and pages == 2
    # budgeted as the queries are: CODEGRAPH_MAX_TOKENS at most, and it says so
    over = server.ok("/api/v1/repos", max_tokens=1_000_000)
    assert over["max_tokens_capped"] == {"requested": 1_000_000, "max_tokens": 8000}
    assert "max_tokens_capped" not in server.ok("/api/v1/jobs", max_tokens=500)
    bad = server.get("/api/v1/repos", limit=0)
    assert bad.status_code == 400 and "limit" in bad.json()["error"]["message"]


def test_writes_answer_with_what_they_made(server: ServerProcess) -> None:
    spec = server.ok("/openapi.json")["paths"]
    r = server.client.post("/api/v1/repos", json={"path": "delta", "name": "beta2",
                                                  "watch": False}, headers=AUTH)
    assert r.status_code == 202, r.text
    made = r.json()
    assert made["name"] == "beta2" and made["root"].endswith("/repos/delta")
    assert made["job"]["kind"] == "index" and made["job"]["repo"] == "beta2"
    assert set(made["job"]["progress"]) >= {"done", "total", "eta_seconds"}
    server.wait_jobs_idle()
    job = server.ok(f"/api/v1/jobs/{made['job']['id']}")
    assert job["state"] == "done" and job["progress"]["done"] == job["progress"]["total"] >= 1
    assert job["progress"]["eta_seconds"] == 0

    started = server.client.post("/api/v1/jobs", json={"repo": "beta2"}, headers=AUTH)
    assert started.status_code == 202 and started.json()["repo"] == "beta2", started.text
    assert set(started.json()) == set(job)  # one shape for every job
    cancelled = server.client.delete(f"/api/v1/jobs/{started.json()['id']}", headers=AUTH)
    assert cancelled.status_code == 200 and cancelled.json()["id"] == started.json()["id"]
    server.wait_jobs_idle()

    gone = server.client.delete("/api/v1/repos/beta2", headers=AUTH)
    assert gone.status_code == 202, gone.text
    removed = gone.json()
    assert removed["name"] == "beta2" and removed["root"].endswith("/repos/delta")
    assert removed["job"]["kind"] == "remove" and "cancelled" in removed
    server.wait_jobs_idle()
    assert server.get("/api/v1/repos/beta2").status_code == 404
    # documented: the status and the object answered
    for path, method, status, needed in [
            ("/api/v1/repos", "post", "202", {"name", "root", "job"}),
            ("/api/v1/repos/{repo}", "delete", "202", {"name", "root", "job"}),
            ("/api/v1/jobs", "post", "202", {"id", "kind", "state", "progress"}),
            ("/api/v1/jobs/{job_id}", "delete", "200", {"id", "kind", "state", "progress"})]:
        schema = spec[path][method]["responses"][status]["content"]["application/json"][
            "schema"]
        assert needed <= set(schema["required"]), (path, method, schema)


def test_unknown_repository_is_not_found_everywhere(server: ServerProcess) -> None:
    message = "no repository named 'nope'"
    with_repo = [q for q in QUERIES if any(p.name == "repo" for p in q.params)]
    assert len(with_repo) >= 12
    for query in with_repo:
        r = server.get(f"/api/v1/{query.name}", **args_for(query.name), repo="nope")
        assert r.status_code == 404, (query.name, r.text)
        assert r.json()["error"] == {**r.json()["error"], "code": "not_found",
                                     "message": message}, query.name
        failed, text = mcp_call(server, tool_of(query.name), **args_for(query.name),
                                repo="nope")
        assert failed and text == message, (query.name, text)
    # (an empty repo is no filter, as before: not an unknown repository)
    assert server.ok("/api/v1/callers", symbol="total_price", repo="")["total"] == 1
    for method, path, body in [("GET", "/api/v1/repos/nope", None),
                               ("DELETE", "/api/v1/repos/nope", None),
                               ("POST", "/api/v1/jobs", {"repo": "nope"}),
                               ("POST", "/api/v1/ask", {"question": "what?", "repo": "nope"})]:
        r = server.client.request(method, path, json=body, headers=AUTH)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "not_found"
        assert r.json()["error"]["message"] == message, (path, r.text)


def test_docs_stay(server: ServerProcess) -> None:
    """(``/`` is the web UI's: issue 18, section 1.)"""
    docs = server.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert server.ok("/openapi.json")["info"]["title"] == "CodeGraph API"


def test_a_jobs_progress_is_live() -> None:
    """A real queue and writer thread, with a runner that reports as the indexer does:
    done, total, rate and eta_seconds are there while it runs."""
    go_on, seen = threading.Event(), threading.Event()

    def runner(job: Job, progress: Any) -> dict[str, Any]:
        progress({"event": "parse", "total": 40})
        for done in range(1, 11):
            time.sleep(0.01)
            progress({"event": "parsed", "done": done, "total": 40})
        seen.set()
        assert go_on.wait(10)
        return {"files": 40}

    jobs = JobQueue(runner)
    try:
        job = jobs.submit(Job("index", "repo", "/nowhere"))
        assert seen.wait(10)
        live = job.to_dict()
        assert live["state"] == "running" and live["phase"] == "parse"
        progress = live["progress"]
        assert (progress["done"], progress["total"]) == (10, 40)
        assert progress["rate"] > 0
        # 30 files left at the measured rate (10 files in >= 0.1 s: at most 100/s)
        assert progress["eta_seconds"] == pytest.approx(30 / progress["rate"], rel=0.01)
        assert progress["eta_seconds"] >= 0.29
        go_on.set()
        assert job.wait(10) and job.to_dict()["state"] == "done"
    finally:
        go_on.set()
        jobs.close(5)


def test_a_slow_start_has_a_rate_and_no_division_by_zero() -> None:
    """One item after ~40 minutes: the rate rounds to 0.000, the time left is still
    computed (from the unrounded rate), and the job goes on."""
    from codegraph.server.jobs import _measure

    job = Job("index", "r", done=1, total=3)
    job.phase_started = time.monotonic() - 2500
    _measure(job)
    assert job.rate == 0.0 and job.eta_seconds is not None
    assert 4900 < job.eta_seconds < 5100
