"""Hybrid ranking: fusion of the lexical and semantic rankings, priors on what a hit is
and where it lives, and an optional boost from the graph (how often a definition is
called), all explained per hit.

Two fusions, chosen by ``Ranking.method``:

* ``zscore`` (the default): each ranking's scores are z-normalised over its own
  candidates, ``(score - mean) / std``; a key missing from a ranking gets that ranking's
  lowest z (as if it ranked just below its last candidate). The fused score is
  ``exp(sum(weight * z))``, times each prior that applies: a prior of x0.5 is then the same
  step (ln 2 = 0.69 weighted standard deviations) whatever the query.
* ``rrf``: reciprocal rank fusion, ``sum(weight / (k + rank))``, times the priors.

Priors (``Ranking.priors``, name -> factor): ``test``, on tests and migrations (they
mention everything they test, and are rarely what a search is for), is on by default;
``container``, on class and module chunks, is available but off: on bench/bench_search.py
it gains 0.012 MRR@10 on queries for functions and loses 0.117 on queries for classes (see
bench/search.md). The graph boost adds ``GRAPH_BOOST * log(1 + callers)``: a tie-breaker
only.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RRF_K = 10  # dampens the head of each ranking
RRF_WEIGHTS = {"lexical": 0.7, "semantic": 1.0}
Z_WEIGHTS = {"lexical": 0.4, "semantic": 0.6}
GRAPH_BOOST = 1e-5  # per log(1 + callers): a tie-breaker, never a ranking of its own
CONTAINER_KINDS = frozenset({"class", "interface", "struct", "enum", "trait", "module"})
PRIORS = {"test": 0.5}  # the default; "container": 0.5 is the other one known
# Tests and migrations by path: a tests/ directory, a numbered file in migrations/,
# test_*.py, *_test.py, *_tests.py, tests.py, conftest.py, *_test.go, *.test.ts / *.spec.js
# and the like. A test/ directory alone is not one (django/test/ is the test framework,
# library code), nor is a migrations package's own code (django/db/migrations/).
_TEST_PATH = re.compile(
    r"(^|/)(tests|__tests__|testing)/|(^|/)migrations/[0-9][^/]*$"
    r"|(^|/)(test_[^/]*|[^/]*_tests?\.[a-z]+|tests\.py|conftest\.py)$"
    r"|(^|/)[^/]*\.(test|spec)\.[a-z]+$")


@dataclass(frozen=True, slots=True)
class Ranking:
    """How the rankings are fused, and which priors apply (name -> factor)."""

    method: str = "zscore"
    weights: Mapping[str, float] | None = None  # (default: of the method)
    priors: Mapping[str, float] = field(default_factory=lambda: dict(PRIORS))
    k: int = RRF_K  # of rrf

    def weight(self, name: str) -> float:
        default = Z_WEIGHTS if self.method == "zscore" else RRF_WEIGHTS
        return (self.weights if self.weights is not None else default).get(name, 1.0)


DEFAULT = Ranking()
LEGACY = Ranking("rrf", priors={})  # before issue 17: rrf, no priors


@functools.lru_cache(maxsize=65536)
def is_test_path(path: str) -> bool:
    return _TEST_PATH.search(path) is not None


def priors_of(kind: str, path: str, priors: Mapping[str, float]) -> dict[str, float]:
    """The priors that apply to a chunk of this kind at this path."""
    out: dict[str, float] = {}
    if "container" in priors and kind in CONTAINER_KINDS:
        out["container"] = priors["container"]
    if "test" in priors and is_test_path(path):
        out["test"] = priors["test"]
    return out


@dataclass(slots=True)
class Component:
    rank: int
    score: float


@dataclass(slots=True)
class Fused:
    key: str
    score: float
    components: dict[str, Component] = field(default_factory=dict)
    boost: float = 0.0
    priors: dict[str, float] = field(default_factory=dict)
    method: str = "rrf"

    def explain(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: {"rank": c.rank, "score": round(c.score, 6)}
                               for name, c in self.components.items()}
        out["fusion"] = self.method
        # A list (not an object): the components are the explanation's only objects.
        out["priors"] = [{"name": name, "factor": factor}
                         for name, factor in self.priors.items()]
        out["graph_boost"] = round(self.boost, 6)
        out["fused"] = round(self.score, 6)
        return out


def _collect(rankings: Mapping[str, Sequence[tuple[str, float]]]) -> dict[str, Fused]:
    fused: dict[str, Fused] = {}
    for name, ranking in rankings.items():
        for rank, (key, score) in enumerate(ranking, start=1):
            item = fused.get(key)
            if item is None:
                item = fused[key] = Fused(key, 0.0)
            if name not in item.components:  # (a key listed twice keeps its best)
                item.components[name] = Component(rank, score)
    return fused


def _zscores(ranking: Sequence[tuple[str, float]]) -> dict[str, float]:
    """key -> z of its score in this ranking (its first listing); 0 when all are equal."""
    first: dict[str, float] = {}
    for key, score in ranking:
        first.setdefault(key, score)
    n = len(first)
    if not n:
        return {}
    mean = sum(first.values()) / n
    std = math.sqrt(sum((s - mean) ** 2 for s in first.values()) / n)
    if std <= 1e-12:
        return dict.fromkeys(first, 0.0)
    return {k: (s - mean) / std for k, s in first.items()}


def fuse(rankings: Mapping[str, Sequence[tuple[str, float]]], *,
         facts: Mapping[str, tuple[str, str]] | None = None,
         ranking: Ranking = DEFAULT,
         centrality: Mapping[str, int] | None = None) -> list[Fused]:
    """Fuse rankings (name -> [(key, score)] best first) into one, best first.

    ``facts``: key -> (kind, path) of the chunk, for the priors (a key without facts gets
    none). Ties break on the key, so results are stable.
    """
    fused = _collect(rankings)
    if ranking.method == "zscore":
        zs = {name: _zscores(r) for name, r in rankings.items() if r}
        floors = {name: min(z.values()) for name, z in zs.items()}
        for item in fused.values():
            total = 0.0
            for name, z in zs.items():
                total += ranking.weight(name) * z.get(item.key, floors[name])
            item.score = math.exp(total)
            item.method = "zscore"
    elif ranking.method == "rrf":
        for item in fused.values():
            item.score = sum(ranking.weight(name) / (ranking.k + c.rank)
                             for name, c in item.components.items())
    else:
        raise ValueError(f"unknown fusion {ranking.method!r}")
    if ranking.priors and facts:
        for item in fused.values():
            fact = facts.get(item.key)
            if fact is not None:
                item.priors = priors_of(fact[0], fact[1], ranking.priors)
                for factor in item.priors.values():
                    item.score *= factor
    if centrality:
        for item in fused.values():
            callers = centrality.get(item.key, 0)
            if callers:
                item.boost = GRAPH_BOOST * math.log1p(callers)
                item.score += item.boost
    return sorted(fused.values(), key=lambda f: (-f.score, f.key))


def reciprocal_rank_fusion(rankings: Mapping[str, Sequence[tuple[str, float]]], *,
                           weights: Mapping[str, float] | None = None,
                           centrality: Mapping[str, int] | None = None,
                           k: int = RRF_K) -> list[Fused]:
    """``fuse`` by reciprocal ranks, without priors: each ranking contributes
    ``weight / (k + rank)``."""
    return fuse(rankings, ranking=Ranking("rrf", weights=weights, priors={}, k=k),
                centrality=centrality)
