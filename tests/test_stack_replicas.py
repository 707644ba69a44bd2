"""The production stack with read-only replicas (issue 15), under Compose: one indexer,
three replicas (``codegraph-api``) behind nginx, reached on 127.0.0.1 over TLS.

The loads are tests/stackload.py's: bounded in count and time, 100 connections, paced.
nginx gets the test's rate limits (stackproc.TEST_RATELIMIT, an override file): every
request comes from this host's one address, and the limiter is tested elsewhere. Skipped,
with the reason, only where no Docker engine or Compose v2 is available;
CODEGRAPH_REQUIRE_DOCKER=1 (set by CI) turns that into a failure. The stack is torn down
(`down -v --remove-orphans`) whatever happens.
"""

from __future__ import annotations

import hashlib
import os
import signal
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import dockerproc
import stackproc
from stackload import Outcome, PacedLoad, summary
from stackproc import PrometheusRelay, Stack, say

pytestmark = pytest.mark.timeout(900)

REPLICAS = 3
CONNECTIONS = 100
RATE = 100.0  # requests per second, in total
MARKERS = "pkg/markers.py"
QUERY = "/api/v1/symbols?query=marker_&limit=50"


def markers_source(n: int) -> str:
    return "".join(f"def marker_{k}():\n    return {k}\n\n\n" for k in range(n + 1))


images = pytest.fixture(scope="module")(stackproc.stack_images)


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("replica-repos")
    demo = dockerproc.small_repo(base / "demo")
    (demo / MARKERS).write_text(markers_source(0))
    for path in [base, demo / MARKERS]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return base


@pytest.fixture(scope="module")
def stack(images: dict[str, str], repos: Path, tmp_path_factory: pytest.TempPathFactory,
          pytestconfig: pytest.Config) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("replica-stack")
    (work / "ratelimit.conf").write_text(stackproc.TEST_RATELIMIT)
    (work / "ratelimit.conf").chmod(0o644)
    override = work / "test-override.yml"
    override.write_text("services:\n  nginx:\n    volumes:\n"
                        f"      - {work / 'ratelimit.conf'}:/etc/nginx/ratelimit.conf:ro\n")
    st = Stack(tag=images["optimized"], repos_dir=repos, workdir=work, overrides=[override],
               services=("codegraph-indexer", "codegraph-api", "redis", "nginx",
                         "prometheus"),
               extra_env={"CODEGRAPH_REPOS": "/repos/demo", "CODEGRAPH_SNAPSHOT_POLL": "0.5",
                          "CODEGRAPH_PUBLISH_INTERVAL": "0.5"})
    with st:
        say(pytestconfig, f"\n[replicas] {st.project}: {', '.join(st.services)} healthy in "
                          f"{st.up_seconds:.1f} s ({len(st.containers('codegraph-api'))} "
                          f"replicas)")
        yield st


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.https, timeout=30,
                      verify=ssl.create_default_context(cafile=stack.ca)) as c:
        yield c


def marker_names(r: httpx.Response) -> list[str]:
    names = {str(x.get("name", "")) for x in r.json().get("results", [])}
    return sorted(n for n in names if n.startswith("marker_"))


def note(r: httpx.Response) -> str:
    """'<X-CodeGraph-Revision> <the marker functions in the body>' of a 200."""
    if r.status_code != 200:
        return ""
    return f"{r.headers.get('x-codegraph-revision')} {','.join(marker_names(r))}"


def wait_for_markers(client: httpx.Client, n: int, timeout: float = 60.0) -> str:
    """Until 12 answers in a row (spread over the replicas) list marker_0..marker_n: the
    revision they had."""
    want = [f"marker_{k}" for k in range(n + 1)]
    deadline = time.monotonic() + timeout
    streak, last = 0, ""
    while time.monotonic() < deadline and streak < 12:
        r = client.get(QUERY)
        ok = r.status_code == 200 and marker_names(r) == want
        streak = streak + 1 if ok else 0
        last = f"{r.status_code} {r.headers.get('x-codegraph-revision')} {r.text[:200]}"
        time.sleep(0.05)
    assert streak >= 12, f"the replicas do not all serve marker_0..{n}: last answer {last}"
    return r.headers["x-codegraph-revision"]


def ips(stack: Stack, service: str) -> dict[str, str]:
    """container id -> its address on the frontend network."""
    out = {}
    for cid in stack.containers(service):
        nets = dockerproc.inspect(cid)["NetworkSettings"]["Networks"]
        (addr,) = [n["IPAddress"] for name, n in nets.items()
                   if name.endswith("codegraph_network")]
        out[cid] = addr
    return out


def upstreams(stack: Stack, since: float, prefix: str) -> list[str]:
    """The upstream address of every request of ``prefix`` (its X-Request-ID) in nginx's
    access log."""
    nginx = stack.container("nginx")
    return [e["upstream"].rpartition(":")[0] for e in stackproc.nginx_log(nginx, since)
            if e["request_id"].startswith(prefix)]


