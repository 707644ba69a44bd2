"""The indexes bench_search.py ranks over, and the persistent cache that keeps them.

The whole-repository index is Django's package with every docstring stripped
(``_retrieval_set.strip_tree``), indexed and embedded through the real pipeline. It is
kept under ``$CODEGRAPH_BENCH_CACHE`` (default ``~/.cache/codegraph-bench``) in a directory
keyed by the corpus, the version of the stripping (``STRIP_VERSION``), the embedding model
and its token truncation: a re-run indexes again (incremental: a no-op when nothing
changed; a new parser version re-parses every file) and embeds only the chunks whose text
changed (the store's embedding cache is keyed by the chunk text's hash), so it only
re-ranks.

The pool index (``pool_service``) holds only the pool's chunks: its own lexical index
(BM25 statistics of the pool alone) and a vector index of the pool's vectors, copied from
the whole-repository one; the product's ``SearchService`` searches it over the same store.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from _corpus import fetch_sdist, sha256_of
from _retrieval_set import STRIP_VERSION, Probe, Stripped, strip_tree
from codegraph.api import CodeGraph
from codegraph.errors import RepositoryConflict
from codegraph.search.chunks import Chunk
from codegraph.search.lexical import LexicalIndex, default_path
from codegraph.search.service import SearchService
from codegraph.search.vectors import VectorIndex

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ("django", "5.1.4")
PACKAGE = "django"  # the directory of the sdist that is indexed and queried
REPO = "django"
CALLABLE_KINDS = frozenset({"function", "method", "constructor"})


class BenchError(RuntimeError):
    pass


def bench_cache() -> Path:
    raw = os.environ.get("CODEGRAPH_BENCH_CACHE")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "codegraph-bench"


def cache_key(model: str, max_tokens: int | None) -> str:
    """corpus + stripping + model (+ truncation)."""
    sdist = fetch_sdist(*CORPUS)
    archive = sdist.parent.parent / f"{sdist.name}.tar.gz"
    corpus = sha256_of(archive)[:12] if archive.exists() else "-".join(CORPUS)
    tokens = f"-t{max_tokens}" if max_tokens else ""
    safe_model = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return f"search-{CORPUS[0]}-{CORPUS[1]}-{corpus}-{STRIP_VERSION}-{safe_model}{tokens}"


@dataclass(slots=True)
class Corpus:
    """The stripped tree, its store, and what stripping found."""

    root: Path  # the repository root (holds django/)
    data: Path
    stripped: Stripped
    label: str


def prepare_tree(base: Path) -> tuple[Path, Stripped]:
    """The stripped copy of the package under ``base`` (made once: a marker file holds
    what ``strip_tree`` returned)."""
    root = base / "tree" / REPO
    marker = base / "tree" / "stripped.json"
    if marker.exists():
        raw = json.loads(marker.read_text(encoding="utf-8"))
        probes = [Probe(**p) for p in raw.pop("probes")]
        return root, Stripped(probes=probes, **raw)
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(fetch_sdist(*CORPUS) / PACKAGE, root / PACKAGE, symlinks=True)
    stripped = strip_tree(root)
    raw = {"probes": [{f: getattr(p, f) for f in Probe.__slots__} for p in stripped.probes],
           "functions": stripped.functions, "files": stripped.files,
           "docstrings": stripped.docstrings, "duplicates": stripped.duplicates}
    marker.write_text(json.dumps(raw), encoding="utf-8")
    return root, stripped


def open_corpus(base: Path) -> Corpus:
    base.mkdir(parents=True, exist_ok=True)
    root, stripped = prepare_tree(base)
    return Corpus(root, base / "data", stripped,
                  f"{CORPUS[0]}=={CORPUS[1]} (PyPI sdist), its {PACKAGE}/ package, "
                  "every function's and class's docstring stripped")


def match_nodes(cg: CodeGraph, probes: list[Probe]) -> tuple[list[Probe], int, int]:
    """The probes with their node id (those without exactly one dropped), the number
    dropped, and how many targets' chunks still hold the query text (0 expected)."""
    owners: dict[str, set[str]] = {}
    texts: dict[str, list[str]] = {}
    for chunk in cg.search_service().chunks():
        if chunk.kind in CALLABLE_KINDS or chunk.kind == "class":
            owners.setdefault(chunk.qualified_name, set()).add(chunk.node_id)
            texts.setdefault(chunk.node_id, []).append(" ".join(chunk.text.split()))
    out = []
    for p in probes:
        ids = owners.get(p.qualified_name, set())
        if len(ids) == 1:
            out.append(replace(p, node_id=next(iter(ids))))
    leaks = sum(1 for p in out if any(p.query in t for t in texts[p.node_id]))
    return out, len(probes) - len(out), leaks


def node_chunks(cg: CodeGraph) -> dict[str, list[Chunk]]:
    """node id -> its chunks (windows of a long body are several)."""
    out: dict[str, list[Chunk]] = {}
    for chunk in cg.search_service().chunks():
        out.setdefault(chunk.node_id, []).append(chunk)
    return out


def pool_service(cg: CodeGraph, base: Path, chunks: list[Chunk]) -> SearchService:
    """A search service over the same store whose lexical and vector indexes hold only
    ``chunks`` (made again each run: cheap)."""
    where = base / "pool"
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    main = cg.search_service()
    embedder = main.embedder()
    with LexicalIndex.open(default_path(str(where))) as lexical:
        lexical.sync(chunks, revision=cg.store.revision)
    source = main.vectors()
    ids = [c.id for c in chunks if c.id in source]
    if len(ids) != len(chunks):
        raise BenchError(f"{len(chunks) - len(ids)} pool chunks have no vector")
    rows = np.stack([v for i in ids if (v := source.vector(i)) is not None])
    vectors = VectorIndex.open(str(where / "faiss"), provider=embedder.provider,
                               model=embedder.model, dimension=embedder.dimension)
    vectors.add(ids, rows)
    vectors.save(cg.store.revision)
    svc = SearchService(cg.store, str(where), str(where / "faiss"), config=cg.config)
    svc.use_embedder(embedder)
    return svc


def index_and_embed(cg: CodeGraph, corpus: Corpus, log: Callable[[str], None]
                    ) -> dict[str, Any]:
    """Index the stripped tree (incremental: a no-op when unchanged) and embed what lacks
    a vector; the report says how much was done in this run."""
    try:
        report = cg.index(str(corpus.root), name=REPO)
    except RepositoryConflict:  # the cache directory moved: index it anew (the vectors
        cg.remove(REPO)         # come back from the embedding cache, keyed by text hash)
        report = cg.index(str(corpus.root), name=REPO)
    embed = cg.embed(_progress(log))
    if embed.failed:
        raise BenchError(f"embedding failed: {embed.to_dict()}")
    cov = cg.search_service().coverage()
    if cov.get("embedded") != cov.get("chunks", 0) - cov.get("excluded", 0):
        raise BenchError(f"not every chunk is embedded: {cov}")
    return {"files": report.files, "parsed": report.parsed, "seconds": report.seconds,
            "chunks": cov["chunks"], "embed": embed.to_dict()}


def _progress(log: Callable[[str], None]) -> Callable[[dict[str, Any]], None]:
    step = [0.0]

    def progress(event: dict[str, Any]) -> None:
        if event.get("event") == "embedded" and event.get("total"):
            share = event["done"] / event["total"]
            if share >= step[0] or event["done"] == event["total"]:
                log(f"embedded {event['done']:,}/{event['total']:,}")
                step[0] = share + 0.05

    return progress
