"""Every query command of the ``codegraph`` CLI, with and without ``--json``, in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import one_line_error, run_cli, run_json, write_tree

MODELS = """\
from shop import pricing


class Item:
    def __init__(self, price):
        self.price = price

    def total(self, qty):
        return pricing.compute(self, qty)


def make_item(price):
    return Item(price)
"""
PRICING = """\
from shop.models import Item

TAX = 0.2


def compute(item, qty):
    return apply_tax(item.price * qty)


def apply_tax(amount):
    return amount * (1 + TAX)


def describe(item: Item) -> str:
    return str(item)
"""
CART = """\
from shop.models import make_item


class Cart:
    def add(self, price):
        item = make_item(price)
        return item.total(1)


def checkout():
    return Cart().add(10)
"""
REPORT = """\
import json

from shop.cart import checkout


def report():
    return json.dumps(checkout())
"""
SHOP = {"shop/__init__.py": "", "shop/models.py": MODELS, "shop/pricing.py": PRICING,
        "shop/cart.py": CART, "tools/report.py": REPORT}
OTHER = {"calc.py": "def compute(x):\n    return x\n\n\ndef use():\n    return compute(1)\n"}

NODE_FIELDS = {"id", "name", "qualified_name", "kind", "language", "repo", "path", "line",
               "end_line"}
EDGE_FIELDS = NODE_FIELDS | {"site_line", "resolution", "confidence"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the shop repository, the data dir): shop-repo and a second repository, other."""
    base = tmp_path_factory.mktemp("cli")
    repo = write_tree(base / "shop-repo", SHOP)
    other = write_tree(base / "other", OTHER)
    data = base / "data"
    for path in (repo, other):
        code, out, err = run_cli("index", str(path), "--json", data_dir=data)
        assert code == 0, err
        assert json.loads(out)["failed"] == 0
    return repo, data


def results(data: Path, *args: str) -> list[dict[str, Any]]:
    body = run_json(*args, data_dir=data)
    assert {"results", "revision", "total", "next_cursor"} <= set(body)
    found: list[dict[str, Any]] = body["results"]
    return found


def qnames(items: list[dict[str, Any]]) -> list[str]:
    return [r["qualified_name"] for r in items]


def human(data: Path, *args: str, cwd: str | None = None) -> list[str]:
    code, out, err = run_cli(*args, data_dir=data, cwd=cwd)
    assert code == 0, err
    assert err == ""
    return out.splitlines()


def test_node_and_edge_fields(store: tuple[Path, Path]) -> None:
    _, data = store
    for args in (("symbols", "compute"), ("def", "compute"), ("outline", "shop/cart.py")):
        items = results(data, *args)
        assert items, args
        for item in items:
            assert item.keys() >= NODE_FIELDS, args
            assert item["language"] == "python" and item["line"] <= item["end_line"]
    for args in (("refs", "Item"), ("callers", "compute"), ("callees", "checkout"),
                 ("impact", "apply_tax")):
        items = results(data, *args)
        assert items, args
        for item in items:
            assert item.keys() >= EDGE_FIELDS, args
            assert 0 < item["confidence"] <= 1 and item["site_line"] >= 1


def test_symbols_exact_prefix_fuzzy(store: tuple[Path, Path]) -> None:
    _, data = store
    exact = results(data, "symbols", "compute")
    assert sorted((r["qualified_name"], r["match"], r["score"]) for r in exact) == [
        ("calc.compute", "exact", 1.0), ("shop.pricing.compute", "exact", 1.0)]
    first = results(data, "symbols", "shop.pricing.compute")[0]
    assert (first["qualified_name"], first["match"]) == ("shop.pricing.compute", "exact")
    prefix = results(data, "symbols", "apply")
    assert [(r["qualified_name"], r["match"], r["score"]) for r in prefix] == [
        ("shop.pricing.apply_tax", "prefix", 0.8)]
    fuzzy = results(data, "symbols", "chekout")
    assert fuzzy[0]["qualified_name"] == "shop.cart.checkout"
    assert fuzzy[0]["match"] == "fuzzy" and 0 < fuzzy[0]["score"] < 0.8
    assert human(data, "symbols", "apply") == [
        "shop-repo:shop/pricing.py:10  function shop.pricing.apply_tax"]
    assert len(results(data, "symbols", "c", "--limit", "2")) == 2


