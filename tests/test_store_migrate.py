"""A store of schema 3 (no ``external_sites`` index) is upgraded in place by the first
writer that opens it, to what a clean index of schema 4 holds; a reader refuses it with a
message that says how to upgrade, and leaves it as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rocksdict import AccessType, Options, Rdict

from codegraph.api import CodeGraph
from codegraph.store import migrate
from codegraph.store.rocks import COLUMN_FAMILIES, SCHEMA, Store
from helpers import dump_store, one_line_error, run_cli, run_json, sited_edges, write_tree
from unresolved_repo import FILES, KNOWN_FILTERS, UNRESOLVED_FILTERS

OLD_FAMILIES = tuple(cf for cf in COLUMN_FAMILIES if cf != "external_sites")


def raw(path: Path, families: tuple[str, ...]) -> dict[str, dict[Any, Any]]:
    """Column families of a store, read with rocksdict itself (no schema check)."""
    db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only(),
               column_families={name: Options(raw_mode=True) for name in families})
    try:
        return {name: dict(db.get_column_family(name).items()) for name in families}
    finally:
        db.close()


def make_schema_3(path: Path) -> None:
    """What CodeGraph of schema 3 left: no ``external_sites`` column family."""
    opts = Options(raw_mode=True)
    db = Rdict(str(path), opts, column_families={name: Options(raw_mode=True)
                                                 for name in COLUMN_FAMILIES})
    db.drop_column_family("external_sites")
    db.get_column_family("meta")[b"schema"] = b"3"
    db.close()
    assert "external_sites" not in Rdict.list_cf(str(path), opts)


def test_a_writer_upgrades_a_store_of_schema_3(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", FILES)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)
    want = dump_store(data)
    assert len(want["external_sites"]) >= UNRESOLVED_FILTERS + KNOWN_FILTERS
    store_path = data / "rocksdb"
    make_schema_3(store_path)
    before = raw(store_path, OLD_FAMILIES)

    # A reader (every query command) refuses it, says how to upgrade, and writes nothing.
    code, out, err = run_cli("callers", "QuerySet.filter", data_dir=data)
    one_line_error(code, err, "has schema 3", "needs 4", "open it once with a writer",
                   "codegraph index PATH")
    assert out == "" and raw(store_path, OLD_FAMILIES) == before

    # A writer upgrades it: the index a clean run makes, under a new revision.
    with Store.open(str(store_path)) as store:
        assert store.revision == int(before["meta"][b"revision"]) + 1
    got = dump_store(data)
    assert got == {**want, "external_sites": got["external_sites"]}
    assert got["external_sites"] == want["external_sites"] and sited_edges(got)
    assert raw(store_path, ("meta",))["meta"][b"schema"] == str(SCHEMA).encode()
    answer = run_json("callers", "QuerySet.filter", data_dir=data)
    assert (answer["unresolved"], answer["external"]) == (UNRESOLVED_FILTERS, KNOWN_FILTERS)


def test_an_upgrade_killed_half_way_is_made_again_whole(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", FILES)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), workers=1)
    want = dump_store(data)["external_sites"]
    store_path = data / "rocksdb"
    # killed after it wrote part of the index (and a key of a file since removed)
    with Store.open(str(store_path)) as store:
        store._cf["external_sites"][b"gone\0filter\0" + b"\4\0" + b"\1" * 20] = b""
        for key in list(want)[::2]:
            del store._cf["external_sites"][key]
        store._cf["meta"][b"schema"] = b"3"
    with Store.open(str(store_path)):
        pass
    assert dump_store(data)["external_sites"] == want


def test_schemas_that_cannot_be_upgraded(tmp_path: Path) -> None:
    assert migrate.UPGRADES_FROM == (3,) and SCHEMA == 4
    for schema in (2, 5):
        refused = migrate.refusal("/x", schema, readonly=False)
        assert refused is not None and "re-index into a new data directory" in str(refused)
    assert migrate.refusal("/x", 3, readonly=False) is None
