"""The ignore rules against git itself, on real trees: what ``walk`` yields must be what
``git ls-files --others --exclude-standard`` lists, and ``is_ignored`` must say what
``git check-ignore`` says, for random trees and ignore files built from realistic and hostile
pieces (fixed seeds: the same cases in every run), each within a time bound.

Left out of the comparison, where the walker differs from git on purpose: the ignore files
themselves (the walk reports their problems, never parses them), languages (every file is
"text" here), vendored directories (no name here can be one), symbolic links, names that are
not UTF-8 and nested repositories (none are made; test_walker.py has their tests).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from codegraph.index.walker import VENDORED_DIRS, SourceFile, is_ignored, walk

CASES = 600
CASE_SECONDS = 2.0  # the walk and every is_ignored of one case; a hostile line took minutes


def _text(path: str) -> str:
    return "text"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    home = tmp_path / "home"  # no global excludes file, no user configuration
    home.mkdir()
    top = tmp_path / "repo"
    top.mkdir()
    _git(top, home, "init", "-q")
    return top


def _git(top: Path, home: Path, *args: str, data: bytes | None = None) -> bytes:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_CONFIG_HOME": str(home),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}
    proc = subprocess.run(["git", *args], cwd=top, env=env, input=data, capture_output=True,
                          timeout=60)
    # check-ignore exits 1 when no path is ignored
    assert proc.returncode == 0 or (args[0] == "check-ignore" and proc.returncode == 1), proc
    return proc.stdout


NAME_CHARS = "abc.-" * 6 + " []!#*?\\\té"
ODD_NAMES = [" #a", "#a", "!a", "a ", "a\\", "[a]", "*", "a?b", "\\#a", "a\r"]
PIECES = [
    "a", "b", "c", ".", "-", "é", "*", "*", "**", "***", "?", "[a-c]", "[!a]", "[^b]",
    "[z-a]", "[c-a]b", "[]a]", "[!]]", "[]-]", "[a-]", "[-a]", "[\\]]", "[a\\-c]", "[\\",
    "[[:alpha:]]", "[[:punct:]]", "[[:space:]]", "[[:foo:]]", "[[:]", "[[:a]", "[a", "\\*",
    "\\?", "\\ ", "\\a", "\\[", "\\/", "\\", "[", "]", "!", "#", " ", "\t", "a**", "**a",
    "*" * 30 + "q",
]
STARS = ["*", "**", "***", "****"]


def _name(rng: random.Random) -> str:
    if rng.random() < 0.08:
        return rng.choice(ODD_NAMES)
    name = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 3)))
    return "a" + name if name in (".", "..") or name.startswith(".git") else name


def _grammar(rng: random.Random) -> str:
    """A pattern of random pieces."""
    def segment() -> str:
        return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))

    return "/".join(segment() for _ in range(rng.choice([1, 1, 1, 2, 2, 3])))


def _like(rng: random.Random, ch: str) -> str:
    """A piece of pattern for the character ``ch``: itself, escaped, ``?`` or a bracket."""
    low, high = chr(max(1, ord(ch) - rng.randint(0, 2))), chr(ord(ch) + rng.randint(0, 2))
    return rng.choice([ch, ch, ch, "\\" + ch, "?", f"[{ch}]", f"[{low}-{high}]", f"[!{high}]",
                       f"[-{ch}]", f"[{ch}-]", f"[\\{ch}]", "[[:punct:]]", "[[:alpha:]]"])


def _derived(rng: random.Random, path: str) -> str:
    """A pattern made from a path of the tree, that may well match it or its neighbours."""
    segments = []
    for seg in path.split("/"):
        roll = rng.random()
        if roll < 0.15:
            segments.append(rng.choice(STARS))
        elif roll < 0.3:
            segments.append(rng.choice([seg + rng.choice(STARS), rng.choice(STARS) + seg[1:]]))
        else:
            segments.append("".join(_like(rng, ch) if rng.random() < 0.3 else ch for ch in seg))
    if rng.random() < 0.3:  # "**" for no directory, or for several
        i = rng.randint(0, len(segments))
        segments[i:i + rng.randint(0, 2)] = [rng.choice(STARS[1:])]
    if rng.random() < 0.3:
        segments = segments[rng.randint(0, len(segments) - 1):]
    # mostly "/"; else what must not match it, or an escaped one
    return rng.choice(["/"] * 12 + ["\\/", "?", "*", "[!a]"]).join(segments)


def _pattern(rng: random.Random, paths: list[str]) -> str:
    pattern = _derived(rng, rng.choice(paths)) if rng.random() < 0.6 else _grammar(rng)
    if rng.random() < 0.2:
        pattern = "/" + pattern
    if rng.random() < 0.25:
        pattern += "/"
    if rng.random() < 0.25:
        pattern = "!" + pattern
    if rng.random() < 0.05:
        pattern = rng.choice(["#", " #", "\\#"]) + pattern
    if rng.random() < 0.15:
        pattern += rng.choice([" ", "  ", "\\ ", "\\  ", "\t", "\\", "\r", "/**", "**/"])
    return pattern


def _tree(rng: random.Random, top: Path) -> list[str]:
    """Random directories and files (each directory has one, so git sees it), random
    .gitignore files in some of the directories and .git/info/exclude; their paths."""
    dirs, files = [""], []
    for _ in range(rng.randint(3, 16)):
        rel = rng.choice(dirs) + _name(rng)
        if (top / rel).exists() or rel + "/" in dirs:
            continue
        if rng.random() < 0.35 and rel.count("/") < 4:
            (top / rel).mkdir()
            dirs.append(rel + "/")
        else:
            (top / rel).write_text("")
            files.append(rel)
    for d in dirs[1:]:
        if not any(f.startswith(d) and "/" not in f[len(d):] for f in files):
            (top / d / "f").write_text("")
            files.append(d + "f")
    paths = [d.rstrip("/") for d in dirs[1:]] + files
    for d in rng.sample(dirs, k=min(len(dirs), rng.randint(1, 3))):
        below = [p[len(d):] for p in paths if p.startswith(d)] or paths
        lines = [_pattern(rng, below) for _ in range(rng.randint(1, 6))]
        (top / d / ".gitignore").write_text("\n".join(lines) + rng.choice(["", "\n"]))
    if rng.random() < 0.2:
        (top / ".git/info/exclude").write_text(_pattern(rng, paths) + "\n")
    assert not {p.rpartition("/")[2] for p in paths} & VENDORED_DIRS
    return paths


def _clear(top: Path) -> None:
    for entry in top.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    (top / ".git/info/exclude").unlink(missing_ok=True)


def _split(out: bytes) -> list[str]:
    return [p for p in out.decode().split("\0") if p]


def _compare(top: Path, home: Path, paths: list[str]) -> list[str]:
    """The differences between git and the walker on the tree at ``top``."""
    listed = {p for p in _split(_git(top, home, "ls-files", "-z", "--others",
                                     "--exclude-standard")) if not p.endswith(".gitignore")}
    # source, line, pattern, path: for every path (the pattern empty when none matches)
    out = _git(top, home, "check-ignore", "--no-index", "--stdin", "-z", "-v", "-n",
               data="".join(p + "\0" for p in paths).encode()).decode().split("\0")
    verdicts = {out[i + 3]: bool(out[i + 2]) and not out[i + 2].startswith("!")
                for i in range(0, len(out) - 3, 4)}
    started = time.monotonic()
    walked = {r.path for r in walk(top, language_for=_text)
              if isinstance(r, SourceFile) and not r.path.endswith(".gitignore")}
    ours = {p: is_ignored(top, p, language_for=_text) for p in paths}
    seconds = time.monotonic() - started
    problems = [f"walk only: {p!r}" for p in sorted(walked - listed)]
    problems += [f"git only: {p!r}" for p in sorted(listed - walked)]
    problems += [f"is_ignored {p!r}: {ours[p]}, git: {verdicts[p]}" for p in paths
                 if not p.endswith(".gitignore") and ours[p] != verdicts[p]]
    if seconds > CASE_SECONDS:
        problems.append(f"took {seconds:.1f} s")
    return problems


def _ignore_files(top: Path) -> dict[str, str]:
    found = {str(p.relative_to(top)): p.read_text() for p in top.rglob(".gitignore")}
    exclude = top / ".git/info/exclude"
    return found | ({".git/info/exclude": exclude.read_text()} if exclude.exists() else {})


@pytest.mark.timeout(120)
def test_walk_and_is_ignored_agree_with_git(repo: Path) -> None:
    home = repo.parent / "home"
    failures = []
    for seed in range(CASES):
        _clear(repo)
        paths = _tree(random.Random(seed), repo)
        problems = _compare(repo, home, paths)
        if problems:
            failures.append(f"seed {seed}: {problems[:4]} with {_ignore_files(repo)}")
    assert not failures, f"{len(failures)} of {CASES} cases differ:\n" + "\n".join(failures[:5])


def test_classes_and_bytes_as_git(repo: Path) -> None:
    """Every [:class:], a range and ``?`` against each single-byte name git can hold (bytes
    1-255 but '/' and '.'), many not UTF-8: the matcher compares bytes, as git does."""
    home = repo.parent / "home"
    names = [bytes([b]) for b in range(1, 256) if b not in b"/."]
    for name in names:
        with open(os.path.join(os.fsencode(repo), b"d" + name), "wb"):
            pass
    patterns = [f"[[:{c}:]]" for c in ("alnum", "alpha", "blank", "cntrl", "digit", "graph",
                                       "lower", "print", "punct", "space", "upper", "xdigit")]
    patterns += ["[!a-z]", "[\x7f-\xff]", "?", "[^[:alpha:][:digit:]]"]
    for pattern in patterns:
        (repo / ".gitignore").write_bytes(b"d" + pattern.encode("latin-1") + b"\n")
        out = _git(repo, home, "ls-files", "-z", "--others", "--exclude-standard")
        listed = {os.fsdecode(p) for p in out.split(b"\0") if p.startswith(b"d")}
        ours = {os.fsdecode(b"d" + n) for n in names}
        assert {p for p in ours if not is_ignored(repo, p, language_for=_text)} == listed, \
            pattern


EDGE_TREE = ["a", "-", "b", "a-b", "a.b", "ab/c/d", "x/w", "x/y/w", "x/y/z/w", "x/yz/w",
             "#a", " #a", "a ", "a\\", "é", "[a]"]
EDGE_PATTERNS = [
    "[-a]", "[a-]", "[!-a]", "[a-b-]", "[]-]", "[z-a]", "[!z-a]", "[z-ab]", "[\\a-b]",
    "[a-\\b]", "[[:alpha:]-]", "[[:a]", "x/**\\/w", "x/**/w", "x/*/w", "x/**", "x/**/",
    "x**", "x/y**", "x/y**/w", "/x/y***/w", "***", "**/y/**", "a/**/**/d", " #a", "\\#a",
    "a\\ ", "a  ", "a\\", "a\\\\", "?", "??", "\\a", "[é]", "*/", "/*/", "x/y/*\\/w",
]


def test_edge_patterns_as_git(repo: Path) -> None:
    """Patterns on the edges of git's syntax, one at a time, on a fixed tree."""
    home = repo.parent / "home"
    for rel in EDGE_TREE:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text("")
    paths = sorted({str(p.relative_to(repo)) for p in repo.rglob("*")} - {".git"}
                   - {str(p.relative_to(repo)) for p in (repo / ".git").rglob("*")})
    for pattern in EDGE_PATTERNS:
        (repo / ".gitignore").write_text(pattern + "\n")
        assert _compare(repo, home, paths) == [], pattern