def test_symbols_filters(store: tuple[Path, Path]) -> None:
    _, data = store
    assert qnames(results(data, "symbols", "Item", "--kind", "class")) == ["shop.models.Item"]
    assert {r["kind"] for r in results(data, "symbols", "c", "--kind", "method")} <= {"method"}
    assert results(data, "symbols", "compute", "--lang", "go") == []
    assert len(results(data, "symbols", "compute", "--lang", "python")) == 2
    assert qnames(results(data, "symbols", "compute", "--repo", "other")) == ["calc.compute"]
    assert qnames(results(data, "symbols", "compute", "--repo", "shop-repo")) == [
        "shop.pricing.compute"]
    assert set(qnames(results(data, "symbols", "report", "--path", "tools/*"))) == {
        "tools.report", "tools.report.report"}  # the module and the function
    assert results(data, "symbols", "compute", "--path", "tools/*") == []
    assert human(data, "symbols", "compute", "--lang", "go") == ["(no results)"]


def test_def_plain_and_qualified(store: tuple[Path, Path]) -> None:
    _, data = store
    both = results(data, "def", "compute")
    assert [(r["repo"], r["path"], r["line"]) for r in both] == [
        ("other", "calc.py", 1), ("shop-repo", "shop/pricing.py", 6)]
    assert qnames(results(data, "def", "shop.pricing.compute")) == ["shop.pricing.compute"]
    assert qnames(results(data, "def", "pricing.compute")) == ["shop.pricing.compute"]
    assert qnames(results(data, "def", "compute", "--repo", "other")) == ["calc.compute"]
    assert qnames(results(data, "def", "Item.total")) == ["shop.models.Item.total"]
    assert human(data, "def", "shop.models.Item") == [
        "shop-repo:shop/models.py:4  class shop.models.Item"]


def test_refs_callers_callees(store: tuple[Path, Path]) -> None:
    _, data = store
    refs = results(data, "refs", "shop.models.Item")
    assert {(r["qualified_name"], r["edge"], r["resolution"]) for r in refs} == {
        ("shop.pricing", "imports", "import"),
        ("shop.pricing.describe", "references", "import"),
        ("shop.models.make_item", "calls", "same_scope")}
    callers = results(data, "callers", "compute")
    assert {(r["qualified_name"], r["site_line"], r["resolution"], r["confidence"])
            for r in callers} == {("shop.models.Item.total", 9, "import", 1.0),
                                  ("calc.use", 6, "same_scope", 0.9)}
    assert qnames(results(data, "callers", "compute", "--repo", "other")) == ["calc.use"]
    assert human(data, "callers", "shop.pricing.compute") == [
        "shop-repo:shop/models.py:9  method shop.models.Item.total  [calls import 1.00]"]
    callees = results(data, "callees", "tools.report.report")
    assert {(r["qualified_name"], r["kind"], r["resolution"]) for r in callees} == {
        ("shop.cart.checkout", "function", "import"), ("json.dumps", "external", "external")}
    assert results(data, "callers", "tools.report.report") == []