def test_scaled_replicas_behind_nginx(stack: Stack, client: httpx.Client,
                                      pytestconfig: pytest.Config) -> None:
    """`up --scale codegraph-api=3`: the third replica is found by nginx (Docker's DNS, no
    nginx restart) and reads are spread over all three; writes and jobs go to the indexer.
    The data volume is read-only in every replica, read-write in the indexer only."""
    wait_for_markers(client, 0)
    t = time.monotonic()
    stack.compose("up", "-d", "--wait", "--no-recreate", "--scale",
                  f"codegraph-api={REPLICAS}", "codegraph-api", timeout=300)
    scaled = time.monotonic() - t
    replicas = ips(stack, "codegraph-api")
    assert len(replicas) == REPLICAS
    since = time.time() - 1
    time.sleep(2.5)  # nginx's cached answer for codegraph-api (valid=2s) expires
    for i in range(60):
        r = client.get("/api/v1/stats", headers={"X-Request-ID": f"spread-{i}"})
        assert r.status_code == 200, r.text
    job = client.post("/api/v1/jobs", json={"repo": "demo"},
                      headers={"X-API-Key": stack.env["CODEGRAPH_API_KEY"],
                               "X-Request-ID": "write-1"})
    assert job.status_code in (200, 201, 202), job.text
    job_id = job.json().get("job", job.json())["id"]
    got = client.get(f"/api/v1/jobs/{job_id}", headers={"X-Request-ID": "write-2"})
    assert got.status_code == 200, got.text
    time.sleep(1.5)  # nginx's access log buffer (flush=1s)
    seen = upstreams(stack, since, "spread-")
    assert len(seen) == 60 and set(seen) == set(replicas.values()), (seen, replicas)
    indexer = set(ips(stack, "codegraph-indexer").values())
    assert set(upstreams(stack, since, "write-")) == indexer
    counts = {a: seen.count(a) for a in sorted(set(seen))}
    say(pytestconfig, f"[replicas] scaled to {REPLICAS} in {scaled:.1f} s; 60 reads spread "
                      f"over the replicas {counts}; POST and GET /api/v1/jobs on the indexer")
    for cid in replicas:
        data = dockerproc.inspect(cid)
        mounts = {m["Destination"]: m for m in data["Mounts"]}
        assert mounts["/app/data"]["RW"] is False, mounts["/app/data"]
        assert "/app/backups" not in mounts
        host = data["HostConfig"]
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
        assert data["Config"]["User"] == "65534:65534"
    (indexer_id,) = stack.containers("codegraph-indexer")
    mounts = {m["Destination"]: m for m in dockerproc.inspect(indexer_id)["Mounts"]}
    assert mounts["/app/data"]["RW"] is True and mounts["/app/backups"]["RW"] is True


def check_revisions(outcomes: list[Outcome]) -> dict[int, str]:
    """Every answer of one revision has the same markers, and a later revision has no fewer:
    revision -> markers."""
    by_rev: dict[int, set[str]] = {}
    for o in outcomes:
        assert o.note, o
        rev, _, names = o.note.partition(" ")
        by_rev.setdefault(int(rev), set()).add(names)
    mixed = {rev: names for rev, names in by_rev.items() if len(names) > 1}
    assert not mixed, f"one revision, different answers: {mixed}"
    seen = {rev: names.pop() for rev, names in sorted(by_rev.items())}
    counts = [len(v.split(",")) for v in seen.values()]
    assert counts == sorted(counts), f"a later revision lost markers: {seen}"
    return seen


def test_snapshot_switch_under_load(stack: Stack, client: httpx.Client, repos: Path,
                                    pytestconfig: pytest.Config) -> None:
    """Four edits of a file the indexer watches while 100 connections query it through
    nginx: each edit is a new snapshot the three replicas switch to. No request fails, and
    no answer mixes two revisions: every answer with one X-CodeGraph-Revision lists the
    same marker functions, and later revisions list more."""
    start = wait_for_markers(client, 0)
    load = PacedLoad(stack.https, stack.ca, [QUERY], connections=CONNECTIONS, rate=RATE,
                     max_requests=6000, max_seconds=90, note=note)
    edits = 4
    t0 = time.monotonic()
    with load:
        opened = load.wait_connections(timeout=60)
        for n in range(1, edits + 1):
            (repos / "demo" / MARKERS).write_text(markers_source(n))
            time.sleep(2.5)
        final = wait_for_markers(client, edits)
        time.sleep(1)
    outcomes = load.snapshot()
    failed = [o for o in outcomes if not o.ok]
    seen = check_revisions([o for o in outcomes if o.ok])
    say(pytestconfig, f"[replicas] snapshot switch: {CONNECTIONS} connections open in "
                      f"{opened:.1f} s; revisions {start} -> {final} over "
                      f"{time.monotonic() - t0:.1f} s; {summary(outcomes)}; answers by "
                      f"revision: { {r: len(m.split(',')) for r, m in seen.items()} }")
    assert not failed, f"{len(failed)} requests failed: {failed[:5]}"
    assert len(load.used_connections()) == CONNECTIONS
    assert len(seen) >= 3, f"too few revisions seen under load: {seen}"
    assert seen[int(final)].count("marker_") == edits + 1


