"""Pinned real-world corpora: a PyPI source distribution, downloaded once and unpacked once.

This is the one copy of the download code: ``bench/bench_index.py`` imports it directly
and ``tests/corpora.py`` re-exports it for the tests.

Layout of the cache (``$CODEGRAPH_CORPUS_CACHE`` or ``~/.cache/codegraph-corpora``)::

    CACHE/flask-3.0.3.tar.gz          the archive, sha256-checked
    CACHE/unpacked/flask-3.0.3/       its tree (the sdist's top-level directory)

Both are created under a temporary name in the same directory and renamed into place, so
two processes fetching the same corpus at once both end up with a complete tree, and a
process killed half-way leaves only a temporary directory behind, never a partial tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

# sha256 of the sdists on PyPI (the download is picked from PyPI's simple index by
# this digest and checked against it).
KNOWN_SHA256: dict[tuple[str, str], str] = {
    ("flask", "3.0.3"): "ceb27b0af3823ea2737928a4d99d125a06175b8512c445cbd9a9ce200ef76842",
    ("django", "5.1.4"): "de450c09e91879fa5a307f696e57c851955c910a438a35e6b4c895e86bedc82a",
}

DOWNLOAD_TIMEOUT = 120  # seconds without a byte from PyPI before giving up
SIMPLE_INDEX = os.environ.get("CODEGRAPH_CORPUS_INDEX", "https://pypi.org/simple").rstrip("/")
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


class CorpusError(RuntimeError):
    """A corpus could not be provided."""


class CorpusDownloadError(CorpusError):
    """The download failed (no network, registry down, ...): tests may skip on this."""


class CorpusIntegrityError(CorpusError):
    """The archive is not the pinned one, or cannot be unpacked safely: never skipped."""


def normalize(name: str) -> str:
    """PEP 503 name: ``Django`` -> ``django``, ``zope.interface`` -> ``zope-interface``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def cache_dir() -> Path:
    raw = os.environ.get("CODEGRAPH_CORPUS_CACHE")
    base = Path(raw).expanduser() if raw else Path.home() / ".cache" / "codegraph-corpora"
    base.mkdir(parents=True, exist_ok=True)
    return base


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _pinned_sha256(name: str, version: str) -> str:
    try:
        return KNOWN_SHA256[(normalize(name), version)]
    except KeyError:
        pinned = ", ".join(f"{n}=={v}" for n, v in sorted(KNOWN_SHA256))
        raise CorpusError(f"no pinned sha256 for {name}=={version} (pinned: {pinned}); "
                          "add it to KNOWN_SHA256 in bench/_corpus.py") from None


def _cached_archive(cache: Path, stem: str, expected: str) -> Path | None:
    """An archive already in the cache whose content is the pinned one.

    pip keeps the file name the sdist was uploaded with (``Django-5.1.4.tar.gz``), so the
    name is compared case-insensitively after normalization."""
    for candidate in sorted(cache.glob("*.tar.gz")):
        base = candidate.name[: -len(".tar.gz")]
        name, _, version = base.rpartition("-")
        if f"{normalize(name)}-{version}" == stem and candidate.is_file() \
                and sha256_of(candidate) == expected:
            return candidate
    return None


def _sdist_url(name: str, stem: str, expected: str) -> str:
    """The download address of the pinned sdist, from PyPI's simple index (PEP 691 JSON).

    The file is picked by its published sha256, so a re-upload under the same name is
    never taken for the pinned one."""
    index = f"{SIMPLE_INDEX}/{normalize(name)}/"
    request = urllib.request.Request(index, headers={"Accept": SIMPLE_JSON})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
            files = json.load(response).get("files", [])
    except (OSError, ValueError) as exc:
        raise CorpusDownloadError(f"cannot read {index}: {exc}") from exc
    for entry in files:
        filename = str(entry.get("filename", ""))
        if filename.endswith(".tar.gz") \
                and normalize(filename.removesuffix(".tar.gz")) == normalize(stem) \
                and entry.get("hashes", {}).get("sha256") == expected:
            return urllib.parse.urljoin(index, str(entry["url"]))  # (may be relative)
    raise CorpusIntegrityError(f"{index} lists no {stem}.tar.gz with sha256 {expected}")


def _download(name: str, version: str, cache: Path, stem: str, expected: str) -> Path:
    """Fetch the sdist itself: ``pip download`` would also build its metadata, which
    for a package with C extensions (SQLAlchemy) means installing a compiler toolchain's
    worth of build dependencies first."""
    url = _sdist_url(name, stem, expected)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    try:
        part = tmp / f"{stem}.tar.gz"
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, \
                    part.open("wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        except (OSError, ValueError) as exc:
            raise CorpusDownloadError(f"could not download {name}=={version} "
                                      f"from {url}: {exc}") from exc
        actual = sha256_of(part)
        if actual != expected:
            raise CorpusIntegrityError(f"{url}: sha256 {actual} is not the pinned {expected}")
        final = cache / f"{stem}.tar.gz"
        os.replace(part, final)  # atomic; a racing process writes the same bytes
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract(archive: Path, dest: Path) -> None:
    if not hasattr(tarfile, "data_filter"):
        raise CorpusError("this Python's tarfile has no extraction filters "
                          "(needs 3.11.4 or later)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise CorpusIntegrityError(f"cannot unpack {archive}: {exc}") from exc
        entries = list(tmp.iterdir())
        # An sdist holds one top-level directory (NAME-VERSION/); use it as the tree.
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        try:
            os.rename(top, dest)
        except OSError:
            if not dest.is_dir():  # not "another process got there first"
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_sdist(name: str, version: str) -> Path:
    """The unpacked tree of the pinned sdist ``name==version``, downloading it if needed.

    Raises CorpusDownloadError when PyPI cannot be reached, CorpusIntegrityError when the
    archive is not the pinned one, CorpusError for a corpus that is not pinned."""
    expected = _pinned_sha256(name, version)
    stem = f"{normalize(name)}-{version}"
    cache = cache_dir()
    dest = cache / "unpacked" / stem
    if dest.is_dir():
        return dest
    archive = _cached_archive(cache, stem, expected) or _download(name, version, cache,
                                                                   stem, expected)
    _extract(archive, dest)
    return dest
