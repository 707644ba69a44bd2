"""Go: import specs, method receivers, type kinds, and docs/signatures of declarations.

The query captures every top-level type spec as ``type_alias``; ``postprocess`` turns
struct and interface types into ``struct``/``interface``, records each method's receiver
type (``extra["receiver"]``, which makes the method ``<module>.<Type>.<Method>``) and
receiver variable (``extra["receiver_var"]``), and gives specs of ``type``/``const``/``var``
declarations the declaration's doc comment and keyword.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from codegraph.parse.extract import comment_doc, extra, node_text, signature_of
from codegraph.parse.facts import Definition, FileFacts, Import

_STRING_CONTENT = ("interpreted_string_literal_content", "raw_string_literal_content")
_KEYWORDS = {"type_declaration": "type", "const_declaration": "const",
             "var_declaration": "var"}
_SPECS = frozenset({"type_spec", "type_alias", "const_spec", "var_spec"})
_TYPE_KINDS = {"struct_type": "struct", "interface_type": "interface"}


def parse_import(node: Node, source: bytes) -> list[Import]:
    """One ``import_spec``: ``"path"``, ``alias "path"``, ``_ "path"`` or ``. "path"``."""
    path_node = node.child_by_field_name("path")
    if path_node is None:
        return []
    content = [c for c in path_node.named_children if c.type in _STRING_CONTENT]
    path = node_text(content[0]) if content else node_text(path_node).strip("\"`")
    if not path:
        return []
    line = node.start_point[0] + 1
    name_node = node.child_by_field_name("name")
    alias = node_text(name_node) if name_node is not None else None
    if alias == ".":
        return [Import(module=path, name=None, alias=None, line=line, wildcard=True)]
    return [Import(module=path, name=None, alias=alias, line=line)]


@dataclass(slots=True)
class _Spec:
    node: Node  # type_spec / type_alias / const_spec / var_spec
    declaration: Node  # type_declaration / const_declaration / var_declaration


def _position(node: Node) -> tuple[int, int]:
    return node.start_point[0] + 1, node.start_point[1] + 1


def _index_top_level(root: Node) -> tuple[dict[tuple[int, int], _Spec],
                                          dict[tuple[int, int], Node]]:
    """Top-level specs by the position of their definition, and method declarations."""
    specs: dict[tuple[int, int], _Spec] = {}
    methods: dict[tuple[int, int], Node] = {}
    for child in root.named_children:
        if child.type == "method_declaration":
            methods[_position(child)] = child
        elif child.type in _KEYWORDS:
            stack = list(child.named_children)
            while stack:
                spec = stack.pop()
                if spec.type == "var_spec_list":
                    stack.extend(spec.named_children)
                elif spec.type in _SPECS:
                    specs[_position(spec)] = _Spec(spec, child)
                    # Later names of `var a, b T` are definitions of their own.
                    for name in spec.children_by_field_name("name")[1:]:
                        specs[_position(name)] = _Spec(spec, child)
    return specs, methods


def _receiver(method: Node) -> tuple[str, str]:
    """(type name without ``*`` or type parameters, receiver variable or "")."""
    params = method.child_by_field_name("receiver")
    if params is None:
        return "", ""
    decls = [c for c in params.named_children if c.type == "parameter_declaration"]
    if not decls:
        return "", ""
    var = node_text(decls[0].child_by_field_name("name"))
    typ = decls[0].child_by_field_name("type")
    while typ is not None and typ.type in ("pointer_type", "parenthesized_type", "generic_type"):
        inner = typ.child_by_field_name("type") if typ.type == "generic_type" else None
        typ = inner if inner is not None else (typ.named_children[0]
                                               if typ.named_children else None)
    if typ is not None and typ.type == "qualified_type":
        typ = typ.child_by_field_name("name")
    return node_text(typ), var


def _grouped(declaration: Node) -> bool:
    return any(c.type == "(" for c in declaration.children) or any(
        c.type == "var_spec_list" for c in declaration.named_children)


def _finish_spec(d: Definition, spec: _Spec, source: bytes) -> None:
    keyword = _KEYWORDS[spec.declaration.type]
    if d.kind == "type_alias":
        typ = spec.node.child_by_field_name("type")
        if spec.node.type == "type_spec" and typ is not None:
            d.kind = _TYPE_KINDS.get(typ.type, "type_alias")
    sig = signature_of(spec.node, source)
    d.signature = f"{keyword} {sig}" if sig else keyword
    # A lone spec's span (and doc) is its declaration's: `type T struct {...}`.
    node = spec.node if _grouped(spec.declaration) else spec.declaration
    if not d.doc:
        d.doc = comment_doc(node)
    d.line, d.col = _position(node)
    d.end_line, d.end_col = node.end_point[0] + 1, node.end_point[1] + 1


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    specs, methods = _index_top_level(root)
    defs = facts.definitions
    for d in defs:
        key = (d.line, d.col)
        if d.kind == "method" and key in methods:
            receiver, var = _receiver(methods[key])
            if receiver:
                info = extra(d)
                info["receiver"] = receiver
                info["receiver_var"] = var
        elif d.kind in ("type_alias", "constant", "variable") and key in specs:
            _finish_spec(d, specs[key], source)
    # `var a, b T`: b was nested in a's span; it belongs next to a.
    for d in defs:
        if d.kind in ("constant", "variable") and d.parent >= 0 \
                and defs[d.parent].kind == d.kind:
            d.parent = defs[d.parent].parent
