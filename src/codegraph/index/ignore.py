"""Ignore files read as git reads them, and matched in time linear in the path.

An ignore file (``.gitignore``, ``.codegraphignore``, ``.git/info/exclude``) is read line by
line as git's dir.c reads it: lines end at LF (a CR before it is dropped), ``#`` starts a
comment, trailing spaces go unless escaped, ``!`` re-includes, a trailing ``/`` matches
directories only; a pattern with no other slash matches a name in any directory, any other
pattern the path below the file's directory. Each pattern becomes an RE2 regular expression
over the path's bytes that follows git's wildmatch.c exactly (``?`` is one byte; ``*``, runs
of ``*`` and ``**``; ``\\`` escapes; brackets with ranges, ``!``/``^`` and ``[:class:]``),
and one RE2 set matches all the patterns of a file in a single pass. RE2 never backtracks:
a hostile line costs time linear in the path (Python's ``re`` took minutes on one line of
200 ``*`` and a ``q``).

A pattern that git can never match (an unclosed ``[``, an unknown ``[:class:]``, a bracket
that admits no character, a trailing ``\\``) is dropped, as it is of no effect in git either,
and reported as a problem of its file; so is a reversed range, a likely mistake (git reads
``[z-a]`` as ``z`` alone, and so do we).
"""

from __future__ import annotations

import os
import stat
import string
from collections.abc import Iterable

import re2

_SLASH, _BACKSLASH, _STAR, _QUESTION, _OPEN, _CLOSE, _DASH, _COLON = b"/\\*?[]-:"
_SPECIAL = b"*?[\\"  # git's is_glob_special: where a pattern's literal prefix ends


def _ascii(chars: str) -> frozenset[int]:
    return frozenset(chars.encode())


# wildmatch.c's classes, with git's own ctype (ASCII only; isspace is tab, LF, CR and space)
_CLASSES: dict[bytes, frozenset[int]] = {
    b"alnum": _ascii(string.ascii_letters + string.digits),
    b"alpha": _ascii(string.ascii_letters),
    b"blank": _ascii(" \t"),
    b"cntrl": frozenset([*range(32), 127]),
    b"digit": _ascii(string.digits),
    b"graph": frozenset(range(33, 127)),
    b"lower": _ascii(string.ascii_lowercase),
    b"print": frozenset(range(32, 127)),
    b"punct": _ascii(string.punctuation),
    b"space": _ascii(" \t\n\r"),
    b"upper": _ascii(string.ascii_uppercase),
    b"xdigit": _ascii(string.hexdigits),
}
_ANY_BYTE = frozenset(range(1, 256)) - {_SLASH}  # what a name may hold

# Bytes of expressions in one RE2 set (and so in one expression): larger sets compile, up to
# RE2's memory budget, but its simplifier gives up on them and logs to stderr.
_SET_BYTES = 100_000
_OPTIONS = re2.Options()
_OPTIONS.encoding = re2.Options.Encoding.LATIN1  # one byte, one character
_OPTIONS.never_capture = True
_OPTIONS.log_errors = False


class _NeverMatches(ValueError):
    """A pattern that git's wildmatch can never match; the message says why."""