def data_dir(stack: Stack) -> Path:
    out = dockerproc.run("volume", "inspect", "--format", "{{.Mountpoint}}",
                         f"{stack.project}_codegraph_data", timeout=30)
    return Path(out.stdout.strip())


def digest(root: Path) -> tuple[str, int]:
    """sha256 over every file's path, size, mtime and content under ``root``: the digest and
    the number of files."""
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest(), len(files)


def test_replicas_never_write(stack: Stack, client: httpx.Client,
                              pytestconfig: pytest.Config) -> None:
    """With the indexer idle, 20 s of reads through nginx leave the snapshot the replicas
    serve exactly as it was: the same files, sizes, mtimes and contents."""
    snapshots = data_dir(stack) / "snapshots"
    current = (snapshots / "current").read_text().strip()
    served = {client.get("/health/ready").json().get("snapshot") for _ in range(12)}
    assert served == {current}, (served, current)
    before, files = digest(snapshots / current)
    paths = [QUERY, "/api/v1/stats", "/api/v1/definition?symbol=parse_config",
             "/api/v1/callers?symbol=parse_config", "/api/v1/symbols?query=Loader",
             "/api/v1/search?query=configuration&mode=lexical"]
    load = PacedLoad(stack.https, stack.ca, paths, connections=50, rate=RATE,
                     max_requests=2000, max_seconds=20)
    with load:
        time.sleep(20)
    outcomes = load.snapshot()
    after, _ = digest(snapshots / current)
    assert (snapshots / "current").read_text().strip() == current
    say(pytestconfig, f"[replicas] snapshot {current} ({files} files) unchanged by "
                      f"{summary(outcomes)}")
    assert before == after
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok][:5]


def test_kill_one_replica_under_load(stack: Stack, pytestconfig: pytest.Config) -> None:
    """SIGKILL one replica's process (from the host: `docker kill` would turn its restart
    policy off on Docker 20.10) while 100 connections read through nginx: under 1% of the
    requests fail, and the restart policy brings the replica back healthy."""
    victim = stack.containers("codegraph-api")[0]
    before = dockerproc.inspect(victim)
    load = PacedLoad(stack.https, stack.ca, [QUERY, "/api/v1/stats"],
                     connections=CONNECTIONS, rate=RATE, max_requests=8000, max_seconds=120)
    with load:
        load.wait_connections(timeout=60)
        time.sleep(2)
        killed = time.monotonic()
        try:
            os.kill(int(before["State"]["Pid"]), signal.SIGKILL)
        except PermissionError:
            pytest.fail("killing a replica's process needs root (the Docker host's)")
        deadline = killed + 90
        while time.monotonic() < deadline:
            data = dockerproc.inspect(victim)
            if data["RestartCount"] > before["RestartCount"] and \
                    (data["State"].get("Health") or {}).get("Status") == "healthy":
                break
            time.sleep(0.25)
        else:
            raise AssertionError(f"the replica was not restarted healthy:\n"
                                 f"{dockerproc.run('logs', '--tail', '30', victim).stderr}")
        back = time.monotonic() - killed
        time.sleep(3)
    outcomes = load.snapshot()
    failed = [o for o in outcomes if not o.ok]
    say(pytestconfig, f"[replicas] one of {REPLICAS} replicas SIGKILLed under load: back "
                      f"healthy in {back:.1f} s (restart policy "
                      f"{before['HostConfig']['RestartPolicy']['Name']}); {summary(outcomes)}")
    if failed:
        say(pytestconfig, f"[replicas] failures: {[o.status or o.error for o in failed][:5]}")
    assert len(failed) < 0.01 * len(outcomes), f"{len(failed)} of {len(outcomes)} failed"


def test_prometheus_scrapes_every_replica(stack: Stack, pytestconfig: pytest.Config) -> None:
    """Prometheus finds the indexer and each replica through Docker's DNS (dns_sd_configs):
    one target per container in job codegraph-api, labelled with its role, all up."""
    want = {a: "replica" for a in ips(stack, "codegraph-api").values()}
    want.update({a: "indexer" for a in ips(stack, "codegraph-indexer").values()})

    def targets(get: Any) -> dict[str, tuple[str, str]]:
        active = get("/api/v1/targets?state=active")["data"]["activeTargets"]
        return {t["labels"]["instance"].rpartition(":")[0]: (t["labels"].get("role", "?"),
                                                               t["health"])
                for t in active if t["labels"]["job"] == "codegraph-api"}

    t0 = time.monotonic()
    got: dict[str, tuple[str, str]] = {}
    with PrometheusRelay(stack) as prom:
        # the backend-network addresses differ from the frontend ones: compare by count
        # and role, then every target up
        while time.monotonic() - t0 < 90:
            got = targets(prom.get)
            roles = sorted(r for r, _ in got.values())
            if roles == sorted(want.values()) and {h for _, h in got.values()} == {"up"}:
                break
            time.sleep(2)
    say(pytestconfig, f"[replicas] Prometheus targets of job codegraph-api after "
                      f"{time.monotonic() - t0:.1f} s: {got}")
    assert sorted(r for r, _ in got.values()) == sorted(want.values()), got
    assert {h for _, h in got.values()} == {"up"}, got
