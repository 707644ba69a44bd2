"""Bad input through the CLI: clear one-line errors or warnings in stats, never a traceback,
and everything else still indexed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rocksdict import AccessType, Options, Rdict

from codegraph.api import CodeGraph
from codegraph.store.rocks import COLUMN_FAMILIES, Store
from helpers import (
    NOBODY,
    cli_env,
    dir_digest,
    one_line_error,
    run_cli,
    run_cli_as_nobody,
    run_json,
    write_tree,
)

GOOD: dict[str, str | bytes] = {
    "good.py": "from syntax import ok_one\n\n\ndef good():\n    return ok_one() + latin()\n",
    "latin.py": b'def latin():\n    return "caf\xe9"\n',
    "syntax.py": "def ok_one():\n    return 1\n\n\ndef broken(:\n    pass\n\n\nclass Fine:\n"
                 "    def m(self):\n        return ok_one()\n",
    "x.py": b"\x00\x01\x02binary\x00" * 100,
}


def index_ok(repo: Path, data: Path, *extra: str) -> dict[str, Any]:
    code, out, err = run_cli("index", str(repo), "--json", *extra, data_dir=data)
    assert code == 0, err
    assert "Traceback" not in err
    report: dict[str, Any] = json.loads(out)
    return report


def problems(data: Path) -> dict[str, tuple[str, str]]:
    stats = run_json("stats", data_dir=data)
    return {p["path"]: (p["status"], p["reason"]) for p in stats["problems"]}


@pytest.fixture
def world_dir() -> Iterator[Path]:
    """A directory that uid 65534 can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="cg-bad-input-"))
    path.chmod(0o755)
    yield path
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chmod(os.path.join(dirpath, name), stat.S_IRWXU, follow_symlinks=False)
    shutil.rmtree(path)


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[Path, Path]:
    repo = write_tree(tmp_path / "repo", {k: v for k, v in GOOD.items() if k != "x.py"})
    data = tmp_path / "data"
    index_ok(repo, data)
    return repo, data


