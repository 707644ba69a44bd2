"""Monitoring (issue 14): Prometheus config and alert rules, Alertmanager, Grafana, log shipping.

- Offline: the rules' names/labels/annotations, runbook anchors in docs/operations.md, the
  Grafana provisioning and dashboard JSON, the Vector config, the data-volume gauges.
- In the real images (prom/prometheus:v2.42.0 and prom/alertmanager:v0.25.0, Debian
  stand-ins from scripts/offline-base-images.sh): `promtool check config`, `promtool test
  rules`, `amtool check-config` (the default receiver and the commented email / Slack ones).
- Live: Prometheus with our prometheus.yml and rules, scraping a real CodeGraph API container
  (the optimized image), node-exporter and Alertmanager on a network made for the run: every
  target up, the 7 alerts loaded and none firing, every dashboard query accepted and
  answering. Grafana is not run (no image can be had): the output says so.

Docker tests are skipped, loudly, only without an engine; CODEGRAPH_REQUIRE_DOCKER=1 fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # (PyYAML, via schemathesis; no stubs)

import dockerproc
import monitoring_checks as mc
from codegraph.server import metrics
from dockerproc import ROOT, Container

pytestmark = pytest.mark.timeout(900)

PROMETHEUS = "prom/prometheus:v2.42.0"
ALERTMANAGER = "prom/alertmanager:v0.25.0"
NODE_EXPORTER = "prom/node-exporter:v1.5.0"
PROM_DIR = ROOT / "deploy" / "prometheus"
AM_FILE = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
# dashboard targets that have no series on a healthy, lightly used API
MAY_BE_EMPTY = ("Errors (5xx) by route/A", "5xx ratio/A")


# -- offline ---------------------------------------------------------------------------------
def test_alert_rules_follow_the_contract() -> None:
    mc.check_alert_rules()
    mc.check_runbooks()
    cover = mc.check_rule_tests_cover(sorted((PROM_DIR / "tests").glob("*.yml")))
    print("rule unit tests (fire, quiet) per alert:", cover)


def test_prometheus_config_scrapes_the_contract_jobs() -> None:
    conf = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
    assert set(jobs) == set(mc.JOBS)
    api = jobs["codegraph-api"]
    # every task of the indexer and of the replicas, found through Docker's DNS
    (sd,) = api["dns_sd_configs"]
    assert sd["names"] == ["codegraph-indexer", "codegraph-api"]
    assert sd["type"] == "A" and sd["port"] == 9090
    roles = {r["regex"]: r["replacement"] for r in api["relabel_configs"]
             if r.get("target_label") == "role"}
    assert roles == {"codegraph-indexer": "indexer", "codegraph-api": "replica"}
    assert api["metrics_path"] == "/metrics" and api["scrape_interval"] == "15s"
    assert jobs["node-exporter"]["static_configs"][0]["targets"] == ["node-exporter:9100"]
    assert conf["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]


def loud(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Print past pytest's capture: these notes belong in every run's output."""
    with capsys.disabled():
        print(f"\n{text}")


def test_grafana_files_offline(capsys: pytest.CaptureFixture[str]) -> None:
    mc.check_grafana_provisioning()
    dash = mc.load_dashboard()
    mc.check_dashboard(dash)
    text = " ".join(q for _, _, q in mc.dashboard_queries(dash))
    for needed in ("codegraph_http_requests_total", "histogram_quantile(0.5,",
                   "histogram_quantile(0.95,", "histogram_quantile(0.99,",
                   "codegraph_index_revision_age_seconds", "codegraph_index_files",
                   "codegraph_index_nodes", "codegraph_index_edges",
                   "codegraph_search_embedding_coverage_ratio", "codegraph_cache_requests_total",
                   "process_resident_memory_bytes", "rate(process_cpu_seconds_total",
                   "codegraph_container_memory_bytes",
                   "rate(codegraph_container_cpu_seconds_total",
                   "changes(process_start_time_seconds", "node_cpu_seconds_total",
                   "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes",
                   "node_network_receive_bytes_total", "codegraph_data_volume_free_bytes"):
        assert needed in text, f"the dashboard has no panel with {needed}"
    loud(capsys, mc.GRAFANA_NOTE)


