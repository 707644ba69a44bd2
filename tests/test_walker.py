"""Tests for codegraph.index.walker, on real files in tmp_path."""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from codegraph.index.walker import (
    VENDORED_DIRS,
    SkippedFile,
    SourceFile,
    content_skip_reason,
    is_ignored,
    stat_one,
    walk,
)
from codegraph.parse.languages import language_for_path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def make(root: Path, *paths: str, text: str = "x = 1\n") -> None:
    for p in paths:
        f = root / p
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)


def files(root: Path, language_for: Callable[[str], str | None] = language_for_path) -> list[str]:
    return [r.path for r in walk(root, language_for=language_for) if isinstance(r, SourceFile)]


def skipped(root: Path) -> dict[str, str]:
    return {r.path: r.reason for r in walk(root) if isinstance(r, SkippedFile)}


def test_source_file_fields(tmp_path: Path) -> None:
    make(tmp_path, "pkg/mod.py", "README.md", "web/app.ts")
    result = list(walk(tmp_path))
    assert [r.path for r in result] == ["pkg/mod.py", "web/app.ts"]
    mod = result[0]
    assert isinstance(mod, SourceFile)
    st = os.stat(tmp_path / "pkg/mod.py")
    assert mod.abspath == str(tmp_path / "pkg" / "mod.py")
    assert (mod.size, mod.mtime_ns, mod.language) == (st.st_size, st.st_mtime_ns, "python")
    assert isinstance(result[1], SourceFile) and result[1].language == "typescript"


def test_bad_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        walk(tmp_path / "missing")
    make(tmp_path, "a.py")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        walk(tmp_path / "a.py")


def test_nested_gitignore_with_negation(tmp_path: Path) -> None:
    make(tmp_path, "a.py", "debug.py", "generated_x.py", "local.py", "build/out.py",
         "sub/generated_keep.py", "sub/generated_other.py", "sub/local.py", "sub/ok.py",
         "sub/deeper/debug.py", "sub/build/y.py", "build.py")
    (tmp_path / ".gitignore").write_text("# comment\n\ndebug.py\ngenerated_*.py\nbuild/\n")
    (tmp_path / "sub/.gitignore").write_text("!generated_keep.py\nlocal.py\n!debug.py\n")
    assert files(tmp_path) == [
        "a.py", "build.py", "local.py", "sub/deeper/debug.py", "sub/generated_keep.py",
        "sub/ok.py",
    ]
    assert skipped(tmp_path) == {}  # ignored files are not even reported
    assert is_ignored(tmp_path, "generated_x.py")
    assert is_ignored(tmp_path, "sub/local.py")
    assert not is_ignored(tmp_path, "sub/generated_keep.py")
    assert not is_ignored(tmp_path, tmp_path / "sub" / "deeper" / "debug.py")
    assert is_ignored(tmp_path, "build/new.py")
    assert is_ignored(tmp_path, "build")
    assert is_ignored(tmp_path, "sub/notes.txt")  # no language


def test_directory_only_and_anchored_patterns(tmp_path: Path) -> None:
    make(tmp_path, "models/a.py", "lib/models", "lib/models.py", "top.py", "lib/top.py",
         "docs/conf.py", "docs/api/gen.py")
    (tmp_path / ".gitignore").write_text("models/\n/top.py\ndocs/*\n!docs/api/\n")
    everything = files(tmp_path, language_for=lambda p: "text")
    assert [p for p in everything if not p.endswith("ignore")] == [
        "docs/api/gen.py", "lib/models", "lib/models.py", "lib/top.py",
    ]


def test_codegraphignore_and_info_exclude(tmp_path: Path) -> None:
    make(tmp_path, "a.py", "api_pb2.py", "docs/conf.py", "x.gen.py", "keep.gen.py",
         "scratch.py", "sub/b_pb2.py", "sub/c.py", ".git/info/placeholder")
    (tmp_path / ".gitignore").write_text("*.gen.py\n")
    (tmp_path / ".codegraphignore").write_text("docs/\n*_pb2.py\n!keep.gen.py\n")
    (tmp_path / ".git/info/exclude").write_text("scratch.py\n")
    (tmp_path / "sub/.codegraphignore").write_text("c.py\n")
    assert files(tmp_path) == ["a.py", "keep.gen.py"]
    assert is_ignored(tmp_path, "scratch.py")
    assert is_ignored(tmp_path, "sub/c.py")
    assert not is_ignored(tmp_path, "keep.gen.py")


