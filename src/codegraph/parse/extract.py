"""Turn source bytes into FileFacts with one tree-sitter query per language.

Each language has a query file in ``queries/`` whose captures follow one convention:

- ``@definition.<kind>`` on a definition node, with ``@name`` on its name
  (kinds: see ``facts.DEF_KINDS``);
- ``@reference.call`` on a call node, ``@name`` on the callee's last identifier and
  optionally ``@receiver`` on the object it is called on;
- ``@reference.inherits`` / ``@reference.implements`` / ``@reference.use`` on a
  (possibly qualified) type or name; the node text is the reference;
- ``@import`` on an import statement, handed to the language hook ``parse_import``;
- ``@package`` on the name of a file-level package or namespace declaration;
- ``@fact.<kind>`` on a node that the language hook ``add_facts`` reads (receiver types:
  parameters' annotations, assignments).

The language hook module (``langs/<lang>.py``) provides ``parse_import(node, source)``
and may provide ``postprocess(facts, root, source)`` for rules a query cannot express, and
``add_facts(facts, found)``, given each ``@fact`` node with the index of the definition
enclosing it.
"""

from __future__ import annotations

import bisect
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from types import ModuleType
from typing import Any

from tree_sitter import Language, Node, Parser, Query, QueryCursor

from codegraph.parse.facts import (
    CALLABLE,
    CLASS_LIKE,
    DEF_KINDS,
    Call,
    Definition,
    FileFacts,
    Import,
    Reference,
)
from codegraph.parse.languages import LANGUAGES, LanguageSpec

MAX_SIGNATURE = 300
MAX_DOC = 2000
MAX_ERROR_LINES = 50
# Levels of nested definitions kept: a definition inside MAX_DEPTH others is folded into
# the deepest of them (its calls and uses become that one's). Real code stays far below:
# the deepest in Django 5.1 is 6 levels (in its tests: an attribute of a Meta class of a
# model class in a function in a test method of a test class), 4 in the Python 3.11
# stdlib and in npm's own packages.
# Without a bound, n nested definitions give qualified names (and so node records, index
# keys and chunk headers) of O(n) each, O(n^2) in all.
MAX_DEPTH = 12
# Characters of a name kept: a definition's name is in the qualified name of everything
# inside it, so a long one would be stored again for each. The longest in Django 5.1, the
# Python 3.11 stdlib and npm's own packages has 79.
MAX_NAME = 256
# Nodes that wrap a definition and carry its leading comments.
_WRAPPERS = frozenset(
    {"decorated_definition", "export_statement", "template_declaration",
     "attribute_item", "declaration_list_item"}
)
_COMMENT_MARKERS = re.compile(r"^\s*(///?|//!|/\*\*?|\*/|\*|#!?|--)\s?")


# What a query pattern's matches are (its primary capture says so): the roles.
_SKIP, _DEFINITION, _CALL, _REFERENCE, _IMPORT, _PACKAGE, _FACT = range(7)
_Plan = tuple[str, int, str]  # (primary capture, role, definition kind or reference kind)


@dataclass(slots=True)
class _LanguageRuntime:
    spec: LanguageSpec
    parser: Parser
    query: Query  # kept alive: tree-sitter 0.25 must not drop compiled queries
    hooks: ModuleType
    parse_import: Callable[[Node, bytes], list[Import]]
    postprocess: Callable[[FileFacts, Node, bytes], None] | None
    add_facts: Callable[[FileFacts, list[tuple[str, Node, int]]], None] | None
    plans: dict[int, _Plan]  # pattern index -> what its matches are, learnt from the first


_RUNTIMES: dict[str, _LanguageRuntime] = {}


def _runtime(language: str) -> _LanguageRuntime:
    rt = _RUNTIMES.get(language)
    if rt is None:
        spec = LANGUAGES[language]
        grammar = importlib.import_module(spec.grammar_module)
        lang = Language(getattr(grammar, spec.grammar_func)())
        queries = resources.files("codegraph.parse").joinpath("queries")
        query = Query(lang, "\n".join(queries.joinpath(name).read_text(encoding="utf-8")
                                      for name in spec.query_files))
        hooks = importlib.import_module(spec.hooks_module)
        rt = _LanguageRuntime(spec, Parser(lang), query, hooks, hooks.parse_import,
                              getattr(hooks, "postprocess", None),
                              getattr(hooks, "add_facts", None), {})
        _RUNTIMES[language] = rt
    return rt


