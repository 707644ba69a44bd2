"""A repository's file layout, as module naming needs it (packages, go.mod, Cargo.toml)."""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterable
from functools import lru_cache

# Files other than sources that name a language's modules (its resolver's ``module_name``
# reads them): file name -> language. Editing, adding or removing one can rename every
# module below it. (A Python package's ``__init__.py`` is a source file: the indexer sees
# it come and go.)
NAMING_FILES = {"go.mod": "go", "Cargo.toml": "rust"}


class RepoLayout:
    def __init__(self, root: str, paths: set[str]) -> None:
        self.root = root
        self.paths = paths  # every repo-relative path the walker found
        self._on_disk: dict[str, bool] = {}  # other paths asked about: one stat each per run

    def exists(self, path: str) -> bool:
        if path in self.paths:
            return True
        found = self._on_disk.get(path)
        if found is None:
            found = self._on_disk[path] = os.path.isfile(os.path.join(self.root, path))
        return found

    def naming_files(self, sources: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The naming files (``NAMING_FILES``) that name the modules of these (path,
        language) sources, each nearest to some of them: path -> a digest of its content."""
        wanted = {(posixpath.dirname(path), name) for path, language in sources
                  for name, named in NAMING_FILES.items() if named == language}
        found: dict[str, str] = {}
        for directory, name in wanted:
            path = self.find_upwards(directory, name)
            if path is not None and path not in found:
                text = self.read(path) or ""
                found[path] = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
        return found

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
