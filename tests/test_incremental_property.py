"""Property: an incremental run leaves the store exactly as a clean index of the same tree.

Over a real project (a part of Django 5.1.4's pinned sdist: ``django/db``, the admin's
JavaScript and a test app that calls ``QuerySet.as_manager()``), seeded random edits
(``random_edits.py``) are applied one at a time. After each, two stores are brought up to
date, one through ``CodeGraph.index`` (a complete incremental run) and one through
``Indexer.update_paths`` (the watcher's entry point, given the edited paths, followed by the
lexical sync the server makes), and each is compared with a clean index of the tree in a
fresh data directory: every column family of the store, key by key and byte by byte, and
the lexical index's rows.

What may legitimately differ, and is left out of the comparison (``LEGITIMATE``):

- ``meta``: ``revision`` (a counter of committed batches) and the repository's record
  (``repo\\0NAME``: its creation and last-run times, the last run's duration and revision,
  and the number of files of the last *complete* run, which ``update_paths`` does not
  update);
- the lexical index's ``meta`` (the store revision it reflects) and its row ids.

Nothing else: file records (the same tree holds the same mtimes), nodes, edges, name
indexes, facts, dependencies, dirty marks and chunks must be byte-equal.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from codegraph.api import CodeGraph
from codegraph.search.lexical import default_path
from corpora import sdist_or_skip
from helpers import dump_store, touch_later
from random_edits import Editor

# The part of Django that the property test indexes: Python with inheritance, imports
# and re-exports across packages (django/db), JavaScript (the admin's own scripts, without
# the vendored libraries) and a test app whose querysets call ``as_manager()``.
DJANGO_PARTS = ("django/__init__.py", "django/db", "tests/queryset_pickle")
DJANGO_JS = "django/contrib/admin/static/admin/js"
# The tree is named like the sdist's directory: the repository's name, and with it the
# node ids (in a repository named so, QuerySet's ``as_manager`` attribute has a smaller id
# than its ``as_manager`` method).
SDIST = "django-5.1.4"
EDITS = int(os.environ.get("CODEGRAPH_PROPERTY_EDITS", "14"))  # a round of every kind
SEED = int(os.environ.get("CODEGRAPH_PROPERTY_SEED", "12"))


def django_part(dest: Path) -> Path:
    tree = sdist_or_skip("django", "5.1.4")
    for part in DJANGO_PARTS:
        src = tree / part
        if src.is_dir():
            shutil.copytree(src, dest / part)
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
    js = dest / DJANGO_JS
    shutil.copytree(tree / DJANGO_JS, js, ignore=shutil.ignore_patterns("vendor"))
    return dest


def snapshot(data: Path) -> dict[str, dict[Any, Any]]:
    """Everything the data directory holds but what may legitimately differ."""
    dump: dict[str, dict[Any, Any]] = dict(dump_store(data, skip=()))
    dump["meta"] = {k: v for k, v in dump["meta"].items()
                    if k != b"revision" and not k.startswith(b"repo\0")}
    with sqlite3.connect(default_path(str(data))) as db:
        rows = db.execute("SELECT d.chunk_id, d.hash, d.repo, d.language, d.kind, d.path,"
                          " f.name, f.context, f.body FROM docs d JOIN fts f"
                          " ON f.rowid = d.rowid").fetchall()
    db.close()
    dump["lexical"] = {row[0]: row for row in rows}
    return dump


def differences(got: dict[str, dict[Any, Any]], want: dict[str, dict[Any, Any]],
                ) -> list[str]:
    """Per column family that differs: how many keys, and the first one."""
    out = []
    for cf in sorted(want.keys() | got.keys()):
        a, b = got.get(cf, {}), want.get(cf, {})
        keys = sorted((k for k in a.keys() | b.keys() if a.get(k) != b.get(k)), key=repr)
        if keys:
            out.append(f"{cf}: {len(keys)} keys differ, first {keys[0]!r}: "
                       f"{a.get(keys[0])!r} != clean {b.get(keys[0])!r}")
    return out


def clean_index(tree: Path, data: Path) -> dict[str, dict[Any, Any]]:
    """A first index of the tree in a fresh data directory: a bulk load, its files parsed
    by two worker processes (in another order than one process parses them)."""
    shutil.rmtree(data, ignore_errors=True)
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(tree), workers=2)
    return snapshot(data)


@pytest.mark.timeout(int(os.environ.get("CODEGRAPH_PROPERTY_TIMEOUT", "300")))
def test_incremental_runs_equal_a_clean_index(tmp_path: Path) -> None:
    tree = django_part(tmp_path / SDIST)
    editor = Editor(tree, seed=SEED)
    complete, watched, clean = tmp_path / "complete", tmp_path / "watched", tmp_path / "clean"
    for data in (complete, watched):
        with CodeGraph.open(str(data)) as cg:
            report = cg.index(str(tree), workers=1)
    found = []
    for step in range(EDITS):
        edit = editor.step()
        print(f"step {step}: {edit}")
        with CodeGraph.open(str(complete)) as cg:
            cg.index(str(tree), workers=1)
        with CodeGraph.open(str(watched)) as cg:
            before = cg.revision
            update = cg.indexer(workers=1).update_paths(report.repo, report.root, edit.paths)
            cg.search_service().sync_paths(report.repo, update.changed, since=before)
        want = clean_index(tree, clean)
        for name, data in (("index", complete), ("update_paths", watched)):
            diff = differences(snapshot(data), want)
            found += [f"step {step} ({edit}) {name}: {d}" for d in diff]
            if diff:  # go on from the clean store: the next differences are new ones
                shutil.rmtree(data)
                shutil.copytree(clean, data)
    assert found == [], "\n".join(found)


@pytest.mark.timeout(120)
def test_django_as_manager_after_an_unrelated_edit(tmp_path: Path) -> None:
    # django/db/models/query.py: ``def as_manager(cls)`` then ``as_manager =
    # classmethod(as_manager)``, called as ``PreviousDjangoVersionQuerySet.as_manager()`` in
    # tests/queryset_pickle/models.py. An incremental run after an edit of models.py took
    # the attribute (the stored symbols came in id order), a clean index the method.
    tree = django_part(tmp_path / SDIST)
    data = tmp_path / "data"
    caller = "queryset_pickle.models.Group.previous_django_version_objects"
    want = [("django.db.models.query.QuerySet.as_manager", "method")]
    models = tree / "tests/queryset_pickle/models.py"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(tree), workers=1)
        assert [(r["qualified_name"], r["kind"]) for r in cg.callees(caller)] == want
    touch_later(models, models.read_text() + "\n\ndef unrelated():\n    return 1\n")
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(tree), workers=1)
        assert [(r["qualified_name"], r["kind"]) for r in cg.callees(caller)] == want
    assert differences(snapshot(data), clean_index(tree, tmp_path / "clean")) == []
