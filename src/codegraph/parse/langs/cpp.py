"""C++: includes and using-declarations, out-of-line methods (``void A::f()``), constructors."""

from __future__ import annotations

from tree_sitter import Node

from codegraph.parse.extract import extra, node_text
from codegraph.parse.facts import CLASS_LIKE, FileFacts, Import
from codegraph.parse.langs import c
from codegraph.parse.langs.c import strip_templates


def parse_import(node: Node, source: bytes) -> list[Import]:
    """``#include``, ``using namespace a::b;`` (wildcard) and ``using a::b;``."""
    if node.type == "preproc_include":
        return c.parse_import(node, source)
    line = node.start_point[0] + 1
    target = next((ch for ch in node.named_children
                   if ch.type in ("identifier", "qualified_identifier")), None)
    if target is None:
        return []
    text = strip_templates(node_text(target)).replace(" ", "")
    if any(ch.type == "namespace" for ch in node.children):
        return [Import(module=text, name=None, alias=None, line=line, wildcard=True)]
    module, _, name = text.rpartition("::")
    return [Import(module=module, name=name, alias=None, line=line)]


def postprocess(facts: FileFacts, root: Node, source: bytes) -> None:
    defs = facts.definitions
    for d in defs:
        if d.kind == "namespace":
            continue
        name = strip_templates(d.name).replace(" ", "")
        if "::" in name:
            receiver, _, name = name.rpartition("::")
            extra(d)["receiver"] = receiver.lstrip(":")
            if d.kind == "function":
                d.kind = "method"
            owner = receiver.rpartition("::")[2]
        else:
            owner = defs[d.parent].name if d.parent >= 0 and defs[d.parent].kind in CLASS_LIKE \
                else ""
        d.name = name
        if d.kind in ("method", "function") and owner and name == owner:
            d.kind = "constructor"
    for call in facts.calls:
        name = strip_templates(call.name).replace(" ", "")
        if "::" in name:
            receiver, _, name = name.rpartition("::")
            call.receiver = receiver or None
        call.name = name
    c.cfamily_postprocess(facts, source)
