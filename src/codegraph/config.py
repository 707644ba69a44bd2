"""Where CodeGraph keeps its data and how big a file it reads, from flags and environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from codegraph.store.rocks import parse_size

DEFAULT_DATA_DIR = ".codegraph"
DEFAULT_MAX_FILE_SIZE = 1_000_000


@dataclass(frozen=True, slots=True)
class Paths:
    data_dir: str
    rocksdb: str


def data_paths(data_dir: str | None = None) -> Paths:
    """``--data-dir`` > ``$CODEGRAPH_DATA_DIR`` > ``./.codegraph``; ``$ROCKSDB_PATH`` wins
    for the store itself."""
    base = data_dir or os.environ.get("CODEGRAPH_DATA_DIR") or DEFAULT_DATA_DIR
    rocks = os.environ.get("ROCKSDB_PATH") if not data_dir else None
    return Paths(os.path.abspath(base), os.path.abspath(rocks or os.path.join(base, "rocksdb")))


def max_file_size() -> int:
    raw = os.environ.get("CODEGRAPH_MAX_FILE_SIZE")
    if not raw:
        return DEFAULT_MAX_FILE_SIZE
    try:
        return parse_size(raw)
    except ValueError as exc:
        raise ValueError(f"CODEGRAPH_MAX_FILE_SIZE: {exc}") from None
