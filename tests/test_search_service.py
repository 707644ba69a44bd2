"""Search end to end: real store, real local model, real FAISS, real SQLite FTS5.

Lexical, semantic and hybrid search through the library API and the CLI on small
multi-file, multi-language repositories: hit fields and score explanations, filters,
pagination, persistence, incremental re-embedding, model mismatch, partial coverage and
a failing embedding provider (an OpenAI-compatible server on 127.0.0.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codegraph.api import CodeGraph
from codegraph.query.paging import encode_cursor
from codegraph.search.fusion import DEFAULT, Ranking
from codegraph.search.service import MODES, EmbedReport, SearchError
from helpers import (
    cli_env,
    one_line_error,
    run_cli,
    touch_later,
    write_tree,
)
from search_corpus import CART, SHOP, TOOLS, default_search_config, stored_chunks  # noqa: F401

NODE_FIELDS = ("id", "name", "qualified_name", "kind", "language", "repo", "path", "line",
               "end_line")
# Queries whose results the module's store must give again after a close and reopen.
PROBES = [("sum the price of every item in the cart", "hybrid"),
          ("luhn checksum of a card number", "semantic"),
          ("config settings", "lexical"),
          ("retry a failed request with exponential backoff", "hybrid")]


def qnames(found: dict[str, Any]) -> list[str]:
    return [r["qualified_name"] for r in found["results"]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two repositories indexed and embedded by one writer, which is then closed; the
    results of PROBES before the close."""
    base = tmp_path_factory.mktemp("search")
    shop = write_tree(base / "shop-repo", SHOP)
    tools = write_tree(base / "tools-repo", TOOLS)
    data = base / "data"
    with CodeGraph.open(str(data)) as cg:
        for path, name in ((shop, "shop"), (tools, "tools")):
            report = cg.index(str(path), name=name, workers=1)
            assert report.failed == 0 and report.problems == []
        embed = cg.embed()
        before = {probe: cg.search(probe[0], mode=probe[1]) for probe in PROBES}
        coverage = cg.stats()["search"]
    return {"data": data, "shop": shop, "tools": tools, "embed": embed, "before": before,
            "coverage": coverage}


@pytest.fixture(scope="module")
def cg(built: dict[str, Any]) -> Iterator[CodeGraph]:
    """A new reader of the built store (a new CodeGraph and SearchService)."""
    with CodeGraph.open(str(built["data"]), readonly=True) as graph:
        yield graph


# -- hits, scores and the three modes ------------------------------------------------------


