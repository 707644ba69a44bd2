"""Real-world corpora for the slow tests: pinned PyPI sdists, downloaded and unpacked once.

The download code lives in ``bench/_corpus.py`` (the benchmark uses it too); this module
re-exports it and adds :func:`sdist_or_skip`, which turns a failed download into a skip,
or into a failure when ``CODEGRAPH_REQUIRE_NETWORK=1``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from _corpus import (  # noqa: E402
    KNOWN_SHA256,
    CorpusDownloadError,
    CorpusError,
    CorpusIntegrityError,
    cache_dir,
    fetch_sdist,
    sha256_of,
)

__all__ = ["KNOWN_SHA256", "CorpusDownloadError", "CorpusError", "CorpusIntegrityError",
           "cache_dir", "fetch_sdist", "sdist_or_skip", "sha256_of"]


def corpus_module() -> ModuleType:
    """``bench/_corpus.py`` itself (its index address and pins, for a test to point
    elsewhere)."""
    return sys.modules[fetch_sdist.__module__]


def network_required() -> bool:
    return os.environ.get("CODEGRAPH_REQUIRE_NETWORK", "") == "1"


def sdist_or_skip(name: str, version: str) -> Path:
    """fetch_sdist(), skipping the test when the download fails (unless the network is
    required). A checksum mismatch always fails."""
    try:
        return fetch_sdist(name, version)
    except CorpusDownloadError as exc:
        if network_required():
            pytest.fail(f"CODEGRAPH_REQUIRE_NETWORK=1 and {exc}", pytrace=False)
        pytest.skip(f"corpus {name}=={version} unavailable: {exc}")
