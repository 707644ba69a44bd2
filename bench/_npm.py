"""Pinned npm packages: corpora (a package's tarball, unpacked once) and the tools a benchmark
runs with Node.js (installed once into a directory of the cache).

Layout of the cache (``$CODEGRAPH_CORPUS_CACHE`` or ``~/.cache/codegraph-corpora``, as
``_corpus.py``)::

    CACHE/npm/express-4.21.2.tgz            the tarball, sha512-checked
    CACHE/unpacked/npm-express-4.21.2/      its ``package/`` directory
    CACHE/npm-tools/<key>/node_modules/     pinned tools (typescript, @types/node)

The npm client downloads (``npm pack``, ``npm install``); nothing is committed. Trees are
created under a temporary name and renamed into place, as in ``_corpus.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from _corpus import CorpusDownloadError, CorpusError, CorpusIntegrityError, cache_dir

# The integrity (sha512) the npm registry publishes for each pinned tarball.
KNOWN_INTEGRITY: dict[tuple[str, str], str] = {
    ("express", "4.21.2"): "sha512-28HqgMZAmih1Czt9ny7qr6ek2qddF4FclbMzwhCREB6OFfH+rXAnuNCwo1/"
                           "wFvrtbgsQDb4kSbX9de9lFbrXnA==",
    ("mobx", "6.13.5"): "sha512-/HTWzW2s8J1Gqt+WmUj5Y0mddZk+LInejADc79NJadrWla3rHzmRHki/"
                        "mnEUH1AvOmbNTZ1BRbKxr8DSgfdjMA==",
    ("typescript", "5.9.3"): "sha512-jl1vZzPDinLr9eUt3J/t7V6FgNEw9QjvBPdysz9KfQDD41fQrC2Y4vKQd"
                             "iaUpFT4bXlb1RHhLpp8wtm6M5TgSw==",
    ("@types/node", "20.19.9"): "sha512-cuVNgarYWZqxRJDQHEB58GEONhOK79QVR/qYx4S7kcUObQvUwvFnY"
                                "xJuuHUKm2aieN9X3yZB4LZsuYNU1Qphsw==",
}
TIMEOUT = 600  # seconds for one npm command


def integrity_of(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def _npm(args: list[str], cwd: Path) -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise CorpusDownloadError("npm is not installed (Node.js's package manager)")
    try:
        proc = subprocess.run([npm, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise CorpusDownloadError(f"npm {' '.join(args)} took more than {TIMEOUT} s") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise CorpusDownloadError(f"npm {' '.join(args)} exited {proc.returncode}:\n{tail}")
    return proc.stdout


def _pinned(name: str, version: str) -> str:
    try:
        return KNOWN_INTEGRITY[(name, version)]
    except KeyError:
        raise CorpusError(f"no pinned integrity for {name}@{version}; add it to "
                          "KNOWN_INTEGRITY in bench/_npm.py") from None


def fetch_npm(name: str, version: str) -> Path:
    """The unpacked ``package/`` directory of the pinned tarball ``name@version``."""
    expected = _pinned(name, version)
    stem = f"{name.replace('/', '+').lstrip('@')}-{version}"
    cache = cache_dir()
    dest = cache / "unpacked" / f"npm-{stem}"
    if dest.is_dir():
        return dest
    archive = cache / "npm" / f"{stem}.tgz"
    archive.parent.mkdir(parents=True, exist_ok=True)
    if not archive.is_file() or integrity_of(archive) != expected:
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=archive.parent))
        try:
            out = json.loads(_npm(["pack", f"{name}@{version}", "--json", "--pack-destination",
                                   str(tmp)], tmp))
            got = tmp / out[0]["filename"]
            if integrity_of(got) != expected:
                raise CorpusIntegrityError(f"{got.name}: integrity {integrity_of(got)} is not "
                                           f"the pinned {expected}")
            os.replace(got, archive)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        top = tmp / "package"
        if not top.is_dir():
            raise CorpusIntegrityError(f"{archive} holds no package/ directory")
        try:
            os.rename(top, dest)
        except OSError:
            if not dest.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def npm_tools(packages: list[tuple[str, str]]) -> Path:
    """A ``node_modules`` directory holding the pinned packages (installed once)."""
    for name, version in packages:
        _pinned(name, version)
    key = "+".join(f"{n.replace('/', '_').lstrip('@')}-{v}" for n, v in sorted(packages))
    base = cache_dir() / "npm-tools"
    dest = base / key
    if (dest / ".complete").is_file():
        return dest / "node_modules"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".install-", dir=base))
    try:
        (tmp / "package.json").write_text('{"private": true}\n')
        _npm(["install", "--no-audit", "--no-fund", "--ignore-scripts", "--no-save",
              "--no-package-lock", *[f"{n}@{v}" for n, v in packages]], tmp)
        lock = json.loads((tmp / "node_modules" / ".package-lock.json").read_text())
        for name, version in packages:
            entry = lock["packages"].get(f"node_modules/{name}", {})
            if (entry.get("version"), entry.get("integrity")) != (version,
                                                                  _pinned(name, version)):
                raise CorpusIntegrityError(f"{name}: installed {entry.get('version')} "
                                           f"({entry.get('integrity')}), not the pinned "
                                           f"{version}")
        (tmp / ".complete").write_text("")
        try:
            os.rename(tmp, dest)
        except OSError:
            if not (dest / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / "node_modules"