def test_problem_files_are_reported_and_the_rest_indexed(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", GOOD)
    with open(repo / "huge.min.js", "wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: instant, and never read (skipped by stat)
    data = tmp_path / "data"
    code, _, err = run_cli("index", str(repo), "--progress", "plain", data_dir=data)
    assert code == 0, err
    assert "Traceback" not in err
    assert "4 files, 3 parsed" in err and "2 skipped, 0 failed" in err
    assert problems(data) == {
        "huge.min.js": ("skipped", "too large (52.4 MB > 1.0 MB)"),
        "latin.py": ("partial", "invalid UTF-8 (undecodable bytes replaced)"),
        "syntax.py": ("partial", "syntax errors at lines 5"),
        "x.py": ("skipped", "binary"),
    }
    code, out, _ = run_cli("stats", data_dir=data)
    assert "partial: repo:syntax.py: syntax errors at lines 5" in out
    outline = run_json("outline", str(repo / "syntax.py"), data_dir=data)["results"]
    assert [r["qualified_name"] for r in outline] == [
        "syntax.ok_one", "syntax.broken", "syntax.Fine", "syntax.Fine.m"]
    assert [r["line"] for r in run_json("def", "latin.latin", data_dir=data)["results"]] == [1]
    callers = run_json("callers", "syntax.ok_one", data_dir=data)["results"]
    assert {(r["qualified_name"], r["resolution"]) for r in callers} == {
        ("good.good", "import"), ("syntax.Fine.m", "same_scope")}
    assert run_json("stats", data_dir=data)["files_by_status"] == {
        "ok": 1, "partial": 2, "skipped": 2}
    code, _, err = run_cli("outline", "x.py", data_dir=data)
    one_line_error(code, err, "x.py has no outline: skipped (binary)")
    # fixing the file clears its problem
    fixed = str(GOOD["syntax.py"]).replace("broken(:", "broken():")
    (repo / "syntax.py").write_text(fixed)
    index_ok(repo, data)
    assert "syntax.py" not in problems(data)


def test_unreadable_file(world_dir: Path) -> None:
    repo = write_tree(world_dir / "repo", {"good.py": "def good():\n    return secret()\n",
                                           "secret.py": "def secret():\n    return 1\n"})
    for d in (repo, world_dir):
        d.chmod(0o755)
    (repo / "good.py").chmod(0o644)
    (repo / "secret.py").chmod(0)
    data = world_dir / "data"
    data.mkdir()
    if os.geteuid() == 0:
        os.chown(data, NOBODY, NOBODY)
    code, _, err = run_cli_as_nobody("index", str(repo), "--progress", "plain", data_dir=data)
    if code and "Operation not permitted" in err:
        pytest.skip("cannot drop privileges to uid 65534 here")
    assert code == 0, err
    assert "Traceback" not in err
    assert "1 parsed" in err and "1 failed" in err
    code, out, err = run_cli_as_nobody("stats", "--json", data_dir=data)
    assert code == 0, err
    stats = json.loads(out)
    assert [(p["path"], p["status"], p["reason"]) for p in stats["problems"]] == [
        ("secret.py", "failed", "unreadable: Permission denied")]
    code, out, err = run_cli_as_nobody("def", "good.good", "--json", data_dir=data)
    assert code == 0, err
    assert [r["path"] for r in json.loads(out)["results"]] == ["good.py"]


def test_nonexistent_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, _, err = run_cli("index", str(tmp_path / "missing"), data_dir=data)
    one_line_error(code, err, "no such directory", str(tmp_path / "missing"))
    assert not data.exists()  # a typo does not leave an empty store behind
    (tmp_path / "file.py").write_text("x = 1\n")
    code, _, err = run_cli("index", str(tmp_path / "file.py"), data_dir=data)
    one_line_error(code, err, "not a directory")
    code, _, err = run_cli("stats", data_dir=data)
    one_line_error(code, err, "no index at", "codegraph index PATH")


def test_data_dir_that_cannot_be_created(tmp_path: Path, indexed: tuple[Path, Path]) -> None:
    repo, _ = indexed
    (tmp_path / "file.txt").write_text("not a directory\n")
    bad = tmp_path / "file.txt" / "sub"
    code, _, err = run_cli("index", str(repo), data_dir=bad)
    one_line_error(code, err, "cannot open the store", "Not a directory")
    code, _, err = run_cli("stats", data_dir=bad)
    one_line_error(code, err, "no index at")


def test_data_dir_not_writable(world_dir: Path) -> None:
    repo = write_tree(world_dir / "repo", {"a.py": "def a():\n    pass\n"})
    for p in (repo, repo / "a.py"):
        p.chmod(0o755)
    locked = world_dir / "readonly"
    locked.mkdir()
    locked.chmod(0o555)  # root-owned (when root) or read-only: uid 65534 cannot write there
    code, _, err = run_cli_as_nobody("index", str(repo), data_dir=locked / "data")
    if code and "Operation not permitted" in err:
        pytest.skip("cannot drop privileges to uid 65534 here")
    one_line_error(code, err, "cannot open the store", "Permission denied")
    assert not (locked / "data").exists()


def test_store_locked_by_another_writer(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    repo, data = indexed
    before = run_json("stats", data_dir=data)
    with Store.open(str(data / "rocksdb")):
        code, _, err = run_cli("index", str(repo), data_dir=data)
        one_line_error(code, err, "locked by another writer")
        code, _, err = run_cli("checkpoint", str(tmp_path / "snap"), data_dir=data)
        one_line_error(code, err, "locked")
        # readers do not need the lock
        assert run_json("stats", data_dir=data) == before
        callers = run_json("callers", "syntax.ok_one", data_dir=data)["results"]
        assert {r["qualified_name"] for r in callers} == {"good.good", "syntax.Fine.m"}
    assert index_ok(repo, data)["parsed"] == 0


def test_readers_during_an_index_run(tmp_path: Path) -> None:
    files = {f"pkg/m{i:03}.py": f"from pkg.m{(i + 1) % 400:03} import f{(i + 1) % 400}\n\n\n"
             f"def f{i}():\n    return f{(i + 1) % 400}()\n" for i in range(400)}
    repo = write_tree(tmp_path / "repo", {"pkg/__init__.py": "", **files})
    data = tmp_path / "data"
    index_ok(repo, data)
    for i in range(0, 400, 2):  # half the files change: the next run takes a while
        (repo / f"pkg/m{i:03}.py").write_text(files[f"pkg/m{i:03}.py"] + "\n\nX = 1\n")
    writer = subprocess.Popen([sys.executable, "-m", "codegraph.cli", "--data-dir", str(data),
                               "index", str(repo), "--progress", "json", "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=cli_env())
    try:
        assert writer.stderr is not None
        for line in writer.stderr:
            if json.loads(line)["event"] == "parsed":  # the first 200 files are written
                break
        writer.send_signal(signal.SIGSTOP)  # hold the writer mid-run, the store open
        stats = run_json("stats", data_dir=data)
        assert stats["files"] == 401
        # an unchanged caller of a changed file (the changed ones may be mid-update)
        callers = run_json("callers", "pkg.m002.f2", data_dir=data)["results"]
        assert [r["qualified_name"] for r in callers] == ["pkg.m001.f1"]
        code, _, err = run_cli("index", str(repo), data_dir=data)
        one_line_error(code, err, "locked")
        writer.send_signal(signal.SIGCONT)
        writer.stderr.read()
        assert writer.wait(timeout=300) == 0
    finally:
        if writer.poll() is None:
            writer.send_signal(signal.SIGCONT)
            writer.kill()
            writer.wait()
    assert run_json("stats", data_dir=data)["revision"] > stats["revision"]


@pytest.mark.parametrize("target", ["CURRENT", "MANIFEST", "sst-footer", "sst-blocks"])
def test_corrupted_store(indexed: tuple[Path, Path], target: str) -> None:
    repo, data = indexed
    store = data / "rocksdb"
    if target == "CURRENT":
        victims = [store / "CURRENT"]
    elif target == "MANIFEST":
        victims = list(store.glob("MANIFEST-*"))
    else:
        victims = list(store.glob("*.sst"))
    assert victims
    for path in victims:
        blob = bytearray(path.read_bytes())
        if target == "sst-blocks":  # damage the data blocks, keep the footer valid
            blob[5:25] = b"\xde" * 20
        else:
            blob = bytearray(b"\xde\xad" * max(8, len(blob) // 2))
        path.write_bytes(bytes(blob))
    before = dir_digest(data)
    for args in (("stats",), ("stats", "--json"), ("callers", "syntax.ok_one"),
                 ("outline", "syntax.py")):
        code, out, err = run_cli(*args, data_dir=data)
        line = one_line_error(code, err, "corrupted", "nothing was changed")
        assert out == ""
        assert "Traceback" not in line and "locked" not in line
        assert dir_digest(data) == before, args
    code, _, err = run_cli("index", str(repo), data_dir=data)
    one_line_error(code, err, "corrupted")


def test_checkpoint_opens_read_only_with_the_same_stats(indexed: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    repo, data = indexed
    snap = tmp_path / "snap"
    code, out, err = run_cli("checkpoint", str(snap), data_dir=data)
    assert code == 0, err
    assert out.strip() == str(snap)
    original = run_json("stats", data_dir=data)
    with CodeGraph.open(str(snap), readonly=True) as cg:
        assert cg.stats() == original
        assert {r["qualified_name"] for r in cg.callers("ok_one")} == {"good.good",
                                                                        "syntax.Fine.m"}
    assert run_json("stats", data_dir=snap) == original
    # the snapshot does not follow later changes
    (repo / "more.py").write_text("def more():\n    pass\n")
    index_ok(repo, data)
    assert run_json("stats", data_dir=snap)["files"] == original["files"]
    code, _, err = run_cli("checkpoint", str(snap), data_dir=data)
    one_line_error(code, err, "not empty")


def raw_contents(path: Path) -> dict[str, dict[Any, Any]]:
    """Every column family of a store, read with rocksdict itself (no schema check)."""
    cfs = {name: Options(raw_mode=True) for name in COLUMN_FAMILIES}
    db = Rdict(str(path), Options(raw_mode=True), column_families=cfs,
               access_type=AccessType.read_only())
    try:
        return {name: {key: value for key, value in db.get_column_family(name).items()}
                for name in COLUMN_FAMILIES}
    finally:
        db.close()


def test_store_of_another_schema(indexed: tuple[Path, Path]) -> None:
    # A store of schema 2 holds external nodes under other ids, and symbols without their
    # positions: the CLI refuses it, with a message, and leaves it as it is.
    repo, data = indexed
    with Store.open(str(data / "rocksdb")) as store:
        store._cf["meta"][b"schema"] = b"2"
    before = raw_contents(data / "rocksdb")
    for args in (("stats",), ("index", str(repo)), ("index", str(repo), "--full")):
        code, _, err = run_cli(*args, data_dir=data)
        one_line_error(code, err, "has schema 2", "needs 4", "new data directory")
        assert raw_contents(data / "rocksdb") == before, args


@pytest.mark.timeout(120)
def test_hostile_ignore_file_and_names_not_utf8(tmp_path: Path) -> None:
    """A .gitignore made to hang or crash the matcher, and a name that is not UTF-8: the run
    ends (exit 0) with everything else stored and both reported in stats; fixed, the
    problems go at the next run."""
    repo = write_tree(tmp_path / "repo", {k: v for k, v in GOOD.items() if k != "x.py"})
    (repo / ".gitignore").write_text("*" * 200 + "q\n[z-a]\nfoo[\nsyntax.py\n")
    bad = os.path.join(os.fsencode(repo), b"bad\xff.py")
    with open(bad, "wb") as f:
        f.write(b"def bad():\n    return 1\n")
    data = tmp_path / "data"
    report = index_ok(repo, data)
    assert (report["files"], report["parsed"]) == (2, 2)  # syntax.py is ignored
    assert sorted(report["problems"]) == sorted([
        [".gitignore", "line 2: '[z-a]': the range z-a is reversed: empty (as git reads it); "
                       "line 3: 'foo[' never matches: a '[' is never closed (git ignores it)"],
        ["bad\\xff.py", "name is not valid UTF-8"],
        ["latin.py", "invalid UTF-8 (undecodable bytes replaced)"]])
    assert {p: s for p, (s, _) in problems(data).items()} == {
        ".gitignore": "skipped", "bad\\xff.py": "skipped", "latin.py": "partial"}
    code, out, _ = run_cli("stats", data_dir=data)
    assert code == 0 and "skipped: repo:bad\\xff.py: name is not valid UTF-8" in out
    assert [r["qualified_name"] for r in run_json("outline", "good.py", data_dir=data)[
        "results"]] == ["good.good"]
    (repo / ".gitignore").write_text("syntax.py\n")
    os.unlink(bad)
    report = index_ok(repo, data)
    assert set(problems(data)) == {"latin.py"}


def test_repository_path_not_utf8(tmp_path: Path) -> None:
    """The store keys paths by their text: such a root is refused with a clear error."""
    root = os.path.join(os.fsencode(tmp_path), b"repo\xff")
    os.mkdir(root)
    with open(os.path.join(root, b"a.py"), "w") as f:
        f.write("x = 1\n")
    code, _, err = run_cli("index", os.fsdecode(root), data_dir=tmp_path / "data")
    one_line_error(code, err, "repository path is not valid UTF-8: ", "repo\\xff")
