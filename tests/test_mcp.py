"""The MCP server end to end: real client sessions over stdio (a subprocess) and over
streamable HTTP (uvicorn, the way the HTTP service mounts it)."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, Implementation, TextContent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from codegraph.api import CodeGraph
from codegraph.query.catalog import QUERIES
from codegraph.server.mcp_deferred import DeferredMCP
from codegraph.server.mcp_tools import (
    build_mcp,
    mcp_endpoint,
    mcp_route,
    session_lifespan,
    streamable_http_app,
)
from helpers import cli_env, write_tree

TIMEOUT = 90  # seconds for a whole session (a cold subprocess imports a lot)

PRICING = '''\
"""Prices and taxes."""

TAX = 0.2


def apply_tax(amount):
    """Add the tax to an amount."""
    return amount * (1 + TAX)


def compute(item, qty):
    return apply_tax(item.price * qty)


def discount(item):
    return apply_tax(item.price) * 0.9
'''
MODELS = '''\
from shop import pricing


class Item:
    """A thing for sale, with its price."""

    def __init__(self, price):
        self.price = price

    def total(self, qty):
        return pricing.compute(self, qty)

    def sale(self):
        return pricing.discount(self)
'''
CART = '''\
from shop.models import Item


def checkout(prices):
    return sum(Item(p).total(1) for p in prices)
'''
SHOP = {"shop/__init__.py": "", "shop/pricing.py": PRICING, "shop/models.py": MODELS,
        "shop/cart.py": CART}
TOOLS = {q.tool_name for q in QUERIES}  # every declared query is a tool


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("mcp")
    repo = write_tree(base / "shop-repo", SHOP)
    data = base / "data"
    with CodeGraph.open(str(data)) as cg:
        report = cg.index(str(repo))
        assert report.failed == 0
    return data


VERSION = version("codegraph")


def body(result: CallToolResult) -> Any:
    """The answer: structured content, and the same JSON as text (for older clients)."""
    assert not result.isError, result.content
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent)
    answer = json.loads(result.content[0].text)
    assert result.structuredContent == answer
    return answer


def check_server_info(info: Implementation) -> None:
    """CodeGraph's own name and version, from its package metadata; not the SDK's."""
    assert (info.name, info.version) == ("codegraph", VERSION)
    assert version("mcp") != VERSION


def error(result: CallToolResult) -> str:
    assert result.isError
    assert isinstance(result.content[0], TextContent)
    text = result.content[0].text
    assert "Traceback" not in text and "\n" not in text, text
    return text


def names(items: list[dict[str, Any]]) -> list[str]:
    return [r["qualified_name"] for r in items]


async def call(session: ClientSession, tool: str, **args: Any) -> CallToolResult:
    return await session.call_tool(tool, args)


async def check_answers(s: ClientSession) -> None:
    """Real answers about the shop repository, paging, budgets and errors."""
    listed = await s.list_tools()
    assert {t.name for t in listed.tools} == TOOLS
    for t in listed.tools:
        assert t.description and len(t.description) > 30, t.name
        # every tool only reads the index: read-only, idempotent, not destructive
        assert t.annotations is not None, t.name
        assert t.annotations.readOnlyHint is True and t.annotations.idempotentHint is True
        assert t.annotations.destructiveHint is False and t.annotations.openWorldHint is False
        assert t.annotations.title
        assert t.outputSchema and t.outputSchema["type"] == "object", t.name
        assert "results" in t.outputSchema["properties"] or t.name in ("graph", "stats")
    callers_tool = next(t for t in listed.tools if t.name == "callers")
    assert {"symbol", "repo", "limit", "cursor", "max_tokens"} <= set(
        callers_tool.inputSchema["properties"])
    assert callers_tool.inputSchema["required"] == ["symbol"]

    callers = body(await call(s, "callers", symbol="apply_tax"))
    assert sorted((r["qualified_name"], r["site_line"]) for r in callers["results"]) == [
        ("shop.pricing.compute", 12), ("shop.pricing.discount", 16)]
    assert callers["total"] == 2 and callers["next_cursor"] is None
    assert not callers["truncated"]

    callers = body(await call(s, "callers", symbol="shop.pricing.compute"))
    assert [(r["qualified_name"], r["site_line"]) for r in callers["results"]] == [
        ("shop.models.Item.total", 11)]
    callees = body(await call(s, "callees", symbol="discount"))
    assert names(callees["results"]) == ["shop.pricing.apply_tax"]

    refs = body(await call(s, "references", symbol="Item"))["results"]
    assert sorted((r["qualified_name"], r["site_line"], r["edge"]) for r in refs) == [
        ("shop.cart", 1, "imports"), ("shop.cart.checkout", 5, "calls")]
    syms = body(await call(s, "symbols", query="tax", kind="function"))["results"]
    assert names(syms) == ["shop.pricing.apply_tax"]
    deps = body(await call(s, "dependencies"))["results"]
    assert {d["module"]: d["imports"] for d in deps} == {
        "shop": [], "shop.cart": ["shop.models"], "shop.models": ["shop.pricing"],
        "shop.pricing": []}
    assert body(await call(s, "dependencies", cycles=True))["results"] == []

    found = body(await call(s, "definition", symbol="apply_tax"))["results"]
    assert [(r["path"], r["line"], r["end_line"], r["kind"]) for r in found] == [
        ("shop/pricing.py", 6, 8, "function")]
    item = body(await call(s, "symbol", symbol="Item"))["results"]
    assert len(item) == 1 and item[0]["source"].startswith("class Item:\n")
    assert '"""A thing for sale, with its price."""' in item[0]["source"]
    assert "return pricing.discount(self)" in item[0]["source"]

    hits = body(await call(s, "search", query="tax amount", mode="lexical"))
    assert hits["mode"] == "lexical"
    assert hits["results"][0]["qualified_name"] == "shop.pricing.apply_tax"

    outline = body(await call(s, "outline", file="shop/models.py"))["results"]
    assert [(r["name"], r["line"], r["depth"]) for r in outline] == [
        ("Item", 4, 0), ("__init__", 7, 1), ("total", 10, 1), ("sale", 13, 1)]

    impact = body(await call(s, "impact", symbol="apply_tax"))
    assert {(r["qualified_name"], r["depth"]) for r in impact["results"]} == {
        ("shop.pricing.compute", 1), ("shop.pricing.discount", 1),
        ("shop.models.Item.total", 2), ("shop.models.Item.sale", 2),
        ("shop.cart.checkout", 3)}
    assert not impact["truncated"]
    shallow = body(await call(s, "impact", symbol="apply_tax", depth=1))
    assert {r["depth"] for r in shallow["results"]} == {1} and shallow["total"] == 2

    stats = body(await call(s, "stats"))
    assert stats["files"] == 4 and "search" in stats

    # paging: one at a time, the cursor leads to the rest and then stops
    first = body(await call(s, "impact", symbol="apply_tax", limit=1))
    assert len(first["results"]) == 1 and first["total"] == 5 and first["next_cursor"]
    second = body(await call(s, "impact", symbol="apply_tax", limit=1,
                             cursor=first["next_cursor"]))
    assert len(second["results"]) == 1
    assert second["results"][0]["id"] != first["results"][0]["id"]
    assert names(first["results"] + second["results"]) == names(impact["results"][:2])
    rest = body(await call(s, "impact", symbol="apply_tax", limit=50,
                           cursor=second["next_cursor"]))
    assert len(rest["results"]) == 3 and rest["next_cursor"] is None

    # a small token budget: fewer results, marked truncated, and a cursor to go on
    tight = body(await call(s, "impact", symbol="apply_tax", max_tokens=100))
    assert 1 <= len(tight["results"]) < 5
    assert tight["truncated"] and tight["next_cursor"]
    assert names(tight["results"]) == names(impact["results"][:len(tight["results"])])
    cut = body(await call(s, "symbol", symbol="Item", max_tokens=80))["results"][0]
    assert cut["source_truncated"] and item[0]["source"].startswith(cut["source"])
    assert len(cut["source"]) < len(item[0]["source"])

    # clear tool errors, no tracebacks
    assert "no symbol named 'no_such_thing'" in error(
        await call(s, "callers", symbol="no_such_thing"))
    assert "not indexed" in error(await call(s, "outline", file="shop/nowhere.py"))
    assert "cursor" in error(await call(s, "impact", symbol="apply_tax", cursor="bogus!"))
    assert error(await call(s, "search", query="tax", mode="fuzzy")).endswith(
        "mode must be one of lexical, semantic, hybrid, got 'fuzzy'")
    assert "no embedding for that symbol" in error(await call(s, "similar", symbol="Item"))


def run_session(connect: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(TIMEOUT):
            await connect()
    anyio.run(bounded)


def test_stdio(data_dir: Path, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable, env=cli_env(),
        args=["-m", "codegraph.server.mcp_tools", "--data-dir", str(data_dir)])
    errlog = tmp_path / "stderr.txt"

    async def connect() -> None:
        with errlog.open("w") as err:
            async with stdio_client(params, errlog=err) as (read, write), \
                    ClientSession(read, write) as session:
                init = await session.initialize()
                check_server_info(init.serverInfo)
                await check_answers(session)

    run_session(connect)
    assert "Traceback" not in errlog.read_text()


def test_stdio_without_an_index(tmp_path: Path) -> None:
    """No index: the server says so on stderr and exits, rather than hanging."""
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "codegraph.server.mcp_tools", "--data-dir",
                           str(tmp_path / "none")], capture_output=True, text=True,
                          timeout=60, env=cli_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no index at" in proc.stderr and "Traceback" not in proc.stderr


class Uvicorn:
    """A Starlette app served by uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> Uvicorn:
        self.thread.start()
        for _ in range(300):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.05)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not stop"


