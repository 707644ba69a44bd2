"""Repository names: chosen once, when a directory is first indexed, then used to address
it everywhere (API paths, ``--repo``, keys of the store). A name is 1 to 100 letters,
digits, ``.``, ``_`` or ``-``, starting with a letter or digit, so that it is one safe
path segment; a directory has one name."""

from __future__ import annotations

import os
import re

from codegraph.errors import RepositoryConflict, RepositoryNameError
from codegraph.store.rocks import Store

MAX_NAME = 100
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME - 1}}}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise RepositoryNameError(
            f"repository names are 1 to {MAX_NAME} letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit; got {name[:120]!r}")
    return name


def name_from_path(root: str) -> str:
    """A valid name made from a directory's base name (``my repo!`` -> ``my-repo``)."""
    base = _UNSAFE.sub("-", os.path.basename(root.rstrip("/"))).lstrip("._-")
    return base[:MAX_NAME].rstrip("._-") or "repo"


def repo_name_for(store: Store, root: str, name: str | None = None) -> str:
    """The repository's name: the one ``root`` is registered under, or ``name`` (checked),
    or one made from its base name (``-2``, ``-3``, ... when taken). A directory registered
    under one name cannot take a second, and a name cannot be given to a second directory:
    :class:`RepositoryConflict`."""
    repos = store.repos()
    for existing, info in repos.items():
        if info.get("root") == root:
            if name is not None and name != existing:
                raise RepositoryConflict(f"{root} is already indexed as {existing!r}; remove "
                                         f"that repository first to rename it")
            return existing
    if name is not None:
        check_name(name)
        if name in repos:
            raise RepositoryConflict(f"repository name {name!r} is already used for "
                                     f"{repos[name].get('root')}")
        return name
    base = name_from_path(root)
    candidate, n = base, 1
    while candidate in repos:
        n += 1
        candidate = f"{base[:MAX_NAME - 1 - len(str(n))]}-{n}"
    return candidate
