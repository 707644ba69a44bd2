"""The docstring -> code retrieval set of bench_search.py, from real Python code.

A probe is a function or method whose docstring's first paragraph (at least ``MIN_WORDS``
words, unique in the corpus) is the query; ``strip_docstrings`` deletes those docstrings
from a copy of the tree, so that only the code can match.
"""

from __future__ import annotations

import ast
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MIN_WORDS = 4  # in the docstring's first paragraph
FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


class RetrievalSetError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Probe:
    """One function of the retrieval set, and where its docstring statement is."""

    qualified_name: str
    path: str  # relative to the tree root
    query: str  # the docstring's first paragraph, whitespace normalised
    doc_start: int  # 1-based lines of the docstring statement
    doc_end: int
    indent: str  # of the function's body
    only_statement: bool  # the docstring is the whole body: leave `pass` instead
    node_id: str = ""


def first_paragraph(doc: str) -> str:
    return " ".join(doc.strip().split("\n\n", 1)[0].split())


def module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _probe(fn: ast.FunctionDef | ast.AsyncFunctionDef, qname: str, rel: str,
           lines: list[str]) -> Probe | None:
    doc = ast.get_docstring(fn)
    if not doc:
        return None
    query = first_paragraph(doc)
    if len(query.split()) < MIN_WORDS:
        return None
    stmt = fn.body[0]
    start, end = stmt.lineno, stmt.end_lineno or stmt.lineno
    if start <= fn.lineno or stmt.end_col_offset is None:
        return None  # `def f(): """doc"""`: not on lines of its own
    head, tail = lines[start - 1][:stmt.col_offset], lines[end - 1][stmt.end_col_offset:]
    if head.strip() or tail.strip() or (len(fn.body) > 1 and fn.body[1].lineno <= end):
        return None  # shares a line with other code
    return Probe(qname, rel, query, start, end, head, len(fn.body) == 1)


def _visit(body: list[ast.stmt], prefix: str, rel: str, lines: list[str],
           seen: Counter[str], found: list[Probe]) -> None:
    """The module's functions and the methods of its classes (not nested functions, not
    functions defined under an ``if``)."""
    for node in body:
        if isinstance(node, ast.ClassDef):
            _visit(node.body, f"{prefix}.{node.name}", rel, lines, seen, found)
        elif isinstance(node, FUNCS):
            qname = f"{prefix}.{node.name}"
            seen[qname] += 1
            if (probe := _probe(node, qname, rel, lines)) is not None:
                found.append(probe)


def scan(tree: Path) -> tuple[list[Probe], Counter[str]]:
    """Every candidate function of the tree, and how often each first paragraph occurs
    as a docstring (of any function, nested or not)."""
    probes: list[Probe] = []
    counts: Counter[str] = Counter()
    for path in sorted(tree.rglob("*.py")):
        rel = path.relative_to(tree).as_posix()
        try:
            source = path.read_text(encoding="utf-8")
            module = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(module):
            if isinstance(node, FUNCS) and (doc := ast.get_docstring(node)):
                counts[first_paragraph(doc)] += 1
        seen: Counter[str] = Counter()
        found: list[Probe] = []
        _visit(module.body, module_name(rel), rel, source.splitlines(), seen, found)
        probes += [p for p in found if seen[p.qualified_name] == 1]  # no redefinitions
    return probes, counts


def select(probes: list[Probe], counts: Counter[str], n: int, seed: int) -> list[Probe]:
    """``n`` functions whose docstring is unique in the corpus, in a seeded stable order."""
    unique = [p for p in probes if counts[p.query] == 1]

    def key(p: Probe) -> str:
        return hashlib.blake2b(f"{seed}\0{p.qualified_name}".encode(), digest_size=8).hexdigest()

    return sorted(unique, key=key)[:n]


def strip_docstrings(tree: Path, probes: list[Probe]) -> None:
    """Delete each probe's docstring statement from its file (in place)."""
    by_file: dict[str, list[Probe]] = {}
    for p in probes:
        by_file.setdefault(p.path, []).append(p)
    for rel, group in by_file.items():
        path = tree / rel
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for p in sorted(group, key=lambda q: -q.doc_start):
            lines[p.doc_start - 1:p.doc_end] = [f"{p.indent}pass\n"] if p.only_statement else []
        text = "".join(lines)
        try:
            ast.parse(text)
        except SyntaxError as exc:
            raise RetrievalSetError(f"{rel}: the file no longer parses without its docstrings: "
                             f"{exc}") from exc
        path.write_text(text, encoding="utf-8")
