"""Pack an installed site-packages directory for an image, in place.

    python3.11 pack_site.py SITE [--prefix DIR] [--zip NAME] [--pack-below BYTES]

- Every module becomes bytecode next to where its source was (the sources go; tracebacks
  name PREFIX/<path>, where the directory sits in the image). Type stubs go too.
- Packages with nothing but bytecode move into one deflated zip, NAME (default
  ``codegraph-deps.zip``), put on sys.path by a .pth file; ``--zip ''`` keeps them as files.
  Packages with data files or native code stay as files: they are read by path.
- Extension modules (a ``PyInit_`` entry point, no RPATH, under ``--pack-below`` bytes, 6 MB
  by default) are stored zlib-compressed as ``NAME<suffix>.z`` and loaded from memory by
  packed_extensions.py, installed here (with a .pth file importing it) when anything is.
- Every ``.dist-info`` stays as it is, so SBOM tools and scanners see every package.

Nothing here is specific to CodeGraph; the Dockerfiles run it after prune.sh.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import shutil
import subprocess
import sys
import time
import zipfile
import zlib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

HERE = Path(__file__).resolve().parent
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())
ZIP_TIME = time.gmtime(max(EPOCH, 315532800))[:6]  # zip dates start in 1980
UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH
LOADER = "_packed_extensions"
# Larger extension modules (rocksdict, tokenizers, numpy's core, onnxruntime) are few and
# loaded at every start: inflated, they would cost start time (rocksdict: 40 ms) and all of
# their size in memory, where a file is paged in as used.
PACK_BELOW = 6_000_000


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
    skip = {"bin", f"{LOADER}.pyc", f"{LOADER}.txt"}
    tops = sorted(t for t in site.iterdir() if t.suffix not in (".pth", ".zip")
                  and not t.name.endswith(".dist-info") and t.name not in skip
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


def plain_extension(path: Path) -> bool:
    """An extension module (PyInit_<name>) that needs no RPATH to find its libraries."""
    stem = path.name.split(".", 1)[0]
    dynamic = subprocess.run(["readelf", "--dynamic", "--dyn-syms", "--wide", str(path)],
                             capture_output=True, text=True, check=True).stdout
    return f" PyInit_{stem}\n" in dynamic + "\n" and "RPATH" not in dynamic \
        and "RUNPATH" not in dynamic


def pack_extensions(site: Path, prefix: str, below: int) -> int:
    packed: list[str] = []
    for path in sorted(site.rglob("*.so")):
        suffix = next((s for s in EXTENSION_SUFFIXES if path.name.endswith(s)), None)
        if suffix is None or path.is_symlink() or path.stat().st_size >= below \
                or ".libs" in path.parent.name or not plain_extension(path):
            continue
        rel = path.relative_to(site).as_posix()
        packed.append(f"{rel[:-len(suffix)].replace('/', '.')} {rel}")
        packed_path = path.with_name(path.name + ".z")
        packed_path.write_bytes(zlib.compress(path.read_bytes(), 9))
        shutil.copystat(path, packed_path)
        path.unlink()
    if packed:  # site.py runs a .pth file's import lines (sitecustomize: Debian has its own)
        (site / f"{LOADER}.txt").write_text("\n".join(packed) + "\n")
        py_compile.compile(str(HERE / "packed_extensions.py"), cfile=str(site / f"{LOADER}.pyc"),
                           dfile=f"{prefix}/{LOADER}.py", doraise=True,
                           invalidation_mode=UNCHECKED)
        (site / "packed-extensions.pth").write_text(f"import {LOADER}\n")
    return len(packed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--prefix", help="where SITE sits in the image (default: SITE)")
    parser.add_argument("--zip", default="codegraph-deps.zip", help="'' keeps packages as files")
    parser.add_argument("--pack-below", type=int, default=PACK_BELOW,
                        help=f"pack extension modules smaller than this (default {PACK_BELOW})")
    args = parser.parse_args()
    site: Path = args.site.resolve()
    prefix = (args.prefix or str(site)).rstrip("/")
    compile_tree(site, prefix)
    if args.zip:
        zip_packages(site, prefix, args.zip)
    packed = pack_extensions(site, prefix, args.pack_below)
    print(f"pack_site: {site}: {packed} extension modules packed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
