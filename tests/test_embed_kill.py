"""kill -9, Ctrl-C and SIGTERM in the middle of embedding (the real local model, in a
subprocess stopped at a chosen batch): ``stats`` counts what the saved vector index holds,
and the next run completes it, every vector made from its chunk's present text."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codegraph.api import CodeGraph
from codegraph.search.vectors import VectorIndex
from helpers import cli_env, run_cli, run_json, write_tree

# Embeds saving after every batch of 32 (SAVE_SECONDS 0) or only at the end (a day), and
# kills itself (SIGKILL) at the first point between two model runs once ``done`` reached
# KILL_AT: the batch under way is neither saved nor cached.
KILLED_EMBED = """
import os, signal, sys
from codegraph.api import CodeGraph
from codegraph.search import embedding_run

embedding_run.SAVE_SECONDS = float(sys.argv[2])
done = 0

def progress(event):
    global done
    done = event.get("done", done)
    if event.get("event") == "tick" and done >= int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)

with CodeGraph.open(sys.argv[1]) as cg:
    cg.embed(progress)
"""
TOPICS = ["prices", "taxes", "carts", "orders", "invoices", "refunds", "stock", "coupons",
          "payments", "shipping"]
CHUNKS = 120


def shop(verb: str = "Return") -> dict[str, str]:
    """10 modules of 12 functions: a chunk each."""
    return {f"shop/{topic}.py": "".join(
        f'def {topic}_{n}(items, rate={n}):\n    """{verb} the {topic} of the items, '
        f'step {n}."""\n    return [i * rate for i in items if i > {n}]\n\n\n'
        for n in range(12)) for topic in TOPICS}


def kill_embedding(data: Path, save_seconds: float, kill_at: int) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_EMBED, str(data), str(save_seconds),
                           str(kill_at)], env=cli_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -9, proc.stderr


def current_vectors(data: Path) -> int:
    """How many chunks the saved vector index holds a vector of their present text for
    (the embedding cache has it by the text's hash, as the model made it)."""
    with CodeGraph.open(str(data), readonly=True) as cg:
        service = cg.search_service()
        embedder = service.embedder()
        saved = VectorIndex.open(str(data / "faiss"), provider=embedder.provider,
                                 model=embedder.model, dimension=embedder.dimension)
        model = f"{embedder.provider}/{embedder.model}"
        count = 0
        for chunk in service.chunks():
            made = cg.store.embedding_cache.vector(model, chunk.hash)
            held = saved.vector(chunk.id)
            count += made is not None and held is not None and np.allclose(
                held, np.frombuffer(made, dtype=np.float32))
        return count


def embedded(data: Path) -> int:
    return int(run_json("stats", data_dir=data)["search"]["embedded"])


@pytest.fixture
def repo_data(tmp_path: Path) -> tuple[Path, Path]:
    repo = write_tree(tmp_path / "repo", shop())
    data = tmp_path / "data"
    assert run_cli("index", str(repo), data_dir=data)[0] == 0
    return repo, data


def test_killed_between_saves(repo_data: tuple[Path, Path]) -> None:
    """Saving after every batch, killed in the third batch: stats says 64, what the saved
    index holds, and the next run embeds the rest (the killed batch's vectors were neither
    saved nor cached)."""
    _, data = repo_data
    kill_embedding(data, save_seconds=0, kill_at=64)
    assert embedded(data) == current_vectors(data) == 64
    with CodeGraph.open(str(data)) as cg:
        report = cg.embed()
    assert (report.total, report.cached, report.embedded) == (CHUNKS, 0, CHUNKS - 64)
    assert embedded(data) == current_vectors(data) == CHUNKS


def test_killed_while_replacing_vectors(repo_data: tuple[Path, Path]) -> None:
    """Half the chunks changed; killed after the first batch of new vectors, before any
    save: the saved index holds none of the new ones, and stats says so. The next run
    replaces every old vector (it used to keep 32 of them, made from the old text)."""
    repo, data = repo_data
    with CodeGraph.open(str(data)) as cg:
        cg.embed()
    assert embedded(data) == current_vectors(data) == CHUNKS
    write_tree(repo, dict(list(shop(verb="Give back").items())[:5]))
    code, _, err = run_cli("index", str(repo), data_dir=data)
    assert code == 0, err
    kill_embedding(data, save_seconds=86400, kill_at=32)
    assert embedded(data) == current_vectors(data) == CHUNKS // 2
    with CodeGraph.open(str(data)) as cg:
        cg.embed()
    assert embedded(data) == current_vectors(data) == CHUNKS


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_index_keeps_what_it_embedded(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C or SIGTERM during `codegraph index`'s embedding, after its first batch: the
    run saves what it embedded before it exits, and the next run embeds only the rest."""
    repo = write_tree(tmp_path / "repo", shop())
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "codegraph.cli", "--data-dir", str(data),
                             "index", str(repo), "--progress", "json"],
                            env=cli_env(CODEGRAPH_EMBED="1"), stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if line.startswith("{") and json.loads(line).get("event") == "embedded":
                proc.send_signal(sig)
                break
        proc.stderr.read()
        assert proc.wait(timeout=120) == 128 + sig
    finally:
        proc.kill()
    kept = embedded(data)
    assert 32 <= kept < CHUNKS and current_vectors(data) == kept
    code, out, err = run_cli("index", str(repo), "--json", data_dir=data,
                             env=cli_env(CODEGRAPH_EMBED="1"))
    assert code == 0, err
    report = json.loads(out)["embeddings"]
    assert report["embedded"] + report["cached"] == CHUNKS - kept
    assert embedded(data) == current_vectors(data) == CHUNKS