def test_streamable_http(data_dir: Path) -> None:
    calls = []
    with CodeGraph.open(str(data_dir), readonly=True) as cg:
        shared = cg

        def intel() -> contextlib.AbstractContextManager[CodeGraph]:
            calls.append(1)
            return contextlib.nullcontext(shared)

        # as the HTTP service does it: a route among its own, the manager in its lifespan;
        # and a second server as its own app, mounted (reachable at <mount>/mcp)
        mcp, other = build_mcp(intel), build_mcp(lambda: contextlib.nullcontext(shared),
                                                default_max_tokens=100)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with session_lifespan(mcp), session_lifespan(other):
                yield

        async def health(request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok")

        app = Starlette(routes=[Route("/health", health), mcp_route(mcp),
                                Mount("/other", app=streamable_http_app(other))],
                        lifespan=lifespan)
        with Uvicorn(app) as server:
            base = f"http://127.0.0.1:{server.port}"

            async def connect() -> None:
                async with streamable_http_client(f"{base}/mcp") as (read, write, _), \
                        ClientSession(read, write) as session:
                    check_server_info((await session.initialize()).serverInfo)
                    await check_answers(session)
                    before = len(calls)
                    await call(session, "stats")
                    assert len(calls) == before + 1  # the intel callable is asked per call
                async with streamable_http_client(f"{base}/other/mcp") as (read, write, _), \
                        ClientSession(read, write) as session:
                    await session.initialize()
                    capped = body(await call(session, "impact", symbol="apply_tax"))
                    assert capped["truncated"] and len(capped["results"]) < 5
                    callers = body(await call(session, "callers", symbol="compute",
                                              max_tokens=4000))
                    assert names(callers["results"]) == ["shop.models.Item.total"]

            run_session(connect)
            assert httpx.get(f"{base}/health", timeout=10).text == "ok"
            # plain JSON answers, and any Host header (behind a proxy): no session needed
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "probe", "version": "1"}}}
            reply = httpx.post(f"{base}/mcp", json=init, timeout=10, headers={
                "Host": "codegraph.internal:443",
                "Accept": "application/json, text/event-stream"})
            assert reply.status_code == 200, reply.text
            assert reply.headers["content-type"].startswith("application/json")
            assert reply.json()["result"]["serverInfo"] == {"name": "codegraph",
                                                            "version": VERSION}
            assert "mcp-session-id" not in reply.headers


