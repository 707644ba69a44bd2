"""Python receiver types, inferred statically and cheaply at index time.

A receiver's type comes from what the parser kept (``parse/langs/python.py``): parameter
and return annotations, and the assignments of locals, module and class variables and
``self`` attributes. ``TypeInference.evaluate`` follows a receiver in normal form
(``self.get_session().request``) part by part: a name through the scopes, imports and
builtins; an attribute through a class's methods, class variables and ``self`` attributes
(along its bases); a call through a class (an instance) or a function's return annotation.

What it cannot type it leaves unknown (an empty list), never guessed: only then may the
resolver guess, and it says so.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

from codegraph.graph.symbols import FileUnit, Sym, SymbolTable
from codegraph.parse.facts import CALLABLE, CLASS_LIKE, Definition

CLASS, INSTANCE, MODULE, FUNCTION, EXTERNAL_TYPE, SUPER = (
    "class", "instance", "module", "function", "external", "super")
CLASSES = frozenset({CLASS, INSTANCE})
MAX_DEPTH = 8  # steps of inference behind one receiver (assignment to assignment...)
NONE_TYPE = "builtins.NoneType"
MAX_CHAIN = 16  # parts of a receiver followed (``a.b().c``: 3); longer ones are not typed
BUILTIN_TYPES = frozenset(n for n in dir(builtins) if isinstance(getattr(builtins, n), type))
# typing's names for builtin and collections types: their methods are the builtins'.
_TYPING_ALIASES = {
    "typing.List": "builtins.list", "typing.Dict": "builtins.dict",
    "typing.Set": "builtins.set", "typing.FrozenSet": "builtins.frozenset",
    "typing.Tuple": "builtins.tuple", "typing.Text": "builtins.str",
    "typing.Type": "builtins.type", "typing.DefaultDict": "collections.defaultdict",
    "typing.OrderedDict": "collections.OrderedDict", "typing.Deque": "collections.deque",
    "typing.Counter": "collections.Counter", "typing.ChainMap": "collections.ChainMap",
}
_UNIONS = frozenset({"Optional", "Union"})
_FIRST_ARG = frozenset({"ClassVar", "Final", "Annotated", "Required", "NotRequired",
                        "ReadOnly", "Type", "type"})
PROPERTIES = frozenset({"property", "cached_property", "reify", "lazy_property"})
_NOT_TYPES = frozenset({"None", "Any", "...", "object", "Self"})
_BUILTIN_RETURNS = {"open": "io.TextIOWrapper", "iter": "typing.Iterator",
                    "sorted": "builtins.list", "reversed": "typing.Iterator",
                    "enumerate": "builtins.enumerate", "zip": "builtins.zip",
                    "map": "builtins.map", "filter": "builtins.filter",
                    "repr": "builtins.str", "format": "builtins.str", "chr": "builtins.str",
                    "len": "builtins.int", "hash": "builtins.int", "id": "builtins.int",
                    "vars": "builtins.dict", "dir": "builtins.list", "globals": "builtins.dict",
                    "locals": "builtins.dict"}


class PyType(NamedTuple):
    kind: str  # CLASS (the class itself), INSTANCE (of it), MODULE, FUNCTION, EXTERNAL_TYPE,
    # SUPER (the bases of the class, from super())
    sym: Sym | None = None
    qname: str = ""  # an external type's qualified name


def external_type(qname: str) -> PyType:
    return PyType(EXTERNAL_TYPE, None, _TYPING_ALIASES.get(qname, qname))


@lru_cache(maxsize=1 << 16)
def split_top(text: str, sep: str) -> tuple[str, ...]:
    """``text`` split at ``sep`` outside brackets and quotes."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return tuple(parts)


