"""The docstring -> code retrieval set of bench_search.py, from real Python code.

``strip_tree`` deletes the docstring of EVERY function, method and class of a tree (in
place), and returns the candidate queries it found on the way: the functions and methods
whose docstring's first paragraph has at least ``MIN_WORDS`` words and is the docstring of
no other definition. So no chunk keeps a paraphrase of a query that could outrank its
target (the fault of the first version of the benchmark, which stripped only the queried
functions), and only code can match.

Each candidate also says whether its query names the function itself (``names_itself``:
such queries are excluded, and counted) and whether its body, docstring removed, is
trivial (``pass``, ``...``, ``raise NotImplementedError``, one ``return``: reported apart).
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MIN_WORDS = 4  # in the docstring's first paragraph
STRIP_VERSION = "strip1"  # change it when what strip_tree makes changes (a new bench cache)
FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class RetrievalSetError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Probe:
    """One function or method with a usable docstring query."""

    qualified_name: str
    path: str  # relative to the tree root
    query: str  # the docstring's first paragraph, whitespace normalised
    names_itself: bool  # the query holds the function's own name
    trivial: bool  # its body without the docstring is trivial
    kind: str = "function"  # or "class" (class docstrings: a side figure)
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class Stripped:
    """What ``strip_tree`` did: the candidates (unique first paragraphs), every
    function's qualified name (for the pool's distractors), and counts."""

    probes: list[Probe]
    functions: list[str]  # qualified names of the module functions and methods
    files: int
    docstrings: int  # docstrings removed
    duplicates: int  # candidates dropped: their first paragraph is another's too


def first_paragraph(doc: str) -> str:
    return " ".join(doc.strip().split("\n\n", 1)[0].split())


def module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def names_itself(query: str, name: str) -> bool:
    """The function's own name (without leading/trailing underscores) as a word of the
    query, ignoring case: "Return the ordering" for ``ordering``, not for ``get_ordering``."""
    bare = name.strip("_")
    return bool(bare) and re.search(rf"(?<![\w]){re.escape(bare)}(?![\w])", query,
                                    re.IGNORECASE) is not None


def is_trivial(body: list[ast.stmt]) -> bool:
    """One statement: pass, ``...``, ``raise NotImplementedError[(...)]`` or a return."""
    if len(body) != 1:
        return False
    stmt = body[0]
    if isinstance(stmt, ast.Pass | ast.Return):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return stmt.value.value is Ellipsis
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _docstring_stmt(node: ast.AST) -> ast.Expr | None:
    body = getattr(node, "body", None)
    if not body:
        return None
    first = body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return first
    return None


def _visit(body: list[ast.stmt], prefix: str, rel: str, seen: Counter[str],
           found: list[Probe], functions: list[str]) -> None:
    """The module's functions, its classes and their methods (not nested functions, not
    definitions under an ``if``): the definitions with a graph node of a known name."""
    for node in body:
        if not isinstance(node, DEFS):
            continue
        qname = f"{prefix}.{node.name}"
        seen[qname] += 1
        if isinstance(node, FUNCS):
            functions.append(qname)
        doc = ast.get_docstring(node)
        stmt = _docstring_stmt(node)
        if doc and stmt is not None and len(query := first_paragraph(doc).split()) >= MIN_WORDS:
            text = " ".join(query)
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            rest = node.body[1:]
            found.append(Probe(qname, rel, text, names_itself(text, node.name),
                               not rest or is_trivial(rest), kind))
        if isinstance(node, ast.ClassDef):
            _visit(node.body, qname, rel, seen, found, functions)


def _strip(source: bytes, module: ast.Module) -> tuple[bytes, int]:
    """``source`` without the docstrings of its functions and classes (at any depth):
    a docstring on lines of its own is deleted (``pass`` left when it was the whole
    body), one sharing a line with other code is replaced by ``pass``."""
    lines = source.splitlines(keepends=True)
    docs = [(node, stmt) for node in ast.walk(module) if isinstance(node, DEFS)
            and (stmt := _docstring_stmt(node)) is not None]
    # Columns are UTF-8 byte offsets: work on bytes, from the end of the file backwards.
    for node, stmt in sorted(docs, key=lambda d: (d[1].lineno, d[1].col_offset), reverse=True):
        start, end = stmt.lineno, stmt.end_lineno or stmt.lineno
        col, end_col = stmt.col_offset, stmt.end_col_offset or 0
        head, tail = lines[start - 1][:col], lines[end - 1][end_col:]
        body = node.body
        own_lines = (not head.strip() and tail.strip() in (b"", b";")
                     and (len(body) == 1 or body[1].lineno > end))
        if own_lines:
            newline = b"\r\n" if lines[end - 1].endswith(b"\r\n") else b"\n"
            lines[start - 1:end] = [head + b"pass" + newline] if len(body) == 1 else []
        else:
            lines[start - 1:end] = [head + b"pass" + tail]
    return b"".join(lines), len(docs)


def strip_tree(tree: Path) -> Stripped:
    """Strip every docstring of the functions, methods and classes under ``tree`` (in
    place) and return the candidate queries found before."""
    probes: list[Probe] = []
    functions: list[str] = []
    counts: Counter[str] = Counter()
    files = removed = 0
    for path in sorted(tree.rglob("*.py")):
        rel = path.relative_to(tree).as_posix()
        source = path.read_bytes()
        try:
            module = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(module):
            if isinstance(node, DEFS) and (doc := ast.get_docstring(node)):
                counts[first_paragraph(doc)] += 1
        seen: Counter[str] = Counter()
        found: list[Probe] = []
        funcs: list[str] = []
        _visit(module.body, module_name(rel), rel, seen, found, funcs)
        probes += [p for p in found if seen[p.qualified_name] == 1]  # no redefinitions
        functions += [q for q in funcs if seen[q] == 1]
        text, n = _strip(source, module)
        if n:
            try:
                stripped = ast.parse(text)
            except SyntaxError as exc:
                raise RetrievalSetError(f"{rel}: no longer parses without its docstrings: "
                                        f"{exc}") from exc
            left = sum(1 for node in ast.walk(stripped)
                       if isinstance(node, DEFS) and _docstring_stmt(node) is not None)
            if left:
                raise RetrievalSetError(f"{rel}: {left} docstring(s) left after stripping")
            path.write_bytes(text)
            files += 1
            removed += n
    unique = [p for p in probes if counts[p.query] == 1]
    return Stripped(unique, functions, files, removed, len(probes) - len(unique))


def seeded_order(names: list[str], seed: int) -> list[str]:
    """``names`` in a stable order that depends only on ``seed`` and each name."""
    def key(name: str) -> str:
        return hashlib.blake2b(f"{seed}\0{name}".encode(), digest_size=8).hexdigest()

    return sorted(names, key=key)


def choose_pool(probes: list[Probe], functions: list[str], size: int, queries: int,
                seed: int) -> tuple[list[Probe], list[str]]:
    """A fixed pool of ``size`` functions: ``queries`` of the eligible probes (their
    queries) and, to fill it, other functions (distractors), both in seeded order."""
    by_name = {p.qualified_name: p for p in probes}
    chosen = [by_name[q] for q in seeded_order(list(by_name), seed)[:queries]]
    taken = {p.qualified_name for p in chosen}
    others = [q for q in seeded_order(functions, seed) if q not in taken][:size - len(chosen)]
    return chosen, others
