"""Compose stacks for the stack tests and benchmark: one project per run, torn down always.

A :class:`Stack` brings ``docker-compose.production.yml`` (plus any override files) up under
a unique project name, with its own env file in a temporary directory (random secrets),
free ports on 127.0.0.1, a subnet no other network uses (parallel runs would collide on the
default 172.20.0.0/16), a self-signed certificate from ``scripts/dev-certs.sh`` and the
API image given by tag (the tests pass ``dockerproc.pinned_images()``'s). ``up`` waits,
bounded, for every service's healthcheck; leaving the ``with`` block runs
``down -v --remove-orphans`` whatever happened.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import dockerproc
from dockerproc import ROOT

PRODUCTION = ROOT / "docker-compose.production.yml"
SECRETS = ("REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "CODEGRAPH_API_KEY",
           "CODEGRAPH_ADMIN_TOKEN")
# Every production service but grafana, whose image cannot be obtained on this machine
# (its provisioning and dashboard are validated offline).
SERVICES = ("codegraph-indexer", "codegraph-api", "redis", "nginx", "prometheus", "alertmanager",
            "node-exporter")
NOT_STARTED = {"grafana": "no grafana/grafana-oss image can be obtained on this machine "
                          "(no container registry); its files are validated offline"}


def compose_problem() -> str | None:
    """Why no compose stack can run here, or None."""
    problem = dockerproc.engine_problem()
    if problem:
        return problem
    out = subprocess.run([dockerproc.docker(), "compose", "version"], capture_output=True,
                         text=True, timeout=30, check=False)
    if out.returncode != 0:
        return f"no Compose v2 plugin (`docker compose`): {out.stderr.strip()[:200]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def used_networks() -> list[ipaddress.IPv4Network]:
    """The subnets of every Docker network and every route of this host."""
    nets: list[ipaddress.IPv4Network] = []
    ids = dockerproc.run("network", "ls", "-q", timeout=30).stdout.split()
    if ids:
        for net in json.loads(dockerproc.run("network", "inspect", *ids, timeout=30).stdout):
            for conf in (net.get("IPAM") or {}).get("Config") or []:
                with contextlib.suppress(ValueError):
                    nets.append(ipaddress.IPv4Network(conf.get("Subnet", ""), strict=False))
    ip = shutil.which("ip")
    routes = subprocess.run([ip, "-4", "route"], capture_output=True, text=True, check=False,
                            timeout=10).stdout if ip else ""
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        with contextlib.suppress(ValueError):  # "default" and the like
            nets.append(ipaddress.IPv4Network(word, strict=False))
    return nets


def free_subnet() -> str:
    """A /24 in 10.213.0.0/16 that overlaps no Docker network and no route here."""
    used = used_networks()
    candidates = list(range(256))
    random.shuffle(candidates)
    for third in candidates:
        net = ipaddress.IPv4Network(f"10.213.{third}.0/24")
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise RuntimeError("no free /24 left in 10.213.0.0/16")


def stack_images() -> Iterator[dict[str, str]]:
    """This tree's images, pinned while the stack runs (the stack tests' ``images``
    fixture); a loud skip, or a failure in CI, without Docker and Compose v2."""
    dockerproc.require(compose_problem(), "stack tests need Docker with Compose v2")
    with dockerproc.pinned() as pinned:
        yield pinned


@dataclass
class Stack:
    """The production stack under a unique project name (see the module's docstring)."""

    tag: str                 # the codegraph/api tag: CODEGRAPH_TAG
    repos_dir: Path          # CODEGRAPH_REPOS_DIR, mounted read-only at /repos
    workdir: Path            # env file, certificates, override files
    services: tuple[str, ...] = SERVICES
    overrides: list[Path] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    project: str = field(default_factory=lambda: f"cgstack-{uuid.uuid4().hex[:10]}")
    up_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.certs = self.workdir / "certs"
        self.env_file = self.workdir / "stack.env"
        self.env: dict[str, str] = {name: secrets.token_hex(16) for name in SECRETS}
        self.env.update(
            CODEGRAPH_TAG=self.tag.rpartition(":")[2], CODEGRAPH_BIND_ADDRESS="127.0.0.1",
            HTTP_PORT=str(free_port()), HTTPS_PORT=str(free_port()),
            CODEGRAPH_SUBNET=free_subnet(), CODEGRAPH_REPOS_DIR=str(self.repos_dir),
            CODEGRAPH_CERTS_DIR=str(self.certs), CODEGRAPH_EMBED="0")
        self.env.update(self.extra_env)
        self.write_env()
        if not (self.certs / "tls.crt").exists():
            out = subprocess.run(["bash", str(ROOT / "scripts/dev-certs.sh"), str(self.certs)],
                                 capture_output=True, text=True, timeout=60, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"dev-certs.sh failed: {out.stderr}")
        self.certs.chmod(0o755)

    def write_env(self) -> None:
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        self.env_file.chmod(0o600)

    # -- compose -------------------------------------------------------------------------
    def compose_args(self) -> list[str]:
        args = [dockerproc.docker(), "compose", "-p", self.project, "--env-file",
                str(self.env_file), "-f", str(PRODUCTION)]
        for extra in self.overrides:
            args += ["-f", str(extra)]
        return args

    def compose(self, *args: str, timeout: float = 120.0,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        # the stack's variables come from the env file only, never from this process
        env = {k: v for k, v in os.environ.items() if k not in self.env}
        out = subprocess.run([*self.compose_args(), *args], capture_output=True, text=True,
                             timeout=timeout, check=False, env=env, cwd=ROOT)
        if check and out.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(args)}: exit {out.returncode}\n"
                               f"{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
        return out

    def script(self, name: str, *args: str,
               timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        """scripts/<name> (backup.sh, restore.sh) run against this stack: compose's -p,
        --env-file and -f options first, then ``args``."""
        compose_opts = ["-p", self.project, "--env-file", str(self.env_file), "-f",
                        str(PRODUCTION)]
        for extra in self.overrides:
            compose_opts += ["-f", str(extra)]
        env = {k: v for k, v in os.environ.items() if k not in self.env}
        return subprocess.run(["bash", str(ROOT / "scripts" / name), *compose_opts, *args],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env=env, cwd=ROOT)

    def up(self, timeout: float = 300.0) -> float:
        """Start the services, wait until Docker reports each healthy: the seconds taken."""
        t0 = time.monotonic()
        for attempt in range(2):
            out = self.compose("up", "-d", "--wait", "--wait-timeout", str(int(timeout)),
                               *self.services, timeout=timeout + 120, check=False)
            if out.returncode == 0:
                break
            if attempt == 0 and "port is already allocated" in out.stderr:
                self.compose("down", "-v", "--remove-orphans", timeout=180, check=False)
                self.env.update(HTTP_PORT=str(free_port()), HTTPS_PORT=str(free_port()))
                self.write_env()
                continue
            raise RuntimeError(f"stack did not come up (exit {out.returncode}):\n"
                               f"{out.stderr[-3000:]}\n{self.logs(tail=40)}")
        self.up_seconds = time.monotonic() - t0
        return self.up_seconds

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout=300,
                     check=False)

    def __enter__(self) -> Stack:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- containers ----------------------------------------------------------------------
    def container(self, service: str) -> str:
        ids = self.compose("ps", "-q", "--all", service, timeout=60).stdout.split()
        if not ids:
            raise RuntimeError(f"no container for service {service}")
        return ids[0]

    def containers(self, service: str) -> list[str]:
        """The ids of every running container of ``service`` (its replicas)."""
        return self.compose("ps", "-q", service, timeout=60).stdout.split()

    def inspect(self, service: str) -> dict[str, Any]:
        return dockerproc.inspect(self.container(service))

    def health(self, service: str) -> str:
        state = self.inspect(service)["State"]
        return str((state.get("Health") or {}).get("Status", state.get("Status", "?")))

    def wait_healthy(self, service: str, timeout: float = 120.0) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.health(service) == "healthy":
                return time.monotonic() - t0
            time.sleep(0.25)
        raise AssertionError(f"{service} not healthy within {timeout} s "
                             f"(is {self.health(service)}):\n{self.logs(service)}")

    def published(self) -> dict[str, list[tuple[str, str]]]:
        """service -> every (host address, host port) Docker publishes for it."""
        out: dict[str, list[tuple[str, str]]] = {}
        for line in self.compose("ps", "-q", "--all", timeout=60).stdout.split():
            data = dockerproc.inspect(line)
            service = data["Config"]["Labels"]["com.docker.compose.service"]
            ports = (data["NetworkSettings"].get("Ports") or {}).values()
            out[service] = [(b["HostIp"], b["HostPort"]) for binds in ports if binds
                            for b in binds]
        return out

    def exec(self, service: str, *cmd: str, timeout: float = 60.0,
             check: bool = False) -> subprocess.CompletedProcess[str]:
        return dockerproc.run("exec", self.container(service), *cmd, timeout=timeout,
                              check=check)

    def logs(self, service: str | None = None, tail: int = 60) -> str:
        args = ["logs", "--no-color", "--tail", str(tail)] + ([service] if service else [])
        out = self.compose(*args, timeout=60, check=False)
        return out.stdout[-6000:] + out.stderr[-2000:]

    # -- addresses -----------------------------------------------------------------------
    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.env['HTTPS_PORT']}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.env['HTTP_PORT']}"

    @property
    def ca(self) -> str:
        return str(self.certs / "tls.crt")


