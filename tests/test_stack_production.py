"""The production stack end to end (issue 14): docker-compose.production.yml from this tree's
images and the offline base images, reached only through nginx on 127.0.0.1 over TLS.

Every service but grafana is started (no grafana image can be obtained here; its files are
validated offline by the monitoring tests, and its dashboard's queries run against this
stack's Prometheus): the test output says so. The last stack test takes backups under load,
wipes the volumes and restores (tests/stackload.py is its bounded client). Skipped, with the
reason, only where no Docker engine or Compose v2 is available; CODEGRAPH_REQUIRE_DOCKER=1
(set by CI) turns that into a failure. Every wait and load loop is bounded; the stack is
torn down (`down -v --remove-orphans`) whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

import corpora
import dockerproc
import monitoring_checks as mc
import stackproc
from stackload import PacedLoad, summary
from stackproc import Stack, say

pytestmark = pytest.mark.timeout(1800)

CORPUS = ("flask", "3.0.3")
INDEX_TIMEOUT = 240.0


images = pytest.fixture(scope="module")(stackproc.stack_images)


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CODEGRAPH_REPOS_DIR: a copy of the pinned Flask sdist, readable by 65534."""
    base = tmp_path_factory.mktemp("stack-repos")
    shutil.copytree(corpora.sdist_or_skip(*CORPUS), base / "flask")
    for p in [base, *base.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return base


@pytest.fixture(scope="module")
def stack(images: dict[str, str], repos: Path, tmp_path_factory: pytest.TempPathFactory,
          pytestconfig: pytest.Config) -> Iterator[Stack]:
    for name, why in stackproc.NOT_STARTED.items():
        say(pytestconfig, f"\n[stack] NOT started: {name}: {why}")
    st = Stack(tag=images["optimized"], repos_dir=repos,
               workdir=tmp_path_factory.mktemp("stack"))
    with st:
        say(pytestconfig, f"[stack] {st.project}: {', '.join(st.services)} healthy in "
              f"{st.up_seconds:.1f} s (subnet {st.env['CODEGRAPH_SUBNET']}, "
              f"https {st.https})")
        yield st


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.https, verify=ssl.create_default_context(cafile=stack.ca),
                      timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def indexed(stack: Stack, client: httpx.Client) -> dict[str, Any]:
    """Flask registered and indexed through nginx: the finished job."""
    r = client.post("/api/v1/repos", json={"path": "/repos/flask", "name": "flask"},
                    headers={"X-API-Key": stack.env["CODEGRAPH_API_KEY"]})
    assert r.status_code in (200, 201, 202), r.text
    job_id = r.json()["job"]["id"]
    deadline = time.monotonic() + INDEX_TIMEOUT
    while time.monotonic() < deadline:
        answer = client.get(f"/api/v1/jobs/{job_id}")  # (jobs: the indexer answers)
        job: dict[str, Any] = answer.json()
        job = job.get("job", job)
        if job["state"] in ("done", "failed", "cancelled"):
            assert job["state"] == "done", job
            stackproc.wait_served(client, int(answer.headers["x-codegraph-revision"]))
            return job
        time.sleep(0.5)
    raise AssertionError(f"index job not done within {INDEX_TIMEOUT} s: {job}")


def answers(client: httpx.Client) -> dict[str, Any]:
    """Definition, callers, search and stats about Flask, with the revision that answered."""
    out: dict[str, Any] = {}
    for name, url in (("definition", "/api/v1/definition?symbol=Flask"),
                      ("callers", "/api/v1/callers?symbol=_endpoint_from_view_func"),
                      ("search", "/api/v1/search?query=endpoint%20from%20view%20function"
                                 "&mode=lexical&limit=5"),
                      ("stats", "/api/v1/stats")):
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text)
        out[name] = r.json()
        out.setdefault("revision", r.headers["x-codegraph-revision"])
    # A (re)started server catches up with changes made while it was down (an incremental
    # run, no change here: the revision stays) and records that run: when and how long.
    for repo in out["stats"]["repositories"].values():
        repo.pop("last_indexed", None)
        repo.pop("last_duration", None)
    return out


