"""JavaScript, TypeScript and TSX: modules are repository paths without their extension
(``src/utils/math``); relative specifiers are resolved with extension and ``index`` lookup;
named, default and namespace imports, ``require`` and ``export ... from`` chains are followed
to the exporting definition; ``this``/``super`` calls go through the class and its bases;
bare package specifiers (``react``, ``lodash/fp``) are external."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from codegraph.graph.layout import RepoLayout
from codegraph.graph.model import IMPORT, INFERRED, NAME_MATCH, SAME_SCOPE, Edge, EdgeKind
from codegraph.graph.resolvers.common import (
    CALLABLE_TARGETS,
    EXTERNAL_KNOWN,
    EXTERNAL_UNKNOWN,
    FileScopes,
    called_on,
    evidence_guess,
    external,
    first_of,
    guess,
    link,
)
from codegraph.graph.resolvers.js_types import UNKNOWN, Typed, Types
from codegraph.graph.symbols import FileUnit, Sym, SymbolTable
from codegraph.parse.facts import CLASS_LIKE, Import

# Tried in this order after a relative specifier (and after ``<dir>/index``).
EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts", ".mts", ".cts")
_DECLARATION_SUFFIXES = (".d.ts", ".d.mts", ".d.cts")
# TypeScript ESM code imports ``./a.js`` for the source file ``a.ts``.
_EMITTED = {".js": (".ts", ".tsx", ".d.ts"), ".jsx": (".tsx",), ".mjs": (".mts",),
            ".cjs": (".cts",)}
MAX_DEPTH = 6  # re-export hops
DEFAULT_MODULE_CONFIDENCE = 0.7  # a default import bound to a module without a known default
# A method found through the receiver's declared or inferred type: common.CONFIDENCE's
# (0.95). Measured with bench/bench_calls_ts.py: 82 of 82 such edges right (mobx 6.13.5: 81,
# express 4.21.2: 1); below 1.0, as a subclass's override may run instead.
GLOBAL_PREFIX = "globalThis"
METHOD_TARGETS = ("method", "constructor", "function")
GUESS_TARGETS = ("method",)  # a receiver's method: of a class that has it
GUESS_CONFIDENCE = 0.5  # measured: 6 of 12 evidence guesses right on mobx
RECEIVER_TARGETS = ("method", "constructor", "function", "class")
USE_TARGETS = (*CLASS_LIKE, "type_alias", "namespace", "function", "constant", "variable")
_LITERALS = {"[": "Array", "'": "String", '"': "String", "`": "String", "/": "RegExp"}
_SIMPLE_RECEIVER = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")

# Globals of the language, browsers and Node, and TypeScript's built-in types.
_GLOBAL_NAMES = """
Array ArrayBuffer AggregateError Atomics BigInt Boolean DataView Date Error EvalError
RangeError ReferenceError SyntaxError TypeError URIError Float32Array Float64Array Int8Array
Int16Array Int32Array Uint8Array Uint8ClampedArray Uint16Array Uint32Array BigInt64Array
BigUint64Array Map Set WeakMap WeakSet WeakRef FinalizationRegistry Number Object Promise Proxy
RegExp String Symbol Function Intl JSON Math Reflect globalThis console decodeURI
decodeURIComponent encodeURI encodeURIComponent eval isFinite isNaN parseFloat parseInt
setTimeout clearTimeout setInterval clearInterval setImmediate clearImmediate queueMicrotask
structuredClone fetch Request Response Headers URL URLSearchParams AbortController
AbortSignal TextEncoder TextDecoder Blob File FormData Event EventTarget CustomEvent WebSocket
Worker process Buffer window document navigator localStorage sessionStorage location history
alert confirm prompt requestAnimationFrame cancelAnimationFrame performance crypto atob btoa
require module exports __dirname __filename HTMLElement Element Node NodeList
Partial Required Readonly Record Pick Omit Exclude Extract NonNullable Parameters ReturnType
InstanceType ConstructorParameters Awaited PromiseLike ReadonlyArray ReadonlyMap ReadonlySet
Iterable Iterator IterableIterator AsyncIterable AsyncIterator Generator AsyncGenerator
ArrayLike PropertyKey ThisType Uppercase Lowercase Capitalize Uncapitalize
"""
GLOBALS = frozenset(_GLOBAL_NAMES.split())

Target = Sym | str  # a definition or module, or the qualified name of a known external


def module_name(path: str, package: str, layout: RepoLayout) -> str:
    """``src/utils/math.ts`` -> ``src/utils/math``; ``lib/index.d.ts`` -> ``lib/index``."""
    for suffix in _DECLARATION_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    stem, ext = posixpath.splitext(path)
    return stem if ext and stem else path


def separator(language: str) -> str:
    return "."


def qualifier(module: str, package: str) -> str:
    return module


def is_relative(spec: str) -> bool:
    return spec.startswith(("./", "../", "/")) or spec in (".", "..")


@dataclass(frozen=True, slots=True)
class _Binding:
    spec: str  # the module as written
    member: str | None  # None: the module itself; "default": its default export


class _Resolver(FileScopes):
    def __init__(self, unit: FileUnit, table: SymbolTable) -> None:
        super().__init__(unit, table)
        # Functions assigned to an object (`obj.f = ...`, `{f() {}}`) bind no name in scope.
        # (Rebuilt, not filtered: the first of two same-named definitions may be such a
        # function, and the second one the file's own `function sendfile() {}`.)
        self.scoped = {}
        for i, d in enumerate(self.defs):
            if "this" not in (d.extra or ()):
                self.scoped.setdefault((d.parent, d.name), i)
        self.bindings: dict[str, _Binding] = {}
        for imp in unit.facts.imports:
            local = imp.alias if imp.name is None else (imp.alias or imp.name)
            if imp.kind != "reexport" and local:
                self.bindings[local] = _Binding(imp.module, imp.name)
        self._files: dict[tuple[str, str], str | None] = {}
        self._exports: dict[tuple[str, str], Target | None] = {}
        self.types = Types(self)
        self._called_on: dict[tuple[int, str], frozenset[str]] | None = None

    # -- files and exports -------------------------------------------------------------
    def resolve_file(self, spec: str, from_path: str) -> str | None:
        """The indexed file a relative specifier names, or None."""
        key = (posixpath.dirname(from_path), spec)
        if key not in self._files:
            self._files[key] = self._find_file(spec, key[0]) if is_relative(spec) else None
        return self._files[key]

    def _find_file(self, spec: str, directory: str) -> str | None:
        base = posixpath.normpath(spec.lstrip("/") if spec.startswith("/")
                                  else posixpath.join(directory, spec))
        if base == ".":
            base = ""
        if base.startswith("../") or base == "..":
            return None
        stem, ext = posixpath.splitext(base)
        candidates = [base] if base else []
        candidates += [f"{stem}{e}" for e in _EMITTED.get(ext, ())]
        candidates += [f"{base}{e}" for e in EXTENSIONS]
        prefix = f"{base}/index" if base else "index"
        candidates += [f"{prefix}{e}" for e in EXTENSIONS]
        for candidate in candidates:
            if candidate and self.table.file_module(candidate) is not None:
                return candidate
        return None

    def missing(self, spec: str, from_path: str) -> str:
        """The external name for a specifier that resolves to no indexed file."""
        if not is_relative(spec):
            return spec
        return posixpath.normpath(posixpath.join(posixpath.dirname(from_path), spec))

    def export(self, path: str, name: str, depth: int = 0) -> Target | None:
        """What file ``path`` exports as ``name`` (``default``: its default export)."""
        key = (path, name)
        if key not in self._exports:
            self._exports[key] = None  # guards against re-export cycles
            self._exports[key] = self._export(path, name, depth)
        return self._exports[key]

    def _export(self, path: str, name: str, depth: int) -> Target | None:
        module = self.table.file_module(path)
        if module is None:
            return None
        found: Target | None
        if name != "default":
            found = self._top_level(module, name)
            if found is not None:
                return found
        facts = self.table.facts(path)
        if facts is None:
            return None
        for d in facts.definitions:
            if d.parent >= 0 or not d.extra:
                continue
            if (d.extra.get("default_export") if name == "default"
                    else name in d.extra.get("exported_as", ())):
                found = self._top_level(module, d.name)
                if found is not None:
                    return found
        if depth >= MAX_DEPTH:
            return None
        fallback: Target | None = None
        for imp in facts.imports:
            if imp.kind != "reexport":
                continue
            if imp.wildcard and name != "default":
                found = self._through(imp, path, name, depth)
                if isinstance(found, str):
                    fallback = fallback or found  # `export * from 'pkg'`: only a guess
                    continue
            elif not imp.wildcard and (imp.alias or imp.name) == name:
                found = self._through(imp, path, imp.name, depth)
            else:
                continue
            if found is not None:
                return found
        return fallback

    def _through(self, imp: Import, from_path: str, member: str | None,
                 depth: int) -> Target | None:
        """``member`` of the module a re-export names (None: the module itself)."""
        target = self.resolve_file(imp.module, from_path)
        if target is None:
            if is_relative(imp.module):
                return None
            return imp.module if member in (None, "default") else f"{imp.module}.{member}"
        if member is None:
            return self.table.file_module(target)
        found = self.export(target, member, depth + 1)
        if found is None and member == "default":
            return self.table.file_module(target)
        return found

    def _top_level(self, module: Sym, name: str) -> Sym | None:
        syms = self.table.by_qname(f"{module.qualified_name}.{name}")
        own = [s for s in syms if s.path == module.path and s.parent == module.id]
        return first_of(own) or first_of(syms)

    def binding_target(self, b: _Binding, from_path: str | None = None,
                       ) -> tuple[Target | None, str]:
        """What an import binding (of this file, or of ``from_path``) refers to, else the
        external name to record."""
        from_path = from_path or self.unit.path
        path = self.resolve_file(b.spec, from_path)
        member = b.member if b.member != "default" else None
        if path is None:
            written = self.missing(b.spec, from_path)
            qname = f"{written}.{member}" if member else written
            return (None, qname) if is_relative(b.spec) else (qname, "")
        module = self.table.file_module(path)
        if b.member is None:
            return module, ""
        found = self.export(path, b.member)
        if found is None and b.member == "default":
            return module, ""
        qname = f"{module.qualified_name}.{b.member}" if module else b.member
        return found, qname

    def member_of(self, target: Target, attr: str) -> Target | None:
        if isinstance(target, str):
            return f"{target}.{attr}"
        if target.kind == "module":
            found = self.export(target.path, attr)
            if found is None:  # CommonJS: a class or an object assigned to module.exports
                default = self.export(target.path, "default")
                if isinstance(default, Sym) and default.kind != "module":
                    found = self.member_of(default, attr)
            return found
        if target.kind in CLASS_LIKE:
            return self.method(target, attr)
        # a namespace's member, or one assigned to an object or a function (`app.f = ...`)
        return first_of(self.table.by_qname(f"{target.qualified_name}.{attr}"))

    # -- scopes and classes ------------------------------------------------------------
    def method(self, class_sym: Sym, name: str) -> Sym | None:
        """``name`` on a class or its bases, breadth first."""
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
            queue.extend(self.bases(cls))
        return None

    def bases(self, cls: Sym) -> list[Sym]:
        """A class's or interface's bases in the project (an interface may extend an object
        type: `type A = {f(): void}`)."""
        out = []
        for base_id in self.table.bases(cls.id):
            base = self.table.by_id(base_id)
            if base is not None and (base.kind in CLASS_LIKE or base.kind == "type_alias"):
                out.append(base)
        return out

    def this_member(self, head: str, scope: int, name: str) -> Sym | None:
        """``this.name`` (``super.name``) in definition ``scope``: a method of the enclosing
        class (or of its bases), or a member of the object a function was assigned to
        (``app.init = function () {}``, ``X.prototype.f = ...``, ``const X = {f() {}}``)."""
        i = scope
        while i >= 0:
            d = self.defs[i]
            if d.kind in CLASS_LIKE:
                cls = self._sym(i)
                for target in (self.bases(cls) if head == "super" else [cls]):
                    found = self.method(target, name)
                    if found is not None:
                        return found
                return None
            owner = d.extra.get("this") if d.extra else None
            if owner is not None:
                return self.owner_member(owner, name) if head == "this" else None
            if d.parent < 0 and d.kind == "function" and head == "this":
                # a constructor function: `function X() { this.f() }`, X.prototype.f = ...
                return first_of(self.table.by_qname(f"{self.unit.def_qnames[i]}.{name}"),
                                METHOD_TARGETS)
            i = d.parent
        return None

    def owner_member(self, owner: str, name: str) -> Sym | None:
        """Member ``name`` of the object ``owner`` names in this file (``""``: the module)."""
        module = self.unit.module
        prefix = f"{module}.{owner}" if owner else module
        found = first_of(self.table.by_qname(f"{prefix}.{name}"), METHOD_TARGETS)
        if found is not None or not owner:
            return found
        head, *rest = owner.split(".")
        target: Target | None = self.local(head, -1)
        if target is None and head in self.bindings:
            target = self.binding_target(self.bindings[head])[0]
        for attr in rest:
            target = self.member_of(target, attr) if target is not None else None
        if isinstance(target, Sym) and target.kind != "module":
            reached = self.member_of(target, name)
            return reached if isinstance(reached, Sym) else None
        return None

    # -- names -------------------------------------------------------------------------
    def resolve_name(self, src: str, kind: EdgeKind, name: str, qualifier: str | None,
                     scope: int, line: int, col: int,
                     kinds: tuple[str, ...] | frozenset[str] = CALLABLE_TARGETS,
                     ) -> list[Edge]:
        calls = kind == EdgeKind.CALLS
        if qualifier is None:
            if name == "super":
                return self._super_call(src, scope, line, col)
            if calls and self.types.var(name, scope) is not None:
                # a parameter or a local holding a function: not a definition's name
                return [external(self.unit.language, src, kind, name, line, col, name)]
            found = self.local(name, scope)
            if found is not None:
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
            binding = self.bindings.get(name)
            if binding is not None:
                return self._via_binding(src, kind, binding, [], line, col, name)
            if name in GLOBALS:
                return [external(self.unit.language, src, kind, f"{GLOBAL_PREFIX}.{name}", line,
                                 col, name, EXTERNAL_KNOWN)]
            return guess(self.unit.language, src, kind, self.table, name, line, col, kinds)
        literal = _LITERALS.get(qualifier[:1])
        if literal is not None and calls:  # [1, 2].map(f), 'a b'.split(' ')
            return [external(self.unit.language, src, kind, f"{GLOBAL_PREFIX}.{literal}.{name}",
                             line, col, name, EXTERNAL_KNOWN)]
        head, *rest = qualifier.split(".")
        declared = self.types.declared_this(scope) if head == "this" and calls else None
        if declared is not None and not rest:  # function f(this: Foo) { this.g() }
            edges = self._typed_call(src, kind, Typed(declared), name, line, col)
            if edges:
                return edges
        if head in ("this", "super") and not rest:
            found = self.this_member(head, scope, name)
            if found is not None:
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
            this = self.types.this_type(scope) if head == "this" else None
            outside = self.types.external_base(this, name) \
                if isinstance(this, Sym) and this.kind in CLASS_LIKE else None
            if outside is not None:  # a method of an external base class
                return [external(self.unit.language, src, kind, outside, line, col, name,
                                 EXTERNAL_KNOWN)]
            if isinstance(this, Sym) and self.types.has_field(this, name):
                # `this.handler()` calls a property: no definition of that name
                return [external(self.unit.language, src, kind,
                                 f"{this.qualified_name}.{name}", line, col, name)]
            return self._guess_method(src, kind, name, qualifier, scope, line, col, name)
        if qualifier in ("exports", "module.exports"):  # CommonJS: this module's member
            found = self.owner_member("", name)
            if found is not None:
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
        typed = self.types.receiver(qualifier, scope) if calls else None
        if isinstance(typed, Typed):
            edges = self._typed_call(src, kind, typed, name, line, col)
            if edges:
                return edges
        elif typed is UNKNOWN:  # a local of unknown type: only a guess
            return self._guess_method(src, kind, name, qualifier, scope, line, col, name)
        binding = self.bindings.get(head)
        if binding is not None:
            return self._via_binding(src, kind, binding, [*rest, name], line, col, name)
        local = self.local(head, scope)
        if local is not None:
            reached: Target | None = local
            for attr in [*rest, name]:
                reached = self.member_of(reached, attr) if reached is not None else None
            if isinstance(reached, Sym):
                return [link(src, kind, reached, SAME_SCOPE, line, col, name)]
        if head in GLOBALS:
            return [external(self.unit.language, src, kind, f"{GLOBAL_PREFIX}.{qualifier}.{name}",
                             line, col, name, EXTERNAL_KNOWN)]
        simple = head not in ("this", "super") and _SIMPLE_RECEIVER.match(qualifier)
        return self._guess_method(src, kind, name, qualifier, scope, line, col,
                                  f"{qualifier}.{name}" if simple else name)

    def _guess_method(self, src: str, kind: EdgeKind, name: str, receiver: str, scope: int,
                      line: int, col: int, written: str) -> list[Edge]:
        """A call on a receiver of unknown type: a guess only from evidence (common.py)."""
        language = self.unit.language
        if self._called_on is None:
            self._called_on = called_on(self.unit.facts.calls)
        called = self._called_on.get((scope, receiver), frozenset({name}))
        best = evidence_guess(self.table, language, name, called, GUESS_TARGETS, self.method)
        if not best:
            return [external(language, src, kind, written, line, col, name)]
        share = GUESS_CONFIDENCE / len(best)
        return [link(src, kind, s, NAME_MATCH, line, col, name, share) for s in best]

    def _typed_call(self, src: str, kind: EdgeKind, typed: Typed, name: str, line: int,
                    col: int) -> list[Edge]:
        """A method call on a receiver of known type; [] to resolve it as before."""
        found = self.types.method(typed.ref, name)
        if isinstance(found, Sym):
            if typed.this_only:  # `const self = this; self.f()`
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
            return [link(src, kind, found, INFERRED, line, col, name)]
        if isinstance(found, str):  # a method of a type outside the project
            return [external(self.unit.language, src, kind, found, line, col, name,
                             EXTERNAL_KNOWN)]
        ref = typed.ref
        if isinstance(ref, Sym) and ref.kind in CLASS_LIKE:  # not a method: a property
            return [external(self.unit.language, src, kind, f"{ref.qualified_name}.{name}",
                             line, col, name)]
        return []

    def _super_call(self, src: str, scope: int, line: int, col: int) -> list[Edge]:
        """``super(...)``: the base class's constructor (or the base class)."""
        cls_index = self.enclosing_class(scope)
        if cls_index < 0:
            return []
        for base in self.bases(self._sym(cls_index)):
            found = self.method(base, "constructor") or base
            return [link(src, EdgeKind.CALLS, found, SAME_SCOPE, line, col, "super")]
        for ref in self.unit.facts.references:  # an unresolved (external) base
            if ref.kind == "inherits" and ref.source == cls_index:
                return self.resolve_name(src, EdgeKind.CALLS, ref.name, ref.qualifier,
                                         self.defs[cls_index].parent, line, col,
                                         frozenset(CLASS_LIKE))
        return []

    def _via_binding(self, src: str, kind: EdgeKind, binding: _Binding, attrs: list[str],
                     line: int, col: int, name: str) -> list[Edge]:
        target, missing = self.binding_target(binding)
        if target is None:
            return [external(self.unit.language, src, kind, ".".join([missing, *attrs]), line,
                             col, name)]
        confidence: float | None = None
        if isinstance(target, Sym) and target.kind == "module" and binding.member == "default":
            confidence = DEFAULT_MODULE_CONFIDENCE
        for i, attr in enumerate(attrs):
            nxt = self.member_of(target, attr)
            if nxt is None:
                if isinstance(target, Sym) and target.kind in ("module", "namespace",
                                                               *CLASS_LIKE):
                    qname = ".".join([target.qualified_name, *attrs[i:]])
                    return [external(self.unit.language, src, kind, qname, line, col, name)]
                return [external(self.unit.language, src, kind, name, line, col, name)]
            target, confidence = nxt, None
        if not attrs and kind == EdgeKind.CALLS and isinstance(target, Sym) \
                and target.kind == "module":
            default = self.export(target.path, "default")  # const f = require('./f'); f()
            if default is not None:
                target = default
        return [self._edge(src, kind, target, line, col, name, confidence)]

    def _edge(self, src: str, kind: EdgeKind, target: Target, line: int, col: int, name: str,
              confidence: float | None = None) -> Edge:
        if isinstance(target, str):
            return external(self.unit.language, src, kind, target, line, col, name, EXTERNAL_KNOWN)
        return link(src, kind, target, IMPORT, line, col, name, confidence)

    # -- imports -----------------------------------------------------------------------
    def import_edge(self, imp: Import) -> Edge:
        src = self.unit.source_id(imp.source)
        if imp.name is None:
            path = self.resolve_file(imp.module, self.unit.path)
            module = self.table.file_module(path) if path is not None else None
            if module is not None:
                return link(src, EdgeKind.IMPORTS, module, IMPORT, imp.line, 1, imp.module)
            written = self.missing(imp.module, self.unit.path)
            certainty = EXTERNAL_UNKNOWN if is_relative(imp.module) else EXTERNAL_KNOWN
            return external(self.unit.language, src, EdgeKind.IMPORTS, written, imp.line, 1,
                            imp.module, certainty)
        binding = _Binding(imp.module, imp.name)
        target, missing = self.binding_target(binding)
        if target is None:
            return external(self.unit.language, src, EdgeKind.IMPORTS, missing, imp.line, 1,
                            imp.name)
        confidence: float | None = None
        if isinstance(target, Sym) and target.kind == "module" and imp.name == "default":
            confidence = DEFAULT_MODULE_CONFIDENCE
        return self._edge(src, EdgeKind.IMPORTS, target, imp.line, 1, imp.name, confidence)