HOSTILE = [
    "*" * 200 + "q",  # Python's re took minutes on one path
    "a/" + "**/a" * 60 + "b",
    "?" * 250 + "*",
    "[a-c]" * 80,
    "*[!b]" * 60 + "q",
]
# git itself takes minutes on these, so their answers are written out
def _sixty_a_then_b(path: str) -> bool:
    name = path.rpartition("/")[2]
    return name.endswith("b") and name.count("a") >= 60


GIT_HOSTILE: dict[str, Callable[[str], bool]] = {
    "*a" * 60 + "*b": _sixty_a_then_b,
    "**/" * 100 + "x": lambda path: path.rpartition("/")[2] == "x",
}


@pytest.mark.timeout(60)
def test_hostile_patterns_are_fast_and_as_git(repo: Path) -> None:
    """Lines made to backtrack, on long names in deep directories: each answered within a
    second, as git answers (or, where git takes minutes, as written out)."""
    home = repo.parent / "home"
    deep = "/".join(["a" * 40] * 20)  # 820 bytes of path
    names = ["a" * 250, "ab" * 120 + "b", "a" * 249 + "q", "abc" * 80, "aq", "x"]
    files = [f"{deep}/{name}" for name in names] + names
    for rel in files:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text("")
    paths = files + [deep.rsplit("/", n)[0] for n in range(1, 20)]
    for pattern in HOSTILE:
        for line in (pattern, "/" + pattern, pattern + "/", "*\n!*/\n!" + pattern):
            (repo / ".gitignore").write_text(line)
            assert _compare(repo, home, paths) == [], line
    for pattern, ignored in GIT_HOSTILE.items():
        (repo / ".gitignore").write_text(pattern)
        started = time.monotonic()
        assert {r.path for r in walk(repo, language_for=_text)} == {
            p for p in files if not ignored(p)}
        assert [p for p in paths if is_ignored(repo, p, language_for=_text)] == [
            p for p in paths if ignored(p)]
        assert time.monotonic() - started < CASE_SECONDS


def test_one_long_bracket_line_is_read_in_linear_time() -> None:
    """A bracket of many '[:' that are not classes: each looked for the next ']' to the end
    of the line (quadratic: about 10 s for a 2 MB line)."""
    from codegraph.index.ignore import IgnoreFile

    line = b"[" + b"[:a" * 700_000 + b"]\n"
    started = time.monotonic()
    rules = IgnoreFile(line)
    assert time.monotonic() - started < 3
    # one bracket admitting '[', ':' and 'a': those one-character names, nothing else
    assert [rules.match(name, False) for name in (b"a", b":", b"[", b"b", b"aa")] == [
        True, True, True, None, None]
