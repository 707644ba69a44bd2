"""Types of the names of JavaScript and TypeScript code, for the resolver to type receivers.

``record(facts, root, source, language)`` stores in ``Definition.extra`` what it finds:

- ``vars``: a function's parameters and locals (those of the anonymous functions in it too):
  name -> type, ``""`` when unknown (the name still hides a file-level one). Untyped names
  are kept only when the file calls something through that name;
- ``fields``: a class's fields (or a constructor function's, or an object's whose methods
  assign ``this.x``; or an interface's properties): annotated, TypeScript parameter
  properties (``constructor(private s: S)``), initialised or assigned (``this.x = new X()``)
  in its methods; untyped ones (``""``) only when the file calls a method of that name;
- ``returns``: a function's declared return type (JSDoc ``@returns`` in JavaScript);
- ``type``: a file-level variable's type; ``get``: True on a getter.

A type is a string: a type name as written (``Foo``, ``ns.Foo``; containers keep their
arguments: ``Promise<Foo>``, ``Map<K,V>``, ``Array<T>`` for ``T[]``; other generics lose
theirs; ``string``, ``number``, ``boolean``; ``Function``; ``this``; a union of up to three:
``A|B``), or ``=`` and an expression whose type the resolver infers (``=this.make()``,
``=f()``, ``=x.y``, ``=await:this.load()``, ``=each:xs``: an element of xs), or ``""``.
"""

from __future__ import annotations

import bisect
import importlib
import re
from importlib import resources

from tree_sitter import Language, Node, Query, QueryCursor

from codegraph.parse.extract import extra, node_text
from codegraph.parse.facts import CLASS_LIKE, FileFacts
from codegraph.parse.languages import LANGUAGES

_QUERIES: dict[str, Query] = {}
_NULLISH = "\0"  # null, undefined, void: dropped from unions
MAX_UNION = 3  # members of a union type kept (``A|B``)
MAX_TYPE_DEPTH = 32  # levels of a type read: deeper, it says nothing useful
# Generic types whose arguments are kept: the resolver knows what some of their methods give.
CONTAINERS = frozenset({"Promise", "Array", "Set", "ReadonlySet", "Map", "ReadonlyMap",
                        "WeakMap"})
# Methods whose callback's first parameter is an element of the receiver.
_EACH = frozenset({"forEach", "map", "filter", "find", "findIndex", "some", "every",
                   "flatMap"})
_PRIMITIVES = frozenset({"string", "number", "boolean", "bigint", "symbol"})
_WRAPPERS = {"String": "string", "Number": "number", "Boolean": "boolean"}
_FUNCTIONS = frozenset({"arrow_function", "function_expression", "function",
                        "generator_function"})
_FUNCTION_DEFS = frozenset({"function_declaration", "generator_function_declaration",
                            "method_definition", "function_signature", "method_signature",
                            "abstract_method_signature"})
_VALUE_TYPES = {"string": "string", "template_string": "string", "number": "number",
                "true": "boolean", "false": "boolean", "regex": "RegExp", "array": "Array",
                **{t: "Function" for t in _FUNCTIONS}}
_EXPRESSIONS = frozenset({"identifier", "this", "member_expression", "call_expression",
                          "non_null_expression", "parenthesized_expression"})
_NAME = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
_JSDOC_PARAM = re.compile(r"@param\s+\{([^}]*)\}\s+\[?([A-Za-z_$][\w$]*)")
_JSDOC_RETURNS = re.compile(r"@returns?\s+\{([^}]*)\}")
_JSDOC_UNKNOWN = frozenset({"Object", "object", "*", "?", "any", "mixed", "Any"})


def _query(language: str) -> Query:
    query = _QUERIES.get(language)
    if query is None:
        spec = LANGUAGES[language]
        grammar = importlib.import_module(spec.grammar_module)
        lang = Language(getattr(grammar, spec.grammar_func)())
        names = ["js_types.scm", "js_fields.scm" if language == "javascript" else "ts_types.scm"]
        folder = resources.files("codegraph.parse").joinpath("queries")
        query = Query(lang, "\n".join(folder.joinpath(n).read_text(encoding="utf-8")
                                      for n in names))
        _QUERIES[language] = query
    return query


