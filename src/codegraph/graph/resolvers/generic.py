"""Rust, C, C++, C#, Ruby and PHP: one resolver, with per-language rules in ``_LANGS``.

Qualified names: Rust ``crate::module::Type::method`` (crate from Cargo.toml); C, C++ and
Ruby live in one global namespace (C++ namespaces and Ruby modules are definitions);
C# and PHP are prefixed by the file's namespace (PHP keeps its backslashes:
``App\\Models::User::save``). Modules of the non-Rust languages are their file paths.

A name is looked up, in order: in the file's scopes (``same_scope``), as a member of the
enclosing class and its bases (implicit ``this``), through the file's imports (``use``,
``using``, ``include``, ``require``: ``import``), in enclosing namespaces, then
fully qualified; what is left is a standard-library name (``external``) or a
name-match guess among the same language family.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from codegraph.graph.layout import RepoLayout
from codegraph.graph.model import IMPORT, NAME_MATCH, SAME_SCOPE, Edge, EdgeKind
from codegraph.graph.resolvers.common import (
    CALLABLE_TARGETS,
    CONFIDENCE,
    EXTERNAL_KNOWN,
    EXTERNAL_UNKNOWN,
    MAX_NAME_MATCHES,
    external,
    link,
)
from codegraph.graph.symbols import FileUnit, Sym, SymbolTable
from codegraph.parse.facts import CALLABLE, CLASS_LIKE, Import

CALL_KINDS = CALLABLE_TARGETS | {"type_alias", "variable", "constant"}
SCOPE_KINDS = CLASS_LIKE | {"namespace", "module", "type_alias"}
TYPE_KINDS = CLASS_LIKE | {"namespace", "type_alias"}
_HEADERS = (".h", ".hh", ".hpp", ".hxx", ".h++")
_VALUE_CHARS = re.compile(r"[()\[\]{}\"' ,?!]")
_TEMPLATE_ARGS = re.compile(r"(::)?<[^<>]*>")
_MAX_INCLUDES = 64
_MAX_BASE_DEPTH = 6

_C_LIB = (
    "printf fprintf sprintf snprintf vsnprintf scanf sscanf malloc calloc realloc free "
    "memcpy memset memmove memcmp strlen strcmp strncmp strcpy strncpy strcat strchr strrchr "
    "strstr strdup strtol strtoul strtod atoi atof exit abort assert fopen fclose fread "
    "fwrite fgets fputs fflush puts putchar getchar perror qsort abs getenv time"
)


@dataclass(frozen=True, slots=True)
class _Lang:
    sep: str  # between qualified-name parts
    family: frozenset[str]  # languages whose definitions this one can name
    split: re.Pattern[str]  # separators in names as written
    self_names: frozenset[str] = frozenset()
    base_names: frozenset[str] = frozenset()
    implicit_self: bool = False  # class members are visible unqualified
    global_ns: bool = False  # top-level names are global: prefer included files
    std_roots: frozenset[str] = frozenset()  # heads of certainly external paths
    builtins: frozenset[str] = frozenset()  # certainly external unqualified names


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_C_FAMILY = frozenset({"c", "cpp"})
_LANGS: dict[str, _Lang] = {
    "rust": _Lang("::", frozenset({"rust"}), re.compile(r"::"), _words("self Self"),
                  std_roots=_words("std core alloc"),
                  builtins=_words("Some None Ok Err Box Vec String Option Result drop Default "
                                  "HashMap HashSet BTreeMap Rc Arc RefCell Cell")),
    "c": _Lang(".", _C_FAMILY, re.compile(r"\.|->"), global_ns=True, builtins=_words(_C_LIB)),
    "cpp": _Lang("::", _C_FAMILY, re.compile(r"::|\.|->"), _words("this"), implicit_self=True,
                 global_ns=True, std_roots=_words("std boost"), builtins=_words(_C_LIB)),
    "csharp": _Lang(".", frozenset({"csharp"}), re.compile(r"\."), _words("this"),
                    _words("base"), implicit_self=True, std_roots=_words("System Microsoft"),
                    builtins=_words("Console Math String Convert Guid DateTime Task nameof")),
    "ruby": _Lang("::", frozenset({"ruby"}), re.compile(r"::|\."), _words("self"),
                  implicit_self=True, global_ns=True,
                  std_roots=_words("Kernel File Dir JSON Time Struct Hash Array String IO "
                                   "Integer Float Math Process Set YAML Comparable Enumerable"),
                  builtins=_words("puts print p pp raise format sprintf loop lambda proc sleep "
                                  "rand warn exit abort freeze block_given? catch throw")),
    "php": _Lang("::", frozenset({"php"}), re.compile(r"::|\\"), _words("$this self static"),
                 _words("parent"),
                 builtins=_words("strlen count array_map array_filter array_keys array_values "
                                 "array_merge in_array implode explode sprintf printf trim "
                                 "str_replace strtolower strtoupper json_encode json_decode "
                                 "is_array is_string is_null var_dump print_r preg_match "
                                 "preg_replace substr strpos array_key_exists intval isset "
                                 "empty unset array_push array_slice is_int is_numeric min "
                                 "max define defined call_user_func method_exists class_exists "
                                 "file_exists file_get_contents file_put_contents dirname "
                                 "basename time date microtime serialize unserialize")),
}


# -- naming ----------------------------------------------------------------------------
def separator(language: str) -> str:
    return _LANGS[language].sep if language in _LANGS else "."


def module_name(path: str, package: str, layout: RepoLayout) -> str:
    """Rust: the crate path (``mycrate::a::b``); other languages: the file's path."""
    if not path.endswith(".rs"):
        return path
    cargo = layout.find_upwards(posixpath.dirname(path), "Cargo.toml")
    crate = _crate_name(layout.read(cargo) or "") if cargo else ""
    parts = path[:-3].split("/")
    inner = parts[len(posixpath.dirname(cargo).split("/")) if cargo and "/" in cargo else 0:]
    if crate and inner[0] == "src":  # a module of the crate
        parts = [crate, *inner[1:]]
        if parts[1:] in (["lib"], ["main"]):
            parts = parts[:1]
    elif not crate and parts[0] == "src":  # no Cargo.toml: path based, without src/
        parts = parts[1:]
    if len(parts) > 1 and parts[-1] == "mod":
        parts = parts[:-1]
    return "::".join(re.sub(r"\W", "_", p) for p in parts)


