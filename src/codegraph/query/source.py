"""Source text of indexed definitions, read from the repository on disk, never outside it."""

from __future__ import annotations

import os

from codegraph.store.rocks import Store

SNIPPET_LINES = 400


def resolve_inside(root: str, path: str) -> str | None:
    """The real path of ``path`` taken from ``root``, or None when it (or a symlink on the
    way) leads outside ``root``."""
    full = os.path.realpath(os.path.join(root, path))
    return full if os.path.commonpath([full, root]) == root else None


def snippet(store: Store, repo: str, path: str, start: int, end: int) -> str | None:
    """Lines ``start``-``end`` (at most ``SNIPPET_LINES``) of a repository's file; None
    when the repository, the file or the lines are not there."""
    info = store.repos().get(repo)
    if info is None or not path or start < 1:
        return None
    full = resolve_inside(str(info.get("root", "")), path)
    if full is None:
        return None
    end = min(max(end, start), start + SNIPPET_LINES - 1)
    try:
        with open(full, encoding="utf-8", errors="replace") as f:
            lines = [line for i, line in enumerate(f, 1) if start <= i <= end]
    except OSError:
        return None
    return "".join(lines)