# -- types as written --------------------------------------------------------------------
def type_of(node: Node | None, depth: int = 0) -> str:
    """A type node, normalised (see the module's doc); ``""`` when not useful (or nested
    deeper than MAX_TYPE_DEPTH: hostile input must not exhaust the stack)."""
    found = _type(node, depth)
    return "" if found == _NULLISH else found


def _type(node: Node | None, depth: int) -> str:
    if node is None or depth > MAX_TYPE_DEPTH:
        return ""
    t = node.type
    if t in ("type_annotation", "parenthesized_type", "readonly_type", "opting_type_annotation"):
        return _type(node.named_children[-1], depth + 1) if node.named_child_count else ""
    if t in ("type_identifier", "identifier", "nested_type_identifier"):
        text = "".join(node_text(node).split())
        return text if _NAME.match(text) else ""
    if t == "generic_type":
        name = _type(node.child_by_field_name("name"), depth + 1)
        name = "Array" if name == "ReadonlyArray" else name
        args = node.child_by_field_name("type_arguments")
        if name in CONTAINERS and args is not None and args.named_child_count:
            inner = [type_of(a, depth + 1) or "?" for a in args.named_children]
            return f"{name}<{','.join(inner)}>"  # Map<K,V>: what get() gives is known
        return name
    if t == "predefined_type":
        text = node_text(node)
        if text in _PRIMITIVES:
            return text
        return _NULLISH if text in ("undefined", "void", "null", "never") else ""
    if t == "literal_type":
        literal = node.named_children[0] if node.named_child_count else None
        kind = literal.type if literal is not None else ""
        if kind in ("null", "undefined"):
            return _NULLISH
        return {"string": "string", "number": "number", "true": "boolean",
                "false": "boolean"}.get(kind, "")
    if t == "array_type":
        element = type_of(node.named_children[0], depth + 1) if node.named_child_count else ""
        return f"Array<{element}>" if element else "Array"
    if t == "tuple_type":
        return "Array"
    if t in ("function_type", "constructor_type"):
        return "Function"
    if t == "this_type":
        return "this"
    if t == "union_type":
        parts = set(_members(node, depth + 1)) - {_NULLISH}
        if not parts:
            return _NULLISH
        if "" in parts or len(parts) > MAX_UNION:
            return ""
        return "|".join(sorted(parts))  # the resolver picks the one that has the method
    return ""


def _members(node: Node, depth: int) -> list[str]:
    """A union's members, nested unions flattened (``A | B | null``)."""
    if depth > MAX_TYPE_DEPTH:
        return [""]
    out: list[str] = []
    for child in node.named_children:
        out += _members(child, depth + 1) if child.type == "union_type" \
            else [_type(child, depth + 1)]
    return out


def jsdoc_type(text: str) -> str:
    """A JSDoc type (``{Layer}``, ``{String|null}``, ``{Array.<X>}``), normalised."""
    parts = {p for p in (_jsdoc_one(p) for p in text.strip().strip("()").split("|"))
             if p != _NULLISH}
    return parts.pop() if len(parts) == 1 else ""


def _jsdoc_one(text: str) -> str:
    text = text.strip().lstrip("?!").rstrip("=").strip()
    if text in ("null", "undefined", "void"):
        return _NULLISH
    if text.endswith("[]") or text.startswith(("Array.<", "Array<")) or text == "Array":
        return "Array"
    if text.startswith("function(") or text in ("Function", "function"):
        return "Function"
    if text in _JSDOC_UNKNOWN or not _NAME.match(text):
        return ""
    return _WRAPPERS.get(text, text.lower() if text.lower() in _PRIMITIVES else text)


# -- values ------------------------------------------------------------------------------
def expression(node: Node | None) -> str | None:
    """A receiver-like expression, arguments dropped: ``this.svc.get()``; None otherwise."""
    if node is None:
        return None
    t = node.type
    if t in ("identifier", "this"):
        return node_text(node)
    if t == "member_expression":
        obj = expression(node.child_by_field_name("object"))
        prop = node.child_by_field_name("property")
        if obj is None or prop is None or prop.type not in ("property_identifier",
                                                             "private_property_identifier"):
            return None
        return f"{obj}.{node_text(prop)}"
    if t == "call_expression":
        function = node.child_by_field_name("function")
        inner = expression(function)
        if inner is None or inner == "require":
            return None
        return f"{inner}()"
    if t in ("non_null_expression", "parenthesized_expression"):
        return expression(node.named_children[0]) if node.named_child_count else None
    return None