# -- Prometheus from inside the stack -------------------------------------------------------
# Prometheus publishes no port: it is reached from the API container (on the backend
# network) by one Python process that reads API paths on stdin and answers each with a line
# of JSON (an {"error": ...} line on failure), so that a check of many queries pays for one
# `docker exec`, not one per query.
PROM_RELAY = """
import json, sys, urllib.error, urllib.request
for line in sys.stdin:
    try:
        try:
            with urllib.request.urlopen("http://prometheus:9090" + line.strip(),
                                        timeout=20) as r:
                out = json.load(r)
        except urllib.error.HTTPError as exc:  # 4xx/5xx: Prometheus's error answer
            out = json.load(exc)
    except Exception as exc:  # any failure is the caller's to report
        out = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(out) + "\\n")
    sys.stdout.flush()
"""


class PrometheusRelay:
    """``get(path)`` -> Prometheus's decoded JSON answer, through the API container.

    Usable as monitoring_checks' ``Get``; a context manager (the exec process ends when
    its stdin closes)."""

    def __init__(self, stack: Stack, service: str = "codegraph-api") -> None:
        self.proc = subprocess.Popen(
            [dockerproc.docker(), "exec", "-i", stack.container(service),
             "/app/venv/bin/python", "-c", PROM_RELAY],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def get(self, path: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(path + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()  # bounded by the relay's 20 s urlopen timeout
        if not line:
            raise RuntimeError(f"the Prometheus relay ended (exit {self.proc.poll()})")
        data: dict[str, Any] = json.loads(line)
        if "error" in data and "status" not in data:
            raise AssertionError(f"Prometheus {path}: {data['error']}")
        return data

    def __enter__(self) -> PrometheusRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


def say(config: Any, msg: str) -> None:
    """A line in the test output whether or not output is captured (``config``: the
    pytest config)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(msg)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(msg)


# nginx's rate limits for the load tests: the whole load comes from one client address, and
# these tests measure the replicas, not the limiter (tests/test_stack_production.py does)
TEST_RATELIMIT = """limit_req_zone $binary_remote_addr zone=codegraph_api:10m rate=5000r/s;
limit_req_zone $binary_remote_addr zone=codegraph_mcp:10m rate=5000r/s;
limit_req_status 429;
limit_req_log_level warn;
"""


def nginx_log(container: str, since: float = 0.0) -> list[dict[str, Any]]:
    """nginx's JSON access log lines (deploy/nginx/nginx.conf ``log_format json``)."""
    args = ["logs", container] + (["--since", f"{since:.3f}"] if since else [])
    out = dockerproc.run(*args, timeout=60)
    lines = []
    for line in out.stdout.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and "upstream" in entry:
                lines.append(entry)
    return lines


def wait_served(client: httpx.Client, revision: int, timeout: float = 60.0) -> None:
    """Until the replicas behind nginx serve ``revision``: 8 readiness answers in a row
    (nginx spreads them over the replicas) at that revision or later. The indexer
    publishes it a moment after its job ends."""
    deadline, in_a_row = time.monotonic() + timeout, 0
    while in_a_row < 8:
        r = client.get("/health/ready")
        ok = r.status_code == 200 and (r.json().get("revision") or 0) >= revision
        in_a_row = in_a_row + 1 if ok else 0
        if time.monotonic() > deadline:
            raise AssertionError(f"replicas not serving revision {revision}: {r.text}")
        time.sleep(0.05)

