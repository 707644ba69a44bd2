"""Search chunks: the text of each definition, ready to embed and to index lexically.

One chunk per function, method or constructor, and one per class (its head and body,
with the bodies of its methods left to their own chunks). Large bodies are split into
overlapping windows; the tiny top-level constants and variables of a file are grouped
into one chunk. Each chunk starts with a header (path, qualified name, signature,
docstring), is linked to its graph node, and has a content hash: the embedding cache key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from codegraph.parse.facts import CALLABLE, CLASS_LIKE, FileFacts

MAX_LINES = 60  # a window of a large body
OVERLAP = 10  # lines shared by consecutive windows
MAX_CHARS = 4000  # hard cap on a chunk's body text
GROUPED_KINDS = frozenset({"constant", "variable", "type_alias"})


@dataclass(slots=True)
class Chunk:
    id: str
    node_id: str
    repo: str
    path: str
    qualified_name: str
    kind: str
    language: str
    line: int
    end_line: int
    text: str
    hash: str

    def to_wire(self) -> list[Any]:
        return [self.node_id, self.repo, self.path, self.qualified_name, self.kind,
                self.language, self.line, self.end_line, self.text, self.hash]

    @classmethod
    def from_wire(cls, chunk_id: str, w: list[Any]) -> Chunk:
        return cls(chunk_id, *w)


def chunk_id(node_id: str, part: int) -> str:
    return hashlib.blake2b(f"{node_id}\0{part}".encode(), digest_size=8).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def header(path: str, qualified_name: str, signature: str, doc: str) -> str:
    lines = [f"# {path}", f"# {qualified_name}"]
    if signature:
        lines.append(signature)
    if doc:
        lines.append(doc)
    return "\n".join(lines)


def _windows(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(offset, lines) windows of at most MAX_LINES, overlapping by OVERLAP."""
    if len(lines) <= MAX_LINES:
        return [(0, lines)]
    out = []
    start = 0
    while start < len(lines):
        out.append((start, lines[start:start + MAX_LINES]))
        if start + MAX_LINES >= len(lines):
            break
        start += MAX_LINES - OVERLAP
    return out


def file_chunks(repo: str, path: str, facts: FileFacts, def_ids: list[str],
                def_qnames: list[str], module_id: str, module: str, source: bytes,
                ) -> list[Chunk]:
    """The chunks of one parsed file."""
    text = source.decode("utf-8", errors="replace")
    lines = text.splitlines()
    defs = facts.definitions
    chunks: list[Chunk] = []
    nested: dict[int, list[tuple[int, int]]] = {}  # class index -> its callables' spans
    for d in defs:
        if d.kind in CALLABLE and d.parent >= 0 and defs[d.parent].kind in CLASS_LIKE:
            nested.setdefault(d.parent, []).append((d.line, d.end_line))
    grouped: list[int] = []
    for i, d in enumerate(defs):
        if d.kind in GROUPED_KINDS and d.parent < 0:
            grouped.append(i)
            continue
        if d.kind not in CALLABLE and d.kind not in CLASS_LIKE:
            continue
        body_lines = lines[d.line - 1:d.end_line]
        if d.kind in CLASS_LIKE and i in nested:
            body_lines = _elide(lines, d.line, d.end_line, nested[i])
        head = header(path, def_qnames[i], d.signature, d.doc)
        for part, (offset, window) in enumerate(_windows(body_lines)):
            body = "\n".join(window)[:MAX_CHARS]
            chunk_text = f"{head}\n{body}"
            chunks.append(Chunk(chunk_id(def_ids[i], part), def_ids[i], repo, path,
                                def_qnames[i], d.kind, facts.language, d.line + offset,
                                min(d.end_line, d.line + offset + len(window) - 1),
                                chunk_text, text_hash(chunk_text)))
    if grouped:
        body = "\n".join(lines[defs[i].line - 1] for i in grouped)[:MAX_CHARS]
        chunk_text = f"{header(path, module, '', '')}\n{body}"
        first, last = defs[grouped[0]], defs[grouped[-1]]
        chunks.append(Chunk(chunk_id(module_id, 0), module_id, repo, path, module, "module",
                            facts.language, first.line, last.end_line, chunk_text,
                            text_hash(chunk_text)))
    return chunks


def _elide(lines: list[str], start: int, end: int, spans: list[tuple[int, int]]) -> list[str]:
    """A class's lines with each method's body replaced by its first line."""
    ends: dict[int, int] = {}  # first line of a method -> its last (the first given wins)
    for s, e in spans:
        ends.setdefault(s, e)
    out: list[str] = []
    number = start
    while number <= end:
        last = ends.get(number)
        if last is None:
            out.append(lines[number - 1])
        else:
            out.append(lines[number - 1] + (" ..." if last > number else ""))
            number = max(number, last)
        number += 1
    return out
