"""The development stack (issue 14, sections 2 and 6): docker-compose.dev.yml for real.

Every service but Grafana comes up healthy (Grafana's image cannot be obtained here and has
no Debian stand-in: it is left out, and the test says so); the development API indexes a
small repository mounted at /repos; an edit of the bind-mounted source (a copy of src/) is
picked up by hot reload; the notebook runs headless in the jupyter container and PostgreSQL
then holds the graph's nodes and edges; Adminer logs in to PostgreSQL; Redis Commander
signs in and reaches Redis; the development Prometheus scrapes the API.

Images: codegraph/api development from tests/dockerproc.py (pinned for this process); the
stand-ins (postgres:15, redis:7.0, adminer:4, rediscommander/redis-commander,
prom/prometheus) from scripts/offline-base-images.sh, which keeps the ones already built;
codegraph/jupyter built by compose once per content of deploy/jupyter (its tag names the
hash). Skipped, with the reason, only where no Docker engine or Compose v2 is reachable;
CODEGRAPH_REQUIRE_DOCKER=1 turns that into a failure. Unique project name, ports chosen by
Docker on 127.0.0.1, `down -v` always.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # (no stubs in the venv)

import dockerproc
import stackproc
from dockerproc import ROOT

pytestmark = pytest.mark.timeout(1800)

COMPOSE_FILE = ROOT / "docker-compose.dev.yml"
GRAFANA_WHY = ("grafana is excluded: no grafana/grafana image can be pulled on this machine "
               "and Debian packages no Grafana to build a stand-in from")
SERVICES = ("codegraph-api", "redis", "postgres", "jupyter", "adminer", "redis-commander",
            "prometheus")
SECRETS = ("REDIS_PASSWORD", "POSTGRES_PASSWORD", "JUPYTER_TOKEN", "CODEGRAPH_API_KEY",
           "CODEGRAPH_ADMIN_TOKEN", "REDIS_COMMANDER_PASSWORD", "GRAFANA_ADMIN_PASSWORD")
PORTS = ("API_PORT", "REDIS_PORT", "POSTGRES_PORT", "JUPYTER_PORT", "ADMINER_PORT",
         "REDIS_COMMANDER_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT")
OPENAPI_TEXT = '"Code graph, code search and code intelligence. Every "'


def compose_cmd(project: str, env_file: Path, *args: str, timeout: float = 300.0,
                check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [dockerproc.docker(), "compose", "-p", project, "--env-file", str(env_file),
           "-f", str(COMPOSE_FILE), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                         cwd=ROOT)
    if check and out.returncode != 0:
        raise AssertionError(f"docker compose {' '.join(args)}: exit {out.returncode}\n"
                             f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


# --- without Docker: the file's promises ---------------------------------------------------

def test_dev_compose_has_no_credentials_and_binds_loopback() -> None:
    text = COMPOSE_FILE.read_text()
    spec = yaml.safe_load(text)
    for name in SECRETS:  # each secret only ever as a required variable
        uses = re.findall(r"\$\{" + name + r"(:?[?-])?[^}]*\}", text)
        assert uses and all(u == ":?" for u in uses), (name, uses)
    for name, svc in spec["services"].items():
        assert "container_name" not in svc, name
        for port in svc.get("ports", []):
            assert str(port).startswith("${CODEGRAPH_BIND_ADDRESS:-127.0.0.1}:"), (name, port)
    api = spec["services"]["codegraph-api"]
    assert api["image"] == "codegraph/api:${CODEGRAPH_DEV_TAG:-development-latest}"
    assert "${CODEGRAPH_SRC:-./src}:/app/src" in api["volumes"]
    assert api["environment"]["HOT_RELOAD"] == "true"
    assert api["environment"]["DEBUG_MODE"] == "true"
    limits = api["deploy"]["resources"]
    assert limits["limits"]["memory"] == "2G" and "-2}" in limits["limits"]["cpus"]
    assert "-2}" in limits["reservations"]["cpus"]


def test_standin_recipes_cover_their_copied_files() -> None:
    """scripts/offline-base-images.sh rebuilds a stand-in when its Dockerfile changes, not
    when a file it COPYs does: the Dockerfiles carry those files' hash."""
    standins = ROOT / "deploy/standins"
    pg = (standins / "postgres/docker-entrypoint.sh").read_bytes()
    assert f"# entrypoint-sha256: {hashlib.sha256(pg).hexdigest()}" in \
        (standins / "postgres.Dockerfile").read_text()
    lock = b"".join((standins / "redis-commander" / f).read_bytes()
                    for f in ("package.json", "package-lock.json"))
    assert f"# lock-sha256: {hashlib.sha256(lock).hexdigest()}" in \
        (standins / "redis-commander.Dockerfile").read_text()
    packages = json.loads((standins / "redis-commander/package-lock.json").read_text())
    unpinned = [k for k, v in packages["packages"].items() if k and not v.get("integrity")]
    assert not unpinned, f"no integrity hash in the lock for {unpinned}"


