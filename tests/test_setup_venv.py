"""`scripts/setup-venv.sh`, which `make run` and `make test` call: a real virtualenv from
the lock, with uv. `make run`'s holds what CodeGraph needs to run and no development tool;
`make test`'s adds them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def has(venv: Path, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(venv / "bin" / "python"), "-c", probe]).returncode == 0


def test_run_then_test_environment(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    subprocess.run([str(ROOT / "scripts" / "setup-venv.sh"), str(venv)], env=env, check=True,
                   timeout=600)
    assert (venv / "bin" / "uv").exists()  # installed with uv, from its PyPI wheel
    version = subprocess.run([str(venv / "bin" / "codegraph"), "--help"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    for module in ("onnxruntime", "faiss", "rocksdict", "mcp", "uvicorn"):
        assert has(venv, module), module
    for tool in ("pytest", "mypy", "ruff", "schemathesis"):
        assert not has(venv, tool), f"{tool} in the run environment"

    subprocess.run([str(ROOT / "scripts" / "setup-venv.sh"), str(venv), "--dev"], env=env,
                   check=True, timeout=600)
    for tool in ("pytest", "mypy", "ruff", "schemathesis"):
        assert has(venv, tool), tool
