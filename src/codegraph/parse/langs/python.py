"""Python: import statements, constants, constructors, and the facts that type receivers."""

from __future__ import annotations

from functools import lru_cache

from tree_sitter import Node

from codegraph.parse.extract import extra, node_text
from codegraph.parse.facts import CALLABLE, CLASS_LIKE, Definition, FileFacts, Import


def parse_import(node: Node, source: bytes) -> list[Import]:
    line = node.start_point[0] + 1
    if node.type == "import_statement":
        out = []
        for child in node.named_children:
            if child.type == "dotted_name":
                out.append(Import(module=node_text(child), name=None, alias=None, line=line))
            elif child.type == "aliased_import":
                out.append(Import(module=node_text(child.child_by_field_name("name")),
                                  name=None, alias=node_text(child.child_by_field_name("alias")),
                                  line=line))
        return out
    module_node = node.child_by_field_name("module_name")
    level, module = 0, ""
    if module_node is not None and module_node.type == "relative_import":
        for part in module_node.named_children:
            if part.type == "import_prefix":
                level = len(node_text(part).strip())
            elif part.type == "dotted_name":
                module = node_text(part)
    else:
        module = node_text(module_node)
    if any(c.type == "wildcard_import" for c in node.named_children):
        return [Import(module=module, name=None, alias=None, line=line, level=level,
                       wildcard=True)]
    out = []
    for child in node.children_by_field_name("name"):
        if child.type == "aliased_import":
            out.append(Import(module=module, name=node_text(child.child_by_field_name("name")),
                              alias=node_text(child.child_by_field_name("alias")), line=line,
                              level=level))
        else:
            out.append(Import(module=module, name=node_text(child), alias=None, line=line,
                              level=level))
    return out


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    for d in facts.definitions:
        if d.kind == "method" and d.name == "__init__":
            d.kind = "constructor"
        elif d.kind == "variable" and d.name.isupper() and d.parent < 0:
            d.kind = "constant"


# -- receiver types ---------------------------------------------------------------------
# What a name's type may be inferred from, kept in the definitions' ``extra`` as *specs*:
# ``":T"`` an annotation (as written, whitespace removed), ``"=E"`` an assigned expression
# in a normal form (``normal_expr``), e.g. ``"=Foo()"``, ``"=self.get_session()"``,
# ``"=md5_utf8"``, ``"=!dict"`` for a literal.
#   function: ``params`` {name: spec or ""} in order, ``returns`` spec (its annotation),
#             ``returned`` [spec, ...] (its return statements), ``locals`` {name: [spec,
#             ...]} (assigned in its body), ``decorators`` [last name of each];
#   class:    ``attrs`` {name: [[spec, method index], ...]} (``self.x = ...`` in a method);
#   variable: ``spec`` (a module-level or class-level assignment).
UNTYPED = "?"  # a local assigned something that says no type (None, an operation)
MAX_SPECS = 4  # kept per name: a name assigned more often is not typed by its assignments
MAX_SPEC = 200  # characters of a spec
_TYPED_VALUES = frozenset({
    "call", "attribute", "identifier", "subscript", "string", "concatenated_string", "list",
    "dictionary", "set", "tuple", "integer", "float", "true", "false", "list_comprehension",
    "dictionary_comprehension", "set_comprehension", "await", "parenthesized_expression",
    "none",
})
_LITERALS = {"string": "!str", "concatenated_string": "!str", "list": "!list",
             "list_comprehension": "!list", "dictionary": "!dict",
             "dictionary_comprehension": "!dict", "set": "!set", "set_comprehension": "!set",
             "tuple": "!tuple", "integer": "!int", "float": "!float", "true": "!bool",
             "false": "!bool", "none": "!NoneType"}
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_KEEP_ARGS = frozenset({"super", "type"})  # calls whose arguments say the type
MAX_RECEIVER = 1000  # characters of a receiver's text put in normal form; longer: untyped


