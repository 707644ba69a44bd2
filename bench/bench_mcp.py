#!/usr/bin/env python
"""The MCP tools an agent sees, and how big a typical answer of each is, on a real corpus.

    python bench/bench_mcp.py --data-dir D [--index PATH] [--json]

``--index PATH`` first indexes PATH into D (no embeddings; Django 5.1.4's package takes a
few minutes on 2 cores). Then ``codegraph mcp`` is started over stdio and driven by the MCP
SDK's own client: the tool list (names, annotations, whether an output schema is declared)
and one typical call of each tool, with its arguments picked from the index itself (the
top-ranked function of ``repo_map`` is the symbol asked about, its file the outline's).
Each answer's size is the JSON text an agent reads (bytes, and tokens at 4 bytes each,
the budget's own estimate); ``wire`` is the whole JSON-RPC result, whose
``structuredContent`` repeats the text as an object. Seconds are wall-clock on whatever
else the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

SRC = str(Path(__file__).resolve().parent.parent / "src")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("CODEGRAPH_EMBED", "0")
    return env


def _text(result: CallToolResult) -> str:
    block = result.content[0]
    return block.text if isinstance(block, TextContent) else ""


def _count(answer: dict[str, Any]) -> int:
    """The items of a list answer (a graph's nodes; 0 for others)."""
    items = answer.get("results", answer.get("nodes"))
    return len(items) if isinstance(items, list) else 0


async def measure(data_dir: str) -> dict[str, Any]:
    params = StdioServerParameters(command=sys.executable, env=_env(),
                                   args=["-m", "codegraph.cli", "--data-dir", data_dir, "mcp"])
    rows: list[dict[str, Any]] = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        init = await s.initialize()
        tools = (await s.list_tools()).tools
        started = time.perf_counter()
        top = json.loads(_text(await s.call_tool("repo_map", {"max_tokens": 8000})))
        first_map = time.perf_counter() - started
        ranked = sorted((d for f in top["results"] for d in f["definitions"]),
                        key=lambda d: d["rank"])
        best = next((d for d in ranked if d["kind"] in ("function", "method")), ranked[0])
        symbol, name = best["qualified_name"], best["qualified_name"].rpartition(".")[2]
        file = next(f["path"] for f in top["results"] if best in f["definitions"])
        directory = file.rpartition("/")[0]
        calls: dict[str, dict[str, Any]] = {
            "search": {"query": name.replace("_", " "), "mode": "lexical"},
            "symbols": {"query": name}, "symbol": {"symbol": symbol},
            "definition": {"symbol": symbol}, "references": {"symbol": symbol},
            "callers": {"symbol": symbol}, "callees": {"symbol": symbol},
            "impact": {"symbol": symbol}, "outline": {"file": file},
            "dependencies": {}, "graph": {"symbol": symbol}, "similar": {"symbol": symbol},
            "repo_map": {"path": directory}, "stats": {}}
        for tool in tools:
            args = calls.get(tool.name, {})
            started = time.perf_counter()
            result = await s.call_tool(tool.name, args)
            seconds = time.perf_counter() - started
            text = _text(result)
            wire = len(result.model_dump_json(by_alias=True, exclude_none=True))
            answer = json.loads(text) if not result.isError else {}
            rows.append({"tool": tool.name, "args": args, "error": result.isError,
                         "bytes": len(text.encode()), "tokens": len(text.encode()) // 4,
                         "wire_bytes": wire,
                         "results": _count(answer),
                         "truncated": answer.get("truncated"), "seconds": round(seconds, 3),
                         "read_only": bool(tool.annotations and tool.annotations.readOnlyHint),
                         "output_schema": tool.outputSchema is not None,
                         "message": text if result.isError else None})
    return {"server": {"name": init.serverInfo.name, "version": init.serverInfo.version},
            "first_repo_map_seconds": round(first_map, 3), "tools": rows}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--index", help="index this directory into --data-dir first")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.index:
        subprocess.run([sys.executable, "-m", "codegraph.cli", "--data-dir", args.data_dir,
                        "index", args.index, "--no-embed", "--progress", "none"],
                       env=_env(), check=True)
    report = anyio.run(measure, args.data_dir)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    server = report["server"]
    print(f"serverInfo: {server['name']} {server['version']}; first repo_map (ranking "
          f"computed): {report['first_repo_map_seconds']} s")
    print(f"{'tool':<13} {'bytes':>7} {'~tokens':>8} {'wire':>7} {'results':>7}  "
          f"{'trunc':<5} {'s':>6}  arguments")
    for r in report["tools"]:
        note = f"  ERROR: {r['message']}" if r["error"] else ""
        print(f"{r['tool']:<13} {r['bytes']:>7,} {r['tokens']:>8,} {r['wire_bytes']:>7,} "
              f"{r['results']:>7}  {r['truncated']!s:<5} {r['seconds']:>6}  "
              f"{json.dumps(r['args'])}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
