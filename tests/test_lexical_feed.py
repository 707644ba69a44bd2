"""The lexical index after indexing runs: fed with the rows the parse workers tokenized.

After every run the lexical index must hold exactly what a full sync from the graph store
would give it (the same chunks, the same tokens), whichever way it got there: replacing
only the changed files (in step before the run) or a full sync (out of step: a killed
run, a deleted index, ``--full``).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from codegraph.api import CodeGraph
from codegraph.config import LEXICAL_STAGE
from codegraph.search import lexical_feed
from codegraph.search.lexical import LexicalIndex, LexicalIndexError, default_path
from helpers import run_cli, touch_later, write_tree

FILES = {
    "pkg/__init__.py": "",
    "pkg/shapes.py": ("class Circle:\n    def area(self, radius):\n"
                      "        return 3.14 * radius * radius\n\n"
                      "def parseHTTPHeader(raw_bytes):\n    return raw_bytes.split(b':')\n"),
    "pkg/util.py": "LIMIT = 10\n\ndef clampValue(x):\n    return min(x, LIMIT)\n",
    "web/app.js": "function renderUserProfile(user) {\n  return user.name;\n}\n",
}


def fts_content(data_dir: Path) -> dict[str, tuple[Any, ...]]:
    """chunk id -> every column the lexical index holds for it."""
    db = sqlite3.connect(default_path(str(data_dir)))
    try:
        return {row[0]: row[1:] for row in db.execute(
            "SELECT d.chunk_id, d.hash, d.repo, d.language, d.kind, d.path, f.name, "
            "f.context, f.body FROM docs AS d JOIN fts AS f ON f.rowid = d.rowid")}
    finally:
        db.close()


def rebuilt_content(data_dir: Path, tmp_path: Path) -> dict[str, tuple[Any, ...]]:
    """What a full sync from the store into an empty lexical index holds."""
    fresh = tmp_path / "rebuilt"
    fresh.mkdir(exist_ok=True)
    for name in os.listdir(fresh):
        os.remove(fresh / name)
    with CodeGraph.open(str(data_dir), readonly=True) as cg, \
            LexicalIndex.open(default_path(str(fresh))) as ix:
        ix.sync(cg.search_service().chunks(), revision=cg.revision)
    return fts_content(fresh)


def assert_in_step(data_dir: Path, tmp_path: Path) -> None:
    content = fts_content(data_dir)
    assert content and content == rebuilt_content(data_dir, tmp_path)
    with CodeGraph.open(str(data_dir), readonly=True) as cg, \
            LexicalIndex.open(default_path(str(data_dir))) as ix:
        assert ix.revision == cg.revision


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", FILES)


def index(repo: Path, data: Path, *args: str) -> None:
    code, _, err = run_cli("index", str(repo), "--progress", "none", *args, data_dir=data)
    assert code == 0, err


def test_cold_and_incremental_runs_keep_it_in_step(repo: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    index(repo, data)
    assert_in_step(data, tmp_path)
    before = fts_content(data)
    touch_later(repo / "pkg/util.py", "LIMIT = 20\n\ndef clampValue(x, top):\n"
                                      "    return min(x, top, LIMIT)\n")
    (repo / "web/app.js").unlink()
    write_tree(repo, {"pkg/extra.py": "def zebraCrossing():\n    pass\n"})
    index(repo, data)
    assert_in_step(data, tmp_path)
    after = fts_content(data)
    untouched = {i: v for i, v in before.items() if v[4] == "pkg/shapes.py"}
    assert untouched and all(after[i] == v for i, v in untouched.items())
    assert not any(v[4] == "web/app.js" for v in after.values())
    assert any(v[4] == "pkg/extra.py" for v in after.values())


def test_out_of_step_runs_sync_everything(repo: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    index(repo, data)
    lexical_file = default_path(os.path.abspath(data))
    os.remove(lexical_file)  # deleted (its -wal and -shm went with the last connection)
    touch_later(repo / "pkg/util.py", "def clampValue(x):\n    return x\n")
    index(repo, data)  # parses one file, but the index is rebuilt whole
    assert_in_step(data, tmp_path)
    with LexicalIndex.open(lexical_file) as ix:  # a run that died before its sync
        ix.set_revision(1)
    (repo / "pkg/shapes.py").unlink()
    index(repo, data)
    assert_in_step(data, tmp_path)
    assert not any(v[4] == "pkg/shapes.py" for v in fts_content(data).values())


def test_full_rebuild_drops_files_that_are_gone(repo: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    index(repo, data)
    (repo / "web/app.js").unlink()
    index(repo, data, "--full")
    assert_in_step(data, tmp_path)
    assert not any(v[4] == "web/app.js" for v in fts_content(data).values())


def test_other_repositories_are_left_alone(repo: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    other = write_tree(tmp_path / "other", {"lib/mathx.py": "def clampValue(x):\n    return x\n"})
    index(repo, data)
    index(other, data)
    assert_in_step(data, tmp_path)
    assert {v[1] for v in fts_content(data).values()} == {"repo", "other"}
    touch_later(repo / "pkg/util.py", "def clampValue(x):\n    return -x\n")
    index(repo, data)
    assert_in_step(data, tmp_path)


def test_the_feed_reuses_the_workers_rows(repo: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """In step, nothing is tokenized after the run; out of step, only chunks without rows."""
    with CodeGraph.open(str(tmp_path / "data")) as cg:
        cg.index(str(repo), workers=1)
        (repo / "web/app.js").unlink()
        touch_later(repo / "pkg/util.py", "def clampValue(x):\n    return x + 1\n")
        calls: list[str] = []
        real_sync = LexicalIndex.sync

        def counting_sync(self: LexicalIndex, chunks: Any, **kw: Any) -> Any:
            calls.append("sync")
            return real_sync(self, chunks, **kw)

        monkeypatch.setattr(LexicalIndex, "sync", counting_sync)
        monkeypatch.setattr(lexical_feed.LexicalFeed, "_stored_chunks",
                            lambda self: pytest.fail("read the store while in step"))
        cg.index(str(repo), workers=1)
        assert calls == []
        assert {c.path for c in cg.search_service().chunks()} == {
            "pkg/shapes.py", "pkg/util.py"}
        assert set(cg.search_service().lexical().chunk_ids()) == {
            c.id for c in cg.search_service().chunks()}


def test_a_large_update_is_written_by_a_forked_process(repo: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexical_feed, "BACKGROUND_ROWS", 1)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)
        touch_later(repo / "pkg/util.py", "def clampValue(x):\n    return x * 2\n")
        (repo / "web/app.js").unlink()
        cg.index(str(repo), workers=1)
    assert_in_step(data, tmp_path)


def test_a_failing_writer_process_fails_the_run_and_the_next_run_syncs(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)
        touch_later(repo / "pkg/util.py", "def clampValue(x):\n    return x * 3\n")
        with monkeypatch.context() as mp:
            mp.setattr(lexical_feed, "BACKGROUND_ROWS", 1)

            def broken(*args: Any, **kwargs: Any) -> Any:
                raise LexicalIndexError("disk full")

            mp.setattr(LexicalIndex, "replace_files", broken)  # in the forked writer
            with pytest.raises(LexicalIndexError, match=r"writer failed: .*disk full"):
                cg.index(str(repo), workers=1)
        cg.index(str(repo), workers=1)  # out of step: a full sync
    assert_in_step(data, tmp_path)


def test_a_first_index_takes_the_rows_its_workers_staged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk load's parse workers stage their rows in files of their own instead of giving
    them to the indexing process; the index takes them from there, and the files go."""
    files = {f"pkg/mod{i:02d}.py": f"def handler{i}(request):\n    return request.get{i}()\n"
             for i in range(60)}  # enough files for a pool of workers
    repo = write_tree(tmp_path / "repo", files)
    given: list[int] = []
    staged: list[str] = []
    real_add, real_final = lexical_feed.LexicalFeed.add, lexical_feed.LexicalFeed.chunks_final

    def add(self: lexical_feed.LexicalFeed, repo: str, path: str, rows: Any) -> None:
        given.append(len(rows))
        real_add(self, repo, path, rows)

    def chunks_final(self: lexical_feed.LexicalFeed, *args: Any) -> None:
        staged.extend(args[3])
        real_final(self, *args)

    monkeypatch.setattr(lexical_feed.LexicalFeed, "add", add)
    monkeypatch.setattr(lexical_feed.LexicalFeed, "chunks_final", chunks_final)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=2)
    assert len(given) == 60 and set(given) == {0}  # every row was staged
    assert 1 <= len(staged) <= 2 and {os.path.dirname(p) for p in staged} == {
        str(data / LEXICAL_STAGE)}  # a file per worker (that had chunks)
    assert not (data / LEXICAL_STAGE).exists()
    assert_in_step(data, tmp_path)