@lru_cache(maxsize=1 << 16)  # receivers repeat: self.request, self.model._meta...
def normal_expr(text: str) -> str | None:
    """A receiver or an assigned value in normal form: whitespace and call arguments removed
    (``Foo(a, b).bar`` -> ``Foo().bar``), subscripts as ``[]``, a literal as ``!str``,
    ``!list``...; None for what is not a chain of names, calls and subscripts."""
    text = "".join(text.split())
    if not text:
        return None
    first = text[0]
    if first in "\"'" or (first in "bBrRfFuU" and len(text) > 1 and text[1] in "\"'"):
        return "!bytes" if first in "bB" else "!str"
    if first.isdigit():
        return "!float" if "." in text or "e" in text.lower() else "!int"
    if first == "[":
        return "!list"
    if first == "{":
        return "!dict" if ":" in text or text == "{}" else "!set"
    if first == "(":
        return "!tuple" if "," in text else None
    if len(text) > MAX_RECEIVER:
        return None
    out: list[str] = []
    name = ""  # the name being read, since the last "." or bracket (its first 9 characters)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _CLOSE:
            j = _matching(text, i)
            if j < 0:
                return None
            keep = c == "(" and name in _KEEP_ARGS
            out.append(text[i:j + 1] if keep else c + _CLOSE[c])
            name = ""
            i = j + 1
        elif c.isalnum() or c in "_.":
            out.append(c)
            name = "" if c == "." else (name + c)[:9]
            i += 1
        else:
            return None
    result = "".join(out)
    return result if result and not result.startswith(".") else None


def _matching(text: str, i: int) -> int:
    """Index of the bracket closing ``text[i]``, skipping strings; -1 if none."""
    depth, quote = 0, ""
    for j in range(i, len(text)):
        c = text[j]
        if quote:
            if c == quote and text[j - 1] != "\\":
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def value_spec(node: Node | None) -> str | None:
    if node is None or node.type not in _TYPED_VALUES:
        return None
    if node.type in _LITERALS:
        return "=" + _LITERALS[node.type]
    if node.type == "await" and node.named_child_count:
        return value_spec(node.named_child(0))
    if node.type == "parenthesized_expression" and node.named_child_count == 1:
        return value_spec(node.named_child(0))
    expr = _normal_node(node, 0)
    return "=" + expr[:MAX_SPEC] if expr else None


def _normal_node(node: Node | None, depth: int) -> str | None:
    """``normal_expr`` of a chain, read off the tree (no argument's text is read)."""
    if node is None or depth > 20:
        return None
    kind = node.type
    if kind == "identifier":
        return node_text(node)
    if kind == "attribute":
        obj = _normal_node(node.child_by_field_name("object"), depth + 1)
        attr = node.child_by_field_name("attribute")
        return f"{obj}.{node_text(attr)}" if obj and attr else None  # also "!str.join"
    if kind == "call":
        function = node.child_by_field_name("function")
        if function is not None and function.type == "identifier" \
                and node_text(function) in ("super", "type"):
            return normal_expr(node_text(node))  # their arguments say the type
        callee = _normal_node(function, depth + 1)
        return f"{callee}()" if callee and not callee.startswith("!") else None
    if kind == "subscript":
        value = _normal_node(node.child_by_field_name("value"), depth + 1)
        return f"{value}[]" if value and not value.startswith("!") else None
    return _LITERALS.get(kind)


def annotation_spec(node: Node | None) -> str | None:
    if node is None:
        return None
    text = "".join(node_text(node).split())
    return ":" + text[:MAX_SPEC] if text else None


