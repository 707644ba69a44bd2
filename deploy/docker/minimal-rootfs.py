"""Assemble the root filesystem of the scratch image (Dockerfile.minimal).

    python3.11 minimal-rootfs.py base|app ROOT SITE_PACKAGES

Run in the builder, with Debian's python3.11 and the app's dependencies installed in
SITE_PACKAGES. ``base`` lays out everything but the app; ``app`` only the app (the
``codegraph`` package, its .dist-info and /usr/bin/codegraph), its own layer, so a change
to the app rebuilds nothing else. Together, ROOT gets:

- /usr/bin/python3.11 and exactly the shared libraries it and every extension module load
  (found with ldd), with the Debian package records of the files taken
  (/var/lib/dpkg/status.d, as distroless has) and /etc/os-release, so scanners and SBOM
  tools see the OS packages;
- the standard library, pruned, as bytecode in a deflated /usr/lib/python311.zip, its
  extension modules in lib-dynload;
- the dependencies and the app as bytecode in /usr/lib/python3/dist-packages (no sources),
  by compile_site.py: the dependencies of nothing but bytecode in one deflated zip on
  sys.path (zipimport), the others as files; extension modules as the wheels ship them,
  every .dist-info as it is, for scanners and SBOMs;
- /usr/bin/codegraph, CA certificates, passwd/group with nobody (65534), /tmp, /app/data,
  /app/logs and /app/backups (owned by nobody, so fresh named volumes mounted there are).
"""

from __future__ import annotations

import importlib.util
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from compile_site import EPOCH, add, compile_tree, zip_packages

STDLIB = Path(f"/usr/lib/python{sys.version_info.major}.{sys.version_info.minor}")
# Owned by nobody: the index, heap profiles and backups (named volumes copy the ownership)
WRITABLE = ("app/data", "app/logs", "app/backups")
ZIPNAME = f"python{sys.version_info.major}{sys.version_info.minor}.zip"
# Never imported by a server: tests, GUIs, the REPL's helpers, installers, 2to3, distutils.
STDLIB_DROP = {"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "venv",
               "distutils", "pydoc_data", "site-packages", "dist-packages", "__pycache__",
               "turtle.py", "__phello__", "config-3.11-x86_64-linux-gnu",
               "config-3.11-aarch64-linux-gnu"}
# Extension modules for terminals, Berkeley DB, Tk, NIS (Kerberos libraries), crypt(3), OSS
# audio and tests: nothing here imports them.
DYNLOAD_DROP = re.compile(r"^(_curses|_curses_panel|readline|_dbm|_gdbm|_tkinter|_test|xx|"
                          r"_ctypes_test|_xxtest|audioop|nis|_crypt|ossaudiodev)")
# Loaded with dlopen, invisible to ldd: glibc needs libgcc_s for thread cancellation.
DLOPENED = ["libgcc_s.so.1"]


