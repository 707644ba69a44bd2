"""Turn an installed site-packages directory into bytecode only, in place.

    python3.11 compile_site.py SITE [--prefix DIR] [--zip NAME]

- Every module becomes a plain ``.pyc`` next to where its source was, and the source goes
  (``NAME.pyc`` in the package directory: the standard path finder imports it with its
  sourceless loader; tracebacks name PREFIX/<path>, where the directory sits in the image,
  without the line's text). Type stubs (``.pyi``) and ``__pycache__`` go too.
- ``--zip NAME`` moves the packages that hold nothing but bytecode into one deflated zip on
  sys.path (a .pth file names it; zipimport, the standard importer for it, reads it).
  Packages with data files or native code stay as files: they are read by path.
- Every ``.dist-info`` stays as it is, so SBOM tools and scanners see every package, and
  extension modules stay the files the wheels shipped.

Nothing here is specific to CodeGraph; the Dockerfiles run it after prune.sh.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import shutil
import sys
import time
import zipfile
from pathlib import Path

EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())
ZIP_TIME = time.gmtime(max(EPOCH, 315532800))[:6]  # zip dates start in 1980
UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH


def compile_tree(site: Path, prefix: str) -> None:
    for src in sorted(site.rglob("*.py")):
        rel = src.relative_to(site)
        if rel.parts[0] == "bin" or rel.parts[0].endswith(".dist-info"):
            continue
        py_compile.compile(str(src), cfile=str(src.with_suffix(".pyc")), dfile=f"{prefix}/{rel}",
                           doraise=True, invalidation_mode=UNCHECKED)
        src.unlink()
    for junk in [*site.rglob("*.pyi"), *site.rglob("__pycache__")]:
        shutil.rmtree(junk) if junk.is_dir() else junk.unlink()
    for d in sorted(site.rglob("*"), reverse=True):  # left empty by the stubs
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def bytecode_only(top: Path) -> bool:
    files = [top] if top.is_file() else [f for f in top.rglob("*") if f.is_file()]
    return all(f.suffix == ".pyc" or f.name == "py.typed" for f in files)


def add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=9)


def zip_packages(site: Path, prefix: str, name: str) -> None:
    tops = sorted(t for t in site.iterdir() if t.suffix not in (".pth", ".zip")
                  and not t.name.endswith(".dist-info") and t.name != "bin"
                  and bytecode_only(t))
    if not tops:
        return
    with zipfile.ZipFile(site / name, "w") as zf:
        for top in tops:
            if top.is_file():
                add(zf, top.name, top.read_bytes())
                continue
            files = sorted(f for f in top.rglob("*") if f.is_file())
            # explicit directory entries: 3.11's importlib.resources lists them
            for d in sorted({top, *(f.parent for f in files)}):
                add(zf, f"{d.relative_to(site).as_posix()}/", b"")
            for f in files:
                add(zf, f.relative_to(site).as_posix(), f.read_bytes())
    for top in tops:
        shutil.rmtree(top) if top.is_dir() else top.unlink()
    (site / f"{Path(name).stem}.pth").write_text(f"{prefix}/{name}\n")  # site.py: on sys.path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--prefix", help="where SITE sits in the image (default: SITE)")
    parser.add_argument("--zip", default="", help="zip the bytecode-only packages into NAME")
    args = parser.parse_args()
    site: Path = args.site.resolve()
    prefix = (args.prefix or str(site)).rstrip("/")
    compile_tree(site, prefix)
    if args.zip:
        zip_packages(site, prefix, args.zip)
    return 0


if __name__ == "__main__":
    sys.exit(main())