def add_facts(facts: FileFacts, found: list[tuple[str, Node, int]]) -> None:
    defs = facts.definitions
    for kind, node, scope in found:
        if kind == "function":
            _function_facts(facts, node, scope)
            continue
        if kind == "return":  # what an unannotated function returns
            spec = value_spec(node.named_child(0)) if node.named_child_count else None
            if spec and scope >= 0 and defs[scope].kind in CALLABLE:
                specs = extra(defs[scope]).setdefault("returned", [])
                if len(specs) < MAX_SPECS and spec not in specs:
                    specs.append(spec)
            continue
        if kind == "bind":  # for x in ..., except E as x, a, b = ...: locals, untyped
            if scope >= 0 and defs[scope].kind in CALLABLE:
                for name in _bound_names(node):
                    _add_local(defs[scope], name, UNTYPED)
            continue
        if kind == "with":
            item = node.child_by_field_name("value")
            alias = item.child_by_field_name("alias") if item is not None else None
            target = alias.named_child(0) if alias is not None else None
            value = item.named_child(0) if item is not None else None
            if target is None or scope < 0 or defs[scope].kind not in CALLABLE:
                continue
            spec = value_spec(value)
            if spec:  # ``with open(p) as f``: f is what __enter__ returns, often the value
                _add_local(defs[scope], node_text(target), spec)
            continue
        left = node.child_by_field_name("left")
        spec = annotation_spec(node.child_by_field_name("type")) or \
            value_spec(node.child_by_field_name("right"))
        if left is not None and left.type == "identifier" and scope >= 0 \
                and defs[scope].kind in CALLABLE:
            _add_local(defs[scope], node_text(left), spec or UNTYPED)  # shadows, typed or not
            continue
        if left is None or spec is None:
            continue
        if left.type == "identifier":
            name = node_text(left)
            if scope >= 0 and defs[scope].kind in ("variable", "constant") \
                    and defs[scope].name == name:
                extra(defs[scope]).setdefault("spec", spec)
            continue
        obj = left.child_by_field_name("object")
        attr = left.child_by_field_name("attribute")
        if scope < 0 or defs[scope].kind not in CALLABLE or obj is None or attr is None:
            continue
        method = defs[scope]
        params = (method.extra or {}).get("params") or {}
        cls = method.parent
        if cls < 0 or defs[cls].kind not in CLASS_LIKE or not params \
                or next(iter(params)) != node_text(obj) \
                or "staticmethod" in ((method.extra or {}).get("decorators") or ()):
            continue  # only self.x = ... (a static method's first parameter is no self)
        attrs = extra(defs[cls]).setdefault("attrs", {})
        specs = attrs.setdefault(node_text(attr), [])
        if len(specs) < MAX_SPECS and [spec, scope] not in specs:
            specs.append([spec, scope])


def _bound_names(node: Node) -> list[str]:
    """The names a binding target binds: ``x``, ``a, b``, ``(a, [b, c])``, ``*rest``."""
    if node.type == "identifier":
        return [node_text(node)]
    if node.type in ("pattern_list", "tuple_pattern", "list_pattern", "list_splat_pattern",
                     "as_pattern_target", "parenthesized_expression"):
        return [n for child in node.named_children[:64] for n in _bound_names(child)]
    return []


def _add_local(d: Definition, name: str, spec: str) -> None:
    specs = extra(d).setdefault("locals", {}).setdefault(name, [])
    if len(specs) < MAX_SPECS and spec not in specs:
        specs.append(spec)


def _function_facts(facts: FileFacts, node: Node, scope: int) -> None:
    if scope < 0:
        return
    d = facts.definitions[scope]
    if (d.line, d.col) != (node.start_point[0] + 1, node.start_point[1] + 1):
        return  # folded away (too deep): its facts belong to no definition of its own
    params: dict[str, str] = {}
    parameters = node.child_by_field_name("parameters")
    for p in parameters.named_children if parameters is not None else []:
        if p.type in ("identifier", "list_splat_pattern", "dictionary_splat_pattern"):
            name_node: Node | None = p
        elif p.type == "typed_parameter":
            name_node = p.named_child(0)
        else:
            name_node = p.child_by_field_name("name")
        if name_node is None:
            continue
        if name_node.type == "list_splat_pattern":
            params[node_text(name_node.named_child(0))] = "=!tuple"
        elif name_node.type == "dictionary_splat_pattern":
            params[node_text(name_node.named_child(0))] = "=!dict"
        elif name_node.type == "identifier":
            params[node_text(name_node)] = annotation_spec(p.child_by_field_name("type")) or ""
    info = extra(d)
    info["params"] = params
    wrapper = node.parent
    if wrapper is not None and wrapper.type == "decorated_definition":
        names = [normal_expr(node_text(c.named_child(0))) for c in wrapper.named_children
                 if c.type == "decorator" and c.named_child_count]
        # the last part of each: property, cached_property, staticmethod, x.setter
        info["decorators"] = [n.rpartition(".")[2].rstrip("()") for n in names if n]
    returns = annotation_spec(node.child_by_field_name("return_type"))
    if returns:
        info["returns"] = returns
