"""Container images: size, start, memory and rebuild time, against issue 13's budgets.

    python bench/bench_containers.py [--runs N] [--skip-rebuild] [--skip-ivf] [--ivf-image TAG]

Per variant (minimal, optimized runtime, development), built from this tree as the
container tests build them (tests/dockerproc.py):

- uncompressed size (``docker image inspect``'s Size) and compressed size, what a pull of
  the image onto an empty host transfers: every layer tarball of ``docker save``, base
  layers included, gzip-compressed on its own (level 6, the default of Docker's and
  BuildKit's pushes), summed;
- run to healthy: from ``docker run`` (hardened: read-only, no capabilities, nobody, 512 MB)
  until Docker reports the container healthy, with the image's own HEALTHCHECK command
  polled every 100 ms (its default 10 s interval would only measure the interval); the
  first HTTP 200 on /health is shown too; median of N runs;
- idle memory after indexing a small repository (and embedding it, where the image has
  the local model), 5 s after the index is done: the container's cgroup memory as
  ``docker stats`` shows it, and the VmRSS of its main process;
- rebuild time after a one-line change to the app, from a copy of the build context so
  the working tree is not touched (the BuildKit cache is shared);
- in the runtime image, FAISS's IVF training (the BLAS-heavy part of vector indexing):
  ``IndexIVFFlat`` over 50,000 random unit vectors of 384 dimensions with CodeGraph's list
  count (4*sqrt(n) = 894), on 1 thread and on every core, median of 3. ``--ivf-image TAG``
  times another image the same way (e.g. an older build, to compare BLAS libraries).

Budgets (uncompressed size / run to healthy / idle memory): minimal <= 90 MB / 1.0 s /
128 MB, runtime <= 300 MB / 2.0 s / 256 MB, development <= 500 MB / 4.5 s / 512 MB; rebuild
<= 20 s. Each figure prints PASS or FAIL; the compressed size has no budget.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import IO

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import dockerproc
from dockerproc import Container

TARGETS = {  # MB, seconds, MB
    "minimal": (90.0, 1.0, 128.0),
    "optimized": (300.0, 2.0, 256.0),
    "development": (500.0, 4.5, 512.0),
}
REBUILD_TARGET = 20.0


def verdict(value: float, limit: float) -> str:
    return "PASS" if value <= limit else "FAIL"


def gzip_size(stream: IO[bytes]) -> int:
    z = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip -6
    total = 0
    while chunk := stream.read(1 << 20):
        total += len(z.compress(chunk))
    return total + len(z.flush())


def compressed_size(tag: str) -> int:
    """Bytes a pull transfers: each layer tarball of ``docker save`` (the image's layers,
    base included, as manifest.json lists them) gzip-compressed alone, summed."""
    proc = subprocess.Popen([dockerproc.docker(), "save", tag], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    sizes: dict[str, int] = {}
    manifest: list[dict[str, list[str]]] = []
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            f = tar.extractfile(member) if member.isfile() else None
            if f is None:
                continue
            if member.name == "manifest.json":
                manifest = json.load(f)
            else:
                sizes[member.name] = gzip_size(f)
    if proc.wait(timeout=600) != 0:
        raise RuntimeError(f"docker save {tag} failed")
    return sum(sizes[layer] for layer in manifest[0]["Layers"])


IVF_TRAINING = """
import statistics, sys, time
import faiss, numpy as np
n, d = 50_000, 384
x = np.random.default_rng(7).standard_normal((n, d)).astype("float32")
x /= np.linalg.norm(x, axis=1, keepdims=True)
nlist = max(1, min(int(4 * n ** 0.5), n // 39))  # codegraph.search.vectors.nlist_for
for threads in (1, faiss.omp_get_max_threads()):
    faiss.omp_set_num_threads(threads)
    times = []
    for _ in range(3):
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        t = time.perf_counter()
        ivf.train(x)
        times.append(time.perf_counter() - t)
    print(threads, statistics.median(times))
"""


def ivf_training(tag: str) -> dict[int, float]:
    """Seconds to train the IVF index in the image, by OpenMP thread count."""
    out = dockerproc.run("run", "--rm", "--network", "none", "--cpus", "2",
                         "--entrypoint", "/app/venv/bin/python", tag, "-c", IVF_TRAINING,
                         timeout=1200)
    return {int(a): float(b) for a, b in (line.split() for line in out.stdout.splitlines())}


def start_times(tag: str, repo: Path, runs: int) -> tuple[float, float]:
    healthy, http = [], []
    for _ in range(runs):
        with Container(tag, repo, extra=["--health-interval", "100ms"]) as c:
            first = 0.0
            deadline = time.monotonic() + 60
            while not first and time.monotonic() < deadline:
                try:
                    if httpx.get(c.url + "/health", timeout=2).status_code == 200:
                        first = time.monotonic() - c.started
                except httpx.HTTPError:
                    time.sleep(0.01)
            healthy.append(c.wait_health("healthy", timeout=60))
            http.append(first)
    return statistics.median(healthy), statistics.median(http)


def idle_memory(tag: str, repo: Path, embeds: bool) -> tuple[float, float]:
    with Container(tag, repo) as c:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                r = httpx.get(c.url + "/health/ready", timeout=5)
                vectors = r.json()["components"]["vector_index"]
                if r.status_code == 200 and (not embeds or vectors.get("embedded", 0) >= 3):
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{tag} did not finish indexing:\n{c.logs()}")
        time.sleep(5)
        cgroup = c.memory_bytes() / 2**20
        pid = c.state()["Pid"]
        rss = 0.0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
        return cgroup, rss


CONTEXT = ["Dockerfile.minimal", "Dockerfile.optimized", ".dockerignore", "pyproject.toml",
           "requirements.lock", "README.md", "src", "scripts", "deploy"]


def rebuild_times(variants: list[str]) -> dict[str, float]:
    """Seconds to rebuild each variant after a one-line app change (cache warm)."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp)
        for name in CONTEXT:
            src = dockerproc.ROOT / name
            if src.is_dir():
                shutil.copytree(src, ctx / name, ignore=shutil.ignore_patterns(
                    "__pycache__", "*.egg-info"))
            else:
                shutil.copy2(src, ctx / name)

        def build(variant: str, version: str) -> float:
            t = time.monotonic()
            subprocess.run(["bash", "scripts/docker-build.sh", "--version", version, variant],
                           cwd=ctx, check=True, capture_output=True, timeout=1800)
            return time.monotonic() - t

        for variant in variants:
            build(variant, "bench-warm")  # the unchanged tree: all cached
            init = ctx / "src/codegraph/__init__.py"
            init.write_text(init.read_text() + f"# rebuild benchmark {time.time()}\n")
            out[variant] = build(variant, "bench-rebuild")
        for variant in variants:
            for v in ("bench-warm", "bench-rebuild"):
                for tag in (dockerproc.image_tag(variant, v),):
                    dockerproc.run("rmi", tag, check=False, timeout=120)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument("--skip-ivf", action="store_true", help="no FAISS IVF training timing")
    parser.add_argument("--ivf-image", action="append", default=[],
                        help="also time IVF training in this image (repeatable)")
    args = parser.parse_args()
    problem = dockerproc.engine_problem()
    if problem:
        print(f"bench_containers: {problem}", file=sys.stderr)
        return 1
    print("building or reusing the images ...", flush=True)
    tags = dockerproc.pinned_images()
    try:
        return report(args, tags)
    finally:
        dockerproc.unpin_images(tags)


def report(args: argparse.Namespace, tags: dict[str, str]) -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)
        repo = dockerproc.small_repo(Path(tmp) / "small")
        for variant, tag in tags.items():
            size_mb = dockerproc.inspect(tag)["Size"] / 1e6
            gz_mb = compressed_size(tag) / 1e6
            healthy, http = start_times(tag, repo, args.runs)
            cgroup, rss = idle_memory(tag, repo, embeds=variant != "minimal")
            rows.append((variant, tag, size_mb, gz_mb, healthy, http, cgroup, rss))
            print(f"measured {variant}", flush=True)
    rebuild = {} if args.skip_rebuild else rebuild_times(list(tags))
    print()
    print(f"{'variant':<12} {'size MB':>13} {'pull MB':>8} {'run->healthy s':>19} "
          f"{'(HTTP /health)':>14} {'idle MB cgroup':>19} {'(RSS)':>7} {'rebuild s':>15}")
    for variant, _tag, size_mb, gz_mb, healthy, http, cgroup, rss in rows:
        size_t, start_t, mem_t = TARGETS[variant]
        rb = rebuild.get(variant)
        rb_s = f"{rb:6.1f} {verdict(rb, REBUILD_TARGET)}" if rb is not None else "skipped"
        print(f"{variant:<12} {size_mb:7.1f} {verdict(size_mb, size_t)} {gz_mb:8.1f} "
              f"{healthy:13.2f} {verdict(healthy, start_t)} {http:14.2f} "
              f"{cgroup:13.1f} {verdict(cgroup, mem_t)} {rss:7.1f} {rb_s:>15}")
    print(f"\ntargets: size {', '.join(f'{v} {t[0]:.0f}' for v, t in TARGETS.items())} MB; "
          f"run->healthy {', '.join(f'{v} {t[1]}' for v, t in TARGETS.items())} s; idle "
          f"{', '.join(f'{v} {t[2]:.0f}' for v, t in TARGETS.items())} MB; rebuild "
          f"{REBUILD_TARGET:.0f} s; compressed: the image's layers as docker save writes "
          f"them, each gzip -6, summed (a pull onto an empty host)")
    if not args.skip_ivf:
        print("\nFAISS IVF training, 50,000 x 384, 894 lists (median of 3 s; threads: s):")
        for tag in [tags["optimized"], *args.ivf_image]:
            timing = ivf_training(tag)
            print(f"  {tag}: " + ", ".join(f"{t} thread{'s' * (t > 1)}: {s:.2f} s"
                                           for t, s in timing.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
