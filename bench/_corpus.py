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
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# sha256 of the sdists on PyPI (checked against the digests PyPI publishes, which pip
# also verifies while downloading).
KNOWN_SHA256: dict[tuple[str, str], str] = {
    ("flask", "3.0.3"): "ceb27b0af3823ea2737928a4d99d125a06175b8512c445cbd9a9ce200ef76842",
    ("django", "5.1.4"): "de450c09e91879fa5a307f696e57c851955c910a438a35e6b4c895e86bedc82a",
}

DOWNLOAD_TIMEOUT = 600  # seconds for the whole ``pip download``


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


def _download(name: str, version: str, cache: Path, stem: str, expected: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    try:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "--no-input", f"{name}=={version}",
               "-d", str(tmp)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=DOWNLOAD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise CorpusDownloadError(f"downloading {name}=={version} from PyPI took more "
                                      f"than {DOWNLOAD_TIMEOUT} s") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            raise CorpusDownloadError(
                f"could not download {name}=={version} from PyPI "
                f"(`python {' '.join(cmd[1:])}` exited {proc.returncode}):\n{tail}")
        archives = [p for p in tmp.iterdir() if p.name.endswith(".tar.gz")]
        if len(archives) != 1:
            got = ", ".join(sorted(p.name for p in tmp.iterdir())) or "nothing"
            raise CorpusIntegrityError(f"pip download of {name}=={version} produced {got}, "
                                       "expected one .tar.gz sdist")
        actual = sha256_of(archives[0])
        if actual != expected:
            raise CorpusIntegrityError(
                f"{archives[0].name}: sha256 {actual} is not the pinned {expected}")
        final = cache / f"{stem}.tar.gz"
        os.replace(archives[0], final)  # atomic; a racing process writes the same bytes
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
