"""How edges are stored: all of a node's outgoing edges in one value, each edge by target.

- ``out``  src id -> msgpack list of ``[kind, dst id, line, resolution, confidence, name,
  col]``, sorted by (kind, dst, line) with one edge per such triple: the node's edges,
  written whole when its file is resolved (each node's outgoing edges come from its own
  file), read whole by ``callees`` and the like. One key per node with edges, not one per
  edge: a first index writes a fifth as many ``out`` keys.
- ``in``   dst id + kind byte + src id + line (4 bytes, big-endian) -> msgpack
  ``[resolution, confidence, name, col]``: one key per edge, so that the edges into a
  node (``callers``) are one prefix scan, however many files they come from.

Ids are 8 raw bytes. Two edges of one node with the same kind, target and line are one
edge (the last one given), in both column families.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from codegraph.graph.model import Edge, EdgeKind

Record = tuple[str, bytes, bytes]  # (column family, key, value): one put

# New values go at the end: stored edges keep their codes.
RESOLUTION_CODES = ("structural", "import", "same_scope", "name_match", "external", "inferred",
                    "dispatch")
_RESOLUTION_CODE = {r: i for i, r in enumerate(RESOLUTION_CODES)}
_KIND_BYTE = {k: bytes([int(k)]) for k in EdgeKind}
_LINE = struct.Struct(">I")
# Only one thread of a process packs edges: one reusable packer saves a Packer per edge.
_PACKER = msgpack.Packer(use_bin_type=True)


class _Rounded(dict[float, float]):
    """confidence -> as stored (3 decimals). Resolvers give few distinct confidences."""

    def __missing__(self, confidence: float) -> float:
        rounded = self[confidence] = round(confidence, 3)
        return rounded


_ROUNDED = _Rounded()


def _line(e: Edge) -> int:
    return e.line if 0 <= e.line <= 0xFFFFFFFF else 0


def in_key(e: Edge) -> bytes:
    return b"".join((bytes.fromhex(e.dst), _KIND_BYTE[e.kind], bytes.fromhex(e.src),
                     _LINE.pack(_line(e))))


def in_value(e: Edge) -> bytes:
    value: bytes = _PACKER.pack(
        [_RESOLUTION_CODE[e.resolution], _ROUNDED[e.confidence], e.name, e.col])
    return value


def decode_in_edge(key: bytes, value: bytes) -> Edge:
    dst, kind, src, line = key[:8].hex(), key[8], key[9:17].hex(), _LINE.unpack(key[17:21])[0]
    res, conf, name, col = msgpack.unpackb(value, raw=False)
    return Edge(src, dst, EdgeKind(kind), line, col, RESOLUTION_CODES[res], conf, name)


def out_record(src: str, edges: list[Edge]) -> Record:
    """The ``out`` put of one node's outgoing edges (all of them)."""
    return edge_records(src, edges)[-1]


def decode_out(src: str, value: bytes) -> list[Edge]:
    """A node's outgoing edges from its ``out`` value, in stored order."""
    items: list[list[Any]] = msgpack.unpackb(value, raw=False)
    return [Edge(src, dst.hex(), EdgeKind(kind), line, col, RESOLUTION_CODES[res], conf, name)
            for kind, dst, line, res, conf, name, col in items]


def edge_records(src: str, edges: list[Edge]) -> list[Record]:
    """The puts that store one node's outgoing edges: an ``in`` key per edge, then the
    node's ``out`` value (the last record)."""
    source = bytes.fromhex(src)
    records: list[Record] = []
    by_site: dict[tuple[int, bytes, int], list[Any]] = {}
    pack, pack_line, fromhex = _PACKER.pack, _LINE.pack, bytes.fromhex
    for e in edges:  # the hot loop of a first index's resolving: kept plain
        kind, dst, line = e.kind, fromhex(e.dst), e.line
        if not 0 <= line <= 0xFFFFFFFF:
            line = 0
        resolution, confidence = _RESOLUTION_CODE[e.resolution], _ROUNDED[e.confidence]
        records.append(("in", b"".join((dst, _KIND_BYTE[kind], source, pack_line(line))),
                        pack([resolution, confidence, e.name, e.col])))
        by_site[(kind, dst, line)] = [kind, dst, line, resolution, confidence, e.name, e.col]
    records.append(("out", source, pack([by_site[site] for site in sorted(by_site)])))
    return records
