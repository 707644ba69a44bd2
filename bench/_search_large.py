"""The 100k-chunk latency index of bench_search.py, and Django's tests as a second repo.

More real code is indexed beside the stripped package until the store holds 100k chunks:
Django's ``tests/``, then SQLAlchemy 2.0.36 and SymPy 1.13.3 (pinned sdists, ``.py`` files
in path order). Embedding them would take hours on a small machine, so the vector index
holds the real vectors of the package's chunks plus, for every other chunk, a perturbed
copy of a random real vector (unit vector + N(0, NOISE) per coordinate, renormalised:
cosine about 0.9 to its original).

An sdist not in the corpus cache is downloaded only with ``fetch=True`` (``--fetch-large``):
without it, or when the download fails, copies of Django's package and tests under other
repository names (``django-copy-N``: real code, new node ids) fill in, and the report says
so. The lexical index then holds the same terms several times (longer posting lists,
as a large real corpus would), which is what a latency figure needs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _corpus import KNOWN_SHA256, CorpusError, cache_dir, fetch_sdist, normalize
from codegraph.api import CodeGraph
from codegraph.search.vectors import VectorIndex

LARGE_CORPORA = (("django-tests", ("django", "5.1.4"), "tests"),
                 ("sqlalchemy", ("sqlalchemy", "2.0.36"), "."),
                 ("sympy", ("sympy", "1.13.3"), "."))
# sha256 of these sdists on PyPI (from its simple index; pip checks them too).
KNOWN_SHA256.update({
    ("sqlalchemy", "2.0.36"): "7f2767680b6d2398aea7082e45a774b2b0767b5c8d8ffb9c8b683088ea9b29c5",
    ("sympy", "1.13.3"): "b27fd2c6530e0ab39e275fc9b683895367e51d5da91baa8d3d64db2565fec4d9",
})
NOISE = 0.02
DJANGO = ("django", "5.1.4")


def cached(package: str, version: str) -> bool:
    """The sdist is in the corpus cache (unpacked, or its archive): no download."""
    stem = f"{normalize(package)}-{version}"
    base = cache_dir()
    archives = {normalize(p.name.removesuffix(".tar.gz")) for p in base.glob("*.tar.gz")}
    return (base / "unpacked" / stem).is_dir() or normalize(stem) in archives


def sources(fetch: bool) -> list[tuple[str, Path, str]]:
    """(repo name, tree, label) to fill with, in order."""
    out = []
    for name, (package, version), sub in LARGE_CORPORA:
        if fetch or cached(package, version):
            try:
                out.append((name, (fetch_sdist(package, version) / sub).resolve(),
                            f"{package}=={version}/{sub}"))
                continue
            except CorpusError:
                pass
    django = fetch_sdist(*DJANGO)
    for n in range(1, 6):
        for sub in ("django", "tests"):
            out.append((f"django-copy-{n}-{sub}", (django / sub).resolve(),
                        f"copy {n} of django=={DJANGO[1]}/{sub}"))
    return out


def chunk_count(cg: CodeGraph) -> int:
    return sum(1 for _ in cg.store.chunk_ids())


def index_django_tests(cg: CodeGraph, work: Path) -> dict[str, Any]:
    """Index Django's ``tests/`` as a repository of its own (paths ``tests/...``, as in a
    checkout), lexical rows only."""
    root = work / "django-tests"
    if not root.exists():
        shutil.copytree(fetch_sdist("django", "5.1.4") / "tests", root / "tests",
                        symlinks=True)
    report = cg.index(str(root), name="django-tests")
    return {"files": report.files, "chunks": chunk_count(cg)}


def fill_to(cg: CodeGraph, target: int, work: Path, log: Callable[[str], None], *,
            fetch: bool = False) -> list[dict[str, Any]]:
    """Index more real code (``sources``, file by file in path order, in batches sized
    to land just past ``target``) until the store holds ``target`` chunks."""
    total = chunk_count(cg)
    added = []
    indexer = cg.indexer()
    for name, src, label in sources(fetch):
        if total >= target:
            break
        files = sorted(src.rglob("*.py"), key=lambda p: p.relative_to(src).as_posix())
        dest = work / "large" / name
        rate, copied, start_total = 20.0, 0, total
        while copied < len(files) and total < target:
            batch = max(5, min(2000, int((target - total) / rate * 0.5)))
            for path in files[copied:copied + batch]:
                out = dest / path.relative_to(src)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, out)
            copied = min(len(files), copied + batch)
            indexer.index(str(dest), name=name)
            total = chunk_count(cg)
            rate = max(1.0, (total - start_total) / copied)
            log(f"100k: {name} {copied}/{len(files)} files, {total:,} chunks")
        added.append({"repo": name, "corpus": label, "files": copied,
                      "of_files": len(files), "chunks": total - start_total})
    cg.search_service().sync_lexical()
    return added


def fill_vectors(cg: CodeGraph, seed: int) -> dict[str, int]:
    """Give every chunk without a vector a perturbed copy of a real one (unit-normalised
    real vector + gaussian noise), so that the vector index is as large as the store."""
    vectors = cg.search_service().vectors(for_writing=True)
    real_ids = vectors.ids()
    if not real_ids:
        raise RuntimeError("no real vectors to copy")
    real = np.stack([v for i in real_ids if (v := vectors.vector(i)) is not None])
    missing = [i for i in cg.store.chunk_ids() if i not in vectors]
    rng = np.random.default_rng(seed)
    for at in range(0, len(missing), 50_000):
        part = missing[at:at + 50_000]
        rows = real[rng.integers(0, len(real), len(part))]
        rows = rows + rng.normal(0.0, NOISE, rows.shape).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        vectors.add(part, rows)
    vectors.save(cg.store.revision)
    return {"real": len(real_ids), "perturbed": len(missing), "total": vectors.count}


def force_kind(cg: CodeGraph, kind: str) -> str:
    """Reopen the service's vector index as ``kind`` (flat: exact, ivf: approximate)."""
    svc = cg.search_service()
    e = svc.embedder()
    svc._vectors = VectorIndex.open(svc.vector_dir, provider=e.provider,
                                    model=e.model, dimension=e.dimension, kind=kind)
    return str(svc._vectors.kind)