def test_staged_files_beyond_what_sqlite_attaches_at_once(tmp_path: Path) -> None:
    """More staged files than one transaction attaches: taken a group at a time, and the
    revision set by the last group."""
    from codegraph.search.lexical import LexicalRow
    from codegraph.search.lexical_stage import RowStage, fresh_directory

    staged = []
    for i in range(19):
        stage = RowStage(fresh_directory(str(tmp_path / f"stage{i}")))
        stage.add([LexicalRow(f"{i:016x}", "h", "r", "python", "function", f"m{i}.py",
                              f"name{i}", "ctx", f"body token{i}")])
        staged += stage.finish()
    with LexicalIndex.open(str(tmp_path / "lexical.sqlite")) as ix:
        report = ix.replace_files("r", {f"m{i}.py": [] for i in range(19)}, revision=7,
                                  staged=staged)
        assert (report.added, report.removed, ix.revision, ix.count()) == (19, 0, 7, 19)
        assert [h.chunk_id for h in ix.search("token12")] == [f"{12:016x}"]


def test_a_watched_update_on_a_stale_index_syncs_it_all(tmp_path: Path) -> None:
    """An update whose lexical index was behind the store before it (an earlier run was
    killed before its sync) syncs the whole index, instead of stamping it in step."""
    repo = write_tree(tmp_path / "repo", FILES)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        report = cg.index(str(repo), workers=1)
        (repo / "pkg/util.py").write_text("def renamedWhileKilled(x):\n    return x\n")
        cg.indexer(workers=1).update_paths(report.repo, report.root, ["pkg/util.py"])
        # (no sync: as if killed there) then a watched save of another file
        (repo / "web/app.js").write_text("function renderTeamPage(team) {\n  return 1;\n}\n")
        before = cg.revision
        update = cg.indexer(workers=1).update_paths(report.repo, report.root, ["web/app.js"])
        cg.search_service().sync_paths(report.repo, update.changed, since=before)
        hits = cg.search("renamedWhileKilled", mode="lexical")["results"]
        assert [h["name"] for h in hits][:1] == ["renamedWhileKilled"]
    assert fts_content(data) == rebuilt_content(data, tmp_path)