def test_compose_config_passes() -> None:
    dockerproc.require(stackproc.compose_problem(), "needs Compose v2")
    # not the checkout's .env, if someone has one: only what is given here
    base = [dockerproc.docker(), "compose", "--env-file", os.devnull, "-f",
            str(stackproc.PRODUCTION)]
    env = {k: v for k, v in os.environ.items()
           if k not in stackproc.SECRETS and k not in ("HTTP_PORT", "HTTPS_PORT")}
    filled = dict(env, **{k: "x" * 16 for k in stackproc.SECRETS})
    out = subprocess.run([*base, "config", "--format", "json"], capture_output=True,
                         text=True, env=filled, timeout=60, check=False, cwd=dockerproc.ROOT)
    assert out.returncode == 0, out.stderr
    services = json.loads(out.stdout)["services"]
    assert set(stackproc.SERVICES) | {"grafana"} <= set(services)
    for name, reserved in (("codegraph-indexer", 1.0), ("codegraph-api", 0.25)):
        api = services[name]
        assert api["read_only"] and api["cap_drop"] == ["ALL"] and api["user"] == "65534:65534"
        assert api["restart"] == "unless-stopped"
        assert api["healthcheck"]["test"] == ["CMD", "/app/venv/bin/codegraph", "healthcheck"]
        limits = api["deploy"]["resources"]
        assert limits["limits"]["cpus"] == 2.0 and limits["reservations"]["cpus"] == reserved
        assert api["logging"]["options"]["max-size"] == "100m"
    assert services["codegraph-indexer"]["command"] == ["serve", "--role", "indexer"]
    assert services["codegraph-api"]["command"] == ["serve", "--role", "replica"]
    assert services["codegraph-api"]["deploy"]["replicas"] == 2
    assert [p["published"] for s in services.values() for p in s.get("ports", [])] == \
        ["80", "443"]
    # without the secrets, compose refuses and names the variable
    out = subprocess.run([*base, "config", "-q"], capture_output=True, text=True, env=env,
                         timeout=60, check=False, cwd=dockerproc.ROOT)
    assert out.returncode != 0 and "REDIS_PASSWORD" in out.stderr + out.stdout


def test_only_nginx_publishes_on_loopback(stack: Stack) -> None:
    published = stack.published()
    assert set(published) >= set(stack.services)
    assert {s for s, binds in published.items() if binds} == {"nginx"}, published
    assert sorted(published["nginx"]) == sorted(
        ("127.0.0.1", stack.env[p]) for p in ("HTTP_PORT", "HTTPS_PORT"))
    # nginx (frontend network only) cannot even resolve redis or prometheus
    for target in ("http://redis:6379/", "http://prometheus:9090/-/healthy"):
        out = stack.exec("nginx", "curl", "-sS", "-m", "5", target)
        assert out.returncode == 6, (target, out.returncode, out.stderr)  # 6: not resolved


