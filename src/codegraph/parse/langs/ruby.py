"""Ruby: ``require``/``require_relative``, methods and constructors, ``Foo.new`` as a call to
the class, and no calls for declarative statements (``include``, ``attr_reader``, ...)."""

from __future__ import annotations

from tree_sitter import Node

from codegraph.parse.extract import comment_doc, node_text
from codegraph.parse.facts import FileFacts, Import

_DECLARATIVE = frozenset({
    "require", "require_relative", "load", "include", "extend", "prepend", "attr_reader",
    "attr_writer", "attr_accessor", "private", "public", "protected", "module_function",
    "private_constant", "alias_method",
})


def parse_import(node: Node, source: bytes) -> list[Import]:
    """``require 'x'`` -> module ``x``; ``require_relative`` sets level 1 (file-relative)."""
    method = node_text(node.child_by_field_name("method"))
    arguments = node.child_by_field_name("arguments")
    if arguments is None or not arguments.named_children:
        return []
    string = arguments.named_children[0]
    parts = [c for c in string.named_children]
    if len(parts) != 1 or parts[0].type != "string_content":
        return []  # interpolated: not a static path
    return [Import(module=node_text(parts[0]), name=None, alias=None,
                   line=node.start_point[0] + 1, level=int(method == "require_relative"),
                   kind="require")]


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    for d in facts.definitions:
        if not d.doc:
            d.doc = _leading_doc(root, d.line - 1, d.col - 1)
        if d.kind == "function" and d.parent >= 0:
            d.kind = "method"
        if d.kind == "method" and d.name == "initialize":
            d.kind = "constructor"
    calls = []
    for call in facts.calls:
        if call.receiver is None and call.name in _DECLARATIVE:
            continue
        if call.name == "new" and call.receiver and call.receiver.lstrip(":")[:1].isupper():
            qualifier, _, name = call.receiver.rpartition("::")
            call.name, call.receiver = name, qualifier or None
        calls.append(call)
    facts.calls = calls


def _leading_doc(root: Node, row: int, col: int) -> str:
    """The doc of a body's first statement: its comments sit before the body node."""
    node = root.named_descendant_for_point_range((row, col), (row, col))
    while node is not None and node.parent is not None and node.parent.start_point == (row, col):
        node = node.parent
    return comment_doc(node) if node is not None and node.type == "body_statement" else ""