_TYPE_EDGES = {"inherits": EdgeKind.INHERITS, "implements": EdgeKind.IMPLEMENTS}


def resolve_types(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    r = _Resolver(unit, table)
    edges: list[Edge] = []
    for ref in unit.facts.references:
        kind = _TYPE_EDGES.get(ref.kind)
        if kind is not None and ref.source >= 0:
            edges += r.resolve_name(unit.source_id(ref.source), kind, ref.name, ref.qualifier,
                                    unit.facts.definitions[ref.source].parent, ref.line,
                                    ref.col, frozenset(CLASS_LIKE))
    return edges


def resolve_uses(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    r = _Resolver(unit, table)
    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    for imp in unit.facts.imports:
        edge = r.import_edge(imp)
        if (edge.src, edge.dst) not in seen:
            seen.add((edge.src, edge.dst))
            edges.append(edge)
    for call in unit.facts.calls:
        edges += r.resolve_name(unit.source_id(call.caller), EdgeKind.CALLS, call.name,
                                call.receiver, call.caller, call.line, call.col)
    for ref in unit.facts.references:
        if ref.kind == "use":
            edges += r.resolve_name(unit.source_id(ref.source), EdgeKind.REFERENCES, ref.name,
                                    ref.qualifier, ref.source, ref.line, ref.col, USE_TARGETS)
    return edges

