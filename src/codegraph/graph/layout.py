"""A repository's file layout, as module naming needs it (packages, go.mod, Cargo.toml)."""

from __future__ import annotations

import os
from functools import lru_cache


class RepoLayout:
    def __init__(self, root: str, paths: set[str]) -> None:
        self.root = root
        self.paths = paths  # every repo-relative path the walker found

    def exists(self, path: str) -> bool:
        return path in self.paths or os.path.isfile(os.path.join(self.root, path))

    @lru_cache(maxsize=256)  # noqa: B019 - one layout per indexing run
    def read(self, path: str) -> str | None:
        """A small repository file (go.mod, Cargo.toml, ...), or None."""
        try:
            with open(os.path.join(self.root, path), encoding="utf-8", errors="replace") as f:
                return f.read(65536)
        except OSError:
            return None

    def find_upwards(self, start_dir: str, filename: str) -> str | None:
        """Nearest ``filename`` in ``start_dir`` or its parents inside the repository."""
        d = start_dir
        while True:
            candidate = f"{d}/{filename}" if d else filename
            if self.exists(candidate):
                return candidate
            if not d:
                return None
            d = d.rpartition("/")[0]
