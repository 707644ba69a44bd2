"""Part of bench/bench_scale.py: the production stack (indexer, replicas, Redis, nginx) with
1, 2 and 3 replicas of codegraph-api in one run, loaded through nginx over HTTPS by wrk.

The indexer indexes and embeds the corpus (mounted read-only at /repos). An override file
turns the query cache off in the replicas (no Redis URL, no local entries: every request
reaches a replica) and lifts nginx's per-client rate limit (as bench_stack.py does: every
wrk connection comes from one address). wrk rotates through real requests with a Lua
script: definitions of symbols the corpus defines, and hybrid searches of a few phrases.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

import dockerproc
from bench_stack import CONNECTIONS, RATELIMIT, median_run, wrk
from stackproc import Stack

SERVICES = ("codegraph-indexer", "codegraph-api", "redis", "nginx")
OVERRIDE = """\
services:
  codegraph-api:
    environment:
      REDIS_URL: ""
      CODEGRAPH_CACHE_LOCAL_ENTRIES: "0"
  nginx:
    volumes:
      - {ratelimit}:/etc/nginx/ratelimit.conf:ro
"""
FILES = ("src/flask/app.py", "src/flask/helpers.py", "src/flask/sansio/scaffold.py")
PHRASES = ("send a file to the client", "register a blueprint", "url for an endpoint",
           "load configuration from a file", "handle an exception", "flash a message",
           "json response", "teardown the application context", "stream a template",
           "test client request")
LUA = """\
local paths = {{{paths}}}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def through_nginx(tree: Path, work: Path, *, embed: bool, duration: int,
                  counts: tuple[int, ...]) -> dict[str, Any]:
    work.mkdir(parents=True)
    work.chmod(0o755)
    repos = work / "repos"
    shutil.copytree(tree, repos / "corpus")
    subprocess.run(["chmod", "-R", "a+rX", str(repos)], check=True)  # (uid 65534 reads it)
    (work / "ratelimit.conf").write_text(RATELIMIT)
    override = work / "scale.override.yml"
    override.write_text(OVERRIDE.format(ratelimit=work / "ratelimit.conf"))
    images = dockerproc.pinned_images()
    rows: list[dict[str, Any]] = []
    try:
        with Stack(tag=images["optimized"], repos_dir=repos, workdir=work / "stack",
                   services=SERVICES, overrides=[override],
                   extra_env={"CODEGRAPH_REPOS": "/repos/corpus",
                              "CODEGRAPH_EMBED": "1" if embed else "0"}) as st:
            base = st.https
            ready = wait_indexed(base, st.ca, embed)
            lookups = [f"/api/v1/definition?symbol={name}" for name in names(base, st.ca)]
            searches = [f"/api/v1/search?query={p.replace(' ', '+')}&mode=hybrid"
                        for p in PHRASES]
            scripts = {"lookup": script(work, "lookup", lookups),
                       "hybrid": script(work, "hybrid", searches)}
            for n in counts:
                scale(st, n)
                for path, lua in scripts.items():
                    runs, cpu = [], {"codegraph-api": 0.0, "nginx": 0.0}
                    for _ in range(2):
                        before = cpu_by_service(st)
                        runs.append(wrk(f"{base}/", duration, script=lua))
                        after = cpu_by_service(st)
                        for service in cpu:
                            cpu[service] += after[service] - before[service]
                    requests = sum(r["rps"] * duration for r in runs)
                    rows.append({"path": path, "replicas": n, **median_run(runs),
                                 "cpu_ms_per_request": {
                                     k: round(v * 1000 / requests, 3) for k, v in cpu.items()}})
    finally:
        dockerproc.unpin_images(images)
    return {"connections": CONNECTIONS, "duration_s": duration, "index_seconds": ready,
            "lookups": len(lookups), "searches": len(searches), "rows": rows}


def cpu_seconds(container: str) -> float:
    """CPU time the container has used: its cgroup's counter (v1 cpuacct, or v2 cpu.stat)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat")
    for line in v2.read_text().splitlines():
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1e6
    raise RuntimeError(f"no CPU counter for container {container}")


def cpu_by_service(st: Stack) -> dict[str, float]:
    out = {}
    for service in ("codegraph-api", "nginx"):
        ids = st.compose("ps", "-q", service, timeout=60).stdout.split()
        out[service] = sum(cpu_seconds(dockerproc.inspect(i)["Id"]) for i in ids)
    return out


def wait_indexed(base: str, ca: str, embed: bool, timeout: float = 1800.0) -> float:
    """Seconds until the replicas serve the whole corpus (and its embeddings)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        r = httpx.get(f"{base}/api/v1/stats", verify=ca, timeout=30)
        if r.status_code == 200:
            s = r.json()
            cover = s.get("search", {})
            if s.get("files", 0) > 0 and (not embed or 0 < cover.get("chunks", 0)
                                          <= cover.get("embedded", 0)):
                return round(time.monotonic() - t0, 1)
        time.sleep(2)
    raise RuntimeError(f"the replicas did not serve the indexed corpus in {timeout} s")


def names(base: str, ca: str) -> list[str]:
    """Qualified names of definitions in a few files of the corpus."""
    out: list[str] = []
    for file in FILES:
        r = httpx.get(f"{base}/api/v1/outline", params={"file": file, "limit": 200},
                      verify=ca, timeout=30)
        r.raise_for_status()
        out += [item["qualified_name"] for item in r.json()["results"]
                if item.get("kind") in ("function", "method", "class")]
    if len(out) < 20:
        raise RuntimeError(f"too few definitions to look up: {out}")
    return sorted(set(out))[:200]


def script(work: Path, name: str, paths: list[str]) -> Path:
    path = work / f"{name}.lua"
    path.write_text(LUA.format(paths=", ".join(f'"{p}"' for p in paths)))
    return path


def scale(st: Stack, n: int) -> None:
    st.compose("up", "-d", "--wait", "--no-recreate", "--scale", f"codegraph-api={n}",
               *SERVICES, timeout=600)
    time.sleep(3)  # nginx's resolver keeps answers 2 s: let it see the new set


def speedup(rows: list[dict[str, Any]], path: str) -> dict[int, float]:
    one = statistics.median(r["rps"] for r in rows if r["path"] == path and r["replicas"] == 1)
    return {r["replicas"]: round(r["rps"] / one, 2) for r in rows if r["path"] == path}
