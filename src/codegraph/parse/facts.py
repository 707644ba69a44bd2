"""What the parser extracts from one source file, before any name is resolved.

Facts are plain, picklable records. They travel from parser worker processes to the
indexer and are stored (msgpack) so that a file's edges can be re-resolved later
without parsing it again. Positions are 1-based lines and columns.

A definition's ``parent`` and a call's ``caller`` are indexes into
``FileFacts.definitions`` (-1 means the file's module scope).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Definition kinds the extractor may emit.
DEF_KINDS = frozenset(
    {
        "namespace",  # C++/C#/TS namespaces, Rust inline modules, Ruby modules
        "class",
        "interface",
        "struct",
        "enum",
        "trait",
        "type_alias",
        "function",
        "method",
        "constructor",
        "variable",
        "constant",
    }
)
CLASS_LIKE = frozenset({"class", "interface", "struct", "enum", "trait"})
CALLABLE = frozenset({"function", "method", "constructor"})


@dataclass(slots=True)
class Definition:
    kind: str
    name: str
    parent: int
    line: int
    col: int
    end_line: int
    end_col: int
    signature: str = ""
    doc: str = ""
    # Language-specific details, e.g. {"receiver": "Server"} for a Go method or
    # {"default_export": True} for a JS default export.
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Import:
    """One imported binding.

    ``module`` is the module as written (``os.path``, ``./util``, ``fmt``,
    ``java.util.List``). ``name`` is the imported member (``None``: the module itself).
    ``alias`` is the local name it is bound to (``None``: the default binding).
    ``level`` counts leading dots of a Python relative import.
    ``kind`` is ``import``, ``reexport`` (JS/TS ``export ... from``) or ``require``.
    """

    module: str
    name: str | None
    alias: str | None
    line: int
    level: int = 0
    wildcard: bool = False
    kind: str = "import"
    source: int = -1


@dataclass(slots=True)
class Call:
    """A call site: ``receiver.name(...)`` or ``name(...)``."""

    name: str
    receiver: str | None
    line: int
    col: int
    caller: int


@dataclass(slots=True)
class Reference:
    """A non-call use of a name: ``inherits``, ``implements`` or ``use`` (types, decorators)."""

    kind: str
    name: str
    qualifier: str | None
    line: int
    col: int
    source: int


@dataclass(slots=True)
class FileFacts:
    language: str
    package: str = ""  # declared package/namespace (Java, Go, C#, PHP); "" if none
    definitions: list[Definition] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    error_lines: list[int] = field(default_factory=list)  # lines tree-sitter could not parse
    lines: int = 0
    folded: int = 0  # definitions nested too deep to keep (extract.MAX_DEPTH)

    def to_wire(self) -> list[Any]:
        """A compact, msgpack-friendly form."""
        return [
            self.language,
            self.package,
            [
                [d.kind, d.name, d.parent, d.line, d.col, d.end_line, d.end_col,
                 d.signature, d.doc, d.extra]
                for d in self.definitions
            ],
            [[i.module, i.name, i.alias, i.line, i.level, i.wildcard, i.kind, i.source]
             for i in self.imports],
            [[c.name, c.receiver, c.line, c.col, c.caller] for c in self.calls],
            [[r.kind, r.name, r.qualifier, r.line, r.col, r.source] for r in self.references],
            self.error_lines,
            self.lines,
            self.folded,
        ]

    @classmethod
    def from_wire(cls, w: list[Any]) -> FileFacts:
        return cls(
            language=w[0],
            package=w[1],
            definitions=[Definition(*d) for d in w[2]],
            imports=[Import(*i) for i in w[3]],
            calls=[Call(*c) for c in w[4]],
            references=[Reference(*r) for r in w[5]],
            error_lines=list(w[6]),
            lines=w[7],
            folded=w[8] if len(w) > 8 else 0,  # facts stored before the field existed
        )
