"""The store owns every key: no module outside ``codegraph/store/`` builds a RocksDB key,
names a column family, reaches the database or its handles, scans with a prefix of its
own, or reads a record by position. They go through the store's typed methods (and
``records.py`` for the puts that workers build)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import codegraph
from codegraph.store.rocks import COLUMN_FAMILIES

PACKAGE = Path(codegraph.__file__).parent
# The store's insides: key layouts, handles, raw reads.
PRIVATE_MODULES = {"codegraph.store.keys", "codegraph.store.edges"}
PRIVATE_NAMES = {"text_key", "node_key", "file_key", "chunk_key", "dependency_key",
                 "COLUMN_FAMILIES", "SPOOL_DIRECTORY"}
PRIVATE_ATTRIBUTES = {"db", "_db", "cf", "_cf", "handle", "_handle", "scan", "_scan",
                      "scan_keys", "_scan_keys", "multi_get", "_multi_get", "_get"}
WIRE_POSITION = re.compile(r"\bwire\[\d+\]")


def outside_store() -> list[Path]:
    files = [p for p in PACKAGE.rglob("*.py") if (PACKAGE / "store") not in p.parents]
    assert len(files) > 50  # the package was found
    return sorted(files)


def violations(text: str, where: str) -> list[str]:
    found = [f"{where}:{text.count(chr(10), 0, m.start()) + 1}: a record read by position"
             for m in WIRE_POSITION.finditer(text)]
    for node in ast.walk(ast.parse(text)):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module in PRIVATE_MODULES:
                found.append(f"{line}: imports {node.module}")
            if node.module.startswith("codegraph.store"):
                found += [f"{line}: imports {a.name}" for a in node.names
                          if a.name in PRIVATE_NAMES]
        elif isinstance(node, ast.Import):
            found += [f"{line}: imports {a.name}" for a in node.names
                      if a.name in PRIVATE_MODULES]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES and not (
                isinstance(node.value, ast.Name) and node.value.id == "self"):
            found.append(f"{line}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in PRIVATE_NAMES:
            found.append(f"{line}: {node.id}")
        elif isinstance(node, ast.Tuple) and len(node.elts) == 3 and isinstance(
                first := node.elts[0], ast.Constant) and first.value in COLUMN_FAMILIES:
            found.append(f"{line}: a ({first.value!r}, key, value) record built by hand")
    return found


def test_no_module_outside_the_store_reaches_into_it() -> None:
    found = [v for path in outside_store()
             for v in violations(path.read_text(encoding="utf-8"),
                                 str(path.relative_to(PACKAGE.parent)))]
    assert not found, "\n".join(found)


def test_the_check_finds_what_it_looks_for() -> None:
    found = violations("from codegraph.store.rocks import text_key\n"
                       "from codegraph.store.edges import Record\n"
                       "def f(store, wire, wb):\n"
                       "    wb.put(text_key('r', 'p'), b'', store.handle['dirty'])\n"
                       "    store._scan('names', b'')\n"
                       "    return ('facts', b'k', b'v'), wire[12], self._db\n", "bad.py")
    assert len(found) == 7, found
