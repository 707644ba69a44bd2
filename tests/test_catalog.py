"""Each question is declared once (query/catalog.py): the library method, the HTTP route, the
MCP tool and the CLI subcommand all come from that declaration, with the same names, bounds
and errors."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from pathlib import Path
from typing import Any, cast

import pytest
from mcp.types import TextContent

from codegraph.api import CodeGraph
from codegraph.cli import _parser
from codegraph.errors import BadRequest
from codegraph.query.catalog import QUERIES, Param, query
from codegraph.query.paging import encode_cursor
from codegraph.server.mcp_tools import build_mcp
from codegraph.server.routes import API, endpoints
from helpers import one_line_error, run_cli, write_tree

REPO = {"shop/__init__.py": "", "shop/pricing.py": "def tax(x):\n    return x * 2\n\n\n"
        "def total(xs):\n    return tax(sum(xs))\n"}


def test_each_query_is_a_library_method_with_the_declared_parameters() -> None:
    for q in QUERIES:
        method = getattr(CodeGraph, q.name)
        accepted = set(inspect.signature(method).parameters) - {"self"}
        declared = {p.name for p in (q.all_params if not q.paged else q.params)}
        assert declared <= accepted, (q.name, declared - accepted)


def test_each_query_is_an_http_route_an_mcp_tool_and_a_cli_command() -> None:
    routes = {e.path: e for e in endpoints()}
    unused = cast("CodeGraph", None)
    tools = {t.name: t for t in asyncio.run(
        build_mcp(lambda: contextlib.nullcontext(unused)).list_tools())}
    commands = cast("dict[str, Any]",
                    _parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for q in QUERIES:
        route = routes[f"{API}/{q.name}"]
        names = [p.name for p in q.all_params]
        assert [p.name for p in route.params] == names
        assert list(tools[q.tool_name].inputSchema["properties"]) == names
        assert all(tools[q.tool_name].inputSchema["properties"][p.name] == p.schema()
                   for p in q.all_params)
        options = {a.dest for a in commands[q.name]._actions}
        assert set(names) <= options, (q.name, set(names) - options)


def test_bad_values_are_refused_alike(tmp_path: Path) -> None:
    """One declaration, one check: the library, the CLI and MCP give the same message."""
    repo = write_tree(tmp_path / "repo", REPO)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo))
    cases = [("impact", {"symbol": "tax", "depth": "9"}, "depth must be between 1 and 6"),
             ("callers", {"symbol": "tax", "limit": "0"}, "limit must be between 1 and 500"),
             ("callers", {"symbol": "tax", "min_confidence": "2"},
              "min_confidence must be between 0 and 1"),
             ("impact", {"symbol": "tax", "max_nodes": "20000"},
              "max_nodes must be between 1 and 10000"),
             ("search", {"query": "tax", "mode": "psychic"}, "mode must be one of"),
             ("symbols", {"query": "tax", "kind": "gadget"}, "kind must be one of")]
    with CodeGraph.open(str(data), readonly=True) as cg:
        mcp = build_mcp(lambda: contextlib.nullcontext(cg))
        for name, args, message in cases:
            with pytest.raises(BadRequest, match=message):
                cg.answer(name, args)
            with pytest.raises(Exception, match=message):
                asyncio.run(mcp.call_tool(name, args))
            positional = [args[p.name] for p in query(name).all_params if p.required]
            options = [x for k, v in args.items() if not query(name).param(k).required
                       for x in (f"--{k.replace('_', '-')}", v)]
            code, _, err = run_cli(name, *positional, *options, data_dir=data)
            one_line_error(code, err, message)
        with pytest.raises(BadRequest, match="unknown parameter"):
            cg.answer("callers", {"symbol": "tax", "lang": "python"})
        page = cg.answer("callers", {"symbol": "tax", "limit": 1})
        assert [r["name"] for r in page["results"]] == ["total"] and page["total"] == 1
        contents, structured = asyncio.run(mcp.call_tool("callers", {"symbol": "tax"}))
        assert isinstance(contents[0], TextContent)
        assert json.loads(contents[0].text)["results"] == page["results"]
        assert structured["results"] == page["results"]


def test_paging_a_search_to_the_end_of_its_window(tmp_path: Path) -> None:
    """Every next_cursor handed out works: the last page of the 1,000-hit window is cut to
    fit it (a limit of 7 does not divide 1,000), and the window's end hands out none."""
    files = {f"pkg/m{i}.py": "".join(f"def alpha_{i}_{j}():\n    return 'alpha'\n\n\n"
                                     for j in range(110)) for i in range(10)}
    repo = write_tree(tmp_path / "repo", {"pkg/__init__.py": "", **files})
    with CodeGraph.open(str(tmp_path / "data")) as cg:
        cg.index(str(repo))
        seen, cursor, pages = [], None, 0
        while True:
            page = cg.answer("search", {"query": "alpha", "mode": "lexical", "limit": 7,
                                        "cursor": cursor})
            seen += [r["id"] for r in page["results"]]
            pages, cursor = pages + 1, page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 1000 and pages == 143
        with pytest.raises(BadRequest, match="at most 1000"):
            cg.answer("search", {"query": "alpha", "cursor": encode_cursor(1000)})


def test_symbol_context_and_mcp_budget_bounds(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", REPO)
    with CodeGraph.open(str(tmp_path / "data")) as cg:
        cg.index(str(repo))
        first = cg.answer("symbol", {"symbol": "tax", "context": 10})["results"][0]
        assert first["source"].startswith("def tax(x):")  # context cut at line 1
        mcp = build_mcp(lambda: contextlib.nullcontext(cg))
        with pytest.raises(Exception, match="max_tokens must be between 1"):
            asyncio.run(mcp.call_tool("callers", {"symbol": "tax", "max_tokens": 0}))


def test_cli_outline_takes_a_path_from_here_or_in_the_repository(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", REPO)
    elsewhere = write_tree(tmp_path / "elsewhere", REPO)  # the same relative path, not indexed
    data = tmp_path / "data"
    code, _, err = run_cli("index", str(repo), "--progress", "none", data_dir=data)
    assert code == 0, err
    for cwd in (repo, elsewhere):
        code, out, err = run_cli("outline", "shop/pricing.py", "--json", data_dir=data,
                                 cwd=str(cwd))
        assert code == 0, err
        assert [r["name"] for r in json.loads(out)["results"]] == ["tax", "total"]


def test_a_number_parameter() -> None:
    """``min_confidence``: a finite number in range, from text (a query string, a command
    line) or JSON; anything else is a BadRequest naming it."""
    p = Param("min_confidence", float, minimum=0, maximum=1)
    assert p.schema() == {"type": "number", "minimum": 0, "maximum": 1}
    for raw, want in (("0.5", 0.5), (" 1 ", 1.0), ("5e-1", 0.5), ("0", 0.0), (1, 1.0),
                      (0.25, 0.25), ("-0", 0.0)):
        assert p.parse(raw) == want, raw
    bad: tuple[Any, ...] = ("", "high", "nan", "inf", "-inf", "1e400", 10**400, "0x1",
                            "\u0660.\u0665", "0." + "5" * 60, True, None, [0.5], {"v": 1})
    for wrong in bad:
        with pytest.raises(BadRequest, match="min_confidence must be a number"):
            p.parse(wrong)
    for raw in ("1.0001", "-0.5", 2, "1e3"):
        with pytest.raises(BadRequest, match="min_confidence must be between 0 and 1"):
            p.parse(raw)
