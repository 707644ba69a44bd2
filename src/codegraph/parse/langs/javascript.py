"""JavaScript, TypeScript and TSX: ES imports, re-exports, CommonJS require, exports.

``parse_import`` turns an ``@import`` node into bindings:

- ``import x from './a'``: name ``default``, alias ``x``;
- ``import {a as b} from './a'``: name ``a``, alias ``b``;
- ``import * as ns from './a'`` and ``import ns = require('./a')``: the module, alias ``ns``;
- ``import './a'``: the module, no alias;
- ``export {a as b} from './b'`` / ``export * from`` / ``export * as n from``: kind
  ``reexport`` (the alias is the exported name);
- ``const x = require('./a')``, ``const {a, b: c} = require('./a')``,
  ``const y = require('./a').y`` and ``require('./a')``: kind ``require``.

``postprocess`` re-kinds top-level variables by their value (arrow functions and function
expressions are functions, class expressions are classes, other ``const`` are constants),
drops ``require`` bindings (they are imports), marks constructors, keeps one definition per
overloaded function, and records exports in ``Definition.extra``: ``exported``,
``default_export`` and ``exported_as`` (names a local ``export {a as b}`` gives it).
Exporting an imported name (``import {a} from './a'; export {a}``) becomes a re-export.
The TypeScript queries capture type-parameter names as ``@reference.typeparam``; they are
removed here, with the type uses they would otherwise make (``T`` in ``x: T``).
"""

from __future__ import annotations

import re

from tree_sitter import Node

from codegraph.parse.extract import (
    MAX_SIGNATURE,
    comment_doc,
    drop_definitions,
    extra,
    node_text,
    signature_of,
)
from codegraph.parse.facts import CLASS_LIKE, Definition, FileFacts, Import
from codegraph.parse.langs import js_types

_WS = re.compile(r"\s+")
_FUNCTION_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)
_SIGNATURE_ONLY = frozenset({"function_signature", "method_signature"})
# Statements that wrap a definition node without being one of extract's wrappers.
_DOC_ANCHORS = frozenset({"expression_statement", "ambient_declaration"})
_DEF_NODES = frozenset(
    {
        "class_declaration", "abstract_class_declaration", "interface_declaration",
        "enum_declaration", "type_alias_declaration", "internal_module", "module",
        "function_declaration", "generator_function_declaration", "function_signature",
        "method_definition", "method_signature", "abstract_method_signature",
        "field_definition", "public_field_definition", "variable_declarator",
        "assignment_expression", "pair",
    }
)
_MEMBER_NODES = frozenset({"pair", "method_definition"})
_EXPORTS = frozenset({"exports", "module.exports"})
_OWNER = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")


# -- imports ----------------------------------------------------------------------------
def _string_value(node: Node | None) -> str | None:
    if node is None or node.type not in ("string", "template_string"):
        return None
    return "".join(node_text(c) for c in node.named_children if c.type == "string_fragment")


def _require_spec(call: Node | None) -> str | None:
    """The module of ``require('m')``; None if ``call`` is not such a call."""
    if call is None or call.type != "call_expression":
        return None
    function = call.child_by_field_name("function")
    if function is None or function.type != "identifier" or node_text(function) != "require":
        return None
    args = call.child_by_field_name("arguments")
    if args is None or args.named_child_count == 0:
        return None
    return _string_value(args.named_children[0])


def _require_value(value: Node | None) -> tuple[str, str | None] | None:
    """``require('m')`` -> (m, None); ``require('m').x`` -> (m, x)."""
    if value is None:
        return None
    if value.type == "member_expression":
        spec = _require_spec(value.child_by_field_name("object"))
        prop = value.child_by_field_name("property")
        return (spec, node_text(prop)) if spec is not None else None
    spec = _require_spec(value)
    return (spec, None) if spec is not None else None


def _es_import(node: Node, line: int) -> list[Import]:
    spec = _string_value(node.child_by_field_name("source"))
    clause = next((c for c in node.named_children if c.type == "import_clause"), None)
    required = next((c for c in node.named_children if c.type == "import_require_clause"),
                    None)
    if required is not None:
        alias = next((c for c in required.named_children if c.type == "identifier"), None)
        module = _string_value(required.child_by_field_name("source"))
        if module is None:
            return []
        return [Import(module, None, node_text(alias) or None, line, kind="require")]
    if spec is None:
        return []
    if clause is None:
        return [Import(spec, None, None, line)]
    out: list[Import] = []
    for part in clause.named_children:
        if part.type == "identifier":
            out.append(Import(spec, "default", node_text(part), line))
        elif part.type == "namespace_import":
            alias = next((c for c in part.named_children if c.type == "identifier"), None)
            out.append(Import(spec, None, node_text(alias), line))
        elif part.type == "named_imports":
            for item in part.named_children:
                if item.type != "import_specifier":
                    continue
                name = _specifier_name(item.child_by_field_name("name"))
                alias_node = item.child_by_field_name("alias")
                out.append(Import(spec, name, node_text(alias_node) or None, line))
    return out


