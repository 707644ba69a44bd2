"""``codegraph index`` says when structure and lexical search are ready, then shows the
embedding run's progress (plain lines when piped: a few, not one a batch), or with
``--no-wait`` leaves embedding to ``codegraph serve`` or the next run. The real CLI in a
subprocess, the real local model."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from codegraph.index.progress import PlainProgress, about, ready_line
from helpers import cli_env, run_cli, run_json
from serverproc import ServerProcess
from test_embed_jobs import finished, shop, until

pytestmark = pytest.mark.timeout(300)

EMBED = cli_env(CODEGRAPH_EMBED="1")
TOPICS = ["prices", "taxes", "carts", "orders", "invoices", "refunds", "stock", "coupons"]


def test_ready_line_then_a_few_progress_lines_when_piped(tmp_path: Path) -> None:
    repo = shop(tmp_path / "r", TOPICS)  # 96 chunks
    started = time.monotonic()
    code, _, err = run_cli("index", str(repo), "--progress", "plain", data_dir=tmp_path / "d",
                             env=EMBED)
    seconds = time.monotonic() - started
    assert code == 0, err
    lines = err.splitlines()
    ready = [i for i, line in enumerate(lines) if line.startswith("ready: ")]
    assert len(ready) == 1, err
    assert re.fullmatch(r"ready: structure and lexical search; embedding 96 chunks"
                        r"(, (under a minute|about \d+ min))?", lines[ready[0]]), err
    done = next(i for i, line in enumerate(lines) if line.startswith("done: "))
    assert done < ready[0], err  # the structure's figures come first
    progress = [line for line in lines if line.startswith("  embedded ")]
    assert progress and progress[-1].startswith("  embedded 96/96 chunks, "), err
    assert re.search(r"[\d.]+ chunks/s", progress[-1]), err
    assert len(progress) <= seconds / 5 + 2, err  # every 5 s at most, and the last
    assert re.fullmatch(r"embedded 96 chunks \(96 by the model, 0 from the cache\) in "
                        r"[\d.]+s, [\d.]+ chunks/s", lines[-1]), err
    assert run_json("stats", data_dir=tmp_path / "d")["search"]["embedded"] == 96

    # again: nothing left to embed
    code, _, err = run_cli("index", str(repo), "--progress", "plain", data_dir=tmp_path / "d",
                           env=EMBED)
    assert code == 0, err
    assert "ready: structure, lexical and semantic search" in err.splitlines(), err
    assert "embedded" not in err


def test_no_wait_leaves_embedding_to_serve(tmp_path: Path) -> None:
    repo = shop(tmp_path / "r", TOPICS[:3])  # 36 chunks
    data = tmp_path / "d"
    code, out, err = run_cli("index", str(repo), "--no-wait", "--progress", "plain",
                             data_dir=data, env=EMBED)
    assert code == 0, err
    assert ("ready: structure and lexical search; 36 chunks left to embed, by `codegraph "
            "serve` or the next `codegraph index`") in err.splitlines(), err
    assert "embedded" not in err
    stats = run_json("stats", data_dir=data)
    assert stats["search"]["embedded"] == 0
    assert (stats["embedding"]["pending"], stats["embedding"]["chunks"]) == (36, 36)
    lexical = run_json("search", "the taxes of the items", "--mode", "lexical", data_dir=data)
    assert lexical["results"]

    code, out, err = run_cli("index", str(repo), "--no-wait", "--json", data_dir=data,
                             env=EMBED)
    assert code == 0, err
    report = json.loads(out)
    assert report["embeddings"] is None and report["backlog"]["pending"] == 36

    # a server on that index embeds the backlog at start, though given no repository
    with ServerProcess(tmp_path / "server", [], flags=("--data-dir", str(data)),
                       CODEGRAPH_EMBED="1", CODEGRAPH_WATCH="false") as proc:
        job = until(lambda: finished(proc, "r"), 120, "the backlog embedded")
        assert job["progress"]["total"] == 36
        until(lambda: proc.ok("/health/ready")["components"]["semantic"]["status"]
              == "complete", 30, "semantic search complete")
    assert run_json("stats", data_dir=data)["search"]["embedded"] == 36


def test_no_wait_and_watch_do_not_go_together(tmp_path: Path) -> None:
    code, _, err = run_cli("index", str(tmp_path), "--no-wait", "--watch",
                           data_dir=tmp_path / "d")
    assert code == 2 and "not allowed with argument" in err


def test_json_progress_has_the_ready_event(tmp_path: Path) -> None:
    repo = shop(tmp_path / "r", TOPICS[:2])
    code, _, err = run_cli("index", str(repo), "--progress", "json", data_dir=tmp_path / "d",
                           env=EMBED)
    assert code == 0, err
    events = [json.loads(line) for line in err.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.index("done") < kinds.index("ready") < kinds.index("embed")
    ready = events[kinds.index("ready")]
    assert (ready["repo"], ready["pending"], ready["waiting"]) == ("r", 24, True)
    last = [e for e in events if e["event"] == "embedded"][-1]
    assert (last["done"], last["total"]) == (24, 24) and last["rate"] > 0
    assert kinds[-1] == "embedding_done" and events[-1]["total"] == 24


def test_bar_progress_ends_its_bars(tmp_path: Path) -> None:
    """``--progress bar`` (rich) into a pipe: the structure's bars end complete, then the
    ready line and the embedding bar, which ends complete too."""
    repo = shop(tmp_path / "r", TOPICS[:2])
    code, _, err = run_cli("index", str(repo), "--progress", "bar", data_dir=tmp_path / "d",
                           env=EMBED)
    assert code == 0, err
    assert re.search(r"parse\s.*\b2/2\b", err) and re.search(r"resolve\s.*\b2/2\b", err), err
    assert "ready: structure and lexical search; embedding 24 chunks" in err, err
    assert re.search(r"embed\s.*\b24/24\b", err), err
    assert err.rstrip().splitlines()[-1].startswith("embedded 24 chunks"), err


def test_plain_lines_are_throttled() -> None:
    """One plain line every few seconds at most, and the last; the run's start resets the
    clock. JSON lines are not thinned."""
    import io

    stream = io.StringIO()
    progress = PlainProgress(stream=stream, every=0.2)
    progress({"event": "embed", "total": 64, "provider": "local", "model": "m"})
    for done in range(1, 64):
        progress({"event": "embedded", "done": done, "total": 64, "rate": 30.0,
                  "eta_seconds": (64 - done) / 30})
    time.sleep(0.25)
    progress({"event": "embedded", "done": 63, "total": 64, "rate": 30.0, "eta_seconds": 0.1})
    progress({"event": "embedded", "done": 64, "total": 64, "rate": 30.0, "eta_seconds": 0.0})
    assert stream.getvalue().splitlines()[1:] == [
        "  embedded 63/64 chunks, 30.0 chunks/s, under a minute left",
        "  embedded 64/64 chunks, 30.0 chunks/s"]
    machine = io.StringIO()  # JSON lines are for programs: every event
    progress = PlainProgress(as_json=True, stream=machine, every=60)
    for done in range(1, 65):
        progress({"event": "embedded", "done": done, "total": 64})
    assert len(machine.getvalue().splitlines()) == 64


@pytest.mark.parametrize(("event", "line"), [
    ({"pending": 41430, "eta_seconds": 300.0},
     "ready: structure and lexical search; embedding 41,430 chunks, about 5 min"),
    ({"pending": 41430, "eta_seconds": None},
     "ready: structure and lexical search; embedding 41,430 chunks"),
    ({"pending": 12, "eta_seconds": 9000.0, "excluded": 3},
     "ready: structure and lexical search; embedding 12 chunks, about 2.5 h (3 left out by "
     "CODEGRAPH_EMBED_EXCLUDE)"),
    ({"pending": 0}, "ready: structure, lexical and semantic search"),
    ({"pending": 0, "embedding": "off"}, "ready: structure and lexical search (embedding is off)"),
])
def test_ready_line(event: dict[str, object], line: str) -> None:
    assert ready_line({"event": "ready", **event}) == line
    assert about(None) == ""
