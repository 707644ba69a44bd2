"""Java: classes named ``<package>.<Class>``; types found through member types, single-type
imports, the file's own package, on-demand imports and ``java.lang`` (Java's own order);
``this.m()``/``m()`` through the enclosing classes and their bases; ``Type.m()``/
``new Type()`` through the type; static imports."""

from __future__ import annotations

from dataclasses import dataclass

from codegraph.graph.layout import RepoLayout
from codegraph.graph.model import EXTERNAL, IMPORT, SAME_SCOPE, Edge, EdgeKind
from codegraph.graph.resolvers.common import (
    EXTERNAL_KNOWN,
    EXTERNAL_UNKNOWN,
    external,
    first_of,
    guess,
    link,
)
from codegraph.graph.symbols import FileUnit, Sym, SymbolTable
from codegraph.parse.facts import CALLABLE, CLASS_LIKE

JAVA_LANG = frozenset({
    "AbstractMethodError", "Appendable", "ArithmeticException",
    "ArrayIndexOutOfBoundsException", "AssertionError", "AutoCloseable", "Boolean", "Byte",
    "CharSequence", "Character", "Class", "ClassCastException", "ClassLoader",
    "ClassNotFoundException", "CloneNotSupportedException", "Cloneable", "Comparable",
    "Deprecated", "Double", "Enum", "Error", "Exception", "Float", "FunctionalInterface",
    "IllegalArgumentException", "IllegalStateException", "IndexOutOfBoundsException",
    "InterruptedException", "Integer", "Iterable", "Long", "Math", "NullPointerException",
    "Number", "NumberFormatException", "Object", "OutOfMemoryError", "Override", "Process",
    "ProcessBuilder", "Readable", "Record", "ReflectiveOperationException", "Runnable",
    "Runtime", "RuntimeException", "SafeVarargs", "SecurityException", "Short",
    "StackOverflowError", "StrictMath", "String", "StringBuffer", "StringBuilder",
    "SuppressWarnings", "System", "Thread", "ThreadLocal", "Throwable",
    "UnsupportedOperationException", "Void",
})
JDK_PREFIXES = ("java.", "javax.", "jdk.", "sun.", "com.sun.")
METHOD_KINDS = frozenset({"method", "constructor"})
MEMBER_KINDS = CALLABLE | CLASS_LIKE
MAX_SUPERTYPES = 64


def module_name(path: str, package: str, layout: RepoLayout) -> str:
    """``src/main/java/com/x/Foo.java`` in ``package com.x`` -> ``com.x.Foo``."""
    filename = path.rpartition("/")[2]
    stem = filename.rpartition(".")[0] or filename
    return f"{package}.{stem}" if package else stem


def separator(language: str) -> str:
    return "."


def qualifier(module: str, package: str) -> str:
    return package


def _capitalised(part: str) -> bool:
    return part[:1].isupper()


@dataclass(slots=True, frozen=True)
class _Target:
    """A resolved type or member: in the repository (``sym``) or outside it."""

    qname: str
    sym: Sym | None
    resolution: str  # IMPORT or SAME_SCOPE for a sym; EXTERNAL otherwise
    confidence: float = EXTERNAL_KNOWN

    def edge(self, src: str, kind: EdgeKind, line: int, col: int, name: str) -> Edge:
        if self.sym is not None:
            return link(src, kind, self.sym, self.resolution, line, col, name)
        return external("java", src, kind, self.qname, line, col, name, self.confidence)


