"""Which chunks get a vector, and in what order.

``CODEGRAPH_EMBED_EXCLUDE`` lists gitignore-style patterns (comma-separated) matched
against a chunk's repository-relative path and each of its directories; a matching chunk
gets no vector (it stays in lexical search). The default (``config.DEFAULT_EMBED_EXCLUDE``)
leaves out what nobody searches by meaning and what only lengthens the backlog:
migrations, generated protobuf code, minified and vendored code. ``none`` embeds
everything.

The rest is embedded in the order people search it (``embedding_run.in_order``): the
most-called definitions first, and source before tests among those called as often, so
that semantic search is useful within seconds of a first run and complete later.
"""

from __future__ import annotations

import functools
import posixpath
import re

from codegraph.config import ConfigError
from codegraph.index.ignore import IgnoreFile

NOTHING = "none"  # the value that excludes nothing

_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs"})
_TEST_FILE = re.compile(
    r"(^test_.*\.py$|_tests?\.py$|_test\.go$|\.(test|spec)\.[cm]?[jt]sx?$|Tests?\.(java|cs|kt)$"
    r"|_spec\.rb$|_test\.rb$)"
)


def is_test_path(path: str) -> bool:
    """Whether a repository-relative path is test code (a test directory or file name)."""
    directory, name = posixpath.split(path)
    return bool(_TEST_FILE.search(name)) or any(
        part in _TEST_DIRS for part in directory.split("/"))


class EmbedScope:
    """The compiled ``CODEGRAPH_EMBED_EXCLUDE`` patterns."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = () if patterns == (NOTHING,) else patterns
        self._rules = IgnoreFile("\n".join(self.patterns).encode())
        if self._rules.problems:
            raise ConfigError(f"CODEGRAPH_EMBED_EXCLUDE: {self._rules.reason} (patterns are "
                              "gitignore-style globs, comma-separated)")
        self.excluded = functools.lru_cache(maxsize=65536)(self._excluded)

    def _excluded(self, path: str) -> bool:
        """Whether ``path`` (or a directory above it) matches a pattern, the last matching
        pattern deciding, as in a .gitignore."""
        if not self._rules:
            return False
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            verdict = self._rules.match("/".join(parts[:depth]).encode(),
                                        is_dir=depth < len(parts))
            if verdict:
                return True
        return False
