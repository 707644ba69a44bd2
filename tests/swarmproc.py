"""The production file deployed as a Docker Swarm stack, for the Swarm tests.

A :class:`SwarmStack` initialises a single-node swarm on 127.0.0.1 when the engine is not
in one (and leaves it again at the end; a swarm that was there before is kept), deploys
``docker-compose.production.yml`` with ``docker stack deploy`` under a unique stack name,
waits (bounded) for every task to run and be healthy, and removes everything it made on
exit: the stack, its volumes, the test's network, the swarm it initialised.

Nothing is published, through the routing mesh or otherwise: the file given to
``docker stack deploy`` is the production file less nginx's ``ports`` (which Swarm would
publish on every interface), with nginx also attached to a swarm-scoped bridge network
this module creates. The host reaches nginx's task there, by its address, as it reaches
any container on a bridge. Relative bind sources become absolute (the file is written
elsewhere) and nginx's rate-limit file may be swapped for the test's. Everything else is
the production file as it is (hardening, deploy settings, healthchecks, dnsrr), with
deploy/swarm/stack.yml's restart policies.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # (PyYAML, via schemathesis; no stubs)

import dockerproc
import stackproc
from dockerproc import ROOT

# what the Swarm tests run: grafana has no image here; the monitoring services are
# covered by the Compose tests
SWARM_SERVICES = ("codegraph-indexer", "codegraph-api", "redis", "nginx")
# Debian's docker CLI (the engine's version) where installed: the one `docker stack` must
# accept the file with; else the client on PATH
DEBIAN_CLI = Path("/usr/bin/docker")
SWARM_FILE = ROOT / "deploy/swarm/stack.yml"


def swarm_state() -> str:
    return dockerproc.run("info", "--format", "{{.Swarm.LocalNodeState}}",
                          timeout=30).stdout.strip()


def swarm_problem() -> str | None:
    problem = dockerproc.engine_problem()
    if problem:
        return problem
    state = swarm_state()
    if state not in ("active", "inactive"):
        return f"the engine's swarm state is {state!r} (neither active nor inactive)"
    return None


def derived_file(path: Path, network: str, ratelimit: Path | None = None,
                 services: tuple[str, ...] = SWARM_SERVICES) -> dict[str, Any]:
    """The production file as Swarm gets it in the tests (module docstring): written to
    ``path``; the parsed mapping returned."""
    data: dict[str, Any] = yaml.safe_load(stackproc.PRODUCTION.read_text())
    data = {k: v for k, v in data.items() if not k.startswith("x-")}  # anchors resolved
    data["services"] = {k: v for k, v in data["services"].items() if k in services}
    swarm: dict[str, Any] = yaml.safe_load(SWARM_FILE.read_text())["services"]
    for name, svc in data["services"].items():  # deploy/swarm/stack.yml's restart policies
        svc["deploy"]["restart_policy"] = swarm[name]["deploy"]["restart_policy"]
    for svc in data["services"].values():
        vols = []
        for v in svc.get("volumes", []):
            if isinstance(v, str) and v.startswith("./"):
                v = str(ROOT / v[2:])
            vols.append(v)
        if vols:
            svc["volumes"] = vols
        svc["depends_on"] = [d for d in svc.get("depends_on", []) if d in services]
    nginx = data["services"]["nginx"]
    nginx.pop("ports", None)
    nginx["networks"] = [*nginx["networks"], "swarm_test"]
    if ratelimit is not None:
        nginx["volumes"] = [f"{ratelimit}:/etc/nginx/ratelimit.conf:ro"
                            if str(v).endswith(":/etc/nginx/ratelimit.conf:ro") else v
                            for v in nginx["volumes"]]
    data["networks"]["swarm_test"] = {"external": True, "name": network}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


@dataclass
class SwarmStack:
    tag: str
    repos_dir: Path
    workdir: Path
    ratelimit: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"cgswarm{uuid.uuid4().hex[:8]}")
    initialised: bool = False
    gwbridge_made: bool = False
    up_seconds: float = 0.0
    cli: str = field(default_factory=lambda: str(DEBIAN_CLI) if DEBIAN_CLI.exists()
                     else dockerproc.docker())

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # certificates and secrets as the Compose tests make them (no stack started)
        self.conf = stackproc.Stack(tag=self.tag, repos_dir=self.repos_dir,
                                    workdir=self.workdir, extra_env=self.extra_env)
        self.env = dict(self.conf.env)
        self.network = f"{self.name}-client"
        self.file = self.workdir / "swarm-stack.yml"

    # -- docker --------------------------------------------------------------------------
    def docker(self, *args: str, timeout: float = 120.0,
               check: bool = True) -> subprocess.CompletedProcess[str]:
        # the stack's variables come from this environment: `docker stack` reads no .env
        env = {k: v for k, v in os.environ.items() if k not in self.env} | self.env
        out = subprocess.run([self.cli, *args], capture_output=True, text=True,
                             timeout=timeout, check=False, env=env, cwd=ROOT)
        if check and out.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: exit {out.returncode}\n"
                               f"{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
        return out

    def service(self, name: str) -> str:
        return f"{self.name}_{name}"

    def tasks(self, service: str) -> list[dict[str, Any]]:
        """The running containers of ``service``'s tasks (docker inspect of each)."""
        ids = dockerproc.run("ps", "-q", "--filter",
                             f"label=com.docker.swarm.service.name={self.service(service)}",
                             timeout=30).stdout.split()
        return [dockerproc.inspect(i) for i in ids]

    def healthy(self, service: str) -> list[dict[str, Any]]:
        return [t for t in self.tasks(service)
                if (t["State"].get("Health") or {}).get("Status") == "healthy"]

    def replicas(self, service: str) -> int:
        spec = json.loads(self.docker("service", "inspect", self.service(service),
                                      timeout=30).stdout)[0]["Spec"]
        return int(spec["Mode"]["Replicated"]["Replicas"])

    def wait_healthy(self, timeout: float = 240.0) -> float:
        """Until each service has as many healthy task containers as replicas, and no more
        running: the seconds taken."""
        t0 = time.monotonic()
        want = {s: self.replicas(s) for s in SWARM_SERVICES}
        got: dict[str, tuple[int, int]] = {}
        while time.monotonic() - t0 < timeout:
            got = {s: (len(self.healthy(s)), len(self.tasks(s))) for s in SWARM_SERVICES}
            if all(got[s] == (n, n) for s, n in want.items()):
                return time.monotonic() - t0
            time.sleep(1)
        ps = self.docker("stack", "ps", "--no-trunc", self.name, check=False).stdout
        logs = "".join(self.docker("service", "logs", "--tail", "5", self.service(s),
                                   check=False).stderr[-1500:] for s, n in want.items()
                       if got.get(s, (0, 0))[0] < n)
        raise AssertionError(f"swarm stack not healthy within {timeout} s: healthy/running "
                             f"{got}, wanted {want}\n{ps[-3000:]}\n{logs}")

    def nginx_address(self) -> str:
        (task,) = self.tasks("nginx")
        return str(task["NetworkSettings"]["Networks"][self.network]["IPAddress"])

    def address(self, task: dict[str, Any], network: str = "codegraph_network") -> str:
        return str(task["NetworkSettings"]["Networks"][f"{self.name}_{network}"]["IPAddress"])

    # -- lifecycle -----------------------------------------------------------------------
    def up(self) -> float:
        t0 = time.monotonic()
        if swarm_state() == "inactive":
            # `swarm init` makes docker_gwbridge, which `swarm leave` keeps: removed in down
            self.gwbridge_made = dockerproc.run("network", "inspect", "docker_gwbridge",
                                                check=False, timeout=30).returncode != 0
            dockerproc.run("swarm", "init", "--advertise-addr", "127.0.0.1",
                           "--listen-addr", "127.0.0.1:2377", timeout=120)
            self.initialised = True
        dockerproc.run("network", "create", "--driver", "bridge", "--scope", "swarm",
                       "--attachable", "--label", f"cgtest={self.name}", self.network,
                       timeout=60)
        derived_file(self.file, self.network, self.ratelimit)
        self.docker("stack", "deploy", "--resolve-image", "never", "-c", str(self.file),
                    self.name, timeout=300)
        self.wait_healthy()
        self.up_seconds = time.monotonic() - t0
        return self.up_seconds

    def down(self) -> None:
        self.docker("stack", "rm", self.name, timeout=120, check=False)
        label = f"label=com.docker.stack.namespace={self.name}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # `stack rm` returns before the tasks are gone
            left = dockerproc.run("ps", "-aq", "--filter", label, timeout=30).stdout.split()
            nets = dockerproc.run("network", "ls", "-q", "--filter", label,
                                  timeout=30).stdout.split()
            if not left and not nets:
                break
            time.sleep(1)
        vols = dockerproc.run("volume", "ls", "-q", "--filter", label, timeout=30).stdout
        for vol in vols.split():
            for _ in range(10):  # a just-removed container may still hold it a moment
                if dockerproc.run("volume", "rm", "-f", vol, check=False,
                                  timeout=60).returncode == 0:
                    break
                time.sleep(1)
        dockerproc.run("network", "rm", self.network, check=False, timeout=60)
        if self.initialised:
            dockerproc.run("swarm", "leave", "--force", check=False, timeout=120)
            self.initialised = False
            if self.gwbridge_made:
                dockerproc.run("network", "rm", "docker_gwbridge", check=False, timeout=60)

    def __enter__(self) -> SwarmStack:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def left_behind(self) -> list[str]:
        """What of this stack is still there (nothing, after ``down``)."""
        label = f"label=com.docker.stack.namespace={self.name}"
        out = []
        for kind in ("ps -aq", "network ls -q", "volume ls -q", "service ls -q"):
            if kind == "service ls -q" and swarm_state() != "active":
                continue
            ids = dockerproc.run(*kind.split(), "--filter", label, timeout=30).stdout.split()
            out += [f"{kind.split()[0]} {i}" for i in ids]
        for net in (self.network, *(["docker_gwbridge"] if self.gwbridge_made else [])):
            if dockerproc.run("network", "inspect", net, check=False,
                              timeout=30).returncode == 0:
                out.append(f"network {net}")
        return out
