"""Fusion of rankings: reciprocal ranks and z-scores (the arithmetic, weights, stable ties),
the priors on containers, tests and migrations, the graph tie-breaker, and the
explanation of each hit."""

from __future__ import annotations

import math

import pytest

from codegraph.search.fusion import (
    DEFAULT,
    GRAPH_BOOST,
    LEGACY,
    Ranking,
    fuse,
    is_test_path,
    priors_of,
    reciprocal_rank_fusion,
)


def test_scores_are_weighted_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion(
        {"lexical": [("a", 9.0), ("b", 5.0)], "semantic": [("b", 0.9), ("c", 0.8)]},
        weights={"lexical": 0.5, "semantic": 1.0}, k=10)
    by_key = {f.key: f for f in fused}
    assert by_key["a"].score == pytest.approx(0.5 / 11)
    assert by_key["b"].score == pytest.approx(0.5 / 12 + 1 / 11)
    assert by_key["c"].score == pytest.approx(1 / 12)
    assert [f.key for f in fused] == ["b", "c", "a"]
    assert by_key["b"].explain()["lexical"] == {"rank": 2, "score": 5.0}
    assert by_key["b"].explain()["semantic"] == {"rank": 1, "score": 0.9}
    assert "semantic" not in by_key["a"].explain()


def test_ties_break_on_the_key_and_duplicates_count_once() -> None:
    fused = reciprocal_rank_fusion({"lexical": [("y", 1.0)], "semantic": [("x", 1.0)]},
                                   weights={"lexical": 1.0, "semantic": 1.0})
    assert [f.key for f in fused] == ["x", "y"]
    once = reciprocal_rank_fusion({"lexical": [("x", 2.0), ("x", 1.0)]}, k=10)
    assert once[0].score == pytest.approx(0.7 / 11)  # the default lexical weight, once
    assert once[0].components["lexical"].rank == 1


def test_graph_boost_only_breaks_near_ties() -> None:
    rankings = {"semantic": [("a", 0.9), ("b", 0.8)]}
    fused = reciprocal_rank_fusion(rankings, centrality={"b": 1000}, k=10)
    assert [f.key for f in fused] == ["a", "b"]  # 1000 callers do not jump a rank
    assert fused[1].boost == pytest.approx(GRAPH_BOOST * math.log1p(1000))
    tied = reciprocal_rank_fusion({"lexical": [("a", 1.0)], "semantic": [("b", 1.0)]},
                                  weights={"lexical": 1.0, "semantic": 1.0},
                                  centrality={"b": 3})
    assert [f.key for f in tied] == ["b", "a"]


# -- z-score fusion ------------------------------------------------------------------------


def z(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / std for v in values]


def test_zscore_fusion_weighs_normalised_scores() -> None:
    lexical = [("a", 30.0), ("b", 10.0), ("c", 5.0)]
    semantic = [("b", 0.8), ("d", 0.6), ("a", 0.1)]
    fused = fuse({"lexical": lexical, "semantic": semantic}, ranking=Ranking(priors={}))
    zl = dict(zip("abc", z([30.0, 10.0, 5.0]), strict=True))
    zs = dict(zip("bda", z([0.8, 0.6, 0.1]), strict=True))
    floor_l, floor_s = min(zl.values()), min(zs.values())  # for a key missing there
    expected = {k: math.exp(0.4 * zl.get(k, floor_l) + 0.6 * zs.get(k, floor_s))
                for k in "abcd"}
    by_key = {f.key: f for f in fused}
    for key, score in expected.items():
        assert by_key[key].score == pytest.approx(score)
    assert [f.key for f in fused] == sorted(expected, key=lambda k: -expected[k])
    assert by_key["d"].explain()["semantic"] == {"rank": 2, "score": 0.6}
    assert "lexical" not in by_key["d"].explain()
    assert by_key["a"].explain()["fusion"] == "zscore"


def test_zscore_is_scale_free_and_needs_spread() -> None:
    one = fuse({"lexical": [("a", 3.0), ("b", 1.0)]}, ranking=Ranking(priors={}))
    scaled = fuse({"lexical": [("a", 300.0), ("b", 100.0)]}, ranking=Ranking(priors={}))
    assert [f.key for f in one] == [f.key for f in scaled] == ["a", "b"]
    assert [f.score for f in one] == pytest.approx([f.score for f in scaled])
    flat = fuse({"lexical": [("b", 2.0), ("a", 2.0)]}, ranking=Ranking(priors={}))
    assert [f.score for f in flat] == [1.0, 1.0]  # all equal: z = 0, ties on the key
    assert [f.key for f in flat] == ["a", "b"]
    assert fuse({"lexical": [], "semantic": []}) == []