def _deferred_app(build: Callable[[], Any]) -> Starlette:
    deferred = DeferredMCP(build)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with deferred.lifespan():
            yield

    return Starlette(routes=[Route("/mcp", endpoint=deferred)], lifespan=lifespan)


def test_deferred_mcp_waits_for_its_build(data_dir: Path) -> None:
    """The server answers before MCP is built (in a worker thread); a request to /mcp that
    comes meanwhile waits for it, then gets the tools."""
    gate = threading.Event()
    with CodeGraph.open(str(data_dir), readonly=True) as cg:
        shared = cg

        def build() -> Any:
            assert gate.wait(30)
            mcp = build_mcp(lambda: contextlib.nullcontext(shared))
            return mcp_endpoint(mcp), session_lifespan(mcp)

        with Uvicorn(_deferred_app(build)) as server:  # started while the build is held
            threading.Timer(0.3, gate.set).start()
            r = httpx.post(f"http://127.0.0.1:{server.port}/mcp", timeout=30,
                           json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                           headers={"accept": "application/json, text/event-stream"})
            assert r.status_code == 200 and '"callers"' in r.text, r.text


def test_deferred_mcp_failure_is_a_clear_503() -> None:
    def build() -> Any:
        raise ImportError("no module named 'pydantic_core._pydantic_core'")

    with Uvicorn(_deferred_app(build)) as server:
        r = httpx.post(f"http://127.0.0.1:{server.port}/mcp", timeout=30,
                       json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 503, r.text
        assert "MCP did not start" in r.json()["error"]["message"], r.text