def test_vendored_dirs_reported_once(tmp_path: Path) -> None:
    make(tmp_path, "app.js", "node_modules/left-pad/index.js", "node_modules/a/b/c.js",
         "vendor/github.com/x/y.go", "pkg/node_modules/z.js", "pkg/main.go",
         ".git/hooks/pre-commit.py", ".venv/lib/site.py", "pkg/__pycache__/m.py",
         "ignored/node_modules/q.js", ".github/scripts/release.py")
    (tmp_path / ".gitignore").write_text("ignored/node_modules/\n")
    result = list(walk(tmp_path))
    # other hidden directories (not in VENDORED_DIRS) are walked like any other
    assert [r.path for r in result if isinstance(r, SourceFile)] == [
        ".github/scripts/release.py", "app.js", "pkg/main.go"]
    assert {r.path: r.reason for r in result if isinstance(r, SkippedFile)} == {
        "node_modules": "vendored", "vendor": "vendored", "pkg/node_modules": "vendored",
    }
    assert {"node_modules", ".git", "site-packages", ".codegraph"} <= VENDORED_DIRS
    assert is_ignored(tmp_path, "node_modules/left-pad/index.js")
    assert is_ignored(tmp_path, ".git/hooks/pre-commit.py")


def test_oversized_file_by_stat(tmp_path: Path) -> None:
    make(tmp_path, "small.py")
    with open(tmp_path / "big.py", "wb") as f:
        f.truncate(3_200_000)  # sparse: fast to create, and never read by the walk
    assert skipped(tmp_path) == {"big.py": "too large (3.2 MB > 1.0 MB)"}
    result = list(walk(tmp_path, max_file_size=4_000_000))
    assert [r.path for r in result if isinstance(r, SourceFile)] == ["big.py", "small.py"]
    assert list(walk(tmp_path, max_file_size=3))[1] == SkippedFile(
        "small.py", "too large (6 B > 3 B)")


def test_symlinks_escaping_the_root(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    make(outside, "secret.py", "lib/x.py")
    make(repo, "a.py")
    (repo / "link.py").symlink_to(outside / "secret.py")
    (repo / "linkdir").symlink_to(outside / "lib", target_is_directory=True)
    (repo / "rel.py").symlink_to("../outside/secret.py")
    assert files(repo) == ["a.py"]
    assert skipped(repo) == {
        "link.py": "symlink outside repository",
        "linkdir": "symlink outside repository",
        "rel.py": "symlink outside repository",
    }


def test_symlinks_inside_the_root(tmp_path: Path) -> None:
    make(tmp_path, "src/m.py", "gen/g.py", "real.py")
    (tmp_path / ".gitignore").write_text("gen/\n")
    (tmp_path / "alias").symlink_to("src", target_is_directory=True)  # walked at src/ only
    (tmp_path / "genlink").symlink_to("gen", target_is_directory=True)  # only way into gen/
    (tmp_path / "genlink2").symlink_to("gen", target_is_directory=True)  # visited once
    (tmp_path / "same.py").symlink_to("real.py")
    assert files(tmp_path) == ["genlink/g.py", "real.py", "same.py", "src/m.py"]
    assert skipped(tmp_path) == {}


@pytest.mark.timeout(30)
def test_symlink_loops_terminate(tmp_path: Path) -> None:
    make(tmp_path, "a/b/x.py", "top.py", "hidden/h.py")
    (tmp_path / "a/b/up").symlink_to("..", target_is_directory=True)
    (tmp_path / "a/self").symlink_to(".", target_is_directory=True)
    (tmp_path / "a/root").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / ".gitignore").write_text("hidden/\n")
    (tmp_path / "hidden/loop").symlink_to("..", target_is_directory=True)
    (tmp_path / "hidden/again").symlink_to(".", target_is_directory=True)
    (tmp_path / "h").symlink_to("hidden", target_is_directory=True)
    (tmp_path / "p.py").symlink_to("q.py")
    (tmp_path / "q.py").symlink_to("p.py")
    assert files(tmp_path) == ["a/b/x.py", "h/h.py", "top.py"]
    assert skipped(tmp_path) == {"p.py": "broken symlink", "q.py": "broken symlink"}