class _Resolver:
    def __init__(self, unit: FileUnit, table: SymbolTable) -> None:
        self.unit = unit
        self.table = table
        self.package = unit.facts.package
        self.defs = unit.facts.definitions
        self.single: dict[str, str] = {}  # simple name -> imported type or static member
        self.wildcards: list[str] = []  # packages, or classes of static on-demand imports
        for imp in unit.facts.imports:
            if imp.wildcard:
                self.wildcards.append(imp.module)
            elif imp.name:
                self.single[imp.name] = f"{imp.module}.{imp.name}"

    # -- this file ---------------------------------------------------------------
    def _sym(self, i: int) -> Sym:
        return self.unit.sym(i)

    def classes_around(self, scope: int) -> list[Sym]:
        """Enclosing classes of ``scope``, innermost first."""
        out = []
        while scope >= 0:
            if self.defs[scope].kind in CLASS_LIKE:
                out.append(self._sym(scope))
            scope = self.defs[scope].parent
        return out

    def class_index(self, scope: int) -> int:
        while scope >= 0 and self.defs[scope].kind not in CLASS_LIKE:
            scope = self.defs[scope].parent
        return scope

    # -- types and members -------------------------------------------------------
    def supertypes(self, cls: Sym) -> list[Sym]:
        """The class and its (indexed) supertypes, breadth first."""
        out: list[Sym] = []
        seen: set[str] = set()
        queue = [cls]
        while queue and len(out) < MAX_SUPERTYPES:
            current = queue.pop(0)
            if current.id in seen:
                continue
            seen.add(current.id)
            out.append(current)
            for base_id in self.table.bases(current.id):
                base = self.table.by_id(base_id)
                if base is not None:
                    queue.append(base)
        return out

    def member(self, cls: Sym, name: str, kinds: frozenset[str]) -> Sym | None:
        for typ in self.supertypes(cls):
            found = first_of(self.table.by_qname(f"{typ.qualified_name}.{name}"), kinds)
            if found is not None:
                return found
        return None

    def resolve_type(self, name: str, qualifier: str | None, scope: int) -> _Target | None:
        if qualifier:
            return self.resolve_path([*qualifier.split("."), name], scope)
        for cls in self.classes_around(scope):
            if cls.name == name:
                return _Target(cls.qualified_name, cls, SAME_SCOPE)
            found = self.member(cls, name, CLASS_LIKE)
            if found is not None:
                return _Target(found.qualified_name, found, SAME_SCOPE)
        fq = self.single.get(name)
        if fq is not None:
            found = first_of(self.table.by_qname(fq), CLASS_LIKE)
            return _Target(fq, found, IMPORT if found is not None else EXTERNAL)
        own = f"{self.package}.{name}" if self.package else name
        found = first_of(self.table.by_qname(own), CLASS_LIKE)
        if found is not None:
            return _Target(own, found, SAME_SCOPE)
        for module in self.wildcards:
            found = first_of(self.table.by_qname(f"{module}.{name}"), CLASS_LIKE)
            if found is not None:
                return _Target(found.qualified_name, found, IMPORT)
        if name in JAVA_LANG:
            return _Target(f"java.lang.{name}", None, EXTERNAL)
        return None

    def resolve_path(self, parts: list[str], scope: int) -> _Target | None:
        """A type named by a dotted path: ``Outer.Inner``, ``com.x.Foo``, ``a.b.C.D``."""
        first_type = next((i for i, p in enumerate(parts) if _capitalised(p)), None)
        if first_type is None:
            return None
        if first_type == 0:
            target = self.resolve_type(parts[0], None, scope)
            if target is None:
                return None
        else:
            fq = ".".join(parts[: first_type + 1])
            found = first_of(self.table.by_qname(fq), CLASS_LIKE)
            certain = first_type >= 2 or fq.startswith(JDK_PREFIXES)
            target = _Target(fq, found, IMPORT if found is not None else EXTERNAL,
                             EXTERNAL_KNOWN if certain else EXTERNAL_UNKNOWN)
        for part in parts[first_type + 1:]:
            target = self.nested(target, part, CLASS_LIKE)
        return target

    def nested(self, outer: _Target, name: str, kinds: frozenset[str]) -> _Target:
        """``outer.name``: a member of an indexed type, else an external name."""
        if outer.sym is not None:
            found = self.member(outer.sym, name, kinds)
            if found is not None:
                return _Target(found.qualified_name, found, outer.resolution)
            return _Target(f"{outer.qname}.{name}", None, EXTERNAL, EXTERNAL_UNKNOWN)
        return _Target(f"{outer.qname}.{name}", None, EXTERNAL, outer.confidence)

    def supertype_targets(self, index: int) -> list[_Target]:
        """What a class's ``extends`` clause names (indexed or external)."""
        scope = self.defs[index].parent
        out = []
        for ref in self.unit.facts.references:
            if ref.kind == "inherits" and ref.source == index:
                target = self.resolve_type(ref.name, ref.qualifier, scope)
                if target is not None:
                    out.append(target)
        return out

    # -- calls -------------------------------------------------------------------
    def resolve_call(self, src: str, name: str, receiver: str | None, scope: int,
                     line: int, col: int) -> list[Edge]:
        kind = EdgeKind.CALLS
        if receiver is None:
            return self._bare_call(src, name, scope, line, col)
        if receiver in ("this", "super"):
            index = self.class_index(scope)
            if index >= 0:
                cls = self._sym(index)
                starts = [cls] if receiver == "this" else [
                    b for b in (self.table.by_id(i) for i in self.table.bases(cls.id))
                    if b is not None]
                for start in starts:
                    found = self.member(start, name, METHOD_KINDS)
                    if found is not None:
                        return [link(src, kind, found, SAME_SCOPE, line, col, name)]
                if receiver == "super":
                    for target in self.supertype_targets(index):
                        if target.sym is None:
                            return [self.nested(target, name, METHOD_KINDS)
                                    .edge(src, kind, line, col, name)]
            return guess(self.unit.language, src, kind, self.table, name, line, col, METHOD_KINDS)
        parts = receiver.split(".")
        if not all(p.isidentifier() for p in parts):
            return guess(self.unit.language, src, kind, self.table, name, line, col, METHOD_KINDS)
        if _capitalised(name):  # new Outer.Inner(), new java.util.ArrayList<>()
            created = self.resolve_path([*parts, name], scope)
            if created is not None:
                return [created.edge(src, kind, line, col, name)]
        first_type = next((i for i, p in enumerate(parts) if _capitalised(p)), None)
        if first_type is not None:
            end = first_type
            while end < len(parts) and _capitalised(parts[end]):
                end += 1
            typ = self.resolve_path(parts[:end], scope)
            if typ is not None:
                fields = parts[end:]
                if not fields:
                    return [self.nested(typ, name, MEMBER_KINDS)
                            .edge(src, kind, line, col, name)]
                if typ.sym is None:  # System.out.println: outside the repository
                    qname = ".".join([typ.qname, *fields, name])
                    return [external(self.unit.language, src, kind, qname, line, col, name,
                                     typ.confidence)]
        return guess(self.unit.language, src, kind, self.table, name, line, col, METHOD_KINDS)

    def _bare_call(self, src: str, name: str, scope: int, line: int, col: int) -> list[Edge]:
        kind = EdgeKind.CALLS
        index = self.class_index(scope)
        if name in ("this", "super"):  # this(...) / super(...) in a constructor
            if index < 0:
                return []
            if name == "this":
                return [link(src, kind, self._sym(index), SAME_SCOPE, line, col, name)]
            targets = self.supertype_targets(index) or [
                _Target("java.lang.Object", None, EXTERNAL)]
            return [targets[0].edge(src, kind, line, col, name)]
        if _capitalised(name):  # new Foo()
            target = self.resolve_type(name, None, scope)
            if target is not None:
                return [target.edge(src, kind, line, col, name)]
        for cls in self.classes_around(scope):
            found = self.member(cls, name, METHOD_KINDS)
            if found is not None:
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
        fq = self.single.get(name)  # import static a.b.C.m
        if fq is not None:
            return [_Target(fq, first_of(self.table.by_qname(fq), MEMBER_KINDS), IMPORT)
                    .edge(src, kind, line, col, name)]
        outside = []
        for module in self.wildcards:  # import static a.b.C.*
            found = first_of(self.table.by_qname(f"{module}.{name}"), METHOD_KINDS)
            if found is not None:
                return [link(src, kind, found, IMPORT, line, col, name)]
            cls_name = module.rpartition(".")[2]
            if _capitalised(cls_name) and not self.table.by_qname(module):
                outside.append(module)
        external_name = f"{outside[0]}.{name}" if len(outside) == 1 else None
        return guess(self.unit.language, src, kind, self.table, name, line, col, METHOD_KINDS,
                     external_name)

    # -- imports -----------------------------------------------------------------
    def used_type_names(self) -> set[str]:
        names: set[str] = set()
        for call in self.unit.facts.calls:
            names.add(call.name)
            if call.receiver:
                names.update(call.receiver.split("."))
        for ref in self.unit.facts.references:
            names.add(ref.name)
            if ref.qualifier:
                names.update(ref.qualifier.split("."))
        return {n for n in names if _capitalised(n)}

    def import_edges(self) -> list[Edge]:
        edges: list[Edge] = []
        used: set[str] | None = None
        for imp in self.unit.facts.imports:
            src = self.unit.source_id(imp.source)
            if not imp.wildcard:
                fq = f"{imp.module}.{imp.name}" if imp.name else imp.module
                found = first_of(self.table.by_qname(fq))
                edges.append(_Target(fq, found, IMPORT).edge(src, EdgeKind.IMPORTS, imp.line, 1,
                                                             imp.name or fq))
                continue
            cls = first_of(self.table.by_qname(imp.module), CLASS_LIKE)
            if cls is not None:  # import static a.b.C.*
                edges.append(link(src, EdgeKind.IMPORTS, cls, IMPORT, imp.line, 1, imp.module))
                continue
            if used is None:
                used = self.used_type_names()
            found_any = False
            for name in sorted(used):  # import a.b.*: the classes of a.b this file uses
                found = first_of(self.table.by_qname(f"{imp.module}.{name}"), CLASS_LIKE)
                if found is not None:
                    found_any = True
                    edges.append(link(src, EdgeKind.IMPORTS, found, IMPORT, imp.line, 1,
                                      imp.module))
            if not found_any:
                confidence = (EXTERNAL_KNOWN if f"{imp.module}.".startswith(JDK_PREFIXES)
                              else EXTERNAL_UNKNOWN)
                edges.append(external(self.unit.language, src, EdgeKind.IMPORTS, imp.module,
                                      imp.line, 1, imp.module, confidence))
        return edges