# --- with Docker ----------------------------------------------------------------------------

@dataclass
class Stack:
    project: str
    env_file: Path
    env: dict[str, str]
    src: Path
    work: Path

    def compose(self, *args: str, timeout: float = 300.0,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        return compose_cmd(self.project, self.env_file, *args, timeout=timeout, check=check)

    def url(self, service: str, port: int) -> str:
        out = self.compose("port", service, str(port), timeout=60).stdout.strip()
        host, _, num = out.rpartition(":")
        assert host == "127.0.0.1", f"{service} published on {host}, not loopback only"
        return f"http://127.0.0.1:{int(num)}"

    def psql(self, sql: str) -> str:
        return self.compose("exec", "-T", "postgres", "psql", "-U", self.env["POSTGRES_USER"],
                            "-d", self.env["POSTGRES_DB"], "-v", "ON_ERROR_STOP=1", "-tA",
                            "-c", sql, timeout=60).stdout.strip()


def jupyter_tag() -> str:
    h = hashlib.sha256()
    for p in sorted((ROOT / "deploy/jupyter").glob("*")):
        if p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    return f"dev-{h.hexdigest()[:12]}"


def prune_jupyter_tags(keep: str) -> None:
    """Earlier trees' test builds of codegraph/jupyter, once a day old (a younger one may be
    in use by a run in another checkout: the engine is shared)."""
    listed = dockerproc.run("images", "--format", "{{.Tag}} {{.CreatedAt}}", "codegraph/jupyter",
                            timeout=60).stdout.splitlines()
    day_ago = time.time() - 86400
    stale = [f"codegraph/jupyter:{tag}" for tag, _, created in
             (line.partition(" ") for line in listed)
             if tag.startswith("dev-") and tag != keep and dockerproc._created(created) < day_ago]
    if stale:
        dockerproc.run("rmi", *stale, check=False, timeout=300)


def timed(label: str, seconds: float) -> None:
    print(f"dev stack: {label} in {seconds:.1f} s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    dockerproc.require(stackproc.compose_problem(),
                       "the dev stack test needs Docker with Compose v2")
    t0 = time.monotonic()
    pinned = dockerproc.pinned_images()
    timed("codegraph/api images ready", time.monotonic() - t0)
    t0 = time.monotonic()
    out = subprocess.run(["bash", "scripts/offline-base-images.sh"], cwd=ROOT, text=True,
                         capture_output=True, timeout=dockerproc.BUILD_TIMEOUT, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    timed("stand-ins ready (scripts/offline-base-images.sh)", time.monotonic() - t0)

    work = tmp_path_factory.mktemp("devstack")
    src = work / "src"  # a copy: the test edits it; 65534 in the container reads it
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    notebooks = work / "notebooks"
    shutil.copytree(ROOT / "deploy/jupyter/notebooks", notebooks)
    dockerproc.small_repo(work / "repos" / "smallrepo")
    for p in [work, *work.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    project = f"cgdev{uuid.uuid4().hex[:10]}"
    cpus = os.cpu_count() or 2
    env = {name: secrets.token_hex(12) for name in SECRETS}
    env |= {port: "0" for port in PORTS}  # Docker picks free ports (on 127.0.0.1)
    env |= {"POSTGRES_USER": "codegraph", "POSTGRES_DB": "codegraph",
            "CODEGRAPH_DEV_TAG": pinned["development"].partition(":")[2],
            "CODEGRAPH_JUPYTER_TAG": jupyter_tag(),
            # the spec's 4 CPUs / 2 reserved where the machine has them
            "CODEGRAPH_DEV_CPUS": str(min(4, cpus)),
            "CODEGRAPH_DEV_CPUS_RESERVED": str(min(2, cpus)),
            "CODEGRAPH_SRC": str(src), "CODEGRAPH_REPOS_DIR": str(work / "repos"),
            "CODEGRAPH_NOTEBOOKS_DIR": str(notebooks), "CODEGRAPH_EMBED": "false",
            # this machine's HTTPS passes a TLS-intercepting proxy; the lock's hashes still
            # check every file (deploy/jupyter/Dockerfile)
            "CODEGRAPH_PIP_TRUSTED_HOST": os.environ.get(
                "CODEGRAPH_PIP_TRUSTED_HOST", "pypi.org files.pythonhosted.org")}
    env_file = write_env(work / "dev.env", env)
    st = Stack(project, env_file, env, src, work)
    print(f"dev stack: project {project}; {GRAFANA_WHY}")
    try:
        if not dockerproc.image_exists(f"codegraph/jupyter:{env['CODEGRAPH_JUPYTER_TAG']}"):
            t0 = time.monotonic()
            st.compose("build", "jupyter", timeout=1200)
            timed("codegraph/jupyter built", time.monotonic() - t0)
            prune_jupyter_tags(keep=env["CODEGRAPH_JUPYTER_TAG"])
        t0 = time.monotonic()
        st.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "300", *SERVICES,
                   timeout=420)
        timed(f"{len(SERVICES)} services healthy from `up`", time.monotonic() - t0)
        yield st
    except BaseException:
        print(st.compose("logs", "--no-color", "--tail", "80", check=False, timeout=60).stdout)
        raise
    finally:
        st.compose("down", "-v", "--remove-orphans", "-t", "10", check=False, timeout=180)
        dockerproc.unpin_images(pinned)


def test_compose_config_passes_and_requires_the_secrets(stack: Stack) -> None:
    stack.compose("config", "-q", timeout=60)
    env = {k: v for k, v in stack.env.items() if k != "POSTGRES_PASSWORD"}
    missing = write_env(stack.work / "missing.env", env)
    out = compose_cmd(stack.project, missing, "config", "-q", timeout=60, check=False)
    assert out.returncode != 0 and "POSTGRES_PASSWORD" in out.stderr, out.stderr


def test_every_service_but_grafana_is_healthy(stack: Stack) -> None:
    print(GRAFANA_WHY)
    out = stack.compose("ps", "--format", "json", timeout=60).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):  # older compose: one JSON array
        rows = rows[0]
    health = {r["Service"]: (r.get("State"), r.get("Health")) for r in rows}
    assert set(health) == set(SERVICES), health
    assert all(h == ("running", "healthy") for h in health.values()), health
    for service, port in (("codegraph-api", 3000), ("postgres", 5432), ("jupyter", 8888),
                          ("adminer", 8080), ("redis-commander", 8081), ("prometheus", 9090),
                          ("redis", 6379)):
        stack.url(service, port)  # published, and on 127.0.0.1 only


def wait_json(client: httpx.Client, path: str, ok: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        r = client.get(path)
        if r.status_code == 200:
            last = r.json()
            if ok(last):
                return last
        time.sleep(0.5)
    raise AssertionError(f"GET {path}: not as expected within {timeout} s: {last}")


def test_api_indexes_a_repo_mounted_at_repos(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url("codegraph-api", 3000), timeout=30) as c:
        body = {"path": "/repos/smallrepo", "name": "smallrepo"}
        assert c.post("/api/v1/repos", json=body).status_code in (401, 403)  # key required
        r = c.post("/api/v1/repos", json=body,
                   headers={"X-API-Key": stack.env["CODEGRAPH_API_KEY"]})
        assert r.status_code in (200, 201, 202), r.text
        job = r.json()["job"]["id"]
        wait_json(c, f"/api/v1/jobs/{job}", lambda j: j["state"] == "done", timeout=120)
        callers = c.get("/api/v1/callers", params={"symbol": "pkg.core.parse_config"}).json()
        assert {x["qualified_name"] for x in callers["results"]} == \
            {"pkg.app.main", "pkg.core.Loader.load"}
        info = c.get("/debug/info").json()  # DEBUG_MODE=true opens it
        assert info["config"]["hot_reload"] is True


def test_notebook_exports_the_graph_into_postgres(stack: Stack) -> None:
    t0 = time.monotonic()
    out = stack.compose("exec", "-T", "jupyter", "jupyter", "nbconvert", "--to", "notebook",
                        "--execute", "--ExecutePreprocessor.timeout=300", "codegraph.ipynb",
                        "--output-dir", "/tmp/executed", timeout=420)
    timed("notebook executed (nbconvert)", time.monotonic() - t0)
    assert "Writing" in out.stderr, out.stderr[-2000:]
    with httpx.Client(base_url=stack.url("codegraph-api", 3000), timeout=30) as c:
        stats = c.get("/api/v1/stats", params={"repo": "smallrepo"}).json()
    nodes = int(stack.psql("SELECT count(*) FROM codegraph_nodes WHERE export_repo = 'smallrepo'"))
    calls = int(stack.psql("SELECT count(*) FROM codegraph_edges "
                           "WHERE repo = 'smallrepo' AND kind = 'calls'"))
    modules = int(stack.psql("SELECT count(*) FROM codegraph_modules WHERE repo = 'smallrepo'"))
    print(f"dev stack: PostgreSQL holds {nodes} nodes, {calls} call edges, {modules} modules")
    definitions = sum(n for k, n in stats["nodes_by_kind"].items() if k not in ("file", "module"))
    assert nodes >= definitions > 0
    assert calls == stats["edges_by_kind"]["calls"]  # every call edge of the index, exported
    assert modules == stats["nodes_by_kind"]["module"]
    top = stack.psql(  # the notebook's first example query
        "SELECT n.qualified_name || ' ' || count(DISTINCT e.source) FROM codegraph_edges e "
        "JOIN codegraph_nodes n ON n.export_repo = e.repo AND n.id = e.target "
        "WHERE e.kind = 'calls' GROUP BY n.qualified_name ORDER BY count(DISTINCT e.source) "
        "DESC, n.qualified_name LIMIT 1")
    assert top == "pkg.core.parse_config 2"


def test_adminer_logs_in_to_postgres(stack: Stack) -> None:
    user, db = stack.env["POSTGRES_USER"], stack.env["POSTGRES_DB"]
    with httpx.Client(base_url=stack.url("adminer", 8080), timeout=30,
                      follow_redirects=True) as c:
        assert "Login - Adminer" in c.get("/").text
        r = c.post(f"/?pgsql=postgres&username={user}&db={db}",
                   data={"auth[driver]": "pgsql", "auth[server]": "postgres",
                         "auth[username]": user, "auth[password]": stack.env["POSTGRES_PASSWORD"],
                         "auth[db]": db, "auth[permanent]": ""})
        assert r.status_code == 200 and "Schema: public" in r.text, r.text[-1500:]


def test_redis_commander_signs_in_and_reaches_redis(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url("redis-commander", 8081), timeout=30) as c:
        assert c.get("/").status_code == 200
        assert c.get("/apiv2/server/info").status_code == 401
        bad = c.post("/signin", data={"username": "admin", "password": "wrong"})
        assert bad.json().get("ok") is False
        ok = c.post("/signin", data={"username": "admin",
                                     "password": stack.env["REDIS_COMMANDER_PASSWORD"]}).json()
        info = c.get("/apiv2/server/info",
                     headers={"Authorization": f"Bearer {ok['bearerToken']}"}).json()
        fields = {f["key"]: f["value"] for f in info["data"][0]["info"]}
        assert fields["Redis version"].startswith("7."), fields


def test_no_secret_is_on_a_command_line(stack: Stack) -> None:
    """`docker top` (and ps on the host) shows every process's command line: Redis's
    password reaches redis-server through an include on its tmpfs and Redis Commander
    through NODE_CONFIG, never as an argument."""
    top = stack.compose("top", timeout=60).stdout
    assert "redis-server" in top and "redis-commander" in top, top
    leaked = [name for name in SECRETS if stack.env[name] in top]
    assert leaked == [], f"on a command line: {leaked}"


def test_every_service_runs_hardened(stack: Stack) -> None:
    """What the compose file asks, as the engine applied it: read-only root filesystem,
    no capability, no-new-privileges, a non-root user, pids and memory limits."""
    ids = stack.compose("ps", "-q", timeout=60).stdout.split()
    out = dockerproc.run("inspect", *ids, timeout=60).stdout
    seen = {}
    for c in json.loads(out):
        host = c["HostConfig"]
        seen[c["Config"]["Labels"]["com.docker.compose.service"]] = (
            host["ReadonlyRootfs"], host["CapDrop"], host["SecurityOpt"],
            c["Config"]["User"].split(":")[0] not in ("", "0", "root"),
            host["PidsLimit"] > 0, host["Memory"] > 0)
    expected = (True, ["ALL"], ["no-new-privileges:true"], True, True, True)
    assert seen == {s: expected for s in SERVICES}, seen


def test_prometheus_scrapes_the_api(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url("prometheus", 9090), timeout=30) as c:
        targets = wait_json(c, "/api/v1/targets", lambda t: {
            x["labels"]["job"]: x["health"] for x in t["data"]["activeTargets"]}.get(
                "codegraph-api") == "up", timeout=60)
        jobs = {x["labels"]["job"]: x["health"] for x in targets["data"]["activeTargets"]}
        assert jobs == {"codegraph-api": "up", "prometheus": "up"}, jobs


def test_hot_reload_picks_up_a_source_edit(stack: Stack) -> None:
    """Last: it restarts the API's server process."""
    openapi = stack.src / "codegraph/server/openapi.py"
    text = openapi.read_text()
    assert OPENAPI_TEXT in text, "the API description this test edits has moved"
    marker = f"hot-reload-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=stack.url("codegraph-api", 3000), timeout=10) as c:
        before = c.get("/debug/info").json()
        assert marker not in c.get("/openapi.json").text
        t0 = time.monotonic()
        openapi.write_text(text.replace(OPENAPI_TEXT, OPENAPI_TEXT.replace("intelligence.",
                                                                           f"{marker}.")))
        deadline = t0 + 60
        while time.monotonic() < deadline:
            try:
                if marker in c.get("/openapi.json").json()["info"]["description"]:
                    break
            except (httpx.HTTPError, ValueError):
                pass  # the server is between processes
            time.sleep(0.25)
        else:
            raise AssertionError(f"the edit was not served within 60 s:\n"
                                 f"{stack.compose('logs', '--tail', '40', 'codegraph-api').stdout}")
        timed("source edit served by the reloaded server", time.monotonic() - t0)
        after = c.get("/debug/info").json()
        assert after["pid"] != before["pid"]  # a new server process, not a cached answer
        assert after["uptime_seconds"] < before["uptime_seconds"]
        repos = c.get("/api/v1/repos").json()["results"]  # the index survives the reload
        assert [r["name"] for r in repos] == ["smallrepo"]
        assert repos[0]["watching"] is True  # and so does watching the registered repo
    logs = stack.compose("logs", "--no-color", "codegraph-api", timeout=60).stdout
    assert "Reloading" in logs
