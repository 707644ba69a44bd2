"""The conventions of a command line (issue 18): ``--version``, global options anywhere,
``--limit``/``--offset`` on every list, the count and a "more" hint on a terminal, colour
only there (and never with NO_COLOR), ``show``, ``serve``'s flags, shell completion,
readable ``stats``, plain progress, and a deterministic ``symbols`` ranking. Each runs the
real CLI in a subprocess (on a terminal: a pseudo-terminal) on a real index."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import codegraph
from helpers import SRC, cli_env, one_line_error, run_cli, run_json, write_tree
from serverproc import free_port

USERS = 25  # functions calling ``target``: more than a page of 20
CORE = """\
def target(x):
    return x + 1


def target_helper():
    return target(0)


def t():
    return 1


def get():
    return 2
"""
USERS_PY = "from pkg.core import target\n\n\n" + "\n\n".join(
    f"def user_{i:02d}(v):\n    return target(v) + {i}\n" for i in range(USERS))
HUB = "from pkg import users\n\n\ndef hub():\n" + "".join(
    f"    users.user_{i:02d}(1)\n" for i in range(USERS))
MANY = 510  # definitions starting with ``handler``: more than symbols' cap of 500
HANDLERS = "\n\n".join(f"def handler_{i:03d}():\n    return {i}\n" for i in range(MANY))
TREE = {"pkg/__init__.py": "", "pkg/core.py": CORE, "pkg/users.py": USERS_PY,
        "pkg/hub.py": HUB, "pkg/handlers.py": HANDLERS}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the repository, the data dir), indexed by the CLI."""
    base = tmp_path_factory.mktemp("conventions")
    repo = write_tree(base / "proj", TREE)
    data = base / "data"
    code, _, err = run_cli("index", str(repo), "--progress", "none", data_dir=data)
    assert code == 0, err
    return repo, data


