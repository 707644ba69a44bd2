#!/usr/bin/env python
"""`make run` on a fresh machine, today's setup against pip's, side by side in one run.

    python bench/bench_setup.py [--json] [-v]

Each way builds a new virtualenv in a temporary directory with empty download caches (a
fresh machine's), then starts ``codegraph serve`` on this checkout, as ``make run`` does,
and waits until ``/health/ready`` answers 200 (structure and lexical search ready;
embedding goes on in the background and is not counted):

- ``setup-venv``: ``scripts/setup-venv.sh`` (the runtime pins only, with uv when its
  wheel can be had);
- ``pip``: the setup before it, ``pip install --no-deps -r requirements.lock`` (every pin,
  development tools included) and ``pip install -e .``.

Printed: setup and ready seconds, the virtualenv's size, and the ratios. Target: ready in
at most 30 s with setup-venv. Registries and mirrors differ between machines: compare the
ratio, and the absolute figure only on the machine it was measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 30.0
READY_TIMEOUT = 600.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def setup(way: str, venv: Path, env: dict[str, str]) -> None:
    if way == "setup-venv":
        cmd = [str(ROOT / "scripts" / "setup-venv.sh"), str(venv)]
        subprocess.run(cmd, env=env, check=True, cwd=ROOT)
        return
    py = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], env=env, check=True)
    for args in (["-r", str(ROOT / "requirements.lock")], ["-e", str(ROOT)]):
        subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--no-deps", *args], env=env, check=True, cwd=ROOT)


def serve_until_ready(venv: Path, data: Path, env: dict[str, str]) -> float:
    port, metrics = free_port(), free_port()
    env = {**env, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": str(port),
           "METRICS_PORT": str(metrics), "CODEGRAPH_DATA_DIR": str(data)}
    started = time.monotonic()
    proc = subprocess.Popen([str(venv / "bin" / "codegraph"), "serve", str(ROOT)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while time.monotonic() - started < READY_TIMEOUT:
            if proc.poll() is not None:
                raise RuntimeError(f"codegraph serve exited {proc.returncode}: "
                                   f"{(proc.stderr.read() if proc.stderr else '')[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code \
                        == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"not ready within {READY_TIMEOUT:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(way: str, work: Path, log: Any) -> dict[str, Any]:
    base = work / way
    venv = base / "venv"
    # Empty caches: what a fresh machine downloads. (pip's configured mirrors, if any,
    # stay: they are part of the machine.)
    env = {**os.environ, "PIP_NO_CACHE_DIR": "1", "UV_CACHE_DIR": str(base / "uv-cache"),
           "XDG_CACHE_HOME": str(base / "cache")}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    started = time.monotonic()
    setup(way, venv, env)
    setup_seconds = time.monotonic() - started
    log(f"{way}: set up in {setup_seconds:.1f} s")
    ready = serve_until_ready(venv, base / "data", env)
    log(f"{way}: ready {ready:.1f} s after start")
    return {"way": way, "setup_seconds": round(setup_seconds, 1),
            "ready_seconds": round(ready, 1), "total_seconds": round(setup_seconds + ready, 1),
            "venv_mb": round(du(venv) / 1e6, 1), "uv": (venv / "bin" / "uv").exists()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = p.parse_args(argv)

    def log(text: str) -> None:
        if args.verbose:
            print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="codegraph-bench-setup-") as tmp:
        rows = [measure(way, Path(tmp), log) for way in ("setup-venv", "pip")]
        shutil.rmtree(tmp, ignore_errors=True)
    new, old = rows
    out = {"rows": rows, "speedup": round(old["total_seconds"] / new["total_seconds"], 2),
           "target_seconds": TARGET_SECONDS, "pass": new["total_seconds"] <= TARGET_SECONDS}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for r in rows:
        print(f"{r['way']:>10}: setup {r['setup_seconds']:6.1f} s + ready "
              f"{r['ready_seconds']:5.1f} s = {r['total_seconds']:6.1f} s, venv "
              f"{r['venv_mb']:.0f} MB{' (uv)' if r['uv'] else ''}")
    print(f"make run ready: {new['total_seconds']:.1f} s (target <= {TARGET_SECONDS:.0f} s), "
          f"{out['speedup']:.2f}x as fast as pip's {old['total_seconds']:.1f} s")
    print(("PASS" if out["pass"] else "FAIL") + f": ready <= {TARGET_SECONDS:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