def resolve_types(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    """``extends`` -> INHERITS (classes and interfaces), ``implements`` -> IMPLEMENTS."""
    r = _Resolver(unit, table)
    edges: list[Edge] = []
    for ref in unit.facts.references:
        if ref.kind not in ("inherits", "implements") or ref.source < 0:
            continue
        kind = EdgeKind.INHERITS if ref.kind == "inherits" else EdgeKind.IMPLEMENTS
        src = unit.source_id(ref.source)
        target = r.resolve_type(ref.name, ref.qualifier, unit.facts.definitions[ref.source].parent)
        if target is not None:
            edges.append(target.edge(src, kind, ref.line, ref.col, ref.name))
        else:
            written = f"{ref.qualifier}.{ref.name}" if ref.qualifier else ref.name
            edges += guess(unit.language, src, kind, table, ref.name, ref.line, ref.col,
                           CLASS_LIKE, written)
    return edges


def resolve_uses(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    """Imports, calls (methods, constructors via ``new``) and annotation uses."""
    r = _Resolver(unit, table)
    edges = r.import_edges()
    for call in unit.facts.calls:
        edges += r.resolve_call(unit.source_id(call.caller), call.name, call.receiver,
                                call.caller, call.line, call.col)
    for ref in unit.facts.references:
        if ref.kind != "use":
            continue
        src = unit.source_id(ref.source)
        target = r.resolve_type(ref.name, ref.qualifier, ref.source)
        if target is not None:
            edges.append(target.edge(src, EdgeKind.REFERENCES, ref.line, ref.col, ref.name))
        else:
            edges += guess(unit.language, src, EdgeKind.REFERENCES, table, ref.name, ref.line,
                           ref.col, CLASS_LIKE)
    return edges
