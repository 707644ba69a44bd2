"""Puts made away from the store, to be written by it: ``(column family, key, value)``
records, which worker processes build and the indexing process writes (``Store.put``) or
spools (``sst.py``). Their keys and column families are the store's business: callers
build records only with these functions and hand them over unopened."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack

from codegraph.graph.model import Node
from codegraph.store.edges import Record as Record  # re-exported
from codegraph.store.edges import edge_records as edge_records  # re-exported
from codegraph.store.keys import chunk_key, dependency_key, file_key, node_key, text_key

# Node records are packed by one thread at a time (msgpack keeps the GIL while packing):
# one reusable packer saves making one per call.
_PACKER = msgpack.Packer(use_bin_type=True)


def node_records(n: Node) -> list[Record]:
    """The puts that store a node and index its name and qualified name."""
    key = node_key(n.id)
    sym: bytes = _PACKER.pack([n.kind, n.name, n.qualified_name, n.path, n.parent,
                               n.language, n.line, n.col])  # a table's ``Sym``
    return [("nodes", key, _PACKER.pack(n.to_wire())),
            ("names", text_key(n.name.lower(), n.repo) + b"\0" + key, sym),
            ("qnames", text_key(n.qualified_name, n.repo) + b"\0" + key, sym)]


def external_node_records(n: Node) -> list[Record]:
    """The puts of an external node: found by qualified name only (the plain-name index is
    for definitions, which resolvers may match names against)."""
    node, _, qname = node_records(n)
    return [node, qname]


def chunk_record(repo: str, path: str, chunk_id: str, wire: list[Any]) -> Record:
    """The put of one search chunk of a file (``Chunk.to_wire()``)."""
    return ("chunks", chunk_key(repo, path, chunk_id), _PACKER.pack(wire))


def facts_record(repo: str, path: str, packed_facts: bytes) -> Record:
    """The put of a file's parsed facts (``FileFacts.to_wire()``, packed)."""
    return ("facts", file_key(repo, path), packed_facts)


def dependency_records(repo: str, path: str, names: Iterable[str]) -> list[Record]:
    """The puts that record that the file's edges depend on these names."""
    return [("deps", dependency_key(repo, name, path), b"") for name in names]
