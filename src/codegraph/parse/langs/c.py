"""C (and the C-family parts C++ shares): includes, prototypes, typedef'd structs, constants.

Prototypes are extracted so that a header's declarations are definitions other files can
be resolved against; a prototype is dropped when the same file also defines the function.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from codegraph.parse.extract import drop_definitions, extra, node_text
from codegraph.parse.facts import CALLABLE, Definition, FileFacts, Import

_CONST = re.compile(r"\b(const|constexpr)\b")
_TEMPLATE_ARGS = re.compile(r"<[^<>]*>")
_NEWLINE = re.compile(rb"\n")


def strip_templates(text: str) -> str:
    """``Foo<Bar<int>>::baz`` -> ``Foo::baz``."""
    while "<" in text and ">" in text:
        stripped = _TEMPLATE_ARGS.sub("", text)
        if stripped == text:
            break
        text = stripped
    return text


def parse_import(node: Node, source: bytes) -> list[Import]:
    """``#include "x.h"`` -> module ``x.h``; ``#include <x>`` -> module ``<x>``."""
    path = node.child_by_field_name("path")
    if path is None:
        return []
    line = node.start_point[0] + 1
    if path.type == "system_lib_string":
        return [Import(module=node_text(path).strip(), name=None, alias=None, line=line)]
    if path.type == "string_literal":
        content = "".join(node_text(c) for c in path.named_children if c.type == "string_content")
        if content:
            return [Import(module=content, name=None, alias=None, line=line)]
    return []


def _is_declaration(d: Definition, line_starts: list[int], source: bytes) -> bool:
    """A prototype (ends with ``;``) rather than a definition with a body."""
    end = line_starts[d.end_line - 1] + d.end_col - 1
    return source[end - 1:end] == b";"


def _chains(defs: list[Definition]) -> list[str]:
    chains: list[str] = []
    for d in defs:
        receiver = d.extra.get("receiver") if d.extra else None
        own = f"{receiver}::{d.name}" if receiver else d.name
        chains.append(f"{chains[d.parent]}::{own}" if d.parent >= 0 else own)
    return chains


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    cfamily_postprocess(facts, source)


def cfamily_postprocess(facts: FileFacts, source: bytes) -> None:
    """Rules shared by C and C++ (C++ has run its own rules first)."""
    defs = facts.definitions
    for d in defs:
        # `typedef struct point {...} point_t;`: the struct belongs next to the typedef.
        while d.parent >= 0 and defs[d.parent].kind == "type_alias":
            d.parent = defs[d.parent].parent
        if d.kind == "variable" and d.name and _CONST.search(d.signature.split(d.name, 1)[0]):
            d.kind = "constant"
    line_starts = [0, *(m.end() for m in _NEWLINE.finditer(source))]
    declared = [d.kind in CALLABLE and _is_declaration(d, line_starts, source) for d in defs]
    chains = _chains(defs)
    defined = {c for c, decl, d in zip(chains, declared, defs, strict=True)
               if d.kind in CALLABLE and not decl}
    keep = [True] * len(defs)
    seen: set[str] = set()
    for i, d in enumerate(defs):
        if not declared[i]:
            continue
        in_callable = d.parent >= 0 and defs[d.parent].kind in CALLABLE
        if in_callable or chains[i] in defined or chains[i] in seen:
            keep[i] = False
        seen.add(chains[i])
        if keep[i]:
            extra(d)["declaration"] = True
    if not all(keep):
        drop_definitions(facts, keep)