def test_vector_log_shipping_config_parses(capsys: pytest.CaptureFixture[str]) -> None:
    """Vector is not obtainable here (no Debian or PyPI package): its config is checked as
    far as can be offline: YAML parses, every component has a type, every ``inputs`` names
    a component defined earlier in the pipeline, and the source reads Docker's json-file
    logs of the stack."""
    conf = yaml.safe_load((ROOT / "deploy" / "logging" / "vector.yaml").read_text())
    defined: set[str] = set()
    for section in ("sources", "transforms", "sinks"):
        for name, comp in conf[section].items():
            assert comp.get("type"), f"{section}.{name} has no type"
            for inp in comp.get("inputs", []):
                assert inp in defined, f"{section}.{name}: unknown input {inp}"
            defined.add(name)
    assert any(c["type"] == "docker_logs" for c in conf["sources"].values())
    assert conf["sinks"], "no sink"
    loud(capsys, "NOTE: deploy/logging/vector.yaml was checked offline only (YAML, component "
         "graph); Vector itself is not obtainable on this machine.")


def test_data_volume_gauges(tmp_path: Path) -> None:
    fams = {f.name: f.samples[0] for f in metrics.volume_gauges(str(tmp_path))}
    st = os.statvfs(tmp_path)
    size = fams["codegraph_data_volume_size_bytes"]
    free = fams["codegraph_data_volume_free_bytes"]
    assert size.labels == free.labels == {"path": str(tmp_path)}
    assert size.value == st.f_blocks * st.f_frsize > 0
    # free space moves with other writers on the machine: within 64 MiB of our own statvfs
    assert abs(free.value - st.f_bavail * st.f_frsize) < 64 * 2**20
    assert 0 < free.value <= size.value
    assert list(metrics.volume_gauges(str(tmp_path / "missing"))) == []


def _cgroup(root: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return str(root)


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.stat": "usage_usec 2500000\nuser_usec 2000000\n", "memory.current": "300000000\n",
      "memory.stat": "anon 1\ninactive_file 100000000\n", "memory.max": "1073741824\n"},
     {"cpu_seconds": 2.5, "memory_bytes": 200e6, "memory_limit_bytes": 1073741824.0}),
    ({"cpu.stat": "usage_usec 1000000\n", "memory.current": "5000\n", "memory.max": "max\n"},
     {"cpu_seconds": 1.0, "memory_bytes": 5000.0}),  # v2, no limit
    ({"cpuacct/cpuacct.usage": "3000000000\n", "memory/memory.usage_in_bytes": "400000000\n",
      "memory/memory.stat": "cache 5\ntotal_inactive_file 150000000\n",
      "memory/memory.limit_in_bytes": "1073741824\n"},
     {"cpu_seconds": 3.0, "memory_bytes": 250e6, "memory_limit_bytes": 1073741824.0}),  # v1
    ({"cpu,cpuacct/cpuacct.usage": "1000\n",
      "memory/memory.limit_in_bytes": "9223372036854771712\n"},
     {"cpu_seconds": 0.000001}),  # v1, no memory reading, no limit
    ({}, {}),  # no cgroup file system: no series rather than zeros
])
def test_container_gauges_read_the_cgroup(tmp_path: Path, files: dict[str, str],
                                          expected: dict[str, float]) -> None:
    root = _cgroup(tmp_path, files)
    assert metrics.container_usage(root) == expected
    names = {f.name for f in metrics.container_gauges(root)}
    assert ("codegraph_container_cpu_seconds" in names) == ("cpu_seconds" in expected)
    assert ("codegraph_container_memory_bytes" in names) == ("memory_bytes" in expected)


def test_container_cpu_counts_child_processes() -> None:
    """Unlike process_cpu_seconds_total (PID 1 only), the container's figure includes the
    CPU of child processes (the indexer's parser pool): here, this very cgroup's."""
    before = metrics.container_usage()["cpu_seconds"]
    own = os.times()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True,
                   timeout=60)
    used = metrics.container_usage()["cpu_seconds"] - before
    child = os.times().children_user + os.times().children_system - (
        own.children_user + own.children_system)
    assert child > 0.05 and used >= child * 0.9, (used, child)