def value_type(node: Node | None, depth: int = 0) -> str:
    """The type of an initialiser: ``new Foo()`` -> ``Foo``; ``f()`` -> ``=f()``."""
    if node is None or depth > MAX_TYPE_DEPTH:
        return ""
    t = node.type
    simple = _VALUE_TYPES.get(t)
    if simple is not None:
        return simple
    if t == "new_expression":
        ctor = node.child_by_field_name("constructor")
        text = "".join(node_text(ctor).split()) if ctor is not None else ""
        return text if ctor is not None and ctor.type in ("identifier", "member_expression") \
            and _NAME.match(text) else ""
    if t == "binary_expression" and node_text(node.child_by_field_name("operator")) in (
            "||", "??"):  # x || (x = [])
        return value_type(node.child_by_field_name("left"), depth + 1) or \
            value_type(node.child_by_field_name("right"), depth + 1)
    if t in ("as_expression", "satisfies_expression"):
        return type_of(node.named_children[-1], depth + 1) if node.named_child_count > 1 \
            else ""
    if t == "await_expression":
        inner = expression(node.named_children[0]) if node.named_child_count else None
        return f"=await:{inner}" if inner else ""
    if t == "this":
        return "this"
    if t in _EXPRESSIONS:
        inner = expression(node)
        return f"={inner}" if inner else ""
    return ""


def _element_of(function: Node | None) -> str:
    """``=each:xs`` for the first parameter of a callback given to ``xs.forEach`` (``map``,
    ``filter``...): an element of ``xs``; ``""`` for other functions."""
    args = function.parent if function is not None else None
    call = args.parent if args is not None and args.type == "arguments" else None
    callee = call.child_by_field_name("function") if call is not None else None
    if callee is None or callee.type != "member_expression" \
            or node_text(callee.child_by_field_name("property")) not in _EACH:
        return ""
    receiver = expression(callee.child_by_field_name("object"))
    return f"=each:{receiver}" if receiver else ""


