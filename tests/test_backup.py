"""Backup and restore of a data directory (``codegraph backup`` / ``codegraph restore``):
a round trip on a real indexed corpus gives the same answers at the same revision, and a
damaged or hostile archive is refused with one line, leaving the data directory as it was.
The server side (admin endpoint, backups under load, the CLI through the server) is in
``test_backup_server.py``."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codegraph.api import CodeGraph
from codegraph.backup import verify
from codegraph.backup.manifest import MANIFEST_NAME, NAME_RE
from codegraph.backup.restore import _swap_contents
from codegraph.config import ConfigError, load
from corpora import sdist_or_skip
from helpers import cli_env, dir_digest, one_line_error, run_cli, write_tree
from mounts import read_only_view, small_disk

pytestmark = pytest.mark.timeout(120)

# Questions whose answers must survive the round trip (flask 3.0.3).
QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    ("stats", {}),
    ("symbols", {"query": "Blueprint"}),
    ("definition", {"symbol": "Flask"}),
    ("callers", {"symbol": "url_for", "limit": "100"}),
    ("callees", {"symbol": "full_dispatch_request"}),
    ("search", {"query": "register a blueprint", "mode": "lexical", "limit": "20"}),
    ("outline", {"file": "src/flask/app.py", "limit": "200"}),
]


def answers(data_dir: Path, questions: list[tuple[str, dict[str, Any]]] = QUESTIONS,
            ) -> dict[str, Any]:
    with CodeGraph.open(str(data_dir), readonly=True) as cg:
        out: dict[str, Any] = {"revision": cg.revision}
        for name, args in questions:
            out[f"{name} {sorted(args.items())}"] = cg.answer(name, dict(args))
    return out


def snapshot(path: Path) -> tuple[dict[str, str], list[str]]:
    """Every file's hash under ``path`` and what its parent holds: a refused restore
    changes neither (no staging left behind either)."""
    return dir_digest(path), sorted(os.listdir(path.parent))


@pytest.fixture(scope="module")
def flask_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Flask 3.0.3 (82 Python files), indexed without embeddings."""
    tree = sdist_or_skip("flask", "3.0.3")
    data = tmp_path_factory.mktemp("flask") / "data"
    code, _, err = run_cli("index", str(tree), "--name", "flask", "--progress", "none",
                           data_dir=data)
    assert code == 0, err
    return data