# -- in the real Prometheus / Alertmanager images ---------------------------------------------
@pytest.fixture(scope="module")
def engine() -> None:
    dockerproc.require(dockerproc.engine_problem(),
                       "monitoring container tests need a Docker engine")
    if not all(dockerproc.image_exists(i) for i in (PROMETHEUS, ALERTMANAGER, NODE_EXPORTER)):
        out = subprocess.run(["bash", "scripts/offline-base-images.sh"], cwd=ROOT,
                             capture_output=True, text=True, timeout=1800, check=False)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def tool(image: str, entry: str, *args: str, mounts: dict[Path, str],
         workdir: str = "/") -> str:
    """Run one of the image's tools with ``mounts`` read-only; its output; fails on error."""
    vols = [a for src, dst in mounts.items() for a in ("-v", f"{src}:{dst}:ro")]
    out = dockerproc.run("run", "--rm", "--network", "none", "--read-only", "--cap-drop",
                         "ALL", "--tmpfs", "/tmp", "-w", workdir, *vols, "--entrypoint", entry,
                         image, *args, check=False, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 0, f"{entry} {' '.join(args)} failed ({out.returncode}):\n{text}"
    return text


def test_promtool_check_config(engine: None) -> None:
    text = tool(PROMETHEUS, "/bin/promtool", "check", "config",
                "/etc/prometheus/prometheus.yml",
                mounts={PROM_DIR / "prometheus.yml": "/etc/prometheus/prometheus.yml",
                        PROM_DIR / "rules": "/etc/prometheus/rules"})
    assert "SUCCESS: 7 rules found" in text, text
    print(text)


def test_promtool_rule_unit_tests(engine: None) -> None:
    files = sorted(p.name for p in (PROM_DIR / "tests").glob("*.yml"))
    assert files
    text = tool(PROMETHEUS, "/bin/promtool", "test", "rules", *files,
                mounts={PROM_DIR: "/etc/prometheus"}, workdir="/etc/prometheus/tests")
    assert "FAILED" not in text and text.count("SUCCESS") == len(files), text
    print(text)


# Changes to the rules that the unit tests must catch: each one's `promtool test rules`
# has to fail, or the tests do not pin what the rule promises.
RULE_MUTATIONS = {
    "error rate without for": ("> 0.05\n        for: 5m\n", "> 0.05\n"),
    "latency without for": ("        for: 10m\n", ""),
    "latency with /ask": ('/api/v1/admin/.*|/api/v1/ask"', '/api/v1/admin/.*"'),
    "latency with admin": ('route!~"/mcp.*|/api/v1/admin/.*|/api/v1/ask"',
                           'route!~"/mcp.*|/api/v1/ask"'),
    "errors with /ask 503": ('status=~"5..", route!="/api/v1/ask"', 'status=~"5.."'),
    "errors without traffic guard": ("[5m])) > 0.05\n        for: 5m",
                                     "[5m])) > 0\n        for: 5m"),
    "latency without traffic guard": ('_count{job="codegraph-api"}[5m])) > 0.05',
                                      '_count{job="codegraph-api"}[5m])) > 0'),
}


@pytest.mark.parametrize("mutation", sorted(RULE_MUTATIONS))
def test_rule_unit_tests_catch_a_weakened_rule(engine: None, tmp_path: Path,
                                               mutation: str) -> None:
    old, new = RULE_MUTATIONS[mutation]
    rules = (PROM_DIR / "rules" / "codegraph.yml").read_text()
    assert rules.count(old) == 1, f"{mutation}: {old!r} is not in the rules once"
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "rules" / "codegraph.yml").write_text(rules.replace(old, new))
    for test in (PROM_DIR / "tests").glob("*.yml"):
        (tmp_path / "tests" / test.name).write_text(test.read_text())
    for path in (tmp_path, tmp_path / "rules", tmp_path / "tests"):
        path.chmod(0o755)  # (promtool runs as nobody)
    out = dockerproc.run("run", "--rm", "--network", "none", "--read-only", "--cap-drop",
                         "ALL", "--tmpfs", "/tmp", "-v", f"{tmp_path}:/etc/prometheus:ro", "-w",
                         "/etc/prometheus/tests", "--entrypoint", "/bin/promtool", PROMETHEUS,
                         "test", "rules", "codegraph_test.yml", check=False, timeout=120)
    assert out.returncode == 1 and "FAILED" in out.stdout + out.stderr, (
        f"{mutation}: promtool test rules passed on the weakened rule:\n"
        f"{out.stdout}{out.stderr[-3000:]}")


