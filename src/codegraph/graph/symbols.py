"""What a resolver may ask about the rest of a repository: the symbol table.

A table is bound to one repository. ``MemoryTable`` holds the files of the current
indexing run; the store provides a table over what is already indexed, and
``LayeredTable`` puts the run's files over it.

Every table answers a list of symbols in one order, ``sym_order``: by path, then by
position in the file (then by id). Resolvers take the first of several candidates (a
method and a class attribute of the same name, ``as_manager = classmethod(as_manager)``),
so the answer must not depend on which layer a file's symbols come from, nor on the
order in which the files of a run were parsed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from codegraph.graph.model import Edge, short_name
from codegraph.parse.facts import FileFacts


class Sym(NamedTuple):  # made by the hundred thousand: 3x faster than a frozen dataclass
    id: str
    kind: str
    name: str
    qualified_name: str
    path: str
    parent: str
    language: str
    line: int
    col: int


def sym_order(sym: Sym) -> tuple[str, int, int, str]:
    """The order of every table's answers: by file, then where in it, then by id."""
    return sym.path, sym.line, sym.col, sym.id


@dataclass(slots=True)
class FileUnit:
    """One parsed file with the ids and qualified names of its definitions."""

    repo: str
    path: str
    language: str
    module: str  # qualified name of the file's module
    module_id: str
    file_id: str
    facts: FileFacts
    def_ids: list[str] = field(default_factory=list)
    def_qnames: list[str] = field(default_factory=list)

    def source_id(self, index: int) -> str:
        """Node id of definition ``index``; the module for -1."""
        return self.def_ids[index] if index >= 0 else self.module_id

    def module_sym(self) -> Sym:
        return module_sym(self.module_id, self.module, self.path, self.file_id, self.language)

    def sym(self, index: int) -> Sym:
        """The symbol of definition ``index``."""
        d = self.facts.definitions[index]
        return Sym(self.def_ids[index], d.kind, d.name, self.def_qnames[index], self.path,
                   self.source_id(d.parent), self.language, d.line, d.col)

    def syms(self) -> list[Sym]:
        """The module's symbol, then the definitions'."""
        return [self.module_sym(), *map(self.sym, range(len(self.def_ids)))]


def base_ids(type_edges: Iterable[Edge]) -> list[str]:
    """The classes that a class's inheritance edges point to, in the order of every table's
    ``bases``: by the edge's site (the order of declaration), then by id."""
    return list(dict.fromkeys(e.dst for e in sorted(type_edges,
                                                    key=lambda e: (e.line, e.col, e.dst))))


def module_sym(module_id: str, module: str, path: str, file_id: str, language: str) -> Sym:
    """A file's module as a symbol (its node is at line 1, column 1 of the file)."""
    return Sym(module_id, "module", short_name(module), module, path, file_id, language, 1, 1)


class SymbolTable(Protocol):
    def by_id(self, node_id: str) -> Sym | None: ...
    def by_qname(self, qname: str) -> list[Sym]: ...
    def by_name(self, name: str) -> list[Sym]: ...
    def modules(self, qname: str) -> list[Sym]: ...
    def file_module(self, path: str) -> Sym | None: ...
    def facts(self, path: str) -> FileFacts | None: ...
    def bases(self, class_id: str) -> list[str]: ...
    def subclasses(self, class_id: str) -> list[str]: ...

    def memo(self) -> dict[Any, Any]:
        """Where a resolver may keep answers derived from this table alone (a class's
        method, a module's member): emptied whenever the table changes."""
        ...


