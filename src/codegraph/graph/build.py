"""From parsed facts to graph nodes and edges.

``make_unit`` names a file's module and definitions and gives them ids; ``resolve``
runs the language resolvers over a set of files in two phases (inheritance first,
so that ``self.method()`` can look in base classes, then imports, calls and uses).

Each language's resolver module (``resolvers/<name>.py``) provides
``separator(language)``, ``module_name(path, package, layout)``, ``qualifier(module, package)``,
``resolve_types(unit, table)`` and ``resolve_uses(unit, table)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from codegraph.graph.layout import RepoLayout
from codegraph.graph.model import (
    STRUCTURAL,
    Edge,
    EdgeKind,
    Node,
    node_id,
    short_name,
)
from codegraph.graph.symbols import FileUnit, MemoryTable, SymbolTable, base_ids
from codegraph.parse.facts import CLASS_LIKE, FileFacts

_RESOLVER_FOR = {
    "python": "python",
    "javascript": "javascript",
    "typescript": "javascript",
    "tsx": "javascript",
    "go": "go",
    "java": "java",
}
_LOADED: dict[str, ModuleType] = {}


def resolver_for(language: str) -> ModuleType:
    name = _RESOLVER_FOR.get(language, "generic")
    mod = _LOADED.get(name)
    if mod is None:
        mod = importlib.import_module(f"codegraph.graph.resolvers.{name}")
        _LOADED[name] = mod
    return mod


def repo_node(repo: str, root: str) -> Node:
    return Node(node_id(repo, "", repo, "repository"), "repository", repo, repo, "", repo, root)


def file_node_id(repo: str, path: str) -> str:
    return node_id(repo, path, path, "file")


@dataclass(slots=True)
class FileGraph:
    """A file's own nodes (the file, its module, its definitions), each with its parent."""

    unit: FileUnit
    nodes: list[Node] = field(default_factory=list)

    def edges(self) -> list[Edge]:
        """The structural edges, from each node's parent: the store keeps none (the
        parent is enough), so they are made only for an in-memory ``Graph``."""
        file_node, module_node, *definitions = self.nodes
        edges = [Edge(file_node.parent, file_node.id, EdgeKind.CONTAINS),
                 Edge(file_node.id, module_node.id, EdgeKind.CONTAINS)]
        for n in definitions:
            kind = EdgeKind.DEFINES if n.parent == module_node.id else EdgeKind.CONTAINS
            edges.append(Edge(n.parent, n.id, kind, n.line, n.col, STRUCTURAL, 1.0))
        return edges


def make_unit(repo: str, path: str, facts: FileFacts, layout: RepoLayout) -> FileGraph:
    language = facts.language
    resolver = resolver_for(language)
    module = resolver.module_name(path, facts.package, layout)
    prefix: str = resolver.qualifier(module, facts.package)
    sep: str = resolver.separator(language)
    file_id = file_node_id(repo, path)
    module_id = node_id(repo, path, module, "module")
    unit = FileUnit(repo, path, language, module, module_id, file_id, facts)
    graph = FileGraph(unit)
    graph.nodes.append(Node(file_id, "file", path.rpartition("/")[2], path, language, repo, path,
                            1, 1, facts.lines, 1, "", "", repo_node(repo, "").id))
    graph.nodes.append(Node(module_id, "module", short_name(module), module, language, repo,
                            path, 1, 1, facts.lines, 1, "", "", file_id))

    unit.def_ids, unit.def_qnames = name_definitions(repo, path, facts, prefix, sep)
    for d, def_id, qname in zip(facts.definitions, unit.def_ids, unit.def_qnames, strict=True):
        parent_id = unit.def_ids[d.parent] if d.parent >= 0 else module_id
        graph.nodes.append(Node(def_id, d.kind, d.name, qname, language, repo, path, d.line,
                                d.col, d.end_line, d.end_col, d.signature, d.doc, parent_id))
    return graph