def test_unknown_fusion_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse({"lexical": [("a", 1.0)]}, ranking=Ranking("borda"))


# -- priors --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "test"), [
    ("tests/admin_views/tests.py", True),
    ("django/contrib/auth/tests.py", True),
    ("src/shop/test_cart.py", True),
    ("pkg/cart_test.go", True),
    ("web/cart.spec.ts", True),
    ("web/__tests__/cart.js", True),
    ("conftest.py", True),
    ("django/contrib/auth/migrations/0001_initial.py", True),
    ("django/test/testcases.py", False),  # the test framework: library code
    ("django/db/models/query.py", False),
    ("src/contest.py", False),
    ("src/latest_results.py", False),
])
def test_test_and_migration_paths(path: str, test: bool) -> None:
    assert is_test_path(path) is test


def test_priors_of_a_chunk() -> None:
    priors = {"container": 0.5, "test": 0.25}
    assert priors_of("class", "shop/cart.py", priors) == {"container": 0.5}
    assert priors_of("module", "shop/cart.py", priors) == {"container": 0.5}
    assert priors_of("struct", "pkg/cart.go", priors) == {"container": 0.5}
    assert priors_of("method", "tests/test_cart.py", priors) == {"test": 0.25}
    assert priors_of("class", "tests/test_cart.py", priors) == {"container": 0.5,
                                                                 "test": 0.25}
    assert priors_of("function", "shop/cart.py", priors) == {}
    assert priors_of("class", "shop/cart.py", {}) == {}


@pytest.mark.parametrize("method", ["zscore", "rrf"])
def test_priors_multiply_the_fused_score_and_are_explained(method: str) -> None:
    rankings = {"lexical": [("cls", 9.0), ("fn", 8.0), ("other", 1.0)],
                "semantic": [("cls", 0.9), ("fn", 0.85), ("other", 0.1)]}
    facts = {"cls": ("class", "shop/cart.py"), "fn": ("method", "shop/cart.py"),
             "other": ("function", "tests/test_cart.py")}
    plain = {f.key: f for f in fuse(rankings, facts=facts, ranking=Ranking(method, priors={}))}
    ranked = fuse(rankings, facts=facts,
                  ranking=Ranking(method, priors={"container": 0.5, "test": 0.5}))
    by_key = {f.key: f for f in ranked}
    assert by_key["cls"].score == pytest.approx(plain["cls"].score * 0.5)
    assert by_key["other"].score == pytest.approx(plain["other"].score * 0.5)
    assert by_key["fn"].score == pytest.approx(plain["fn"].score)
    assert [f.key for f in ranked][:2] == ["fn", "cls"]  # the method now leads
    explained = by_key["cls"].explain()
    assert explained["priors"] == [{"name": "container", "factor": 0.5}]
    assert explained["fusion"] == method
    assert explained["fused"] == pytest.approx(by_key["cls"].score, rel=1e-5)
    assert explained["lexical"] == {"rank": 1, "score": 9.0}
    assert by_key["fn"].explain()["priors"] == []
    assert by_key["other"].explain()["priors"] == [{"name": "test", "factor": 0.5}]
    # A key without facts gets no prior.
    bare = {f.key: f for f in fuse(rankings, facts={}, ranking=Ranking(method, priors={
        "container": 0.5}))}
    assert [p["name"] for p in {f.key: f for f in fuse(rankings, facts=facts, ranking=Ranking(
        method))}["other"].explain()["priors"]] == ["test"]  # the default: tests only
    assert bare["cls"].score == pytest.approx(plain["cls"].score)


def test_default_and_legacy_rankings() -> None:
    assert DEFAULT.method == "zscore" and dict(DEFAULT.priors) == {"test": 0.5}
    assert DEFAULT.weight("lexical") == 0.4 and DEFAULT.weight("semantic") == 0.6
    assert LEGACY.method == "rrf" and not LEGACY.priors
    assert LEGACY.weight("lexical") == 0.7 and LEGACY.weight("semantic") == 1.0


def test_graph_boost_breaks_ties_under_zscore_too() -> None:
    rankings = {"lexical": [("a", 2.0), ("b", 2.0)]}
    fused = fuse(rankings, ranking=Ranking(priors={}), centrality={"b": 10})
    assert [f.key for f in fused] == ["b", "a"]
    assert fused[0].explain()["graph_boost"] == pytest.approx(GRAPH_BOOST * math.log1p(10),
                                                              abs=1e-6)
    spread = fuse({"lexical": [("a", 3.0), ("b", 1.0)]}, ranking=Ranking(priors={}),
                  centrality={"b": 10_000})
    assert [f.key for f in spread] == ["a", "b"]
