"""The stored form of edges: a node's outgoing edges in one value, incoming ones by key."""

from __future__ import annotations

from pathlib import Path

from codegraph.graph.model import Edge, EdgeKind
from codegraph.store.edges import decode_in_edge, decode_out, edge_records, out_record
from codegraph.store.rocks import Store

SRC, A, B = "01" * 8, "0a" * 8, "0b" * 8


def edge(dst: str, kind: EdgeKind, line: int, name: str = "f", col: int = 1,
         resolution: str = "import", confidence: float = 0.9) -> Edge:
    return Edge(SRC, dst, kind, line, col, resolution, confidence, name)


def site(e: Edge) -> tuple[int, str, int]:
    return (e.kind, e.dst, e.line)


def test_out_value_is_sorted_by_kind_target_line_and_keeps_the_last_of_a_site() -> None:
    edges = [edge(B, EdgeKind.CALLS, 3), edge(A, EdgeKind.IMPORTS, 9),
             edge(A, EdgeKind.CALLS, 7), edge(A, EdgeKind.CALLS, 3, name="first"),
             edge(A, EdgeKind.CALLS, 3, name="second", col=5), edge(A, EdgeKind.CALLS, -1)]
    cf, key, value = out_record(SRC, edges)
    assert (cf, key) == ("out", bytes.fromhex(SRC))
    got = decode_out(SRC, value)
    assert [(e.kind, e.dst, e.line) for e in got] == [
        (EdgeKind.IMPORTS, A, 9), (EdgeKind.CALLS, A, 0), (EdgeKind.CALLS, A, 3),
        (EdgeKind.CALLS, A, 7), (EdgeKind.CALLS, B, 3)]
    assert (got[2].name, got[2].col) == ("second", 5)  # the last edge of that site
    assert got[0] == edge(A, EdgeKind.IMPORTS, 9)  # every field round-trips


def test_in_keys_mirror_the_out_value() -> None:
    edges = [edge(B, EdgeKind.CALLS, 3), edge(A, EdgeKind.CALLS, 3, name="x"),
             edge(A, EdgeKind.CALLS, 3, name="y")]
    records = edge_records(SRC, edges, "repo")
    ins = {key: value for cf, key, value in records if cf == "in"}
    outs = [value for cf, _, value in records if cf == "out"]
    assert len(outs) == 1 and len(ins) == 2  # one site given twice is one edge
    assert sorted((decode_in_edge(k, v) for k, v in ins.items()), key=site) == \
        decode_out(SRC, outs[0])


def test_store_reads_and_deletes_out_edges(tmp_path: Path) -> None:
    edges = [edge(B, EdgeKind.CALLS, 3), edge(A, EdgeKind.IMPORTS, 1),
             edge(A, EdgeKind.CALLS, 2, resolution="external", confidence=0.3)]
    with Store.open(str(tmp_path / "db")) as store:
        wb = store.batch()
        store.put(wb, edge_records(SRC, edges, "repo"))
        store.commit(wb)
        assert store.edges(SRC, incoming=False) == sorted(edges, key=site)
        assert [e.kind for e in store.edges(SRC, incoming=False, kinds=(
            EdgeKind.CALLS, EdgeKind.IMPORTS))] == [EdgeKind.CALLS] * 2 + [EdgeKind.IMPORTS]
        assert store.edges(A, incoming=True) == [edges[1], edges[2]]
        assert store.edges(A, incoming=True, kinds=(EdgeKind.CALLS,)) == [edges[2]]
        wb = store.batch()
        assert sorted(store.delete_out_edges(wb, SRC, "repo"), key=lambda e: e.line) == \
            sorted(edges, key=lambda e: e.line)
        store.commit(wb)
        assert store.edges(SRC, incoming=False) == []
        assert store.edges(A, incoming=True) == store.edges(B, incoming=True) == []
        assert store.delete_out_edges(store.batch(), SRC, "repo") == []


def test_external_edges_are_counted_by_repository_and_name(tmp_path: Path) -> None:
    calls, imports = EdgeKind.CALLS, EdgeKind.IMPORTS
    edges = [edge(A, calls, 2, "filter", resolution="external", confidence=0.3),
             edge(B, calls, 2, "filter", resolution="external", confidence=0.3),
             edge(B, calls, 4, "filter", resolution="external", confidence=1.0),
             edge(A, calls, 4, "filter_x", resolution="external", confidence=0.3),
             edge(A, imports, 1, "filter", resolution="external", confidence=1.0),
             edge(A, calls, 9, "filter", resolution="name_match", confidence=0.5),
             edge(A, calls, 9, "filter", resolution="external", confidence=0.3)]  # its site
    with Store.open(str(tmp_path / "db")) as store:
        wb = store.batch()
        store.put(wb, edge_records(SRC, edges, "repo"))
        store.commit(wb)
        assert store.external_sites("filter", "repo", (calls,)) == (3, 1)
        assert store.external_sites("filter", "repo", (calls, imports)) == (3, 2)
        assert store.external_sites("filter", "repo", (calls,), frozenset({B})) == (2, 0)
        assert store.external_sites("filter", "other", (calls,)) == (0, 0)
        assert store.external_sites("filter_x", "repo", (calls,)) == (1, 0)
        assert store.external_sites("filte", "repo", (calls,)) == (0, 0)
        wb = store.batch()
        store.delete_out_edges(wb, SRC, "repo")
        store.commit(wb)
        for name in ("filter", "filter_x"):
            assert store.external_sites(name, "repo", (calls, imports)) == (0, 0)