def test_the_build_embedded_every_chunk(built: dict[str, Any]) -> None:
    report: EmbedReport = built["embed"]
    assert report.failed == 0 and report.error == ""
    assert report.total >= 15 and report.embedded == report.total and report.cached == 0
    cov = built["coverage"]
    assert (cov["chunks"], cov["embedded"]) == (report.total, report.total)
    assert (cov["provider"], cov["model"]) == ("local", report.model)
    assert cov["embedding_failures"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_hits_have_node_fields_and_explained_scores(cg: CodeGraph, mode: str) -> None:
    found = cg.search("sum the price of every item in the cart", mode=mode, limit=5)
    assert found["mode"] == mode
    assert ("coverage" in found) == (mode != "lexical")
    results = found["results"]
    assert results and len(results) <= 5
    assert results[0]["qualified_name"] == "shop.cart.Cart.total_price"
    for hit in results:
        for name in NODE_FIELDS:
            assert hit[name] not in (None, ""), (name, hit)
        assert hit["line"] <= hit["end_line"]
        assert hit["chunk"]["line"] >= hit["line"] and hit["chunk"]["end_line"] <= hit["end_line"]
        scores = hit["scores"]
        assert scores["fused"] == hit["score"] > 0
        components = {k for k, v in scores.items() if isinstance(v, dict)}
        assert components <= {"lexical", "semantic"} and components
        if mode != "hybrid":
            assert components == {mode}
        for name in components:
            assert scores[name]["rank"] >= 1 and isinstance(scores[name]["score"], float)
    assert [h["score"] for h in results] == sorted((h["score"] for h in results), reverse=True)
    assert len({h["id"] for h in results}) == len(results)  # one hit per definition


def test_hybrid_explains_both_components_with_their_own_ranks(cg: CodeGraph) -> None:
    query = "sum the price of every item in the cart"
    hybrid = cg.search(query, mode="hybrid", limit=10)["results"]
    top = hybrid[0]["scores"]
    assert {"lexical", "semantic"} <= set(top)
    assert top["lexical"]["rank"] == 1 and top["semantic"]["rank"] == 1
    # Each component is what that ranking alone says about the same chunk.
    alone = {mode: {h["chunk"]["id"]: h["scores"][mode] for h in
                    cg.search(query, mode=mode, limit=50)["results"]}
             for mode in ("lexical", "semantic")}
    both = 0
    for hit in hybrid:
        for mode in ("lexical", "semantic"):
            if mode in hit["scores"]:
                assert hit["scores"][mode] == alone[mode][hit["chunk"]["id"]]
        both += {"lexical", "semantic"} <= set(hit["scores"])
    assert both >= 2


def test_hits_explain_fusion_and_priors(cg: CodeGraph) -> None:
    query = "shopping cart holding products"
    hits = cg.search(query, mode="hybrid", limit=10)["results"]
    cart = {h["qualified_name"]: h for h in hits}["shop.cart.Cart"]["scores"]
    assert cart["fusion"] == "zscore" and cart["priors"] == []  # no test, no default prior
    svc = cg.search_service()
    svc.ranking = Ranking(priors={"container": 0.5, "test": 0.5})
    try:
        halved = {h["qualified_name"]: h for h in cg.search(query, limit=10)["results"]}
    finally:
        svc.ranking = DEFAULT
    weighed = halved["shop.cart.Cart"]["scores"]
    assert weighed["priors"] == [{"name": "container", "factor": 0.5}]
    assert weighed["fused"] == pytest.approx(cart["fused"] * 0.5, rel=1e-4)
    assert weighed["lexical"] == cart["lexical"] and weighed["semantic"] == cart["semantic"]
    for hit in halved.values():
        names = {p["name"] for p in hit["scores"]["priors"]}
        assert ("container" in names) == (hit["kind"] in ("class", "module"))
        assert "test" not in names  # no test or migration files in these repositories
    rrf = Ranking("rrf", priors={})
    svc.ranking = rrf
    try:
        top = cg.search(query, limit=3)["results"][0]["scores"]
    finally:
        svc.ranking = DEFAULT
    assert top["fusion"] == "rrf" and top["priors"] == []


def test_hits_carry_a_snippet_of_what_matched(cg: CodeGraph) -> None:
    query = "odd even digits"
    for mode in ("lexical", "hybrid"):
        top = cg.search(query, mode=mode, limit=3)["results"][0]
        assert top["qualified_name"] == "shop.payment.validate_card_number"
        snip = top["snippet"]
        assert top["chunk"]["line"] < snip["line"] <= top["chunk"]["end_line"]
        first = snip["text"].split("\n")[0]
        assert first == "odd = sum(digits[0::2])"  # the first line with two of the terms
        assert len(snip["text"]) <= 240 and snip["text"].count("\n") <= 2
    # Found by meaning alone: the first lines of the body, after the def line.
    top = cg.search("luhn checksum of a card number", mode="semantic")["results"][0]
    assert top["qualified_name"] == "shop.payment.validate_card_number"
    assert top["snippet"]["line"] == top["line"] + 2  # def, docstring, then the body
    assert top["snippet"]["text"].startswith("digits = [int(d) for d in str(number)][::-1]")


def test_each_mode_finds_what_it_is_good_at(cg: CodeGraph) -> None:
    # An identifier: lexical.
    assert qnames(cg.search("fetchUserProfile", mode="lexical"))[0] == \
        "shop/web/handlers.fetchUserProfile"
    # Words that are not in the code: only the meaning matches.
    semantic = qnames(cg.search("verify a credit card number checksum", mode="semantic",
                                limit=3))
    assert "shop.payment.validate_card_number" in semantic
    hybrid = qnames(cg.search("turn a headline into a url slug", mode="hybrid", limit=3))
    assert "shop/util.Slugify" in hybrid


def test_queries_that_cannot_be_answered(cg: CodeGraph) -> None:
    with pytest.raises(SearchError, match="mode must be one of"):
        cg.search("cart", mode="fuzzy")
    with pytest.raises(SearchError, match="limit must be at least 1"):
        cg.search("cart", limit=0)
    with pytest.raises(SearchError, match="offset"):
        cg.search("cart", offset=-1)
    with pytest.raises(SearchError, match="empty"):
        cg.search("   ")
    assert cg.search("the of and", mode="lexical")["results"] == []  # only stop words


# -- filters and pagination ----------------------------------------------------------------


FILTERS: list[tuple[dict[str, str], str, Any]] = [
    ({"repo": "tools"}, "repo", "tools"),
    ({"language": "javascript"}, "language", "javascript"),
    ({"language": "go"}, "language", "go"),
    ({"kind": "method"}, "kind", "method"),
    ({"path": "shop/web/*"}, "path", "shop/web/handlers.js"),
    ({"path": "*/payment.py", "kind": "function"}, "path", "shop/payment.py"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("options", "field", "value"), FILTERS,
                         ids=[",".join(f[0]) + "=" + ",".join(f[0].values()) for f in FILTERS])
def test_filters(cg: CodeGraph, mode: str, options: dict[str, Any], field: str,
                 value: str) -> None:
    # A query that matches something everywhere: lexical needs a shared term.
    query = "return the cart item settings user string card"
    found = cg.search(query, mode=mode, limit=50, **options)["results"]
    assert found, (mode, options)
    assert {h[field] for h in found} == {value}
    if "kind" in options:
        assert {h["kind"] for h in found} == {options["kind"]}
    unfiltered = cg.search(query, mode=mode, limit=50)["results"]
    assert len(unfiltered) > len(found)


def test_filter_that_matches_nothing(cg: CodeGraph) -> None:
    for mode in MODES:
        assert cg.search("cart", mode=mode, repo="nope")["results"] == []
        assert cg.search("cart", mode=mode, language="rust")["results"] == []


@pytest.mark.parametrize("mode", MODES)
def test_pages_are_disjoint_stable_and_add_up(cg: CodeGraph, mode: str) -> None:
    query = "return the cart item price amount settings"
    whole = [h["id"] for h in cg.search(query, mode=mode, limit=9)["results"]]
    assert len(whole) == 9
    pages = [[h["id"] for h in cg.search(query, mode=mode, limit=3, offset=o)["results"]]
             for o in (0, 3, 6)]
    assert all(len(p) == 3 for p in pages)
    flat = [i for p in pages for i in p]
    assert len(set(flat)) == 9  # disjoint
    assert flat == whole
    again = [[h["id"] for h in cg.search(query, mode=mode, limit=3, offset=o)["results"]]
             for o in (0, 3, 6)]
    assert again == pages  # stable
    far = cg.search(query, mode=mode, limit=5, offset=995)["results"]
    assert far == []
    with pytest.raises(SearchError, match="offset \\+ limit must be at most 1000"):
        cg.search(query, mode=mode, limit=5, offset=996)


# -- persistence ---------------------------------------------------------------------------


def test_results_survive_close_and_reopen(built: dict[str, Any], cg: CodeGraph) -> None:
    for (query, mode), before in built["before"].items():
        after = cg.search(query, mode=mode)
        assert after == before, (query, mode)
        assert after["results"]
    assert cg.stats()["search"] == built["coverage"]


def test_similar(cg: CodeGraph) -> None:
    found = cg.similar("shop.payment.charge_credit_card", limit=4)
    assert 0 < len(found) <= 4
    names = [h["qualified_name"] for h in found]
    assert "shop.payment.charge_credit_card" not in names
    assert "shop.payment.refund_payment" in names
    for hit in found:
        assert all(hit[f] not in (None, "") for f in NODE_FIELDS)
        assert set(hit["scores"]) >= {"semantic", "fused"}


# -- incremental re-embedding --------------------------------------------------------------


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[CodeGraph, Path]]:
    repo = write_tree(tmp_path / "shop-repo", SHOP)
    with CodeGraph.open(str(tmp_path / "data")) as graph:
        graph.index(str(repo), name="shop", workers=1)
        yield graph, repo


def vectors_of(cg: CodeGraph, ids: Any) -> dict[str, Any]:
    vectors = cg.search_service().vectors()
    return {i: vectors.vector(i) for i in ids}


def test_one_edit_re_embeds_only_its_changed_chunks(writer: tuple[CodeGraph, Path]) -> None:
    cg, repo = writer
    first = cg.embed()
    assert first.embedded == first.total and first.failed == 0
    before = stored_chunks(cg)
    old_vectors = vectors_of(cg, before)
    # Edit one method's body (two more lines, so later definitions move down).
    edited = CART.replace("        return subtotal * (1 + TAX_RATE)\n",
                          "        if subtotal < 0:\n            raise ValueError(prices)\n"
                          "        return subtotal * (1 + TAX_RATE)\n")
    touch_later(repo / "shop/cart.py", edited)
    cg.index(str(repo), name="shop", workers=1)
    after = stored_chunks(cg)
    changed = {i for i, v in after.items() if before.get(i) != v}
    assert changed and {after[i][0] for i in changed} == {"shop/cart.py"}
    assert len(changed) < sum(1 for p, _ in after.values() if p == "shop/cart.py")
    report = cg.embed()
    assert report.embedded == len(changed)
    assert report.cached == 0 and report.failed == 0
    assert report.removed == len(changed)  # the stale vectors of the old text
    assert report.total == len(after)
    new_vectors = vectors_of(cg, after)
    for i in after:
        assert new_vectors[i] is not None
        if i not in changed:
            assert np.array_equal(new_vectors[i], old_vectors[i])  # untouched
        else:
            assert not np.allclose(new_vectors[i], old_vectors[i])
    assert cg.search("raise ValueError when the subtotal is negative",
                     mode="hybrid")["results"][0]["qualified_name"] == "shop.cart.Cart.total_price"
    # Nothing changed: nothing to do. Back to the old text: its vector comes from the cache.
    idle = cg.embed()
    assert (idle.embedded, idle.cached, idle.removed) == (0, 0, 0)
    touch_later(repo / "shop/cart.py", CART)
    cg.index(str(repo), name="shop", workers=1)
    back = cg.embed()
    assert (back.embedded, back.cached) == (0, len(changed))
    assert stored_chunks(cg) == before
    assert all(np.array_equal(v, old_vectors[i]) for i, v in vectors_of(cg, before).items())


def test_deleted_and_added_files(writer: tuple[CodeGraph, Path]) -> None:
    cg, repo = writer
    cg.embed()
    svc = cg.search_service()
    before = stored_chunks(cg)
    gone = {i for i, (path, _) in before.items() if path == "shop/web/handlers.js"}
    assert len(gone) == 3
    (repo / "shop/web/handlers.js").unlink()
    write_tree(repo, {"shop/inventory.py": (
        "def restock_warehouse(sku, count):\n"
        '    """Order more units of a product from the supplier."""\n'
        "    return {'sku': sku, 'count': count}\n")})
    cg.index(str(repo), name="shop", workers=1)
    after = stored_chunks(cg)
    added = set(after) - set(before)
    assert gone.isdisjoint(after) and added
    assert {after[i][0] for i in added} == {"shop/inventory.py"}
    # Lexical search is in step at once; semantic search after embedding.
    assert gone.isdisjoint(svc.lexical().chunk_ids()) and added <= set(svc.lexical().chunk_ids())
    report = cg.embed()
    assert report.embedded == len(added) and report.removed == len(gone)
    ids = set(svc.vectors().ids())
    assert ids == set(after)
    for mode in MODES:
        paths = {h["path"] for h in cg.search("fetchUserProfile handleLogin checkout page",
                                              mode=mode, limit=50)["results"]}
        assert "shop/web/handlers.js" not in paths
        top = cg.search("order more units from the supplier", mode=mode)["results"]
        assert top[0]["qualified_name"] == "shop.inventory.restock_warehouse"
    cov = cg.stats()["search"]
    assert cov["chunks"] == cov["embedded"] == len(after)


# -- the command line ----------------------------------------------------------------------


def cli(data: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(*args, data_dir=data, env=cli_env(CODEGRAPH_EMBED="1"))


def test_cli_search_json(built: dict[str, Any]) -> None:
    data = built["data"]
    code, out, err = cli(data, "search", "sum the price of every item in the cart", "--json",
                         "--limit", "3")
    assert code == 0, err
    body = json.loads(out)
    assert {"results", "mode", "coverage", "revision", "next_cursor"} <= set(body)
    assert body["mode"] == "hybrid" and body["coverage"]["partial"] is False
    assert len(body["results"]) == 3
    top = body["results"][0]
    assert top["qualified_name"] == "shop.cart.Cart.total_price"
    assert all(f in top for f in NODE_FIELDS) and {"lexical", "semantic"} <= set(top["scores"])
    code, out, err = cli(data, "search", "config", "--mode", "lexical", "--repo", "tools",
                         "--kind", "function", "--path", "tools/*", "--language", "python",
                         "--cursor", encode_cursor(1), "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["mode"] == "lexical" and "coverage" not in body
    assert body["results"] and {r["repo"] for r in body["results"]} == {"tools"}
    code, out, err = cli(data, "search", "verify a credit card number", "--mode", "semantic")
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert lines[-1] == "10 shown; --offset 10 for more"  # the next page
    assert lines[:-1] and all(" [" in line and "semantic #" in line for line in lines[:-1])
    assert "shop:shop/payment.py:" in out


def test_cli_similar(built: dict[str, Any]) -> None:
    code, out, err = cli(built["data"], "similar", "refund_payment", "--limit", "3", "--json")
    assert code == 0, err
    body = json.loads(out)
    names = [r["qualified_name"] for r in body["results"]]
    assert 0 < len(names) <= 3 and "shop.payment.refund_payment" not in names
    code, out, err = cli(built["data"], "similar", "no_such_symbol")
    one_line_error(code, err, "no_such_symbol")


def test_cli_bad_search_arguments(built: dict[str, Any]) -> None:
    data = built["data"]
    code, _, err = cli(data, "search", "cart", "--mode", "fuzzy")
    one_line_error(code, err, "mode must be one of lexical, semantic, hybrid, got 'fuzzy'")
    code, _, err = cli(data, "search", "cart", "--limit", "0")
    one_line_error(code, err, "limit must be between 1 and 100")
    code, _, err = cli(data, "search", "  ")
    one_line_error(code, err, "query must not be empty")


def test_cli_partial_coverage_then_embed(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop-repo", SHOP)
    data = tmp_path / "data"
    code, out, err = run_cli("index", str(repo), "--json", data_dir=data,
                             env=cli_env(CODEGRAPH_EMBED="0"))
    assert code == 0, err
    assert json.loads(out)["embeddings"] is None
    code, out, err = cli(data, "search", "cart", "--mode", "semantic")
    assert code == 0, err
    assert "(no results)" in out and "semantic coverage is partial: 0 of" in out
    code, out, err = cli(data, "stats", "--json")
    search = json.loads(out)["search"]
    assert search["embedded"] == 0 and search["chunks"] > 0
    code, out, err = cli(data, "index", str(repo), "--json")
    assert code == 0, err
    embeddings = json.loads(out)["embeddings"]
    assert embeddings["embedded"] == embeddings["total"] == search["chunks"]
    code, out, err = cli(data, "search", "cart", "--mode", "semantic")
    assert code == 0 and "partial" not in out and "(no results)" not in out