# -- recording ---------------------------------------------------------------------------
class _Recorder:
    def __init__(self, facts: FileFacts) -> None:
        self.defs = facts.definitions
        self.starts = [(d.line - 1, d.col - 1) for d in self.defs]
        self.by_start = {s: i for i, s in enumerate(self.starts)}
        self.vars: dict[int, dict[str, str]] = {}
        self.fields: dict[int, dict[str, str]] = {}
        self.annotated: set[tuple[int, str]] = set()  # fields typed by a declaration

    def enclosing(self, point: tuple[int, int]) -> int:
        i = bisect.bisect_right(self.starts, point) - 1
        while i >= 0 and (self.defs[i].end_line - 1, self.defs[i].end_col - 1) <= point:
            i = self.defs[i].parent
        return i

    def own(self, node: Node) -> int:
        """The definition whose node this is, or -1."""
        return self.by_start.get(node.start_point, -1)

    def holder(self, i: int) -> int:
        """The definition whose fields ``this.x = ...`` in definition ``i`` sets, or -1."""
        while i >= 0:
            d = self.defs[i]
            if d.kind in CLASS_LIKE:
                return i
            owner = d.extra.get("this") if d.extra else None
            if owner is not None:
                return next((j for j, o in enumerate(self.defs)
                             if o.parent < 0 and o.name == owner), -1) if owner else -1
            if d.parent < 0 and d.kind == "function":
                return i
            i = d.parent
        return -1

    def var(self, scope: int, name: str, type_: str) -> None:
        if scope < 0 or not name:
            return
        found = self.vars.setdefault(scope, {})
        if name not in found:
            found[name] = type_
        elif found[name] != type_:
            found[name] = ""  # two declarations: unknown

    def field(self, cls: int, name: str, type_: str, declared: bool = False) -> None:
        if cls < 0 or not name:
            return
        found = self.fields.setdefault(cls, {})
        if declared:
            self.annotated.add((cls, name))
            found[name] = type_
        elif (cls, name) in self.annotated:
            return
        elif name not in found:
            found[name] = type_
        elif found[name] != type_:
            found[name] = ""

    # -- captures ------------------------------------------------------------------------
    def params(self, node: Node) -> None:
        scope = self.enclosing(node.start_point)
        ctor = node.parent
        cls = -1
        if ctor is not None and ctor.type == "method_definition" \
                and node_text(ctor.child_by_field_name("name")) == "constructor":
            cls = self.holder(self.own(ctor))
        each = _element_of(node.parent)
        for param in node.named_children:
            if each and param.type in ("identifier", "required_parameter") \
                    and param.child_by_field_name("type") is None:
                name = param if param.type == "identifier" else param.child_by_field_name(
                    "pattern")
                if name is not None and name.type == "identifier":
                    self.var(scope, node_text(name), each)
                    each = ""
                    continue
            each = ""
            if param.type in ("required_parameter", "optional_parameter"):
                pattern = param.child_by_field_name("pattern")
                type_ = type_of(param.child_by_field_name("type")) or \
                    value_type(param.child_by_field_name("value"))
                if pattern is not None and pattern.type == "this":  # f(this: Foo)
                    self.var(scope, "this", type_)
                elif pattern is not None and pattern.type == "identifier":
                    self.var(scope, node_text(pattern), type_)
                    if cls >= 0 and any(c.type in ("accessibility_modifier", "readonly")
                                        or node_text(c) == "readonly" for c in param.children):
                        self.field(cls, node_text(pattern), type_, declared=True)
                else:
                    self.pattern(scope, pattern, "Array" if pattern is not None
                                 and pattern.type == "rest_pattern" else "")
            elif param.type == "assignment_pattern":
                left = param.child_by_field_name("left")
                if left is not None and left.type == "identifier":
                    self.var(scope, node_text(left),
                             value_type(param.child_by_field_name("right")))
                else:
                    self.pattern(scope, left, "")
            else:
                self.pattern(scope, param, "Array" if param.type == "rest_pattern" else "")

    def pattern(self, scope: int, node: Node | None, type_: str) -> None:
        """Names bound by a parameter or a destructuring pattern (of unknown types)."""
        if node is None:
            return
        if node.type in ("identifier", "shorthand_property_identifier_pattern"):
            self.var(scope, node_text(node), type_)
            return
        for child in node.named_children:
            if child.type == "pair_pattern":
                self.pattern(scope, child.child_by_field_name("value"), "")
            elif child.type not in ("property_identifier", "type_annotation"):
                self.pattern(scope, child, "" if node.type != "rest_pattern" else type_)

    def declarator(self, node: Node) -> None:
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name is None or (value is not None and expression(value) is None
                            and value.type == "call_expression"
                            and node_text(value.child_by_field_name("function")) == "require"):
            return
        annotation = node.child_by_field_name("type")
        type_ = type_of(annotation) or value_type(value)
        own = self.own(node)
        if own >= 0 and self.defs[own].name == node_text(name):  # a file-level variable
            if type_ and self.defs[own].kind in ("variable", "constant"):
                extra(self.defs[own])["type"] = type_
            function = annotation.named_children[-1] if annotation is not None \
                and annotation.named_child_count else None
            if function is not None and function.type == "function_type":
                returns = type_of(function.child_by_field_name("return_type"))
                if returns:  # const f: (x: X) => Y = ...
                    extra(self.defs[own])["returns"] = returns
            return
        scope = self.enclosing(node.start_point)
        if name.type == "identifier":
            self.var(scope, node_text(name), type_)
        else:
            self.pattern(scope, name, "")

    def this_assignment(self, node: Node) -> None:
        left = node.child_by_field_name("left")
        prop = left.child_by_field_name("property") if left is not None else None
        if prop is None:
            return
        scope = self.enclosing(node.start_point)
        value = node.child_by_field_name("right")
        type_ = value_type(value)
        if type_.startswith("=") and value is not None and value.type == "identifier":
            type_ = self.vars.get(scope, {}).get(node_text(value), "")  # this.s = s
        self.field(self.holder(scope), node_text(prop), type_)

    def class_field(self, node: Node) -> None:
        name = node.child_by_field_name("name") or node.child_by_field_name("property")
        value = node.child_by_field_name("value")
        if name is None or (value is not None and value.type in _FUNCTIONS):
            return  # a method
        body = node.parent
        cls = self.own(body.parent) if body is not None and body.parent is not None else -1
        annotation = node.child_by_field_name("type")
        if annotation is not None:
            self.field(cls, node_text(name), type_of(annotation), declared=True)
        elif value is not None:
            self.field(cls, node_text(name), value_type(value))

    def signature(self, i: int, node: Node) -> None:
        """A function definition's return type and getter mark."""
        d = self.defs[i]
        function = node
        if node.type in ("variable_declarator", "pair", "public_field_definition",
                         "field_definition"):
            function = node.child_by_field_name("value")  # type: ignore[assignment]
        elif node.type == "assignment_expression":
            function = node.child_by_field_name("right")  # type: ignore[assignment]
        if function is None:
            return
        if function.type in _FUNCTION_DEFS or function.type in _FUNCTIONS:
            returns = type_of(function.child_by_field_name("return_type"))
            if returns:
                extra(d)["returns"] = returns
            if function.type == "method_definition" and any(
                    c.type == "get" for c in function.children):
                extra(d)["get"] = True


