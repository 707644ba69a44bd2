"""Java: import declarations (single-type, on-demand, static) and constant declarators.

``import a.b.C;`` -> module ``a.b``, name ``C``; ``import a.b.*;`` -> module ``a.b``,
wildcard; ``import static a.b.C.m;`` -> module ``a.b.C``, name ``m``;
``import static a.b.C.*;`` -> module ``a.b.C``, wildcard.
"""

from __future__ import annotations

from tree_sitter import Node

from codegraph.parse.extract import node_text
from codegraph.parse.facts import FileFacts, Import


def parse_import(node: Node, source: bytes) -> list[Import]:
    line = node.start_point[0] + 1
    names = [c for c in node.named_children if c.type in ("scoped_identifier", "identifier")]
    if not names:
        return []
    path = "".join(node_text(names[0]).split())
    if any(c.type == "asterisk" for c in node.named_children):
        return [Import(module=path, name=None, alias=None, line=line, wildcard=True)]
    module, _, name = path.rpartition(".")
    if not module:
        return [Import(module=path, name=None, alias=None, line=line)]
    return [Import(module=module, name=name, alias=None, line=line)]


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    defs = facts.definitions
    for d in defs:
        if d.kind in ("method", "constructor", "constant"):
            d.signature = d.signature.rstrip(";").rstrip()
        if d.kind == "constant" and d.parent >= 0 and defs[d.parent].kind == "constant":
            node = root.descendant_for_point_range((d.line - 1, d.col - 1),
                                                   (d.end_line - 1, d.end_col - 1))
            if node is None or node.type != "variable_declarator":
                continue
            # `static final int A = 1, B = 2;`: B shares A's declaration, next to A.
            first = defs[d.parent]
            d.parent = first.parent
            d.line, d.col, d.end_line, d.end_col = (first.line, first.col, first.end_line,
                                                    first.end_col)
            d.signature, d.doc = first.signature, first.doc
