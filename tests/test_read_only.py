"""Readers on read-only media: a published checkpoint on a read-only mount (what API
replicas serve), and a data directory that the reading user cannot write to. Every query
answers as on the original, and nothing is written."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from helpers import cli_env, dir_digest, run_cli, run_cli_as_nobody, write_tree
from mounts import read_only_view
from test_mcp import SHOP

QUERIES = [("stats",), ("symbols", "tax"), ("callers", "apply_tax"), ("impact", "apply_tax"),
           ("search", "tax amount", "--mode", "lexical"), ("search", "tax amount"),
           ("search", "price of an item", "--mode", "semantic"), ("similar", "apply_tax")]


@pytest.fixture(scope="module")
def published() -> Iterator[tuple[Path, Path]]:
    """An index with embeddings, and a checkpoint of it, where uid 65534 can read them
    (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="cg-read-only-"))
    base.chmod(0o755)
    try:
        yield index_and_publish(base)
    finally:
        shutil.rmtree(base)


def index_and_publish(base: Path) -> tuple[Path, Path]:
    repo = write_tree(base / "shop-repo", SHOP)
    data, snap = base / "data", base / "snap"
    code, _, err = run_cli("index", str(repo), data_dir=data, env=cli_env(CODEGRAPH_EMBED="1"))
    assert code == 0, err
    code, _, err = run_cli("checkpoint", str(snap), data_dir=data)
    assert code == 0, err
    return data, snap


def answers(data: Path, as_nobody: bool = False) -> dict[str, Any]:
    out = {}
    for query in QUERIES:
        run = run_cli_as_nobody if as_nobody else run_cli
        code, text, err = run(*query, "--json", data_dir=data)
        assert code == 0, (query, err)
        assert "Traceback" not in err
        out[" ".join(query)] = json.loads(text)
    return out


def test_a_checkpoint_on_a_read_only_mount(published: tuple[Path, Path],
                                          tmp_path: Path) -> None:
    data, snap = published
    want = answers(data)
    assert want["stats"]["search"]["embedded"] == want["stats"]["search"]["chunks"] > 0
    assert want["search price of an item --mode semantic"]["results"]
    before = dir_digest(snap)
    with read_only_view(snap, tmp_path / "view") as view:
        assert answers(view) == want
        assert mcp_answers(view) == mcp_answers(data)
    assert dir_digest(snap) == before


def test_a_data_directory_the_reader_cannot_write(published: tuple[Path, Path]) -> None:
    """As uid 65534, over root's files: the live data directory (its lexical index in WAL
    mode) and the checkpoint."""
    data, snap = published
    for directory in (data, snap):
        before = dir_digest(directory)
        assert answers(directory, as_nobody=True) == answers(directory)
        assert dir_digest(directory) == before


def mcp_answers(data: Path) -> list[Any]:
    """Tool answers of a ``codegraph mcp`` (stdio) session on ``data``."""
    params = StdioServerParameters(command=sys.executable, env=cli_env(),
                                   args=["-m", "codegraph.cli", "--data-dir", str(data), "mcp"])
    calls = [("callers", {"symbol": "apply_tax"}), ("stats", {}),
             ("search", {"query": "tax amount"}), ("similar", {"symbol": "apply_tax"})]
    found: list[Any] = []

    async def session() -> None:
        with anyio.fail_after(90):
            async with stdio_client(params) as (read, write), \
                    ClientSession(read, write) as s:
                await s.initialize()
                for tool, args in calls:
                    result = await s.call_tool(tool, args)
                    assert not result.isError, (tool, result.content)
                    found.append(json.loads(result.content[0].text))  # type: ignore[union-attr]

    anyio.run(session)
    return found
