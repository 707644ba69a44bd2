"""Writing a backup archive: the manifest first, then the staged data files, gzip-compressed,
into a temporary file beside the destination that takes the final name only once it is
whole and on disk. A half-written archive never carries the final name."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import tarfile
import time
from typing import Any

from codegraph.backup.manifest import MANIFEST_NAME, Manifest
from codegraph.durable import fsync_dir
from codegraph.errors import Conflict

COMPRESS_LEVEL = 3  # SST files are compressed already: a higher level buys little, costs CPU
_COPY_BUFFER = 1 << 20


class _HashingWriter(io.RawIOBase):
    """A file that hashes and counts what is written through it."""

    def __init__(self, f: io.BufferedWriter) -> None:
        self.f = f
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.size += len(view)
        self.f.write(view)
        return len(view)

    def flush(self) -> None:
        self.f.flush()


def _info(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, int(mtime)
    info.uname = info.gname = "codegraph"
    return info


def write_archive(staged: str, manifest: Manifest, final: str) -> dict[str, Any]:
    """Pack the data directory ``staged`` (whose files ``manifest`` lists) into ``final``;
    returns its name, size and SHA-256. :class:`Conflict` if ``final`` exists."""
    directory, name = os.path.split(os.path.abspath(final))
    if os.path.exists(final):
        raise Conflict(f"{final} already exists")
    # (the name cut short: the temporary name must fit where the final one does)
    tmp = os.path.join(directory, f".{name[:100]}.partial-{os.getpid()}-{time.monotonic_ns()}")
    try:
        with open(tmp, "xb") as raw:
            out = _HashingWriter(raw)
            with gzip.GzipFile(filename="", fileobj=out, mode="wb",
                               compresslevel=COMPRESS_LEVEL, mtime=0) as gz, \
                    tarfile.TarFile(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT,
                                    copybufsize=_COPY_BUFFER) as tar:
                data = manifest.to_json()
                tar.addfile(_info(MANIFEST_NAME, len(data), time.time()), io.BytesIO(data))
                for entry in manifest.files:
                    path = os.path.join(staged, *entry.path.split("/")[1:])
                    with open(path, "rb") as f:
                        st = os.fstat(f.fileno())
                        if st.st_size != entry.size:
                            raise OSError(f"{path} changed while it was archived")
                        tar.addfile(_info(entry.path, entry.size, st.st_mtime), f)
            raw.flush()
            os.fsync(raw.fileno())
        if os.path.exists(final):
            raise Conflict(f"{final} already exists")
        os.rename(tmp, final)
        fsync_dir(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return {"archive": os.path.abspath(final), "name": name, "size": out.size,
            "sha256": out.digest.hexdigest()}
