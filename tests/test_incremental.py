"""Incremental indexing through the library API, on real files and real RocksDB stores."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegraph.api import CodeGraph
from codegraph.index.walker import is_ignored
from codegraph.index.watch import watched
from codegraph.query.queries import QueryError
from helpers import dangling_edges, dump_store, mirrored_edges, touch_later, write_tree

UTIL = """\
def helper(x):
    return x + 1


def other():
    return 2
"""
SERVICE = """\
from app.util import helper


def run(v):
    return helper(v)


class Service:
    def go(self):
        return run(3)
"""
MAIN = """\
from app import service


def main():
    s = service.Service()
    return s.go() + service.run(1) + missing_func()
"""
PACKAGE = {"app/__init__.py": "", "app/util.py": UTIL, "app/service.py": SERVICE,
           "app/main.py": MAIN}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "app-repo", PACKAGE)


@pytest.fixture
def cg(tmp_path: Path, repo: Path) -> Iterator[CodeGraph]:
    with CodeGraph.open(str(tmp_path / "data")) as graph:
        report = graph.index(str(repo), workers=1)
        assert report.parsed == 4 and report.failed == 0 and report.problems == []
        yield graph


def names(results: list[dict[str, Any]]) -> set[str]:
    return {r["qualified_name"] for r in results}


def edges_of(results: list[dict[str, Any]]) -> set[tuple[str, str, float]]:
    return {(r["qualified_name"], r["resolution"], r["confidence"]) for r in results}


def check_consistent(data_dir: Path) -> dict[str, dict[bytes, bytes]]:
    """No dangling edge, ``in`` mirrors ``out``, no dirty mark left."""
    dump = dump_store(data_dir)
    assert dangling_edges(dump) == []
    assert mirrored_edges(dump)
    assert dump["dirty"] == {}
    return dump


def assert_like_a_clean_index(data: Path, repo: Path, clean: Path) -> None:
    """The store in ``data`` holds what a clean index of ``repo`` (made in ``clean``) holds."""
    updated = check_consistent(data)
    shutil.rmtree(clean, ignore_errors=True)
    with CodeGraph.open(str(clean)) as cg:
        cg.index(str(repo), workers=1)
    fresh = check_consistent(clean)
    for cf in ("nodes", "out", "in", "names", "qnames", "files", "facts", "deps", "chunks"):
        assert updated[cf] == fresh[cf], cf


def reopen(cg: CodeGraph, data_dir: Path) -> CodeGraph:
    """Close the writer (so that the store can be dumped) and open it again."""
    cg.close()
    check_consistent(data_dir)
    return CodeGraph.open(str(data_dir))


def test_initial_graph(cg: CodeGraph, tmp_path: Path) -> None:
    assert edges_of(cg.callers("app.util.helper")) == {("app.service.run", "import", 1.0)}
    assert names(cg.callers("run")) == {"app.service.Service.go", "app.main.main"}
    assert names(cg.callees("app.main.main")) == {
        "app.service.Service", "app.service.Service.go", "app.service.run", "missing_func"}
    cg.close()
    check_consistent(tmp_path / "data")


def test_edit_function_body(cg: CodeGraph, repo: Path) -> None:
    before_callers = cg.callers("app.util.helper")
    before_ids = {r["id"] for r in cg.symbols("helper")}
    revision = cg.revision
    touch_later(repo / "app/util.py", UTIL.replace("x + 1", "x * 2 + sum([x, 1])"))
    report = cg.index(str(repo), workers=1)
    assert (report.parsed, report.unchanged, report.deleted) == (1, 3, 0)
    assert cg.revision > revision
    assert cg.callers("app.util.helper") == before_callers
    assert {r["id"] for r in cg.symbols("helper")} == before_ids
    # the new body's call to a builtin is there
    assert "builtins.sum" in names(cg.callees("app.util.helper"))


def test_rename_function(cg: CodeGraph, repo: Path, tmp_path: Path) -> None:
    touch_later(repo / "app/util.py", UTIL.replace("helper", "assist"))
    report = cg.index(str(repo), workers=1)
    assert report.parsed == 1
    assert report.resolved >= 2  # util.py and its caller service.py, without parsing it
    # the old name is now an external symbol: its callers are the old callers
    assert [(r["qualified_name"], r["resolution"]) for r in cg.callers("app.util.helper")] == [
        ("app.service.run", "external")]
    assert cg.callers("assist") == []
    targets = cg.callees("app.service.run")
    assert [(t["kind"], t["qualified_name"], t["resolution"]) for t in targets] == [
        ("external", "app.util.helper", "external")]
    cg = reopen(cg, tmp_path / "data")
    touch_later(repo / "app/service.py", SERVICE.replace("helper", "assist"))
    report = cg.index(str(repo), workers=1)
    assert report.parsed == 1
    assert edges_of(cg.callers("app.util.assist")) == {("app.service.run", "import", 1.0)}
    cg.close()
    check_consistent(tmp_path / "data")


def test_delete_file(cg: CodeGraph, repo: Path, tmp_path: Path) -> None:
    util_ids = {r["id"] for r in cg.outline("app/util.py")}
    assert len(util_ids) == 2
    (repo / "app/util.py").unlink()
    report = cg.index(str(repo), workers=1)
    assert (report.parsed, report.deleted, report.files) == (0, 1, 3)
    assert cg.symbols("other", kind="function") == []
    with pytest.raises(QueryError):
        cg.outline("app/util.py")
    run_targets = cg.callees("app.service.run")
    assert [(t["kind"], t["resolution"]) for t in run_targets] == [("external", "external")]
    assert names(cg.refs("app.service.run")) == {"app.service.Service.go", "app.main.main"}
    cg.close()
    dump = check_consistent(tmp_path / "data")
    stored = {k.hex() for k in dump["nodes"]}
    assert not util_ids & stored
    assert not any(k.startswith(b"app-repo\0app/util.py") for cf in ("files", "facts", "deps")
                   for k in dump[cf])


def test_new_file_resolves_unchanged_caller(cg: CodeGraph, repo: Path, tmp_path: Path) -> None:
    assert edges_of(cg.callees("app.main.main")) >= {("missing_func", "external", 0.3)}
    write_tree(repo, {"app/extra.py": "def missing_func():\n    return 0\n"})
    report = cg.index(str(repo), workers=1)
    assert (report.parsed, report.unchanged) == (1, 4)
    assert edges_of(cg.callers("missing_func")) == {("app.main.main", "name_match", 0.9)}
    assert "missing_func" not in names(cg.callees("app.main.main"))
    cg.close()
    check_consistent(tmp_path / "data")


def test_unchanged_rerun_parses_nothing(cg: CodeGraph, repo: Path) -> None:
    report = cg.index(str(repo), workers=1)
    assert (report.parsed, report.unchanged, report.resolved, report.deleted) == (0, 4, 0, 0)
    # touched but identical content: hashed, not parsed
    touch_later(repo / "app/main.py", MAIN)
    report = cg.index(str(repo), workers=1)
    assert (report.parsed, report.unchanged, report.resolved) == (0, 4, 0)


def test_incremental_equals_clean_build(cg: CodeGraph, repo: Path, tmp_path: Path) -> None:
    touch_later(repo / "app/util.py", UTIL.replace("helper", "assist") + "\n\ndef helper():\n"
                "    return assist(1)\n")
    write_tree(repo, {"app/extra.py": "from app.util import other\n\n\ndef missing_func():\n"
                                      "    return other()\n"})
    cg.index(str(repo), workers=1)
    (repo / "app/service.py").unlink()
    cg.index(str(repo), workers=1)
    cg.close()
    incremental = check_consistent(tmp_path / "data")
    with CodeGraph.open(str(tmp_path / "clean")) as clean:
        clean.index(str(repo), workers=1)
    fresh = check_consistent(tmp_path / "clean")
    # externals are shared and never collected: the incremental store may keep more of them
    assert {k: v for k, v in incremental["nodes"].items() if k in fresh["nodes"]} == \
        fresh["nodes"]
    for cf in ("out", "in", "names", "qnames", "files", "facts", "deps"):
        extra = {k for k in incremental[cf].keys() - fresh[cf].keys()
                 if cf not in ("names", "qnames") or k[-8:] in fresh["nodes"]}
        assert extra == set(), cf
        assert fresh[cf].items() <= incremental[cf].items(), cf


def test_package_init_removed_or_added_renames_modules(tmp_path: Path) -> None:
    """Removing a package's ``__init__.py`` renames the modules below it (``lib.pkg.util``
    becomes ``pkg.util``), although their files did not change: their nodes are replaced,
    and the store equals a clean build; adding it back names them as before."""
    repo = write_tree(tmp_path / "repo", {
        "lib/__init__.py": "", "lib/pkg/__init__.py": "",
        "lib/pkg/util.py": "def helper():\n    return 1\n",
        "main.py": "from lib.pkg.util import helper\n\n\ndef main():\n    return helper()\n"})
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)
        assert names(cg.callers("lib.pkg.util.helper")) == {"main.main"}
        (repo / "lib/__init__.py").unlink()
        report = cg.index(str(repo), workers=1)
        assert (report.deleted, report.parsed) == (1, 2)  # lib/pkg/__init__.py, util.py
        assert names(cg.symbols("helper")) == {"pkg.util.helper"}
    assert_like_a_clean_index(data, repo, tmp_path / "clean")
    write_tree(repo, {"lib/__init__.py": ""})
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)
        assert names(cg.callers("lib.pkg.util.helper")) == {"main.main"}
    check_consistent(data)


def test_full_rebuild_is_deterministic(cg: CodeGraph, repo: Path, tmp_path: Path) -> None:
    cg.close()
    before = check_consistent(tmp_path / "data")
    with CodeGraph.open(str(tmp_path / "data")) as again:
        report = again.index(str(repo), full=True, workers=1)
        assert report.parsed == 4
    after = check_consistent(tmp_path / "data")
    assert after == before


def test_node_ids_deterministic_across_stores(tmp_path: Path) -> None:
    dumps = []
    for i in (1, 2):
        tree = write_tree(tmp_path / f"copy{i}" / "app-repo", PACKAGE)
        with CodeGraph.open(str(tmp_path / f"data{i}")) as graph:
            graph.index(str(tree), workers=1 if i == 1 else 4)
        dumps.append(dump_store(tmp_path / f"data{i}"))
    first, second = dumps
    assert first["nodes"].keys() == second["nodes"].keys()
    assert first["out"] == second["out"]
    for cf in ("names", "qnames", "deps"):
        assert first[cf] == second[cf]


def test_two_repositories_in_one_store(tmp_path: Path) -> None:
    a = write_tree(tmp_path / "alpha", PACKAGE)
    b = write_tree(tmp_path / "beta", {
        "lib/__init__.py": "", "lib/util.py": UTIL,
        "lib/use.py": "from lib.util import helper\n\n\ndef use():\n    return helper(2)\n"})
    with CodeGraph.open(str(tmp_path / "data")) as graph:
        assert graph.index(str(a), workers=1).repo == "alpha"
        assert graph.index(str(b), workers=1).repo == "beta"
        assert set(graph.stats()["repositories"]) == {"alpha", "beta"}
        both = graph.symbols("helper", kind="function")
        assert {(r["repo"], r["qualified_name"]) for r in both} == {
            ("alpha", "app.util.helper"), ("beta", "lib.util.helper")}
        assert [r["repo"] for r in graph.symbols("helper", repo="beta")] == ["beta"]
        assert names(graph.callers("helper", repo="alpha")) == {"app.service.run"}
        assert names(graph.callers("helper", repo="beta")) == {"lib.use.use"}
        assert names(graph.callers("helper")) == {"app.service.run", "lib.use.use"}
        with pytest.raises(QueryError, match="repository 'beta'"):
            graph.definition("app.service.run", repo="beta")
        assert graph.stats("alpha")["files"] == 4 and graph.stats("beta")["files"] == 3
        # re-indexing one repository leaves the other alone
        shutil.rmtree(b / "lib")
        report = graph.index(str(b), workers=1)
        assert report.deleted == 3
        assert graph.stats("beta")["files"] == 0
        assert graph.stats("alpha")["files"] == 4
        assert names(graph.callers("helper")) == {"app.service.run"}
    check_consistent(tmp_path / "data")


def test_same_basename_gets_a_new_name(tmp_path: Path) -> None:
    first = write_tree(tmp_path / "one" / "proj", {"m.py": "def f():\n    pass\n"})
    second = write_tree(tmp_path / "two" / "proj", {"m.py": "def f():\n    pass\n"})
    with CodeGraph.open(str(tmp_path / "data")) as graph:
        assert graph.index(str(first), workers=1).repo == "proj"
        assert graph.index(str(second), workers=1).repo == "proj-2"
        assert graph.index(os.path.join(str(first), "."), workers=1).repo == "proj"
        assert len(graph.definition("m.f")) == 2


def test_another_definition_of_a_matched_name(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "r", {"lib1.py": "def shared():\n    pass\n",
                                       "user.py": "def use():\n    return shared()\n"})
    with CodeGraph.open(str(tmp_path / "data")) as graph:
        graph.index(str(repo), workers=1)
        assert edges_of(graph.callees("user.use")) == {("lib1.shared", "name_match", 0.9)}
        # lib1 already defined a "shared": the name set of the file does not change
        # (a method named so is no candidate for a bare name: it needs a receiver)
        touch_later(repo / "lib1.py", "def shared():\n    pass\n\n\nclass K:\n"
                                      "    def shared(self):\n        pass\n\n\n"
                                      "class shared:\n    pass\n")
        assert graph.index(str(repo), workers=1).parsed == 1
        assert edges_of(graph.callees("user.use")) == {("lib1.shared", "name_match", 0.45)}


def test_re_export_changes(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "r", {
        "app/__init__.py": "", "app/core.py": "def thing():\n    return 1\n",
        "app/other.py": "def thing():\n    return 2\n",
        "app/api.py": "from app.core import thing\n",
        "client.py": "from app.api import thing\n\n\ndef go():\n    return thing()\n"})
    with CodeGraph.open(str(tmp_path / "data")) as graph:
        graph.index(str(repo), workers=1)
        assert edges_of(graph.callees("client.go")) == {("app.core.thing", "import", 1.0)}
        touch_later(repo / "app/api.py", "from app.other import thing\n")
        assert graph.index(str(repo), workers=1).parsed == 1
        assert edges_of(graph.callees("client.go")) == {("app.other.thing", "import", 1.0)}
        (repo / "app/api.py").unlink()
        assert graph.index(str(repo), workers=1).deleted == 1
        assert edges_of(graph.callees("client.go")) == {("app.api.thing", "external", 1.0)}
    check_consistent(tmp_path / "data")


FUZZ_NAMES = ("alpha", "beta", "gamma", "delta")
FUZZ_MODULES = ("a", "b", "c", "sub/d", "sub/e")


def fuzz_module(rnd: random.Random, own: str) -> str:
    """Imports (plain, from, wildcard, re-exports), functions, and one class per module
    (so that base classes are never ambiguous) calling each other."""
    lines = []
    for _ in range(rnd.randint(0, 3)):
        other = rnd.choice(FUZZ_MODULES)
        mod = "pkg." + other.replace("/", ".")
        lines.append(rnd.choice([f"from {mod} import {rnd.choice(FUZZ_NAMES)}",
                                 f"from {mod} import K{other[-1]}", f"import {mod}",
                                 f"from {mod} import *"]))
    for name in rnd.sample(FUZZ_NAMES, rnd.randint(0, 3)):
        lines += [f"def {name}():", f"    return {rnd.choice(FUZZ_NAMES)}()"]
    if rnd.random() < 0.5:
        base = f"K{rnd.choice(FUZZ_MODULES)[-1]}"
        lines += [f"class K{own[-1]}({base}):", f"    def {rnd.choice(FUZZ_NAMES)}(self):",
                  f"        return self.{rnd.choice(FUZZ_NAMES)}()"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(int(os.environ.get("FUZZ_SEEDS", "6"))))
def test_random_edits_equal_a_clean_build(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    repo = write_tree(tmp_path / "repo", {"pkg/__init__.py": "", "pkg/sub/__init__.py": ""})
    for step in range(8):
        for module in rnd.sample(FUZZ_MODULES, rnd.randint(1, 3) if step else 5):
            path = repo / f"pkg/{module}.py"
            if step and rnd.random() < 0.2:
                path.unlink(missing_ok=True)
            elif path.exists():
                touch_later(path, fuzz_module(rnd, module))
            else:
                path.write_text(fuzz_module(rnd, module))
        with CodeGraph.open(str(tmp_path / "data")) as graph:
            graph.index(str(repo), workers=1)
        shutil.rmtree(tmp_path / "clean", ignore_errors=True)
        with CodeGraph.open(str(tmp_path / "clean")) as graph:
            graph.index(str(repo), workers=1)
        incremental, clean = check_consistent(tmp_path / "data"), dump_store(tmp_path / "clean")
        for cf in ("nodes", "out", "in", "names", "qnames", "files", "facts", "deps", "chunks"):
            assert incremental[cf] == clean[cf], (step, cf)


GO_SHOP = {
    "go.mod": "module example.com/shop\n\ngo 1.22\n",
    "util/util.go": "package util\n\nfunc Helper() int { return 1 }\n",
    "cmd/main.go": 'package main\n\nimport "example.com/shop/util"\n\n'
                   "func main() { util.Helper() }\n",
}


def test_go_mod_edited_or_removed_renames_the_modules_below_it(tmp_path: Path) -> None:
    """``go.mod`` names the modules of the Go files below it. The files did not change,
    but their modules did: their nodes are replaced, and the store equals a clean index."""
    repo = write_tree(tmp_path / "repo", GO_SHOP)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)
        assert names(cg.callers("example.com/shop/util.Helper")) == {"example.com/shop/cmd.main"}
        touch_later(repo / "go.mod", "module example.com/store\n\ngo 1.22\n")
        report = cg.index(str(repo), workers=1)
        assert (report.parsed, report.unchanged) == (2, 0)
        assert names(cg.symbols("Helper")) == {"example.com/store/util.Helper"}
        # main.go still imports example.com/shop/util: now outside the repository
        assert names(cg.callees("example.com/store/cmd.main")) == {"example.com/shop/util.Helper"}
    assert_like_a_clean_index(data, repo, tmp_path / "clean")
    (repo / "go.mod").unlink()
    with CodeGraph.open(str(data)) as cg:
        assert cg.index(str(repo), workers=1).parsed == 2
        assert names(cg.symbols("Helper")) == {"util.Helper"}
    assert_like_a_clean_index(data, repo, tmp_path / "clean")
    with CodeGraph.open(str(data)) as cg:  # nothing changed: nothing parsed
        assert cg.index(str(repo), workers=1).parsed == 0


def test_cargo_toml_crate_renamed_renames_the_modules_below_it(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", {
        "Cargo.toml": '[package]\nname = "alpha"\nversion = "0.1.0"\n',
        "src/lib.rs": "pub mod util;\n\npub fn run() -> i32 { util::helper() }\n",
        "src/util.rs": "pub fn helper() -> i32 { 1 }\n",
        "app/main.py": "def main():\n    return 1\n"})
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)
        assert names(cg.callers("alpha::util::helper")) == {"alpha::run"}
        touch_later(repo / "Cargo.toml", '[package]\nname = "beta"\nversion = "0.1.0"\n')
        report = cg.index(str(repo), workers=1)
        assert (report.parsed, report.unchanged) == (2, 1)  # not the Python file
        assert names(cg.callers("beta::util::helper")) == {"beta::run"}
    assert_like_a_clean_index(data, repo, tmp_path / "clean")


def test_a_watched_go_mod_change_is_a_complete_run(tmp_path: Path) -> None:
    """What the watcher hands over: a naming file among the changed paths."""
    repo = write_tree(tmp_path / "repo", GO_SHOP)
    assert not is_ignored(str(repo), "go.mod", language_for=watched)
    assert is_ignored(str(repo), "go.sum", language_for=watched)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        report = cg.index(str(repo), workers=1)
        touch_later(repo / "go.mod", "module example.com/store\n\ngo 1.22\n")
        update = cg.indexer().update_paths(report.repo, report.root, ["go.mod"])
        assert update.parsed == 2
        assert names(cg.symbols("Helper")) == {"example.com/store/util.Helper"}
    assert_like_a_clean_index(data, repo, tmp_path / "clean")


def test_a_watched_ignore_file_change_is_a_complete_run(tmp_path: Path) -> None:
    """What the watcher hands over: an ignore file among the changed paths (its rules decide
    which files are walked, and its problems are its own), then a name that is not UTF-8,
    added and removed: each run ends like a clean index."""
    repo = write_tree(tmp_path / "repo", PACKAGE)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        report = cg.index(str(repo), workers=1)
        (repo / ".gitignore").write_text("main.py\nfoo[\n")
        update = cg.indexer(1).update_paths(report.repo, report.root, [".gitignore"])
        assert (update.deleted, update.problems) == (1, [
            (".gitignore", "line 2: 'foo[' never matches: a '[' is never closed (git ignores "
                           "it)")])
        assert {p["path"] for p in cg.stats()["problems"]} == {".gitignore"}
    assert_like_a_clean_index(data, repo, tmp_path / "clean")
    bad = os.fsdecode(b"app/bad\xff.py")
    with CodeGraph.open(str(data)) as cg:
        (repo / ".gitignore").write_text("main.py\n")  # fixed
        assert cg.indexer(1).update_paths(report.repo, report.root, [".gitignore"]).problems \
            == []
        (repo / bad).write_text("x = 1\n")
        update = cg.indexer(1).update_paths(report.repo, report.root, [bad])
        assert update.problems == [("app/bad\\xff.py", "name is not valid UTF-8")]
        assert {p["path"] for p in cg.stats()["problems"]} == {"app/bad\\xff.py"}
        (repo / bad).unlink()
        update = cg.indexer(1).update_paths(report.repo, report.root, [bad])
        assert (update.deleted, cg.stats()["problems"]) == (1, [])
    assert_like_a_clean_index(data, repo, tmp_path / "clean")