class MemoryTable:
    """A symbol table over the files of one run, held in dicts."""

    def __init__(self) -> None:
        self._qname: dict[str, list[Sym]] = defaultdict(list)
        self._name: dict[str, list[Sym]] = defaultdict(list)
        self._modules: dict[str, list[Sym]] = defaultdict(list)
        self._file_module: dict[str, Sym] = {}
        self._facts: dict[str, FileFacts] = {}
        self._bases: dict[str, list[str]] = {}
        self._id: dict[str, Sym] = {}
        self.paths: set[str] = set()
        self.generation = 0  # counts changes: answers derived before one are stale
        self._memo: dict[Any, Any] = {}
        self._memo_generation = 0
        # The lists that an added symbol put out of order (files come in any order),
        # sorted before the next answer: by id(list).
        self._unsorted: dict[int, list[Sym]] = {}

    def _append(self, entries: list[Sym], sym: Sym) -> None:
        if entries and sym_order(sym) < sym_order(entries[-1]):
            self._unsorted[id(entries)] = entries
        entries.append(sym)

    def _settle(self) -> None:
        for entries in self._unsorted.values():
            entries.sort(key=sym_order)
        self._unsorted.clear()

    def add(self, unit: FileUnit) -> None:
        self.generation += 1
        self.paths.add(unit.path)
        self._facts[unit.path] = unit.facts
        for sym in unit.syms():
            self._id[sym.id] = sym
            if sym.kind == "module":
                self._append(self._modules[sym.qualified_name], sym)
                self._file_module[unit.path] = sym
            else:
                self._append(self._qname[sym.qualified_name], sym)
                self._append(self._name[sym.name], sym)

    def set_bases(self, class_id: str, bases: list[str]) -> None:
        self.generation += 1
        self._bases[class_id] = bases

    def memo(self) -> dict[Any, Any]:
        if self._memo_generation != self.generation:
            self._memo.clear()
            self._memo_generation = self.generation
        return self._memo

    def knows_bases(self, class_id: str) -> bool:
        return class_id in self._bases

    def by_id(self, node_id: str) -> Sym | None:
        return self._id.get(node_id)

    def by_qname(self, qname: str) -> list[Sym]:
        if self._unsorted:
            self._settle()
        return self._qname.get(qname, [])

    def by_name(self, name: str) -> list[Sym]:
        if self._unsorted:
            self._settle()
        return self._name.get(name, [])

    def modules(self, qname: str) -> list[Sym]:
        if self._unsorted:
            self._settle()
        return self._modules.get(qname, [])

    def file_module(self, path: str) -> Sym | None:
        return self._file_module.get(path)

    def facts(self, path: str) -> FileFacts | None:
        return self._facts.get(path)

    def bases(self, class_id: str) -> list[str]:
        return self._bases.get(class_id, [])

    def subclasses(self, class_id: str) -> list[str]:
        """The classes whose bases (as set so far) include ``class_id``."""
        memo = self.memo()
        derived: dict[str, list[str]] | None = memo.get("subclasses")
        if derived is None:
            derived = memo["subclasses"] = {}
            for cls, bases in self._bases.items():
                for base in bases:
                    derived.setdefault(base, []).append(cls)
        return derived.get(class_id, [])


class LayeredTable:
    """The run's files (``top``) over what is already stored (``base``).

    Stored symbols of files that the run re-parsed or deleted are hidden.
    """

    def __init__(self, top: MemoryTable, base: SymbolTable, hidden_paths: set[str]) -> None:
        self.top = top
        self.base = base
        self.hidden = hidden_paths | top.paths
        self._memo: dict[Any, Any] = {}
        self._memo_generation = top.generation

    def memo(self) -> dict[Any, Any]:
        """Emptied whenever ``top`` changes (the stored base does not during a run)."""
        if self._memo_generation != self.top.generation:
            self._memo.clear()
            self._memo_generation = self.top.generation
        return self._memo

    def _merge(self, top: list[Sym], base: list[Sym]) -> list[Sym]:
        """Both layers' answers, in the one order of every table (``sym_order``)."""
        if not base:
            return top
        shown = [s for s in base if s.path not in self.hidden]
        if not top or not shown:
            return top or shown
        return sorted(top + shown, key=sym_order)

    def by_id(self, node_id: str) -> Sym | None:
        found = self.top.by_id(node_id)
        if found is not None:
            return found
        found = self.base.by_id(node_id)
        return found if found is not None and found.path not in self.hidden else None

    def by_qname(self, qname: str) -> list[Sym]:
        return self._merge(self.top.by_qname(qname), self.base.by_qname(qname))

    def by_name(self, name: str) -> list[Sym]:
        return self._merge(self.top.by_name(name), self.base.by_name(name))

    def modules(self, qname: str) -> list[Sym]:
        return self._merge(self.top.modules(qname), self.base.modules(qname))

    def file_module(self, path: str) -> Sym | None:
        if path in self.hidden:
            return self.top.file_module(path)
        return self.base.file_module(path)

    def facts(self, path: str) -> FileFacts | None:
        if path in self.hidden:
            return self.top.facts(path)
        return self.base.facts(path)

    def bases(self, class_id: str) -> list[str]:
        if self.top.knows_bases(class_id):
            return self.top.bases(class_id)
        return self.base.bases(class_id)

    def subclasses(self, class_id: str) -> list[str]:
        """The run's subclasses, then the stored ones of files the run did not change."""
        shown = [c for c in self.base.subclasses(class_id)
                 if (s := self.base.by_id(c)) is not None and s.path not in self.hidden]
        return list(dict.fromkeys([*self.top.subclasses(class_id), *shown]))
