"""Real file systems for the tests of full disks and read-only media: a size-limited tmpfs,
a read-only bind mount. They need root (CI runs as root; elsewhere the tests skip, and
CODEGRAPH_STRICT_SKIPS=1 turns the skip into a failure)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here (needs root): {proc.stderr.strip()}")


def _unmount(path: Path) -> None:
    subprocess.run(["umount", "--lazy", str(path)], capture_output=True, timeout=30)


@contextmanager
def small_disk(path: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of ``megabytes`` at ``path``: writes past its size fail with ENOSPC."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path))
    try:
        yield path
    finally:
        _unmount(path)


@contextmanager
def read_only_view(source: Path, path: Path) -> Iterator[Path]:
    """``source`` seen at ``path`` through a read-only bind mount: every write there fails
    with EROFS, even as root."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        _unmount(path)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take all the free space of ``disk`` but ``leave`` bytes, with one file (returned:
    remove it to free the space)."""
    ballast = disk / f"ballast-{len(list(disk.glob('ballast-*')))}"
    size = shutil.disk_usage(disk).free - leave
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if size > 0:
            os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)
    return ballast
