"""One authentication for every HTTP transport: with ``CODEGRAPH_AUTH_READS=true``, every
declared endpoint and every MCP request at ``/mcp`` (each tool, the resource and prompt
listings, the handshake) needs the API key; with it, they answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from codegraph.server.routes import endpoints
from serverproc import ServerProcess, serve_tree

pytestmark = pytest.mark.timeout(180)
KEY = "auth-key-42"
REPO = {
    "shop/__init__.py": "",
    "shop/pricing.py": "def total_price(items):\n    \"\"\"Sum with tax: SECRET_MARKER.\"\"\"\n"
                       "    return apply_tax(sum(items))\n\n\ndef apply_tax(amount):\n"
                       "    return amount * 1.2\n",
}
# A value for each required argument of a tool or endpoint: a new tool with another
# required argument fails the test until it is given one here.
VALUES = {"symbol": "total_price", "query": "total", "path": "shop/pricing.py",
          "file": "shop/pricing.py", "name": "total_price", "repo": "shop",
          "job_id": "nope", "question": "where is tax applied?"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream",
               "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve_tree(tmp_path_factory.mktemp("auth"), REPO, key=KEY) as proc:
        yield proc


def _tools_with_the_key(server: ServerProcess) -> dict[str, Any]:
    """Every tool, called through a real MCP client session that sends the key."""
    answers: dict[str, Any] = {}

    async def talk() -> None:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"},
                                     timeout=30) as http, \
                streamable_http_client(f"{server.url}/mcp", http_client=http) as (r, w, _), \
                ClientSession(r, w) as session:
            await session.initialize()
            for tool in (await session.list_tools()).tools:
                required = tool.inputSchema.get("required", [])
                args = {name: VALUES[name] for name in required}
                answers[tool.name] = (args, await session.call_tool(tool.name, args))

    async def bounded() -> None:
        with anyio.fail_after(60):
            await talk()

    anyio.run(bounded)
    return answers


def _rpc(server: ServerProcess, method: str, params: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        body["params"] = params
    return server.client.post("/mcp", content=json.dumps(body),
                              headers={**MCP_HEADERS, **(headers or {})})


def test_every_mcp_tool_needs_the_key(server: ServerProcess) -> None:
    answers = _tools_with_the_key(server)
    assert {"symbol", "search", "callers", "outline", "stats"} <= set(answers)
    symbol = answers["symbol"][1]
    assert not symbol.isError and "SECRET_MARKER" in symbol.content[0].text
    for name, (args, _) in answers.items():
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
            r = _rpc(server, "tools/call", {"name": name, "arguments": args}, headers)
            assert r.status_code == 401, (name, headers, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
            assert "SECRET_MARKER" not in r.text and "total_price" not in r.text


def test_every_mcp_method_needs_the_key(server: ServerProcess) -> None:
    init = {"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}
    methods: list[tuple[str, dict[str, Any] | None]] = [
        ("initialize", init), ("tools/list", None), ("resources/list", None),
        ("resources/templates/list", None), ("resources/read", {"uri": "file:///etc/passwd"}),
        ("prompts/list", None), ("ping", None)]
    for method, params in methods:
        r = _rpc(server, method, params)
        assert r.status_code == 401, (method, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
    # the same handshake with the key is answered by the MCP server
    ok = _rpc(server, "initialize", init, {"X-API-Key": KEY})
    assert ok.status_code == 200 and "serverInfo" in ok.text


def test_every_read_endpoint_needs_the_key(server: ServerProcess) -> None:
    checked = 0
    for e in endpoints():
        if e.method != "GET" or e.admin:  # (the admin token's: see test_backup.py)
            continue
        path = e.path.replace("{repo}", "shop").replace("{job_id}", "nope")
        params = {p.name: VALUES[p.name] for p in e.params
                  if p.required and p.where == "query"}
        denied = server.client.get(path, params=params)
        assert denied.status_code == 401, (e.path, denied.text)
        allowed = server.client.get(path, params=params, headers={"X-API-Key": KEY})
        assert allowed.status_code not in (401, 403), (e.path, allowed.text)
        assert allowed.status_code < 500, (e.path, allowed.text)
        checked += 1
    assert checked >= 15
    assert server.get("/health").status_code == 200  # probes never need the key