_ANCHORS = frozenset({"expression_statement", "export_statement", "lexical_declaration",
                      "variable_declaration", "assignment_expression"})


def _jsdoc_of(node: Node) -> str:
    """The JSDoc block before a definition, blank lines allowed (as TypeScript reads it)."""
    anchor = node
    while anchor.parent is not None and anchor.parent.type in _ANCHORS:
        anchor = anchor.parent
    comment = anchor.prev_sibling
    text = node_text(comment) if comment is not None and comment.type == "comment" else ""
    return text if text.startswith("/**") else ""


def _jsdoc(recorder: _Recorder, i: int, node: Node) -> None:
    doc = _jsdoc_of(node)
    if "@" not in doc:
        return
    d = recorder.defs[i]
    for text, name in _JSDOC_PARAM.findall(doc):
        type_ = jsdoc_type(text)
        if type_:
            recorder.vars.setdefault(i, {})[name] = type_
    found = _JSDOC_RETURNS.search(doc)
    if found and not (d.extra and "returns" in d.extra) and jsdoc_type(found.group(1)):
        extra(d)["returns"] = jsdoc_type(found.group(1))


def _called_names(facts: FileFacts) -> set[str]:
    """Names the file calls something through: ``f()``, ``f.g()``, ``f().g()``."""
    names = set()
    for c in facts.calls:
        if c.receiver is None:
            names.add(c.name)
        else:
            names.add(re.split(r"[.(!?\[]", c.receiver, maxsplit=1)[0])
    return names


def record(facts: FileFacts, root: Node, nodes: dict[int, Node]) -> None:
    """Record the types of ``facts``'s names in its definitions' ``extra`` (see above).
    ``nodes`` maps definitions to their syntax nodes."""
    recorder = _Recorder(facts)
    for i, node in nodes.items():
        recorder.signature(i, node)
    captures: dict[str, list[Node]] = QueryCursor(_query(facts.language)).captures(root)
    found: list[tuple[Node, str]] = [(n, tag) for tag, ns in captures.items() for n in ns]
    found.sort(key=lambda item: item[0].start_byte)  # parameters before the bodies
    for node, tag in found:
        if tag == "params":
            recorder.params(node)
        elif tag == "param":  # x => ...
            recorder.var(recorder.enclosing(node.start_point), node_text(node),
                         _element_of(node.parent))
        elif tag == "declarator":
            recorder.declarator(node)
        elif tag == "this_assignment":
            recorder.this_assignment(node)
        elif tag == "field":
            recorder.class_field(node)
        elif tag == "bound":
            recorder.pattern(recorder.enclosing(node.start_point), node, "")
    if facts.language == "javascript":
        for i, node in nodes.items():
            if facts.definitions[i].kind not in CLASS_LIKE:
                _jsdoc(recorder, i, node)
    called = _called_names(facts)
    for i, found_vars in recorder.vars.items():
        kept = {k: v for k, v in found_vars.items() if v or k in called}
        if kept:
            extra(facts.definitions[i])["vars"] = kept
    members = {c.name for c in facts.calls if c.receiver is not None}
    for i, found_fields in recorder.fields.items():
        kept = {k: v for k, v in found_fields.items() if v or k in members}
        if kept:
            extra(facts.definitions[i])["fields"] = kept