def test_broken_symlink(tmp_path: Path) -> None:
    make(tmp_path, "a.py")
    (tmp_path / "dangling.py").symlink_to("nowhere.py")
    (tmp_path / "dangling.txt").symlink_to("nowhere.txt")  # no language: silent
    assert list(walk(tmp_path)) == [
        SourceFile("a.py", str(tmp_path / "a.py"), 6, os.stat(tmp_path / "a.py").st_mtime_ns,
                   "python"),
        SkippedFile("dangling.py", "broken symlink"),
    ]


@pytest.mark.timeout(30)
def test_fifo_skipped_without_blocking(tmp_path: Path) -> None:
    make(tmp_path, "a.py")
    os.mkfifo(tmp_path / "pipe.py")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "to_pipe.py").symlink_to("pipe.py")
    assert files(tmp_path) == ["a.py"]
    assert skipped(tmp_path) == {"pipe.py": "not a regular file",
                                 "to_pipe.py": "not a regular file"}


def test_binary_detection() -> None:
    assert content_skip_reason(b"import os\n\x00\x01\x02", "x.py") == "binary"
    assert content_skip_reason(b"a = 1\n" * 1500 + b"\x00", "x.py") is None  # NUL after 8 KiB
    assert content_skip_reason("s = 'héllo'\n".encode(), "x.py") is None
    assert content_skip_reason(b"", "empty.py") is None


def test_minified_detection() -> None:
    assert content_skip_reason(b"var a=1;", "dist/jquery.min.js") == "minified"
    assert content_skip_reason(b"a{b:c}", "x.MIN.CSS") == "minified"
    one_line = b"var a=1;" * 500  # 4,000 chars on one line
    assert content_skip_reason(one_line, "bundle.js") == "minified"
    assert content_skip_reason(one_line[:2000], "small.js") is None  # under 2 KiB
    normal = b"function f(a, b) {\n  return a + b;\n}\n" * 200
    assert content_skip_reason(normal, "app.js") is None
    # one long line among many normal ones: average stays low
    assert content_skip_reason(normal + b"x" * 1500 + b"\n" + normal, "app.js") is None
    # long average, but no line over 1,000 chars
    assert content_skip_reason((b"y" * 900 + b"\n") * 10, "data.js") is None


def test_deterministic_sorted_order(tmp_path: Path) -> None:
    names = [f"d{i % 7}/{'sub/' if i % 3 else ''}f{i}.py" for i in range(60)]
    names += ["a.py", "a/b.py", "a-b.py", "a_b/c.py", "B.py", "z.go"]
    random.Random(4).shuffle(names)
    make(tmp_path, *names)
    first = [r.path for r in walk(tmp_path)]
    assert first == sorted(names)
    assert [r.path for r in walk(tmp_path)] == first


def test_two_thousand_files(tmp_path: Path) -> None:
    expected = []
    for d in range(20):
        for f in range(100):
            rel = f"pkg{d:02}/m{f:03}.py"
            expected.append(rel)
            make(tmp_path, rel, text=f"v = {f}\n")
        make(tmp_path, f"pkg{d:02}/README.md")
    result = list(walk(tmp_path))
    assert [r.path for r in result] == expected
    assert all(isinstance(r, SourceFile) and r.language == "python" for r in result)
    assert sum(r.size for r in result if isinstance(r, SourceFile)) == sum(
        len(f"v = {i % 100}\n") for i in range(2000))


_CHILD = """
import json, os, sys
from codegraph.index.walker import walk, SourceFile
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
print(json.dumps([[r.path, getattr(r, "reason", "")] for r in walk(sys.argv[1])]))
"""