def test_edge_commands_human_output(store: tuple[Path, Path]) -> None:
    _, data = store
    # callers and refs: where the use is; callees: where the callee is defined
    assert human(data, "refs", "shop.pricing.describe") == ["(no results)"]
    assert "shop-repo:shop/pricing.py:14  function shop.pricing.describe  " \
        "[references import 1.00]" in human(data, "refs", "shop.models.Item")
    assert human(data, "callees", "tools.report.report") == [
        "(external)  external json.dumps  [calls external 1.00]",
        "shop-repo:shop/cart.py:10  function shop.cart.checkout  [calls import 1.00]"]
    assert human(data, "impact", "apply_tax", "--depth", "2") == [
        "shop-repo:shop/pricing.py:7  function shop.pricing.compute  [calls same_scope 0.90]",
        "shop-repo:shop/models.py:9  method shop.models.Item.total  [calls import 1.00]"]


def test_impact_depth(store: tuple[Path, Path]) -> None:
    _, data = store
    chain = ["shop.pricing.compute", "shop.models.Item.total", "shop.cart.Cart.add",
             "shop.cart.checkout", "tools.report.report"]
    assert qnames(results(data, "impact", "apply_tax", "--depth", "1")) == chain[:1]
    two = results(data, "impact", "apply_tax", "--depth", "2")
    assert [(r["qualified_name"], r["depth"]) for r in two] == [(chain[0], 1), (chain[1], 2)]
    assert qnames(results(data, "impact", "apply_tax")) == chain[:3]  # default depth 3
    deep = results(data, "impact", "apply_tax", "--depth", "6")
    # checkout's dependents: the surest first, then in file order (the import, the call)
    assert [(r["qualified_name"], r["depth"]) for r in deep] == [
        *((name, i + 1) for i, name in enumerate(chain[:4])), ("tools.report", 5),
        (chain[4], 5)]
    for bad in ("0", "10"):  # the bounds of every interface (query/catalog.py)
        code, _, err = run_cli("impact", "apply_tax", "--depth", bad, data_dir=data)
        one_line_error(code, err, "depth must be between 1 and 6")


def test_outline_paths(store: tuple[Path, Path], tmp_path: Path) -> None:
    repo, data = store
    expected = [("shop.models.Item", 0), ("shop.models.Item.__init__", 1),
                ("shop.models.Item.total", 1), ("shop.models.make_item", 0)]
    for cwd, arg in ((repo, "shop/models.py"), (repo / "shop", "models.py"),
                     (repo / "tools", "../shop/models.py"), (tmp_path, "shop/models.py"),
                     (tmp_path, str(repo / "shop/models.py"))):
        body = run_json_in(data, str(cwd), "outline", arg)
        assert [(r["qualified_name"], r["depth"]) for r in body] == expected, (cwd, arg)
    lines = human(data, "outline", "models.py", cwd=str(repo / "shop"))
    assert lines[:2] == ["shop-repo:shop/models.py:4  class shop.models.Item",
                         "shop-repo:shop/models.py:5    constructor shop.models.Item.__init__"]
    code, _, err = run_cli("outline", "nope.py", data_dir=data)
    one_line_error(code, err, "nope.py is not indexed")


def run_json_in(data: Path, cwd: str, *args: str) -> list[dict[str, Any]]:
    code, out, err = run_cli(*args, "--json", data_dir=data, cwd=cwd)
    assert code == 0, err
    found: list[dict[str, Any]] = json.loads(out)["results"]
    return found


def test_deps_and_cycles(store: tuple[Path, Path]) -> None:
    _, data = store
    deps = {r["module"]: r for r in results(data, "deps", "--repo", "shop-repo")}
    assert {m: (r["imports"], r["external"]) for m, r in deps.items()} == {
        "shop": ([], []), "shop.cart": (["shop.models"], []),
        "shop.models": (["shop.pricing"], []), "shop.pricing": (["shop.models"], []),
        "tools.report": (["shop.cart"], ["json"])}
    assert deps["tools.report"]["path"] == "tools/report.py"
    assert {r["module"] for r in results(data, "deps")} == set(deps) | {"calc"}
    cycles = results(data, "deps", "--cycles")
    assert cycles == [{"modules": ["shop.models", "shop.pricing"], "size": 2,
                       "cycle": cycles[0]["cycle"]}]
    assert sorted(cycles[0]["cycle"][:2]) == ["shop.models", "shop.pricing"]
    assert cycles[0]["cycle"][0] == cycles[0]["cycle"][-1]
    assert human(data, "deps", "--cycles")[0] in (
        "shop.models -> shop.pricing -> shop.models",
        "shop.pricing -> shop.models -> shop.pricing")
    assert "tools.report: shop.cart" in human(data, "deps")
    assert results(data, "deps", "--cycles", "--repo", "other") == []


