"""Which chunks get a vector.

``CODEGRAPH_EMBED_EXCLUDE`` lists gitignore-style patterns (comma-separated) matched
against a chunk's repository-relative path and each of its directories; a matching chunk
gets no vector (it stays in lexical search). The default (``config.DEFAULT_EMBED_EXCLUDE``)
leaves out what nobody searches by meaning and what only lengthens the backlog:
migrations, generated protobuf code, minified and vendored code. ``none`` embeds
everything.
"""

from __future__ import annotations

import functools

from codegraph.config import ConfigError
from codegraph.index.ignore import IgnoreFile

NOTHING = "none"  # the value that excludes nothing


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
