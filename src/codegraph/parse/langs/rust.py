"""Rust: ``use`` trees, methods in ``impl`` blocks, ``impl Trait for Type``, ``static mut``.

A function inside ``impl Type`` or ``impl Trait for Type`` becomes a method with
``extra["receiver"] = "Type"`` (qualified name ``crate::mod::Type::f``). ``impl Trait for
Type`` becomes an ``implements`` reference from ``Type`` when this file defines ``Type``.
"""

from __future__ import annotations

from tree_sitter import Node

from codegraph.parse.extract import MAX_NAME, extra, node_text, split_qualified
from codegraph.parse.facts import FileFacts, Import, Reference

_PATH_NODES = frozenset({"identifier", "scoped_identifier", "crate", "self", "super",
                         "metavariable"})
_ITEM_CONTAINERS = frozenset({"source_file", "declaration_list"})


def parse_import(node: Node, source: bytes) -> list[Import]:
    """``use a::b::{c, d as e, f::*}`` -> (a::b, c), (a::b, d as e), (a::b::f, *)."""
    out: list[Import] = []
    argument = node.child_by_field_name("argument")
    if argument is not None:
        _use_tree(argument, [], node.start_point[0] + 1, out)
    return out


def _segments(node: Node | None) -> list[str]:
    return [s for s in node_text(node).replace(" ", "").split("::") if s]


def _binding(path: list[str], alias: str | None, line: int) -> Import:
    if path[-1] == "self" and len(path) > 1:  # `use a::b::{self}` binds b
        path = path[:-1]
    if len(path) == 1:
        return Import(module=path[0], name=None, alias=alias, line=line)
    return Import(module="::".join(path[:-1]), name=path[-1], alias=alias, line=line)


def _use_tree(root: Node, prefix: list[str], line: int, out: list[Import]) -> None:
    """The bindings of a use tree, in order (a stack, not recursion: a tree nested
    thousands deep is valid Rust)."""
    stack = [(root, prefix)]
    while stack:
        node, prefix = stack.pop()
        kind = node.type
        if kind in _PATH_NODES:
            out.append(_binding([*prefix, *_segments(node)], None, line))
        elif kind == "use_as_clause":
            path = [*prefix, *_segments(node.child_by_field_name("path"))]
            alias = node_text(node.child_by_field_name("alias")) or None
            if path:
                out.append(_binding(path, alias, line))
        elif kind == "use_wildcard":
            inner = next((c for c in node.named_children if c.type in _PATH_NODES), None)
            path = [*prefix, *_segments(inner)]
            out.append(Import(module="::".join(path), name=None, alias=None, line=line,
                              wildcard=True))
        elif kind == "scoped_use_list":
            listing = node.child_by_field_name("list")
            if listing is not None:
                stack.append((listing,
                               [*prefix, *_segments(node.child_by_field_name("path"))]))
        elif kind == "use_list":
            stack.extend((child, prefix) for child in reversed(node.named_children))


def _type_name(node: Node | None) -> str:
    """``Vec<T>`` -> ``Vec``; ``crate::a::B`` -> ``crate::a::B``; ``&mut T`` -> ``T``."""
    while node is not None and node.type in ("generic_type", "reference_type", "pointer_type"):
        node = node.child_by_field_name("type")
    return node_text(node).replace(" ", "")


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    at = {(d.line, d.col): i for i, d in enumerate(facts.definitions)}
    stack = [root]
    while stack:
        container = stack.pop()
        for item in container.named_children:
            if item.type == "mod_item":
                body = item.child_by_field_name("body")
                if body is not None:
                    stack.append(body)
            elif item.type == "impl_item":
                _impl(facts, at, item)
            elif item.type == "static_item" and any(
                    c.type == "mutable_specifier" for c in item.children):
                i = at.get((item.start_point[0] + 1, item.start_point[1] + 1))
                if i is not None:
                    facts.definitions[i].kind = "variable"


def _impl(facts: FileFacts, at: dict[tuple[int, int], int], item: Node) -> None:
    type_name = _type_name(item.child_by_field_name("type"))
    body = item.child_by_field_name("body")
    if not type_name or body is None:
        return
    owner = type_name.rpartition("::")[2][:MAX_NAME]  # as the type's own name is cut
    parent = -2
    for member in body.named_children:
        i = at.get((member.start_point[0] + 1, member.start_point[1] + 1))
        if i is None:
            continue
        d = facts.definitions[i]
        extra(d)["receiver"] = owner
        parent = d.parent
        if d.kind == "function":
            d.kind = "method"
    trait = item.child_by_field_name("trait")
    if trait is None:
        return
    # The implementing type, when this file defines it in the impl's scope.
    scope = parent if parent != -2 else _scope_of(facts, item)
    source = next((i for i, d in enumerate(facts.definitions)
                   if d.name == owner and d.parent == scope
                   and d.kind in ("struct", "enum", "trait", "type_alias")), None)
    if source is None:
        return
    qualifier, name = split_qualified(_type_name(trait))
    facts.references.append(Reference(
        kind="implements", name=name, qualifier=qualifier, line=trait.start_point[0] + 1,
        col=trait.start_point[1] + 1, source=source))


def _scope_of(facts: FileFacts, item: Node) -> int:
    """The innermost ``mod`` definition containing ``item`` (-1: the file)."""
    line = item.start_point[0] + 1
    best = -1
    for i, d in enumerate(facts.definitions):
        if d.kind == "namespace" and d.line <= line <= d.end_line:
            best = i
    return best