def on_terminal(*args: str, data: Path | None = None, **env: str) -> str:
    """The CLI's stdout when it is a terminal (a pseudo-terminal), with ``\\r\\n`` as
    ``\\n``; it must succeed with nothing on stderr."""
    leader, follower = pty.openpty()
    cmd = [sys.executable, "-m", "codegraph.cli", *args]
    if data is not None:
        cmd += ["--data-dir", str(data)]
    environ = cli_env(TERM="xterm-256color", COLUMNS="200", **env)
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        if name not in env:
            environ.pop(name, None)
    proc = subprocess.Popen(cmd, stdout=follower, stderr=subprocess.PIPE, env=environ,
                            stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err == b"", err
    return b"".join(chunks).decode().replace("\r\n", "\n")


def plain(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


def test_version() -> None:
    code, out, err = run_cli("--version", data_dir=None)
    assert (code, out.strip(), err) == (0, f"codegraph {codegraph.__version__}", "")
    assert codegraph.__version__ == "0.1.0"


def test_global_options_before_or_after_the_command(built: tuple[Path, Path]) -> None:
    _, data = built
    answers = []
    for args in (("--data-dir", str(data), "--json", "callers", "target"),
                 ("callers", "target", "--data-dir", str(data), "--json"),
                 ("--json", "callers", "--data-dir", str(data), "target"),
                 ("callers", "--json", "target", "--data-dir", str(data))):
        code, out, err = run_cli(*args, data_dir=None)
        assert code == 0, (args, err)
        answers.append(json.loads(out))
    assert len(answers[0]["results"]) == 20
    assert all(a == answers[0] for a in answers)
    code, out, err = run_cli("stats", "--json", "--data-dir", str(data), data_dir=None)
    assert code == 0, err
    assert json.loads(out)["files"] == len(TREE)
    # given after, it wins over the one given before
    code, out, _ = run_cli("--data-dir", "/nonexistent", "stats", "--data-dir", str(data),
                           "--json", data_dir=None)
    assert code == 0 and json.loads(out)["files"] == len(TREE)


LISTS = [("callers", "target"), ("callees", "hub"), ("refs", "target"), ("impact", "target"),
         ("outline", "pkg/users.py"), ("symbols", "user"),
         ("search", "target", "--mode", "lexical")]


def names(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(r["qualified_name"], r.get("site_line") or r["line"]) for r in items]


@pytest.mark.parametrize("command", LISTS, ids=lambda c: c[0])
def test_limit_and_offset_on_every_list(built: tuple[Path, Path], command: tuple[str, ...],
                                        ) -> None:
    """Pages of --limit 7 at --offset 0, 7, 14, ... make up the whole list, in order."""
    _, data = built
    biggest = "100" if command[0] == "search" else "500"
    whole = names(run_json(*command, "--limit", biggest, data_dir=data)["results"])
    assert len(whole) >= 10, whole  # more than a page of 7
    paged: list[tuple[str, int]] = []
    for offset in range(0, len(whole) + 7, 7):
        body = run_json(*command, "--limit", "7", "--offset", str(offset), data_dir=data)
        page = names(body["results"])
        assert len(page) == min(7, max(0, len(whole) - offset)), (offset, page)
        assert bool(body["next_cursor"]) == (offset + 7 < len(whole)), offset
        if "total" in body and body["total"] is not None and command[0] != "search":
            assert body["total"] == len(whole)
        paged += page
    assert paged == whole
    code, _, err = run_cli(*command, "--offset", "-1", data_dir=data)
    one_line_error(code, err, "offset must be between 0 and")
    code, _, err = run_cli(*command, "--offset", "x", data_dir=data)
    one_line_error(code, err, "offset must be a whole number")
    code, _, err = run_cli(*command, "--offset", "1", "--cursor", "abc", data_dir=data)
    one_line_error(code, err, "give --offset or --cursor, not both")


def test_count_and_more_hint(built: tuple[Path, Path]) -> None:
    _, data = built
    lines = plain(on_terminal("callers", "target", data=data))
    assert len(lines) == 20 + 1  # (nothing unresolved or external to add)
    assert lines[-1] == f"20 of {USERS + 1}; --offset 20 for more"
    lines = plain(on_terminal("callers", "target", "--offset", "20", data=data))
    assert lines[-1] == f"21-{USERS + 1} of {USERS + 1}"
    assert len(lines) == USERS + 1 - 20 + 1
    lines = plain(on_terminal("callers", "target_helper", data=data))
    assert lines == ["(no results)", "0 of 0"]
    # a search has no total: how many are shown, and the next offset
    lines = plain(on_terminal("search", "target", "--mode", "lexical", "--limit", "3",
                              data=data))
    assert lines[-1] == "3 shown; --offset 3 for more"
    lines = plain(on_terminal("search", "target", "--mode", "lexical", "--limit", "3",
                              "--offset", "3", data=data))
    assert lines[-1] == "4-6 shown; --offset 6 for more"
    # symbols stops counting at its cap, and says so
    lines = plain(on_terminal("symbols", "handler", data=data))
    assert lines[-1] == "50 of 500+; --offset 50 for more"
    # piped: the hint only when more remain (and no count otherwise)
    code, out, _ = run_cli("callers", "target", data_dir=data)
    assert code == 0 and out.splitlines()[-1] == f"20 of {USERS + 1}; --offset 20 for more"
    code, out, _ = run_cli("callers", "target", "--offset", "20", data_dir=data)
    assert code == 0 and len(out.splitlines()) == USERS + 1 - 20


def test_colour_on_a_terminal_only(built: tuple[Path, Path]) -> None:
    _, data = built
    coloured = on_terminal("callers", "target", data=data)
    assert ANSI.search(coloured), coloured
    assert "\x1b[36m" in coloured  # the path, in cyan
    for text in (on_terminal("callers", "target", data=data, NO_COLOR="1"),
                 on_terminal("show", "target", data=data, NO_COLOR="1"),
                 on_terminal("stats", data=data, NO_COLOR="1")):
        assert "\x1b" not in text, text
    assert plain(on_terminal("callers", "target", data=data, NO_COLOR="1")) == plain(coloured)
    code, out, _ = run_cli("callers", "target", data_dir=data)
    assert code == 0 and "\x1b" not in out
    assert out.splitlines() == plain(coloured)


def test_show_prints_the_source_with_line_numbers(built: tuple[Path, Path]) -> None:
    _, data = built
    code, out, err = run_cli("show", "target", data_dir=data)
    assert code == 0, err
    assert out.splitlines() == ["proj:pkg/core.py:1  function pkg.core.target",
                                "1  def target(x):", "2      return x + 1"]
    code, out, err = run_cli("show", "pkg.core.target_helper", "--context", "1",
                             data_dir=data)
    assert code == 0, err
    assert out.splitlines()[1:] == ["4  ", "5  def target_helper():",
                                    "6      return target(0)", "7  "]
    code, out, err = run_cli("show", "hub", data_dir=data)  # numbers aligned right
    assert code == 0, err
    assert out.splitlines()[1:3] == [" 4  def hub():", " 5      users.user_00(1)"]
    assert out.splitlines()[-1] == f"{4 + USERS}      users.user_{USERS - 1}(1)"
    assert run_json("show", "target", data_dir=data) == run_json("symbol", "target",
                                                                  data_dir=data)
    highlighted = on_terminal("show", "hub", data=data)
    assert ANSI.search(highlighted)
    lines = plain(highlighted)
    assert lines[0] == "proj:pkg/hub.py:4  function pkg.hub.hub"
    assert re.match(r"\s*4\s+def hub\(\):", lines[1]), lines
    assert re.match(r"\s*5\s+users\.user_00\(1\)", lines[2]), lines
    code, _, err = run_cli("show", "nope_nothing", data_dir=data)
    one_line_error(code, err, "no symbol named 'nope_nothing'")


def test_serve_host_port_metrics_port(built: tuple[Path, Path], tmp_path: Path) -> None:
    _, data = built
    port, metrics = free_port(), free_port()
    env = cli_env(CODEGRAPH_DATA_DIR=str(tmp_path / "served"), CODEGRAPH_WATCH="0",
                  CODEGRAPH_REPOS_ROOT=str(tmp_path))
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "codegraph.cli", "serve", "--host",
                             "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert health is not None and health.status_code == 200, (
            tmp_path / "serve.log").read_text()
        scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=10)
        assert scraped.status_code == 200 and "codegraph" in scraped.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    for flags, needle in ((("--port", "0"), "--port must be between 1 and 65535"),
                          (("--port", "x"), "--port must be a port number"),
                          (("--metrics-port", "70000"), "--metrics-port must be between"),
                          (("--host", "no such host!"), "--host must be an IP address"),
                          (("--port", "4000", "--metrics-port", "4000"),
                           "metrics port (4000) must differ")):
        code, _, err = run_cli("serve", *flags, data_dir=data)
        one_line_error(code, err, needle)


