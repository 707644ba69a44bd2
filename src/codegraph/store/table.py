"""The symbol table of one stored repository, read straight from RocksDB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codegraph.graph.build import file_node_id
from codegraph.graph.model import EdgeKind, node_id
from codegraph.graph.symbols import Sym, base_ids, module_sym, sym_order
from codegraph.parse.facts import FileFacts
from codegraph.store.keys import id_of, symbol_prefix
from codegraph.store.rocks import Store, unpack

_TYPE_EDGES = (EdgeKind.INHERITS, EdgeKind.IMPLEMENTS)


class StoreTable:
    """Lookups are memoised: a table lives for one indexing run, while the store's
    contents for the files it can see do not change."""

    def __init__(self, store: Store, repo: str) -> None:
        self.store = store
        self.repo = repo
        self._memo: dict[tuple[str, str], Any] = {}
        self._answers: dict[Any, Any] = {}

    def memo(self) -> dict[Any, Any]:
        """Resolvers' answers derived from this table (which does not change during a run)."""
        return self._answers

    def _cached(self, kind: str, key: str, compute: Callable[[str], Any]) -> Any:
        memo_key = (kind, key)
        if memo_key not in self._memo:
            self._memo[memo_key] = compute(key)
        return self._memo[memo_key]

    def _syms(self, cf: str, first: str) -> list[Sym]:
        """The symbols under a key, in the order of every table (keys are in id order)."""
        prefix = symbol_prefix(first, self.repo)
        out = [Sym(id_of(key), *unpack(value)) for key, value in self.store._scan(cf, prefix)]
        out.sort(key=sym_order)
        return out

    def by_id(self, node_id_: str) -> Sym | None:
        n = self.store.node(node_id_)
        if n is None or n.repo != self.repo:
            return None
        return Sym(n.id, n.kind, n.name, n.qualified_name, n.path, n.parent, n.language, n.line,
                   n.col)

    def _qnamed(self, qname: str) -> list[Sym]:
        return self._cached("q", qname, lambda q: self._syms("qnames", q))  # type: ignore[no-any-return]

    def by_qname(self, qname: str) -> list[Sym]:
        return [s for s in self._qnamed(qname) if s.kind != "module"]

    def by_name(self, name: str) -> list[Sym]:
        return self._cached("n", name, lambda n: [  # type: ignore[no-any-return]
            s for s in self._syms("names", n.lower())
            if s.name == n and s.kind not in ("module", "file")])

    def modules(self, qname: str) -> list[Sym]:
        return [s for s in self._qnamed(qname) if s.kind == "module"]

    def file_module(self, path: str) -> Sym | None:
        rec = self.store.file(self.repo, path)
        if rec is None or not rec.module:
            return None
        return module_sym(node_id(self.repo, path, rec.module, "module"), rec.module, path,
                          file_node_id(self.repo, path), rec.language)

    def facts(self, path: str) -> FileFacts | None:
        def load(p: str) -> FileFacts | None:
            wire = self.store.facts(self.repo, p)
            return FileFacts.from_wire(wire) if wire is not None else None

        return self._cached("f", path, load)  # type: ignore[no-any-return]

    def bases(self, class_id: str) -> list[str]:
        return self._cached("b", class_id, lambda c: base_ids(  # type: ignore[no-any-return]
            e for e in self.store.edges(c, incoming=False, kinds=_TYPE_EDGES)
            if e.resolution != "external"))

    def subclasses(self, class_id: str) -> list[str]:
        return self._cached("s", class_id, lambda c: list(dict.fromkeys(  # type: ignore[no-any-return]
            e.src for e in self.store.edges(c, incoming=True, kinds=_TYPE_EDGES))))
