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