def prepare(language: str) -> None:
    """Load the language's grammar and compile its query now (processes forked later
    inherit them, instead of each compiling its own)."""
    _runtime(language)


def node_text(node: Node | None) -> str:
    text = node.text if node is not None else None  # ``text`` makes a new bytes each time
    return "" if text is None else text.decode("utf-8", errors="replace")


def name_text(node: Node | None) -> str:
    """An identifier's text, cut at MAX_NAME characters."""
    return node_text(node)[:MAX_NAME]


def signature_of(node: Node, source: bytes) -> str:
    """The definition's head: from its start to its body, whitespace collapsed."""
    body = node.child_by_field_name("body")
    if body is not None and body.start_byte > node.start_byte:
        head = body.prev_sibling  # the last child before the body that is not a comment
        while head is not None and "comment" in head.type:
            head = head.prev_sibling
        raw = source[node.start_byte:head.end_byte if head is not None else node.start_byte]
    else:
        raw = source[node.start_byte:node.end_byte].split(b"\n", 1)[0]
    text = " ".join(raw.decode("utf-8", errors="replace").split()).rstrip("{:=").rstrip()
    return text[:MAX_SIGNATURE]


def python_docstring(node: Node) -> str:
    body = node.child_by_field_name("body")
    if body is None or body.named_child_count == 0:
        return ""
    first = body.named_child(0)  # not named_children: a long body would be listed whole
    if first is None or first.type != "expression_statement" or first.named_child_count == 0:
        return ""
    string = first.named_child(0)
    if string is None or string.type != "string":
        return ""
    parts = [node_text(c) for c in string.named_children if c.type == "string_content"]
    return inspect.cleandoc("".join(parts))[:MAX_DOC]


def comment_doc(node: Node) -> str:
    """Contiguous comments right above a definition (or above its wrapper)."""
    anchor = node
    while anchor.parent is not None and anchor.parent.type in _WRAPPERS:
        anchor = anchor.parent
    lines: list[str] = []
    expected_row = anchor.start_point[0]
    sibling = anchor.prev_sibling
    while sibling is not None:
        if sibling.type in ("attribute_item", "attribute", "decorator", "annotation"):
            expected_row = sibling.start_point[0]
            sibling = sibling.prev_sibling
            continue
        if "comment" not in sibling.type or sibling.end_point[0] < expected_row - 1:
            break
        lines[:0] = node_text(sibling).splitlines()
        expected_row = sibling.start_point[0]
        sibling = sibling.prev_sibling
    cleaned = [_COMMENT_MARKERS.sub("", line).rstrip().rstrip("*/").rstrip() for line in lines]
    return "\n".join(cleaned).strip()[:MAX_DOC]


def split_qualified(text: str) -> tuple[str | None, str]:
    """``a.b.C`` -> (``a.b``, ``C``); also for ``::`` and ``\\`` separators."""
    text = "".join(text.split())  # whitespace removed (split: 5x faster than a regex)
    for sep in ("::", ".", "\\"):
        if sep in text:
            qualifier, _, name = text.rpartition(sep)
            return qualifier or None, name
    return None, text


def _error_lines(root: Node) -> list[int]:
    if not root.has_error:
        return []
    lines: list[int] = []
    stack = [root]
    while stack and len(lines) < MAX_ERROR_LINES:
        node = stack.pop()
        if node.is_error or node.is_missing:
            lines.append(node.start_point[0] + 1)
            continue
        if node.has_error:
            stack.extend(reversed(node.children))
    return sorted(set(lines))


class _Scopes:
    """Finds the innermost definition enclosing a position (a byte offset, or a point)."""

    def __init__(self, spans: list[tuple[Any, Any]], parents: list[int]) -> None:
        self.starts = [s for s, _ in spans]
        self.spans = spans
        self.parents = parents

    def enclosing(self, offset: Any) -> int:
        i = bisect.bisect_right(self.starts, offset) - 1
        while i >= 0 and self.spans[i][1] <= offset:
            i = self.parents[i]
        return i


