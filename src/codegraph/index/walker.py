"""Find the files of a repository that CodeGraph parses, and say why others are skipped.

The walk honours ``.gitignore`` files (at the root and in subdirectories), ``.codegraphignore``
files (same syntax; in one directory they take precedence over ``.gitignore``) and
``.git/info/exclude``, as git does (see ignore.py). Ignored paths are dropped silently;
vendored directories are pruned and reported once; so are an ignore file's problems (a line
that never matches) and a name that is not valid UTF-8 (the store keys paths by their text).
Files are only stat()ed here, never opened: :func:`content_skip_reason` judges their content
after the indexer has read them.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from codegraph.index.ignore import IgnoreFile, load
from codegraph.parse.languages import language_for_path


@dataclass(slots=True, frozen=True)
class SourceFile:
    path: str  # repo-relative POSIX path, e.g. "src/flask/app.py"
    abspath: str
    size: int
    mtime_ns: int
    language: str


@dataclass(slots=True, frozen=True)
class SkippedFile:
    """A file (or directory) that the walk does not parse, or an ignore file with problems."""

    path: str  # repo-relative POSIX path
    reason: str  # short human text, e.g. "vendored", "too large (3.2 MB > 1.0 MB)"


VENDORED_DIRS: frozenset[str] = frozenset({
    "node_modules", "bower_components", "jspm_packages", "vendor", "third_party", "third-party",
    "venv", ".venv", "site-packages", "dist-packages", ".eggs", "__pycache__",
    ".git", ".hg", ".svn", ".bzr", ".tox", ".nox", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".codegraph", ".yarn", ".pnpm-store",
})
IGNORE_FILES: tuple[str, ...] = (".gitignore", ".codegraphignore")  # later wins in one directory
EXCLUDE_FILE = ".git/info/exclude"
NOT_UTF8 = "name is not valid UTF-8"

# (length in bytes of the base "dir/" or "", its rules), shallowest first
_Chain = tuple[tuple[int, IgnoreFile], ...]
_Item = tuple[os.DirEntry[str], str, _Chain]  # entry, repo-relative path, ignore chain of its dir


def _extend(chain: _Chain, dir_abs: str, base: str, names: Iterable[str]) -> _Chain:
    """The ignore chain inside directory ``dir_abs`` (repo-relative prefix ``base``)."""
    for name in IGNORE_FILES:
        if name in names:
            rules = load(os.path.join(dir_abs, name))
            if rules:
                chain = (*chain, (len(os.fsencode(base)), rules))
    return chain


def _exclude(top: str) -> IgnoreFile:
    """``.git/info/exclude``: git follows a symbolic link to it; not out of the repository."""
    path = os.path.join(top, *EXCLUDE_FILE.split("/"))
    real = os.path.realpath(path)
    if _inside(real, os.path.realpath(top)):
        return load(path, follow=True)
    out = os.path.isfile(real)
    return IgnoreFile(problems=["not read: a symbolic link out of the repository"] if out else ())


def _root_chain(top: str, names: Iterable[str]) -> _Chain:
    exclude = _exclude(top)
    return _extend(((0, exclude),) if exclude else (), top, "", names)


def _ignored(chain: _Chain, rel: str, is_dir: bool) -> bool:
    """Git semantics: the deepest ignore file with a matching pattern decides, last match wins
    (matched on the path's bytes, as git does: a name that is not UTF-8 is matched too)."""
    path = os.fsencode(rel)
    for base, rules in reversed(chain):
        verdict = rules.match(path[base:], is_dir)
        if verdict is not None:
            return verdict
    return False


def _problems(rel: str, rules: IgnoreFile) -> SkippedFile | None:
    return SkippedFile(rel, rules.reason) if rules.problems else None


def is_utf8(name: str) -> bool:
    """False for a name from the file system that is not valid UTF-8 (it holds the surrogate
    escapes of its bytes)."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def shown_path(path: str) -> str:
    """A path as the index records it: a name that is not valid UTF-8 with its bytes escaped
    (``bad\\xff.py``); any other path as it is."""
    return os.fsencode(path).decode("utf-8", "backslashreplace") if not is_utf8(path) else path


def _inside(real: str, real_top: str) -> bool:
    return real == real_top or real.startswith(real_top.rstrip(os.sep) + os.sep)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks
    except OSError:
        return False


def _too_large(size: int, limit: int) -> str:
    unit, div = ("MB", 1e6) if limit >= 1_000_000 else ("KB", 1e3) if limit >= 1_000 else ("B", 1)
    digits = 1 if div > 1 else 0
    a, b = f"{size / div:.{digits}f} {unit}", f"{limit / div:.{digits}f} {unit}"
    return f"too large ({a} > {b})" if a != b else f"too large ({size} B > {limit} B)"


def _unreadable(e: OSError) -> str:
    return f"unreadable: {e.strerror or e}"


def _resolve_root(root: str | os.PathLike[str]) -> str:
    top = os.path.abspath(os.fspath(root))
    if not os.path.exists(top):
        raise FileNotFoundError(f"repository root does not exist: {top}")
    if not os.path.isdir(top):
        raise NotADirectoryError(f"repository root is not a directory: {top}")
    return top


def walk(root: str | os.PathLike[str], *, max_file_size: int = 1_000_000,
         language_for: Callable[[str], str | None] = language_for_path,
         ) -> Iterator[SourceFile | SkippedFile]:
    """Yield every file of the repository that CodeGraph would parse, or why it skips it.

    Order is deterministic: sorted by path, a directory comparing as ``"name/"``. Raises
    FileNotFoundError / NotADirectoryError at once (not on first ``next``) for a bad root.
    """
    walker = _Walker(_resolve_root(root), max_file_size, language_for)
    return walker.run(walker.listing(walker.top, "", None))


class _Walker:
    def __init__(self, top: str, max_file_size: int,
                 language_for: Callable[[str], str | None]) -> None:
        self.top = top
        self.real_top = os.path.realpath(top)
        self.max_file_size = max_file_size
        self.language_for = language_for
        st = os.stat(top)
        self.visited: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}

    def listing(self, dir_abs: str, base: str, chain: _Chain | None) -> list[_Item]:
        """The entries of a directory, reverse-sorted for popping off a stack."""
        with os.scandir(dir_abs) as it:
            entries = list(it)
        names = {e.name for e in entries}
        chain = _root_chain(dir_abs, names) if chain is None else _extend(
            chain, dir_abs, base, names)
        # a name that is not UTF-8 is reported escaped, unless that is a real name here
        entries = [e for e in entries if is_utf8(e.name) or shown_path(e.name) not in names]
        keyed = [(e.name + "/" if _is_dir(e) else e.name, e) for e in entries]
        keyed.sort(key=lambda k: k[0], reverse=True)
        return [(e, base + e.name, chain) for _, e in keyed]

    def run(self, stack: list[_Item]) -> Iterator[SourceFile | SkippedFile]:
        while stack:
            entry, rel, chain = stack.pop()
            if not is_utf8(entry.name):
                if not self.skipped_by_walk(entry, rel, chain):
                    yield SkippedFile(shown_path(rel), NOT_UTF8)
            elif _is_dir(entry):
                found = self.directory(entry, rel, chain)
                if isinstance(found, list):
                    stack.extend(found)
                elif found is not None:
                    yield found
            else:
                result = self.file(entry, rel, chain)
                if result is not None:
                    yield result

    def skipped_by_walk(self, entry: os.DirEntry[str], rel: str, chain: _Chain) -> bool:
        """True for what the walk passes by in silence: an ignored file or directory, a file
        of no known language."""
        is_dir = _is_dir(entry)
        return _ignored(chain, rel, is_dir) or (not is_dir and self.language_for(rel) is None)

    def directory(self, entry: os.DirEntry[str], rel: str,
                  chain: _Chain) -> list[_Item] | SkippedFile | None:
        name = entry.name
        if rel == ".git":  # pruned, but its exclude file's problems are reported
            return _problems(EXCLUDE_FILE, _exclude(self.top))
        if name in VENDORED_DIRS:
            if name.startswith(".") or name == "__pycache__" or _ignored(chain, rel, True):
                return None
            return SkippedFile(rel, "vendored")
        if _ignored(chain, rel, True):
            return None
        try:
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                if not _inside(real, self.real_top):
                    return SkippedFile(rel, "symlink outside repository")
                if _chain_into(self.real_top, os.path.relpath(real, self.real_top)) is not None:
                    return None  # the walk reaches it at its real path
            st = entry.stat()
            key = (st.st_dev, st.st_ino)
            if key in self.visited:  # a loop, or a second link to one directory
                return None
            self.visited.add(key)
            return self.listing(entry.path, rel + "/", chain)
        except OSError as e:
            return SkippedFile(rel, _unreadable(e))

    def file(self, entry: os.DirEntry[str], rel: str,
             chain: _Chain) -> SourceFile | SkippedFile | None:
        if entry.name in IGNORE_FILES:  # in effect even when ignored itself, as in git
            return _problems(rel, load(entry.path))
        language = self.language_for(rel)
        if language is None or _ignored(chain, rel, False):
            return None
        try:
            if entry.is_symlink():
                try:
                    st = os.stat(entry.path)
                except OSError as e:
                    if e.errno in (errno.ENOENT, errno.ELOOP):
                        return SkippedFile(rel, "broken symlink")
                    raise
                if not _inside(os.path.realpath(entry.path), self.real_top):
                    return SkippedFile(rel, "symlink outside repository")
            else:
                st = entry.stat()
        except OSError as e:
            return SkippedFile(rel, _unreadable(e))
        if not stat.S_ISREG(st.st_mode):
            return SkippedFile(rel, "not a regular file")
        if st.st_size > self.max_file_size:
            return SkippedFile(rel, _too_large(st.st_size, self.max_file_size))
        return SourceFile(rel, entry.path, st.st_size, st.st_mtime_ns, language)


def _chain_into(top: str, rel_dir: str) -> _Chain | None:
    """The ignore chain inside directory ``rel_dir``; None if the walk never enters it."""
    chain = _root_chain(top, IGNORE_FILES)
    rel = ""
    for name in [p for p in rel_dir.replace(os.sep, "/").split("/") if p not in ("", ".")]:
        if name == ".." or name in VENDORED_DIRS or not is_utf8(name) or _ignored(
                chain, rel + name, True):
            return None
        rel += name + "/"
        chain = _extend(chain, os.path.join(top, rel), rel, IGNORE_FILES)
    return chain


def is_ignored(root: str | os.PathLike[str], rel_path: str | os.PathLike[str], *,
               language_for: Callable[[str], str | None] = language_for_path) -> bool:
    """True when :func:`walk` would not yield ``rel_path`` (for the file watcher).

    ``rel_path`` may be absolute (paths outside ``root`` are ignored). A directory (existing, or
    written with a trailing slash) is ignored when the walk prunes it; a file when it is ignored,
    inside a pruned directory, or of no known language. Size and file type are not checked.
    """
    top = os.path.abspath(os.fspath(root))
    path = os.fspath(rel_path)
    is_dir = path.endswith(("/", os.sep))
    if os.path.isabs(path):
        path = os.path.relpath(path, top)
    path = path.replace(os.sep, "/").strip("/")
    if path in ("", "."):
        return False
    if is_dir or os.path.isdir(os.path.join(top, path)):
        return _chain_into(top, path) is None
    if language_for(path) is None:
        return True
    chain = _chain_into(top, path.rpartition("/")[0])
    return chain is None or _ignored(chain, path, False)


_MINIFIED_NAMES = (".min.js", ".min.mjs", ".min.cjs", ".min.css", "-min.js")


def content_skip_reason(data: bytes, path: str) -> str | None:
    """After reading a file: 'binary', 'minified', or None if it should be parsed.

    Binary: a NUL byte in the first 8 KiB. Minified: a ``*.min.js``-style name, or (files over
    2 KiB) an average line length over 300 characters with a line over 1,000.
    """
    if b"\0" in data[:8192]:
        return "binary"
    if path.lower().endswith(_MINIFIED_NAMES):
        return "minified"
    if len(data) > 2048:
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        if len(data) / lines > 300 and max(map(len, data.split(b"\n"))) > 1000:
            return "minified"
    return None


def stat_one(root: str | os.PathLike[str], rel_path: str, *, max_file_size: int = 1_000_000,
             language_for: Callable[[str], str | None] = language_for_path,
             ) -> SourceFile | SkippedFile | None:
    """One path as :func:`walk` would report it; None when it is gone or not walked."""
    top = os.path.abspath(os.fspath(root))
    path = rel_path.replace(os.sep, "/").strip("/")
    directory, _, name = path.rpartition("/")
    if path == EXCLUDE_FILE:
        return _problems(path, _exclude(top))
    if name in IGNORE_FILES:
        walked = _chain_into(top, directory) is not None
        return _problems(path, load(os.path.join(top, path))) if walked else None
    language = language_for(path)
    if language is None or is_ignored(top, path, language_for=language_for):
        return None
    abspath = os.path.join(top, path)
    if not is_utf8(path):  # reported by its escaped name, unless that is a real name too
        there = os.path.lexists(abspath) and not os.path.lexists(
            os.path.join(top, shown_path(path)))
        return SkippedFile(shown_path(path), NOT_UTF8) if there else None
    try:
        st = os.stat(abspath)
    except FileNotFoundError:
        return None
    except OSError as e:
        return SkippedFile(path, _unreadable(e))
    if not _inside(os.path.realpath(abspath), os.path.realpath(top)):
        return SkippedFile(path, "symlink outside repository")
    if not stat.S_ISREG(st.st_mode):
        return SkippedFile(path, "not a regular file")
    if st.st_size > max_file_size:
        return SkippedFile(path, _too_large(st.st_size, max_file_size))
    return SourceFile(path, abspath, st.st_size, st.st_mtime_ns, language)