def _specifier_name(node: Node | None) -> str:
    value = _string_value(node)
    return value if value is not None else node_text(node)


def _reexport(node: Node, line: int) -> list[Import]:
    spec = _string_value(node.child_by_field_name("source"))
    if spec is None:
        return []
    out: list[Import] = []
    for part in node.named_children:
        if part.type == "export_clause":
            for item in part.named_children:
                if item.type != "export_specifier":
                    continue
                name = _specifier_name(item.child_by_field_name("name"))
                alias = _specifier_name(item.child_by_field_name("alias")) or None
                out.append(Import(spec, name, alias if alias != name else None, line,
                                  kind="reexport"))
        elif part.type == "namespace_export":
            alias_node = next((c for c in part.named_children if c.type != "*"), None)
            out.append(Import(spec, None, _specifier_name(alias_node) or None, line,
                              kind="reexport"))
    if not out:
        out.append(Import(spec, None, None, line, wildcard=True, kind="reexport"))
    return out


def _require_imports(node: Node, line: int) -> list[Import]:
    out: list[Import] = []
    for declarator in node.named_children:
        if declarator.type != "variable_declarator":
            continue
        found = _require_value(declarator.child_by_field_name("value"))
        if found is None:
            continue
        spec, prop = found
        target = declarator.child_by_field_name("name")
        if target is not None and target.type == "identifier":
            out.append(Import(spec, prop, node_text(target), line, kind="require"))
        elif target is not None and target.type == "object_pattern" and prop is None:
            for item in target.named_children:
                if item.type == "shorthand_property_identifier_pattern":
                    out.append(Import(spec, node_text(item), None, line, kind="require"))
                elif item.type == "pair_pattern":
                    key = node_text(item.child_by_field_name("key"))
                    value = item.child_by_field_name("value")
                    alias = node_text(value) if value is not None else ""
                    if value is not None and value.type == "identifier":
                        out.append(Import(spec, key, alias if alias != key else None, line,
                                          kind="require"))
        else:
            out.append(Import(spec, None, None, line, kind="require"))
    return out


def parse_import(node: Node, source: bytes) -> list[Import]:
    line = node.start_point[0] + 1
    if node.type == "import_statement":
        return _es_import(node, line)
    if node.type == "export_statement":
        return _reexport(node, line)
    if node.type == "expression_statement":
        found = _require_value(node.named_children[0] if node.named_children else None)
        return [Import(found[0], None, None, line, kind="require")] if found else []
    return _require_imports(node, line)


# -- definitions -------------------------------------------------------------------------
def _node_of(root: Node, d: Definition) -> Node | None:
    """The syntax node a definition was extracted from (found again by its span)."""
    node = root.descendant_for_point_range((d.line - 1, d.col - 1),
                                           (d.end_line - 1, d.end_col - 1))
    if node is None:
        return None
    current: Node | None = node
    while current is not None and current.start_byte == node.start_byte \
            and current.end_byte == node.end_byte:
        if current.type in _DEF_NODES:
            return current
        current = current.parent
    return None


def _clean(signature: str) -> str:
    return _WS.sub(" ", signature).strip().rstrip("{:=").rstrip()[:MAX_SIGNATURE]


def _declarator(d: Definition, node: Node, source: bytes) -> bool:
    """Re-kind a top-level ``const/let/var`` definition; False if it is a require binding."""
    declaration = node.parent
    value = node.child_by_field_name("value")
    if _require_value(value) is not None:
        return False
    keyword = node_text(declaration.children[0]) if declaration is not None else "var"
    while value is not None and value.type == "assignment_expression":  # x = module.exports =
        value = value.child_by_field_name("right")
    if value is not None and (value.type in _FUNCTION_VALUES or value.type == "class"):
        d.kind = "class" if value.type == "class" else "function"
        head = source[node.start_byte:value.start_byte].decode("utf-8", errors="replace")
        signature = f"{keyword} {head}{signature_of(value, source)}"
    else:
        d.kind = "constant" if keyword == "const" else "variable"
        signature = f"{keyword} {signature_of(node, source)}"
    d.signature = _clean(signature)
    if declaration is not None:
        d.doc = comment_doc(declaration)
    return True


def _flat(node: Node | None) -> str:
    return "".join(node_text(node).split())


