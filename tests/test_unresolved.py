"""What an answer leaves out, said on every interface: ``unresolved`` and ``external``
beside callers, references and impact; ``min_confidence``; impact's ``max_nodes`` cap with
``capped`` and ``truncated``. The library, the CLI (subprocesses), a real server on
127.0.0.1 (HTTP and MCP over HTTP) and MCP over stdio (a subprocess)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from codegraph.api import CodeGraph
from codegraph.errors import BadRequest
from helpers import cli_env, one_line_error, run_cli, run_json, write_tree
from serverproc import ServerProcess
from unresolved_repo import FILES, KNOWN_FILTERS, UNRESOLVED_FILTERS

pytestmark = pytest.mark.timeout(180)
OTHER = {"other.py": "def elsewhere(x):\n    return x.filter(1)\n"}  # one more, unresolved
ALL_REPOS = UNRESOLVED_FILTERS + 1
# Bad values, the same message on every interface (query/catalog.py).
BAD = [("callers", {"symbol": "build", "min_confidence": "1.5"},
        "min_confidence must be between 0 and 1"),
       ("callees", {"symbol": "page", "min_confidence": "-0.1"},
        "min_confidence must be between 0 and 1"),
       ("references", {"symbol": "build", "min_confidence": "high"},
        "min_confidence must be a number"),
       ("impact", {"symbol": "build", "min_confidence": "nan"},
        "min_confidence must be a number"),
       ("impact", {"symbol": "build", "max_nodes": "0"},
        "max_nodes must be between 1 and 10000"),
       ("impact", {"symbol": "build", "max_nodes": "10001"},
        "max_nodes must be between 1 and 10000"),
       ("impact", {"symbol": "build", "max_nodes": "many"}, "max_nodes must be a whole number")]


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("unresolved")
    return write_tree(base / "repos" / "shop", FILES), write_tree(base / "repos" / "other",
                                                                 OTHER)


@pytest.fixture(scope="module")
def data(repos: tuple[Path, Path]) -> Path:
    data = repos[0].parent.parent / "data"
    for repo in repos:
        code, _, err = run_cli("index", str(repo), "--progress", "none", data_dir=data)
        assert code == 0, err
    return data


@pytest.fixture(scope="module")
def server(repos: tuple[Path, Path]) -> Iterator[ServerProcess]:
    work = repos[0].parent.parent / "server"
    with ServerProcess(work, repos, repos_root=repos[0].parent) as proc:
        proc.wait_jobs_idle()
        yield proc


def counts(answer: dict[str, Any]) -> tuple[int, int]:
    return answer["unresolved"], answer["external"]


def names(answer: dict[str, Any]) -> list[str]:
    return [r["qualified_name"] for r in answer["results"]]


def check_answers(ask: Any) -> None:
    """The answers every interface gives; ``ask(query, **args)`` returns the JSON answer."""
    callers = ask("callers", symbol="QuerySet.filter")
    assert names(callers) == ["shop.query.QuerySet.exclude"]
    assert counts(callers) == (ALL_REPOS, KNOWN_FILTERS)
    assert counts(ask("callers", symbol="QuerySet.filter", repo="shop")) == (
        UNRESOLVED_FILTERS, KNOWN_FILTERS)
    assert counts(ask("references", symbol="shop.query.Manager.filter")) == (
        ALL_REPOS, KNOWN_FILTERS)
    # The builtin's own callers are its results, not counted again beside them.
    builtin = ask("callers", symbol="builtins.filter")
    assert names(builtin) == ["shop.views.evens"] and counts(builtin) == (ALL_REPOS, 0)
    assert counts(ask("callers", symbol="build")) == (0, 0)

    # build's callers: through an import (surest), in its own file (less sure); the
    # thresholds are read from the answer, whatever the resolutions' calibrated values
    every = ask("callers", symbol="build")
    assert names(every) == ["shop.views.page", "shop.query.rebuild"]
    sure, less = (r["confidence"] for r in every["results"])
    assert 0 < less < sure <= 1
    assert names(ask("callers", symbol="build", min_confidence=sure)) == ["shop.views.page"]
    assert names(ask("callers", symbol="build", min_confidence=(sure + less) / 2)) == [
        "shop.views.page"]
    assert names(ask("callers", symbol="build", min_confidence=less)) == names(every)
    assert names(ask("callers", symbol="build", min_confidence=0)) == names(every)
    assert names(ask("references", symbol="build", min_confidence=str(sure))) == [
        "shop.views", "shop.views.page"]
    unsure = ask("callees", symbol="shop.views.visible")["results"]  # two unresolved
    assert len(unsure) == 2 and all(r["confidence"] < sure for r in unsure)
    callees = ask("callees", symbol="shop.views.visible", min_confidence=sure)
    assert callees["results"] == [] and "unresolved" not in callees

    impact = ask("impact", symbol="build", depth=3)
    assert [(r["qualified_name"], r["depth"]) for r in impact["results"]] == [
        ("shop.views", 1), ("shop.views.page", 1), ("shop.query.rebuild", 1),
        ("shop.views.view", 2)]
    assert (impact["max_nodes"], impact["capped"], impact["truncated"]) == (2000, False,
                                                                           False)
    capped = ask("impact", symbol="build", max_nodes=2)
    assert names(capped) == ["shop.views", "shop.views.page"] and capped["total"] == 2
    assert (capped["max_nodes"], capped["capped"], capped["truncated"]) == (2, True, True)
    assert capped["next_cursor"] is None
    certain = ask("impact", symbol="build", min_confidence=sure)  # not rebuild, nor view
    assert names(certain) == ["shop.views", "shop.views.page"] and not certain["capped"]
    assert counts(ask("impact", symbol="QuerySet.filter", depth=1)) == (ALL_REPOS,
                                                                        KNOWN_FILTERS)


def test_library(data: Path) -> None:
    with CodeGraph.open(str(data), readonly=True) as cg:
        listing = cg.callers("QuerySet.filter")
        assert [r["name"] for r in listing] == ["exclude"]
        assert listing.about == {"unresolved": ALL_REPOS, "external": KNOWN_FILTERS}
        assert cg.impact("build", max_nodes=1).about["capped"] is True
        assert cg.callers("shop.views.view") == []  # still a list
        check_answers(lambda name, **args: cg.answer(name, args))
        for name, args, message in BAD:
            with pytest.raises(BadRequest, match=message):
                cg.answer(name, args)
        page = cg.answer("impact", {"symbol": "build", "max_nodes": 3, "limit": 1})
        assert page["total"] == 3 and page["next_cursor"] and page["capped"]


def cli_ask(data: Path) -> Any:
    def ask(name: str, **args: Any) -> Any:
        positional = [str(args.pop("symbol"))]
        options = [x for k, v in args.items() for x in (f"--{k.replace('_', '-')}", str(v))]
        return run_json(name, *positional, *options, data_dir=data)

    return ask


def test_cli(data: Path) -> None:
    check_answers(cli_ask(data))

    def lines(*args: str) -> list[str]:
        code, out, err = run_cli(*args, data_dir=data)
        assert code == 0 and err == "", err
        return out.splitlines()

    assert lines("callers", "QuerySet.filter", "--repo", "shop") == [
        "shop:shop/query.py:9  method shop.query.QuerySet.exclude  [calls same_scope 0.90]",
        f"and {UNRESOLVED_FILTERS} calls to a `filter` whose receiver could not be resolved",
        "and 1 call to a `filter` outside the indexed code (external)"]
    assert lines("refs", "builtins.filter")[1:] == [
        f"and {ALL_REPOS} calls or references to a `filter` that could not be resolved"]
    assert lines("callers", "build", "--min-confidence", "1") == [
        "shop:shop/views.py:18  function shop.views.page  [calls import 1.00]"]
    assert lines("impact", "build", "--max-nodes", "1") == [
        "shop:shop/views.py:1  module shop.views  [imports import 1.00]",
        "(stopped at 1 dependent: more may break; --max-nodes raises the cap)"]
    for name, args, message in BAD:
        code, out, err = run_cli(name, args["symbol"], *(
            x for k, v in args.items() if k != "symbol"
            for x in (f"--{k.replace('_', '-')}", v)), data_dir=data)
        one_line_error(code, err, message)
        assert out == ""


def test_http_api(server: ServerProcess) -> None:
    check_answers(lambda name, **args: server.ok(f"/api/v1/{name}", **args))
    for name, args, message in BAD:
        r = server.get(f"/api/v1/{name}", **args)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "bad_request"
        assert message in r.json()["error"]["message"]
    paths = server.ok("/openapi.json")["paths"]
    for name in ("callers", "callees", "references", "impact"):
        params = {p["name"]: p["schema"] for p in paths[f"/api/v1/{name}"]["get"]["parameters"]}
        assert {k: params["min_confidence"][k] for k in ("type", "minimum", "maximum")} == {
            "type": "number", "minimum": 0, "maximum": 1}
    params = {p["name"]: p["schema"] for p in paths["/api/v1/impact"]["get"]["parameters"]}
    assert {k: params["max_nodes"][k] for k in ("type", "minimum", "maximum", "default")} == {
        "type": "integer", "minimum": 1, "maximum": 10000, "default": 2000}


def body(result: CallToolResult) -> Any:
    assert not result.isError, result.content
    assert isinstance(result.content[0], TextContent)
    return json.loads(result.content[0].text)


async def check_tools(s: ClientSession) -> None:
    """Over a real MCP session: the tools' schemas, answers and errors."""
    tools = {t.name: t.inputSchema for t in (await s.list_tools()).tools}
    for name in ("callers", "callees", "references", "impact"):
        assert tools[name]["properties"]["min_confidence"]["type"] == "number"
    assert tools["impact"]["properties"]["max_nodes"]["maximum"] == 10000
    asked: list[tuple[str, dict[str, Any]]] = [
        ("callers", {"symbol": "QuerySet.filter"}),
        ("callers", {"symbol": "build", "min_confidence": 1}),
        ("impact", {"symbol": "build", "max_nodes": 2}),
        ("impact", {"symbol": "build", "min_confidence": 1.0})]
    callers, sure, capped, impact = [body(await s.call_tool(name, args))
                                     for name, args in asked]
    assert counts(callers) == (ALL_REPOS, KNOWN_FILTERS)
    assert names(sure) == ["shop.views.page"]
    assert capped["capped"] and capped["truncated"] and capped["total"] == 2
    assert names(impact) == ["shop.views", "shop.views.page"]
    for name, raw, message in BAD:
        args = {k: json.loads(v) if k == "max_nodes" and v.isdigit() else v
                for k, v in raw.items()}
        result = await s.call_tool(name, args)
        assert result.isError and isinstance(result.content[0], TextContent)
        assert message in result.content[0].text and "Traceback" not in result.content[0].text
    wrong = await s.call_tool("callers", {"symbol": "build", "min_confidence": True})
    assert wrong.isError


def run_session(connect: Any) -> None:
    async def bounded() -> None:
        with anyio.fail_after(90):
            await connect()

    anyio.run(bounded)


def test_mcp_stdio(data: Path, tmp_path: Path) -> None:
    params = StdioServerParameters(command=sys.executable, env=cli_env(), args=[
        "-m", "codegraph.server.mcp_tools", "--data-dir", str(data)])
    errlog = tmp_path / "stderr.txt"

    async def connect() -> None:
        with errlog.open("w") as err:
            async with stdio_client(params, errlog=err) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                await check_tools(session)

    run_session(connect)
    assert "Traceback" not in errlog.read_text()


def test_mcp_over_http(server: ServerProcess) -> None:
    async def connect() -> None:
        async with streamable_http_client(f"{server.url}/mcp") as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            await check_tools(session)

    run_session(connect)
