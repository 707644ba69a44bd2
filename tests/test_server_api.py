"""The /api/v1 endpoints against a real server process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import write_tree
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(180)
KEY = "test-key-123"
AUTH = {"X-API-Key": KEY}

REPO = {
    "shop/__init__.py": "",
    "shop/cart.py": '''"""Shopping cart."""
from shop.pricing import total_price


class Cart:
    """Holds items and computes the total."""

    def __init__(self):
        self.items = []

    def add(self, item):
        self.items.append(item)

    def total(self):
        """The price of everything in the cart."""
        return total_price(self.items)
''',
    "shop/pricing.py": '''def total_price(items):
    """Sum the prices of the items, with tax."""
    return apply_tax(sum(i.price for i in items))


def apply_tax(amount):
    return amount * 1.2
''',
    "shop/checkout.py": '''from shop.cart import Cart
from shop.pricing import apply_tax


def checkout(items):
    cart = Cart()
    for item in items:
        cart.add(item)
    return cart.total()


def refund(amount):
    return -apply_tax(amount)
''',
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("api")
    write_tree(work / "repos" / "shop", REPO)
    (work / "repos" / "other").mkdir()
    write_tree(work / "repos" / "other", {"lib.py": "def lonely():\n    return 1\n"})
    (work / "outside").mkdir()
    os.symlink(work / "outside", work / "repos" / "escape")
    with ServerProcess(work, [work / "repos" / "shop"], repos_root=work / "repos",
                       CODEGRAPH_API_KEY=KEY) as proc:
        proc.wait_jobs_idle()
        yield proc


def test_health_and_revision_header(server: ServerProcess) -> None:
    r = server.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert int(r.headers["x-codegraph-revision"]) > 0
    assert r.headers["x-request-id"]
    assert server.get("/health", ).headers["x-request-id"] != r.headers["x-request-id"]
    given = server.client.get("/health", headers={"X-Request-Id": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"


def test_code_intelligence_answers(server: ServerProcess) -> None:
    callers = server.ok("/api/v1/callers", symbol="total_price")["results"]
    assert [(c["qualified_name"], c["site_line"]) for c in callers] == [
        ("shop.cart.Cart.total", 16)]
    callees = server.ok("/api/v1/callees", symbol="shop.checkout.checkout")["results"]
    assert {c["qualified_name"] for c in callees} >= {"shop.cart.Cart.add",
                                                       "shop.cart.Cart.total"}
    refs = server.ok("/api/v1/references", symbol="apply_tax")["results"]
    assert {r["qualified_name"] for r in refs} >= {"shop.pricing.total_price",
                                                   "shop.checkout.refund"}
    defs = server.ok("/api/v1/definition", symbol="Cart")["results"]
    assert [(d["path"], d["line"], d["kind"]) for d in defs] == [("shop/cart.py", 5, "class")]
    impact = server.ok("/api/v1/impact", symbol="apply_tax", depth=3)["results"]
    assert {"shop.cart.Cart.total", "shop.checkout.checkout"} <= {
        i["qualified_name"] for i in impact}
    outline = server.ok("/api/v1/outline", file="shop/cart.py")["results"]
    assert [o["name"] for o in outline] == ["Cart", "__init__", "add", "total"]
    syms = server.ok("/api/v1/symbols", query="tot")["results"]
    assert {s["qualified_name"] for s in syms} >= {"shop.cart.Cart.total",
                                                   "shop.pricing.total_price"}
    deps = server.ok("/api/v1/dependencies")["results"]
    assert any(d["module"] == "shop.checkout" and "shop.cart" in d["imports"] for d in deps)
    stats = server.ok("/api/v1/stats")
    assert stats["files"] == 4 and stats["nodes_by_kind"]["method"] == 2
    assert stats["nodes_by_kind"]["constructor"] == 1


def test_symbol_with_source(server: ServerProcess) -> None:
    [item] = server.ok("/api/v1/symbol", symbol="shop.pricing.apply_tax")["results"]
    assert item["source"] == "def apply_tax(amount):\n    return amount * 1.2\n"
    [wider] = server.ok("/api/v1/symbol", symbol="apply_tax", context=1)["results"]
    assert wider["source"] == "\ndef apply_tax(amount):\n    return amount * 1.2\n"


def test_graph_neighbourhood(server: ServerProcess) -> None:
    g = server.ok("/api/v1/graph", symbol="total_price", depth=1)
    names = {n["qualified_name"] for n in g["nodes"]}
    assert {"shop.pricing.total_price", "shop.pricing.apply_tax", "shop.cart.Cart.total"} <= names
    ids = {n["id"] for n in g["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in g["edges"])
    assert any(e["kind"] == "calls" for e in g["edges"])
    small = server.ok("/api/v1/graph", symbol="total_price", depth=3, limit=2)
    assert len(small["nodes"]) == 2 and small["truncated"] is True


def test_search_explains_itself(server: ServerProcess) -> None:
    out = server.ok("/api/v1/search", query="sum prices tax", mode="lexical")
    top = out["results"][0]
    assert top["qualified_name"] == "shop.pricing.total_price"
    assert top["scores"]["lexical"]["rank"] == 1
    r = server.get("/api/v1/search", query="x", mode="telepathy")
    assert r.status_code == 400 and "mode" in r.json()["error"]["message"]


def test_pagination_and_token_budget(server: ServerProcess) -> None:
    # (c: the cart and checkout modules, Cart, checkout; no fuzzy junk below the floor)
    first = server.ok("/api/v1/symbols", query="c", limit=2)
    assert len(first["results"]) == 2 and first["next_cursor"]
    second = server.ok("/api/v1/symbols", query="c", limit=2, cursor=first["next_cursor"])
    assert {s["id"] for s in first["results"]}.isdisjoint(s["id"] for s in second["results"])
    everything = server.ok("/api/v1/symbols", query="c", limit=500)
    assert everything["next_cursor"] is None and everything["total"] == first["total"]
    budget = server.ok("/api/v1/symbols", query="c", limit=500, max_tokens=200)
    assert 1 <= len(budget["results"]) < everything["total"] and budget["truncated"]
    assert budget["next_cursor"]
    bad = server.get("/api/v1/symbols", query="c", cursor="not-a-cursor!")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(("path", "params", "status", "needle"), [
    ("/api/v1/callers", {"symbol": "no_such_thing"}, 404, "no symbol named"),
    ("/api/v1/callers", {}, 400, "symbol parameter is required"),
    ("/api/v1/impact", {"symbol": "apply_tax", "depth": "deep"}, 400, "whole number"),
    ("/api/v1/impact", {"symbol": "apply_tax", "depth": "99"}, 400,
     "depth must be between 1 and 6"),
    ("/api/v1/outline", {"file": "nope.py"}, 404, "not indexed"),
    ("/api/v1/outline", {"file": "/etc/passwd"}, 404, "/etc/passwd is not indexed"),
    ("/api/v1/callers", {"symbol": "x", "limt": "5"}, 400, "unknown parameter(s): limt"),
    ("/api/v1/stats", {"repo": "ghost"}, 404, "no repository"),
    ("/api/v1/symbols", {"query": "a", "limit": "0"}, 400, "limit must be between 1 and 500"),
    ("/api/v1/nowhere", {}, 404, ""),
])
def test_errors_are_json(server: ServerProcess, path: str, params: dict[str, str], status: int,
                         needle: str) -> None:
    r = server.get(path, **params)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) >= {"code", "message"} and needle in error["message"]
    assert "Traceback" not in r.text


def test_mutations_need_the_key(server: ServerProcess) -> None:
    for method, path, body in [("POST", "/api/v1/repos", {"path": "other"}),
                               ("POST", "/api/v1/jobs", {"repo": "shop"}),
                               ("DELETE", "/api/v1/repos/shop", None)]:
        r = server.client.request(method, path, json=body)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"]["code"] == "unauthorized"
        wrong = server.client.request(method, path, json=body, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
    assert server.get("/api/v1/repos").status_code == 200  # reads stay open


@pytest.mark.parametrize("path", ["../outside", "escape", "/etc", "shop/../../outside",
                                  "missing-dir"])
def test_repo_paths_stay_under_the_root(server: ServerProcess, path: str) -> None:
    r = server.client.post("/api/v1/repos", json={"path": path}, headers=AUTH)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "bad_request"
    assert {x["name"] for x in server.ok("/api/v1/repos")["results"]} <= {"shop", "other"}


def test_bad_bodies(server: ServerProcess) -> None:
    post = server.client.post
    r = post("/api/v1/repos", content=b"{not json", headers=AUTH)
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = post("/api/v1/repos", json={"path": "other", "colour": "red"}, headers=AUTH)
    assert r.status_code == 400 and "colour" in r.json()["error"]["message"]
    r = post("/api/v1/repos", json=["other"], headers=AUTH)
    assert r.status_code == 400
    r = post("/api/v1/repos", content=b"x" * 2_000_000, headers=AUTH)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_register_index_and_remove_a_repo(server: ServerProcess) -> None:
    r = server.client.post("/api/v1/repos", json={"path": "other", "watch": False},
                           headers=AUTH)
    assert r.status_code == 202, r.text
    job_id = r.json()["job"]["id"]
    deadline = time.monotonic() + 30
    while server.ok(f"/api/v1/jobs/{job_id}")["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    job = server.ok(f"/api/v1/jobs/{job_id}")
    assert job["result"]["files"] == 1 and job["progress"]["total"] >= 1
    assert server.ok("/api/v1/definition", symbol="lonely")["results"][0]["repo"] == "other"
    assert server.ok("/api/v1/repos/other")["root"].endswith("/repos/other")
    full = server.client.post("/api/v1/jobs", json={"repo": "other", "full": True},
                              headers=AUTH)
    assert full.status_code == 202 and full.json()["full"] is True
    server.wait_jobs_idle()
    gone = server.client.delete("/api/v1/repos/other", headers=AUTH)
    assert gone.status_code == 202
    server.wait_jobs_idle()
    assert server.get("/api/v1/definition", symbol="lonely").status_code == 404
    assert server.get("/api/v1/repos/other").status_code == 404
    assert server.get("/api/v1/jobs/ffffffffffff").status_code == 404


def test_min_revision_waits_for_an_edit(server: ServerProcess, tmp_path: Path) -> None:
    root = Path(server.ok("/api/v1/repos/shop")["root"])
    before = int(server.get("/health").headers["x-codegraph-revision"])
    r = server.get("/api/v1/callers", symbol="apply_tax", min_revision=before + 10_000)
    assert r.status_code == 409 and r.json()["error"]["code"] == "revision_not_reached"
    # the wait the client asked for (10 s here) is not counted as the route's latency: the
    # CodeGraphHighLatency alert would page for it otherwise
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(m.name, m.labels.get("le")): m.value
               for family in text_string_to_metric_families(
                   httpx.get(server.metrics_url, timeout=10).text)
               for m in family.samples if m.labels.get("route") == "/api/v1/callers"}
    latency = "codegraph_http_request_duration_seconds"
    assert samples[(f"{latency}_bucket", "1.0")] == samples[(f"{latency}_count", None)] >= 1
    (root / "shop" / "audit.py").write_text("from shop.pricing import apply_tax\n\n\n"
                                            "def audit(x):\n    return apply_tax(x)\n")
    started = time.monotonic()
    r = server.get("/api/v1/callers", symbol="apply_tax", min_revision=before + 1)
    assert r.status_code == 200 and time.monotonic() - started < 10
    assert int(r.headers["x-codegraph-revision"]) > before
    assert "shop.audit.audit" in {c["qualified_name"] for c in r.json()["results"]}


def test_openapi_and_docs(server: ServerProcess) -> None:
    spec = server.ok("/openapi.json")
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/callers", "/api/v1/search", "/api/v1/repos", "/api/v1/jobs/{job_id}",
            "/health/ready", "/api/v1/ask"} <= set(spec["paths"])
    docs = server.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert server.get("/docs/static/swagger-ui-bundle.js").status_code == 200


def test_ask_without_a_model_is_503(server: ServerProcess) -> None:
    r = server.client.post("/api/v1/ask", json={"question": "where is tax applied?"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "no_model"


def test_reads_can_require_the_key(tmp_path: Path) -> None:
    write_tree(tmp_path / "r", {"a.py": "def f():\n    return 1\n"})
    with ServerProcess(tmp_path, [tmp_path / "r"], CODEGRAPH_API_KEY=KEY,
                       CODEGRAPH_AUTH_READS="true") as proc:
        assert proc.get("/api/v1/definition", symbol="f").status_code == 401
        ok = proc.client.get("/api/v1/definition", params={"symbol": "f"},
                             headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200 and ok.json()["results"][0]["name"] == "f"
        assert proc.get("/health").status_code == 200  # probes never need the key


def test_writes_closed_without_a_key_unless_loopback(tmp_path: Path) -> None:
    from codegraph.config import load

    assert load({"SERVER_HOST": "127.0.0.1"}).writes_open
    assert not load({"SERVER_HOST": "0.0.0.0"}).writes_open
    assert not load({"SERVER_HOST": "127.0.0.1", "CODEGRAPH_API_KEY": "k"}).writes_open
    write_tree(tmp_path / "r", {"a.py": "x = 1\n"})
    with ServerProcess(tmp_path, [tmp_path / "r"]) as proc:  # loopback, no key
        r = proc.client.post("/api/v1/jobs", json={"repo": "r"})
        assert r.status_code == 202


def test_client_sees_cors_only_when_configured(server: ServerProcess) -> None:
    r = server.client.get("/health", headers={"Origin": "https://example.test"})
    assert "access-control-allow-origin" not in r.headers
    with httpx.Client(base_url=server.url) as c:
        assert c.options("/api/v1/callers").status_code in (404, 405)


def test_mcp_over_the_api_port(server: ServerProcess) -> None:
    import anyio
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    answers: dict[str, Any] = {}

    async def session() -> None:
        with anyio.fail_after(30):
            await talk()

    async def talk() -> None:
        async with streamable_http_client(f"{server.url}/mcp") as (read, write, _), \
                ClientSession(read, write) as s:
            await s.initialize()
            answers["tools"] = {t.name for t in (await s.list_tools()).tools}
            result = await s.call_tool("callers", {"symbol": "total_price"})
            answers["callers"] = json.loads(result.content[0].text)  # type: ignore[union-attr]
            missing = await s.call_tool("callers", {"symbol": "no_such_thing"})
            answers["missing"] = missing

    anyio.run(session)
    assert {"search", "callers", "impact", "outline", "stats"} <= answers["tools"]
    assert [c["qualified_name"] for c in answers["callers"]["results"]] == [
        "shop.cart.Cart.total"]
    assert answers["missing"].isError
    rebinding = server.client.post("/mcp", json={}, headers={"Host": "evil.example:80"})
    assert rebinding.status_code in (403, 421)  # loopback server: DNS-rebinding protection