def test_unreadable_directory(tmp_path: Path) -> None:
    # As root, permissions are not enforced: the child drops to uid 65534 (nobody) after its
    # imports (the interpreter may live under /root, unreadable to nobody).
    repo = Path(tempfile.mkdtemp(prefix="cg-walker-"))
    try:
        repo.chmod(0o755)
        make(repo, "a.py", "locked/secret.py", "z/ok.py")
        for d in (repo / "z", repo / "locked"):
            d.chmod(0o755)
        (repo / "locked").chmod(0)
        env = {**os.environ, "PYTHONPATH": SRC}
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(repo)], env=env,
                              capture_output=True, text=True, timeout=60)
        if proc.returncode and "Operation not permitted" in proc.stderr:
            pytest.skip("cannot drop privileges to uid 65534 here")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == [
            ["a.py", ""], ["locked", "unreadable: Permission denied"], ["z/ok.py", ""],
        ]
    finally:
        (repo / "locked").chmod(stat.S_IRWXU)
        shutil.rmtree(repo)


def test_ignore_lines_git_cannot_match_are_reported(tmp_path: Path) -> None:
    """A line that git can never match is of no effect, and reported as a problem of its file
    (a reversed range, a likely mistake, too: it used to end the whole walk with re.error);
    the other lines apply as in git."""
    make(tmp_path, "a.py", "bz.py", "0.py", "9.py", "90.py", "sub/c.py", "sub/dd.py",
         ".git/info/x")
    (tmp_path / ".gitignore").write_text("# real\n[z-a]\n[9-0]?.py\nbz.py\n[[:word:]]\n")
    (tmp_path / "sub/.gitignore").write_text("[!z].py\nfoo[\n")
    (tmp_path / ".git/info/exclude").write_text("ok\nbad\\\n")
    assert files(tmp_path) == ["0.py", "9.py", "a.py", "sub/dd.py"]  # [9-0]: 9, as in git
    reversed_range = "the range {} is reversed: empty (as git reads it)"
    assert skipped(tmp_path) == {
        ".git/info/exclude": "line 2: 'bad\\' never matches: it ends with an unescaped '\\' "
                             "(git ignores it)",
        ".gitignore": f"line 2: '[z-a]': {reversed_range.format('z-a')}; line 3: "
                      f"'[9-0]?.py': {reversed_range.format('9-0')}; line 5: '[[:word:]]' "
                      "never matches: no class [:word:] (git ignores it)",
        "sub/.gitignore": "line 2: 'foo[' never matches: a '[' is never closed (git ignores it)",
    }
    assert is_ignored(tmp_path, "bz.py") and not is_ignored(tmp_path, "9.py")
    for path in (".gitignore", "sub/.gitignore", ".git/info/exclude", "a.py"):
        assert stat_one(tmp_path, path) == next(
            (r for r in walk(tmp_path) if r.path == path), None), path
    (tmp_path / "sub/.gitignore").write_text("[!z].py\n")  # fixed: no problem left
    assert stat_one(tmp_path, "sub/.gitignore") is None
    assert "sub/.gitignore" not in skipped(tmp_path)