@pytest.fixture(scope="module")
def archive(flask_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("archives")
    code, stdout, err = run_cli("backup", str(out), "--json", data_dir=flask_data)
    assert code == 0, err
    return Path(json.loads(stdout)["archive"])


# -- the round trip ----------------------------------------------------------------------------
def test_backup_then_restore_gives_the_same_answers(flask_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(flask_data, data)
    before = answers(data)
    out = tmp_path / "backups"
    out.mkdir()
    code, stdout, err = run_cli("backup", str(out), "--json", data_dir=data)
    assert code == 0, err
    info = json.loads(stdout)
    path = Path(info["archive"])
    assert path.parent == out and NAME_RE.fullmatch(path.name), path
    assert sorted(os.listdir(out)) == [path.name]  # no temporary file left
    assert not [n for n in os.listdir(data) if n.startswith(".")]  # nor a staging directory
    assert info["revision"] == before["revision"] and info["size"] == path.stat().st_size
    manifest = verify.read(str(path))
    assert manifest.revision == before["revision"] and manifest.repositories == ("flask",)
    names = {f.path for f in manifest.files}
    assert "data/lexical.sqlite" in names and "data/rocksdb/CURRENT" in names
    assert any(re.fullmatch(r"data/rocksdb/\d+\.sst", n) for n in names)
    print(f"\nflask 3.0.3: {manifest.total_bytes} bytes of data, archive {info['size']} bytes, "
          f"snapshot {info['snapshot_seconds']} s, pack {info['pack_seconds']} s")

    # the data directory moves on: another repository, a later revision
    other = write_tree(tmp_path / "other", {"extra.py": "def extra():\n    return 1\n"})
    code, _, err = run_cli("index", str(other), "--progress", "none", data_dir=data)
    assert code == 0, err
    assert answers(data)["revision"] > before["revision"]

    code, stdout, err = run_cli("restore", str(path), data_dir=data)
    assert code == 0, err
    assert f"revision {before['revision']}" in stdout
    assert answers(data) == before
    with CodeGraph.open(str(data), readonly=True) as cg:
        assert sorted(cg.store.repos()) == ["flask"]
    assert sorted(os.listdir(tmp_path)) == ["backups", "data", "other"]  # nothing left over


def test_the_vector_index_goes_with_the_backup(tmp_path: Path) -> None:
    """With embeddings: the FAISS files are in the archive, and semantic search answers
    the same from a data directory restored where there was none."""
    repo = write_tree(tmp_path / "shop", {
        "pricing.py": 'def total_price(items):\n    """Sum the prices."""\n'
                      "    return sum(i.price for i in items)\n\n\n"
                      "def apply_tax(amount):\n    return amount * 1.2\n",
        "cart.py": "from pricing import total_price\n\n\nclass Cart:\n"
                   "    def total(self):\n        return total_price(self.items)\n"})
    embed = cli_env(CODEGRAPH_EMBED="1")
    data, fresh = tmp_path / "data", tmp_path / "restored"
    code, _, err = run_cli("index", str(repo), "--progress", "none", data_dir=data, env=embed)
    assert code == 0, err
    code, stdout, err = run_cli("backup", str(tmp_path / "shop.tar.gz"), data_dir=data)
    assert code == 0, err
    assert stdout.strip() == str(tmp_path / "shop.tar.gz")
    names = {f.path for f in verify.read(stdout.strip()).files}
    assert {"data/faiss/index.faiss", "data/faiss/manifest.json"} <= names
    code, _, err = run_cli("restore", stdout.strip(), data_dir=fresh, env=embed)
    assert code == 0, err
    semantic = [("search", {"query": "sum of the prices", "mode": "semantic"}),
                ("search", {"query": "cart total", "mode": "hybrid"})]
    expected, got = answers(data, semantic), answers(fresh, semantic)
    assert got == expected
    assert got[f"search {sorted(semantic[0][1].items())}"]["coverage"]["embedded"] > 0


# -- refused archives --------------------------------------------------------------------------
Members = list[tuple[tarfile.TarInfo, bytes]]


def members_of(path: Path) -> Members:
    with tarfile.open(path, "r:gz") as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else b"")  # type: ignore[union-attr]
                for m in tar.getmembers()]


def pack(members: Members, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return dest


def _entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x",
           link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data) if kind == tarfile.REGTYPE else 0, link
    return info, data


def _listed(members: Members, name: str, data: bytes = b"x") -> Members:
    """``members`` with a file ``name`` added, and listed in the manifest too."""
    import hashlib

    info, raw = members[0]
    manifest = json.loads(raw)
    manifest["files"].append({"path": name, "size": len(data),
                              "sha256": hashlib.sha256(data).hexdigest()})
    text = json.dumps(manifest).encode()
    info.size = len(text)
    return [(info, text), *members[1:], _entry(name, data=data)]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]


