"""C#: ``using`` directives, base lists (class vs interface), XML doc comments."""

from __future__ import annotations

import re

from tree_sitter import Node

from codegraph.parse.extract import node_text
from codegraph.parse.facts import FileFacts, Import

_XML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_INTERFACE_NAME = re.compile(r"^I[A-Z]")
_TARGETS = frozenset({"identifier", "qualified_name", "generic_name", "alias_qualified_name"})


def parse_import(node: Node, source: bytes) -> list[Import]:
    """``using A.B;`` (wildcard A.B), ``using static A.B;``, ``using X = A.B;`` (alias X)."""
    alias_node = node.child_by_field_name("name")
    target = next((c for c in node.named_children
                   if c.type in _TARGETS and c != alias_node), None)
    if target is None:
        return []
    module = node_text(target).replace(" ", "").removeprefix("global::")
    line = node.start_point[0] + 1
    if alias_node is not None:
        return [Import(module=module, name=None, alias=node_text(alias_node), line=line)]
    return [Import(module=module, name=None, alias=None, line=line, wildcard=True)]


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    for d in facts.definitions:
        if "<" in d.doc:
            d.doc = "\n".join(line.strip() for line in _XML_TAG.sub("", d.doc).splitlines()
                              if line.strip())
    # A base list names at most one class, first; the rest (and all of a struct's) are
    # interfaces. An interface's bases are interfaces it extends (inherits).
    firsts: set[int] = set()
    for ref in facts.references:
        if ref.kind != "inherits" or ref.source < 0:
            continue
        owner = facts.definitions[ref.source].kind
        first = ref.source not in firsts
        firsts.add(ref.source)
        if owner == "interface":
            continue
        if owner in ("struct", "enum") or not first or _INTERFACE_NAME.match(ref.name):
            ref.kind = "implements"
