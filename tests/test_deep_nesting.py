"""Deeply nested code: what indexing a file stores, and the memory it takes, grow with the
file's size, not with how deeply its definitions nest.

``function outer(){`` and 2,000 nested ``function f(){`` (32 KB) used to give 80,685
chunks (each function's chunk held the bodies of all those inside it), a 71 MB data dir
and 544 MiB of peak RSS; qualified names, node records and index keys grew with the depth
too. Now: 91 chunks, 0.36 MB, 42 MiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from codegraph.api import CodeGraph
from codegraph.graph.build import make_unit
from codegraph.graph.layout import RepoLayout
from codegraph.parse.extract import MAX_DEPTH, MAX_NAME, extract
from codegraph.parse.facts import FileFacts, Import
from codegraph.search.chunks import Chunk, file_chunks
from helpers import cli_env

MiB = 1 << 20


def nested_js(n: int) -> str:
    return "function outer(){\n" + "function f(){\n" * n + "}\n" * (n + 1)


def nested_python(n: int) -> str:  # each level indented one more space: O(n^2) bytes
    return "def outer():\n" + "".join(" " * (i + 1) + "def f():\n" for i in range(n)) \
        + " " * (n + 1) + "pass\n"


@dataclass
class Run:
    n: int
    source: int  # bytes
    chunks: int
    chunk_text: int  # characters of all chunks
    data_dir: int  # bytes
    peak_rss: int  # bytes, of the indexing process alone
    problems: list[list[str]]


# Linux counts the memory a process had before its exec in its peak RSS: a child of this
# (large) test process would report this process's RSS. A small launcher starts the CLI
# and prints what wait4 says of it alone.
_LAUNCH = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=sys.stdout, stderr=sys.stderr)
_, status, usage = os.wait4(proc.pid, 0)
print(f"peak_rss={usage.ru_maxrss * 1024} code={os.waitstatus_to_exitcode(status)}",
      file=sys.stderr)
"""


def index_in_subprocess(base: Path, filename: str, text: str, n: int) -> Run:
    """``codegraph index`` of a one-file repository in a fresh process (so that its peak
    RSS is its own, from wait4), then what it stored."""
    repo, data = base / f"repo-{n}", base / f"data-{n}"
    repo.mkdir()
    (repo / filename).write_text(text)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCH, sys.executable, "-m", "codegraph.cli",
             "--data-dir", str(data), "index", str(repo), "--json", "--progress", "none",
             "--workers", "1"], capture_output=True, text=True, env=cli_env(), timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"indexing {n} nested definitions took over 60 s")
    figures = dict(part.split("=") for part in proc.stderr.strip().splitlines()[-1].split())
    assert figures["code"] == "0", proc.stdout + proc.stderr
    data_dir = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    with CodeGraph.open(str(data), readonly=True) as cg:
        chunks = list(cg.search_service().chunks())
    return Run(n, len(text.encode()), len(chunks), sum(len(c.text) for c in chunks),
               data_dir, int(figures["peak_rss"]), json.loads(proc.stdout)["problems"])


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("filename", "make", "sizes"), [
    ("deep.js", nested_js, (500, 1000, 2000, 4000)),
    ("deep.py", nested_python, (100, 200, 400)),  # 400 levels: 84 KB
])
def test_nesting_grows_stored_bytes_and_memory_linearly(
        tmp_path: Path, filename: str, make: Callable[[int], str], sizes: tuple[int, ...],
) -> None:
    """Sizes in ascending order, each checked against the first and the one before it
    (so that a quadratic blow-up fails early, before it takes gigabytes)."""
    runs: list[Run] = []
    for n in sizes:
        run = index_in_subprocess(tmp_path, filename, make(n), n)
        runs.append(run)
        first, before = runs[0], runs[-2] if len(runs) > 1 else None
        figures = "; ".join(f"n={r.n}: {r.source:,} B of source, {r.chunks:,} chunks "
                            f"({r.chunk_text:,} chars), data dir {r.data_dir:,} B, peak RSS "
                            f"{r.peak_rss / MiB:.0f} MiB" for r in runs)
        # Each byte of source in a few chunks at most (headers aside).
        assert run.chunk_text <= 3 * run.source + 200 * run.chunks, figures
        if before is not None:
            # Linear growth: twice the source, about twice the chunks (not four times).
            assert run.chunks <= 1.5 * before.chunks * run.source / before.source, figures
        # What is stored grows by a few bytes per byte of source; memory stays flat.
        assert run.data_dir - first.data_dir <= 8 * (run.source - first.source), figures
        assert run.peak_rss - first.peak_rss <= 24 * MiB, figures
        assert run.peak_rss <= 160 * MiB, figures
        assert run.problems == [[filename, f"{n + 1 - MAX_DEPTH} definitions nested more "
                                 f"than {MAX_DEPTH} levels deep folded into the definition "
                                 "enclosing them"]], figures


def chunks_of(path: str, text: str) -> tuple[FileFacts, list[Chunk]]:
    source = text.encode()
    language = {"py": "python", "js": "javascript", "java": "java"}[path.rpartition(".")[2]]
    facts = extract(source, language)
    unit = make_unit("r", path, facts, RepoLayout("", {path})).unit
    return facts, file_chunks("r", path, facts, unit.def_ids, unit.def_qnames,
                              unit.module_id, unit.module, source)


