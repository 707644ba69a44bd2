"""The store's typed methods: what they read and write, under the keys stores have always
had (a store written before them reads the same), and the errors of a damaged store."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegraph.graph.model import Node
from codegraph.store.records import chunk_record, dependency_records, facts_record, node_records
from codegraph.store.rocks import Store, StoreCorrupted, StoreError, pack, unpack

REPO = "repo"
MODULE = "1a" * 8
FUNC = "2b" * 8
CHUNK = "3c" * 8


def func(repo: str = REPO) -> Node:
    return Node(FUNC, "function", "Handle", "pkg.mod.Handle", "python", repo, "pkg/mod.py",
                3, 0, 5, 0, parent=MODULE)


def test_store_error_is_a_codegraph_error() -> None:
    from codegraph.errors import CodeGraphError

    assert issubclass(StoreError, CodeGraphError)
    assert issubclass(StoreCorrupted, StoreError)


def test_records_keep_the_stored_key_layout() -> None:
    node = func()
    raw = bytes.fromhex(FUNC)
    assert [(cf, key) for cf, key, _ in node_records(node)] == [
        ("nodes", raw), ("names", b"handle\0repo\0" + raw),
        ("qnames", b"pkg.mod.Handle\0repo\0" + raw)]
    assert chunk_record(REPO, "pkg/mod.py", CHUNK, ["text"]) == (
        "chunks", b"repo\0pkg/mod.py\0" + bytes.fromhex(CHUNK), pack(["text"]))
    assert facts_record(REPO, "pkg/mod.py", b"F") == ("facts", b"repo\0pkg/mod.py", b"F")
    assert dependency_records(REPO, "pkg/mod.py", ["a", "b"]) == [
        ("deps", b"repo\0a\0pkg/mod.py", b""), ("deps", b"repo\0b\0pkg/mod.py", b"")]


def test_typed_reads_and_writes(tmp_path: Path) -> None:
    with Store.open(str(tmp_path / "db")) as store:
        wb = store.batch()
        store.put(wb, node_records(func()) + node_records(func("other")))
        store.put(wb, [chunk_record(REPO, "pkg/mod.py", CHUNK, ["text", "h"])])
        store.marks.put_facts(wb, REPO, "pkg/mod.py", pack([1, 2]))
        store.marks.mark_dirty(wb, REPO, "pkg/mod.py")
        store.marks.add_dependencies(wb, REPO, "pkg/mod.py", ["Base", "helper"])
        store.commit(wb)
        assert store.qualified_name_ids("pkg.mod.Handle") == [FUNC, FUNC]
        assert store.qualified_name_ids("pkg.mod.Handle", REPO) == [FUNC]
        assert store.qualified_name_ids("pkg.mod", REPO) == []
        assert store.has_qualified_name("pkg.mod.Handle", REPO)
        assert not store.has_qualified_name("pkg.mod.Handl", REPO)
        assert store.name_ids("HANDLE", exact=True, repo=REPO) == [FUNC]
        assert store.name_ids("hand", exact=False) == [FUNC, FUNC]
        assert store.name_ids("hand", exact=True) == []
        assert store.name_ids("handle", exact=True, limit=1) == [FUNC]
        assert store.kinds_and_parents([FUNC, MODULE]) == [("function", MODULE), None]
        assert list(store.chunk_ids()) == [CHUNK]
        assert store.chunks_at({CHUNK: (REPO, "pkg/mod.py"), "4d" * 8: (REPO, "x.py")}) == {
            CHUNK: ["text", "h"]}
        assert store.facts(REPO, "pkg/mod.py") == [1, 2]
        assert store.dirty(REPO) == ["pkg/mod.py"]
        assert store.dependents(REPO, "helper") == {"pkg/mod.py"}
        wb = store.batch()
        store.marks.clear_dirty(wb, REPO, "pkg/mod.py")
        store.marks.remove_dependencies(wb, REPO, "pkg/mod.py", ["helper"])
        store.marks.delete_facts(wb, REPO, "pkg/mod.py")
        store.commit(wb)
        assert store.dirty(REPO) == []
        assert store.dependents(REPO, "helper") == set()
        assert store.dependents(REPO, "Base") == {"pkg/mod.py"}
        assert store.facts(REPO, "pkg/mod.py") is None


def test_embedding_cache(tmp_path: Path) -> None:
    model = "local/mini"
    with Store.open(str(tmp_path / "db")) as store:
        cache = store.embedding_cache
        assert cache.failures() == (0, "")
        wb = store.batch()
        cache.put_vector(wb, model, "h1", b"\0" * 8)
        cache.put_embedded(wb, model, CHUNK, "h1")
        store.commit(wb, bump=False)
        assert cache.vectors(model, ["h1", "h2"]) == [b"\0" * 8, None]
        assert cache.vectors("openai/other", ["h1"]) == [None]
        assert cache.vector_count() == 1  # the id map is not counted
        assert cache.embedded(model) == {CHUNK: "h1"}
        assert store._get("embeddings", b"local/mini\0h1") == b"\0" * 8  # the key layout
        assert store._get("embeddings", b"\0idmap\0local/mini\0" + bytes.fromhex(CHUNK)) \
            == b"h1"
        wb = store.batch()
        cache.delete_embedded(wb, model, CHUNK)
        store.commit(wb, bump=False)
        assert cache.embedded(model) == {}
        cache.record_failures(3, "boom")
        assert cache.failures() == (3, "boom")
        assert unpack(store._get("meta", b"embed_failures") or b"")[:2] == [3, "boom"]
        assert store.revision == 0  # none of these advance it


def damage(path: Path) -> None:
    for sst in path.glob("*.sst"):  # damage the data blocks, keep the footer valid
        blob = bytearray(sst.read_bytes())
        blob[5:25] = b"\xde" * 20
        sst.write_bytes(bytes(blob))


def test_reading_a_damaged_store_raises_store_corrupted(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Store.open(str(path)) as store:
        wb = store.batch()
        store.put(wb, node_records(func()))
        store.marks.put_facts(wb, REPO, "pkg/mod.py", pack(list(range(1000))))
        store.commit(wb)
    with Store.open(str(path), readonly=True) as store:
        damage(path)  # after the open, which read the revision
        for read in (lambda: store.node(FUNC), lambda: store.nodes([FUNC]),
                     lambda: store.facts(REPO, "pkg/mod.py"),
                     lambda: store.qualified_name_ids("pkg.mod.Handle")):
            with pytest.raises(StoreCorrupted, match="corrupted"):
                read()
    with pytest.raises(StoreCorrupted, match="corrupted"):  # the open reads the revision
        Store.open(str(path), readonly=True)
