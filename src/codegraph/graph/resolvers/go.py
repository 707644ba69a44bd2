"""Go: packages named by import path (go.mod), package-qualified calls through imports,
same-package names across files, methods called on the receiver (and embedded types).

A file's module is its package's import path, e.g. ``example.com/x/util``; every file of
a package shares it, so ``<import path>.F`` finds ``F`` in whichever file defines it.
Methods are ``<import path>.<Type>.<Method>`` (the parse hook sets the receiver).
"""

from __future__ import annotations

import re

from codegraph.graph.layout import RepoLayout
from codegraph.graph.model import IMPORT, SAME_SCOPE, Edge, EdgeKind
from codegraph.graph.resolvers.common import (
    EXTERNAL_KNOWN,
    EXTERNAL_UNKNOWN,
    external,
    first_of,
    guess,
    link,
)
from codegraph.graph.symbols import FileUnit, Sym, SymbolTable
from codegraph.parse.facts import CLASS_LIKE

BUILTIN_FUNCS = frozenset({
    "append", "cap", "clear", "close", "complex", "copy", "delete", "imag", "len", "make",
    "max", "min", "new", "panic", "print", "println", "real", "recover",
})
BUILTIN_TYPES = frozenset({
    "any", "bool", "byte", "comparable", "complex64", "complex128", "error", "float32",
    "float64", "int", "int8", "int16", "int32", "int64", "rune", "string", "uint", "uint8",
    "uint16", "uint32", "uint64", "uintptr",
})
TYPE_KINDS = CLASS_LIKE | {"type_alias"}
METHOD_KINDS = frozenset({"method"})
_MODULE_LINE = re.compile(r'^\s*module\s+"?([^\s"]+)"?', re.MULTILINE)
_MAJOR_VERSION = re.compile(r"^v\d+$")
_MAX_EMBEDDING_DEPTH = 64


def module_name(path: str, package: str, layout: RepoLayout) -> str:
    """``pkg/util/strings.go`` -> ``example.com/x/pkg/util`` under ``module example.com/x``."""
    directory = path.rpartition("/")[0]
    gomod = layout.find_upwards(directory, "go.mod")
    if gomod is not None:
        match = _MODULE_LINE.search(layout.read(gomod) or "")
        if match:
            mod_dir = gomod.rpartition("/")[0]
            rel = directory[len(mod_dir):].lstrip("/") if mod_dir else directory
            return f"{match.group(1)}/{rel}" if rel else match.group(1)
    if directory:
        return directory
    return package or path.rpartition(".")[0]


def separator(language: str) -> str:
    return "."


def qualifier(module: str, package: str) -> str:
    return module


def default_package_name(import_path: str) -> str:
    """The name an import binds by default: ``gopkg.in/yaml.v3`` -> ``yaml``."""
    parts = import_path.split("/")
    last = parts[-1]
    if _MAJOR_VERSION.match(last) and len(parts) > 1:
        last = parts[-2]
    last = re.sub(r"\.v\d+$", "", last)
    if last.startswith("go-"):
        last = last[3:]
    return re.sub(r"[^0-9A-Za-z_]", "_", last)


