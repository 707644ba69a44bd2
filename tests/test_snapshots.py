"""Snapshots (``codegraph/snapshots.py``) through the library: what a publish links and what
it copies, ``current``, pruning, and a hostile ``current`` file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codegraph import snapshots
from codegraph.api import CodeGraph
from codegraph.errors import Unavailable
from helpers import write_tree


def inodes(directory: str) -> dict[str, int]:
    out = {}
    for d, _, files in os.walk(directory):
        for f in files:
            if f != snapshots.MANIFEST:
                out[os.path.relpath(os.path.join(d, f), directory)] = os.stat(
                    os.path.join(d, f)).st_ino
    return out


def test_a_snapshot_links_what_did_not_change(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", {"a.py": "def f():\n    return 1\n",
                                          "b.py": "def g():\n    return f()\n"})
    data = str(tmp_path / "data")
    with CodeGraph.open(data) as cg:
        cg.index(str(repo))
        first = snapshots.publish(cg)
        again = snapshots.publish(cg, previous=first)  # nothing changed: all links
        a, b = (inodes(snapshots.path_of(data, m.id)) for m in (first, again))
        kept = [k for k in a if k.endswith(".sst") or not k.startswith("rocksdb/")]
        assert "lexical.sqlite" in kept and any(k.endswith(".sst") for k in kept)
        assert {k: a[k] for k in kept} == {k: b[k] for k in kept}
        assert snapshots.current(data) == again.id

        (repo / "a.py").write_text("def f():\n    return 2\n\n\ndef h():\n    pass\n")
        cg.update("repo", str(repo), ["a.py"])
        edited = snapshots.publish(cg, previous=again)
        c = inodes(snapshots.path_of(data, edited.id))
        assert c["lexical.sqlite"] != b["lexical.sqlite"]  # new rows: copied
        store = [k for k in b if k.startswith("rocksdb/") and k.endswith(".sst")]
        assert store and all(c.get(k) == b[k] for k in store)  # old SSTs: the same files
        assert edited.revision > again.revision
        with CodeGraph.open(snapshots.path_of(data, edited.id), readonly=True) as snap:
            assert [s["name"] for s in snap.symbols("h")][:1] == ["h"]


def test_prune_keeps_current_and_what_is_in_its_grace(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo", {"a.py": "x = 1\n"})
    data = str(tmp_path / "data")
    with CodeGraph.open(data) as cg:
        cg.index(str(tmp_path / "repo"))
        made = [snapshots.publish(cg) for _ in range(3)]
    now = made[-1].created
    assert snapshots.prune(data, grace=60, now=now + 30) == []
    assert snapshots.prune(data, grace=60, now=now + 61) == [made[0].id, made[1].id]
    assert snapshots.published(data) == [made[2].id] == [snapshots.current(data)]
    assert snapshots.prune(data, grace=0, now=now + 10_000) == []  # never the current one


@pytest.mark.parametrize("text", ["../../etc", "000000000001-1 extra", "\x00\xff", ""])
def test_a_hostile_current_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    base = Path(snapshots.root(str(tmp_path)))
    base.mkdir()
    (base / snapshots.CURRENT).write_bytes(text.encode("latin-1"))
    with pytest.raises(Unavailable, match="current"):
        snapshots.current(str(tmp_path))
