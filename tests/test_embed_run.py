"""The embedding run's scope and order (the real local model, store and FAISS): what
``CODEGRAPH_EMBED_EXCLUDE`` leaves out, one repository at a time, the most-called source
first, a cancelled run keeping what it made, and the backlog with its estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codegraph import config as configuration
from codegraph.api import CodeGraph
from codegraph.config import ConfigError
from codegraph.search.service import SearchError
from codegraph.search.vector_manifest import saved_manifest
from helpers import cli_env, run_cli, write_tree
from search_corpus import default_search_config  # noqa: F401

pytestmark = pytest.mark.usefixtures("default_search_config")


def helpers_module(count: int) -> str:
    return "".join(f"def helper_{n}(value):\n    return value * {n} + {n}\n\n\n"
                   for n in range(count))


def app_tree() -> dict[str, str]:
    """50 source functions (helper_0..2 called, helper_0 the most), 40 tests, a migration,
    generated protobuf code."""
    calls = "".join(f"    helper_0(x)\n    helper_{1 + n % 2}(x)\n" for n in range(6))
    return {
        "app/core.py": helpers_module(47) + f"def main(x):\n{calls}\n\n"
                       "def more(x):\n    helper_0(x)\n\n\ndef last(x):\n    return x\n",
        "tests/test_core.py": "".join(f"def test_case_{n}():\n    assert {n} == {n}\n\n\n"
                                      for n in range(40)),
        "app/migrations/0001_initial.py": "def forwards(apps, schema_editor):\n"
                                          "    return apps.get_model('app', 'Thing')\n",
        "app/things_pb2.py": "def vendored_thing(a):\n    return a\n",
    }


def open_graph(data: Path, **env: str) -> CodeGraph:
    return CodeGraph.open(configuration.load(env, data_dir=str(data)))


def held(data: Path) -> set[str]:
    manifest = saved_manifest(str(data / "faiss"))
    assert manifest is not None
    ids = manifest.held_ids()
    assert ids is not None
    return ids


def chunk_names(cg: CodeGraph, ids: set[str]) -> set[str]:
    return {c.qualified_name for c in cg.search_service().chunks() if c.id in ids}


def test_excluded_chunks_get_no_vector_and_stay_in_lexical_search(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "app", app_tree())
    with open_graph(tmp_path / "data") as cg:
        cg.index(str(repo), name="app", workers=1)
        report = cg.embed()
        coverage = cg.stats()["search"]
        names = chunk_names(cg, held(tmp_path / "data"))
        lexical = cg.search("vendored_thing", mode="lexical")["results"]
        assert cg.search("multiply a value", mode="semantic")["coverage"]["partial"] is False
        with pytest.raises(SearchError, match="matches CODEGRAPH_EMBED_EXCLUDE"):
            cg.similar("vendored_thing")
    assert report.excluded == 2 and report.total == coverage["embedded"] == 90
    assert coverage["excluded"] == 2 and coverage["chunks"] == 92
    assert "forwards" not in {n.rsplit(".", 1)[-1] for n in names}
    assert not any("vendored_thing" in n for n in names)
    assert lexical and lexical[0]["name"] == "vendored_thing"
    # Excluding nothing embeds them; excluding the tests then drops the tests' vectors.
    with open_graph(tmp_path / "data", CODEGRAPH_EMBED_EXCLUDE="none") as cg:
        report = cg.embed()
        assert (report.excluded, report.total, report.embedded) == (0, 92, 2)
    with open_graph(tmp_path / "data", CODEGRAPH_EMBED_EXCLUDE="tests/,*.min.js") as cg:
        report = cg.embed()
        assert (report.excluded, report.removed, report.embedded) == (40, 40, 0)
        assert cg.stats()["search"]["embedded"] == 52


@pytest.mark.parametrize("patterns", ["[z-a]", "a/**/[", "foo\\"])
def test_a_pattern_that_cannot_match_is_a_config_error(patterns: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CODEGRAPH_EMBED_EXCLUDE"):
        configuration.load({"CODEGRAPH_EMBED_EXCLUDE": patterns}, data_dir=str(tmp_path))
    code, _, err = run_cli("stats", data_dir=tmp_path,
                           env=cli_env(CODEGRAPH_EMBED_EXCLUDE=patterns))
    assert code == 2 and "CODEGRAPH_EMBED_EXCLUDE" in err and "Traceback" not in err


class Stop(Exception):
    pass


def test_most_called_source_first_and_a_cancelled_run_keeps_it(tmp_path: Path) -> None:
    """Stopped after its first batch of 32: the saved index holds the called helpers and
    no test; the next run embeds only the rest."""
    repo = write_tree(tmp_path / "app", app_tree())
    events: list[dict[str, Any]] = []

    def stop_after_first_batch(event: dict[str, Any]) -> None:
        events.append(event)
        if event["event"] == "embedded":
            raise Stop

    with open_graph(tmp_path / "data") as cg:
        cg.index(str(repo), name="app", workers=1)
        with pytest.raises(Stop):
            cg.embed(stop_after_first_batch)
        names = {n.rsplit(".", 1)[-1] for n in chunk_names(cg, held(tmp_path / "data"))}
        assert len(names) == 32 and {"helper_0", "helper_1", "helper_2"} <= names
        assert not any(n.startswith("test_") for n in names)
        assert cg.stats()["search"]["embedded"] == 32
        start, first = events[0], events[-1]
        assert (start["event"], start["total"], start["excluded"]) == ("embed", 90, 2)
        assert first["done"] == 32 and first["saved"] in (0, 32) and first["rate"] > 0
        assert first["eta_seconds"] is not None and first["eta_seconds"] > 0
        backlog = cg.embed_backlog()
        assert (backlog["pending"], backlog["embedded"]) == (58, 32)
        report = cg.embed()
    assert (report.cached, report.embedded) == (0, 58)


def test_a_run_embeds_its_repository_only(tmp_path: Path) -> None:
    one = write_tree(tmp_path / "one", {"a.py": helpers_module(10)})
    two = write_tree(tmp_path / "two", {"b.py": helpers_module(7)})
    with open_graph(tmp_path / "data") as cg:
        cg.index(str(one), name="one", workers=1)
        cg.index(str(two), name="two", workers=1)
        assert cg.embed_backlog("two")["eta_seconds"] is None  # never measured
        report = cg.embed(repo="one")
        assert (report.repo, report.total, report.embedded) == ("one", 10, 10)
        assert report.rate > 0
        assert cg.embed_backlog("one")["pending"] == 0
        backlog = cg.embed_backlog("two")
        assert backlog["pending"] == 7 and backlog["eta_seconds"] > 0
        assert cg.embed_backlog()["pending"] == 7
        assert cg.embed_backlog()["pending_by_repo"] == {"one": 0, "two": 7}
        assert cg.embed(repo="two").embedded == 7
        cg.remove("one")
        report = cg.embed(repo="two")  # drops the vectors of a removed repository too
        assert (report.removed, report.embedded) == (10, 0)
        assert cg.stats()["search"]["embedded"] == 7