def extract(source: bytes, language: str) -> FileFacts:
    """Parse ``source`` and extract its definitions, imports, calls and references."""
    rt = _runtime(language)
    tree = rt.parser.parse(source)
    root = tree.root_node
    lines = source.count(b"\n") + (0 if not source or source.endswith(b"\n") else 1)
    facts = FileFacts(language=language, lines=lines)
    facts.error_lines = _error_lines(root)

    raw_defs: list[tuple[Node, str, Node]] = []
    raw_calls: list[tuple[Node, Node, Node | None]] = []
    raw_refs: list[tuple[str, Node]] = []
    raw_imports: list[Node] = []
    raw_facts: list[tuple[str, Node]] = []
    seen_defs: set[tuple[int, int]] = set()
    seen_calls: set[tuple[int, int]] = set()
    seen_refs: set[tuple[str, int, int]] = set()
    seen_imports: set[tuple[int, int]] = set()
    plans = rt.plans
    for pattern, caps in QueryCursor(rt.query).matches(root):
        plan = plans.get(pattern)
        if plan is None:
            plan = plans[pattern] = _plan(caps)
        tag, role, kind = plan
        if role == _SKIP:
            continue
        node = caps[tag][0]
        if role == _CALL:
            names = caps.get("name")
            key = (node.start_byte, node.end_byte)
            if names and key not in seen_calls:
                seen_calls.add(key)
                receivers = caps.get("receiver")
                raw_calls.append((node, names[0], receivers[0] if receivers else None))
        elif role == _DEFINITION:
            names = caps.get("name")
            key = (node.start_byte, node.end_byte)
            if names and key not in seen_defs:
                seen_defs.add(key)
                raw_defs.append((node, kind, names[0]))
        elif role == _REFERENCE:
            key3 = (kind, node.start_byte, node.end_byte)
            if key3 not in seen_refs:
                seen_refs.add(key3)
                raw_refs.append((kind, node))
        elif role == _IMPORT:
            key = (node.start_byte, node.end_byte)
            if key not in seen_imports:
                seen_imports.add(key)
                raw_imports.append(node)
        elif role == _FACT:
            raw_facts.append((kind, node))
        elif not facts.package:  # _PACKAGE
            facts.package = node_text(node).strip()

    raw_defs.sort(key=lambda d: (d[0].start_byte, -d[0].end_byte))
    spans = [(n.start_byte, n.end_byte) for n, _, _ in raw_defs]
    parents = _nesting(spans)
    shallow = _within_depth(parents)
    if not all(shallow):
        facts.folded = len(shallow) - sum(shallow)
        raw_defs = [d for d, keep in zip(raw_defs, shallow, strict=True) if keep]
        spans = [s for s, keep in zip(spans, shallow, strict=True) if keep]
        parents = _nesting(spans)
    scopes = _Scopes(spans, parents)
    docstring = rt.spec.doc_style == "docstring"
    for (node, kind, name_node), parent in zip(raw_defs, parents, strict=True):
        (row, col), (end_row, end_col) = node.start_point, node.end_point
        facts.definitions.append(Definition(
            kind, name_text(name_node), parent, row + 1, col + 1, end_row + 1, end_col + 1,
            signature_of(node, source),
            python_docstring(node) if docstring else comment_doc(node)))

    enclosing = scopes.enclosing
    for node, name_node, receiver in raw_calls:
        row, col = node.start_point
        facts.calls.append(Call(
            name_text(name_node),
            "".join(node_text(receiver).split()) if receiver is not None else None,
            row + 1, col + 1, enclosing(node.start_byte)))
    for kind, node in raw_refs:
        qualifier, name = split_qualified(node_text(node))
        if name:
            decorated = _decorated(node)
            facts.references.append(Reference(
                kind=kind, name=name[:MAX_NAME], qualifier=qualifier,
                line=node.start_point[0] + 1, col=node.start_point[1] + 1,
                source=enclosing(decorated.start_byte if decorated is not None
                                 else node.start_byte),
            ))
    for node in raw_imports:
        source_def = scopes.enclosing(node.start_byte)
        for imp in rt.parse_import(node, source):
            imp.source = source_def
            facts.imports.append(imp)

    _normalise_kinds(facts)
    if rt.postprocess is not None:
        rt.postprocess(facts, root, source)
    if raw_facts and rt.add_facts is not None:
        # The definitions as they are now (some were dropped), by position.
        final = _Scopes([((d.line, d.col), (d.end_line, d.end_col)) for d in facts.definitions],
                        [d.parent for d in facts.definitions])
        rt.add_facts(facts, [(kind, node, final.enclosing(_point(node))) for kind, node
                             in sorted(raw_facts, key=lambda f: f[1].start_byte)])
    return facts


