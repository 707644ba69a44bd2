"""Search chunks: the text of each definition, ready to embed and to index lexically.

One chunk per function, method or constructor, and one per class: its source, with the
functions and classes defined inside it cut to their first line (they have chunks of
their own), so that a file's chunks hold each of its bytes a few times at most however
deeply its definitions nest. Large bodies are split into overlapping windows; the tiny
top-level constants and variables of a file are grouped into one chunk. Each chunk
starts with a header (path, qualified name, signature, docstring), is linked to its graph
node, and has a content hash: the embedding cache key.
"""

from __future__ import annotations

import bisect
import codecs
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codegraph.parse.facts import CALLABLE, CLASS_LIKE, Definition, FileFacts

MAX_LINES = 60  # a window of a large body
OVERLAP = 10  # lines shared by consecutive windows
MAX_CHARS = 4000  # hard cap on a chunk's body text
GROUPED_KINDS = frozenset({"constant", "variable", "type_alias"})
_CONTINUATION = re.compile(rb"[\x80-\xbf]")  # UTF-8 bytes that continue a character


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


@dataclass(slots=True)
class _Lines:
    """The lines of a chunk's body, each with the first and last source lines it shows."""

    texts: list[str]
    firsts: Sequence[int]
    lasts: Sequence[int]


def _windows(count: int) -> list[tuple[int, int]]:
    """(start, stop) of windows of at most MAX_LINES of ``count`` lines, overlapping by
    OVERLAP."""
    if count <= MAX_LINES:
        return [(0, count)]
    out = []
    start = 0
    while start < count:
        out.append((start, min(count, start + MAX_LINES)))
        if start + MAX_LINES >= count:
            break
        start += MAX_LINES - OVERLAP
    return out


def file_chunks(repo: str, path: str, facts: FileFacts, def_ids: list[str],
                def_qnames: list[str], module_id: str, module: str, source: bytes,
                ) -> list[Chunk]:
    """The chunks of one parsed file."""
    text = _Source(source)
    defs = facts.definitions
    inner = _inner_chunks(facts)
    # A line two definitions share goes whole to one of them: the first to start on it
    # has what comes before it, the last to end on it (the outermost of ties) what follows.
    first_on: dict[int, int] = {}
    last_on: dict[int, int] = {}
    for i, d in enumerate(defs):  # in order of their starts
        first_on.setdefault(d.line, i)
        j = last_on.get(d.end_line)
        if j is None or d.end_col > defs[j].end_col:
            last_on[d.end_line] = i
    chunks: list[Chunk] = []
    grouped: list[int] = []
    for i, d in enumerate(defs):
        if d.kind in GROUPED_KINDS and d.parent < 0:
            grouped.append(i)
            continue
        if d.kind not in CALLABLE and d.kind not in CLASS_LIKE:
            continue
        lines = _own_lines(text, defs, i, inner, first_on[d.line] == i,
                           last_on[d.end_line] == i)
        head = header(path, def_qnames[i], d.signature, d.doc)
        for part, (start, stop) in enumerate(_windows(len(lines.texts))):
            body = "\n".join(lines.texts[start:stop])[:MAX_CHARS]
            chunk_text = f"{head}\n{body}"
            chunks.append(Chunk(chunk_id(def_ids[i], part), def_ids[i], repo, path,
                                def_qnames[i], d.kind, facts.language, lines.firsts[start],
                                lines.lasts[stop - 1], chunk_text, text_hash(chunk_text)))
    if grouped:
        body = "\n".join(text.line(defs[i].line) for i in grouped)[:MAX_CHARS]
        chunk_text = f"{header(path, module, '', '')}\n{body}"
        first, last = defs[grouped[0]], defs[grouped[-1]]
        chunks.append(Chunk(chunk_id(module_id, 0), module_id, repo, path, module, "module",
                            facts.language, first.line, last.end_line, chunk_text,
                            text_hash(chunk_text)))
    return chunks