def _crate_name(cargo_toml: str) -> str:
    section, names = "", {}
    for raw in cargo_toml.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[] ")
        elif section in ("package", "lib") and re.match(r"name\s*=", line):
            names[section] = line.split("=", 1)[1].strip().strip("\"'")
    return (names.get("lib") or names.get("package") or "").replace("-", "_")


def qualifier(module: str, package: str) -> str:
    """C#/PHP: the declared namespace; Rust: the module; C, C++, Ruby: global ("").

    Rust module names never contain ``/`` or ``.``; the other languages' modules are paths.
    """
    if package:
        return package
    return "" if "/" in module or "." in module else module


# -- resolution ------------------------------------------------------------------------
class _Resolver:
    def __init__(self, unit: FileUnit, table: SymbolTable) -> None:
        self.unit, self.table = unit, table
        self.lang = _LANGS[unit.language]
        self.defs = unit.facts.definitions
        self.module_segs = self.split(qualifier(unit.module, unit.facts.package))
        self.scoped: dict[tuple[int, str], int] = {}
        for i, d in enumerate(self.defs):
            if not (d.extra and d.extra.get("receiver")) and d.kind != "constructor":
                self.scoped.setdefault((d.parent, d.name), i)
        self.bindings: dict[str, list[str]] = {}
        self.wildcards: list[list[str]] = []
        self.files = self._included_files() if self.lang.global_ns else set()
        self.stems = {posixpath.splitext(p)[0] for p in self.files}
        for imp in unit.facts.imports:
            self._bind(imp)

    # -- names and symbols -------------------------------------------------------------
    def split(self, text: str) -> list[str]:
        return [s for s in self.lang.split.split(text) if s]

    def qnames(self, segs: list[str]) -> list[str]:
        """Qualified names for a path; PHP: ``A\\B::C`` (class) or ``A\\B\\C::m``."""
        if self.unit.language != "php" or len(segs) < 2:
            return [self.lang.sep.join(segs)]
        out = []
        for k in (2, 1):
            head = "\\".join(segs[:-k])
            name = "::".join(segs[-k:])
            q = f"{head}::{name}" if head else name
            if q not in out:
                out.append(q)
        return out

    def written(self, segs: list[str]) -> str:
        """A path as the language writes it (PHP: ``A\\B\\C::m``)."""
        if self.unit.language == "php" and len(segs) > 1:
            return "\\".join(segs[:-1]) + "::" + segs[-1]
        return self.lang.sep.join(segs)

    def syms(self, segs: list[str], kinds: frozenset[str]) -> list[Sym]:
        family = self.lang.family
        out = [s for q in self.qnames(segs) for s in self.table.by_qname(q)
               if s.kind in kinds and s.language in family]
        if not out and "module" in kinds and self.unit.language == "rust":
            out = [m for m in self.table.modules("::".join(segs)) if m.language == "rust"]
        return out

    def pick(self, syms: list[Sym]) -> Sym | None:
        """Same file first, function definitions over header declarations, included first."""
        return min(syms, default=None, key=lambda s: (
            s.path != self.unit.path, s.kind in CALLABLE and s.path.endswith(_HEADERS),
            s.path not in self.files, posixpath.splitext(s.path)[0] not in self.stems, s.path))

    def qsym(self, segs: list[str], kinds: frozenset[str]) -> Sym | None:
        return self.pick(self.syms(segs, kinds)) if segs else None

    def _sym(self, i: int) -> Sym:
        return self.unit.sym(i)

    # -- imports -----------------------------------------------------------------------
    def _rust_path(self, segs: list[str]) -> list[str]:
        """``crate::``, ``self::``, ``super::`` and paths relative to this module."""
        here = self.module_segs
        if not segs:
            return segs
        if segs[0] == "crate":
            return [*here[:1], *segs[1:]]
        if segs[0] in ("self", "super"):
            ups = 0
            while ups < len(segs) and segs[ups] == "super":
                ups += 1
            rest = segs[ups:] if ups else segs[1:]
            return [*here[:len(here) - ups], *rest]
        if segs[0] not in self.bindings and self.syms([*here, segs[0]], SCOPE_KINDS):
            return [*here, *segs]
        return segs

    def _bind(self, imp: Import) -> None:
        language = self.unit.language
        if language == "rust":
            module = self._rust_path(self.split(imp.module))
            if imp.wildcard:
                self.wildcards.append(module)
            else:
                full = [*module, imp.name] if imp.name else module
                if full:
                    self.bindings[imp.alias or full[-1]] = full
        elif language == "csharp":
            (self.bindings.setdefault(imp.alias, self.split(imp.module)) if imp.alias
             else self.wildcards.append(self.split(imp.module)))
        elif language == "php" and imp.kind == "import" and imp.name:
            self.bindings[imp.alias or imp.name] = [*self.split(imp.module), imp.name]
        elif language == "cpp" and (imp.wildcard or imp.name):
            module = self.split(imp.module)
            if imp.wildcard:
                self.wildcards.append(module)
            elif imp.name:
                self.bindings[imp.alias or imp.name] = [*module, imp.name]

    def file_of(self, imp: Import, from_path: str) -> str | None:
        """The repository file an include/require names, if indexed."""
        here = posixpath.dirname(from_path)
        name = imp.module.strip("<>") if imp.module.startswith("<") else imp.module
        language = self.unit.language
        if language == "ruby" and not name.endswith(".rb"):
            name += ".rb"
        local = posixpath.normpath(posixpath.join(here, name))
        if language == "ruby":
            candidates = [local] if imp.level else [f"lib/{name}", name]
        elif imp.module.startswith("<"):
            candidates = [name, f"include/{name}", f"src/{name}"]
        else:
            candidates = [local, name, f"include/{name}", f"src/{name}"]
        return next((c for c in candidates if self.table.file_module(c) is not None), None)

    def _included_files(self) -> set[str]:
        """Files this one includes (C, C++: transitively) or requires (Ruby)."""
        found: set[str] = set()
        queue = [(self.unit.path, self.unit.facts.imports)]
        while queue and len(found) < _MAX_INCLUDES:
            path, imports = queue.pop(0)
            for imp in imports:
                target = self.file_of(imp, path) if imp.name is None and not imp.wildcard \
                    else None
                if target is None or target in found or target == self.unit.path:
                    continue
                found.add(target)
                facts = self.table.facts(target)
                if facts is not None and self.unit.language != "ruby":
                    queue.append((target, facts.imports))
        return found

    # -- lookups -----------------------------------------------------------------------
    def local(self, name: str, scope: int, kinds: frozenset[str]) -> Sym | None:
        while True:
            if scope < 0 or self.defs[scope].kind not in CLASS_LIKE or self.lang.implicit_self:
                i = self.scoped.get((scope, name))
                if i is not None and self.defs[i].kind in kinds:
                    return self._sym(i)
            if scope < 0:
                return None
            scope = self.defs[scope].parent

    def enclosing_class(self, scope: int) -> Sym | None:
        while scope >= 0:
            d = self.defs[scope]
            if d.kind in CLASS_LIKE:
                return self._sym(scope)
            receiver = d.extra.get("receiver") if d.extra else None
            if receiver:
                found = self.find(self.split(receiver), False, d.parent, SCOPE_KINDS)
                return found[0] if found else None
            scope = d.parent
        return None

    def member(self, owner: Sym, name: str, kinds: frozenset[str]) -> Sym | None:
        """``name`` defined in ``owner`` or in its bases, breadth first."""
        queue, seen = [owner], set[str]()
        while queue and len(seen) < _MAX_BASE_DEPTH * 4:
            cls = queue.pop(0)
            if cls.id in seen:
                continue
            seen.add(cls.id)
            found = self.qsym([*self.split(cls.qualified_name), name], kinds)
            if found is not None:
                return found
            for base in self.table.bases(cls.id):
                sym = self.table.by_id(base)
                if sym is not None:
                    queue.append(sym)
        return None

    def prefixes(self, scope: int) -> list[list[str]]:
        """Enclosing namespaces (and classes), innermost first, then the file's own."""
        out: list[list[str]] = []
        while scope >= 0:
            d = self.defs[scope]
            if d.kind == "namespace" or (d.kind in CLASS_LIKE and self.lang.implicit_self):
                out.append(self.split(self.unit.def_qnames[scope]))
            scope = d.parent
        if self.module_segs:
            out.append(self.module_segs)
        if self.unit.language == "csharp":  # names resolve in parent namespaces too
            out += [p[:k] for p in list(out) for k in range(len(p) - 1, 0, -1)]
        return out

    def expand(self, segs: list[str]) -> list[str] | None:
        """A path rewritten through an import binding or a Rust path keyword."""
        bound = self.bindings.get(segs[0])
        if bound is not None:
            return [*bound, *segs[1:]]
        if self.unit.language == "rust" and segs[0] in ("crate", "self", "super"):
            return self._rust_path(segs)
        return None

    def find(self, segs: list[str], absolute: bool, scope: int, kinds: frozenset[str],
             ) -> tuple[Sym, str] | None:
        """A written path to a definition, with how it was found."""
        name = segs[-1]
        if not absolute:
            if len(segs) == 1:
                found = self.local(name, scope, kinds)
                if found is not None:
                    return found, SAME_SCOPE
                cls = self.enclosing_class(scope) if self.lang.implicit_self else None
                found = self.member(cls, name, kinds) if cls is not None else None
                if found is not None:
                    return found, SAME_SCOPE
            expanded = self.expand(segs)
            if expanded is not None:
                found = self.qsym(expanded, kinds)
                return (found, IMPORT) if found is not None else None
            for prefix in self.prefixes(scope):
                found = self.qsym([*prefix, *segs], kinds)
                if found is not None:
                    return found, SAME_SCOPE
            for namespace in self.wildcards:
                found = self.qsym([*namespace, *segs], kinds)
                if found is not None:
                    return found, IMPORT
        if len(segs) > 1:
            owner = self.find(segs[:-1], absolute, scope, SCOPE_KINDS)
            if owner is not None and owner[0].kind in CLASS_LIKE:
                found = self.member(owner[0], name, kinds)
                if found is not None:
                    return found, owner[1]
        candidates = self.syms(segs, kinds)
        if self.lang.global_ns and len(segs) == 1:
            # A global name counts when an included file defines it; else it is a guess.
            if not any(s.path in self.files for s in candidates):
                return None
            how = IMPORT
        else:
            how = SAME_SCOPE if len(segs) == 1 else IMPORT
        found = self.pick(candidates)
        return (found, how) if found is not None else None

    # -- edges -------------------------------------------------------------------------
    def resolve(self, src: str, kind: EdgeKind, name: str, receiver: str | None, scope: int,
                line: int, col: int, kinds: frozenset[str]) -> list[Edge]:
        receiver = _TEMPLATE_ARGS.sub("", receiver) if receiver else receiver
        if receiver is not None and (_VALUE_CHARS.search(receiver) or not receiver):
            return self.guess(src, kind, name, line, col, kinds, name)
        absolute = bool(receiver and receiver[0] in ":\\")
        segs = [*self.split(receiver or ""), name]
        if len(segs) == 2 and segs[0] in self.lang.self_names | self.lang.base_names:
            found = self._on_self(segs[0], name, scope, kinds)
            if found is not None:
                return [link(src, kind, found, SAME_SCOPE, line, col, name)]
            return self.guess(src, kind, name, line, col, kinds, name)
        if self.unit.language == "ruby" and name == "new" and receiver is None:
            cls = self.enclosing_class(scope)
            if cls is not None:
                return [link(src, kind, cls, SAME_SCOPE, line, col, name)]
        found_how = self.find(segs, absolute, scope, kinds)
        if found_how is not None and (kind == EdgeKind.CALLS or found_how[0].id != src):
            return [link(src, kind, found_how[0], found_how[1], line, col, name)]
        expanded = None if absolute else self.expand(segs)
        if expanded is not None:
            internal = expanded[0] in self.module_segs[:1]
            conf = EXTERNAL_UNKNOWN if internal else EXTERNAL_KNOWN
            return [external(self.unit.language, src, kind, self.written(expanded), line, col,
                             name, conf)]
        head = segs[0]
        if head in self.lang.std_roots or head in self.lang.builtins:
            return [external(self.unit.language, src, kind, self.written(segs), line, col, name,
                             EXTERNAL_KNOWN)]
        written = self.written(segs) if head[:1].isupper() or absolute else name
        return self.guess(src, kind, name, line, col, kinds, written)

    def _on_self(self, head: str, name: str, scope: int, kinds: frozenset[str]) -> Sym | None:
        cls = self.enclosing_class(scope)
        if cls is None:
            return None
        owners = ([b for b in map(self.table.by_id, self.table.bases(cls.id)) if b is not None]
                  if head in self.lang.base_names else [cls])
        for owner in owners:
            found = self.member(owner, name, kinds)
            if found is not None:
                return found
        return None

    def guess(self, src: str, kind: EdgeKind, name: str, line: int, col: int,
              kinds: frozenset[str], written: str) -> list[Edge]:
        """Name-match edges within the language family, else one external edge."""
        family, wanted = self.lang.family, kinds - {"variable", "constant"}
        found = [s for s in self.table.by_name(name)
                 if s.kind in wanted and s.language in family and s.id != src]
        if 0 < len(found) <= MAX_NAME_MATCHES:
            share = CONFIDENCE[NAME_MATCH] / len(found)
            return [link(src, kind, s, NAME_MATCH, line, col, name, share) for s in found]
        return [external(self.unit.language, src, kind, written, line, col, name)]

    def import_edge(self, imp: Import) -> Edge:
        src = self.unit.source_id(imp.source)
        language = self.unit.language
        file_based = imp.kind == "require" or language == "c" or (
            language == "cpp" and imp.name is None and not imp.wildcard)
        if file_based:
            path = self.file_of(imp, self.unit.path)
            module = self.table.file_module(path) if path else None
            if module is not None:
                return link(src, EdgeKind.IMPORTS, module, IMPORT, imp.line, 1, imp.module)
            known = imp.module.startswith("<") or (language == "ruby" and not imp.level)
            return external(language, src, EdgeKind.IMPORTS, imp.module, imp.line, 1, imp.module,
                            EXTERNAL_KNOWN if known else EXTERNAL_UNKNOWN)
        segs = self.split(imp.module)
        if language == "rust":
            segs = self._rust_path(segs)
        full = [*segs, imp.name] if imp.name else segs
        written = self.lang.sep.join(full) if language != "php" else "\\".join(full)
        target = self.qsym(full, SCOPE_KINDS | CALL_KINDS) if full else None
        if target is not None:
            return link(src, EdgeKind.IMPORTS, target, IMPORT, imp.line, 1, imp.name or written)
        internal = bool(full) and full[0] in self.module_segs[:1]
        return external(language, src, EdgeKind.IMPORTS, written, imp.line, 1, imp.name or written,
                        EXTERNAL_UNKNOWN if internal else EXTERNAL_KNOWN)


