"""An incremental run leaves the store exactly as a clean index would: the cases where it
did not (found on Django and by the property test in test_incremental_property.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from codegraph.api import CodeGraph
from codegraph.graph.model import external_id
from codegraph.store.rocks import unpack
from helpers import dangling_edges, dump_store, mirrored_edges, touch_later, write_tree

COLUMN_FAMILIES = ("nodes", "out", "in", "names", "qnames", "files", "facts", "deps", "dirty",
                   "chunks")


def index(data: Path, repo: Path) -> None:
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)


def assert_clean(data: Path, repo: Path, clean: Path) -> dict[str, dict[bytes, bytes]]:
    """Every column family of the store in ``data`` equals a clean index's of ``repo``."""
    shutil.rmtree(clean, ignore_errors=True)
    index(clean, repo)
    got, want = dump_store(data), dump_store(clean)
    assert dangling_edges(got) == [] and mirrored_edges(got)
    for cf in COLUMN_FAMILIES:
        assert got[cf] == want[cf], cf
    return got


def callees(data: Path, symbol: str) -> set[tuple[str, str]]:
    with CodeGraph.open(str(data), readonly=True) as cg:
        return {(r["qualified_name"], r["kind"]) for r in cg.callees(symbol)}


def externals(dump: dict[str, dict[bytes, bytes]]) -> set[tuple[str, str]]:
    """(qualified name, language) of the external nodes."""
    return {(w[2], w[3]) for v in dump["nodes"].values() if (w := unpack(v))[0] == "external"}


def test_external_nodes_are_per_language(tmp_path: Path) -> None:
    # Python and JavaScript files both import ``json`` from outside: one external node
    # each, of its language. A shared node took the language of the file written last,
    # so an incremental run that resolved only the JavaScript file turned it.
    repo = write_tree(tmp_path / "repo", {
        "a.py": "import json\n\n\ndef dump(x):\n    return json.dumps(x)\n",
        "b.js": "import json from 'json';\n\nexport function f() {\n  return json;\n}\n"})
    data = tmp_path / "data"
    index(data, repo)
    touch_later(repo / "b.js", "import json from 'json';\n\nexport function g() {\n"
                               "  return json;\n}\n")
    index(data, repo)
    dump = assert_clean(data, repo, tmp_path / "clean")
    assert {("json", "python"), ("json", "javascript")} <= externals(dump)
    ids = {k.hex() for k in dump["nodes"]}
    assert {external_id("json", "python"), external_id("json", "javascript")} <= ids
