"""Shared pieces of the per-language resolvers: confidences, edge making, heuristics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from codegraph.graph.model import (
    DISPATCH,
    EXTERNAL,
    IMPORT,
    INFERRED,
    NAME_MATCH,
    SAME_SCOPE,
    Edge,
    EdgeKind,
    external_id,
)
from codegraph.graph.model import (
    EXTERNAL_KNOWN as EXTERNAL_KNOWN,
)
from codegraph.graph.symbols import FileUnit, Sym, SymbolTable
from codegraph.parse.facts import CALLABLE, CLASS_LIKE

# Confidence by resolution. A same-scope match can still be shadowed at run time;
# a name match is a guess, shared among its candidates.
# Measured by bench/bench_calls.py (share of edges right, against jedi, on four projects):
# import 0.98, same_scope 0.99, inferred 0.97 (other languages: not measured yet).
CONFIDENCE = {IMPORT: 1.0, SAME_SCOPE: 0.9, INFERRED: 0.95, DISPATCH: 0.5, NAME_MATCH: 0.5}
EXTERNAL_UNKNOWN = 0.3  # could not be resolved: probably external
MAX_NAME_MATCHES = 3
CALLABLE_TARGETS = CALLABLE | CLASS_LIKE
RESOLVED_TARGETS = CALLABLE_TARGETS | {"variable", "constant", "type_alias", "namespace",
                                       "module"}


def link(src: str, kind: EdgeKind, target: Sym, resolution: str, line: int, col: int,
         name: str, confidence: float | None = None) -> Edge:
    return Edge(src, target.id, kind, line, col, resolution,  # positional: a hot path
                CONFIDENCE[resolution] if confidence is None else confidence, name)


def external(language: str, src: str, kind: EdgeKind, qualified_name: str, line: int, col: int,
             name: str, confidence: float = EXTERNAL_UNKNOWN) -> Edge:
    """An edge to the external node ``qualified_name`` of the source file's ``language``."""
    return Edge(src, external_id(qualified_name, language), kind, line, col, EXTERNAL,
                confidence, name, qualified_name)


def family(language: str) -> str:
    """Languages whose code may call each other's definitions by name."""
    return "javascript" if language in ("javascript", "typescript", "tsx") else language


def name_match(table: SymbolTable, name: str, kinds: Iterable[str] = CALLABLE_TARGETS,
               exclude: str = "", language: str = "", limit: int = MAX_NAME_MATCHES,
               ) -> list[Sym]:
    """Definitions elsewhere with this exact name, in the caller's ``language`` family (a
    guess never crosses languages); empty when more than ``limit`` (0: no limit).
    Remembered in the table's memo: common names (``get``, ``append``) have long lists."""
    wanted = frozenset(kinds)
    memo = table.memo()
    fam = family(language) if language else ""
    key = ("name_match", name, wanted, exclude, fam, limit)
    found: list[Sym] | None = memo.get(key)
    if found is None:
        found = [s for s in table.by_name(name) if s.kind in wanted and s.id != exclude
                 and (not fam or family(s.language) == fam)]
        if limit and len(found) > limit:
            found = []
        memo[key] = found
    return found


def guess(language: str, src: str, kind: EdgeKind, table: SymbolTable, name: str, line: int,
          col: int, kinds: Iterable[str] = CALLABLE_TARGETS, external_name: str | None = None,
          confidence: float = CONFIDENCE[NAME_MATCH], limit: int = MAX_NAME_MATCHES,
          ) -> list[Edge]:
    """Name-match edges (``confidence`` split among at most ``limit`` candidates), else one
    external edge."""
    found = name_match(table, name, kinds, language=language, limit=limit)
    if found:
        share = confidence / len(found)
        return [link(src, kind, s, NAME_MATCH, line, col, name, share) for s in found]
    return [external(language, src, kind, external_name or name, line, col, name)]


# A call on a receiver of unknown type is guessed only from evidence: the candidate's class
# must define another name called on the same receiver in the same function. With the
# name alone, Python guesses were right 33% of the time, mobx's 37% (bench/bench_calls.py,
# bench/bench_calls_ts.py).
GUESS_EVIDENCE = 2


def called_on(calls: Iterable[Any]) -> dict[tuple[int, str], frozenset[str]]:
    """The names called on each receiver (as written) in each function of a file."""
    found: dict[tuple[int, str], set[str]] = {}
    for call in calls:
        if call.receiver:
            found.setdefault((call.caller, call.receiver), set()).add(call.name)
    return {key: frozenset(names) for key, names in found.items()}


def evidence_guess(table: SymbolTable, language: str, name: str, called: frozenset[str],
                   kinds: Iterable[str], method_of: Callable[[Sym, str], Any]) -> list[Sym]:
    """The methods ``name`` of the classes that define the most of the names ``called`` on
    one receiver (at least GUESS_EVIDENCE of them, at most MAX_NAME_MATCHES classes)."""
    if len(called) < GUESS_EVIDENCE:  # the name alone: no evidence to look for
        return []
    wanted = frozenset(kinds)
    memo = table.memo()
    key = ("evidence-guess", name, called, family(language), wanted)
    if key in memo:
        found: list[Sym] = memo[key]
        return found
    ranked: dict[int, list[Sym]] = {}
    for cand in name_match(table, name, wanted, language=language, limit=0):
        cls = table.by_id(cand.parent)
        if cls is None or cls.kind not in CLASS_LIKE:
            continue
        score = sum(1 for n in called if method_of(cls, n) is not None)
        ranked.setdefault(score, []).append(cand)
    best = ranked[max(ranked)] if ranked and max(ranked) >= GUESS_EVIDENCE else []
    memo[key] = best if len(best) <= MAX_NAME_MATCHES else []
    return memo[key]  # type: ignore[no-any-return]


def first_of(syms: list[Sym], kinds: Iterable[str] = RESOLVED_TARGETS) -> Sym | None:
    wanted = frozenset(kinds)
    for s in syms:
        if s.kind in wanted:
            return s
    return None


class FileScopes:
    """The nested scopes of one file's definitions, for the resolvers of languages with
    lexical scoping: a name is looked up in the enclosing functions' scopes (a class body
    is not one), then at the file's top level."""

    def __init__(self, unit: FileUnit, table: SymbolTable) -> None:
        self.unit = unit
        self.table = table
        self.defs = unit.facts.definitions
        self.scoped: dict[tuple[int, str], int] = {}  # (parent, name) -> definition index
        self._syms: dict[int, Sym] = {}  # definition index -> its symbol, made once
        for i, d in enumerate(self.defs):
            self.scoped.setdefault((d.parent, d.name), i)

    def enclosing_class(self, index: int) -> int:
        while index >= 0 and self.defs[index].kind not in CLASS_LIKE:
            index = self.defs[index].parent
        return index

    def local(self, name: str, scope: int) -> Sym | None:
        """A definition visible from ``scope`` in this file."""
        while scope >= 0:
            if self.defs[scope].kind not in CLASS_LIKE:
                j = self.scoped.get((scope, name))
                if j is not None:
                    return self._sym(j)
            scope = self.defs[scope].parent
        i = self.scoped.get((-1, name))
        return self._sym(i) if i is not None else None

    def _sym(self, i: int) -> Sym:
        sym = self._syms.get(i)
        if sym is None:
            sym = self._syms[i] = self.unit.sym(i)
        return sym
