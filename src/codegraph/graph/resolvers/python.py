"""Python: modules from the package layout, imports (relative, aliased, wildcard),
``self``/``cls``/``super()`` calls through the class and its bases, module-qualified calls."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from codegraph.graph.build import name_definitions
from codegraph.graph.layout import RepoLayout
from codegraph.graph.model import (
    DISPATCH,
    IMPORT,
    INFERRED,
    NAME_MATCH,
    SAME_SCOPE,
    Edge,
    EdgeKind,
)
from codegraph.graph.resolvers.common import (
    EXTERNAL_KNOWN,
    FileScopes,
    called_on,
    evidence_guess,
    external,
    first_of,
    guess,
    link,
)
from codegraph.graph.resolvers.python_types import (
    CLASS,
    EXTERNAL_TYPE,
    FUNCTION,
    INSTANCE,
    MODULE,
    SUPER,
    PyType,
    TypeInference,
    segment,
    split_top,
)
from codegraph.graph.symbols import FileUnit, Sym, SymbolTable
from codegraph.parse.facts import CALLABLE, CLASS_LIKE, Import
from codegraph.parse.langs.python import normal_expr

BUILTINS = frozenset(dir(builtins))
MAX_REEXPORTS = 4  # hops followed through modules that re-export a name
GUESS_METHOD_KINDS = ("method", "constructor")
MAX_DISPATCH = 50  # overrides linked from one call: beyond, the hierarchy says little
GUESS_CONFIDENCE = 0.9  # with that evidence, a lone candidate was right 93% of the time
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


class _Resolver(FileScopes, TypeInference):
    def __init__(self, unit: FileUnit, table: SymbolTable) -> None:
        super().__init__(unit, table)
        self.is_package = unit.path.endswith("__init__.py")
        self.bindings: dict[str, _Binding] = {}
        self.local_bindings: dict[int, dict[str, _Binding]] = {}  # imports in a function
        self.wildcards: list[str] = []
        self._inferring = table.memo().setdefault("py-inferring", set())
        for imp in unit.facts.imports:
            self._bind(imp)
        self._called_on: dict[tuple[int, str], frozenset[str]] | None = None

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
        source = imp.source
        bindings = self.bindings
        if source >= 0 and self.defs[source].kind in CALLABLE:
            bindings = self.local_bindings.setdefault(source, {})  # binds in that function
        if imp.wildcard:
            self.wildcards.append(module)
        elif imp.name is None:
            if imp.alias:
                bindings[imp.alias] = _Binding(module, None)
            else:
                head = module.split(".")[0]
                bindings.setdefault(head, _Binding(head, None))
        else:
            bindings[imp.alias or imp.name] = _Binding(module, imp.name)

    @property
    def called_on(self) -> dict[tuple[int, str], frozenset[str]]:
        if self._called_on is None:
            self._called_on = called_on(self.unit.facts.calls)
        return self._called_on

    def binding_for(self, name: str, scope: int) -> _Binding | None:
        """The import binding ``name`` at ``scope``: a function's own imports, then the
        module's."""
        s = scope
        while s >= 0 and self.local_bindings:
            found = self.local_bindings.get(s, {}).get(name)
            if found is not None:
                return found
            s = self.defs[s].parent
        return self.bindings.get(name)

    def wildcard_member(self, name: str) -> Sym | None:
        for module in self.wildcards:
            found = self.member(module, name)
            if found is not None:
                return found
        return None

    def resolver_for(self, path: str) -> _Resolver | None:
        """The resolver of another Python file of the repository (to read its types)."""
        if path == self.unit.path:
            return self
        memo = self.table.memo()
        key = ("py-resolver", path)
        if key in memo:
            found: _Resolver | None = memo[key]
            return found
        facts = self.table.facts(path)
        mod = self.table.file_module(path)
        other = None
        if facts is not None and mod is not None and facts.language == "python":
            ids, qnames = name_definitions(self.unit.repo, path, facts, mod.qualified_name, ".")
            other = _Resolver(FileUnit(self.unit.repo, path, "python", mod.qualified_name,
                                       mod.id, mod.parent, facts, ids, qnames), self.table)
        memo[key] = other
        return other

    def class_mro(self, class_sym: Sym) -> list[Sym]:
        """The class and its project bases, breadth first (a simple MRO)."""
        memo = self.table.memo()
        key = ("py-mro", class_sym.id)
        found: list[Sym] | None = memo.get(key)
        if found is None:
            found, seen, queue = [], set(), [class_sym]
            while queue:
                cls = queue.pop(0)
                if cls.id in seen:
                    continue
                seen.add(cls.id)
                found.append(cls)
                for base_id in self.table.bases(cls.id):
                    queue.extend(self._class_syms(base_id))
            memo[key] = found
        return found

    def overrides(self, class_sym: Sym, name: str) -> list[Sym]:
        """The methods ``name`` defined by the project's subclasses of the class (at any
        depth, the first MAX_DISPATCH found breadth first): what a call on an instance
        of the class may reach at run time."""
        subs = self.subclass_tree(class_sym)
        if not subs:
            return []
        memo = self.table.memo()
        key = ("py-overrides", class_sym.id, name)
        found: list[Sym] | None = memo.get(key)
        if found is None:
            found = []
            for sub in subs:
                own = [s for s in self.table.by_qname(f"{sub.qualified_name}.{name}")
                       if s.parent == sub.id and s.kind in CALLABLE]
                found += own[-1:]
                if len(found) >= MAX_DISPATCH:
                    break
            memo[key] = found
        return found

    def subclass_tree(self, class_sym: Sym) -> list[Sym]:
        """The project's subclasses of the class at any depth, breadth first."""
        memo = self.table.memo()
        key = ("py-subclasses", class_sym.id)
        found: list[Sym] | None = memo.get(key)
        if found is None:
            found, seen, queue = [], {class_sym.id}, list(self.table.subclasses(class_sym.id))
            while queue:
                sub_id = queue.pop(0)
                if sub_id in seen:
                    continue
                seen.add(sub_id)
                sub = self.table.by_id(sub_id)
                if sub is not None and sub.kind in CLASS_LIKE:
                    found.append(sub)
                    queue.extend(self.table.subclasses(sub_id))
            memo[key] = found
        return found

    def external_base(self, class_sym: Sym) -> str | None:
        """The first base outside the project of the class or of one of its project bases
        (a base name that did not resolve to a class of the repository), by its qualified
        name; None if it has none."""
        memo = self.table.memo()
        key = ("py-external-base", class_sym.id)
        if key not in memo:
            memo[key] = self._external_base(class_sym)
        found: str | None = memo[key]
        return found

    def _external_base(self, class_sym: Sym) -> str | None:
        for cls in self.class_mro(class_sym):
            other, index = self.where_defined(cls)
            if other is None:
                return cls.qualified_name
            inside = {b.qualified_name for base in self.table.bases(cls.id)
                      for b in self._class_syms(base)}
            for ref in other.unit.facts.references:
                if ref.kind != "inherits" or ref.source != index:
                    continue
                written = f"{ref.qualifier}.{ref.name}" if ref.qualifier else ref.name
                types = other.evaluate(written, other.defs[index].parent)
                outside = [t.qname for t in types if t.kind == EXTERNAL_TYPE]
                if outside:
                    return outside[0]
                if not any(t.sym is not None and t.sym.qualified_name in inside
                           for t in types):
                    return written  # a base we cannot find: outside, by its written name
        return None

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
        found = _defined(self.table.by_qname(qname))
        if found is not None:
            return found
        mods = self.table.modules(qname)
        if mods:
            return mods[0]
        if depth >= MAX_REEXPORTS:
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
            found = _defined(self.table.by_qname(f"{cls.qualified_name}.{name}"))
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
        self.new_site()
        if qualifier is None:
            return self._resolve_bare(src, kind, name, scope, line, col)
        expr = normal_expr(qualifier)
        if expr is None:  # ``(a or b).f()``, ``x[0].f()``...: no receiver to type
            return self._guess_method(src, kind, name, qualifier, scope, line, col)
        head, suffixes = segment(split_top(expr, ".")[0])
        plain = expr.replace(".", "").replace("_", "").isalnum()
        if plain and not self._is_local(head, scope):
            binding = self.binding_for(head, scope)
            if binding is not None:  # os.path.join, module.Class.method
                return self._via_binding(src, kind, binding, [*expr.split(".")[1:], name],
                                         line, col, name)
        types = self.evaluate(expr, scope)
        if not types:
            return self._guess_method(src, kind, name, qualifier, scope, line, col)
        single = len(split_top(expr, ".")) == 1
        if single and (head == "super" or (not suffixes and self._is_first_param(head, scope))):
            resolution = SAME_SCOPE  # self.f(), cls.f(), super().f()
        elif plain and not suffixes and self.local(head, scope) is not None \
                and not self._is_local(head, scope):
            resolution = SAME_SCOPE  # Class.method() on a class of this file
        else:
            resolution = INFERRED
        written = f"{qualifier}.{name}" if qualifier[:1].isalpha() else name
        edges: list[Edge] = []
        for t in types:
            edges += self._typed_call(src, kind, t, name, resolution, line, col, written)
        return edges

    def _typed_call(self, src: str, kind: EdgeKind, t: PyType, name: str, resolution: str,
                    line: int, col: int, written: str) -> list[Edge]:
        language = self.unit.language
        if t.kind == EXTERNAL_TYPE:
            return [external(language, src, kind, f"{t.qname}.{name}", line, col, name,
                             EXTERNAL_KNOWN)]
        if t.sym is None:
            return []
        if t.kind == MODULE:
            found = self.member(t.sym.qualified_name, name)
            if found is not None:
                return [link(src, kind, found, INFERRED, line, col, name)]
            return [external(language, src, kind, f"{t.sym.qualified_name}.{name}", line, col,
                             name)]
        if t.kind == FUNCTION:
            return [external(language, src, kind, f"{t.sym.qualified_name}.{name}", line, col,
                             name)]
        if t.kind == INSTANCE:  # self.run = self._run_fast: the instance's attribute wins
            held = self.callees_of(self.instance_attribute(t.sym, name, 0))
            if held:
                return [link(src, kind, s, INFERRED, line, col, name) for s in held]
        classes = self.class_mro(t.sym)[1:] if t.kind == SUPER else [t.sym]
        for cls in classes:
            found = self.method(cls, name)
            if found is not None:
                edges = self._call_target(src, kind, found, resolution, line, col, name)
                if t.kind == INSTANCE and kind == EdgeKind.CALLS:  # virtual: not on a class,
                    # nor through super()
                    edges += [link(src, kind, o, DISPATCH, line, col, name)
                              for o in self.overrides(t.sym, name) if o.id != found.id]
                return edges
        base = self.external_base(t.sym)
        if base is not None:  # inherited from a base outside the project
            return [external(language, src, kind, f"{base}.{name}", line, col, name,
                             EXTERNAL_KNOWN)]
        return [external(language, src, kind, written, line, col, name)]

    def _call_target(self, src: str, kind: EdgeKind, target: Sym, resolution: str, line: int,
                     col: int, name: str) -> list[Edge]:
        """An edge to ``target``; through it when it is a variable bound to a function or a
        class (``concat = "".join``, ``run = _run``), or to what it holds outside."""
        if kind != EdgeKind.CALLS or target.kind not in ("variable", "constant"):
            return [link(src, kind, target, resolution, line, col, name)]
        held = self.sym_types(target, 0)
        syms = self.callees_of(held)
        if syms:
            return [link(src, kind, s, INFERRED, line, col, name) for s in syms]
        outside = [t.qname for t in held if t.kind == EXTERNAL_TYPE]
        if outside:
            return [external(self.unit.language, src, kind, outside[0], line, col, name,
                             EXTERNAL_KNOWN)]
        return [link(src, kind, target, resolution, line, col, name)]

    def callees_of(self, types: list[PyType]) -> list[Sym]:
        """What calling a value of these types runs: a function, a class (constructing
        it), an instance's ``__call__``."""
        out: list[Sym] = []
        for t in types:
            if t.kind in (FUNCTION, CLASS) and t.sym is not None:
                out.append(t.sym)
            elif t.kind == INSTANCE and t.sym is not None:
                dunder = self.dunder_call(t.sym)
                if dunder is not None:
                    out.append(dunder)
        return list(dict.fromkeys(out))

    def _is_local(self, name: str, scope: int) -> bool:
        """Whether ``name`` is a parameter or an assigned local of an enclosing function."""
        s = scope
        while s >= 0:
            d = self.defs[s]
            if d.kind in CALLABLE and d.extra and (
                    name in (d.extra.get("params") or {}) or name in (d.extra.get("locals") or {})):
                return True
            s = d.parent
        return False

    def _is_first_param(self, name: str, scope: int) -> bool:
        s = scope
        while s >= 0 and self.defs[s].kind not in CALLABLE:
            s = self.defs[s].parent
        parent = self.defs[s].parent if s >= 0 else -1
        if parent < 0 or self.defs[parent].kind not in CLASS_LIKE:
            return False
        params = (self.defs[s].extra or {}).get("params") or {}
        return bool(params) and next(iter(params)) == name

    def _resolve_bare(self, src: str, kind: EdgeKind, name: str, scope: int, line: int,
                      col: int) -> list[Edge]:
        language = self.unit.language
        if self._is_local(name, scope):  # a parameter or local: typed, or nothing
            edges: list[Edge] = []
            resolution = SAME_SCOPE if self._is_first_param(name, scope) else INFERRED
            types = self.name_types(name, scope, 0) or []
            for target in self.callees_of(types):
                edges.append(link(src, kind, target, resolution, line, col, name))
            for t in types:
                if t.kind == EXTERNAL_TYPE:
                    edges.append(external(language, src, kind, t.qname, line, col, name,
                                          EXTERNAL_KNOWN))
            if edges:
                return edges
            # A local of unknown type (`setter, other = make()`): the one function of that
            # name, if there is only one, never the import it shadows (with 3 candidates,
            # none of 6 guesses was right on the benchmark).
            return guess(language, src, kind, self.table, name, line, col,
                         kinds=("function", *CLASS_LIKE), confidence=GUESS_CONFIDENCE, limit=1)
        if name == "cls" and self.enclosing_class(scope) >= 0:  # cls() in a classmethod
            cls_sym = self._sym(self.enclosing_class(scope))
            return [link(src, kind, cls_sym, SAME_SCOPE, line, col, name)]
        found = self.local(name, scope)
        if found is not None:
            return self._call_target(src, kind, found, SAME_SCOPE, line, col, name)
        binding = self.binding_for(name, scope)
        if binding is not None:
            return self._via_binding(src, kind, binding, [], line, col, name)
        for module in self.wildcards:
            found = self.member(module, name)
            if found is not None:
                return [link(src, kind, found, IMPORT, line, col, name, 0.8)]
        if name in BUILTINS:
            return [external(language, src, kind, f"builtins.{name}", line, col, name,
                             EXTERNAL_KNOWN)]
        # A name bound nowhere (a star import from outside, a global set at run time):
        # its few namesakes were right 12 times out of 12 on the benchmark.
        return guess(language, src, kind, self.table, name, line, col,
                     kinds=("function", *CLASS_LIKE), confidence=GUESS_CONFIDENCE)

    def _guess_method(self, src: str, kind: EdgeKind, name: str, receiver: str, scope: int,
                      line: int, col: int) -> list[Edge]:
        """A call on a receiver of unknown type: the methods of that name in the classes
        that have the most of the names called on the same receiver here; none if more
        than a few."""
        language = self.unit.language
        written = f"{receiver}.{name}" if receiver[:1].isalpha() else name
        called = self.called_on.get((scope, receiver), frozenset({name}))
        best = evidence_guess(self.table, language, name, called, GUESS_METHOD_KINDS,
                              self.method)
        if not best:
            return [external(language, src, kind, written, line, col, name)]
        share = GUESS_CONFIDENCE / len(best)
        return [link(src, kind, s, NAME_MATCH, line, col, name, share) for s in best]

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
            return self._call_target(src, kind, target, IMPORT, line, col, name)
        qname = ".".join([module, *path])
        if self.module_known(module):
            return [external(self.unit.language, src, kind, qname, line, col, name)]
        return [external(self.unit.language, src, kind, qname, line, col, name, EXTERNAL_KNOWN)]


def _defined(syms: list[Sym]) -> Sym | None:
    """What a name is bound to: of several functions of one name (``typing.overload``, a
    redefinition) the last, which replaces the others; else the first definition."""
    callables = [s for s in syms if s.kind in CALLABLE]
    if len(callables) > 1 and len({s.path for s in callables}) == 1:
        return callables[-1]
    return first_of(syms)


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


