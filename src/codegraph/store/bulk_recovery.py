"""What a first index in bulk (``index/bulk.py``), killed before it recorded its files,
left in the store: the keys of nodes that no file record covers.

Every node has a ``qnames`` key ending in its repository's name and its id, which a bulk
load ingests before the node's other keys: from there, the node's record, its name keys
and its edges are found (edges into a node come from its own repository). Chunks and
facts are keyed by repository and path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocksdict import WriteBatch

if TYPE_CHECKING:
    from codegraph.store.rocks import Store


def delete_unrecorded_nodes(store: Store, wb: WriteBatch, repo: str,
                            recorded: set[str]) -> tuple[int, set[str]]:
    """Delete (in ``wb``) the repository's nodes whose file is not among ``recorded``
    paths, with their edges. Returns how many, and the paths of those whose record was
    found (to delete their files' chunks and facts)."""
    tail = b"\0" + repo.encode() + b"\0"
    handle = store._handle
    removed, paths = 0, set()
    for key in store._scan_keys("qnames", b""):
        if not key[:-8].endswith(tail):
            continue
        raw = key[-8:]
        node = store.node(raw.hex())
        if node is not None and node.path in recorded:
            continue  # of a file recorded at a checkpoint
        if node is not None:  # ingested after qnames, before names
            paths.add(node.path)
            store.delete_node(wb, node)
        wb.delete(key, handle["qnames"])
        wb.delete(raw, handle["out"])
        wb.delete_range(raw, raw + b"\xff" * 16, handle["in"])  # keys: dst id + 13 bytes
        removed += 1
    return removed, paths


def delete_unrecorded_files(store: Store, wb: WriteBatch, repo: str,
                            paths: set[str]) -> None:
    """Delete (in ``wb``) the chunks and facts of files that have no record."""
    for path in paths:
        store.marks.delete_facts(wb, repo, path)
        store.delete_chunks(wb, repo, path)
