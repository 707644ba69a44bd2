"""Docker for the container tests and benchmark: the engine, the images, hardened containers.

Images are built once per build context: the tag's version is a hash of every file the
build reads (``ctx-<hash>``), so an unchanged tree reuses the images already built and a
changed one builds through ``scripts/docker-build.sh`` (whose BuildKit cache keeps that
quick). Containers publish their ports on 127.0.0.1 only and are removed with their volume.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("minimal", "optimized", "development")
# set by .ci/run: a test that cannot have Docker fails instead of skipping
REQUIRE = os.environ.get("CODEGRAPH_REQUIRE_DOCKER") == "1"
BUILD_TIMEOUT = 2400.0
# the hardening every test and benchmark run uses (issue 5)
HARDENED = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
            "--user", "65534:65534", "--pids-limit", "1000", "--memory", "512m",
            "--tmpfs", "/tmp"]


def docker() -> str:
    return shutil.which("docker") or "/usr/bin/docker"


def run(*args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([docker(), *args], capture_output=True, text=True, timeout=timeout,
                         check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: exit {out.returncode}\n{out.stderr[-2000:]}")
    return out


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None."""
    if not shutil.which("docker") and not os.path.exists("/usr/bin/docker"):
        return "no docker client installed"
    try:
        out = run("info", "--format", "{{.ServerVersion}}", timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    if out.returncode != 0:
        return f"no Docker engine reachable: {out.stderr.strip()[:300]}"
    return None


def context_hash() -> str:
    """A hash of what the builds read: the Dockerfiles, .dockerignore's allow-list and the
    scripts that drive them."""
    h = hashlib.sha256()
    paths = [ROOT / p for p in ("Dockerfile.minimal", "Dockerfile.optimized", ".dockerignore",
                                "pyproject.toml", "requirements.lock", "README.md",
                                "scripts/lock-plan.py", "scripts/docker-build.sh",
                                "scripts/offline-base-images.sh")]
    for base in ("src", "deploy/docker"):
        paths += sorted(p for p in (ROOT / base).rglob("*") if p.is_file()
                        and "__pycache__" not in p.parts and ".egg-info" not in str(p))
    for p in paths:
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def image_tag(variant: str, version: str) -> str:
    return f"codegraph/api:{variant}-{version}"


def _created(text: str) -> float:
    """Epoch seconds of `docker images`' CreatedAt ("2025-12-06 15:21:09 +0000 UTC")."""
    stamp = " ".join(text.split()[:3])
    try:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S %z").timestamp()
    except ValueError:
        return time.time()  # unknown: treat as young, keep


def image_exists(tag: str) -> bool:
    return run("image", "inspect", tag, check=False, timeout=30).returncode == 0


def ensure_images() -> dict[str, str]:
    """variant -> tag of images built from the current tree (building them if needed)."""
    version = f"ctx-{context_hash()}"
    tags = {v: image_tag(v, version) for v in VARIANTS}
    # earlier trees' test images (their layers are mostly shared), once a day old: a younger
    # one may be in use by a run in another checkout (the engine is shared)
    listed = run("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.CreatedAt}}",
                 "codegraph/api", timeout=60).stdout.splitlines()
    day_ago = time.time() - 86400
    stale = [line.split()[0] for line in listed if "-ctx-" in line.split()[0]
             and line.split()[0] not in tags.values()
             and _created(line.split(maxsplit=2)[2]) < day_ago]
    if stale:
        run("rmi", *stale, check=False, timeout=300)
    if all(image_exists(t) for t in tags.values()):
        return tags
    env = dict(os.environ, SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))
    for cmd in (["scripts/offline-base-images.sh"],
                ["scripts/docker-build.sh", "--version", version, "all"]):
        out = subprocess.run(["bash", *cmd], cwd=ROOT, capture_output=True, text=True,
                             timeout=BUILD_TIMEOUT, env=env, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n"
                               f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return tags


def pinned_images() -> dict[str, str]:
    """ensure_images(), each image tagged once more for this process (``<variant>-pin-<pid>``):
    those tags. Another checkout's ensure_images removes the ``ctx-`` tags of other trees
    (the engine is shared); with a second tag on the image that only untags it, and what
    this process runs stays. unpin_images removes the tags again; the pins of processes
    that are gone are removed here."""
    for ref in run("images", "--format", "{{.Repository}}:{{.Tag}}", "codegraph/api",
                   timeout=60).stdout.split():
        pid = ref.rpartition("-pin-")[2]
        if "-pin-" in ref and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            run("rmi", ref, check=False, timeout=120)
    for _attempt in range(3):
        tags = ensure_images()
        pinned = {v: image_tag(v, f"pin-{os.getpid()}") for v in tags}
        if all(run("tag", tags[v], pinned[v], check=False, timeout=60).returncode == 0
               for v in tags):
            return pinned
        unpin_images(pinned)  # a tag went between the build and the pin: once more
    raise RuntimeError("the images were removed again and again while being pinned")


def unpin_images(pinned: dict[str, str]) -> None:
    for tag in pinned.values():
        run("rmi", tag, check=False, timeout=120)


@contextlib.contextmanager
def pinned() -> Iterator[dict[str, str]]:
    """pinned_images() for the block; unpinned after it."""
    tags = pinned_images()
    try:
        yield tags
    finally:
        unpin_images(tags)


def require(problem: str | None, needs: str) -> None:
    """Nothing when ``problem`` is None; else skip the test (``needs``: what it needs, said
    with the problem), or fail it under CODEGRAPH_REQUIRE_DOCKER=1."""
    import pytest

    if problem:
        if REQUIRE:
            pytest.fail(f"CODEGRAPH_REQUIRE_DOCKER=1 but {problem}")
        pytest.skip(f"{needs}: {problem}")


def inspect(ref: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(run("inspect", ref, timeout=30).stdout)
    return data[0]


@dataclass
class Container:
    """A hardened ``docker run -d`` of ``image`` with a fresh data volume, ``repo`` mounted
    read-only at /repos/<name> and listed in CODEGRAPH_REPOS, ports on 127.0.0.1."""

    image: str
    repo: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    name: str = field(default_factory=lambda: f"cgtest-{uuid.uuid4().hex[:10]}")
    started: float = 0.0
    port: int = 0
    metrics_port: int = 0

    def __post_init__(self) -> None:
        self.volume = f"{self.name}-data"

    def start(self) -> Container:
        run("volume", "create", self.volume, timeout=30)
        args = ["run", "-d", "--name", self.name, *HARDENED, "-v", f"{self.volume}:/app/data",
                "-p", "127.0.0.1::3000", "-p", "127.0.0.1::9090", "--stop-timeout", "10"]
        env = dict(self.env)
        if self.repo is not None:
            args += ["-v", f"{self.repo}:/repos/{self.repo.name}:ro"]
            env.setdefault("CODEGRAPH_REPOS", f"/repos/{self.repo.name}")
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        self.started = time.monotonic()
        run(*args, *self.extra, self.image, timeout=60)
        self.port = self._published(3000)
        self.metrics_port = self._published(9090)
        return self

    def _published(self, port: int) -> int:
        out = run("port", self.name, f"{port}/tcp", timeout=30).stdout.split()
        host, _, num = out[0].rpartition(":")
        assert host == "127.0.0.1", f"published on {host}, not loopback only"
        return int(num)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def state(self) -> dict[str, Any]:
        return inspect(self.name)["State"]  # type: ignore[no-any-return]

    def health(self) -> str:
        return str((self.state().get("Health") or {}).get("Status", "none"))

    def wait_health(self, status: str = "healthy", timeout: float = 60.0) -> float:
        """Seconds from ``docker run`` until Docker reports ``status``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.state()
            if not st.get("Running"):
                raise AssertionError(f"container exited {st.get('ExitCode')}:\n{self.logs()}")
            if (st.get("Health") or {}).get("Status") == status:
                return time.monotonic() - self.started
            time.sleep(0.05)
        raise AssertionError(f"not {status} within {timeout} s (is {self.health()}):\n"
                             f"{self.logs()}")

    def logs(self, tail: int = 60) -> str:
        out = run("logs", "--tail", str(tail), self.name, check=False, timeout=30)
        return out.stdout + out.stderr

    def stop(self, timeout: int = 10) -> float:
        t = time.monotonic()
        run("stop", "-t", str(timeout), self.name, timeout=timeout + 30)
        return time.monotonic() - t

    def memory_bytes(self) -> int:
        """The container's memory use as ``docker stats`` counts it (cgroup usage less page
        cache)."""
        out = run("stats", "--no-stream", "--format", "{{json .}}", self.name, timeout=60)
        usage = json.loads(out.stdout)["MemUsage"].split("/")[0].strip()
        units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1000, "MB": 1e6,
                 "GB": 1e9}
        for unit in sorted(units, key=len, reverse=True):
            if usage.endswith(unit):
                return int(float(usage[: -len(unit)]) * units[unit])
        raise ValueError(usage)

    def remove(self) -> None:
        run("rm", "-f", "-v", self.name, check=False, timeout=60)
        run("volume", "rm", "-f", self.volume, check=False, timeout=60)

    def __enter__(self) -> Container:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()


def small_repo(path: Path) -> Path:
    """A small Python + Go repository that nobody (65534) can read."""
    (path / "pkg").mkdir(parents=True)
    (path / "pkg/__init__.py").write_text("")
    (path / "pkg/core.py").write_text(
        '"""Core helpers."""\nimport json\n\n\n'
        'def parse_config(path):\n    """Parse a JSON configuration file."""\n'
        "    with open(path) as f:\n        return json.load(f)\n\n\n"
        "class Loader:\n    def load(self, path):\n        return parse_config(path)\n")
    (path / "pkg/app.py").write_text(
        "from pkg.core import Loader, parse_config\n\n\n"
        'def main():\n    cfg = parse_config("x.json")\n    return Loader().load("y.json"), cfg\n')
    (path / "util.go").write_text(
        "package util\n\nfunc Add(a, b int) int { return a + b }\n"
        "func Twice(a int) int { return Add(a, a) }\n")
    for p in [path, *path.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return path
