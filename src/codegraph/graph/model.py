"""The code graph: node and edge records, their kinds and their deterministic ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Any

from codegraph.parse.facts import DEF_KINDS

NODE_KINDS = frozenset({"repository", "file", "module", "external", *DEF_KINDS})


class EdgeKind(IntEnum):
    CONTAINS = 1
    DEFINES = 2
    IMPORTS = 3
    CALLS = 4
    INHERITS = 5
    IMPLEMENTS = 6
    REFERENCES = 7

    @classmethod
    def parse(cls, text: str) -> EdgeKind:
        return cls[text.upper()]


# How an edge's target was found, from most to least certain.
STRUCTURAL = "structural"  # containment: certain
IMPORT = "import"  # followed an import binding
SAME_SCOPE = "same_scope"  # same file, same class (self.x()), same package
INFERRED = "inferred"  # a method of the receiver's statically inferred type
DISPATCH = "dispatch"  # an override, in a subclass, of a method called on a typed receiver
NAME_MATCH = "name_match"  # heuristic: a definition elsewhere with that name
EXTERNAL = "external"  # outside the indexed code, or could not be resolved
RESOLUTIONS = (STRUCTURAL, IMPORT, SAME_SCOPE, INFERRED, DISPATCH, NAME_MATCH, EXTERNAL)
# An external edge is *known* (imported from outside the repository, or a method of a type
# known to be outside it: ``builtins.dict.get``) at this confidence; below it, the edge's
# target could not be resolved (an unknown receiver's method, an unknown name).
EXTERNAL_KNOWN = 1.0

ID_BYTES = 8


def node_id(repo: str, path: str, qualified_name: str, kind: str) -> str:
    """Deterministic id: re-indexing the same code yields the same ids."""
    key = f"{repo}\0{path}\0{qualified_name}\0{kind}".encode()
    return hashlib.blake2b(key, digest_size=ID_BYTES).hexdigest()


@lru_cache(maxsize=65536)  # calls to print, len, str.join...: the same names again and again
def external_id(qualified_name: str, language: str) -> str:
    """An external node is one per language and qualified name, shared by every file and
    repository of that language that names it (its record holds the language: files of
    two languages naming ``path`` point to two nodes). The language takes the place of
    the path in the id's key."""
    return node_id("", language, qualified_name, "external")


def short_name(qualified_name: str) -> str:
    """The last part of a qualified name, whatever its separators."""
    if "/" in qualified_name:  # a path-like module: its last path component
        return qualified_name.rpartition("/")[2] or qualified_name
    name = qualified_name
    for sep in ("::", ".", "\\"):
        name = name.rpartition(sep)[2] or name
    return name


def is_node_id(text: str) -> bool:
    if len(text) != ID_BYTES * 2:
        return False
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


@dataclass(slots=True)
class Node:
    id: str
    kind: str
    name: str
    qualified_name: str
    language: str
    repo: str
    path: str
    line: int = 0
    col: int = 0
    end_line: int = 0
    end_col: int = 0
    signature: str = ""
    doc: str = ""
    parent: str = ""  # id of the containing node ("" for repositories and externals)

    def to_wire(self) -> list[Any]:
        return [self.kind, self.name, self.qualified_name, self.language, self.repo, self.path,
                self.line, self.col, self.end_line, self.end_col, self.signature, self.doc,
                self.parent]

    @classmethod
    def from_wire(cls, node_id_: str, w: list[Any]) -> Node:
        return cls(node_id_, *w)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "qualified_name": self.qualified_name,
            "kind": self.kind, "language": self.language, "repo": self.repo,
            "path": self.path, "line": self.line, "end_line": self.end_line,
            "col": self.col, "end_col": self.end_col, "signature": self.signature,
            "doc": self.doc, "parent": self.parent,
        }


@dataclass(slots=True)
class Edge:
    src: str
    dst: str
    kind: EdgeKind
    line: int = 0
    col: int = 0
    resolution: str = STRUCTURAL
    confidence: float = 1.0
    # The name as written at the site; lets incremental indexing find edges to re-resolve.
    name: str = ""
    # For an edge to an external node: that node's qualified name.
    external: str = ""

    @property
    def unresolved(self) -> bool:
        """An external edge whose target could not be resolved (not a known external)."""
        return self.resolution == EXTERNAL and self.confidence < EXTERNAL_KNOWN
