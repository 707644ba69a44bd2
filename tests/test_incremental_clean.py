"""An incremental run leaves the store exactly as a clean index would: the cases where it
did not (found on Django and by the property test in test_incremental_property.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from codegraph.api import CodeGraph
from codegraph.graph.model import external_id
from codegraph.store.rocks import unpack
from helpers import (
    dangling_edges,
    dump_store,
    mirrored_edges,
    sited_edges,
    touch_later,
    write_tree,
)

COLUMN_FAMILIES = ("nodes", "out", "in", "names", "qnames", "files", "facts", "deps", "dirty",
                   "chunks", "external_sites")


def index(data: Path, repo: Path) -> None:
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)


def assert_clean(data: Path, repo: Path, clean: Path) -> dict[str, dict[bytes, bytes]]:
    """Every column family of the store in ``data`` equals a clean index's of ``repo``."""
    shutil.rmtree(clean, ignore_errors=True)
    index(clean, repo)
    got, want = dump_store(data), dump_store(clean)
    assert dangling_edges(got) == [] and mirrored_edges(got) and sited_edges(got)
    for cf in COLUMN_FAMILIES:
        assert got[cf] == want[cf], cf
    return got


def callees(data: Path, symbol: str) -> set[tuple[str, str]]:
    with CodeGraph.open(str(data), readonly=True) as cg:
        return {(r["qualified_name"], r["kind"]) for r in cg.callees(symbol)}


def externals(dump: dict[str, dict[bytes, bytes]]) -> set[tuple[str, str]]:
    """(qualified name, language) of the external nodes."""
    return {(w[2], w[3]) for v in dump["nodes"].values() if (w := unpack(v))[0] == "external"}


QUERY = """\
class QuerySet:
    def as_manager(cls):
        return cls()

    as_manager = classmethod(as_manager)


class BaseQuerySet:
    def as_manager(cls):
        return cls()

    as_manager = classmethod(as_manager)
"""
MODELS = """\
from app.query import BaseQuerySet, QuerySet


class TeacherQuerySet(QuerySet):
    pass


class StudentQuerySet(BaseQuerySet):
    pass


def make():
    return TeacherQuerySet.as_manager(), StudentQuerySet.as_manager()
"""


def test_a_method_and_an_attribute_of_one_name(tmp_path: Path) -> None:
    # Django's QuerySet: ``as_manager = classmethod(as_manager)``. A clean index took the
    # method; an incremental run, reading the unchanged file's symbols from the store in
    # key (id) order, took the attribute for one of the two classes (whose ids sort the
    # attribute first: here BaseQuerySet's, in a repository named "repo").
    repo = write_tree(tmp_path / "repo", {"app/__init__.py": "", "app/query.py": QUERY,
                                          "app/models.py": MODELS})
    data = tmp_path / "data"
    index(data, repo)
    want = {("app.query.QuerySet.as_manager", "method"),
            ("app.query.BaseQuerySet.as_manager", "method")}
    assert callees(data, "app.models.make") == want
    touch_later(repo / "app/models.py", MODELS + "\n\ndef unrelated():\n    return 1\n")
    index(data, repo)
    assert callees(data, "app.models.make") == want
    assert_clean(data, repo, tmp_path / "clean")


BASES = """\
class Alpha:
    def run(self):
        return 1


class Omega:
    def run(self):
        return 2


class Both(Alpha, Omega):
    pass
"""
CHILD = """\
from app.bases import Both


class Child(Both):
    def go(self):
        return self.run()
"""


def test_bases_in_declaration_order(tmp_path: Path) -> None:
    # ``self.run()`` finds Alpha.run, the first base declared. A clean run kept the bases
    # in declaration order; an incremental one read them back from the stored edges, in
    # the order of the bases' ids (Omega's sorts first here).
    repo = write_tree(tmp_path / "repo", {"app/__init__.py": "", "app/bases.py": BASES,
                                          "app/child.py": CHILD})
    data = tmp_path / "data"
    index(data, repo)
    assert callees(data, "app.child.Child.go") == {("app.bases.Alpha.run", "method")}
    touch_later(repo / "app/child.py", CHILD + "\n\ndef unrelated():\n    return 1\n")
    index(data, repo)
    assert callees(data, "app.child.Child.go") == {("app.bases.Alpha.run", "method")}
    assert_clean(data, repo, tmp_path / "clean")


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


def test_an_external_node_goes_with_its_last_edge(tmp_path: Path) -> None:
    # ``json.dumps`` is called from two files: it stays while one of them does, and goes
    # with the last call (edited out, then the file deleted), in the batch that removes it.
    call = "import json\n\n\ndef dump(x):\n    return json.dumps(x)\n"
    repo = write_tree(tmp_path / "repo", {"a.py": call, "b.py": call})
    other = write_tree(tmp_path / "other", {"c.py": call})
    data = tmp_path / "data"
    index(data, repo)
    index(data, other)  # a second repository in the store, with the same external
    dumps = ("json.dumps", "python")
    touch_later(repo / "a.py", "def dump(x):\n    return x\n")
    index(data, repo)
    assert dumps in externals(dump_store(data))
    (repo / "b.py").unlink()
    index(data, repo)
    assert dumps in externals(dump_store(data))  # c.py, in the other repository, calls it
    with CodeGraph.open(str(data)) as cg:
        cg.indexer(workers=1).remove_repo("other")
    assert dumps not in externals(dump_store(data))
    assert_clean(data, repo, tmp_path / "clean")


def test_a_watched_package_init_removed_then_added(tmp_path: Path) -> None:
    # The watcher hands over just the ``__init__.py``: the modules below it are renamed
    # (``lib.pkg.util`` <-> ``pkg.util``), so the files that hold them are parsed again.
    repo = write_tree(tmp_path / "repo", {
        "lib/__init__.py": "", "lib/pkg/__init__.py": "",
        "lib/pkg/util.py": "def helper():\n    return 1\n",
        "main.py": "from lib.pkg.util import helper\n\n\ndef main():\n    return helper()\n"})
    data = tmp_path / "data"
    index(data, repo)
    for change in (Path.unlink, lambda path: path.write_text("")):
        change(repo / "lib/pkg/__init__.py")
        with CodeGraph.open(str(data)) as cg:
            cg.indexer(workers=1).update_paths("repo", str(repo), ["lib/pkg/__init__.py"])
        assert_clean(data, repo, tmp_path / "clean")


def test_one_name_in_two_files(tmp_path: Path) -> None:
    # ``app/util.py`` and ``app/util/__init__.py`` both hold module ``app.util``: an import
    # of its ``helper`` takes the first file's by path, whichever files a run parses (the
    # symbols of a run's files came first, then the stored ones).
    main = "from app.util import helper\n\n\ndef main():\n    return helper()\n"
    repo = write_tree(tmp_path / "repo", {
        "app/__init__.py": "", "app/util.py": "def helper():\n    return 1\n",
        "app/util/__init__.py": "def helper():\n    return 2\n", "main.py": main})
    data = tmp_path / "data"
    index(data, repo)
    assert callees(data, "main.main") == {("app.util.helper", "function")}
    touch_later(repo / "app/util/__init__.py", "def helper():\n    return 3\n")
    touch_later(repo / "main.py", main + "\n\ndef unrelated():\n    return 1\n")
    index(data, repo)
    with CodeGraph.open(str(data), readonly=True) as cg:
        assert [r["path"] for r in cg.callees("main.main")] == ["app/util.py"]
    assert_clean(data, repo, tmp_path / "clean")