def test_hardening_as_run(stack: Stack) -> None:
    """What Docker actually applied to the running containers."""
    api = stack.inspect("codegraph-indexer")
    host = api["HostConfig"]
    assert api["Config"]["User"] == "65534:65534"
    assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["PidsLimit"] == 1000 and host["NanoCpus"] == 2_000_000_000
    assert host["Memory"] == 1 << 30 and host["MemoryReservation"] == 512 << 20
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    mounts = {m["Destination"]: m for m in api["Mounts"]}
    assert mounts["/tmp"]["Type"] == "tmpfs"  # noexec,nosuid,nodev by Docker's default
    assert host["LogConfig"] == {"Type": "json-file", "Config": {
        "max-size": "100m", "max-file": "3", "labels": "service,com.codegraph.stack",
        "tag": "{{.Name}}"}}
    assert not mounts["/repos"]["RW"] and not mounts["/app/models"]["RW"]
    assert mounts["/app/data"]["RW"] and mounts["/app/data"]["Type"] == "volume"
    for replica in stack.containers("codegraph-api"):  # the same, but data read-only
        data = dockerproc.inspect(replica)
        assert data["HostConfig"]["ReadonlyRootfs"] and data["HostConfig"]["CapDrop"] == ["ALL"]
        assert data["Config"]["User"] == "65534:65534"
        mounts = {m["Destination"]: m for m in data["Mounts"]}
        assert mounts["/app/data"]["RW"] is False and "/app/backups" not in mounts
    for service, user in (("redis", "999:999"), ("nginx", "101:101"),
                          ("prometheus", "65534:65534"), ("alertmanager", "65534:65534"),
                          ("node-exporter", "65534:65534")):
        data = stack.inspect(service)
        assert data["Config"]["User"] == user, service
        assert data["HostConfig"]["ReadonlyRootfs"], service
        assert data["HostConfig"]["CapDrop"] == ["ALL"], service
    # the Redis password is in no file and on no command line
    redis = stack.inspect("redis")
    password = stack.env["REDIS_PASSWORD"]
    assert password not in " ".join(redis["Config"]["Cmd"] or [])
    assert password not in (dockerproc.ROOT / "deploy/redis/redis.conf").read_text()
    out = stack.exec("redis", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
    assert out.returncode == 0 and password not in out.stdout
    assert "redis-server" in out.stdout


def test_http_redirects_to_https(stack: Stack) -> None:
    r = httpx.get(f"{stack.http}/api/v1/symbols?query=x", timeout=10)
    assert r.status_code == 301
    assert r.headers["location"] == "https://127.0.0.1/api/v1/symbols?query=x"


def test_security_headers_and_docs(client: httpx.Client) -> None:
    for path in ("/health", "/docs", "/does-not-exist"):
        r = client.get(path)
        assert r.status_code in (200, 404), (path, r.status_code)
        h = r.headers
        assert h["strict-transport-security"].startswith("max-age=31536000")
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        csp = h["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-eval" not in csp
        assert "server" not in h or h["server"] == "nginx"  # no version
    page = client.get("/docs").text
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css",
                  "/docs/init.js"):
        assert asset in page
        r = client.get(asset, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200, asset
    big = client.get("/docs/static/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert big.headers.get("content-encoding") == "gzip"
    assert client.get("/metrics").status_code == 404  # metrics stay on the backend


def test_index_and_query_through_nginx(client: httpx.Client,
                                       indexed: dict[str, Any]) -> None:
    got = answers(client)
    assert int(got["revision"]) >= 1
    defs = got["definition"]["results"]
    assert any(d["path"] == "src/flask/app.py" and d["kind"] == "class" for d in defs), defs
    callers = {c["qualified_name"] for c in got["callers"]["results"]}
    assert any(name.endswith("add_url_rule") for name in callers), callers
    hits = [h.get("qualified_name", h.get("name", "")) for h in got["search"]["results"]]
    assert any("_endpoint_from_view_func" in str(h) for h in hits), got["search"]


def test_mcp_through_nginx(stack: Stack, indexed: dict[str, Any]) -> None:
    async def session() -> tuple[set[str], str]:
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.ca),
                                     timeout=60) as http, \
                streamable_http_client(f"{stack.https}/mcp", http_client=http) as (r, w, _), \
                ClientSession(r, w) as s:
            await s.initialize()
            tools = {t.name for t in (await s.list_tools()).tools}
            result = await s.call_tool("definition", {"symbol": "Flask"})
            assert not result.isError
            return tools, "".join(getattr(c, "text", "") for c in result.content)

    tools, text = asyncio.run(asyncio.wait_for(session(), 120))
    assert {"definition", "callers", "search"} <= tools
    assert "src/flask/app.py" in text


# dashboard targets that have no series on a healthy API (as in tests/test_monitoring.py)
MAY_BE_EMPTY = ("Errors (5xx) by route/A", "5xx ratio/A")


def test_prometheus_monitors_the_stack(stack: Stack, client: httpx.Client,
                                       indexed: dict[str, Any],
                                       pytestconfig: pytest.Config) -> None:
    """The stack's own Prometheus (no host port: asked from inside the API container): every
    scrape job up, the 7 alerts loaded and none firing, Alertmanager connected, every
    dashboard query accepted and answering."""
    say(pytestconfig, f"[stack] {mc.GRAFANA_NOTE}")

    def traffic() -> None:  # queries, twice for cache hits, and a 4xx; under the rate limit
        answers(client)
        answers(client)
        assert client.get("/api/v1/callers").status_code == 400

    def dashboard() -> dict[str, int]:
        traffic()  # rates over the last minute need requests in it
        return mc.check_dashboard_queries(prom.get, dash, MAY_BE_EMPTY)

    def quiet(states: dict[str, str]) -> dict[str, str]:
        assert set(states.values()) == {"inactive"}, f"alerts not inactive: {states}"
        return states

    traffic()
    dash = mc.load_dashboard()
    t0 = time.monotonic()
    with stackproc.PrometheusRelay(stack) as prom:
        try:
            health = mc.wait_for(lambda: mc.check_targets_up(prom.get), timeout=90)
            states = mc.wait_for(lambda: mc.check_rules_loaded(prom.get), timeout=30)
            mc.wait_for(lambda: mc.check_rule_metrics_exist(prom.get), timeout=60)
            mc.wait_for(lambda: mc.check_alertmanager_connected(prom.get), timeout=30)
            mc.check_template_variables(prom.get, dash)
            counts = mc.wait_for(dashboard, timeout=120, every=5)
            # right after Prometheus starts, an alert on a not yet scraped series may be
            # pending for a moment; on a healthy stack every one settles to inactive
            states = mc.wait_for(lambda: quiet(mc.check_rules_loaded(prom.get)), timeout=60)
        except AssertionError:
            say(pytestconfig, stack.logs("prometheus", tail=30))
            raise
    say(pytestconfig, f"[stack] Prometheus: targets {health}; {len(states)} alerts loaded, "
                      f"all inactive; {len(counts)} dashboard queries answering "
                      f"({time.monotonic() - t0:.1f} s)")


def heap_profile(stack: Stack, send: Callable[[], object]) -> str:
    """Send SIGUSR2 with ``send`` (to the indexer): the name of the heap profile that
    appeared in /app/logs (the codegraph_logs volume, writable by 65534 without any init
    service; the replicas have none)."""
    listing = ["/app/venv/bin/python", "-c",
               "import json, os; print(json.dumps(sorted(os.listdir('/app/logs'))))"]
    before = set(json.loads(stack.exec("codegraph-indexer", *listing, check=True).stdout))
    send()
    deadline = time.monotonic() + 30
    new: set[str] = set()
    while time.monotonic() < deadline and not new:
        time.sleep(0.5)
        now = json.loads(stack.exec("codegraph-indexer", *listing, check=True).stdout)
        new = {n for n in now if n.startswith("codegraph-heap-")} - before
    assert new, f"no heap profile in /app/logs:\n{stack.logs('codegraph-indexer', tail=20)}"
    (name,) = new
    head = stack.exec("codegraph-indexer", "/app/venv/bin/python", "-c",
                      f"print(open('/app/logs/{name}').readline())", check=True).stdout
    assert head.startswith("# CodeGraph heap profile"), head
    assert stack.health("codegraph-indexer") == "healthy"
    return name


def test_heap_profile_by_exec_keeps_the_restart_policy(stack: Stack) -> None:
    """SIGUSR2 sent from inside the container (the way docs/operations.md gives) writes a
    heap profile to /app/logs; the crash test that follows shows the restart policy still
    holds afterwards (test_heap_profile_by_compose_kill says why not `docker kill`)."""
    heap_profile(stack, lambda: stack.compose(
        "exec", "-T", "codegraph-indexer", "/app/venv/bin/python", "-c",
        "import os, signal; os.kill(1, signal.SIGUSR2)", timeout=60))


def api_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``r`` is an error in the API's shape (docs/server.md "Errors"), whoever answered."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json"), r.headers
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code and error["message"], error
    return error


def test_oversize_body_is_413(stack: Stack, client: httpx.Client) -> None:
    """Refused by nginx (client_max_body_size), in the API's JSON error shape."""
    r = client.post("/api/v1/repos", content=b"{" + b" " * 2_000_000 + b"}",
                    headers={"Content-Type": "application/json",
                             "X-API-Key": stack.env["CODEGRAPH_API_KEY"]})
    api_error(r, 413, "too_large")


def test_request_ids_pass_through_nginx(client: httpx.Client) -> None:
    """A client's valid X-Request-ID reaches the API and comes back (docs/server.md:
    "honoured if the client sends one"); an invalid one is replaced by nginx's own."""
    r = client.get("/health", headers={"X-Request-ID": "client-id.42_x"})
    assert r.headers["x-request-id"] == "client-id.42_x"
    r = client.get("/health", headers={"X-Request-ID": "bad id/with spaces"})
    assert r.headers["x-request-id"] != "bad id/with spaces"
    assert len(r.headers["x-request-id"]) == 32  # nginx's $request_id


def test_rate_limit_answers_429(stack: Stack, client: httpx.Client,
                                pytestconfig: pytest.Config) -> None:
    """A bounded burst (300 requests, 50 at a time) from one client: some are refused with
    429 by nginx, in the API's JSON error shape with a Retry-After; none fails with a 5xx."""
    async def burst() -> list[httpx.Response]:
        sem = asyncio.Semaphore(50)
        async with httpx.AsyncClient(base_url=stack.https, timeout=30,
                                     verify=ssl.create_default_context(cafile=stack.ca)) as c:
            async def one() -> httpx.Response:
                async with sem:
                    r = await c.get("/health")
                    await r.aread()
                    return r
            return list(await asyncio.gather(*(one() for _ in range(300))))

    replies = asyncio.run(asyncio.wait_for(burst(), 120))
    codes = [r.status_code for r in replies]
    limited = [r for r in replies if r.status_code == 429]
    if limited:
        api_error(limited[0], 429, "rate_limited")
        assert int(limited[0].headers["retry-after"]) >= 1
    say(pytestconfig, f"[stack] burst of 300: {codes.count(200)} x 200, "
                      f"{codes.count(429)} x 429")
    assert codes.count(429) > 0 and codes.count(200) > 0
    assert set(codes) <= {200, 429}, sorted(set(codes))
    time.sleep(3)  # the bucket refills (burst 40 at 20 r/s) before the next test


def test_api_crash_restarts_with_data_intact(stack: Stack, client: httpx.Client,
                                             indexed: dict[str, Any],
                                             pytestconfig: pytest.Config) -> None:
    """SIGKILL the indexer's process (a crash): its restart policy brings it back healthy,
    and the same queries get the same answers at the same revision. Meanwhile the replicas
    keep answering reads, and nginx answers for the indexer (502 in the API's shape). (`docker
    kill` itself counts as a manual stop to Docker 20.10: no policy restarts a container
    stopped that way.)"""
    before = answers(client)
    state = stack.inspect("codegraph-indexer")["State"]
    restarts = stack.inspect("codegraph-indexer")["RestartCount"]
    try:
        os.kill(int(state["Pid"]), signal.SIGKILL)
    except PermissionError:
        pytest.fail("killing the API's process needs root (the Docker host's)")
    deadline = time.monotonic() + 120
    down: list[httpx.Response] = []
    reads: list[int] = []
    while time.monotonic() < deadline:
        if not down:  # while the indexer is down, nginx answers for it (502, the API's shape)
            r = client.get("/api/v1/jobs")  # the indexer's
            if r.status_code != 200:
                down.append(r)
                reads.append(client.get("/api/v1/definition?symbol=Flask").status_code)
        data = stack.inspect("codegraph-indexer")
        if data["RestartCount"] > restarts and \
                (data["State"].get("Health") or {}).get("Status") == "healthy":
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"indexer not restarted and healthy:\n"
                             f"{stack.logs('codegraph-indexer')}")
    say(pytestconfig, f"[stack] indexer restarted after SIGKILL, healthy again in "
                      f"{120 - (deadline - time.monotonic()):.1f} s; meanwhile nginx "
                      f"answered {[r.status_code for r in down]} for it, the replicas "
                      f"{reads} to a read")
    assert down, "no request saw the indexer down"
    assert reads == [200], reads
    api_error(down[0], down[0].status_code, "unavailable")
    assert down[0].status_code in (502, 503, 504)
    assert answers(client) == before