class _Source:
    """A file's lines, addressed by the 1-based lines and columns of facts (columns count
    bytes: ``column`` turns them into indexes in the decoded line)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.ascii = data.isascii()  # then a byte is a character
        # As many lines: an undecodable byte never takes a newline with it.
        self.lines = data.decode("utf-8", errors="replace").split("\n")
        if b"\r" in data:
            self.lines = [line.removesuffix("\r") for line in self.lines]
        self._raw: list[bytes] = []
        self._long: dict[int, _Offsets] = {}

    def column(self, line: int, col: int) -> int:
        """Where byte column ``col`` (1-based) of ``line`` is in its decoded text."""
        if self.ascii or self.lines[line - 1].isascii():
            return col - 1
        if not self._raw:
            self._raw = self.data.split(b"\n")
        raw = self._raw[line - 1]
        offset = min(col - 1, len(raw))
        if len(raw) <= 512:
            return len(raw[:offset].decode("utf-8", errors="replace"))
        found = self._long.get(line)  # a long line, perhaps of many definitions
        if found is None:
            found = self._long[line] = _Offsets(raw)
        return found.characters_before(offset)

    def line(self, line: int) -> str:
        return self.lines[line - 1]


class _Offsets:
    """Byte offsets to character indexes in one line, each in O(log n)."""

    def __init__(self, raw: bytes) -> None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:  # replacement characters: count them as decoded
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            self.table: list[int] | None = [0]
            for i in range(len(raw)):
                self.table.append(self.table[-1] + len(decoder.decode(raw[i:i + 1])))
        else:  # valid: a character per byte that does not continue one
            self.table = None
            self.continuing = [m.start() for m in _CONTINUATION.finditer(raw)]

    def characters_before(self, offset: int) -> int:
        if self.table is not None:
            return self.table[offset]
        return offset - bisect.bisect_left(self.continuing, offset)


def _inner_chunks(facts: FileFacts) -> dict[int, list[int]]:
    """For each chunked definition, the chunked definitions right inside it (in order):
    those whose nearest chunked ancestor it is."""
    defs = facts.definitions
    owner: list[int] = []  # nearest chunked ancestor (-1: none); parents come first
    inner: dict[int, list[int]] = {}
    for i, d in enumerate(defs):
        parent = d.parent if 0 <= d.parent < i else -1
        if parent >= 0 and defs[parent].kind not in CALLABLE \
                and defs[parent].kind not in CLASS_LIKE:
            parent = owner[parent]
        owner.append(parent)
        if parent >= 0 and (d.kind in CALLABLE or d.kind in CLASS_LIKE):
            inner.setdefault(parent, []).append(i)
    return inner


def _own_lines(text: _Source, defs: list[Definition], index: int,
               inner: dict[int, list[int]], whole_first: bool, whole_last: bool) -> _Lines:
    """A definition's lines (its first and last whole, or cut at its edges), with each
    chunked definition inside it cut to its first line (up to where one inside that one
    starts) and " ...": those have chunks of their own. So a byte of the file is in a
    few chunks at most (before windows): its innermost definition's, as the head of that
    one in the enclosing chunk, and as the shared first or last line of another."""
    d = defs[index]
    at = (d.line, 0 if whole_first else text.column(d.line, d.col))
    end_length = len(text.lines[d.end_line - 1])
    end = (d.end_line, end_length if whole_last else text.column(d.end_line, d.end_col))
    children = inner.get(index, ())
    if not children and at[1] == 0 and end[1] == end_length:  # whole lines: most of them
        numbers = range(d.line, d.end_line + 1)
        return _Lines(text.lines[d.line - 1:d.end_line], numbers, numbers)
    shown: list[tuple[tuple[int, int], tuple[int, int], bool]] = []  # from, to, elided
    for c in children:
        child = defs[c]
        child_start = (child.line, text.column(child.line, child.col))
        child_end = (child.end_line, text.column(child.end_line, child.end_col))
        if child_start < at or child_end > end:
            continue  # not nested inside the text shown so far (never in practice)
        cut = min((child.line, len(text.lines[child.line - 1])), child_end)
        grandchildren = inner.get(c)
        if grandchildren:
            first = defs[grandchildren[0]]
            cut = max(child_start, min(cut, (first.line, text.column(first.line, first.col))))
        shown.append((at, cut, cut < child_end))
        at = child_end
    shown.append((at, max(at, end), False))
    texts: list[str] = []
    firsts: list[int] = []
    lasts: list[int] = []
    current: list[str] = []
    number = d.line  # of the line being put together in ``current``
    for (line, col), (last, last_col), elided in shown:
        if line == last:
            current.append(text.lines[line - 1][col:last_col])
        else:
            current.append(text.lines[line - 1][col:])
            texts.append("".join(current))
            firsts.append(number)
            lasts.append(line)
            texts.extend(text.lines[line:last - 1])
            firsts.extend(range(line + 1, last))
            lasts.extend(range(line + 1, last))
            number, current = last, [text.lines[last - 1][:last_col]]
        if elided:
            current.append(" ...")
    texts.append("".join(current))
    firsts.append(number)
    lasts.append(end[0])
    return _Lines(texts, firsts, lasts)