def name_definitions(repo: str, path: str, facts: FileFacts, prefix: str, sep: str,
                     ) -> tuple[list[str], list[str]]:
    """The ids and qualified names of a file's definitions, in their order."""
    ids: list[str] = []
    qnames: list[str] = []
    chains: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for d in facts.definitions:
        own = d.name
        receiver = d.extra.get("receiver") if d.extra else None
        if receiver:
            own = f"{receiver}{sep}{d.name}"
        chain = f"{chains[d.parent]}{sep}{own}" if d.parent >= 0 else own
        chains.append(chain)
        qname = f"{prefix}{sep}{chain}" if prefix else chain
        count = seen.get((qname, d.kind), 0) + 1
        seen[(qname, d.kind)] = count
        key = qname if count == 1 else f"{qname}#{count}"
        ids.append(node_id(repo, path, key, d.kind))
        qnames.append(qname)
    return ids, qnames


def resolve_types(units: list[FileUnit], top: MemoryTable, table: SymbolTable,
                  ) -> dict[str, list[Edge]]:
    """Phase one: inheritance edges, recorded as each class's bases in ``top``."""
    out: dict[str, list[Edge]] = {}
    for unit in units:
        edges = resolver_for(unit.language).resolve_types(unit, table)
        type_edges: dict[str, list[Edge]] = {}
        for e in edges:
            if e.kind in (EdgeKind.INHERITS, EdgeKind.IMPLEMENTS) and not e.external:
                type_edges.setdefault(e.src, []).append(e)
        for i, d in enumerate(unit.facts.definitions):
            if d.kind in CLASS_LIKE:
                top.set_bases(unit.def_ids[i], base_ids(type_edges.get(unit.def_ids[i], [])))
        out[unit.path] = edges
    return out


def resolve_uses(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    """Phase two: a file's imports, calls and references."""
    edges: list[Edge] = resolver_for(unit.language).resolve_uses(unit, table)
    return edges


def resolve(units: list[FileUnit], top: MemoryTable, table: SymbolTable | None = None,
            ) -> dict[str, list[Edge]]:
    """Resolve every unit's edges; ``top`` holds the units, ``table`` sees everything."""
    table = table or top
    out = resolve_types(units, top, table)
    for unit in units:
        out[unit.path].extend(resolve_uses(unit, table))
    return out


def external_node(node_id: str, qualified_name: str, language: str) -> Node:
    """The node of an edge's external target (``edge.dst``, ``edge.external``)."""
    return Node(node_id, "external", short_name(qualified_name), qualified_name, language,
                "", "")


@dataclass(slots=True)
class Graph:
    """A whole graph in memory: what tests and small tools use."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def named(self, qualified_name: str) -> Node:
        """The node with this qualified name (a definition wins over a same-named module)."""
        found = [n for n in self.nodes.values() if n.qualified_name == qualified_name]
        if len(found) > 1:
            found = [n for n in found if n.kind != "module"]
        if len(found) != 1:
            raise KeyError(f"{qualified_name!r}: {len(found)} nodes")
        return found[0]

    def out(self, qualified_name: str, kind: EdgeKind) -> list[tuple[Node, Edge]]:
        src = self.named(qualified_name).id
        return [(self.nodes[e.dst], e) for e in self.edges if e.src == src and e.kind == kind]

    def targets(self, qualified_name: str, kind: EdgeKind) -> set[str]:
        return {n.qualified_name for n, _ in self.out(qualified_name, kind)}


def build_graph(repo: str, files: dict[str, bytes], root: str = "") -> Graph:
    """Parse, name and resolve a set of files in memory (no store)."""
    from codegraph.parse.extract import extract
    from codegraph.parse.languages import language_for_path

    layout = RepoLayout(root, set(files))
    top = MemoryTable()
    graph = Graph()
    units = []
    for path, source in sorted(files.items()):
        language = language_for_path(path)
        if language is None:
            continue
        fg = make_unit(repo, path, extract(source, language), layout)
        top.add(fg.unit)
        units.append(fg.unit)
        graph.nodes.update((n.id, n) for n in fg.nodes)
        graph.edges.extend(fg.edges())
    for path_edges, unit in zip(resolve(units, top).values(), units, strict=True):
        for e in path_edges:
            if e.external and e.dst not in graph.nodes:
                graph.nodes[e.dst] = external_node(e.dst, e.external, unit.language)
            graph.edges.append(e)
    return graph
