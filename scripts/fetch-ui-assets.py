#!/usr/bin/env python3
"""Fetch the web UI's graph library (Cytoscape.js, pinned) into the package's static files.

The UI serves it from the app itself (never a CDN), and git does not hold it: this script
downloads the pinned npm tarball, checks it against the registry's sha512 ``integrity``
recorded here, and writes its one browser file, ``dist/cytoscape.min.js``, to
``src/codegraph/ui/static/vendor/`` (gitignored). ``make`` runs it in its setup stamp and
the Docker builds run it before installing the package. Quick when the file is there and
matches; ``--check`` only verifies (exit 1 when missing or different).

    python3 scripts/fetch-ui-assets.py [--check] [--dest DIR]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

NAME = "cytoscape"
VERSION = "3.35.0"
TARBALL = f"https://registry.npmjs.org/{NAME}/-/{NAME}-{VERSION}.tgz"
# The registry's ``dist.integrity`` for this version (npm view cytoscape@3.35.0 dist.integrity)
INTEGRITY = ("sha512-sMvBIXiGMnhkCaWz2R06FwF/27MNlS+Tqvi17foO9UhnUg3XGZccKjxsvEqQFAQYMSSZmN5S"
             "xYzUYlQ0DOJJ3g==")
MEMBER = "package/dist/cytoscape.min.js"
FILE = "cytoscape.min.js"
DEST = Path(__file__).resolve().parent.parent / "src" / "codegraph" / "ui" / "static" / "vendor"
STAMP = f"{FILE}.version"  # beside the file: the version, the tarball's and its integrity


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _stamp(body: bytes) -> str:
    """The stamp's line: the version, the tarball's integrity and the file's own."""
    return f"{NAME}@{VERSION} {INTEGRITY} {_integrity(body)}"


def current(dest: Path) -> bool:
    """Whether ``dest`` holds this version's file, byte for byte as this script wrote it
    (a changed or cut file is not current)."""
    stamp, file = dest / STAMP, dest / FILE
    return file.is_file() and stamp.is_file() and \
        stamp.read_text().strip() == _stamp(file.read_bytes())


def fetch(dest: Path) -> Path:
    with urllib.request.urlopen(TARBALL, timeout=60) as response:  # (a pinned https URL)
        data = response.read()
    got = _integrity(data)
    if got != INTEGRITY:
        raise SystemExit(f"{TARBALL}: integrity {got} is not the pinned {INTEGRITY}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise SystemExit(f"{TARBALL} has no {MEMBER}")
        body = member.read()
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f".{FILE}.tmp"
    tmp.write_bytes(body)
    os.replace(tmp, dest / FILE)
    (dest / STAMP).write_text(_stamp(body) + "\n")
    return dest / FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify only, fetch nothing")
    parser.add_argument("--dest", type=Path, default=DEST)
    args = parser.parse_args(argv)
    if current(args.dest):
        if not args.check:
            (args.dest / STAMP).touch()  # (make's target: newer than this script now)
        return 0
    if args.check:
        print(f"{args.dest / FILE}: missing or not {NAME}@{VERSION}; "
              "run scripts/fetch-ui-assets.py", file=sys.stderr)
        return 1
    path = fetch(args.dest)
    print(f"fetched {NAME}@{VERSION} ({path.stat().st_size} bytes) into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