def _changed_file(members: Members) -> Members:
    info, data = members[-1]
    return [*members[:-1], (info, _flip(data, len(data) // 2))]


BAD_STREAMS: dict[str, Callable[[bytes], bytes]] = {
    "cut in half": lambda b: b[:len(b) // 2],
    "cut in the gzip trailer": lambda b: b[:-4],
    "cut by one byte": lambda b: b[:-1],
    "cut after the manifest": lambda b: b[:600],
    "a byte flipped in the stream": lambda b: _flip(b, len(b) // 2),
    "a byte flipped in the CRC": lambda b: _flip(b, len(b) - 6),
    "garbage after the end": lambda b: b + b"garbage",
    "not gzip": lambda b: b"PK\x03\x04 this is a zip file, not ours" * 10,
    "empty": lambda b: b"",
}
BAD_MEMBERS: dict[str, tuple[Callable[[Members], Members], str]] = {
    "a missing member": (lambda m: m[:-1], "missing"),
    "an extra member": (lambda m: [*m, _entry("data/rocksdb/EXTRA")], "not in its manifest"),
    "a ../ member": (lambda m: [*m, _entry("data/../../evil.py")], "'..'"),
    "a ../ member, listed": (lambda m: _listed(m, "data/../../evil.py"), "'..'"),
    "an absolute member": (lambda m: [*m, _entry("/tmp/evil.py")], "absolute"),
    "a symlink member": (lambda m: [*m, _entry("data/rocksdb/LINK", tarfile.SYMTYPE,
                                               link="/etc/passwd")], "symbolic link"),
    "a symlink member, listed": (lambda m: [*_listed(m, "data/x")[:-1], _entry(
        "data/x", tarfile.SYMTYPE, link="../../etc/passwd")], "symbolic link"),
    "a hard link member": (lambda m: [*m, _entry("data/h", tarfile.LNKTYPE,
                                                 link="data/lexical.sqlite")], "hard link"),
    "a device member": (lambda m: [*m, _entry("data/dev", tarfile.CHRTYPE)], "device"),
    "a changed file": (_changed_file, "SHA-256"),
    "the manifest last": (lambda m: [*m[1:], m[0]], "first member"),
    "no manifest": (lambda m: m[1:], "first member"),
    "a member twice": (lambda m: [*m, m[-1]], "twice"),
}


@pytest.fixture
def victim(flask_data: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(flask_data, data)
    return data


def _refused(archive_path: Path, data: Path, *needles: str) -> None:
    """Refused by ``restore --check`` and by ``restore``, in one line, touching nothing."""
    before, answered = snapshot(data), answers(data, QUESTIONS[:2])
    for check in (("--check",), ()):
        code, _, err = run_cli("restore", *check, str(archive_path), data_dir=data)
        line = one_line_error(code, err, "refusing to restore", "nothing was changed",
                              *needles)
        assert len(line) < 500, line
    assert snapshot(data) == before
    assert answers(data, QUESTIONS[:2]) == answered


@pytest.mark.parametrize("damage", list(BAD_STREAMS))
def test_a_damaged_archive_is_refused(damage: str, archive: Path, victim: Path,
                                      tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(BAD_STREAMS[damage](archive.read_bytes()))
    _refused(bad, victim)


@pytest.mark.parametrize("change", list(BAD_MEMBERS))
def test_an_archive_with_bad_members_is_refused(change: str, archive: Path, victim: Path,
                                                tmp_path: Path) -> None:
    transform, needle = BAD_MEMBERS[change]
    bad = pack(transform(members_of(archive)), tmp_path / "bad.tar.gz")
    _refused(bad, victim, needle)


def test_a_repacked_whole_archive_is_accepted(archive: Path, victim: Path,
                                              tmp_path: Path) -> None:
    """The refusals above are for what was changed: the same members packed again by
    another tar writer restore fine."""
    good = pack(members_of(archive), tmp_path / "good.tar.gz")
    code, _, err = run_cli("restore", str(good), data_dir=victim)
    assert code == 0, err


def test_a_data_directory_behind_a_symbolic_link_stays_behind_it(
        archive: Path, victim: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(victim)
    expected = answers(victim, QUESTIONS[:3])
    shutil.rmtree(victim / "rocksdb")
    code, _, err = run_cli("restore", str(archive), data_dir=link)
    assert code == 0, err
    assert link.is_symlink() and answers(link, QUESTIONS[:3]) == expected
    assert sorted(os.listdir(tmp_path)) == ["data", "link"]


def test_the_swap_inside_a_mount_point_moves_contents(tmp_path: Path) -> None:
    """A data directory that must keep its name (a container volume) has its entries
    swapped; the staging directories inside it are gone afterwards."""
    data = write_tree(tmp_path / "data", {"rocksdb/OLD": "old", "lexical.sqlite": "old"})
    staged = write_tree(data / ".restore-1", {"rocksdb/NEW": "new", "faiss/index.faiss": "n"})
    _swap_contents(str(staged), str(data))
    assert dir_digest(data) == dir_digest(write_tree(tmp_path / "want", {
        "rocksdb/NEW": "new", "faiss/index.faiss": "n"}))
    assert sorted(os.listdir(data)) == ["faiss", "rocksdb"]


# -- the command line --------------------------------------------------------------------------
def test_backup_errors_are_one_line(flask_data: Path, tmp_path: Path) -> None:
    code, _, err = run_cli("backup", str(tmp_path / "nowhere"), data_dir=flask_data)
    one_line_error(code, err, "ending in .tar.gz")
    code, _, err = run_cli("backup", str(tmp_path / "no" / "x.tar.gz"), data_dir=flask_data)
    one_line_error(code, err, "no such directory")
    code, _, err = run_cli("backup", str(tmp_path), data_dir=tmp_path / "empty")
    one_line_error(code, err, "no index at")
    target = tmp_path / "twice.tar.gz"
    assert run_cli("backup", str(target), data_dir=flask_data)[0] == 0
    code, _, err = run_cli("backup", str(target), data_dir=flask_data)
    one_line_error(code, err, "already exists")
    assert sorted(os.listdir(tmp_path)) == ["twice.tar.gz"]


def test_backup_write_failures_are_one_line(flask_data: Path, tmp_path: Path) -> None:
    """A name too long, a read-only destination (a real read-only bind mount) and a full
    disk (a real 1 MB tmpfs): one line, exit 2, no partial archive."""
    code, _, err = run_cli("backup", str(tmp_path / ("a" * 300 + ".tar.gz")),
                           data_dir=flask_data)
    one_line_error(code, err, "at most 255")
    (tmp_path / "target").mkdir()
    with read_only_view(tmp_path / "target", tmp_path / "ro") as ro:
        code, _, err = run_cli("backup", str(ro), data_dir=flask_data)
        one_line_error(code, err, f"cannot write backups in {ro}", "Read-only file system")
    with small_disk(tmp_path / "full", 1) as full:
        code, _, err = run_cli("backup", str(full / "x.tar.gz"), data_dir=flask_data)
        one_line_error(code, err, "no space left on device writing the backup archive",
                       str(full))
        assert not list(full.iterdir())
    assert not list((tmp_path / "target").iterdir())
    assert not [p for p in flask_data.iterdir() if p.name.startswith(".backup")]


def test_restore_errors_are_one_line(archive: Path, victim: Path, tmp_path: Path) -> None:
    before = snapshot(victim)
    code, _, err = run_cli("restore", str(tmp_path / "missing.tar.gz"), data_dir=victim)
    one_line_error(code, err, "no such file", "nothing was changed")
    code, _, err = run_cli("restore", str(tmp_path), data_dir=victim)
    one_line_error(code, err, "directory")
    inside = victim / "copy.tar.gz"
    shutil.copy(archive, inside)
    code, _, err = run_cli("restore", str(inside), data_dir=victim)
    one_line_error(code, err, "inside the data directory")
    inside.unlink()
    env = cli_env(ROCKSDB_PATH=str(tmp_path / "elsewhere"))
    code, _, err = run_cli("restore", str(archive), data_dir=None,
                           env={**env, "CODEGRAPH_DATA_DIR": str(victim)})
    one_line_error(code, err, "ROCKSDB_PATH")
    assert snapshot(victim) == before


def test_the_backup_directory_may_not_be_inside_the_data_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CODEGRAPH_BACKUP_DIR"):
        load({"CODEGRAPH_BACKUP_DIR": str(tmp_path / "d" / "b")}, data_dir=str(tmp_path / "d"))
    assert load({}, data_dir="/app/data").backup_dir == "/app/backups"


def test_the_archive_stream_is_plain_tar_gz(archive: Path) -> None:
    """Operators can list and check an archive with the usual tools: the manifest first,
    gzip whole."""
    with gzip.open(archive) as gz:
        data = gz.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames()[0] == MANIFEST_NAME
