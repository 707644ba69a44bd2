"""`symbols` stays bounded when a short query is like thousands of names: its fuzzy tier
looks names up best first and stops once no further name can enter the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codegraph.api import CodeGraph
from codegraph.query import queries


def test_a_short_query_like_thousands_of_names(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "proj"
    repo.mkdir()
    for f in range(6):
        (repo / f"mod_{f}.py").write_text("".join(
            f"def test_case_{f}_{i}():\n    return {i}\n\n" for i in range(200)))
    with CodeGraph.open(str(tmp_path / "data")) as cg:
        cg.index(str(repo), name="proj", workers=1)
        lookups: list[str] = []
        real = queries.by_name

        def counted(store: Any, name: str, **kw: Any) -> Any:
            lookups.append(name)
            return real(store, name, **kw)

        monkeypatch.setattr(queries, "by_name", counted)
        first = queries.symbols(cg.store, "est", limit=10)
        assert len(first) == 10 and first.about["capped"]
        assert all(item["match"] == "fuzzy" for item in first)
        fuzzy_lookups = len(lookups) - 2  # (the exact and prefix tiers: one each)
        assert fuzzy_lookups <= (10 + 1) * queries.FUZZY_NAMES_PER_HIT < 1200
        again = queries.symbols(cg.store, "est", limit=10)
        assert [i["id"] for i in again] == [i["id"] for i in first]