@lru_cache(maxsize=1 << 16)
def segment(part: str) -> tuple[str, tuple[str, ...]]:
    """``get_session()[]`` -> (``get_session``, [``()``, ``[]``])."""
    cut = min((i for i in (part.find("("), part.find("[")) if i >= 0), default=len(part))
    name, rest = part[:cut], part[cut:]
    suffixes: list[str] = []
    while rest:
        close = {"(": ")", "[": "]"}.get(rest[0])
        if close is None:
            break
        depth, end = 0, len(rest)
        for i, c in enumerate(rest):
            if c in "([":
                depth += 1
            elif c in ")]":
                depth -= 1
                if depth == 0:
                    end = i + 1
                    break
        suffixes.append(rest[:end])
        rest = rest[end:]
    return name, tuple(suffixes)


class TypeInference:
    """Mixed into the Python resolver of one file (see ``resolvers/python.py``)."""

    unit: FileUnit
    table: SymbolTable
    defs: list[Definition]
    scoped: dict[tuple[int, str], int]
    _inferring: set[tuple[str, int, str]]

    # What the resolver provides.
    def _sym(self, i: int) -> Sym: raise NotImplementedError
    def member(self, module: str, name: str, depth: int = 0) -> Sym | None:
        raise NotImplementedError
    def binding_for(self, name: str, scope: int) -> Any: raise NotImplementedError
    def wildcard_member(self, name: str) -> Sym | None: raise NotImplementedError
    def resolver_for(self, path: str) -> TypeInference | None: raise NotImplementedError
    def class_mro(self, class_sym: Sym) -> list[Sym]: raise NotImplementedError

    # -- expressions -------------------------------------------------------------------
    def memoized(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered for the table's life; or, when a cycle cut it short
        (an answer that then depends on where it was asked), for the current call site
        only. Keys hold the depth they were asked at: an answer never depends on which was
        asked first."""
        memo = self.table.memo()
        if key in memo:
            return memo[key]
        site: dict[Any, Any] = memo.setdefault("py-site", {})
        if key in site:
            return site[key]
        cycles: list[int] = memo.setdefault("py-cycles", [0])
        before = cycles[0]
        found = compute()
        (memo if cycles[0] == before else site)[key] = found
        return found

    def new_site(self) -> None:
        """A call site's resolution starts: answers cut by a cycle are forgotten."""
        site = self.table.memo().get("py-site")
        if site:
            site.clear()

    def cycle(self) -> list[PyType]:
        self.table.memo().setdefault("py-cycles", [0])[0] += 1
        return []

    def evaluate(self, expr: str, scope: int, depth: int = 0) -> list[PyType]:
        """The possible types of ``expr`` (in normal form) at ``scope``; [] if unknown."""
        if depth > MAX_DEPTH:
            return []
        found: list[PyType] = self.memoized(("py-type", self.unit.path, scope, expr, depth),
                                            lambda: self._guarded(expr, scope, depth))
        return found

    def _guarded(self, expr: str, scope: int, depth: int) -> list[PyType]:
        guard = (self.unit.path, scope, expr)
        if guard in self._inferring:  # x = x.strip(): no type from itself
            return self.cycle()
        self._inferring.add(guard)
        try:
            return self._evaluate(expr, scope, depth)
        finally:
            self._inferring.discard(guard)

    def _evaluate(self, expr: str, scope: int, depth: int) -> list[PyType]:
        parts = split_top(expr, ".")
        if len(parts) > MAX_CHAIN:
            return []
        name, suffixes = segment(parts[0])
        if name.startswith("!"):  # a literal: "!str", "!str.join()"
            types = [external_type(f"builtins.{name[1:]}")]
        elif (name == "super" and suffixes) or (name == "type" and suffixes
                                              and suffixes[0] != "()"):
            types = self._special(name, suffixes[0], scope, depth)
            suffixes = suffixes[1:]
        else:
            types = self.name_types(name, scope, depth) or []
        types = self._apply(types, suffixes, depth)
        for part in parts[1:]:
            if not types:
                return []
            attr, suffixes = segment(part)
            types = self._apply(self.attribute(types, attr, depth), suffixes, depth)
        return _unique(types)

    def _special(self, name: str, call: str, scope: int, depth: int) -> list[PyType]:
        """``super()``, ``super(X, self)``, ``type(self)``."""
        args = split_top(call[1:-1], ",") if call != "()" else []
        if name == "type":  # the class of an instance
            return [PyType(CLASS, t.sym) for t in self.evaluate(args[0], scope, depth + 1)
                    if t.kind == INSTANCE] if len(args) == 1 else []
        if args:
            classes = [t for t in self.evaluate(args[0], scope, depth + 1) if t.kind in CLASSES]
        else:
            cls = self.enclosing_class(scope)
            classes = [PyType(CLASS, self._sym(cls))] if cls >= 0 else []
        return [PyType(SUPER, t.sym) for t in classes]

    def _apply(self, types: list[PyType], suffixes: tuple[str, ...], depth: int,
               ) -> list[PyType]:
        for suffix in suffixes:
            if not types:
                return []
            types = [r for t in types for r in (self.call(t, depth) if suffix[0] == "("
                                                  else [])]
        return types

    def enclosing_class(self, index: int) -> int:
        while index >= 0 and self.defs[index].kind not in CLASS_LIKE:
            index = self.defs[index].parent
        return index

    # -- names -------------------------------------------------------------------------
    def name_types(self, name: str, scope: int, depth: int) -> list[PyType] | None:
        """The types of ``name`` at ``scope``; None if nothing binds it there."""
        s = scope
        while s >= 0:
            d = self.defs[s]
            if d.kind in CALLABLE:
                local = self.local_types(s, name, depth)
                if local is not None:
                    return local
                j = self.scoped.get((s, name))
                if j is not None:
                    return self.sym_types(self._sym(j), depth)
            s = d.parent
        j = self.scoped.get((-1, name))
        if j is not None:
            return self.sym_types(self._sym(j), depth)
        binding = self.binding_for(name, scope)
        if binding is not None:
            return self.binding_types(binding, depth)
        found = self.wildcard_member(name)
        if found is not None:
            return self.sym_types(found, depth)
        if name in BUILTIN_TYPES or hasattr(builtins, name):
            return [external_type(f"builtins.{name}")]
        return None

    def local_types(self, s: int, name: str, depth: int) -> list[PyType] | None:
        """``name`` as a parameter or local of function ``s``: None if it is neither."""
        d = self.defs[s]
        info = d.extra or {}
        params: dict[str, str] = info.get("params") or {}
        if name in params:
            if name == next(iter(params)) and d.parent >= 0 \
                    and self.defs[d.parent].kind in CLASS_LIKE \
                    and "staticmethod" not in info.get("decorators", ()):
                kind = CLASS if "classmethod" in info.get("decorators", ()) else INSTANCE
                return [PyType(kind, self._sym(d.parent))]  # cls, self
            return self.spec_types(params[name], d.parent, depth)
        specs: list[str] | None = (info.get("locals") or {}).get(name)
        if specs is None:
            return None
        if len(specs) >= 4:  # assigned too often to say
            return []
        found: list[PyType] = []
        for spec in specs:
            found += self.spec_types(spec, s, depth)
        if len(found) > 1:  # x = None, then x = Foo(): a Foo when it is called
            found = [t for t in found if t.qname != NONE_TYPE] or found
        return _unique(found)

    def spec_types(self, spec: str, scope: int, depth: int) -> list[PyType]:
        if spec.startswith(":"):
            return self.annotation_types(spec[1:], scope, depth + 1)
        if spec.startswith("="):
            return self.evaluate(spec[1:], scope, depth + 1)
        return []

    def annotation_types(self, text: str, scope: int, depth: int, classes: bool = False,
                         ) -> list[PyType]:
        """What an annotation declares: instances of its classes (the classes themselves
        inside ``Type[...]``/``type[...]``, or with ``classes``)."""
        if depth > MAX_DEPTH or not text:
            return []
        if text[0] in "\"'" and text[-1] == text[0]:
            return self.annotation_types(text[1:-1].strip(), scope, depth + 1, classes)
        options = split_top(text, "|")
        if len(options) > 1:
            return _unique([t for o in options
                            for t in self.annotation_types(o, scope, depth, classes)])
        cut = text.find("[")
        if cut > 0 and text.endswith("]"):
            head, args = text[:cut], split_top(text[cut + 1:-1], ",")
            last = head.rpartition(".")[2]
            if last in _UNIONS:
                return _unique([t for a in args
                                for t in self.annotation_types(a, scope, depth, classes)])
            if last in _FIRST_ARG:
                return self.annotation_types(args[0], scope, depth + 1,
                                             classes or last in ("Type", "type"))
            text = head
        if text in _NOT_TYPES or not text.replace(".", "").replace("_", "").isalnum():
            return []
        return [PyType(INSTANCE, t.sym) if t.kind == CLASS and not classes else t
                for t in self.evaluate(text, scope, depth + 1) if t.kind in (CLASS, EXTERNAL_TYPE)]

    def sym_types(self, sym: Sym, depth: int) -> list[PyType]:
        if sym.kind in CLASS_LIKE:
            return [PyType(CLASS, sym)]
        if sym.kind == "module":
            return [PyType(MODULE, sym)]
        if sym.kind in CALLABLE:
            return [PyType(FUNCTION, sym)]
        if sym.kind in ("variable", "constant"):
            other, index = self.where_defined(sym)
            if other is None:
                return []
            spec = (other.defs[index].extra or {}).get("spec")
            found = other.spec_types(spec, other.defs[index].parent, depth) if spec else []
            return _not_none(found)  # _instance = None, set later by a function
        return []

    def binding_types(self, binding: Any, depth: int) -> list[PyType]:
        if binding.member is None:
            mods = self.table.modules(binding.module)
            return [PyType(MODULE, mods[0])] if mods else [external_type(binding.module)]
        found = self.member(binding.module, binding.member)
        if found is not None:
            return self.sym_types(found, depth)
        if self.table.modules(binding.module):
            return []  # a project module's name we cannot find
        return [external_type(f"{binding.module}.{binding.member}")]

    def where_defined(self, sym: Sym) -> tuple[TypeInference | None, int]:
        """The resolver of the file defining ``sym`` and its index there; (None, -1) if the
        file is not a Python file of the repository or no longer defines it."""
        other = self.resolver_for(sym.path)
        index = other.index_of(sym) if other is not None else -1
        return (other, index) if index >= 0 else (None, -1)

    def index_of(self, sym: Sym) -> int:
        memo = self.table.memo()
        key = ("py-index", self.unit.path)
        index: dict[str, int] | None = memo.get(key)
        if index is None:
            index = memo[key] = {d: i for i, d in enumerate(self.unit.def_ids)}
        return index.get(sym.id, -1)

    # -- attributes and calls ----------------------------------------------------------
    def attribute(self, types: list[PyType], attr: str, depth: int) -> list[PyType]:
        out: list[PyType] = []
        for t in types:
            if t.kind in (CLASS, INSTANCE, SUPER) and t.sym is not None:
                out += self.class_attribute(t, attr, depth)
            elif t.kind == MODULE and t.sym is not None:
                found = self.member(t.sym.qualified_name, attr)
                if found is not None:
                    out += self.sym_types(found, depth)
            elif t.kind == EXTERNAL_TYPE:  # typing.Callable, os.path
                out.append(external_type(f"{t.qname}.{attr}"))
        return _unique(out)

    def dunder_call(self, class_sym: Sym) -> Sym | None:
        """The ``__call__`` method of the class or of a project base: calling an instance."""
        for cls in self.class_mro(class_sym):
            found = _first_member(self.table, cls, "__call__")
            if found is not None and found.kind in CALLABLE:
                return found
        return None

    def decorators(self, function: Sym) -> list[str]:
        other, index = self.where_defined(function)
        if other is None:
            return []
        found: list[str] = (other.defs[index].extra or {}).get("decorators") or []
        return found

    def class_attribute(self, t: PyType, attr: str, depth: int) -> list[PyType]:
        assert t.sym is not None
        classes = self.class_mro(t.sym)
        if t.kind == SUPER:
            classes = classes[1:]
        for cls in classes:
            found = _first_member(self.table, cls, attr)
            if found is not None:
                if found.kind in CALLABLE and PROPERTIES & set(self.decorators(found)):
                    return self.returns(found, depth)  # a property: what it returns
                return self.sym_types(found, depth)
            found_types = self._assigned(cls, attr, depth)
            if found_types is not None:
                return found_types
        return []

    def instance_attribute(self, class_sym: Sym, attr: str, depth: int) -> list[PyType]:
        """The types of ``self.<attr>`` as assigned in the methods of the class or a base."""
        found: list[PyType] = self.memoized(
            ("py-instance-attr", class_sym.id, attr, depth),
            lambda: self._instance_attribute(class_sym, attr, depth))
        return found

    def _instance_attribute(self, class_sym: Sym, attr: str, depth: int) -> list[PyType]:
        for cls in self.class_mro(class_sym):
            found = self._assigned(cls, attr, depth)
            if found is not None:
                return found
        return []

    def _assigned(self, cls: Sym, attr: str, depth: int) -> list[PyType] | None:
        found: list[PyType] | None = self.memoized(
            ("py-assigned", cls.id, attr, depth), lambda: self._assigned_types(cls, attr, depth))
        return found

    def _assigned_types(self, cls: Sym, attr: str, depth: int) -> list[PyType] | None:
        other, index = self.where_defined(cls)
        if other is None:
            return None
        specs = ((other.defs[index].extra or {}).get("attrs") or {}).get(attr)
        if not specs:
            return None
        found: list[PyType] = []
        for spec, method_index in specs:
            found += other.spec_types(spec, method_index, depth)
        return _not_none(_unique(found))  # self.conn = None in __init__, set elsewhere

    def call(self, t: PyType, depth: int) -> list[PyType]:
        if t.kind == CLASS:
            return [PyType(INSTANCE, t.sym)]
        if t.kind == INSTANCE and t.sym is not None:  # its __call__
            dunder = self.dunder_call(t.sym)
            return self.returns(dunder, depth) if dunder is not None else []
        if t.kind == EXTERNAL_TYPE:
            module, _, last = t.qname.rpartition(".")
            if module == "builtins" and last not in BUILTIN_TYPES:
                known = _BUILTIN_RETURNS.get(last)
                return [external_type(known)] if known else []
            return [t] if last[:1].isupper() or module == "builtins" else []
        if t.kind == FUNCTION and t.sym is not None:
            return self.returns(t.sym, depth)
        return []

    def returns(self, function: Sym, depth: int) -> list[PyType]:
        other, index = self.where_defined(function)
        if other is None:
            return []
        d = other.defs[index]
        spec = (d.extra or {}).get("returns")
        if not spec:  # unannotated: what its return statements return, if they all say
            found: list[PyType] = []
            for value in (d.extra or {}).get("returned") or []:
                types = other.spec_types(value, index, depth)
                if not types:
                    return []
                found += types
            return _unique(found)
        if spec in (":Self", ":typing.Self", ":t.Self") and d.parent >= 0:
            cls = other.enclosing_class(d.parent)
            return [PyType(INSTANCE, other._sym(cls))] if cls >= 0 else []
        return other.spec_types(spec, d.parent, depth)


def _first_member(table: SymbolTable, cls: Sym, name: str) -> Sym | None:
    """A definition named ``name`` directly in class ``cls``."""
    for s in table.by_qname(f"{cls.qualified_name}.{name}"):
        if s.parent == cls.id:
            return s
    return None


def _not_none(types: list[PyType]) -> list[PyType]:
    """Types without None: what a variable or attribute set to None at first holds later."""
    return [t for t in types if t.qname != NONE_TYPE]


def _unique(types: list[PyType]) -> list[PyType]:
    return list(dict.fromkeys(types))