def test_stats(store: tuple[Path, Path]) -> None:
    _, data = store
    stats = run_json("stats", data_dir=data)
    assert set(stats["repositories"]) == {"shop-repo", "other"}
    assert stats["files"] == 6 and stats["files_by_status"] == {"ok": 6}
    assert stats["languages"] == {"python": 6}
    assert stats["problems"] == []
    shop = run_json("stats", "--repo", "shop-repo", data_dir=data)
    assert set(shop["repositories"]) == {"shop-repo"}
    assert shop["files"] == 5
    newlines = sum(text.count("\n") for text in SHOP.values())
    assert newlines <= shop["lines"] <= newlines + len(SHOP)  # (a last empty line may count)
    assert shop["nodes_by_kind"] == {"file": 5, "module": 5, "function": 6, "class": 2,
                                     "method": 2, "constructor": 1, "constant": 1}
    assert shop["nodes"] == sum(shop["nodes_by_kind"].values())
    assert shop["edges"] == sum(shop["edges_by_kind"].values())
    assert shop["edges"] == sum(shop["edges_by_resolution"].values())
    assert shop["edges_by_kind"]["imports"] == 5
    lines = human(data, "stats", "--repo", "other")
    assert "files       1 (ok 1)" in lines and lines[0].split()[0] == "revision"
    code, _, err = run_cli("stats", "--repo", "nope", data_dir=data)
    one_line_error(code, err, "no repository named 'nope'")


@pytest.mark.parametrize("command", ["def", "refs", "callers", "callees", "impact"])
def test_unknown_symbol(store: tuple[Path, Path], command: str) -> None:
    _, data = store
    for extra in ((), ("--json",)):
        code, out, err = run_cli(command, "no_such_thing", *extra, data_dir=data)
        one_line_error(code, err, "no symbol named 'no_such_thing'")
        assert out == ""
    code, _, err = run_cli(command, "compute", "--repo", "nope", data_dir=data)
    one_line_error(code, err, "no repository named 'nope'")  # (as HTTP's 404 and MCP say)


def test_bad_arguments(store: tuple[Path, Path]) -> None:
    _, data = store
    code, _, err = run_cli("symbols", "  ", data_dir=data)
    one_line_error(code, err, "query must not be empty")
    code, _, err = run_cli("impact", "compute", "--depth", "x", data_dir=data)
    one_line_error(code, err, "depth must be a whole number")


def test_data_dir_names_every_index_it_holds(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    """``--data-dir`` is read whole: the images set ROCKSDB_PATH and FAISS_INDEX_PATH, and a
    checkpoint read with ``--data-dir`` took its vectors from the live index."""
    from codegraph.api import CodeGraph
    from codegraph.config import load

    monkeypatch.setenv("ROCKSDB_PATH", str(tmp_path / "live" / "rocksdb"))
    monkeypatch.setenv("FAISS_INDEX_PATH", str(tmp_path / "live" / "faiss"))
    ckpt = tmp_path / "ckpt"
    flagged = load(data_dir=str(ckpt))
    assert (flagged.rocksdb_path, flagged.faiss_path) == (str(ckpt / "rocksdb"),
                                                          str(ckpt / "faiss"))
    assert load().faiss_path == str(tmp_path / "live" / "faiss")
    with CodeGraph.open(str(ckpt)) as cg:
        assert cg.search_service().vector_dir == str(ckpt / "faiss")