def _owner(obj: Node | None) -> str | None:
    """The object a function is attached to, as a name: ``app``, ``X`` for ``X.prototype``;
    None when it is not a plain name (``this``, ``a[b]``, a call)."""
    text = _flat(obj)
    if text.endswith(".prototype"):
        text = text[: -len(".prototype")]
    if not _OWNER.match(text) or text == "this" or ".prototype." in f".{text}.":
        return None
    return text


def _assigned(d: Definition, node: Node, source: bytes) -> bool:
    """``obj.f = function () {}`` and the like; False to drop it."""
    left = node.child_by_field_name("left")
    right = node.child_by_field_name("right")
    if left is None or right is None:
        return False
    obj = _flat(left.child_by_field_name("object"))
    d.kind = "class" if right.type == "class" else "function"
    head = source[node.start_byte:right.start_byte].decode("utf-8", "replace")
    d.signature = _clean(head + signature_of(right, source))
    info = extra(d)
    if obj in _EXPORTS:  # exports.f = ...: a member of the module
        info["exported"] = True
        info["this"] = ""
    elif obj == "module" and d.name == "exports":  # module.exports = function f() {}
        name = right.child_by_field_name("name")
        d.name = node_text(name) if name is not None else "default"
        info["exported"] = True
        info["default_export"] = True
    else:
        owner = _owner(left.child_by_field_name("object"))
        if owner is None:
            return False
        info["receiver"] = owner  # named <owner>.<name>
        info["this"] = owner
        if d.kind == "function":
            d.kind = "method"
    return True


def _member(d: Definition, node: Node, obj: Node, source: bytes) -> bool:
    """A function in an object literal: ``const X = {f() {}}`` (a method of X),
    ``module.exports = {f() {}}`` (a function of the module) or ``Object.assign(p, {f() {}})``
    (a method of p); False to drop it."""
    holder = obj.parent
    value = node.child_by_field_name("value") if node.type == "pair" else None
    if value is not None:
        head = source[node.start_byte:value.start_byte].decode("utf-8", "replace")
        d.signature = _clean(head + signature_of(value, source))
    info = extra(d)
    if holder is None:
        return False
    if holder.type == "variable_declarator":  # nested in the variable's definition
        d.kind = "method"
        info["this"] = node_text(holder.child_by_field_name("name"))
    elif holder.type == "assignment_expression":  # module.exports = {...}
        d.kind = "function"
        info["exported"] = True
        info["this"] = ""
    elif holder.type == "arguments":  # Object.assign(target, {...})
        target = holder.named_children[0] if holder.named_child_count else None
        owner = _owner(target) if target is not None and target != obj else None
        if owner is None:
            return False
        d.kind = "method"
        info["receiver"] = owner
        info["this"] = owner
    else:
        return False
    return True


def _refine(facts: FileFacts, root: Node, source: bytes,
            ) -> tuple[list[bool], list[Node | None]]:
    """Fix kinds, signatures and docs the generic extraction cannot know; the keep mask and
    the definitions' nodes."""
    defs = facts.definitions
    keep = [True] * len(defs)
    nodes: list[Node | None] = []
    for i, d in enumerate(defs):
        node = _node_of(root, d)
        nodes.append(node)
        if node is None:
            continue
        parent = node.parent
        if node.type == "variable_declarator":
            keep[i] = _declarator(d, node, source)
        elif node.type == "assignment_expression":  # obj.f = ..., exports.f = ...
            keep[i] = _assigned(d, node, source)
        elif node.type in _MEMBER_NODES and parent is not None and parent.type == "object":
            keep[i] = _member(d, node, parent, source)
        elif node.type in ("field_definition", "public_field_definition"):
            value = node.child_by_field_name("value")
            if value is not None:  # handler = (event) => ...
                head = source[node.start_byte:value.start_byte].decode("utf-8", "replace")
                d.signature = _clean(head + signature_of(value, source))
        elif node.type in _SIGNATURE_ONLY and i + 1 < len(defs):
            nxt = defs[i + 1]
            if (nxt.parent, nxt.name, nxt.kind) == (d.parent, d.name, d.kind):
                keep[i] = False  # an overload: keep the implementation only
        if parent is not None and parent.type in _DOC_ANCHORS and not d.doc:
            d.doc = comment_doc(parent)
        d.signature = d.signature.rstrip(";").rstrip()
    for d in defs:
        parent_kind = defs[d.parent].kind if d.parent >= 0 else None
        if d.kind == "function" and (parent_kind in CLASS_LIKE or parent_kind == "type_alias"):
            d.kind = "method"
        if d.kind == "method" and d.name == "constructor":
            d.kind = "constructor"
    return keep, nodes


