"""A real ``redis-server`` on 127.0.0.1 for the server's cache tests: started on a free port
without persistence; killable (SIGKILL, like a crash), pausable (SIGSTOP, a hung server) and
restartable on the same port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from serverproc import free_port

START_TIMEOUT = 10.0
MISSING = "redis-server not installed (Debian package redis-server; .ci/run installs it)"


def redis_server_binary() -> str:
    """The ``redis-server`` executable; skips the test (a failure under CI) without one."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip(MISSING)
    return exe


class RedisProcess:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.exe = redis_server_binary()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = workdir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the server (on this object's port) and wait until it answers PING."""
        assert self.proc is None or self.proc.poll() is not None, "redis-server is running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--dir", os.fspath(self.workdir)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited {self.proc.returncode}:\n"
                                     f"{self.output()}")
            try:
                with self.client(timeout=0.5) as client:
                    if client.ping():
                        return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"redis-server not answering PING in {START_TIMEOUT} s:\n"
                             f"{self.output()}")

    def client(self, timeout: float = 2.0) -> redis.Redis:
        """A fresh synchronous client (no retries: a dead server fails at once)."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout,
                           socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, like a crash or an OOM kill: no clean shutdown, the port closes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: a hung Redis. Connections are still accepted, nothing is answered."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Kill (if running) and start again on the same port, empty (nothing is saved)."""
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server would not see SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> RedisProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def redis_server(workdir: Path) -> Iterator[RedisProcess]:
    """For a fixture: ``yield from redis_server(tmp_path / "redis")``; stopped afterwards."""
    with RedisProcess(workdir) as server:
        yield server
