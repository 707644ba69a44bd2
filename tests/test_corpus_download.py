"""The corpus download reads a package's simple index (PEP 691 JSON) and fetches the sdist
it lists with the pinned sha256, from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import corpora
from corpora import CorpusDownloadError, CorpusIntegrityError, fetch_sdist

_corpus = corpora.corpus_module()


def sdist(name: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        body = b"def hello():\n    return 1\n"
        info = tarfile.TarInfo(f"{name}/pkg/hello.py")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A simple index at http://127.0.0.1:PORT/simple serving the files under ``root``."""
    root = tmp_path / "www"
    (root / "simple").mkdir(parents=True)
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(_corpus, "SIMPLE_INDEX", f"{base}/simple")
    monkeypatch.setenv("CODEGRAPH_CORPUS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(_corpus.KNOWN_SHA256, ("demo", "1.0"), "")
    root.joinpath("base").write_text(base)
    try:
        yield root
    finally:
        server.shutdown()
        server.server_close()


def publish(root: Path, data: bytes, digest: str, *, relative: bool = False) -> None:
    base = root.joinpath("base").read_text()
    (root / "files").mkdir(exist_ok=True)
    (root / "files" / "Demo-1.0.tar.gz").write_bytes(data)
    (root / "simple" / "demo").mkdir(exist_ok=True)
    listing = {"files": [{"filename": "Demo-1.0.tar.gz", "hashes": {"sha256": digest},
                          "url": "../../files/Demo-1.0.tar.gz" if relative
                          else f"{base}/files/Demo-1.0.tar.gz"}]}
    (root / "simple" / "demo" / "index.html").write_text(json.dumps(listing))


@pytest.mark.parametrize("relative", [False, True])  # (a mirror may list relative URLs)
def test_the_pinned_sdist_is_fetched_checked_and_unpacked(index: Path, relative: bool
                                                          ) -> None:
    data = sdist("Demo-1.0")
    digest = hashlib.sha256(data).hexdigest()
    _corpus.KNOWN_SHA256[("demo", "1.0")] = digest
    publish(index, data, digest, relative=relative)
    tree = fetch_sdist("demo", "1.0")
    assert (tree / "pkg" / "hello.py").read_text().startswith("def hello")
    assert not list(tree.parent.parent.glob(".download-*"))


def test_a_file_with_another_digest_is_never_taken(index: Path) -> None:
    data = sdist("Demo-1.0")
    _corpus.KNOWN_SHA256[("demo", "1.0")] = "0" * 64
    publish(index, data, hashlib.sha256(data).hexdigest())
    with pytest.raises(CorpusIntegrityError, match=r"lists no demo-1\.0\.tar\.gz"):
        fetch_sdist("demo", "1.0")


def test_a_listed_file_whose_bytes_differ_is_refused(index: Path) -> None:
    data = sdist("Demo-1.0")
    _corpus.KNOWN_SHA256[("demo", "1.0")] = hashlib.sha256(data).hexdigest()
    publish(index, data + b"tampered", hashlib.sha256(data).hexdigest())
    with pytest.raises(CorpusIntegrityError, match="is not the pinned"):
        fetch_sdist("demo", "1.0")
    assert not list((index.parent / "cache").glob("*.tar.gz"))


def test_an_unreachable_index_is_a_download_error(index: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_corpus, "SIMPLE_INDEX", "http://127.0.0.1:9/simple")
    with pytest.raises(CorpusDownloadError, match="cannot read"):
        fetch_sdist("demo", "1.0")