def compile_to(src: Path, dfile: str) -> bytes:
    with tempfile.NamedTemporaryFile(suffix=".pyc") as tmp:
        py_compile.compile(str(src), cfile=tmp.name, dfile=dfile, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        return Path(tmp.name).read_bytes()


def stdlib(root: Path) -> None:
    libdir = root / STDLIB.relative_to("/")
    (libdir / "lib-dynload").mkdir(parents=True)
    with zipfile.ZipFile(root / "usr/lib" / ZIPNAME, "w") as zf:
        for dirpath, dirnames, filenames in os.walk(STDLIB):
            dirnames[:] = sorted(d for d in dirnames if d not in STDLIB_DROP
                                 and d != "lib-dynload")
            for name in sorted(filenames):
                src = Path(dirpath) / name
                rel = src.relative_to(STDLIB)
                if name.endswith(".py") and name not in STDLIB_DROP:
                    add(zf, str(rel.with_suffix(".pyc")), compile_to(src, str(src)))
    for so in sorted((STDLIB / "lib-dynload").iterdir()):
        if not DYNLOAD_DROP.match(so.name):
            shutil.copy2(so, libdir / "lib-dynload" / so.name)


SITE = "/usr/lib/python3/dist-packages"


def is_app(top: Path) -> bool:
    return top.name == "codegraph" or top.name.startswith("codegraph-")


def site_packages(root: Path, site: Path, app: bool) -> Path:
    """Copy the app's (or everything else's) files from SITE_PACKAGES; compile_site later
    turns their modules into bytecode."""
    dest = root / SITE.lstrip("/")
    dest.mkdir(parents=True)
    for top in sorted(site.iterdir()):
        if top.name in ("__pycache__", "bin") or top.suffix == ".pth" or is_app(top) != app:
            continue
        if top.is_dir():
            shutil.copytree(top, dest / top.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(top, dest / top.name)
    return dest


def shared_libraries(root: Path) -> set[str]:
    """Copy every library that ldd resolves for the interpreter and the extension modules,
    under the path the loader asks for; return the host paths copied."""
    objects = [root / "usr/bin/python3.11", *root.rglob("*.so"), *root.rglob("*.so.*")]
    wanted: set[str] = set()
    for obj in objects:
        if obj.is_symlink() or not obj.is_file():
            continue
        out = subprocess.run(["ldd", str(obj)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
            if m and not m.group(1).startswith(str(root)):
                wanted.add(m.group(1))
    for name in DLOPENED:
        found = next((p for d in ("/lib", "/usr/lib") for p in Path(d).rglob(name)), None)
        if found:
            wanted.add(str(found))
    for path in sorted(wanted):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copy2(os.path.realpath(path), target)
    return wanted


def package_records(root: Path, files: set[str]) -> None:
    """Debian package records of every file taken from the builder, distroless-style."""
    status = root / "var/lib/dpkg/status.d"
    status.mkdir(parents=True)
    paths = {os.path.realpath(f) for f in files}
    paths |= {str(p) for p in (Path("/usr/bin/python3.11"), STDLIB / "os.py",
                               STDLIB / "asyncio/__init__.py")}
    packages: set[str] = set()
    for path in sorted(paths):
        for candidate in (path, path.replace("/usr/lib/", "/lib/", 1)):
            out = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if out.returncode == 0:
                packages |= {p.split(":")[0].strip() for p in out.stdout.split(": ")[0]
                             .split(",")}
                break
    packages.add("ca-certificates")
    for pkg in sorted(packages):
        record = subprocess.run(["dpkg-query", "-s", pkg], capture_output=True, text=True,
                                check=True).stdout
        keep = [ln for ln in record.splitlines() if not ln.startswith(("Status:", "Conffiles:"))
                and not ln.startswith(" /")]
        (status / pkg).write_text("\n".join(keep) + "\n")


def app_layer(root: Path, site: Path) -> None:
    compile_tree(site_packages(root, site, app=True), SITE)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/codegraph").write_text(
        "#!/usr/bin/python3.11\nimport sys\nfrom codegraph.cli import main\nsys.exit(main())\n")
    (root / "usr/bin/codegraph").chmod(0o755)


def normalise_times(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (EPOCH, EPOCH), follow_symlinks=False)


def main() -> int:
    mode, root, site = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if mode == "app":
        app_layer(root, site)
        normalise_times(root)
        return 0
    for d in ("usr/bin", "usr/lib", "etc/ssl/certs", "tmp", *WRITABLE):
        (root / d).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "lib", "lib64", "sbin"):
        if Path(f"/usr/{link}").is_dir():
            (root / f"usr/{link}").mkdir(exist_ok=True)
            (root / link).symlink_to(f"usr/{link}")
    shutil.copy2("/usr/bin/python3.11", root / "usr/bin/python3.11")
    stdlib(root)
    dest = site_packages(root, site, app=False)
    libs = shared_libraries(root)
    package_records(root, libs)
    compile_tree(dest, SITE)
    zip_packages(dest, SITE, "codegraph-deps.zip")
    shutil.copy2("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/")
    shutil.copy2("/usr/lib/os-release", root / "etc/os-release")  # scanners tell the distro
    shutil.copy2("/etc/debian_version", root / "etc/debian_version")  # by these two
    (root / "etc/passwd").write_text("nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")
    (root / "etc/group").write_text("nogroup:x:65534:\n")
    (root / "etc/nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    (root / "tmp").chmod(0o1777)
    for d in WRITABLE:
        os.chown(root / d, 65534, 65534)
        (root / d).chmod(0o750)
    normalise_times(root)
    assert importlib.util.find_spec("zlib"), "zipimport of deflated archives needs zlib"
    return 0


if __name__ == "__main__":
    sys.exit(main())
