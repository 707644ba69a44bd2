"""Reciprocal rank fusion: the arithmetic, weights, stable ties and the graph tie-breaker."""

from __future__ import annotations

import math

import pytest

from codegraph.search.fusion import GRAPH_BOOST, reciprocal_rank_fusion


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