def body(chunk: Chunk) -> str:
    """A chunk's text without its header (path, qualified name, signature)."""
    return chunk.text.split("\n", 3)[3]


def test_a_nested_definition_is_cut_to_its_first_line_in_the_enclosing_chunk() -> None:
    text = ("class Shop:\n"
            "    class Item:\n"
            "        def price(self):\n"
            "            return self.cents / 100\n"
            "\n"
            "    def total(self, items):\n"
            "        def line(item):\n"
            "            return item.price() * item.quantity\n"
            "        return sum(map(line, items))\n")
    _, chunks = chunks_of("shop.py", text)
    bodies = {c.qualified_name: body(c) for c in chunks}
    assert bodies == {
        "shop.Shop": "class Shop:\n    class Item: ...\n\n    def total(self, items): ...",
        "shop.Shop.Item": "    class Item:\n        def price(self): ...",
        "shop.Shop.Item.price": "        def price(self):\n            return self.cents / 100",
        "shop.Shop.total": "    def total(self, items):\n        def line(item): ...\n"
                           "        return sum(map(line, items))",
        "shop.Shop.total.line": "        def line(item):\n"
                                "            return item.price() * item.quantity",
    }


@pytest.mark.parametrize("text", [
    "function outer(){" + "function f(){" * 3000 + "}" * 3001 + "\n",  # one line
    "function outer(){" + "function f(){return 1}" * 3000 + "}\n",  # one line, siblings
    "class A {\n" + "m() {\nclass B {\n" * 1500 + "}\n}\n" * 1500 + "}\n",
])
def test_each_byte_is_in_a_few_chunks(text: str) -> None:
    _, chunks = chunks_of("deep.js", text)
    assert sum(len(body(c)) for c in chunks) <= 3 * len(text)


def test_window_lines_are_the_source_lines_they_show() -> None:
    """A class's chunk, its methods cut to one line each, is split into windows: each
    window's lines are those of the source it shows (from the first line of the first to
    the last line of the last, a method's body elided)."""
    methods = "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(150))
    text = f"class Big:\n{methods}    LAST = 1\n"
    _, chunks = chunks_of("big.py", text)
    source = text.splitlines()
    windows = [c for c in chunks if c.qualified_name == "big.Big"]
    assert len(windows) > 2
    for c in windows:
        expected = [line + " ..." if line.lstrip().startswith("def ") else line
                    for line in source[c.line - 1:c.end_line]
                    if not line.lstrip().startswith("return ")]
        assert body(c).splitlines() == expected
    assert (windows[0].line, windows[-1].end_line) == (1, len(source))


def test_definitions_deeper_than_the_bound_fold_into_their_ancestor() -> None:
    depth = MAX_DEPTH + 8
    text = "".join(f"function f{i}(){{\n" for i in range(depth)) + "work();\n" \
        + "}\n" * depth
    facts = extract(text.encode(), "javascript")
    assert [d.name for d in facts.definitions] == [f"f{i}" for i in range(MAX_DEPTH)]
    assert facts.folded == 8
    (call,) = facts.calls
    assert (call.name, call.caller) == ("work", MAX_DEPTH - 1)  # the deepest one kept
    assert FileFacts.from_wire(facts.to_wire()).folded == 8
    assert FileFacts.from_wire(facts.to_wire()[:8]).folded == 0  # stored before the field


def test_a_long_name_is_stored_once_not_once_per_member() -> None:
    """A class's name is in each method's qualified name (and chunk header): names are cut
    at MAX_NAME characters, so a 40,000-character one cannot be stored a thousand times."""
    name = "A" * 40_000
    text = f"class {name} {{\n" + "".join(f"  m{i}() {{ {name}() }}\n" for i in range(3)) \
        + "".join(f"  n{i}() {{}}\n" for i in range(1000)) + "}\n"
    facts, chunks = chunks_of("long.js", text)
    assert facts.definitions[0].name == "A" * MAX_NAME
    assert {c.name for c in facts.calls} == {"A" * MAX_NAME}  # still its name
    assert max(len(c.qualified_name) for c in chunks) <= MAX_NAME + 20
    assert sum(len(c.text) for c in chunks) <= 2 * len(text) + 1000 * 2 * MAX_NAME


def test_a_deeply_nested_rust_use_tree() -> None:
    """Nested use lists were walked by recursion: a thousand levels overflowed it."""
    depth = 3000
    text = "use " + "a::{" * depth + "b" + "}" * depth + ";\n"
    facts = extract(text.encode(), "rust")
    assert [(i.module, i.name) for i in facts.imports] == [("::".join(["a"] * depth), "b")]
    text = "use a::{b::{c, d as e}, f::*, g};\n"
    assert extract(text.encode(), "rust").imports == [
        Import("a::b", "c", None, 1), Import("a::b", "d", "e", 1),
        Import("a::f", None, None, 1, wildcard=True), Import("a", "g", None, 1)]
