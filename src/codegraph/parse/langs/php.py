"""PHP: ``use`` statements, ``require``/``include``, constructors, qualified calls."""

from __future__ import annotations

from tree_sitter import Node

from codegraph.parse.extract import node_text
from codegraph.parse.facts import FileFacts, Import

_CLAUSE_NAMES = frozenset({"name", "qualified_name", "namespace_name"})
_STRINGS = frozenset({"string", "encapsed_string"})
_SELF_TYPES = frozenset({"self", "static", "parent"})


def parse_import(node: Node, source: bytes) -> list[Import]:
    line = node.start_point[0] + 1
    if node.type != "namespace_use_declaration":
        return _require(node, line)
    prefix = ""
    clauses: list[Node] = []
    for child in node.named_children:
        if child.type == "namespace_name":
            prefix = node_text(child)
        elif child.type == "namespace_use_clause":
            clauses.append(child)
        elif child.type == "namespace_use_group":
            clauses.extend(c for c in child.named_children if c.type == "namespace_use_clause")
    out = []
    for clause in clauses:
        alias = node_text(clause.child_by_field_name("alias")) or None
        target = next((c for c in clause.named_children
                       if c.type in _CLAUSE_NAMES and c != clause.child_by_field_name("alias")),
                      None)
        full = "\\".join(p for p in (prefix, node_text(target)) if p).lstrip("\\")
        if not full:
            continue
        module, _, name = full.rpartition("\\")
        out.append(Import(module=module, name=name, alias=alias, line=line))
    return out


def _require(node: Node, line: int) -> list[Import]:
    """``require_once __DIR__ . '/x.php'`` -> module ``x.php`` (level 1: file-relative)."""
    strings = [c for c in _descendants(node) if c.type in _STRINGS]
    if not strings:
        return []
    text = "".join(node_text(c) for c in strings[-1].named_children
                   if c.type == "string_content")
    relative = "__DIR__" in node_text(node) or text.startswith(".")
    if not text:
        return []
    return [Import(module=text.lstrip("/") if relative else text, name=None, alias=None,
                   line=line, level=int(relative), kind="require")]


def _descendants(node: Node) -> list[Node]:
    out: list[Node] = []
    stack = list(node.named_children)
    while stack and len(out) < 32:
        child = stack.pop(0)
        out.append(child)
        stack.extend(child.named_children)
    return out


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    for d in facts.definitions:
        if d.kind == "method" and d.name == "__construct":
            d.kind = "constructor"
    calls = []
    for call in facts.calls:
        if call.receiver is None and call.name in _SELF_TYPES:
            continue  # `new static()`
        if "\\" in call.name:  # `\A\f()`, `new A\B()`
            receiver, _, call.name = call.name.rpartition("\\")
            call.receiver = receiver or "\\"
        calls.append(call)
    facts.calls = calls