def test_completion_scripts(tmp_path: Path) -> None:
    scripts = {}
    for shell in ("bash", "zsh", "fish"):
        code, out, err = run_cli("completion", shell, data_dir=None)
        assert code == 0 and err == "", err
        assert "codegraph" in out and "_ARGCOMPLETE" in out, shell
        scripts[shell] = tmp_path / f"codegraph.{shell}"
        scripts[shell].write_text(out)
    assert "-F _python_argcomplete codegraph" in scripts["bash"].read_text()
    assert scripts["zsh"].read_text().startswith("#compdef codegraph")
    assert "complete --command codegraph" in scripts["fish"].read_text()
    code, _, err = run_cli("completion", "tcsh", data_dir=None)
    assert code == 2 and "invalid choice: 'tcsh'" in err

    # bash, for real: the script sourced, its function asked as bash asks on Tab
    bin_dir = program_dir(tmp_path)

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        script = (f"source {scripts['bash']}\n"
                  f"COMP_LINE='{line}'; COMP_POINT={len(line)}\n"
                  f"COMP_WORDS=({' '.join(repr(w) for w in words)}); "
                  f"COMP_CWORD={len(words) - 1}\n"
                  f"_python_argcomplete codegraph '{words[-1]}' '{words[-2]}'\n"
                  'printf "%s\\n" "${COMPREPLY[@]}"\n')
        env = cli_env(PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONPATH=SRC)
        done = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                              capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return [w.strip() for w in done.stdout.splitlines() if w.strip()]

    assert complete("codegraph cal") == ["callers", "callees"]
    assert complete("codegraph com") == ["completion"]
    assert "--offset" in complete("codegraph callers x --o")
    assert complete("codegraph index . --progress ") == ["auto", "bar", "plain", "json",
                                                         "none"]
    assert {"bash", "zsh", "fish", "--data-dir"} <= set(complete("codegraph completion "))



