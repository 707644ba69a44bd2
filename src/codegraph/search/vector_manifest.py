"""The vector index's manifest, ``manifest.json`` beside ``index.faiss``: what a save of
the index records (provider, model, dimension, structure, count, store revision, the ids
held, the index file's size and CRC-32). The one module that reads and writes it; it
needs neither FAISS nor numpy, so that readiness and coverage can read it where those are
not installed, and without loading the index."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

INDEX_FILE, MANIFEST_FILE = "index.faiss", "manifest.json"


class VectorManifest:
    """A parsed manifest. Fields are read as saved: a manifest written by an older
    version may lack some (None then)."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    @classmethod
    def parse(cls, data: bytes) -> VectorManifest:
        """Raises ValueError unless ``data`` is a JSON object."""
        fields = json.loads(data)
        if not isinstance(fields, dict):
            raise ValueError(f"a vector index manifest is a JSON object, not {fields!r:.40}")
        return cls(fields)

    @classmethod
    def read(cls, path: str | Path) -> VectorManifest:
        """Raises OSError (unreadable) or ValueError (not a manifest)."""
        with open(path, "rb") as f:
            return cls.parse(f.read())

    def to_json(self) -> bytes:
        return json.dumps(self.fields, indent=2).encode() + b"\n"

    @property
    def provider(self) -> str | None:
        return self.fields.get("provider")

    @property
    def model(self) -> str | None:
        return self.fields.get("model")

    @property
    def index_bytes(self) -> int | None:
        return self.fields.get("index_bytes")

    @property
    def index_crc32(self) -> int | None:
        return self.fields.get("index_crc32")

    def held_ids(self) -> set[str] | None:
        """The chunk ids the saved index holds; None if the manifest does not list them
        (saved before manifests had them). (40 ms for 100k ids.)"""
        if "ids" not in self.fields:
            return None
        held = base64.b64decode(self.fields["ids"]).hex()
        return {held[at:at + 16] for at in range(0, len(held), 16)}


def encode_ids(labels: bytes) -> str:
    """The ``ids`` field: each chunk id's 8 bytes (its label, big-endian), in order."""
    return base64.b64encode(labels).decode()


_cache: dict[str, tuple[tuple[int, int], VectorManifest]] = {}


def saved_manifest(directory: str, *, cached: bool = False) -> VectorManifest | None:
    """The committed manifest of the vector index in ``directory``; None if there is none.
    Raises OSError or ValueError if it cannot be read. ``cached``: parsed again only when
    its modification time or size changed (it lists the ids held: 1.6 ms to parse at 100k
    vectors, and readiness is probed every few seconds)."""
    path = os.path.join(directory, MANIFEST_FILE)
    if not os.path.exists(path):
        return None
    if not cached:
        return VectorManifest.read(path)
    st = os.stat(path)
    key = (st.st_mtime_ns, st.st_size)
    hit = _cache.get(path)
    if hit is None or hit[0] != key:
        hit = (key, VectorManifest.read(path))
        _cache[path] = hit
    return hit[1]
