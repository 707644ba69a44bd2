"""Receiver types for the JavaScript/TypeScript resolver: what ``x`` is in ``x.run()``.

The parse hook (``parse/langs/js_types.py``) records the types it can read in each
definition's ``extra``: parameters and locals (``vars``), class fields (``fields``), return
types (``returns``) and file-level variables' types (``type``). Here a receiver expression
(``svc``, ``this.svc``, ``this.make().svc``, ``f()``) is typed from them, step by step:

- a type name is looked up in the file that wrote it: its definitions, its imports, then
  the language's globals (``Map`` -> ``globalThis.Map``); primitives are their wrappers
  (``string`` -> ``globalThis.String``);
- a field is looked up in the class and its project bases (its declared type, or a getter's
  return type); a method call gives the method's return type (``this`` keeps the receiver);
- ``=expr`` types (``const s = this.make()``) are inferred in their own scope.

A receiver typed as a project class resolves the call to that class's method (through its
bases) as ``inferred``; a type outside the project (a global, an imported package's type, or
a project class's external base) gives a known external edge ``<Type>.<method>``. A local
without a known type hides a file-level name of the same name: the receiver is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codegraph.graph.symbols import Sym
from codegraph.parse.facts import CLASS_LIKE, Definition

if TYPE_CHECKING:
    from codegraph.graph.resolvers.javascript import _Resolver

GLOBAL = "globalThis"
MAX_DEPTH = 8  # inference steps (aliases of aliases, chained calls)
MAX_NESTED = 24  # receivers typed through one another at once
_WRAPPER = {"string": "String", "number": "Number", "boolean": "Boolean", "bigint": "BigInt",
            "symbol": "Symbol", "Array": "Array", "Function": "Function", "RegExp": "RegExp"}
_IDENT = re.compile(r"[A-Za-z_$#][\w$#]*")


class _Unknown:
    """A receiver known to be a local of unknown type (it hides file-level names)."""


UNKNOWN = _Unknown()


@dataclass(frozen=True, slots=True)
class Union:
    """``A | B``: a member is the one that has the method (or the field)."""

    members: tuple[Sym | str | Generic, ...]


@dataclass(frozen=True, slots=True)
class Generic:
    """A container of the language (``globalThis.Map``) and what it holds."""

    base: str
    args: tuple[TypeRef | None, ...]


TypeRef = Sym | str | Union | Generic  # a project class, function or object; an external type
# What a container's methods give: (container, method) -> the argument it holds, or -1: an
# iterator (keys(), values(), entries()), -2: a container of the same (filter(), slice()).
_GIVES = {
    **{("Map", m): 1 for m in ("get",)}, **{("ReadonlyMap", m): 1 for m in ("get",)},
    **{("WeakMap", m): 1 for m in ("get",)},
    **{("Array", m): 0 for m in ("find", "pop", "shift", "at")},
    **{(c, m): -1 for c in ("Map", "ReadonlyMap", "Set", "ReadonlySet", "Array")
       for m in ("keys", "values", "entries")},
    **{("Array", m): -2 for m in ("filter", "slice", "concat", "reverse", "sort", "splice")},
}
_ELEMENT = {"Array": 0, "Set": 0, "ReadonlySet": 0, "Map": 1, "ReadonlyMap": 1}


@dataclass(frozen=True, slots=True)
class Typed:
    """A receiver's type; ``this_only``: the receiver is ``this`` under another name."""

    ref: TypeRef
    this_only: bool = False


def split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside ``<...>``."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += {"<": 1, ">": -1}.get(c, 0)
        if c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def steps(expr: str) -> list[str] | None:
    """``this.a(x,y)!.b`` -> ``["this", ".a", "()", ".b"]``; None if not a plain chain."""
    match = _IDENT.match(expr)
    if match is None:
        return None
    out = [match.group(0)]
    i, n = match.end(), len(expr)
    while i < n:
        c = expr[i]
        if c == "!":
            i += 1
        elif c in ".?":
            if c == "?":
                if not expr.startswith("?.", i):
                    return None
                i += 1
                if i + 1 < n and expr[i + 1] == "(":  # f?.()
                    i += 1
                    continue
            match = _IDENT.match(expr, i + 1)
            if match is None:
                return None
            out.append("." + match.group(0))
            i = match.end()
        elif c == "(":
            depth = 0
            while i < n:
                depth += {"(": 1, ")": -1}.get(expr[i], 0)
                if depth == 0:
                    break
                i += 1
            if depth != 0:
                return None
            out.append("()")
            i += 1
        else:
            return None
    return out


