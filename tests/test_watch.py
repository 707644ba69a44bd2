"""`codegraph index PATH --watch` applies saved changes while readers query the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from serverproc import ServerProcess

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC}


def _cli(data: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "codegraph.cli", "--data-dir", str(data), *args,
                          "--json"], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _next_event(stream: IO[str], wanted: str, deadline: float,
                where: Callable[[dict[str, Any]], bool] = lambda event: True) -> dict[str, Any]:
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        event: dict[str, Any] = json.loads(line)
        if event.get("event") == wanted and where(event):
            return event
    raise AssertionError(f"no {wanted!r} event from the watcher")


@pytest.mark.timeout(60)
def test_watch_applies_saved_changes(tmp_path: Path) -> None:
    repo, data = tmp_path / "repo", tmp_path / "data"
    repo.mkdir()
    (repo / "lib.py").write_text("def helper():\n    return 1\n")
    (repo / "app.py").write_text("from lib import helper\n\ndef main():\n    return 2\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "codegraph.cli", "--data-dir", str(data), "index", str(repo),
         "--watch", "--progress", "json", "--workers", "1"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env())
    try:
        assert proc.stderr is not None
        _next_event(proc.stderr, "done", time.monotonic() + 30)
        time.sleep(0.3)  # let the watcher start
        assert _cli(data, "callers", "lib.helper")["results"] == []

        # An edit: main() now calls helper().
        (repo / "app.py").write_text(
            "from lib import helper\n\ndef main():\n    return helper()\n")
        update = _next_event(proc.stderr, "update", time.monotonic() + 10)
        assert update["parsed"] == 1
        callers = _cli(data, "callers", "lib.helper")["results"]
        assert [(c["qualified_name"], c["site_line"], c["resolution"]) for c in callers] == [
            ("app.main", 4, "import")]

        # A new file, then a deletion.
        (repo / "extra.py").write_text("from lib import helper\nX = helper()\n")
        _next_event(proc.stderr, "update", time.monotonic() + 10)
        assert {c["path"] for c in _cli(data, "callers", "lib.helper")["results"]} == {
            "app.py", "extra.py"}
        (repo / "extra.py").unlink()
        update = _next_event(proc.stderr, "update", time.monotonic() + 10)
        assert update["deleted"] == 1
        assert {c["path"] for c in _cli(data, "callers", "lib.helper")["results"]} == {"app.py"}

        # An ignore file's change is a complete run (which files are walked may change);
        # ignored files do not trigger updates; the next real change still does.
        (repo / ".gitignore").write_text("scratch.py\n")
        _next_event(proc.stderr, "update", time.monotonic() + 10)
        (repo / "scratch.py").write_text("def scratch(): pass\n")
        (repo / "lib.py").write_text("def helper():\n    return 3\n\ndef other():\n    pass\n")
        _next_event(proc.stderr, "update", time.monotonic() + 10, lambda e: e["parsed"] == 1)
        assert _cli(data, "symbols", "scratch", "--kind", "function")["results"] == []
        assert _cli(data, "def", "lib.other")["results"][0]["line"] == 4
        # Lexical search follows the watcher too.
        hits = _cli(data, "search", "other", "--mode", "lexical")["results"]
        assert [h["qualified_name"] for h in hits][:1] == ["lib.other"]

        # A name that is not UTF-8 stops watchfiles (it cannot report it): the watcher goes
        # on, with a complete run that reports it, and follows the next change.
        with open(os.path.join(os.fsencode(repo), b"bad\xff.py"), "w") as f:
            f.write("x = 1\n")
        update = _next_event(proc.stderr, "update", time.monotonic() + 10)
        assert ["bad\\xff.py", "name is not valid UTF-8"] in update["problems"]
        (repo / "lib.py").write_text("def helper():\n    return 4\n\ndef third():\n    pass\n")
        _next_event(proc.stderr, "update", time.monotonic() + 10, lambda e: e["parsed"] == 1)
        assert _cli(data, "def", "lib.third")["results"][0]["line"] == 4
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode in (0, 130)


def _callers(server: ServerProcess, symbol: str) -> set[str]:
    body = server.ok("/api/v1/callers", symbol=symbol)
    return {r["qualified_name"] for r in body["results"]}


def _watching(server: ServerProcess) -> dict[str, bool]:
    return {r["name"]: r["watching"] for r in server.ok("/api/v1/repos")["results"]}


@pytest.mark.timeout(180)
def test_a_restarted_server_watches_the_registered_repositories_again(tmp_path: Path) -> None:
    """A repository registered through POST /api/v1/repos with watching on is watched again
    after a restart of the server process (hot reload restarts it too): what changed while
    no server ran is indexed at start, and a change saved afterwards is applied. One
    registered with watching off stays unwatched; one whose directory is gone is not
    watched (and the server starts); one given on the first start's command line only is
    not watched by a start without it."""
    root = tmp_path / "repos"
    for name in ("proj", "quiet", "gone", "startup"):
        (root / name).mkdir(parents=True)
        (root / name / "lib.py").write_text("def helper():\n    return 1\n")
    (root / "proj" / "app.py").write_text("from lib import helper\n\ndef main():\n    return 2\n")
    workdir = tmp_path / "server"
    with ServerProcess(workdir, [root / "startup"], repos_root=root) as first:
        for name, watch in (("proj", True), ("quiet", False), ("gone", None)):
            body: dict[str, Any] = {"path": str(root / name), "name": name}
            if watch is not None:
                body["watch"] = watch  # None: the default, CODEGRAPH_WATCH (true)
            r = first.client.post("/api/v1/repos", json=body)
            assert r.status_code in (200, 201, 202), r.text
        first.wait_jobs_idle()
        assert _watching(first) == {"proj": True, "quiet": False, "gone": True,
                                    "startup": True}
        assert _callers(first, "lib.helper") == set()
    assert first.proc.returncode == 0, first.output()

    # While no server runs: main() now calls helper(), and one repository goes away.
    (root / "proj" / "app.py").write_text(
        "from lib import helper\n\ndef main():\n    return helper()\n")
    (root / "gone" / "lib.py").unlink()
    (root / "gone").rmdir()

    with ServerProcess(workdir, repos_root=root) as second:
        # "startup" was given on the first start's command line, not registered: this
        # start's own configuration (no repository) decides
        assert _watching(second) == {"proj": True, "quiet": False, "gone": False,
                                     "startup": False}
        second.wait_jobs_idle()
        assert _callers(second, "lib.helper") == {"app.main"}  # caught up at start
        time.sleep(0.5)  # let the watcher start
        (root / "proj" / "cli.py").write_text("from lib import helper\n\ndef run():\n"
                                              "    return helper()\n")
        deadline = time.monotonic() + 30
        while _callers(second, "lib.helper") != {"app.main", "cli.run"}:
            assert time.monotonic() < deadline, "the restarted server missed a saved change"
            time.sleep(0.2)
        assert any(e.get("msg") == "not watching a registered repository: its root is gone"
                   and e.get("repo") == "gone" for e in second.logs()), second.output()
        # a full re-index writes the repository's record anew: the choice stays with it
        r = second.client.post("/api/v1/jobs", json={"repo": "proj", "full": True})
        assert r.status_code in (200, 201, 202), r.text
        second.wait_jobs_idle()
        assert {x["name"]: x.get("watch") for x in second.ok("/api/v1/repos")["results"]} == {
            "proj": True, "quiet": False, "gone": True, "startup": None}
