"""How the store's keys are made: the one place that knows their layout (see ``rocks.py``
for the column families). Text parts are UTF-8 joined by ``\\0``; ids are 8 raw bytes."""

from __future__ import annotations

# ``meta`` keys
REVISION = b"revision"
SCHEMA = b"schema"
REPO = b"repo\0"  # + name -> the repository's info
NAMING = b"naming\0"  # + name -> its naming files' digests
BULK = b"bulk\0"  # + name -> "": a first index of it in bulk, not finished
EMBED_FAILURES = b"embed_failures"  # the last embedding run's failures
EMBED_RATE = b"embed_rate\0"  # + model -> [chunks per second, when measured]

# ``embeddings`` keys besides the cache's ``model \0 chunk hash``
IDMAP = b"\0idmap\0"  # + model \0 chunk id -> hash of the text its vector was made from


def text_key(*parts: str) -> bytes:
    return "\0".join(parts).encode()


def node_key(node_id: str) -> bytes:
    return bytes.fromhex(node_id)


def file_key(repo: str, path: str) -> bytes:
    """A file's key in ``files``, ``facts`` and ``dirty``."""
    return text_key(repo, path)


def repo_prefix(repo: str) -> bytes:
    """The prefix of a repository's keys in ``files``, ``facts``, ``dirty``, ``chunks``."""
    return repo.encode() + b"\0"


def chunk_prefix(repo: str, path: str) -> bytes:
    """The prefix of a file's chunks in ``chunks``."""
    return text_key(repo, path) + b"\0"


def chunk_key(repo: str, path: str, chunk_id: str) -> bytes:
    return chunk_prefix(repo, path) + bytes.fromhex(chunk_id)


def dependency_key(repo: str, name: str, path: str) -> bytes:
    """``deps``: the file at ``path`` has edges that depend on ``name``."""
    return text_key(repo, name, path)


def dependency_prefix(repo: str, name: str) -> bytes:
    return text_key(repo, name) + b"\0"


def symbol_prefix(first: str, repo: str) -> bytes:
    """The prefix of the symbols under a (lowercased) name in ``names``, or a qualified
    name in ``qnames``, in one repository; each key goes on with the node's id."""
    return text_key(first, repo) + b"\0"


def id_of(key: bytes) -> str:
    """The id at the end of a ``names``, ``qnames`` or ``chunks`` key."""
    return key[-8:].hex()
