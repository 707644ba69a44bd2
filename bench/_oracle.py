"""Scoring CodeGraph's call edges against a precise oracle (jedi, TypeScript's service).

Both sides are keyed by call site: ``Site(path, line, col, name)``, ``line``/``col`` the
1-based start of the call expression, ``name`` the called name as written. A target is
``"path:line"``, the file and first line of the called definition.

- The oracle says, per site, the set of in-repository targets it resolved (an empty set:
  it resolved the callee outside the repository) or ``None`` (it could not resolve it).
- CodeGraph says, per site, its edges: an in-repository target, or ``None`` for an edge to
  an external node, each with its resolution and confidence.

Precision is counted over our in-repository edges at sites the oracle resolved; recall over
the oracle's in-repository edges. ``dispatch`` edges are scored on their own: they say a
call *may* reach an override, which no goto-definition oracle reports.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

DISPATCH = "dispatch"


class Site(NamedTuple):
    path: str
    line: int
    col: int
    name: str


class Ours(NamedTuple):
    target: str | None  # "path:line", or None for an external node
    resolution: str
    confidence: float
    label: str  # the target's qualified name, for error listings


@dataclass
class Score:
    """The figures of one corpus (or the sum of several)."""

    sites: int = 0  # call sites inside function bodies
    oracle_resolved: int = 0  # sites the oracle resolved (in or out of the repository)
    oracle_edges: int = 0  # the oracle's in-repository edges
    found: int = 0  # of those, found by us
    by_resolution: dict[str, list[int]] = field(default_factory=dict)  # res -> [right, all]
    recall_by_resolution: Counter[str] = field(default_factory=Counter)
    calibration: dict[float, list[int]] = field(default_factory=dict)  # conf -> [right, all]
    wrong: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    missed: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def add(self, other: Score) -> None:
        self.sites += other.sites
        self.oracle_resolved += other.oracle_resolved
        self.oracle_edges += other.oracle_edges
        self.found += other.found
        for res, (right, total) in other.by_resolution.items():
            mine = self.by_resolution.setdefault(res, [0, 0])
            mine[0] += right
            mine[1] += total
        self.recall_by_resolution.update(other.recall_by_resolution)
        for conf, (right, total) in other.calibration.items():
            bucket = self.calibration.setdefault(conf, [0, 0])
            bucket[0] += right
            bucket[1] += total
        self.wrong.update(other.wrong)
        self.missed.update(other.missed)

    def precision(self) -> float:
        right = sum(r for res, (r, _) in self.by_resolution.items() if res != DISPATCH)
        total = sum(t for res, (_, t) in self.by_resolution.items() if res != DISPATCH)
        return right / total if total else 0.0

    def recall(self) -> float:
        return self.found / self.oracle_edges if self.oracle_edges else 0.0


def score(oracle: dict[Site, frozenset[str] | None], ours: dict[Site, list[Ours]],
          labels: dict[str, str]) -> Score:
    """Compare at every site the oracle was asked about; ``labels`` names oracle targets."""
    s = Score(sites=len(oracle))
    for site, truth in oracle.items():
        edges = ours.get(site, [])
        if truth is None:
            continue
        s.oracle_resolved += 1
        internal = [e for e in edges if e.target is not None]
        for e in internal:
            right = e.target in truth
            counts = s.by_resolution.setdefault(e.resolution, [0, 0])
            counts[0] += right
            counts[1] += 1
            if e.resolution == DISPATCH:
                continue
            bucket = s.calibration.setdefault(round(e.confidence, 2), [0, 0])
            bucket[0] += right
            bucket[1] += 1
            if not right:
                want = ", ".join(sorted(labels.get(t, t) for t in truth)) or "(external)"
                s.wrong[(e.resolution, site.name, e.label, want)] += 1
        for target in truth:
            s.oracle_edges += 1
            hit = [e for e in internal if e.target == target]
            if hit:
                s.found += 1
                s.recall_by_resolution[hit[0].resolution] += 1
            else:
                got = ", ".join(sorted({e.resolution for e in edges})) or "no edge"
                s.missed[(site.name, labels.get(target, target), got)] += 1
    return s


def report(title: str, s: Score, errors: int = 10) -> list[str]:
    lines = [f"== {title}",
             f"call sites in function bodies: {s.sites:,}; resolved by the oracle: "
             f"{s.oracle_resolved:,}; its in-repository edges: {s.oracle_edges:,}",
             f"precision {s.precision():.3f}  recall {s.recall():.3f}  "
             "(precision over in-repository edges, dispatch apart)",
             f"  {'resolution':<12} {'edges':>7} {'right':>7} {'precision':>9} {'recall':>7}"]
    for res in sorted(set(s.by_resolution) | set(s.recall_by_resolution)):
        right, total = s.by_resolution.get(res, [0, 0])
        rec = s.recall_by_resolution[res] / s.oracle_edges if s.oracle_edges else 0.0
        prec = f"{right / total:9.3f}" if total else f"{'-':>9}"
        lines.append(f"  {res:<12} {total:>7,} {right:>7,} {prec} {rec:7.3f}")
    lines.append(f"  {'confidence':<12} {'edges':>7} {'right':>7} {'share':>9} {'|gap|':>7}")
    for conf in sorted(s.calibration, reverse=True):
        right, total = s.calibration[conf]
        share = right / total
        flag = "" if abs(conf - share) <= 0.1 else "  > 0.1"
        lines.append(f"  {conf:<12.2f} {total:>7,} {right:>7,} {share:9.3f} "
                     f"{abs(conf - share):7.3f}{flag}")
    if errors:
        lines.append(f"  commonest wrong edges ({sum(s.wrong.values()):,} in all):")
        for (res, name, got, want), n in s.wrong.most_common(errors):
            lines.append(f"    {n:>5}  {res:<10} {name}(): {got}  [oracle: {want}]")
        lines.append(f"  commonest missed edges ({sum(s.missed.values()):,} in all):")
        for (name, want, got), n in s.missed.most_common(errors):
            lines.append(f"    {n:>5}  {name}() -> {want}  [ours: {got}]")
    return lines


def group_edges(items: Iterable[tuple[Site, Ours]]) -> dict[Site, list[Ours]]:
    out: dict[Site, list[Ours]] = defaultdict(list)
    for site, edge in items:
        out[site].append(edge)
    return dict(out)