def program_dir(tmp_path: Path) -> Path:
    """A directory with a ``codegraph`` program that runs this checkout's CLI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "codegraph"
    program.write_text(f"#!/bin/sh\nexec {sys.executable} -m codegraph.cli \"$@\"\n")
    program.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completion(shell: str, tmp_path: Path) -> None:
    """Each shell reads its script without error; fish, for real, completes a command."""
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed (.ci/run installs it)")
    code, out, err = run_cli("completion", shell, data_dir=None)
    assert code == 0 and err == "", err
    script = tmp_path / f"codegraph.{shell}"
    script.write_text(out)
    check = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stderr
    if shell == "fish":
        env = cli_env(PATH=f"{program_dir(tmp_path)}:{os.environ['PATH']}", PYTHONPATH=SRC)
        done = subprocess.run(["fish", "--no-config", "-c", f"source {script}; "
                               "complete -C 'codegraph cal'"], capture_output=True, text=True,
                              env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        assert [line.split("\t")[0] for line in done.stdout.splitlines()] == [
            "callees", "callers"], done.stdout


EPOCH = re.compile(r"\b1[5-9]\d{8}(\.\d+)?\b")  # epoch seconds (2017-2033)


def test_stats_readable_and_json(built: tuple[Path, Path]) -> None:
    repo, data = built
    for text in (on_terminal("stats", data=data), run_cli("stats", data_dir=data)[1]):
        lines = plain(text)
        assert not EPOCH.search(text), text
        assert lines[0].split() == ["revision", str(run_json("stats", data_dir=data)[
            "revision"])]
        assert lines[1].split() == ["proj", str(repo)]
        indexed = next(line for line in lines if line.strip().startswith("indexed"))
        assert re.search(r"\d+ (s|min) ago \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\) in \d+\.\d s",
                         indexed), indexed
        assert f"files       {len(TREE)} (ok {len(TREE)})" in lines
        on_disk = next(line for line in lines if line.startswith("on disk"))
        assert re.match(rf"on disk +\d+\.\d (kB|MB) \({re.escape(str(data))}\)", on_disk)
        assert any(re.match(r"lines +\d{1},\d{3}$", line) for line in lines), lines
    body = run_json("stats", data_dir=data)
    indexed_at = body["repositories"]["proj"]["last_indexed"]
    assert isinstance(indexed_at, float) and abs(time.time() - indexed_at) < 3600


def test_progress_plain_and_json(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "proj", {"a.py": CORE, "b.py": "from a import t\n"})
    code, _, err = run_cli("index", str(repo), "--progress", "plain", data_dir=tmp_path / "d1")
    assert code == 0, err
    lines = err.splitlines()
    assert lines and not [line for line in lines if line.lstrip().startswith("{")], err
    assert any(line.startswith("indexing proj") for line in lines), err
    assert any(line.startswith("done: 2 files") for line in lines), err
    assert "lexical search: updating" in lines
    code, _, err = run_cli("index", str(repo), "--progress", "json", data_dir=tmp_path / "d2")
    assert code == 0, err
    events = [json.loads(line) for line in err.splitlines()]
    assert {"walk", "done", "lexical", "ready"} <= {e["event"] for e in events}
    from codegraph.index.progress import plain_line

    assert plain_line({"event": "update", "repo": "r", "parsed": 2, "deleted": 1,
                       "failed": 0, "revision": 9, "changed": ["x"]}) == (
        "updated r: 2 parsed, 1 deleted, 0 failed (revision 9)")
    assert plain_line({"event": "novel", "done_files": 3, "nested": {"x": 1}}) == (
        "novel: done files 3")


def test_symbols_ranked_and_deterministic(built: tuple[Path, Path], tmp_path: Path) -> None:
    repo, data = built
    body = run_json("symbols", "target", "--limit", "500", data_dir=data)
    got = [(r["qualified_name"], r["match"]) for r in body["results"]]
    assert got == [("pkg.core.target", "exact"), ("pkg.core.target_helper", "prefix")]
    assert body["total"] == 2 and body["capped"] is False
    # a typo: the fuzzy match, and no junk ("t", "get" are like "targte" only in part)
    fuzzy = run_json("symbols", "targte", data_dir=data)["results"]
    assert [(r["qualified_name"], r["match"]) for r in fuzzy] == [("pkg.core.target", "fuzzy")]
    assert 0.82 * 0.7 <= fuzzy[0]["score"] < 0.8
    assert run_json("symbols", "zzqqy", data_dir=data)["results"] == []
    # a part of a longer name (3 letters: only as it is), but no name sharing a letter or two
    part = run_json("symbols", "elp", data_dir=data)["results"]
    assert [(r["qualified_name"], r["match"]) for r in part] == [
        ("pkg.core.target_helper", "fuzzy")]
    assert run_json("symbols", "ar", data_dir=data)["results"] == []
    # tiers in order, scores never rising, and the same answer in other processes (other
    # hash seeds) and from an index built again elsewhere
    mixed = run_json("symbols", "user_0", "--limit", "500", data_dir=data)
    tiers = [{"exact": 0, "prefix": 1, "fuzzy": 2}[r["match"]] for r in mixed["results"]]
    assert tiers == sorted(tiers) and {1, 2} <= set(tiers), tiers
    scores = [r["score"] for r in mixed["results"]]
    assert scores == sorted(scores, reverse=True)
    prefixed = [r["qualified_name"] for r in mixed["results"] if r["match"] == "prefix"]
    assert prefixed == [f"pkg.users.user_{i:02d}" for i in range(10)]
    again = tmp_path / "again"
    code, _, err = run_cli("index", str(repo), "--full", "--progress", "none",
                           data_dir=again)
    assert code == 0, err
    for seed, where in (("1", data), ("2", data), ("3", again)):
        env = cli_env(PYTHONHASHSEED=seed)
        code, out, err = run_cli("--json", "symbols", "user_0", "--limit", "500",
                                 data_dir=where, env=env)
        assert code == 0, err
        assert json.loads(out)["results"] == mixed["results"], seed
    # more than the cap: total is the cap, and labelled so
    capped = run_json("symbols", "handler", "--limit", "500", data_dir=data)
    assert capped["total"] == 500 and capped["capped"] is True
    assert capped["max_results"] == 500 and capped["truncated"] is True
    assert [r["qualified_name"] for r in capped["results"][:2]] == [
        "pkg.handlers", "pkg.handlers.handler_000"]  # (the module: a shorter name)


def test_items_of_another_shape_print_as_json() -> None:
    """A query added to the catalog later (its items not definitions) still prints: each
    item as a JSON line, then the count."""
    import io

    from codegraph.cli.main import _print_answer
    from codegraph.cli.render import Output

    stream = io.StringIO()
    answer = {"results": [{"path": "a.py", "rank": 1}, {"path": "b.py", "rank": 2}],
              "total": 5, "next_cursor": "x"}
    _print_answer(Output(stream), "a_later_query", answer, 0, 0)
    assert stream.getvalue().splitlines() == [
        '{"path": "a.py", "rank": 1}', '{"path": "b.py", "rank": 2}',
        "2 of 5; --offset 2 for more"]