def receiver_variant(text: str, kind: str) -> str:
    """alertmanager.yml with the commented ``kind`` receiver (email or slack) switched on
    in place of the webhook, and for email the commented smtp_* globals too."""
    out, block = [], False
    for line in text.splitlines():
        body = line.lstrip()
        if body.startswith(f"# {kind}_configs:"):
            block = True
        elif block and not re.match(r"#\s{2,}\S|#\s-", body):
            block = False
        if block or (kind == "email" and body.startswith("# smtp_")):
            line = line.replace("# ", "", 1)
        out.append(line)
    variant = "\n".join(out)
    return re.sub(r"\n    webhook_configs:\n(?:      .*\n)+", "\n", variant)


@pytest.mark.parametrize("kind", ["webhook", "email", "slack"])
def test_amtool_check_config(engine: None, tmp_path: Path, kind: str) -> None:
    text = AM_FILE.read_text()
    conf = text if kind == "webhook" else receiver_variant(text, kind)
    parsed = yaml.safe_load(conf)
    (receiver,) = parsed["receivers"]
    assert receiver["name"] == parsed["route"]["receiver"] == "operators"
    assert set(receiver) == {"name", f"{kind}_configs"}, receiver
    (tmp_path / "alertmanager.yml").write_text(conf)
    tmp_path.chmod(0o755)
    (tmp_path / "alertmanager.yml").chmod(0o644)
    out = tool(ALERTMANAGER, "/bin/amtool", "check-config", "/etc/alertmanager/alertmanager.yml",
               mounts={tmp_path / "alertmanager.yml": "/etc/alertmanager/alertmanager.yml"})
    assert "SUCCESS" in out and "1 receivers" in out, out


# -- live: Prometheus scraping a real CodeGraph API -------------------------------------------
class Stack:
    """Prometheus, Alertmanager, node-exporter and the API on a network of their own, the
    services reachable by their compose names (network aliases)."""

    def __init__(self, api_image: str, repo: Path) -> None:
        self.id = uuid.uuid4().hex[:10]
        self.network = f"cgmon-{self.id}"
        self.containers: list[str] = []
        self.api = Container(api_image, repo, extra=["--network", self.network,
                                                     "--network-alias", "codegraph-api"],
                             name=f"cgmon-api-{self.id}")
        self.prom_port = 0
        self.alertmanager = ""

    def _run(self, name: str, alias: str, *args: str) -> str:
        full = f"cgmon-{name}-{self.id}"
        self.containers.append(full)
        dockerproc.run("run", "-d", "--name", full, "--network", self.network,
                       "--network-alias", alias, "--cap-drop", "ALL",
                       "--security-opt", "no-new-privileges:true", *args, timeout=60)
        return full

    def start(self) -> None:
        dockerproc.run("network", "create", self.network, timeout=30)
        self.api.start()
        # as docker-compose.production.yml runs it
        self._run("node", "node-exporter", "--read-only", "-v", "/proc:/host/proc:ro",
                  "-v", "/sys:/host/sys:ro", "-v", "/:/rootfs:ro", NODE_EXPORTER,
                  "--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/rootfs",
                  "--collector.filesystem.mount-points-exclude="
                  "^/(dev|proc|sys|run|var/lib/docker/.+)($|/)")
        self.alertmanager = self._run(
            "am", "alertmanager", "-v", f"{AM_FILE}:/etc/alertmanager/alertmanager.yml:ro",
            ALERTMANAGER)
        self._run("prom", "prometheus", "-p", "127.0.0.1::9090",
                  "-v", f"{PROM_DIR / 'prometheus.yml'}:/etc/prometheus/prometheus.yml:ro",
                  "-v", f"{PROM_DIR / 'rules'}:/etc/prometheus/rules:ro", PROMETHEUS,
                  "--config.file=/etc/prometheus/prometheus.yml",
                  "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=7d")
        out = dockerproc.run("port", self.containers[-1], "9090/tcp", timeout=30).stdout
        host, _, port = out.split()[0].rpartition(":")
        assert host == "127.0.0.1", f"published on {host}"
        self.prom_port = int(port)

    def get(self, path: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.prom_port}{path}"
        with urllib.request.urlopen(url, timeout=20) as resp:
            data: dict[str, Any] = json.load(resp)
        return data

    def logs(self) -> str:
        return "\n".join(f"--- {c}\n" + dockerproc.run("logs", "--tail", "30", c, check=False,
                                                        timeout=30).stderr
                         for c in self.containers)

    def remove(self) -> None:
        for c in self.containers:
            dockerproc.run("rm", "-f", "-v", c, check=False, timeout=60)
        self.api.remove()
        dockerproc.run("network", "rm", self.network, check=False, timeout=30)


