"""Retrieval metrics of bench_search.py, with paired bootstrap intervals.

A ranking is, per query, the 1-based rank of the target among the results (0: not in
the top ``LIMIT``). recall@1, recall@10 and MRR@10 are means over the queries; each gets
a 95% percentile interval from ``RESAMPLES`` bootstrap resamples of the queries (seeded),
and a difference between two modes gets one from the SAME resamples (paired: the queries
drawn are the same for both modes, so the noise of which queries were sampled cancels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

LIMIT = 10
RESAMPLES = 2000
METRICS = ("recall@1", f"recall@{LIMIT}", f"mrr@{LIMIT}")


def per_query(ranks: Sequence[int]) -> dict[str, npt.NDArray[np.float64]]:
    r = np.asarray(ranks, dtype=np.float64)
    hit = (r > 0) & (r <= LIMIT)
    return {"recall@1": (r == 1).astype(np.float64),
            f"recall@{LIMIT}": hit.astype(np.float64),
            f"mrr@{LIMIT}": np.where(hit, 1.0 / np.maximum(r, 1.0), 0.0)}


def _resamples(n: int, seed: int) -> npt.NDArray[np.int64]:
    return np.random.default_rng(seed).integers(0, n, (RESAMPLES, n))


def _interval(values: npt.NDArray[np.float64], draws: npt.NDArray[np.int64]
              ) -> list[float]:
    means = values[draws].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def summary(ranks: Sequence[int], seed: int) -> dict[str, Any]:
    """Each metric with its interval: {"mrr@10": 0.8, "mrr@10_ci": [lo, hi], ...}."""
    n = len(ranks)
    out: dict[str, Any] = {"queries": n}
    if not n:
        return out
    draws = _resamples(n, seed)
    for name, values in per_query(ranks).items():
        out[name] = round(float(values.mean()), 4)
        out[f"{name}_ci"] = _interval(values, draws)
    return out


def paired(a: Sequence[int], b: Sequence[int], seed: int) -> dict[str, Any]:
    """a minus b, per metric, with the paired interval, and per-query wins and losses
    in reciprocal rank."""
    if len(a) != len(b):
        raise ValueError("paired rankings must be of the same queries")
    n = len(a)
    out: dict[str, Any] = {"queries": n}
    if not n:
        return out
    draws = _resamples(n, seed)
    qa, qb = per_query(a), per_query(b)
    for name in METRICS:
        diff = qa[name] - qb[name]
        out[name] = round(float(diff.mean()), 4)
        out[f"{name}_ci"] = _interval(diff, draws)
    rr = qa[f"mrr@{LIMIT}"] - qb[f"mrr@{LIMIT}"]
    out["wins"], out["losses"] = int((rr > 0).sum()), int((rr < 0).sum())
    return out


def best_of(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """Per query, the better of two rankings: a ceiling for fusions of the two (not
    strict: a fused ranking can place a hit above its rank in both)."""
    return [min(x, y) if x and y else x or y for x, y in zip(a, b, strict=True)]


def latency(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(ms.mean()), 2)}


def fmt(row: dict[str, Any], name: str, signed: bool = False) -> str:
    """``0.812 [0.790, 0.833]``."""
    if name not in row:
        return "-"
    lo, hi = row[f"{name}_ci"]
    sign = "+" if signed else ""
    return f"{row[name]:{sign}.3f} [{lo:{sign}.3f}, {hi:{sign}.3f}]"