def _decorated(node: Node) -> Node | None:
    """The definition that a decorator's name decorates (the decorator is outside its span:
    its use belongs to the definition, not to the class or module around it)."""
    parent = node.parent
    if parent is None or parent.type != "decorator":
        return None
    wrapper = parent.parent
    if wrapper is None or wrapper.type != "decorated_definition":
        return None
    return wrapper.child_by_field_name("definition")


def _point(node: Node) -> tuple[int, int]:
    row, col = node.start_point
    return row + 1, col + 1


def _plan(caps: dict[str, list[Node]]) -> _Plan:
    """What the matches of a pattern are, from the capture that says so (the same capture
    in every match of a pattern)."""
    for tag in caps:
        if tag.startswith("definition."):
            kind = tag[len("definition."):]
            return (tag, _DEFINITION if kind in DEF_KINDS else _SKIP, kind)
        if tag == "reference.call":
            return (tag, _CALL, "call")
        if tag.startswith("reference."):
            return (tag, _REFERENCE, tag[len("reference."):])
        if tag == "import":
            return (tag, _IMPORT, "")
        if tag == "package":
            return (tag, _PACKAGE, "")
        if tag.startswith("fact."):
            return (tag, _FACT, tag[len("fact."):])
    return ("", _SKIP, "")


def _nesting(spans: list[tuple[int, int]]) -> list[int]:
    """Parent index of each span (sorted by start, then longest first)."""
    parents: list[int] = []
    stack: list[int] = []
    for i, (start, end) in enumerate(spans):
        while stack and spans[stack[-1]][1] < end:
            stack.pop()
        while stack and not (spans[stack[-1]][0] <= start and end <= spans[stack[-1]][1]):
            stack.pop()
        parents.append(stack[-1] if stack else -1)
        stack.append(i)
    return parents


def _within_depth(parents: list[int]) -> list[bool]:
    """Whether each definition is nested at most MAX_DEPTH levels deep (parents first)."""
    levels: list[int] = []
    for parent in parents:
        levels.append(levels[parent] + 1 if parent >= 0 else 1)
    return [level <= MAX_DEPTH for level in levels]


def _normalise_kinds(facts: FileFacts) -> None:
    """Functions inside class-likes are methods; variables inside callables are locals."""
    defs = facts.definitions
    keep = [True] * len(defs)
    for i, d in enumerate(defs):
        parent_kind = defs[d.parent].kind if d.parent >= 0 else None
        if d.kind == "function" and parent_kind in CLASS_LIKE:
            d.kind = "method"
        elif d.kind in ("variable", "constant") and (
            parent_kind in CALLABLE or (d.parent >= 0 and not keep[d.parent])
        ):
            keep[i] = False
    if all(keep):
        return
    drop_definitions(facts, keep)


def drop_definitions(facts: FileFacts, keep: list[bool]) -> None:
    """Remove definitions, re-pointing parents and callers to the nearest kept ancestor."""
    defs = facts.definitions
    new_index: list[int] = []
    count = 0
    for k in keep:
        new_index.append(count if k else -1)
        count += k

    def remap(i: int) -> int:
        while i >= 0 and not keep[i]:
            i = defs[i].parent
        return new_index[i] if i >= 0 else -1

    kept = []
    for i, d in enumerate(defs):
        if keep[i]:
            d.parent = remap(d.parent)
            kept.append(d)
    for c in facts.calls:
        c.caller = remap(c.caller)
    for r in facts.references:
        r.source = remap(r.source)
    for imp in facts.imports:
        imp.source = remap(imp.source)
    facts.definitions = kept


def extra(d: Definition) -> dict[str, Any]:
    """The definition's ``extra`` dict, created on first use."""
    if d.extra is None:
        d.extra = {}
    return d.extra
