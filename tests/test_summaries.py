"""``stats`` and ``dependencies`` are computed once per store revision (query/summaries.py):
the next calls at that revision are lookups, and any change to the index (a new revision, a
full re-index's new store) computes them again, so they are never stale. On a real store."""

from __future__ import annotations

from pathlib import Path

from codegraph.api import CodeGraph
from codegraph.query import queries
from helpers import write_tree

FILES = {
    "app/__init__.py": "",
    "app/a.py": "from app import b\n\n\ndef f():\n    return b.g()\n",
    "app/b.py": "def g():\n    return 1\n",
}


def test_summaries_are_cached_per_revision(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "app", FILES)
    with CodeGraph.open(str(tmp_path / "data")) as cg:
        cg.index(str(repo), name="app")
        cache = cg.summaries
        first = cg.answer("stats", {})  # the counts, and the embedding figures
        assert cache.misses == 2 and cache.hits == 0
        again = cg.answer("stats", {"repo": "app"}), cg.answer("stats", {})
        assert again[1] == first and cache.hits == 2  # (repo=app: a question of its own)
        assert first["search"]["embedding_failures"] == 0
        # Embedding writes beside the revision: its figures are read again, not the counts.
        cg.store.embedding_cache.record_failures(3, "model went away")
        misses, hits = cache.misses, cache.hits
        failed = cg.answer("stats", {})
        assert failed["search"]["embedding_failures"] == 3 and failed["files"] == 3
        assert (cache.misses, cache.hits) == (misses + 1, hits + 1)
        assert cg.answer("stats", {}) == failed and cache.hits == hits + 3
        assert first["files"] == 3 and first["revision"] == cg.revision
        assert first["nodes"] == queries.stats(cg.store)["nodes"]  # what it computed
        deps = cg.answer("dependencies", {})
        assert cg.answer("dependencies", {}) == deps
        assert [d["imports"] for d in deps["results"] if d["module"] == "app.a"] == [["app.b"]]
        # a caller editing its copy does not edit the cached answer
        first["files"] = -1
        deps["results"].clear()
        assert cg.stats()["files"] == 3 and cg.dependencies()

        # A change: a new revision, computed again, the new file and import counted.
        before = cg.revision
        write_tree(repo, {"app/c.py": "from app import a\n\n\ndef h():\n    return a.f()\n"})
        cg.index(str(repo), name="app")
        assert cg.revision > before
        misses = cache.misses
        now = cg.answer("stats", {})
        assert cache.misses == misses + 2 and now["files"] == 4
        assert now["nodes"] == queries.stats(cg.store)["nodes"] > first["nodes"]
        modules = {d["module"] for d in cg.answer("dependencies", {})["results"]}
        assert "app.c" in modules

        # A full re-index switches in a new store: its answers are its own.
        cg.index(str(repo), name="app", full=True)
        assert cg.answer("stats", {})["files"] == 4 and cache.misses == misses + 5
        cg.remove("app")
        assert cg.stats()["files"] == 0 and cg.dependencies() == []