def resolve_types(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    r = _Resolver(unit, table)
    edges: list[Edge] = []
    for ref in unit.facts.references:
        if ref.kind not in ("inherits", "implements") or ref.source < 0:
            continue
        src = unit.def_ids[ref.source]
        kind = EdgeKind.INHERITS if ref.kind == "inherits" else EdgeKind.IMPLEMENTS
        owner = unit.facts.definitions[ref.source]
        for e in r.resolve(src, kind, ref.name, ref.qualifier, owner.parent, ref.line, ref.col,
                           TYPE_KINDS):
            target = table.by_id(e.dst) if not e.external else None
            if target is not None and unit.language == "csharp":
                interface = target.kind == "interface" and owner.kind != "interface"
                e.kind = EdgeKind.IMPLEMENTS if interface else EdgeKind.INHERITS
            elif target is not None and target.kind == "interface" and owner.kind == "class":
                e.kind = EdgeKind.IMPLEMENTS
            edges.append(e)
    return edges


def resolve_uses(unit: FileUnit, table: SymbolTable) -> list[Edge]:
    r = _Resolver(unit, table)
    edges = [r.import_edge(imp) for imp in unit.facts.imports]
    for call in unit.facts.calls:
        edges += r.resolve(unit.source_id(call.caller), EdgeKind.CALLS, call.name,
                           call.receiver, call.caller, call.line, call.col, CALL_KINDS)
    return edges