class Types:
    """Types receivers for one file's resolver."""

    def __init__(self, r: _Resolver) -> None:
        self.r = r
        self.defs = r.defs
        self.memo: dict[tuple[str, int], Typed | _Unknown | None] = {}
        self._inferring: set[tuple[str, int]] = set()  # receivers being typed, to stop cycles
        self._cuts = 0

    # -- scopes ------------------------------------------------------------------------
    def var(self, name: str, scope: int) -> tuple[str, int] | None:
        """The declared type of a local or parameter visible from ``scope`` and the scope
        that declares it; None when ``name`` is no local (a definition comes first in its
        own scope)."""
        while scope >= 0:
            d = self.defs[scope]
            if d.kind not in CLASS_LIKE:
                if (scope, name) in self.r.scoped:
                    return None
                found = d.extra.get("vars") if d.extra else None
                if found and name in found:
                    return str(found[name]), scope
            scope = d.parent
        return None

    def declared_this(self, scope: int) -> TypeRef | None:
        """The type of ``this`` declared by a ``this:`` parameter of a function around
        ``scope`` (in a function that has one, not in a class's)."""
        i = scope
        while i >= 0:
            d = self.defs[i]
            if d.kind in CLASS_LIKE or (d.extra and d.extra.get("this") is not None):
                return None
            found = d.extra.get("vars") if d.extra else None
            if found and found.get("this"):
                return self._text(str(found["this"]), self.r.unit.path, i, 0)
            i = d.parent
        return None

    def this_type(self, scope: int) -> TypeRef | None:
        """What ``this`` is in definition ``scope`` (see _Resolver.this_member)."""
        declared = self.declared_this(scope)
        if declared is not None:
            return declared
        i = scope
        while i >= 0:
            d = self.defs[i]
            if d.kind in CLASS_LIKE:
                return self.r._sym(i)
            owner = d.extra.get("this") if d.extra else None
            if owner is not None:
                if not owner:
                    return self.r.unit.module_sym()
                head, *rest = owner.split(".")
                found: Sym | None = self.r.local(head, -1)
                for attr in rest:
                    reached = self.r.member_of(found, attr) if found is not None else None
                    found = reached if isinstance(reached, Sym) else None
                return found
            if d.parent < 0 and d.kind == "function":
                return self.r._sym(i)
            i = d.parent
        return None

    # -- declarations ------------------------------------------------------------------
    def definition(self, sym: Sym) -> Definition | None:
        """The parsed definition of a symbol (of any file)."""
        memo = self.r.table.memo()
        key = ("js_definitions", sym.path)
        index: dict[tuple[int, int, str], Definition] | None = memo.get(key)
        if index is None:
            facts = self.r.table.facts(sym.path)
            index = {(d.line, d.col, d.name): d for d in facts.definitions} if facts else {}
            memo[key] = index
        return index.get((sym.line, sym.col, sym.name))

    def declared(self, sym: Sym, key: str) -> str:
        d = self.definition(sym)
        value = d.extra.get(key) if d is not None and d.extra else None
        return value if isinstance(value, str) else ""

    def named(self, text: str, path: str) -> TypeRef | None:
        """A type name as written in file ``path`` (or a union of them)."""
        members = split_top(text, "|")
        if len(members) > 1:
            refs = [self.named(t, path) for t in members]
            known = tuple(m for m in refs if isinstance(m, (Sym, str, Generic)))
            return Union(known) if len(known) == len(refs) else None
        if text.startswith("Promise<") or text == "Promise":
            return f"{GLOBAL}.Promise"
        if text.endswith(">") and "<" in text:  # Map<K,V>, Array<T>
            base, _, args = text[:-1].partition("<")
            return Generic(f"{GLOBAL}.{base}", tuple(
                self.named(a, path) if a != "?" else None for a in split_top(args, ",")))
        wrapper = _WRAPPER.get(text)
        if wrapper is not None:
            return f"{GLOBAL}.{wrapper}"
        head, *rest = text.split(".")
        target: Sym | str | None = None
        module = self.r.table.file_module(path)
        if module is not None:
            own = [s for s in self.r.table.by_qname(f"{module.qualified_name}.{head}")
                   if s.path == path and s.parent == module.id]
            target = own[0] if own else None
        if target is None:
            target = self._imported(head, path)
        if target is None:
            from codegraph.graph.resolvers.javascript import GLOBALS
            if head in GLOBALS:
                target = f"{GLOBAL}.{head}"
        for attr in rest:
            target = self.r.member_of(target, attr) if target is not None else None
        if isinstance(target, Sym) and target.kind in ("enum", "constant"):
            return None
        return target

    def _imported(self, head: str, path: str) -> Sym | str | None:
        if path == self.r.unit.path:
            binding = self.r.bindings.get(head)
            return self.r.binding_target(binding)[0] if binding is not None else None
        facts = self.r.table.facts(path)
        if facts is None:
            return None
        from codegraph.graph.resolvers.javascript import _Binding
        for imp in facts.imports:
            local = imp.alias if imp.name is None else (imp.alias or imp.name)
            if imp.kind != "reexport" and local == head:
                return self.r.binding_target(_Binding(imp.module, imp.name), path)[0]
        return None

    # -- members -----------------------------------------------------------------------
    def field(self, owner: TypeRef, attr: str) -> tuple[str, str, TypeRef] | None:
        """The declared type of ``owner.attr``: (type, file that wrote it, owner there)."""
        if isinstance(owner, Union):
            found = {f for f in (self.field(m, attr) for m in owner.members) if f is not None}
            return found.pop() if len(found) == 1 else None
        if not isinstance(owner, Sym):
            return None
        queue, seen = [owner], set[str]()
        while queue:
            cls = queue.pop(0)
            if cls.id in seen:
                continue
            seen.add(cls.id)
            d = self.definition(cls)
            fields = d.extra.get("fields") if d is not None and d.extra else None
            if fields and fields.get(attr):
                return str(fields[attr]), cls.path, cls
            if cls.kind in CLASS_LIKE or cls.kind == "type_alias":
                queue.extend(self.r.bases(cls))
        member = self.r.member_of(owner, attr)
        if isinstance(member, Sym) and member.kind in ("method", "function", "constructor"):
            d = self.definition(member)
            if d is not None and d.extra and d.extra.get("get"):
                returns = d.extra.get("returns")
                return (str(returns), member.path, owner) if returns else None
            return "Function", member.path, owner
        return None

    def has_field(self, owner: Sym, attr: str) -> bool:
        """Whether the class (or object, or constructor function) or one of its bases
        declares or assigns a field ``attr`` (of a known type or not)."""
        queue, seen = [owner], set[str]()
        while queue:
            cls = queue.pop(0)
            if cls.id in seen:
                continue
            seen.add(cls.id)
            d = self.definition(cls)
            fields = d.extra.get("fields") if d is not None and d.extra else None
            if fields and attr in fields:
                return True
            if cls.kind in CLASS_LIKE or cls.kind == "type_alias":
                queue.extend(self.r.bases(cls))
        return False

    def method(self, owner: TypeRef, name: str) -> Sym | str | None:
        """``owner.name``: a project method, an external one's name, or None."""
        if isinstance(owner, Union):  # the one member that has it
            found = [self.method(t, name) for t in owner.members]
            if any(m is None and isinstance(t, Sym) and t.kind not in CLASS_LIKE
                   for m, t in zip(found, owner.members, strict=True)):
                return None  # a member whose methods are not known (a type alias)
            # (an external member may have it too: its methods are not known here)
            options = {m for m in found if m is not None}
            return options.pop() if len(options) == 1 else None
        if isinstance(owner, str):
            return f"{owner}.{name}"
        if isinstance(owner, Generic):
            return f"{owner.base}.{name}"
        if owner.kind in CLASS_LIKE:
            own = self.r.method(owner, name)
            return own if own is not None else self.external_base(owner, name)
        member = self.r.member_of(owner, name)
        return member if isinstance(member, Sym) else None

    def external_base(self, cls: Sym, name: str) -> str | None:
        """``<Base>.<name>`` when ``name`` is not in the project's part of the class's
        bases and one of them is outside the project."""
        queue, seen = [cls], set[str]()
        while queue:
            current = queue.pop(0)
            if current.id in seen:
                continue
            seen.add(current.id)
            facts = self.r.table.facts(current.path)
            d = self.definition(current)
            if facts is None or d is None:
                continue
            index = facts.definitions.index(d)
            for ref in facts.references:
                if ref.kind == "inherits" and ref.source == index:
                    written = f"{ref.qualifier}.{ref.name}" if ref.qualifier else ref.name
                    base = self.named(written, current.path)
                    if isinstance(base, str):
                        return f"{base}.{name}"
            queue.extend(self.r.bases(current))
        return None

    # -- receivers ---------------------------------------------------------------------
    def receiver(self, expr: str, scope: int) -> Typed | _Unknown | None:
        """The type of a call's receiver: Typed, UNKNOWN (a local of unknown type), or
        None (not typed here: the caller resolves it as before)."""
        key = (expr, scope)
        if key in self.memo:
            return self.memo[key]
        if key in self._inferring or len(self._inferring) >= MAX_NESTED:
            self._cuts += 1  # `var x = y; var y = x`, or too deep: no type from there
            return UNKNOWN
        cuts = self._cuts
        self._inferring.add(key)
        try:
            found = self._receiver(expr, scope)
        finally:
            self._inferring.discard(key)
        if self._cuts == cuts:  # an answer cut short depends on where it was asked
            self.memo[key] = found
        return found

    def _receiver(self, expr: str, scope: int) -> Typed | _Unknown | None:
        parts = steps(expr)
        if parts is None:
            return None
        head, rest = parts[0], parts[1:]
        if head == "this":
            return self._walk(self.this_type(scope), rest, scope, 0) if rest else None
        declared = self.var(head, scope)
        if declared is None:  # a definition or an import
            return self._from_name(head, rest, scope)
        text, where = declared
        if text == "this" and not rest:
            this = self.this_type(where)
            return Typed(this, this_only=True) if this is not None else UNKNOWN
        start = self._text(text, self.r.unit.path, where, 0)
        if start is None:
            return UNKNOWN
        return self._walk(start, rest, where, 0) or UNKNOWN

    def _from_name(self, head: str, rest: list[str], scope: int) -> Typed | None:
        """``x`` (a typed file-level variable), ``f().y``, ``Foo.create().y``: typed from a
        definition or an import. Other paths (``ns.f``, ``Foo``) are left to the resolver."""
        target: Sym | None = self.r.local(head, scope)
        if target is None and head in self.r.bindings:
            found = self.r.binding_target(self.r.bindings[head])[0]
            target = found if isinstance(found, Sym) else None
        if target is None:
            return None
        if target.kind in ("variable", "constant") and not (rest and rest[0] == "()"):
            text = self.declared(target, "type")
            start = self._text(text, target.path, -1, 0) if text else None
            return self._walk(start, rest, -1, 0) if start is not None else None
        if "()" not in rest:
            return None
        return self._walk(target, rest, scope, 0, static=True)

    def _text(self, text: str, path: str, scope: int, depth: int) -> TypeRef | None:
        """A declared type (see the parse hook's doc) to a reference."""
        if not text or depth > MAX_DEPTH:
            return None
        if text == "this":
            return self.this_type(scope) if path == self.r.unit.path else None
        if text.startswith("="):
            if path != self.r.unit.path:
                return self._called_elsewhere(text[1:], path, depth)
            expr = text[1:]
            if expr.startswith("each:"):  # xs.forEach(x => ...)
                return self.element(self._expr(expr[len("each:"):], scope, depth + 1))
            awaited = expr.startswith("await:")
            if awaited:
                expr = expr[len("await:"):]
            found = self._expr(expr, scope, depth + 1, awaited)
            return found
        return self.named(text, path)

    def _called_elsewhere(self, expr: str, path: str, depth: int) -> TypeRef | None:
        """``=f()`` written in another file: the return type of the ``f`` it names."""
        if not expr.endswith("()") or not _IDENT.fullmatch(expr[:-2]):
            return None  # others are not followed
        name = expr[:-2]
        module = self.r.table.file_module(path)
        target: Sym | str | None = None
        if module is not None:
            own = [s for s in self.r.table.by_qname(f"{module.qualified_name}.{name}")
                   if s.path == path and s.parent == module.id]
            target = own[0] if own else None
        target = target or self._imported(name, path)
        if not isinstance(target, Sym):
            return None
        returns = self.declared(target, "returns")
        if not returns or returns.startswith("=") or returns == "this":
            return None
        return self._text(returns, target.path, -1, depth + 1)

    def _expr(self, expr: str, scope: int, depth: int, awaited: bool = False,
              ) -> TypeRef | None:
        if awaited:
            return self._awaited(expr, scope, depth)
        parts = steps(expr)
        if parts == ["this"]:
            return self.this_type(scope)
        result = self.receiver(expr, scope)
        return result.ref if isinstance(result, Typed) else None

    def _awaited(self, expr: str, scope: int, depth: int) -> TypeRef | None:
        """``await f()``, ``await x.m()``: the type a function's or method's Promise holds."""
        parts = steps(expr)
        if parts is None or len(parts) < 2 or parts[-1] != "()":
            return None
        if len(parts) == 2:
            if self.var(parts[0], scope) is not None:
                return None  # a local holding a function
            callee = self.r.local(parts[0], scope)
            if callee is None and parts[0] in self.r.bindings:
                found = self.r.binding_target(self.r.bindings[parts[0]])[0]
                callee = found if isinstance(found, Sym) else None
        else:
            owner = self._expr("".join(parts[:-2]), scope, depth + 1)
            method = self.method(owner, parts[-2][1:]) if owner is not None else None
            callee = method if isinstance(method, Sym) else None
        if callee is None:
            return None
        returns = self.declared(callee, "returns")
        if returns.startswith("Promise<") and returns.endswith(">"):
            return self._text(returns[len("Promise<"):-1], callee.path, -1, depth + 1)
        return None

    def _walk(self, current: TypeRef | None, rest: list[str], scope: int, depth: int,
              static: bool = False) -> Typed | None:
        """Follow ``.x`` and ``()`` steps from a type (``static``: from a definition, whose
        call is a call of it, not of its instances)."""
        i = 0
        while current is not None and i < len(rest):
            step = rest[i]
            calls = i + 1 < len(rest) and rest[i + 1] == "()"
            if step == "()":
                if not (static and isinstance(current, Sym)
                        and (current.kind in ("function", "method")
                             or self.declared(current, "returns"))):
                    return None
                current = self._returns(current, current, depth)
                static = False
                i += 1
                continue
            attr = step[1:]
            if calls and isinstance(current, Generic):  # m.get(k), xs.filter(f)
                current = self.gives(current, attr)
                i += 2
                static = False
                continue
            if calls:
                if static and isinstance(current, Sym) and current.kind in CLASS_LIKE:
                    member: Sym | str | None = self.r.method(current, attr)
                elif static and isinstance(current, Sym):
                    reached = self.r.member_of(current, attr)
                    member = reached if isinstance(reached, Sym) else None
                else:
                    member = self.method(current, attr)
                if not isinstance(member, Sym):
                    return None
                current = self._returns(member, current, depth)
                i += 2
            else:
                if static and isinstance(current, (Sym, str)):
                    reached = self.r.member_of(current, attr)
                    current = reached if isinstance(reached, Sym) else None
                else:
                    found = self.field(current, attr)
                    current = self._field_ref(found, scope, depth) if found else None
                i += 1
            static = False
        return Typed(current) if current is not None else None

    @staticmethod
    def gives(container: Generic, method: str) -> TypeRef | None:
        """What ``container.method()`` gives, when known."""
        kind = container.base.rpartition(".")[2]
        index = _GIVES.get((kind, method))
        if index is None:
            return None
        if index == -1:
            return Generic(f"{GLOBAL}.IterableIterator", ())
        if index == -2:
            return container
        return container.args[index] if index < len(container.args) else None

    @staticmethod
    def element(container: TypeRef | None) -> TypeRef | None:
        """An element of an array or a set, a value of a map."""
        if not isinstance(container, Generic):
            return None
        index = _ELEMENT.get(container.base.rpartition(".")[2])
        return container.args[index] if index is not None and index < len(container.args) \
            else None

    def _field_ref(self, found: tuple[str, str, TypeRef], scope: int, depth: int,
                   ) -> TypeRef | None:
        text, path, owner = found
        if text == "this":
            return owner
        if text.startswith("=") and isinstance(owner, Sym) and path == self.r.unit.path:
            index = self.r.unit.def_ids.index(owner.id) if owner.id in self.r.unit.def_ids \
                else -1
            return self._text(text, path, index, depth + 1)
        return self._text(text, path, -1, depth + 1)

    def _returns(self, function: Sym, receiver: TypeRef, depth: int) -> TypeRef | None:
        text = self.declared(function, "returns")
        if text == "this":
            return receiver
        if not text or text.startswith("="):
            return None
        return self._text(text, function.path, -1, depth + 1)