# -- exports -----------------------------------------------------------------------------
class _Exports:
    """Local names a file exports: ``local -> exported names``, and its default export."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.lines: dict[str, int] = {}

    def add(self, local: str, exported: str, line: int) -> None:
        if local:
            self.names.setdefault(local, []).append(exported or local)
            self.lines.setdefault(local, line)


def _declared_names(declaration: Node) -> list[str]:
    if declaration.type in ("lexical_declaration", "variable_declaration"):
        return [node_text(c.child_by_field_name("name")) for c in declaration.named_children
                if c.type == "variable_declarator"]
    name = declaration.child_by_field_name("name")
    return [node_text(name)] if name is not None else []


def _collect_exports(root: Node) -> _Exports:
    out = _Exports()
    for stmt in root.named_children:
        line = stmt.start_point[0] + 1
        if stmt.type == "export_statement":
            default = any(c.type == "default" for c in stmt.children)
            declaration = stmt.child_by_field_name("declaration")
            value = stmt.child_by_field_name("value")
            if declaration is not None:
                for name in _declared_names(declaration):
                    out.add(name, "default" if default else name, line)
            elif value is not None and value.type == "identifier":
                out.add(node_text(value), "default", line)
            elif stmt.child_by_field_name("source") is None:
                for part in stmt.named_children:
                    if part.type == "export_clause":
                        for item in part.named_children:
                            if item.type == "export_specifier":
                                name = _specifier_name(item.child_by_field_name("name"))
                                alias = _specifier_name(item.child_by_field_name("alias"))
                                out.add(name, alias or name, line)
                    elif part.type == "identifier":  # TypeScript `export = x`
                        out.add(node_text(part), "default", line)
        elif stmt.type == "expression_statement" and stmt.named_child_count:
            _commonjs_exports(stmt.named_children[0], out, line)
        elif stmt.type in ("lexical_declaration", "variable_declaration"):
            for declarator in stmt.named_children:  # var app = module.exports = {}
                bound = declarator.child_by_field_name("name")
                if declarator.type == "variable_declarator" and bound is not None \
                        and _assigns_module_exports(declarator.child_by_field_name("value")):
                    out.add(node_text(bound), "default", line)
    return out


def _assigns_module_exports(value: Node | None) -> bool:
    """Whether an assignment chain (``exports = module.exports = x``) sets module.exports."""
    while value is not None and value.type == "assignment_expression":
        if _flat(value.child_by_field_name("left")) == "module.exports":
            return True
        value = value.child_by_field_name("right")
    return False


def _commonjs_exports(expr: Node, out: _Exports, line: int) -> None:
    """``module.exports = x`` (default; also in a chain ``exports = module.exports = x``) and
    ``module.exports = {a, b: c}``."""
    if not _assigns_module_exports(expr):
        return
    right: Node | None = expr
    while right is not None and right.type == "assignment_expression":
        right = right.child_by_field_name("right")
    if right is None:
        return
    if right.type == "identifier":
        out.add(node_text(right), "default", line)
    elif right.type == "object":
        for item in right.named_children:
            if item.type == "shorthand_property_identifier":
                out.add(node_text(item), node_text(item), line)
            elif item.type == "pair":
                value = item.child_by_field_name("value")
                if value is not None and value.type == "identifier":
                    out.add(node_text(value), node_text(item.child_by_field_name("key")), line)


def _apply_exports(facts: FileFacts, exports: _Exports) -> None:
    top_level: dict[str, list[Definition]] = {}
    for d in facts.definitions:
        if d.parent < 0:
            top_level.setdefault(d.name, []).append(d)
    bindings = {(imp.alias or imp.name): imp for imp in facts.imports
                if imp.kind != "reexport" and (imp.alias or imp.name)}
    for local, names in exports.names.items():
        found = top_level.get(local)
        if found:
            for d in found:
                info = extra(d)
                info["exported"] = True
                if "default" in names:
                    info["default_export"] = True
                renamed = [n for n in names if n not in (local, "default")]
                if renamed:
                    info["exported_as"] = renamed
            continue
        imp = bindings.get(local)
        if imp is None:
            continue
        for name in names:
            facts.imports.append(Import(imp.module, imp.name, name, exports.lines[local],
                                        kind="reexport"))


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    type_params = {r.name for r in facts.references if r.kind == "typeparam"}
    if type_params:
        top_names = {d.name for d in facts.definitions if d.parent < 0}
        shadowed = type_params - top_names
        facts.references = [r for r in facts.references if r.kind != "typeparam"
                            and not (r.kind == "use" and r.qualifier is None
                                     and r.name in shadowed)]
    facts.calls = [c for c in facts.calls if not (c.name == "require" and c.receiver is None)]
    keep, nodes = _refine(facts, root, source)
    if not all(keep):
        drop_definitions(facts, keep)
        nodes = [n for n, k in zip(nodes, keep, strict=True) if k]
    _apply_exports(facts, _collect_exports(root))
    js_types.record(facts, root, {i: n for i, n in enumerate(nodes) if n is not None})
