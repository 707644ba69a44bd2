"""Upgrading a store of an older schema in place, when a writer opens it.

Only what can be made from the store itself is upgraded; anything else is refused with a
message (re-index into a new data directory). A reader cannot write: it refuses a store
that a writer would upgrade, and says how to upgrade it.

- 3 -> 4: the ``external_sites`` index, made from the stored edges (``edges.py``). The
  index is emptied first and the schema written last, with a new revision (cached answers
  of the old revision lack what the index adds): an upgrade that is killed half-way is
  made again, whole, at the next open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codegraph.graph.model import EXTERNAL
from codegraph.store.edges import decode_out, site_key
from codegraph.store.errors import StoreError
from codegraph.store.keys import SCHEMA as SCHEMA_KEY
from codegraph.store.keys import node_key

if TYPE_CHECKING:
    from codegraph.store.rocks import Store

UPGRADES_FROM = (3,)  # the schemas a writer upgrades in place
BATCH_KEYS = 50_000  # puts per committed batch while the index is made


def refusal(path: str, schema: int, readonly: bool) -> StoreError | None:
    """Why a store of ``schema`` cannot be used as it is (None: a writer upgrades it)."""
    from codegraph.store.rocks import SCHEMA

    if schema not in UPGRADES_FROM:
        return StoreError(f"the store at {path} has schema {schema}, this CodeGraph needs "
                          f"{SCHEMA}: re-index into a new data directory")
    if readonly:
        return StoreError(f"the store at {path} has schema {schema}, this CodeGraph needs "
                          f"{SCHEMA}: open it once with a writer to upgrade it in place "
                          "(`codegraph index PATH` or `codegraph serve`), or re-index into "
                          "a new data directory")
    return None


def older_store(opened: str, path: str) -> StoreError | None:
    """Why a reader could not open the store at ``opened`` (``path``, or a view of it), if
    it is of an older schema without some column family of this one's; else None."""
    from rocksdict import AccessType, Options, Rdict

    from codegraph.store.rocks import COLUMN_FAMILIES

    try:
        names = [n for n in Rdict.list_cf(opened, Options(raw_mode=True)) if n != "default"]
        if "meta" not in names or not set(COLUMN_FAMILIES) - set(names):
            return None
        db = Rdict(opened, Options(raw_mode=True), access_type=AccessType.read_only(),
                   column_families={n: Options(raw_mode=True) for n in names})
        try:
            raw = db.get_column_family("meta").get(SCHEMA_KEY)
        finally:
            db.close()
        schema = int(raw) if raw else 0
    except Exception:
        return None  # not for this module to explain
    return refusal(path, schema, readonly=True)


def upgrade(store: Store, schema: int) -> None:
    """Upgrade ``store``, of schema ``schema``, to this CodeGraph's (or raise StoreError:
    it cannot be, or not by a reader)."""
    from codegraph.store.rocks import SCHEMA

    refused = refusal(store.path, schema, store.readonly)
    if refused is not None:
        raise refused
    external_sites(store)
    wb = store.batch()
    wb.put(SCHEMA_KEY, str(SCHEMA).encode(), store._handle["meta"])
    store.commit(wb)  # a new revision: answers cached under the old one are not reused


def external_sites(store: Store) -> int:
    """Make the ``external_sites`` index from every stored node's outgoing edges, found
    through the file records (which give each node's repository). Returns its keys."""
    from codegraph.store.rocks import FileRecord

    handle = store._handle["external_sites"]
    wb = store.batch()
    wb.delete_range(b"", b"\xff", handle)  # (keys begin with a repository's name: ASCII)
    store.commit(wb, bump=False)
    wb, pending, written = store.batch(), 0, 0
    for key, value in store._scan("files", b""):
        repo, path = key.decode().split("\0", 1)
        ids = FileRecord.from_wire(repo, path, value).node_ids or []
        outs = store._multi_get("out", [node_key(i) for i in ids]) if ids else []
        for node_id, out in zip(ids, outs, strict=True):
            if out is None:
                continue
            for e in decode_out(node_id, out):
                if e.resolution == EXTERNAL:
                    wb.put(site_key(repo, e), b"", handle)
                    pending += 1
        if pending >= BATCH_KEYS:
            store.commit(wb, bump=False)
            wb, written, pending = store.batch(), written + pending, 0
    store.commit(wb, bump=False)
    return written + pending
