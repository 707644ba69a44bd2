"""What agents rely on (issue 18, sections 4 and 6): the token ceiling on every interface,
search snippets within the budget, the repo map (MCP ``repo_map``, ``codegraph map``,
``GET /api/v1/map``), stdio answering what it received before it exits, and the server's
logs. Real processes throughout: ``codegraph serve`` on 127.0.0.1, ``codegraph mcp`` over
stdio, the CLI, and the MCP SDK's own client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from networkx.algorithms.link_analysis import pagerank_alg

from codegraph.api import CodeGraph
from codegraph.query import repomap
from codegraph.query.catalog import QUERIES
from codegraph.query.outputs import MISSING
from codegraph.query.paging import estimate_tokens
from codegraph.query.repomap import pagerank_numpy, pagerank_python, ranking
from helpers import cli_env, run_cli, write_tree
from serverproc import ServerProcess
from test_mcp import SHOP, body, call, check_server_info, error, run_session

CALLERS = 60  # callers of ledger.post: far more than a small budget holds
POST_DOC = '"""Post a tax entry to the ledger."""'
LEDGER = f"def post(entry):\n    {POST_DOC}\n    return entry\n\n\n" + \
    "".join(f"def book_{i}(amount):\n    \"\"\"Book tax item {i}.\"\"\"\n"
            f"    return post(amount * {i})\n\n\n" for i in range(CALLERS))
TREE = {**SHOP, "shop/ledger.py": LEDGER, "tools/__init__.py": "",
        "tools/report.py": "from shop.ledger import post\n\n\ndef report(x):\n"
                           "    return post(x)\n"}
CEILING = 300  # CODEGRAPH_MAX_TOKENS of the processes below


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("agents")
    repo = write_tree(base / "shop", TREE)
    data = base / "data"
    with CodeGraph.open(str(data)) as cg:
        assert cg.index(str(repo)).failed == 0
    return data


def results_tokens(answer: dict[str, Any]) -> int:
    return sum(estimate_tokens(r) for r in answer["results"])


def stdio_params(data_dir: Path, **env: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, env=cli_env(**env),
                                 args=["-m", "codegraph.server.mcp_tools", "--data-dir",
                                       str(data_dir)])


def test_every_query_declares_its_output() -> None:
    assert MISSING == []
    assert {q.tool_name for q in QUERIES} >= {"repo_map", "search", "callers"}
    assert next(q for q in QUERIES if q.tool_name == "repo_map").name == "map"


@pytest.mark.parametrize("implementation", [pagerank_numpy, pagerank_python])
def test_pagerank_is_networkx_pagerank(implementation: Callable[..., list[float]]) -> None:
    """The power iteration, with numpy and without (the minimal image), gives networkx's
    PageRank (its pure-Python reference): weighted edges, dangling nodes, parallel edges
    summed."""
    import networkx as nx

    rng = np.random.default_rng(7)
    size = 60
    src = rng.integers(0, size, 240)
    dst = rng.integers(0, size, 240)
    keep = (src != dst) & (src < 50)  # nodes 50-59 have no out-edges (dangling)
    src, dst = src[keep], dst[keep]
    weight = rng.uniform(0.1, 2.0, len(src))
    g: Any = nx.DiGraph()
    g.add_nodes_from(range(size))
    for s, d, w in zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True):
        old = g.get_edge_data(s, d, {"weight": 0.0})["weight"]
        g.add_edge(s, d, weight=old + w)
    reference = pagerank_alg._pagerank_python  # type: ignore[attr-defined]
    expected = reference(g, alpha=0.85, tol=1e-12, max_iter=500, weight="weight")
    ours = implementation(size, src.tolist(), dst.tolist(), weight.tolist())
    assert sum(ours) == pytest.approx(1.0)
    assert ours == pytest.approx([expected[i] for i in range(size)], abs=1e-6)


def test_ranking_is_computed_once_per_revision(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop", SHOP)
    with CodeGraph.open(str(tmp_path / "data")) as cg:
        name = cg.index(str(repo)).repo
        first = ranking(cg.store, [name])
        assert ranking(cg.store, [name]) is first  # kept
        assert first.nodes[0].qualified_name == "shop.pricing.apply_tax"  # called twice
        (repo / "shop" / "extra.py").write_text(
            "from shop.pricing import apply_tax\n\n\ndef rebate(x):\n"
            "    return apply_tax(x)\n")
        cg.update(name, str(repo), ["shop/extra.py"])
        again = ranking(cg.store, [name])
        assert again is not first
        assert "shop.extra.rebate" in {n.qualified_name for n in again.nodes}
        kept = [k for k in repomap._cache if k[0] == cg.store.path and k[2] == (name,)]
        assert kept == [(cg.store.path, cg.store.revision, (name,))]  # the older dropped


def test_callers_of_one_ranking_share_one_computation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = write_tree(tmp_path / "shop", SHOP)
    with CodeGraph.open(str(tmp_path / "data")) as cg:
        name = cg.index(str(repo)).repo
        computed: list[int] = []
        real = repomap.rank

        def slow(store: Any, repos: list[str]) -> Any:
            computed.append(1)
            time.sleep(0.3)  # (long enough for every caller to be waiting)
            return real(store, repos)

        monkeypatch.setattr(repomap, "rank", slow)
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda _: ranking(cg.store, [name]), range(4)))
        assert len(computed) == 1 and all(r is got[0] for r in got)


def test_map_without_numpy(data_dir: Path) -> None:
    """The minimal image has no numpy: ``codegraph map`` ranks in plain Python there, and
    prints the same map."""
    run = ("import sys\nif sys.argv[1] == 'without': sys.modules['numpy'] = None\n"
           "from codegraph.cli import main\nsys.exit(main(sys.argv[2:]))")
    outputs = {}
    for how in ("with", "without"):
        proc = subprocess.run([sys.executable, "-c", run, how, "--data-dir", str(data_dir),
                               "map", "--max-tokens", "400"], capture_output=True, text=True,
                              timeout=120, env=cli_env())
        assert proc.returncode == 0, proc.stderr
        outputs[how] = proc.stdout
    assert outputs["with"] == outputs["without"]
    assert outputs["with"].startswith("shop/ledger.py\n     1  def post(entry)\n")


def test_repo_map_search_snippets_and_ceiling_over_stdio(data_dir: Path, tmp_path: Path
                                                         ) -> None:
    errlog = tmp_path / "stderr.txt"

    async def connect() -> None:
        with errlog.open("w") as err:
            async with stdio_client(stdio_params(data_dir, CODEGRAPH_MAX_TOKENS=str(CEILING)),
                                    errlog=err) as (read, write), \
                    ClientSession(read, write) as s:
                check_server_info((await s.initialize()).serverInfo)
                await check_repo_map(s)
                await check_snippets(s)
                await check_ceiling(s)

    run_session(connect)
    assert "Traceback" not in errlog.read_text()


async def check_repo_map(s: ClientSession) -> None:
    whole = body(await call(s, "repo_map", repo="shop"))
    files = {f["path"]: f["definitions"] for f in whole["results"]}
    ranked = sorted((d["rank"], d["qualified_name"]) for v in files.values() for d in v)
    # post is called 61 times, apply_tax twice; then the callers of those
    assert [q for _, q in ranked[:2]] == ["shop.ledger.post", "shop.pricing.apply_tax"]
    assert whole["results"][0]["path"] == "shop/ledger.py"  # the file of the best one
    assert files["shop/ledger.py"][0] == {"qualified_name": "shop.ledger.post",
                                          "kind": "function", "line": 1,
                                          "signature": "def post(entry)", "rank": 1}
    for defs in files.values():  # in line order within a file
        assert [d["line"] for d in defs] == sorted(d["line"] for d in defs)
    assert whole["truncated"] and whole["shown"] < whole["definitions"]  # 300 tokens
    assert whole["total"] > len(whole["results"]) and whole["next_cursor"] is None
    assert body(await call(s, "repo_map", repo=""))["repo"] is None  # "": every one
    assert whole["max_tokens"] == CEILING
    assert len(json.dumps(whole, separators=(",", ":"))) // 4 <= CEILING

    small = body(await call(s, "repo_map", repo="shop", max_tokens=120))
    assert 1 <= small["shown"] < whole["shown"]
    assert len(json.dumps(small, separators=(",", ":"))) // 4 <= 120 + 10

    tools = body(await call(s, "repo_map", path="tools/"))
    assert tools["path"] == "tools" and not tools["truncated"]
    assert [(f["path"], [d["qualified_name"] for d in f["definitions"]])
            for f in tools["results"]] == [("tools/report.py", ["tools.report.report"])]
    one = body(await call(s, "repo_map", repo="shop", path="./shop/models.py"))
    assert {f["path"] for f in one["results"]} == {"shop/models.py"}

    assert error(await call(s, "repo_map", repo="nope")) == "no repository named 'nope'"
    assert "inside the repository" in error(await call(s, "repo_map", path="../etc"))
    assert "relative to the repository" in error(await call(s, "repo_map", path="/etc"))
    assert "no indexed file under 'nowhere'" in error(await call(s, "repo_map",
                                                                 path="nowhere"))


async def check_snippets(s: ClientSession) -> None:
    """Search hits carry their snippet in the MCP answer, and it counts in the budget."""
    hits = body(await call(s, "search", query="tax entry ledger", mode="lexical", limit=8,
                           max_tokens=CEILING))
    assert len(hits["results"]) >= 2
    for hit in hits["results"]:
        assert hit["snippet"]["line"] >= hit["line"] and hit["snippet"]["text"]
    post = next(h for h in hits["results"] if h["qualified_name"] == "shop.ledger.post")
    assert post["snippet"] == {"line": 2, "text": f"{POST_DOC}\nreturn entry"}
    assert results_tokens(hits) <= CEILING
    # a budget one token short of the first two hits, snippets included: one comes back
    # (without the snippets counted, both would fit)
    costs = [estimate_tokens(h) for h in hits["results"][:2]]
    without = [estimate_tokens({**h, "snippet": None}) for h in hits["results"][:2]]
    budget = sum(costs) - 1
    assert sum(without) <= budget
    cut = body(await call(s, "search", query="tax entry ledger", mode="lexical", limit=8,
                          max_tokens=budget))
    assert [h["id"] for h in cut["results"]] == [hits["results"][0]["id"]]
    assert cut["truncated"] and cut["next_cursor"]


async def check_ceiling(s: ClientSession) -> None:
    """Over the ceiling: capped, and the answer says so; under it: as asked, no note."""
    big = body(await call(s, "callers", symbol="post", limit=500, max_tokens=50_000))
    assert big["max_tokens_capped"] == {"requested": 50_000, "max_tokens": CEILING}
    assert big["truncated"] and big["next_cursor"] and results_tokens(big) <= CEILING
    default = body(await call(s, "callers", symbol="post", limit=500))  # MCP's default
    assert "max_tokens_capped" not in default and results_tokens(default) <= CEILING
    small = body(await call(s, "callers", symbol="post", limit=500, max_tokens=100))
    assert "max_tokens_capped" not in small and results_tokens(small) <= 100
    assert len(small["results"]) < len(big["results"])
    capped = body(await call(s, "repo_map", max_tokens=10_000))
    assert capped["max_tokens_capped"] == {"requested": 10_000, "max_tokens": CEILING}
    hits = body(await call(s, "search", query="tax", mode="lexical", max_tokens=9_999))
    assert hits["max_tokens_capped"] == {"requested": 9_999, "max_tokens": CEILING}


def test_stdio_answers_every_request_received_before_stdin_closed(data_dir: Path) -> None:
    """A client writes its requests and closes stdin at once: every one is answered (the
    SDK alone cancels those in flight), then the process exits 0."""
    requests = [{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "batch", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    calls = [("impact", {"symbol": "post"}), ("repo_map", {}),
             ("search", {"query": "tax", "mode": "lexical"}), ("callers", {"symbol": "post"}),
             ("stats", {}), ("outline", {"file": "shop/ledger.py"})] * 2
    requests += [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
                  "params": {"name": name, "arguments": args}}
                 for i, (name, args) in enumerate(calls, 1)]
    requests.append({"jsonrpc": "2.0", "id": "list", "method": "tools/list"})
    proc = subprocess.run(
        [sys.executable, "-m", "codegraph.server.mcp_tools", "--data-dir", str(data_dir)],
        input="".join(json.dumps(r) + "\n" for r in requests), capture_output=True,
        text=True, timeout=120, env=cli_env())
    assert proc.returncode == 0, proc.stderr
    replies = {m["id"]: m for m in map(json.loads, proc.stdout.splitlines())}
    assert set(replies) == {0, "list", *range(1, len(calls) + 1)}, proc.stderr
    for i in range(1, len(calls) + 1):
        result = replies[i]["result"]
        assert not result["isError"], result
        assert result["structuredContent"] == json.loads(result["content"][0]["text"])
    assert len(replies["list"]["result"]["tools"]) == len(QUERIES)


def test_faiss_loader_logs_at_debug() -> None:
    """FAISS announces at INFO the optional builds it could not load (AVX2...): DEBUG here,
    shown only when the level is DEBUG."""
    script = ("import sys; from codegraph.server import logs; "
              "logs.configure(sys.argv[1], 'json'); import faiss")

    def loader_records(level: str) -> list[dict[str, Any]]:
        out = subprocess.run([sys.executable, "-c", script, level], capture_output=True,
                             text=True, timeout=120, env=cli_env(), check=True).stdout
        return [r for r in map(json.loads, out.splitlines()) if r["logger"] == "faiss.loader"]

    assert loader_records("INFO") == []
    debug = loader_records("DEBUG")
    assert debug and {r["level"] for r in debug} == {"debug"}
    assert any("Loading faiss" in r["msg"] for r in debug)


def test_every_interface_of_a_real_server(tmp_path: Path) -> None:
    """``codegraph serve`` with CODEGRAPH_MAX_TOKENS=300: the ceiling holds on HTTP, on MCP
    at /mcp and on the CLI beside it; /api/v1/map and ``codegraph map``; its logs."""
    repo = write_tree(tmp_path / "shop", TREE)
    with ServerProcess(tmp_path / "srv", [repo], CODEGRAPH_MAX_TOKENS=str(CEILING)) as srv:
        srv.wait_jobs_idle()
        big = srv.ok("/api/v1/callers", symbol="post", limit=500, max_tokens=50_000)
        assert big["max_tokens_capped"] == {"requested": 50_000, "max_tokens": CEILING}
        assert big["next_cursor"] and results_tokens(big) <= CEILING
        plain = srv.ok("/api/v1/callers", symbol="post", limit=500)  # no budget asked
        assert "max_tokens_capped" not in plain and results_tokens(plain) <= CEILING
        assert plain["next_cursor"]

        mapped = srv.ok("/api/v1/map", repo="shop", max_tokens=100_000)
        assert mapped["max_tokens_capped"]["max_tokens"] == CEILING
        assert mapped["results"][0]["definitions"][0]["qualified_name"] == "shop.ledger.post"
        for path, status, kind in (("/api/v1/map?repo=nope", 404, "not_found"),
                                   ("/api/v1/map?path=../x", 400, "bad_request"),
                                   ("/api/v1/map?path=nowhere", 404, "not_found")):
            r = srv.client.get(path)
            assert (r.status_code, r.json()["error"]["code"]) == (status, kind), r.text
        srv.ok("/api/v1/search", query="tax", mode="hybrid")  # loads FAISS

        async def over_http() -> None:
            async with streamable_http_client(f"{srv.url}/mcp") as (read, write, _), \
                    ClientSession(read, write) as s:
                check_server_info((await s.initialize()).serverInfo)
                capped = body(await call(s, "callers", symbol="post", max_tokens=50_000))
                assert capped["max_tokens_capped"]["max_tokens"] == CEILING
                top = body(await call(s, "repo_map", path="shop"))  # MCP's default budget:
                assert top["results"][0]["path"] == "shop/ledger.py"  # the ceiling, as
                assert "max_tokens_capped" not in top and top["max_tokens"] == CEILING  # 300
                assert "no repository named" in error(await call(s, "repo_map", repo="x"))

        run_session(over_http)

        env = cli_env(CODEGRAPH_MAX_TOKENS=str(CEILING))
        code, out, err = run_cli("callers", "post", "--limit", "500", "--max-tokens", "9000",
                                 "--json", data_dir=srv.data_dir, env=env)
        assert code == 0, err
        assert json.loads(out)["max_tokens_capped"] == {"requested": 9000,
                                                        "max_tokens": CEILING}
        code, out, err = run_cli("map", "--path", "tools", data_dir=srv.data_dir, env=env)
        assert (code, out) == (0, "tools/report.py\n     4  def report(x)\n"), err
        code, out, err = run_cli("map", "--max-tokens", "120", data_dir=srv.data_dir, env=env)
        assert code == 0 and out.startswith("shop/ledger.py\n     1  def post(entry)\n")
        assert "definitions, the most important first" in out
        code, _, err = run_cli("map", "--repo", "nope", data_dir=srv.data_dir, env=env)
        assert (code, err) == (2, "codegraph: error: no repository named 'nope'\n")
        logs = srv.logs()
    serving = [r for r in logs if r.get("msg") == "serving"]
    assert len(serving) == 1 and serving[0]["repos"] == ["shop"], serving
    assert not [r for r in logs if r.get("logger") == "faiss.loader"]
