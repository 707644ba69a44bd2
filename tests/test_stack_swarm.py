"""docker-compose.production.yml under Docker Swarm (issue 15): read by `docker stack`, and
deployed as a stack of one indexer and three replicas behind nginx (tests/swarmproc.py).

Nothing is published: the tests reach nginx's task on a swarm-scoped bridge network they
create. The swarm is initialised for the module when the engine is in none, and left
again; the stack, its volumes and the network are removed, and the fixture checks that
nothing of them is left. Skipped, with the reason, only where no Docker engine is
available; CODEGRAPH_REQUIRE_DOCKER=1 (set by CI) turns that into a failure.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # (PyYAML, via schemathesis; no stubs)

import dockerproc
import stackproc
import swarmproc
from stackload import PacedLoad, summary
from stackproc import say
from swarmproc import SwarmStack

pytestmark = pytest.mark.timeout(900)

REPLICAS = 3
SECRETS = {k: "x" * 16 for k in stackproc.SECRETS}


def test_docker_stack_reads_the_production_file() -> None:
    """`docker stack config` of the production file with deploy/swarm/stack.yml: nginx is
    published in host mode only (never the routing mesh), every service is dnsrr with a
    restart policy and a tmpfs /tmp, the replicas mount the data read-only and update
    start-first with rollback, the indexer updates stop-first (one writer)."""
    docker = dockerproc.docker()
    has = subprocess.run([docker, "stack", "config", "--help"], capture_output=True,
                         text=True, timeout=30, check=False)
    dockerproc.require(None if has.returncode == 0 else
                       f"{docker} has no `docker stack config`", "needs a docker CLI >= 23")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGRAPH", "HTTP"))}
    out = subprocess.run([docker, "stack", "config", "-c", str(stackproc.PRODUCTION),
                          "-c", str(swarmproc.SWARM_FILE)],
                         capture_output=True, text=True, timeout=60, check=False,
                         env=env | SECRETS, cwd=dockerproc.ROOT)
    assert out.returncode == 0, out.stderr
    services: dict[str, Any] = yaml.safe_load(out.stdout)["services"]
    assert services["nginx"]["ports"] == [
        {"mode": "host", "target": 8080, "published": 80, "protocol": "tcp"},
        {"mode": "host", "target": 8443, "published": 443, "protocol": "tcp"}]
    for name, svc in services.items():
        deploy = svc["deploy"]
        assert deploy["endpoint_mode"] == "dnsrr", name
        assert deploy["restart_policy"]["condition"] == "any", name
        assert svc["read_only"] and svc["cap_drop"] == ["ALL"], name
        tmp = [v for v in svc["volumes"] if v.get("target") == "/tmp"]
        assert name == "node-exporter" or [v["type"] for v in tmp] == ["tmpfs"], name
        assert "ports" not in svc or name == "nginx", name
    api, indexer = services["codegraph-api"], services["codegraph-indexer"]
    data = {v["target"]: v for v in api["volumes"]}["/app/data"]
    assert data.get("read_only") is True and data["source"] == "codegraph_data"
    assert api["deploy"]["update_config"]["order"] == "start-first"
    assert api["deploy"]["update_config"]["failure_action"] == "rollback"
    assert api["deploy"]["rollback_config"]["order"] == "start-first"
    assert indexer["deploy"]["replicas"] == 1
    assert indexer["deploy"]["update_config"]["order"] == "stop-first"
    assert api["healthcheck"]["test"] == indexer["healthcheck"]["test"]


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory,
          pytestconfig: pytest.Config) -> Iterator[SwarmStack]:
    dockerproc.require(swarmproc.swarm_problem(), "the Swarm tests need a Docker engine")
    base = tmp_path_factory.mktemp("swarm")
    demo = dockerproc.small_repo(base / "repos" / "demo")
    (base / "repos").chmod(0o755)
    ratelimit = base / "ratelimit.conf"
    ratelimit.write_text(stackproc.TEST_RATELIMIT)
    ratelimit.chmod(0o644)
    with dockerproc.pinned() as images:
        st = SwarmStack(tag=images["optimized"], repos_dir=demo.parent, workdir=base / "work",
                        ratelimit=ratelimit,
                        extra_env={"CODEGRAPH_REPLICAS": str(REPLICAS),
                                   "CODEGRAPH_REPOS": "/repos/demo"})
        with st:
            initialised = st.initialised
            say(pytestconfig, f"\n[swarm] {st.name}: {', '.join(swarmproc.SWARM_SERVICES)} "
                              f"deployed and healthy in {st.up_seconds:.1f} s with "
                              f"{st.cli} (swarm initialised here: {initialised})")
            yield st
        left = st.left_behind()
        assert not left, f"left behind: {left}"
        if initialised:
            assert swarmproc.swarm_state() == "inactive", "the swarm was not left"


def client(st: SwarmStack) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=st.conf.ca)
    ctx.check_hostname = False  # the certificate is for localhost: checked, not its name
    return httpx.Client(base_url=f"https://{st.nginx_address()}:8443", verify=ctx, timeout=30)


def wait_ready(c: httpx.Client, timeout: float = 90.0) -> None:
    """Until 12 reads in a row answer 200 (the replicas serve the indexer's snapshot)."""
    deadline = time.monotonic() + timeout
    streak, last = 0, ""
    while time.monotonic() < deadline and streak < 12:
        r = c.get("/api/v1/definition?symbol=parse_config")
        streak = streak + 1 if r.status_code == 200 and r.json().get("results") else 0
        last = f"{r.status_code} {r.text[:200]}"
        time.sleep(0.1)
    assert streak >= 12, f"the replicas do not answer: {last}"


def test_swarm_three_replicas_answer_through_nginx(swarm: SwarmStack,
                                                   pytestconfig: pytest.Config) -> None:
    """Three replica tasks healthy, each hardened as the file says and with the data volume
    read-only; reads through nginx reach all three (nginx's access log: the upstream of each
    request is one of the three tasks' addresses, and every one is used)."""
    replicas = swarm.healthy("codegraph-api")
    assert len(replicas) == REPLICAS and len(swarm.healthy("codegraph-indexer")) == 1
    for task in replicas:
        host = task["HostConfig"]
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"], host
        assert task["Config"]["User"] == "65534:65534"
        assert host["PidsLimit"] == 1000 and host["Memory"] == 1 << 30
        mounts = {m["Destination"]: m for m in task["Mounts"]}
        assert mounts["/app/data"]["RW"] is False and mounts["/tmp"]["Type"] == "tmpfs"
    addresses = {swarm.address(t): t["Name"] for t in replicas}
    since = time.time() - 1
    with client(swarm) as c:
        wait_ready(c)
        time.sleep(2.5)  # nginx's cached DNS answer (valid=2s) is renewed
        for i in range(60):
            r = c.get("/api/v1/stats", headers={"X-Request-ID": f"swarm-{i}"})
            assert r.status_code == 200, r.text
    time.sleep(1.5)  # nginx's access log buffer (flush=1s)
    (nginx,) = swarm.tasks("nginx")
    assert nginx["HostConfig"]["Sysctls"]["net.ipv4.tcp_tw_reuse"] == "1"  # Swarm applies
    seen = [e["upstream"].rpartition(":")[0] for e in stackproc.nginx_log(nginx["Id"], since)
            if e["request_id"].startswith("swarm-")]
    counts = {addresses.get(a, a): seen.count(a) for a in sorted(set(seen))}
    say(pytestconfig, f"[swarm] 60 reads through nginx, by replica task: {counts}; "
                      f"no-new-privileges as run: "
                      f"{replicas[0]['HostConfig'].get('SecurityOpt')} (Swarm ignores "
                      f"security_opt)")
    assert len(seen) == 60 and set(seen) == set(addresses), (seen, addresses)


def test_swarm_rolling_update_under_load(swarm: SwarmStack,
                                         pytestconfig: pytest.Config) -> None:
    """`docker service update --force` of the replicas (the file's update_config: one at a
    time, start-first, rollback on failure; delay and monitor shortened here) while 100
    connections read through nginx: every replica is replaced and no request fails."""
    before = {t["Id"] for t in swarm.tasks("codegraph-api")}
    paths = ["/api/v1/definition?symbol=parse_config", "/api/v1/stats",
             "/api/v1/callers?symbol=parse_config"]
    with client(swarm) as c:
        wait_ready(c)
    load = PacedLoad(f"https://{swarm.nginx_address()}:8443", swarm.conf.ca, paths,
                     connections=100, rate=100.0, max_requests=12000, max_seconds=180,
                     check_hostname=False)
    with load:
        load.wait_connections(timeout=60)
        t = time.monotonic()
        swarm.docker("service", "update", "--force", "--detach=false", "--update-delay", "2s",
                     "--update-monitor", "5s", swarm.service("codegraph-api"), timeout=400)
        took = time.monotonic() - t
        time.sleep(2)
    outcomes = load.snapshot()
    after = swarm.healthy("codegraph-api")
    failed = [o for o in outcomes if not o.ok]
    say(pytestconfig, f"[swarm] rolling update of {REPLICAS} replicas (start-first) in "
                      f"{took:.1f} s under load: {summary(outcomes)}")
    assert len(after) == REPLICAS and not before & {t["Id"] for t in after}
    assert not failed, f"{len(failed)} of {len(outcomes)} failed: {failed[:5]}"


def test_swarm_file_paths(swarm: SwarmStack) -> None:
    """The file Swarm got is the production file, less nginx's ports, with the test's
    network and rate limits (tests/swarmproc.py), and nothing published."""
    data = yaml.safe_load(Path(swarm.file).read_text())
    assert "ports" not in data["services"]["nginx"]
    for svc in swarmproc.SWARM_SERVICES:
        spec = swarm.docker("service", "inspect", "--format", "{{json .Endpoint.Ports}}",
                            swarm.service(svc)).stdout.strip()
        assert spec in ("null", "[]"), (svc, spec)