class IgnoreFile:
    """The patterns of one ignore file, and the problems found in it (``line 3: ...``)."""

    __slots__ = ("_dir_only", "_negated", "_sets", "problems")

    def __init__(self, data: bytes = b"", problems: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        self._negated: list[bool] = []
        self._dir_only: list[bool] = []
        regexes: list[tuple[int, bytes]] = []
        for number, line in _lines(data):
            negated = line.startswith(b"!")
            pattern = line[1:] if negated else line
            dir_only = pattern.endswith(b"/")
            notes: list[str] = []
            try:
                regex = _regex(pattern[:-1] if dir_only else pattern, notes)
            except _NeverMatches as e:
                self.problems.append(f"line {number}: {_show(line)} never matches: {e} "
                                     "(git ignores it)")
                continue
            self.problems += [f"line {number}: {_show(line)}: {note}" for note in notes]
            if regex is not None and len(regex) > _SET_BYTES:
                self.problems.append(f"line {number}: too long to match, skipped")
            elif regex is not None:
                regexes.append((number, regex))
                self._negated.append(negated)
                self._dir_only.append(dir_only)
        self._sets: list[tuple[int, re2.Set]] = []
        start = size = 0
        for end, (_, regex) in enumerate(regexes):
            if size + len(regex) > _SET_BYTES:
                self._compile(regexes[start:end], start)
                start, size = end, 0
            size += len(regex)
        self._compile(regexes[start:], start)

    def _compile(self, regexes: list[tuple[int, bytes]], offset: int) -> None:
        """One RE2 set for the patterns, or (past RE2's memory budget) several."""
        if not regexes:
            return
        patterns = re2.Set.SearchSet(_OPTIONS)
        try:
            for _, regex in regexes:
                patterns.Add(regex)
            patterns.Compile()
        except re2.error:
            if len(regexes) == 1:  # left in no set: it never matches
                self.problems.append(f"line {regexes[0][0]}: too complex to match, skipped")
                return
            half = len(regexes) // 2
            self._compile(regexes[:half], offset)
            self._compile(regexes[half:], offset + half)
            return
        self._sets.append((offset, patterns))

    def __bool__(self) -> bool:
        return bool(self._sets)

    def match(self, path: bytes, is_dir: bool) -> bool | None:
        """Whether the last pattern that matches ``path`` (below the file's directory, no
        trailing slash) ignores it (True) or re-includes it (False); None if none matches."""
        last = -1
        for offset, patterns in self._sets:
            for i in patterns.Match(path) or ():
                if offset + i > last and (is_dir or not self._dir_only[offset + i]):
                    last = offset + i
        return None if last < 0 else not self._negated[last]

    @property
    def reason(self) -> str:
        """The problems, on one line (at most five, and how many more)."""
        more = len(self.problems) - 5
        return "; ".join(self.problems[:5]) + (f"; and {more} more" if more > 0 else "")


_cache: dict[str, tuple[tuple[int, int, int, int], IgnoreFile]] = {}


def load(path: str, *, follow: bool = False) -> IgnoreFile:
    """The ignore file at ``path`` (empty when there is none); cached by inode, size and
    time. As git, a symbolic link is not read unless ``follow`` (for ``info/exclude``)."""
    try:
        st = os.stat(path, follow_symlinks=follow)
        if stat.S_ISLNK(st.st_mode):
            return IgnoreFile(problems=["not read: a symbolic link (git does not follow it)"])
        if not stat.S_ISREG(st.st_mode):
            return IgnoreFile()
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        hit = _cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
        fd = os.open(path, flags)  # replaced since the stat: still no link, FIFO or device
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return IgnoreFile()
            data = f.read()
    except OSError:
        return IgnoreFile()
    rules = IgnoreFile(data)
    _cache[path] = (key, rules)
    return rules


def _lines(data: bytes) -> Iterable[tuple[int, bytes]]:
    """(number, pattern) of each line that is not blank or a comment, as dir.c reads it."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line or line.startswith(b"#"):
            continue
        line = line.removesuffix(b"\r").partition(b"\0")[0]  # C strings end at NUL
        pattern = _trim(line)
        if pattern:
            yield number, pattern


def _trim(line: bytes) -> bytes:
    """Without its trailing spaces, unless escaped (dir.c's trim_trailing_spaces)."""
    end, i, n = None, 0, len(line)
    while i < n:
        c = line[i]
        if c == 0x20:
            end = i if end is None else end
        elif c == _BACKSLASH:
            i += 1
            if i == n:
                return line
            end = None
        else:
            end = None
        i += 1
    return line if end is None else line[:end]


def _regex(pattern: bytes, notes: list[str]) -> bytes | None:
    """The RE2 expression (over the path below the ignore file's directory) of a pattern,
    without its ``!`` and trailing ``/``; None if empty. Likely mistakes go to ``notes``."""
    if _SLASH not in pattern:  # the name alone, in any directory
        return b"(?:^|/)" + _translate(pattern, None, notes) + b"$" if pattern else None
    pattern = pattern.removeprefix(b"/")
    # git compares the literal prefix apart and wildmatches the rest, where a run of
    # stars that follows the prefix starts the pattern: "a/b**" matches "a/bc/d"
    prefix = next((i for i, c in enumerate(pattern) if c in _SPECIAL), len(pattern))
    return b"^" + _translate(pattern, prefix, notes) + b"$" if pattern else None


def _translate(p: bytes, prefix: int | None, notes: list[str]) -> bytes:
    """wildmatch.c, as a regular expression. ``prefix`` is where git's wildmatch starts in
    a path pattern (None: a name, where ``**`` is ``*``)."""
    out: list[bytes] = []
    closes: list[int] | None = None
    i, n = 0, len(p)
    while i < n:
        c = p[i]
        if c == _BACKSLASH:
            if i + 1 == n:
                raise _NeverMatches("it ends with an unescaped '\\'")
            out.append(_literal(p[i + 1]))
            i += 2
        elif c == _QUESTION:
            out.append(b"[^/]")
            i += 1
        elif c == _STAR:
            j = i
            while j < n and p[j] == _STAR:
                j += 1
            whole_segments = prefix is not None and j - i > 1 and (
                i in (0, prefix) or p[i - 1] == _SLASH) and (
                j == n or p[j] == _SLASH or p[j:j + 2] == b"\\/")
            if not whole_segments:
                out.append(b"[^/]*")
            elif j < n and p[j] == _SLASH:  # "**/": no directory, or any number
                out.append(b"(?:.*/)?")
                j += 1
            else:
                out.append(b".*")
            i = j
        elif c == _OPEN:
            if closes is None:  # where the next ']' is, from each position (see _bracket)
                closes = _next_closes(p)
            chars, i = _bracket(p, i, notes, closes)
            out.append(_char_class(chars))
        else:
            out.append(_literal(c))
            i += 1
    return b"".join(out)


def _next_closes(p: bytes) -> list[int]:
    """For each position of ``p``, where the first ``]`` at or after it is (-1: none)."""
    out, following = [-1] * (len(p) + 1), -1
    for i in range(len(p) - 1, -1, -1):
        if p[i] == _CLOSE:
            following = i
        out[i] = following
    return out


def _bracket(p: bytes, start: int, notes: list[str], closes: list[int],
             ) -> tuple[frozenset[int], int]:
    """The bytes that the bracket expression at ``p[start]`` admits, and where it ends."""
    unclosed = _NeverMatches("a '[' is never closed")
    n = len(p)
    k = start + 1
    negated = k < n and p[k] in b"!^"
    k += negated
    chars: set[int] = set()
    previous = 0
    while True:  # as wildmatch.c's do-while: the first character may be ']'
        if k >= n:
            raise unclosed
        c = p[k]
        if c == _BACKSLASH:
            k += 1
            if k >= n:
                raise unclosed
            c = p[k]
            chars.add(c)
        elif c == _DASH and previous and k + 1 < n and p[k + 1] != _CLOSE:
            k += 1
            if p[k] == _BACKSLASH:
                k += 1
                if k >= n:
                    raise unclosed
            chars.update(range(previous, p[k] + 1))
            if p[k] < previous:
                low, high = (_show(bytes([b]), quote=False) for b in (previous, p[k]))
                notes.append(f"the range {low}-{high} is reversed: empty (as git reads it)")
            c = 0
        elif c == _OPEN and k + 1 < n and p[k + 1] == _COLON:
            end = closes[k + 2]  # as p.find: found once for the line (quadratic per '[:')
            if end < 0:
                raise unclosed
            if end - k - 3 >= 0 and p[end - 1] == _COLON:
                name = p[k + 2:end - 1]
                if name not in _CLASSES:
                    raise _NeverMatches(f"no class [:{_show(name, quote=False)}:]")
                chars |= _CLASSES[name]
                c, k = 0, end
            else:  # not a class: '[' stands for itself
                chars.add(c)
        else:
            chars.add(c)
        previous = c
        k += 1
        if k >= n:
            raise unclosed
        if p[k] == _CLOSE:
            break
    admitted = (_ANY_BYTE - chars) if negated else (_ANY_BYTE & chars)
    if not admitted:
        raise _NeverMatches(f"{_show(p[start:k + 1])} admits no character")
    return admitted, k + 1


def _literal(c: int) -> bytes:
    return bytes([c]) if chr(c).isascii() and chr(c).isalnum() else b"\\x%02x" % c


def _char_class(chars: frozenset[int]) -> bytes:
    out, ordered, i = [b"["], sorted(chars), 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(b"\\x%02x" % ordered[i] + (b"-\\x%02x" % ordered[j] if j > i else b""))
        i = j + 1
    return b"".join([*out, b"]"])


def _show(text: bytes, quote: bool = True) -> str:
    """Text from an ignore file, fit for a message: undecodable bytes and control characters
    escaped, cut after 60 characters."""
    shown = text.decode("utf-8", "backslashreplace")
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in shown)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"'{shown}'" if quote else shown
