"""A restore killed in the middle of its swap loses nothing: the next ``codegraph restore``
rolls the swap back before it does anything else, so the previous data comes back even
when that next restore is refused (a corrupt archive), and a good archive then restores.

The crash is real: ``codegraph restore`` runs in a child process that ``os._exit``s at its
N-th rename (as a ``kill -9`` would: no ``finally``, no cleanup), for every N of the swap.
The data directory is a tmpfs mount point, as a container volume is, so the swap moves its
entries (the several-rename path); the rename fallback beside a plain directory is checked
from the states its crash leaves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codegraph.api import CodeGraph
from helpers import cli_env, dir_digest, one_line_error, run_cli, write_tree
from mounts import small_disk

pytestmark = pytest.mark.timeout(300)

CRASHING_RESTORE = """
import os, shutil, sys
from codegraph.backup import restore
from codegraph.config import load

data_dir, archive, crash_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
steps = 0
real_rename, real_rmtree = os.rename, shutil.rmtree

def step():
    global steps
    steps += 1
    if steps == crash_at:
        os._exit(137)  # dies here: no finally block, no cleanup runs

def rename(a, b):
    step()
    real_rename(a, b)

def rmtree(path, *args, **kwargs):
    if str(path).endswith(".done"):  # the cleanup after the commit
        step()
    real_rmtree(path, *args, **kwargs)

os.rename, shutil.rmtree = rename, rmtree
restore.restore(load({}, data_dir=data_dir), archive)
print(steps)
"""


def _crashing_restore(data: Path, archive: Path, crash_at: int,
                      ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CRASHING_RESTORE, str(data), str(archive),
                           str(crash_at)], capture_output=True, text=True, timeout=120,
                          env=cli_env())


def _index(data: Path, repo: Path, name: str) -> None:
    code, _, err = run_cli("index", str(repo), "--name", name, "--progress", "none",
                           data_dir=data)
    assert code == 0, err


def _answers(data: Path) -> dict[str, Any]:
    with CodeGraph.open(str(data), readonly=True) as cg:
        return {"revision": cg.revision, "repos": sorted(cg.store.repos()),
                "symbols": cg.answer("symbols", {"query": "area"})}


def _state(data: Path) -> tuple[dict[str, str], list[str]]:
    return dir_digest(data), sorted(os.listdir(data))


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An archive of another index (``new``) and a truncated copy (``corrupt``)."""
    work = tmp_path_factory.mktemp("archives")
    repo = write_tree(work / "newrepo", {"geo/shapes.py": "def area(w, h):\n    return w * h\n",
                                        "geo/use.py": "from geo.shapes import area\n\n\n"
                                                      "def total(a):\n    return area(a, a)\n"})
    _index(work / "newdata", repo, "newrepo")
    code, _, err = run_cli("backup", str(work / "new.tar.gz"), data_dir=work / "newdata")
    assert code == 0, err
    corrupt = work / "corrupt.tar.gz"
    corrupt.write_bytes((work / "new.tar.gz").read_bytes()[:-200])
    return {"new": work / "new.tar.gz", "corrupt": corrupt, "new_data": work / "newdata"}


def test_a_crash_at_every_step_of_the_in_place_swap_is_rolled_back(
        tmp_path: Path, archives: dict[str, Path]) -> None:
    repo = write_tree(tmp_path / "oldrepo", {"calc/area.py": "def area(r):\n    return r * r\n"})
    expected_new = _answers(archives["new_data"])
    with small_disk(tmp_path / "volume", 64) as data:  # a mount point: the in-place swap
        _index(data, repo, "oldrepo")
        counted = _crashing_restore(data, archives["new"], 10**6)  # never: count the steps
        assert counted.returncode == 0, counted.stderr
        steps = int(counted.stdout)
        assert _answers(data) == expected_new
        print(f"\nin-place swap: {steps} steps, a crash at each rolled back")
        assert steps >= 6, steps  # entries aside, the .aside rename, entries in, the commit
        for crash_at in range(1, steps + 1):
            _restore_old(data, repo)
            before, answered = _state(data), _answers(data)
            died = _crashing_restore(data, archives["new"], crash_at)
            assert died.returncode == 137, (crash_at, died.stderr)
            left = sorted(n for n in os.listdir(data) if n.startswith(".restore-"))
            assert left, f"crash at step {crash_at} of {steps} left no trace to recover"
            # the next restore is refused (a corrupt archive), but rolls the swap back first
            code, _, err = run_cli("restore", str(archives["corrupt"]), data_dir=data)
            one_line_error(code, err, "refusing to restore")
            if crash_at < steps:  # before the commit, or at it: the previous data is back
                assert _state(data) == before, (crash_at, left)
                assert _answers(data) == answered
            else:  # in the cleanup after the commit: the new data stays, the old goes
                assert _answers(data) == expected_new and ".restore-" not in str(
                    os.listdir(data))
            # and a good archive restores as usual
            code, _, err = run_cli("restore", str(archives["new"]), data_dir=data)
            assert code == 0, err
            assert _answers(data) == expected_new
            assert not [n for n in os.listdir(data) if n.startswith(".")]


def _restore_old(data: Path, repo: Path) -> None:
    """Make ``data`` the old index again (emptied in place: it is a mount point)."""
    import shutil

    for child in data.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    _index(data, repo, "oldrepo")


def test_the_rename_fallback_interrupted_is_rolled_back(tmp_path: Path,
                                                       archives: dict[str, Path]) -> None:
    """Between its two renames the previous data directory is ``.data.restore-<id>.old``
    and ``data`` is missing: the next restore puts it back, refused or not."""
    repo = write_tree(tmp_path / "oldrepo", {"calc/area.py": "def area(r):\n    return r * r\n"})
    data = tmp_path / "vol" / "data"
    _index(data, repo, "oldrepo")
    before, answered = _state(data), _answers(data)
    staged = data.parent / ".data.restore-0123456789ab"
    write_tree(staged, {"rocksdb/CURRENT": "half extracted"})
    os.rename(data, f"{staged}.old")
    code, _, err = run_cli("restore", str(archives["corrupt"]), data_dir=data)
    one_line_error(code, err, "refusing to restore")
    assert _state(data) == before and _answers(data) == answered
    assert os.listdir(data.parent) == ["data"]

    # a data directory made since the crash (a server started?): nothing is guessed
    os.rename(data, f"{staged}.old")
    write_tree(staged, {"x": "new"})
    write_tree(data, {"rocksdb/OTHER": "made since"})
    code, _, err = run_cli("restore", str(archives["new"]), data_dir=data)
    one_line_error(code, err, "interrupted restore left the previous data directory",
                   f"{staged}.old")
    assert Path(f"{staged}.old").is_dir() and _answers(Path(f"{staged}.old")) == answered
