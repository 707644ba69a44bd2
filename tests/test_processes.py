"""The processes of an index run end with it: killed (kill -9), its workers die too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import cli_env
from serverproc import ServerProcess
from test_crash import write_corpus


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (of all its threads)."""
    out: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.update(int(child) for child in f.read().split())
    except (FileNotFoundError, ProcessLookupError):
        pass
    return {child for child in out if running(child)}


def descendants(pid: int) -> set[int]:
    """The live processes below ``pid``: its children, theirs (a fork server's), ..."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()) - out:
            out.add(child)
            todo.append(child)
    return out


def running(pid: int) -> bool:
    """Not gone, and not a zombie waiting for its new parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_for(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("event", ["parse", "resolve"])
def test_workers_die_with_a_killed_indexer(tmp_path: Path, event: str) -> None:
    """kill -9 of ``codegraph index`` while its parse workers, or its resolve workers and
    lexical index writer, run: every one of them is gone within two seconds (they used
    to wait on their task queue for ever, ~25 MB each here, 75 MB on a real repository)."""
    root = tmp_path / "big"
    write_corpus(root, packages=12)  # 600 modules: pools for both phases, a lexical writer
    cmd = [sys.executable, "-m", "codegraph.cli", "--data-dir", str(tmp_path / "data"),
           "index", str(root), "--progress", "json", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=cli_env())
    seen: set[int] = set()
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("{") and json.loads(line)["event"] == event:
                break
        assert wait_for(lambda: len(children(proc.pid)) >= 2, 60), "no workers started"
        seen = children(proc.pid)
        assert len(seen) >= 2, "the workers ended before the kill"
        proc.kill()  # the indexer only: not its process group
        proc.wait(10)
        assert wait_for(lambda: not any(map(running, seen)), 2.0), \
            f"workers left running: {[p for p in seen if running(p)]}"
    finally:
        proc.kill()
        proc.wait(10)
        for pid in seen:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_server_workers_die_with_a_killed_server(tmp_path: Path) -> None:
    """A server's workers are spawned, not forked (a threaded process must not fork):
    kill -9 of the server ends them too."""
    root = tmp_path / "big"
    write_corpus(root, packages=12)
    server = ServerProcess(tmp_path, [root], wait_ready=False, CODEGRAPH_WORKERS="2")
    seen: set[int] = set()
    try:
        assert wait_for(lambda: len(descendants(server.proc.pid)) >= 3, 60), "no workers"
        seen = descendants(server.proc.pid)
        server.proc.kill()
        server.proc.wait(10)
        assert wait_for(lambda: not any(map(running, seen)), 2.0), \
            f"left running: {[p for p in seen if running(p)]}"
    finally:
        server.stop(signal.SIGKILL)
        for pid in seen:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