def test_symlinked_ignore_file_is_not_read(tmp_path: Path) -> None:
    """As git: a .gitignore that is a symbolic link is not read (its lines could come from
    anywhere); it is reported."""
    make(tmp_path, "a.py", "b.py", "rules")
    (tmp_path / "rules").write_text("a.py\n")
    (tmp_path / ".gitignore").symlink_to("rules")
    assert files(tmp_path) == ["a.py", "b.py"]
    assert skipped(tmp_path) == {
        ".gitignore": "not read: a symbolic link (git does not follow it)"}
    out = subprocess.run(["git", "init", "-q"], cwd=tmp_path, capture_output=True, timeout=60)
    assert out.returncode == 0
    listed = subprocess.run(["git", "ls-files", "-o", "--exclude-standard", "*.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert listed.stdout.split() == ["a.py", "b.py"]


def test_exclude_file_out_of_the_repository_is_not_read(tmp_path: Path) -> None:
    """.git/info/exclude may be a symbolic link (git follows it), but not out of the
    repository: its lines would show in the problems."""
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    make(repo, "a.py", "b.py", ".git/info/placeholder", "inside")
    make(outside, "secret")
    (outside / "secret").write_text("b.py\nfoo[\n")
    (repo / "inside").write_text("a.py\n")
    (repo / ".git/info/exclude").symlink_to(outside / "secret")
    assert files(repo) == ["a.py", "b.py"]
    assert skipped(repo) == {
        ".git/info/exclude": "not read: a symbolic link out of the repository"}
    (repo / ".git/info/exclude").unlink()
    (repo / ".git/info/exclude").symlink_to(repo / "inside")
    assert files(repo) == ["b.py"]
    assert skipped(repo) == {}


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A name that is not UTF-8 cannot be a key of the store: reported by its escaped name
    (it used to end the whole run), and everything else walked as before."""
    make(tmp_path, "a.py", "z.py", "bad\\xff.txt")
    top = os.fsencode(tmp_path)
    for name in (b"bad\xff.py", b"bad\xfe.txt", b"gone\xff.py", b"bad\xff.txt"):
        (Path(os.fsdecode(top + b"/" + name))).write_text("x = 1\n")
    os.makedirs(top + b"/dir\xe9/sub")
    (Path(os.fsdecode(top + b"/dir\xe9/sub/in.py"))).write_text("y = 2\n")
    (tmp_path / ".gitignore").write_bytes(b"gone\xff.py\n")  # matched on bytes, as git does
    result = list(walk(tmp_path))
    assert [r.path for r in result if isinstance(r, SourceFile)] == ["a.py", "z.py"]
    assert skipped(tmp_path) == {"bad\\xff.py": "name is not valid UTF-8",
                                 "dir\\xe9": "name is not valid UTF-8"}
    for r in result:  # every path can be stored
        r.path.encode()
    # bad\xff.txt: no language; its escaped name is also a real name (of no language)
    assert stat_one(tmp_path, os.fsdecode(b"bad\xff.py")) == SkippedFile(
        "bad\\xff.py", "name is not valid UTF-8")
    assert stat_one(tmp_path, os.fsdecode(b"gone\xff.py")) is None
    assert is_ignored(tmp_path, os.fsdecode(b"gone\xff.py"))
    assert not is_ignored(tmp_path, os.fsdecode(b"bad\xff.py"))
    assert is_ignored(tmp_path, os.fsdecode(b"dir\xe9/sub/in.py"))
    assert stat_one(tmp_path, os.fsdecode(b"dir\xe9/sub/in.py")) is None


def test_escaped_name_that_is_also_a_real_name(tmp_path: Path) -> None:
    """``bad\\xff.py`` spelled out exists too: it is the file of that name; the one that is
    not UTF-8 is not reported under the other's name."""
    make(tmp_path, "bad\\xff.py")
    (Path(os.fsdecode(os.fsencode(tmp_path) + b"/bad\xff.py"))).write_text("x = 1\n")
    assert files(tmp_path) == ["bad\\xff.py"]
    assert skipped(tmp_path) == {}
    assert stat_one(tmp_path, os.fsdecode(b"bad\xff.py")) is None


@pytest.mark.timeout(60)
def test_huge_ignore_file(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """20,000 lines and one of 100 KB: matched in bounded time and memory (RE2 sets of
    bounded size), the line too long for a set reported, nothing written to stderr (RE2 logs
    there when one set is too large)."""
    make(tmp_path, "src/a/gen7/x.py", "src/a/gen7x/y.py", "keep.py", "other.py")
    lines = ["?" * 50 + f"x{i}" for i in range(19_999)] + ["src/**/gen7/*.py"]
    lines += ["?" * 100_000, "keep.py"]
    (tmp_path / ".gitignore").write_text("\n".join(lines))
    started = time.monotonic()
    assert files(tmp_path) == ["other.py", "src/a/gen7x/y.py"]
    assert time.monotonic() - started < 10
    assert capfd.readouterr().err == ""
    assert skipped(tmp_path) == {".gitignore": "line 20001: too long to match, skipped"}
