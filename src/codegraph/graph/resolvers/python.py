"""Python: modules from the package layout, imports (relative, aliased, wildcard),
``self``/``cls``/``super()`` calls through the class and its bases, module-qualified calls."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from codegraph.graph.layout import RepoLayout
from codegraph.graph.model import IMPORT, SAME_SCOPE, Edge, EdgeKind
from codegraph.graph.resolvers.common import (
    EXTERNAL_KNOWN,
    FileScopes,
    external,
    first_of,
    guess,
    link,
)
from codegraph.graph.symbols import FileUnit, Sym, SymbolTable
from codegraph.parse.facts import CLASS_LIKE, Import

BUILTINS = frozenset(dir(builtins))
MAX_DEPTH = 4
_SOURCE_ROOTS = ("src", "lib")


def module_name(path: str, package: str, layout: RepoLayout) -> str:
    """``src/flask/app.py`` -> ``flask.app`` when ``src/flask/__init__.py`` exists."""
    parts = path.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    dirs = parts[:-1]
    names = [] if stem == "__init__" else [stem]
    i = len(dirs)
    while i > 0 and layout.exists("/".join([*dirs[:i], "__init__.py"])):
        names.insert(0, dirs[i - 1])
        i -= 1
    if i > 0 and i == len(dirs):
        # Not inside a package: name it by its path, dropping a leading src/ or lib/.
        rest = dirs[:i]
        if rest and rest[0] in _SOURCE_ROOTS:
            rest = rest[1:]
        names = [*rest, *names]
    return ".".join(names) or stem


def separator(language: str) -> str:
    return "."


def qualifier(module: str, package: str) -> str:
    return module


@dataclass(slots=True)
class _Binding:
    module: str  # absolute module name
    member: str | None  # None: the binding is the module itself


class _Resolver(FileScopes):
    def __init__(self, unit: FileUnit, table: SymbolTable) -> None:
        super().__init__(unit, table)
        self.is_package = unit.path.endswith("__init__.py")
        self.bindings: dict[str, _Binding] = {}
        self.wildcards: list[str] = []
        for imp in unit.facts.imports:
            self._bind(imp)

    # -- imports -----------------------------------------------------------------
    def absolute(self, imp: Import) -> str:
        if imp.level == 0:
            return imp.module
        parts = self.unit.module.split(".")
        if not self.is_package:
            parts = parts[:-1]
        if imp.level > 1:
            parts = parts[: len(parts) - (imp.level - 1)]
        return ".".join([*parts, imp.module] if imp.module else parts)

    def _bind(self, imp: Import) -> None:
        module = self.absolute(imp)
        if imp.wildcard:
            self.wildcards.append(module)
        elif imp.name is None:
            if imp.alias:
                self.bindings[imp.alias] = _Binding(module, None)
            else:
                head = module.split(".")[0]
                self.bindings.setdefault(head, _Binding(head, None))
        else:
            self.bindings[imp.alias or imp.name] = _Binding(module, imp.name)

    def member(self, module: str, name: str, depth: int = 0) -> Sym | None:
        """``module.name``: a definition, a submodule, or a name the module re-exports."""
        memo = self.table.memo()
        key = ("member", module, name, depth)
        if key not in memo:
            memo[key] = self._member(module, name, depth)
        found: Sym | None = memo[key]
        return found

    def _member(self, module: str, name: str, depth: int) -> Sym | None:
        qname = f"{module}.{name}"
        found = first_of(self.table.by_qname(qname))
        if found is not None:
            return found
        mods = self.table.modules(qname)
        if mods:
            return mods[0]
        if depth >= MAX_DEPTH:
            return None
        for mod in self.table.modules(module):
            facts = self.table.facts(mod.path)
            if facts is None:
                continue
            sub = _Resolver.__new__(_Resolver)
            sub.unit = FileUnit("", mod.path, "python", module, "", "", facts)
            sub.is_package = mod.path.endswith("__init__.py")
            for imp in facts.imports:
                if imp.wildcard or (imp.alias or imp.name) == name:
                    target = sub.absolute(imp)
                    if imp.wildcard:
                        found = self.member(target, name, depth + 1)
                    elif imp.name is None:
                        found = first_of(self.table.modules(target))
                    else:
                        found = self.member(target, imp.name, depth + 1)
                    if found is not None:
                        return found
        return None

    def module_known(self, module: str) -> bool:
        return bool(self.table.modules(module))

    # -- names -------------------------------------------------------------------
    def method(self, class_sym: Sym, name: str) -> Sym | None:
        """``name`` on a class or its bases, breadth first (a simple MRO)."""
        memo = self.table.memo()
        key = ("method", class_sym.id, class_sym.qualified_name, name)
        if key not in memo:
            memo[key] = self._method(class_sym, name)
        found: Sym | None = memo[key]
        return found

    def _method(self, class_sym: Sym, name: str) -> Sym | None:
        seen: set[str] = set()
        queue = [class_sym]
        while queue:
            cls = queue.pop(0)
            if cls.id in seen:
                continue
            seen.add(cls.id)
            found = first_of(self.table.by_qname(f"{cls.qualified_name}.{name}"))
            if found is not None:
                return found
            for base_id in self.table.bases(cls.id):
                queue.extend(s for s in self._by_id(base_id) if s.kind in CLASS_LIKE)
        return None

    def _by_id(self, node_id: str) -> list[Sym]:
        found = self.table.by_id(node_id)
        return [found] if found is not None else []

    def resolve_name(self, src: str, kind: EdgeKind, name: str, qualifier: str | None,
                     scope: int, line: int, col: int) -> list[Edge]:
        written = f"{qualifier}.{name}" if qualifier else name
        if qualifier is None:
            if name == "cls" and self.enclosing_class(scope) >= 0:  # cls() in a classmethod
                cls_sym = self._sym(self.enclosing_class(scope))
                return [link(src, kind, cls_sym, SAME_SCOPE, line, col, name)]
            found = self.local(name, scope)
            if found is not None:
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
            binding = self.bindings.get(name)
            if binding is not None:
                return self._via_binding(src, kind, binding, [], line, col, name)
            for module in self.wildcards:
                found = self.member(module, name)
                if found is not None:
                    return [link(src, kind, found, IMPORT, line, col, name, 0.8)]
            if name in BUILTINS:
                return [external(self.unit.language, src, kind, f"builtins.{name}", line, col,
                                 name, EXTERNAL_KNOWN)]
            return guess(self.unit.language, src, kind, self.table, name, line, col)
        head, *rest = qualifier.split(".")
        if (head in ("self", "cls") and not rest) or head == "super()":
            cls_index = self.enclosing_class(scope)
            if cls_index >= 0:
                cls = self._sym(cls_index)
                targets = (
                    [b for base in self.table.bases(cls.id) for b in self._class_syms(base)]
                    if head == "super()" else [cls]
                )
                for target in targets:
                    found = self.method(target, name)
                    if found is not None:
                        return [link(src, kind, found, SAME_SCOPE, line, col, name)]
            return guess(self.unit.language, src, kind, self.table, name, line, col,
                         kinds=("method", "constructor", "function"))
        binding = self.bindings.get(head)
        if binding is not None:
            return self._via_binding(src, kind, binding, [*rest, name], line, col, name)
        local = self.local(head, scope)
        if local is not None and local.kind in CLASS_LIKE and not rest:
            found = self.method(local, name)
            if found is not None:
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
        return guess(self.unit.language, src, kind, self.table, name, line, col,
                     kinds=("method", "constructor", "function", "class"),
                     external_name=written if qualifier[0].isalpha() else name)

    def _class_syms(self, class_id: str) -> list[Sym]:
        return [s for s in self._by_id(class_id) if s.kind in CLASS_LIKE]

    def _via_binding(self, src: str, kind: EdgeKind, binding: _Binding, attrs: list[str],
                     line: int, col: int, name: str) -> list[Edge]:
        path = [binding.member] if binding.member else []
        path += attrs
        module = binding.module
        # Walk down submodules as far as they exist: a.b.c.f -> module a.b.c, member f.
        while path and self.module_known(f"{module}.{path[0]}"):
            module = f"{module}.{path.pop(0)}"
        if not path:
            mods = self.table.modules(module)
            if mods:
                return [link(src, kind, mods[0], IMPORT, line, col, name)]
            return [external(self.unit.language, src, kind, module, line, col, name,
                             EXTERNAL_KNOWN)]
        target = self.member(module, path[0])
        for attr in path[1:]:
            if target is None or target.kind not in CLASS_LIKE:
                target = None
                break
            target = self.method(target, attr)
        if target is not None:
            return [link(src, kind, target, IMPORT, line, col, name)]
        qname = ".".join([module, *path])
        if self.module_known(module):
            return [external(self.unit.language, src, kind, qname, line, col, name)]
        return [external(self.unit.language, src, kind, qname, line, col, name, EXTERNAL_KNOWN)]


def resolve_types(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    bases = [ref for ref in unit.facts.references if ref.kind == "inherits" and ref.source >= 0]
    if not bases:  # most files: no resolver to make
        return []
    r = _Resolver(unit, table)
    edges: list[Edge] = []
    for ref in bases:
        edges += r.resolve_name(unit.source_id(ref.source), EdgeKind.INHERITS, ref.name,
                                ref.qualifier, unit.facts.definitions[ref.source].parent,
                                ref.line, ref.col)
    return edges


def resolve_uses(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    r = _Resolver(unit, table)
    edges: list[Edge] = []
    for imp in unit.facts.imports:
        src = unit.source_id(imp.source)
        module = r.absolute(imp)
        if imp.wildcard or imp.name is None:
            mods = table.modules(module)
            if mods:
                edges.append(link(src, EdgeKind.IMPORTS, mods[0], IMPORT, imp.line, 1, module))
            else:
                edges.append(external(unit.language, src, EdgeKind.IMPORTS, module, imp.line, 1,
                                      module, EXTERNAL_KNOWN))
            continue
        found = r.member(module, imp.name)
        if found is not None:
            edges.append(link(src, EdgeKind.IMPORTS, found, IMPORT, imp.line, 1, imp.name))
        else:
            conf = 0.5 if r.module_known(module) else EXTERNAL_KNOWN
            edges.append(external(unit.language, src, EdgeKind.IMPORTS, f"{module}.{imp.name}",
                                  imp.line, 1, imp.name, conf))
    for call in unit.facts.calls:
        edges += r.resolve_name(unit.source_id(call.caller), EdgeKind.CALLS, call.name,
                                call.receiver, call.caller, call.line, call.col)
    for ref in unit.facts.references:
        if ref.kind == "use":
            edges += r.resolve_name(unit.source_id(ref.source), EdgeKind.REFERENCES, ref.name,
                                    ref.qualifier, ref.source, ref.line, ref.col)
    return edges


