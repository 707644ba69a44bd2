"""Where CodeGraph keeps its data, how big a file it reads and how many workers it runs,
from flags and environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from codegraph.store.rocks import parse_size

DEFAULT_DATA_DIR = ".codegraph"
# In the data directory, next to the lexical index: where parse workers stage its rows
# (search/lexical_stage.py).
LEXICAL_STAGE = "lexical-stage"
DEFAULT_MAX_FILE_SIZE = 1_000_000


@dataclass(frozen=True, slots=True)
class Paths:
    data_dir: str
    rocksdb: str
    faiss: str


def data_paths(data_dir: str | None = None) -> Paths:
    """``--data-dir`` > ``$CODEGRAPH_DATA_DIR`` > ``./.codegraph``; ``$ROCKSDB_PATH`` and
    ``$FAISS_INDEX_PATH`` win for the store and the vector index, unless ``--data-dir``
    is given (a checkpoint read with ``--data-dir`` is read whole, from there)."""
    base = data_dir or os.environ.get("CODEGRAPH_DATA_DIR") or DEFAULT_DATA_DIR
    rocks = os.environ.get("ROCKSDB_PATH") if not data_dir else None
    faiss = os.environ.get("FAISS_INDEX_PATH") if not data_dir else None
    return Paths(os.path.abspath(base), os.path.abspath(rocks or os.path.join(base, "rocksdb")),
                 os.path.abspath(faiss or os.path.join(base, "faiss")))


def max_file_size() -> int:
    raw = os.environ.get("CODEGRAPH_MAX_FILE_SIZE")
    if not raw:
        return DEFAULT_MAX_FILE_SIZE
    try:
        return parse_size(raw)
    except ValueError as exc:
        raise ValueError(f"CODEGRAPH_MAX_FILE_SIZE: {exc}") from None


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # honours taskset and cgroup cpusets
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


WORKERS_ENV = ("CODEGRAPH_WORKERS", "TOKIO_WORKER_THREADS")  # the spec's name, an alias


def workers(env: Mapping[str, str] | None = None) -> int:
    """``$CODEGRAPH_WORKERS`` (or ``$TOKIO_WORKER_THREADS``), else the usable cores: parser
    processes, FAISS and ONNX threads, the server's thread pool."""
    env = os.environ if env is None else env
    name = next((n for n in WORKERS_ENV if env.get(n, "").strip()), None)
    if name is None:
        return usable_cores()
    raw = env[name].strip()
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if not 1 <= value <= 256:
        raise ValueError(f"{name} must be between 1 and 256, got {value}")
    return value