class _Resolver:
    def __init__(self, unit: FileUnit, table: SymbolTable) -> None:
        self.unit = unit
        self.table = table
        self.module = unit.module
        self.defs = unit.facts.definitions
        self.bindings: dict[str, str] = {}  # local package name -> import path
        self.dot_imports: list[str] = []
        for imp in unit.facts.imports:
            if imp.wildcard:
                self.dot_imports.append(imp.module)
            elif imp.alias != "_":
                self.bindings[imp.alias or self.package_name(imp.module)] = imp.module

    def package_name(self, import_path: str) -> str:
        """The package clause of an indexed package, else the path's last element."""
        for mod in self.table.modules(import_path):
            facts = self.table.facts(mod.path)
            if facts is not None and facts.package:
                return facts.package
        return default_package_name(import_path)

    def in_repo(self, import_path: str) -> bool:
        return bool(self.table.modules(import_path))

    def receiver(self, scope: int) -> tuple[str, str]:
        """(receiver variable, receiver type) of the method enclosing ``scope``."""
        while scope >= 0:
            info = self.defs[scope].extra
            if info and info.get("receiver"):
                return str(info.get("receiver_var") or ""), str(info["receiver"])
            scope = self.defs[scope].parent
        return "", ""

    def method(self, type_qname: str, name: str) -> Sym | None:
        """``name`` declared on a type or promoted from the types it embeds."""
        seen: set[str] = set()
        queue = [type_qname]
        while queue and len(seen) < _MAX_EMBEDDING_DEPTH:
            qname = queue.pop(0)
            if qname in seen:
                continue
            seen.add(qname)
            found = first_of(self.table.by_qname(f"{qname}.{name}"), METHOD_KINDS)
            if found is not None:
                return found
            for typ in self.table.by_qname(qname):
                if typ.kind in TYPE_KINDS:
                    for base_id in self.table.bases(typ.id):
                        base = self.table.by_id(base_id)
                        if base is not None:
                            queue.append(base.qualified_name)
        return None

    # -- types -------------------------------------------------------------------
    def resolve_type(self, src: str, kind: EdgeKind, name: str, qualifier: str | None,
                     line: int, col: int) -> list[Edge]:
        if qualifier is not None:
            path = self.bindings.get(qualifier)
            if path is None:
                return guess(self.unit.language, src, kind, self.table, name, line, col, TYPE_KINDS,
                             f"{qualifier}.{name}")
            return self.package_member(src, kind, path, name, line, col, TYPE_KINDS)
        found = first_of(self.table.by_qname(f"{self.module}.{name}"), TYPE_KINDS)
        if found is not None:
            return [link(src, kind, found, SAME_SCOPE, line, col, name)]
        for path in self.dot_imports:
            found = first_of(self.table.by_qname(f"{path}.{name}"), TYPE_KINDS)
            if found is not None:
                return [link(src, kind, found, IMPORT, line, col, name)]
        if name in BUILTIN_TYPES:
            return [external(self.unit.language, src, kind, f"builtin.{name}", line, col, name,
                             EXTERNAL_KNOWN)]
        return guess(self.unit.language, src, kind, self.table, name, line, col, TYPE_KINDS)

    def package_member(self, src: str, kind: EdgeKind, path: str, name: str, line: int,
                       col: int, kinds: frozenset[str] | None = None) -> list[Edge]:
        """``pkg.Name`` through an import of ``path``."""
        syms = self.table.by_qname(f"{path}.{name}")
        found = first_of(syms, kinds) if kinds is not None else first_of(syms)
        if found is not None:
            return [link(src, kind, found, IMPORT, line, col, name)]
        confidence = EXTERNAL_UNKNOWN if self.in_repo(path) else EXTERNAL_KNOWN
        return [external(self.unit.language, src, kind, f"{path}.{name}", line, col, name,
                         confidence)]

    # -- calls -------------------------------------------------------------------
    def resolve_call(self, src: str, name: str, receiver: str | None, scope: int,
                     line: int, col: int) -> list[Edge]:
        kind = EdgeKind.CALLS
        if receiver is None:
            found = first_of(self.table.by_qname(f"{self.module}.{name}"))
            if found is not None:
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
            for path in self.dot_imports:
                found = first_of(self.table.by_qname(f"{path}.{name}"))
                if found is not None:
                    return [link(src, kind, found, IMPORT, line, col, name)]
            if name in BUILTIN_FUNCS or name in BUILTIN_TYPES:
                return [external(self.unit.language, src, kind, f"builtin.{name}", line, col, name,
                                 EXTERNAL_KNOWN)]
            return guess(self.unit.language, src, kind, self.table, name, line, col)
        head, _, rest = receiver.partition(".")
        imported = self.bindings.get(head)
        if imported is not None and head.isidentifier():
            if not rest:
                return self.package_member(src, kind, imported, name, line, col)
            if not self.in_repo(imported) and rest.replace(".", "").isidentifier():
                # pkg.Var.M(), e.g. os.Stdout.Write: outside the repository.
                return [external(self.unit.language, src, kind, f"{imported}.{rest}.{name}", line,
                                 col, name, EXTERNAL_KNOWN)]
        var, type_name = self.receiver(scope)
        if var and receiver == var:
            found = self.method(f"{self.module}.{type_name}", name)
            if found is not None:
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
        elif receiver.isidentifier():
            # T.M (method expression) on a type of this package.
            typ = first_of(self.table.by_qname(f"{self.module}.{receiver}"), TYPE_KINDS)
            if typ is not None:
                found = self.method(typ.qualified_name, name)
                if found is not None:
                    return [link(src, kind, found, SAME_SCOPE, line, col, name)]
        return guess(self.unit.language, src, kind, self.table, name, line, col, METHOD_KINDS)


def resolve_types(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    """Embedded types of structs and interfaces: INHERITS edges."""
    r = _Resolver(unit, table)
    edges: list[Edge] = []
    for ref in unit.facts.references:
        if ref.kind != "inherits" or ref.source < 0:
            continue
        if unit.facts.definitions[ref.source].kind not in ("struct", "interface"):
            continue
        edges += r.resolve_type(unit.source_id(ref.source), EdgeKind.INHERITS, ref.name,
                                ref.qualifier, ref.line, ref.col)
    return edges


def resolve_uses(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    """Imports (to the imported package's module), calls and composite-literal uses."""
    r = _Resolver(unit, table)
    edges: list[Edge] = []
    for imp in unit.facts.imports:
        src = unit.source_id(imp.source)
        mods = table.modules(imp.module)
        if mods:
            edges.append(link(src, EdgeKind.IMPORTS, mods[0], IMPORT, imp.line, 1, imp.module))
        else:
            edges.append(external(unit.language, src, EdgeKind.IMPORTS, imp.module, imp.line, 1,
                                  imp.module, EXTERNAL_KNOWN))
    for call in unit.facts.calls:
        edges += r.resolve_call(unit.source_id(call.caller), call.name, call.receiver,
                                call.caller, call.line, call.col)
    for ref in unit.facts.references:
        if ref.kind == "use":
            edges += r.resolve_type(unit.source_id(ref.source), EdgeKind.REFERENCES, ref.name,
                                    ref.qualifier, ref.line, ref.col)
    return edges
