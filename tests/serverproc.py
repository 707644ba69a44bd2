"""A real ``codegraph serve`` process on 127.0.0.1 for the server tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from helpers import cli_env, write_tree

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, workdir: Path, repos: Iterable[str | os.PathLike[str]] = (), *,
                 repos_root: str | os.PathLike[str] | None = None, wait_ready: bool = True,
                 flags: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 **more_env: str) -> None:
        """``flags``: the command line's own, before ``serve``; ``env`` and ``more_env``:
        variables set for the server."""
        env = {**(env or {}), **more_env}
        workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.metrics_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.data_dir = str(workdir / "data")
        self.log_path = workdir / f"server-{self.port}.log"
        self.env = cli_env(SERVER_HOST="127.0.0.1", SERVER_PORT=str(self.port),
                           METRICS_PORT=str(self.metrics_port), CODEGRAPH_DATA_DIR=self.data_dir,
                           CODEGRAPH_REPOS_ROOT=os.fspath(repos_root or workdir),
                           CODEGRAPH_LOG_FORMAT="json", CODEGRAPH_PROFILE_DIR=str(workdir),
                           **env)
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codegraph.cli", *flags, "serve",
             *(os.fspath(r) for r in repos)],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=workdir)
        self.client = httpx.Client(base_url=self.url, timeout=30.0)
        self.started = time.monotonic()
        self.ready_after = self.wait(ready=wait_ready)

    def wait(self, ready: bool = True, timeout: float = START_TIMEOUT) -> float:
        """Seconds from start until /health (or /health/ready) answers 200."""
        deadline = time.monotonic() + timeout
        path = "/health/ready" if ready else "/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.output()}")
            try:
                if self.client.get(path).status_code == 200:
                    return time.monotonic() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not {'ready' if ready else 'up'} in {timeout} s:\n"
                             f"{self.output()}")

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params={k: v for k, v in params.items() if v is not None})

    def ok(self, path: str, **params: Any) -> Any:
        r = self.get(path, **params)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def wait_jobs_idle(self, timeout: float = 60.0, kinds: tuple[str, ...] = ("index",
                       "update", "remove")) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.ok("/api/v1/jobs", limit=500)["results"]
            if not any(j["state"] in ("queued", "running") and j["kind"] in kinds
                       for j in jobs):
                return
            time.sleep(0.05)
        raise AssertionError(f"jobs still running after {timeout} s")

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.output().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"server ignored signal {sig} for {timeout} s:\n"
                                     f"{self.output()}") from None
        self.client.close()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve_tree(work: Path, files: Mapping[str, str | bytes], *, key: str | None = None,
               **env: str) -> Iterator[ServerProcess]:
    """A server on the tree ``files`` written to ``work/shop``, its first index done. With
    ``key``, reads need it (CODEGRAPH_AUTH_READS): the start is waited for with the key,
    and the client then sends none."""
    write_tree(work / "shop", files)
    if key is not None:
        env = {"CODEGRAPH_API_KEY": key, "CODEGRAPH_AUTH_READS": "true", **env}
    with ServerProcess(work, [work / "shop"], env=env) as proc:
        if key is not None:
            proc.client.headers["X-API-Key"] = key
        proc.wait_jobs_idle()
        proc.client.headers.pop("X-API-Key", None)
        yield proc
