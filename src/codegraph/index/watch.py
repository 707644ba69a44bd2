"""The saved changes of a repository, as they happen: for ``codegraph index PATH --watch``
and the server's watchers, which give them to ``CodeGraph.update``."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from codegraph.graph.layout import NAMING_FILES
from codegraph.index.walker import IGNORE_FILES, is_ignored
from codegraph.parse.languages import language_for_path

# watchfiles waits this long for more changes before yielding a set (milliseconds).
DEBOUNCE_MS = 50
STEP_MS = 25


def watched(path: str) -> str | None:
    """The language of a file whose changes the index follows: a source file's, or the one
    whose modules a naming file (``go.mod``, ``Cargo.toml``) names."""
    return language_for_path(path) or NAMING_FILES.get(path.replace(os.sep, "/").rpartition("/")[2])


def changed_paths(root: str, stop: threading.Event | None = None) -> Iterator[list[str]]:
    """Yield the repo-relative paths saved under ``root``, a debounced set at a time, until
    ``stop`` is set (or forever). Ignored files (.gitignore, .codegraphignore) and files
    that name nothing (see ``watched``) are left out; ignore files themselves are not.
    When the changes are lost (watchfiles stops at a path that is not UTF-8), ``["."]``:
    the root, all of it."""
    from watchfiles import watch as watch_changes

    root = os.path.realpath(root)

    def wanted(_change: object, path: str) -> bool:
        rel = os.path.relpath(path, root)
        if rel.startswith(".."):
            return False
        directory, _, name = rel.replace(os.sep, "/").rpartition("/")
        if name in IGNORE_FILES:  # its rules apply in its directory, if the walk enters it
            return not directory or not is_ignored(root, directory + "/")
        return not is_ignored(root, rel, language_for=watched)

    lost = False
    while stop is None or not stop.is_set():
        try:
            for changes in watch_changes(root, watch_filter=wanted, debounce=DEBOUNCE_MS,
                                         step=STEP_MS, stop_event=stop, yield_on_timeout=True,
                                         rust_timeout=500):
                paths = sorted({os.path.relpath(path, root).replace(os.sep, "/")
                                for _, path in changes})
                if lost:  # watching again (a timeout yields): now what changed meanwhile
                    paths, lost = ["."], False
                if paths:
                    yield paths
            return
        except RuntimeError as e:  # WatchfilesRustInternalError: the set of changes is lost
            if "decode path" not in str(e):
                raise
            lost = True