@pytest.fixture(scope="module")
def stack(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("monitoring")
    base.chmod(0o755)
    with dockerproc.pinned() as pinned:
        s = Stack(pinned["optimized"], dockerproc.small_repo(base / "small"))
        try:
            s.start()
            s.api.wait_health(timeout=90)
            yield s
        finally:
            s.remove()


def _traffic(api_url: str) -> None:
    """Requests that fill the dashboard: queries (twice, for cache hits) and a 4xx."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for _ in range(2):
            for path, params in (("/api/v1/search", {"query": "parse config", "mode": "lexical"}),
                                 ("/api/v1/callers", {"symbol": "parse_config"}),
                                 ("/api/v1/definition", {"symbol": "parse_config"}),
                                 ("/health", {})):
                assert client.get(path, params=params).status_code == 200, path
        status = client.get("/api/v1/callers").status_code  # no symbol: a client error
        assert 400 <= status < 500, status


def test_prometheus_scrapes_the_api_and_answers_the_dashboard(
        stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    _traffic(stack.api.url)
    try:
        health = mc.wait_for(lambda: mc.check_targets_up(stack.get), timeout=90)
        print("targets:", health)
        states = mc.wait_for(lambda: mc.check_rules_loaded(stack.get), timeout=30)
        print("alert rules:", states)
        mc.wait_for(lambda: mc.check_rule_metrics_exist(stack.get), timeout=60)
        mc.wait_for(lambda: mc.check_alertmanager_connected(stack.get), timeout=30)
        dash = mc.load_dashboard()
        mc.check_template_variables(stack.get, dash)
        _traffic(stack.api.url)  # again, so that rates over the last minute see requests
        counts = mc.wait_for(lambda: mc.check_dashboard_queries(stack.get, dash, MAY_BE_EMPTY),
                             timeout=120, every=5)
    except AssertionError:
        print(stack.logs())
        raise
    print(f"{len(counts)} dashboard queries accepted by Prometheus; series per query:")
    for key, n in counts.items():
        print(f"  {n:3d}  {key}")
    firing = mc.query(stack.get, 'ALERTS{alertstate="firing"}')
    assert not firing, f"alerts firing on a healthy API: {firing}"
    assert mc.query(stack.get, 'codegraph_data_volume_free_bytes{path="/app/data"}')
    loud(capsys, mc.GRAFANA_NOTE)


def test_api_down_fires_and_reaches_alertmanager(stack: Stack) -> None:
    """Stop the API: CodeGraphAPIDown fires (after its 1 minute) and Alertmanager holds it,
    routed to the one receiver; the failed webhook delivery is Alertmanager's to log."""
    stack.api.stop()

    def fired() -> None:
        assert mc.firing(stack.get, "CodeGraphAPIDown"), "CodeGraphAPIDown not firing yet"

    started = time.monotonic()
    mc.wait_for(fired, timeout=180, every=5)
    print(f"CodeGraphAPIDown firing {time.monotonic() - started:.0f} s after the API stopped")

    def held() -> list[dict[str, Any]]:
        out = dockerproc.run("exec", stack.alertmanager, "wget", "-qO-",
                             "http://localhost:9093/api/v2/alerts", timeout=30)
        alerts: list[dict[str, Any]] = json.loads(out.stdout)
        names = {a["labels"]["alertname"]: a for a in alerts}
        assert "CodeGraphAPIDown" in names, f"Alertmanager holds {sorted(names)}"
        return alerts

    alerts = mc.wait_for(held, timeout=60)
    (down,) = [a for a in alerts if a["labels"]["alertname"] == "CodeGraphAPIDown"]
    assert [r["name"] for r in down["receivers"]] == ["operators"], down
    assert down["annotations"]["runbook_url"].endswith("#codegraphapidown")