def test_redis_down_api_keeps_answering(stack: Stack, client: httpx.Client,
                                        indexed: dict[str, Any]) -> None:
    stack.compose("stop", "redis", timeout=60)
    try:
        codes = []
        for i in range(40):  # bounded, paced under the rate limit
            r = client.get(f"/api/v1/callers?symbol=_endpoint_from_view_func&limit={i % 5 + 1}")
            codes.append(r.status_code)
            time.sleep(0.1)
        assert codes == [200] * 40, codes
        ready = client.get("/health/ready").json()
        assert ready["components"]["cache"]["status"] == "down"
    finally:
        stack.compose("start", "redis", timeout=60)
        stack.wait_healthy("redis", 60)
    assert client.get("/health").status_code == 200


def test_dev_certs(tmp_path: Path) -> None:
    """scripts/dev-certs.sh: a key and a certificate for localhost and 127.0.0.1 that
    verify a TLS connection; it refuses to overwrite them without --force."""
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed by scripts/dev-certs.sh and this test")
    script = ["bash", str(dockerproc.ROOT / "scripts/dev-certs.sh")]
    out = subprocess.run([*script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "tls.crt"), "-noout",
                           "-text"], capture_output=True, text=True, timeout=30).stdout
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    ssl.create_default_context(cafile=str(tmp_path / "tls.crt"))  # loads as a trust anchor
    before = (tmp_path / "tls.key").read_bytes()
    again = subprocess.run([*script, str(tmp_path)], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 1 and "--force" in again.stderr
    assert (tmp_path / "tls.key").read_bytes() == before
    forced = subprocess.run([*script, "--force", str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert forced.returncode == 0 and (tmp_path / "tls.key").read_bytes() != before
    bad = subprocess.run([*script, "--san", "nonsense", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "DNS:name or IP:addr" in bad.stderr



def test_heap_profile_by_compose_kill(stack: Stack, pytestconfig: pytest.Config) -> None:
    """`docker compose kill -s SIGUSR2 codegraph-indexer` writes a heap profile too. But Docker
    20.10 (Debian 12's docker.io, this machine's engine) marks a container sent any signal
    by `docker kill` as manually stopped: its restart policy is off until the next start
    (measured: a SIGKILLed process is not restarted). The backup test after this one
    recreates the stack; operators use the exec form (docs/operations.md)."""
    heap_profile(stack, lambda: stack.compose("kill", "-s", "SIGUSR2", "codegraph-indexer",
                                              timeout=60))
    say(pytestconfig, "[stack] `docker compose kill -s SIGUSR2` wrote a heap profile to "
                      "/app/logs (on Docker 20.10 it also turns the restart policy off "
                      "until the next start: use the exec form)")

# -- backup under load, wipe, restore (the last test of the module: it wipes the volumes) --
# Read queries for the load: every kind the service answers, with varied parameters so that
# the Redis cache does not answer them all. 16 r/s in total over 50 connections stays under
# nginx's per-client limit (20 r/s, burst 40; every host client has the same address).
LOAD_PATHS = [p for i in range(1, 6) for p in (
    f"/api/v1/definition?symbol=Flask&limit={i}",
    f"/api/v1/callers?symbol=_endpoint_from_view_func&limit={i}",
    f"/api/v1/search?query=endpoint%20from%20view%20function&mode=lexical&limit={i}",
    f"/api/v1/symbols?query=route&limit={i}",
    "/api/v1/stats")]
LOAD_RATE = 16.0
LOAD_CONNECTIONS = 50
BACKUPS = 3


def fresh_client(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.https, timeout=30,
                        verify=ssl.create_default_context(cafile=stack.ca))


def test_backup_under_load_then_wipe_and_restore(stack: Stack, indexed: dict[str, Any],
                                                 tmp_path: Path,
                                                 pytestconfig: pytest.Config) -> None:
    """scripts/backup.sh (3 times in a row) while a bounded client holds 50 connections of
    read queries through nginx over TLS: no request fails. Then `down -v` (every volume
    goes), up again, and scripts/restore.sh: the same answers at the same revision. A
    corrupt and a truncated archive are refused by restore.sh; the data stays as it was."""
    with fresh_client(stack) as c:
        before = answers(c)
    outdir = tmp_path / "backups"
    load = PacedLoad(stack.https, stack.ca, LOAD_PATHS, connections=LOAD_CONNECTIONS,
                     rate=LOAD_RATE, max_requests=3000, max_seconds=240)
    windows: list[tuple[float, float]] = []
    with load:
        opened = load.wait_connections(timeout=60)
        t0 = time.monotonic()
        # Flask's index backs up in well under a second: several backups one after the
        # other, so that the load has many requests in flight while one is being taken
        for _ in range(BACKUPS):
            started = time.monotonic()
            made = stack.script("backup.sh", str(outdir), timeout=300)
            windows.append((started, time.monotonic()))
            assert made.returncode == 0, made.stdout + made.stderr
            time.sleep(1.0)  # distinct archive names (their stamp has seconds)
        t1 = time.monotonic()
    archive = Path(made.stdout.strip().splitlines()[-1])
    assert archive.parent == outdir and archive.name.startswith("codegraph-data-")
    assert len(list(outdir.glob("codegraph-data-*.tar.gz"))) == BACKUPS
    everything = load.snapshot()
    during = [o for o in everything if any(o.in_flight(a, b) for a, b in windows)]
    times = [b - a for a, b in windows]
    say(pytestconfig, f"[backup] {LOAD_CONNECTIONS} connections open in {opened:.1f} s; "
                      f"{BACKUPS} x backup.sh under load: "
                      f"{', '.join(f'{x:.2f}' for x in times)} s; archive "
                      f"{archive.stat().st_size} bytes ({archive.name})")
    say(pytestconfig, f"[backup] in flight while a backup.sh ran ({sum(times):.2f} s of "
                      f"{t1 - t0:.1f} s): {summary(during)}")
    say(pytestconfig, f"[backup] whole load: {summary(everything)}")
    failed = [o for o in everything if not o.ok and not o.rate_limited]
    assert not failed, f"{len(failed)} requests failed: {failed[:5]}"
    assert len(during) >= LOAD_RATE * sum(times) * 0.5, "too little load during the backups"
    assert len(load.used_connections()) == LOAD_CONNECTIONS
    limited = [o for o in everything if o.rate_limited]
    if limited:  # nginx's limiter, recognised by its JSON code: say how many, and when
        in_backup = sum(1 for o in limited if o in during)
        say(pytestconfig, f"[backup] {len(limited)} x 429 from nginx's limit_req "
                          f"({in_backup} during the backup)")

    # wipe every volume, and see the index gone
    t = time.monotonic()
    stack.down()
    stack.up()
    with fresh_client(stack) as c:
        gone = c.get("/api/v1/definition?symbol=Flask")
        assert gone.status_code != 200 or not gone.json().get("results"), gone.text
    say(pytestconfig, f"[backup] down -v and up again: {time.monotonic() - t:.1f} s; "
                      f"the index is empty ({gone.status_code})")

    t = time.monotonic()
    restored = stack.script("restore.sh", str(archive), timeout=400)
    restore_s = time.monotonic() - t
    assert restored.returncode == 0, restored.stdout + restored.stderr
    with fresh_client(stack) as c:
        after = answers(c)
    say(pytestconfig, f"[backup] restore.sh took {restore_s:.1f} s (stop, verify and "
                      f"restore, start, healthy); revision {after['revision']} "
                      f"(before: {before['revision']})")
    assert after["revision"] == before["revision"]
    assert after == before

    # a corrupt archive (one byte flipped mid-file) and a truncated one (its first half)
    # are refused; the data stays as it was
    data = archive.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    for kind, content in (("corrupt", bytes(flipped)), ("truncated", data[:len(data) // 2])):
        bad = tmp_path / kind / archive.name
        bad.parent.mkdir()
        bad.write_bytes(content)
        bad.chmod(0o644)
        t = time.monotonic()
        started = stack.inspect("codegraph-indexer")["State"]["StartedAt"]
        refused = stack.script("restore.sh", str(bad), timeout=400)
        assert refused.returncode != 0, refused.stdout + refused.stderr
        assert "refused" in refused.stderr, refused.stderr
        # refused by the check beside the running service: it was never stopped
        assert stack.inspect("codegraph-indexer")["State"]["StartedAt"] == started, kind
        why = [line for line in refused.stderr.splitlines() if "refus" in line.lower()]
        say(pytestconfig, f"[backup] {kind} archive refused in {time.monotonic() - t:.1f} s: "
                          f"{' / '.join(why)[:300]}")
        with fresh_client(stack) as c:
            assert answers(c) == before, kind
