"""Python: import statements, constants, constructors."""

from __future__ import annotations

from tree_sitter import Node

from codegraph.parse.extract import node_text
from codegraph.parse.facts import FileFacts, Import


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
