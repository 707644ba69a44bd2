"""Checks of the monitoring files and of a running Prometheus, reusable by any test.

The live checks take ``get``: a callable that GETs a Prometheus API path (with its query
string, e.g. ``/api/v1/query?query=up``) and returns the decoded JSON. tests/test_monitoring
passes one for a Prometheus it starts; the full-stack test can pass one for the stack's
Prometheus (through a published port, or ``docker compose exec prometheus wget -qO- ...``).

Grafana itself cannot run on this machine (no image can be had), so its files are checked
offline here: the provisioning, the dashboard's JSON essentials, and every panel query run
against a real Prometheus's query API.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # (PyYAML, via schemathesis; no stubs)

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "codegraph.json"
RULES = DEPLOY / "prometheus" / "rules" / "codegraph.yml"
DATASOURCE_UID = "prometheus"
ALERTS = ("CodeGraphAPIDown", "CodeGraphHighErrorRate", "CodeGraphHighLatency",
          "CodeGraphIndexStale", "CodeGraphEmbeddingBacklog", "CodeGraphRedisDown",
          "CodeGraphDataDiskFull")
JOBS = ("codegraph-api", "prometheus", "node-exporter", "alertmanager")
RUNBOOK = "https://github.com/codegraph/codegraph/blob/main/docs/operations.md#"
# What Grafana puts in place of its variables, as it would for this dashboard: the rate
# interval is 4 x the datasource's 15 s scrape interval; "All" instances is the allValue.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h",
                "$instance": ".*"}
GRAFANA_NOTE = ("NOTE: Grafana itself was NOT run: no Grafana image can be obtained on this "
                "machine (no container registry, no Debian package). Its provisioning and "
                "dashboard were validated offline, and every panel query was run against a "
                "real Prometheus's /api/v1/query.")

Get = Callable[[str], dict[str, Any]]


# -- offline ----------------------------------------------------------------------------------
def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules(path: Path = RULES) -> list[dict[str, Any]]:
    return [r for g in load_yaml(path)["groups"] for r in g["rules"] if "alert" in r]


def check_alert_rules(path: Path = RULES) -> None:
    """Every contract alert, once, with severity, summary, description and its runbook."""
    rules = alert_rules(path)
    names = [r["alert"] for r in rules]
    assert sorted(names) == sorted(ALERTS), f"alerts {names} != contract {ALERTS}"
    for r in rules:
        name = r["alert"]
        assert r.get("labels", {}).get("severity") in ("critical", "warning"), name
        notes = r.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert str(notes.get(key, "")).strip(), f"{name}: no {key}"
        assert notes["runbook_url"] == RUNBOOK + name.lower(), f"{name}: {notes['runbook_url']}"


def markdown_anchors(text: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (and explicit <a id=...>)."""
    anchors = set(re.findall(r'<a (?:id|name)="([^"]+)"', text))
    for line in text.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            title = re.sub(r"[`*_]", "", m.group(1).strip()).lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return anchors


def check_runbooks(docs: Path = ROOT / "docs" / "operations.md") -> None:
    anchors = markdown_anchors(docs.read_text())
    missing = [r["alert"] for r in alert_rules()
               if r["annotations"]["runbook_url"].rpartition("#")[2] not in anchors]
    assert not missing, f"no runbook section in {docs.name} for {missing}"


def check_rule_tests_cover(tests: Iterable[Path]) -> dict[str, tuple[int, int]]:
    """alert -> (cases where it must fire, cases where it must not); both must be > 0."""
    counts = {a: [0, 0] for a in ALERTS}
    for path in tests:
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                name = check["alertname"]
                assert name in counts, f"{path.name}: unknown alert {name}"
                counts[name][0 if check.get("exp_alerts") else 1] += 1
    thin = {a: c for a, c in counts.items() if not (c[0] and c[1])}
    assert not thin, f"alerts without both a firing and a quiet test case: {thin}"
    return {a: (c[0], c[1]) for a, c in counts.items()}


def check_grafana_provisioning(base: Path = DEPLOY / "grafana") -> None:
    ds = load_yaml(base / "provisioning" / "datasources" / "prometheus.yml")
    assert ds["apiVersion"] == 1
    (prom,) = [d for d in ds["datasources"] if d["type"] == "prometheus"]
    assert prom["uid"] == DATASOURCE_UID and prom["url"] == "http://prometheus:9090", prom
    assert prom["access"] == "proxy"
    prov = load_yaml(base / "provisioning" / "dashboards" / "codegraph.yml")
    assert prov["apiVersion"] == 1
    (provider,) = prov["providers"]
    assert provider["type"] == "file", provider
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards", provider


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def all_panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # a collapsed row's own
    return out


def check_dashboard(dash: dict[str, Any], uid: str = DATASOURCE_UID) -> None:
    """The essentials Grafana needs to load the dashboard and draw it from our datasource."""
    for key in ("uid", "title"):
        assert isinstance(dash.get(key), str) and dash[key], f"dashboard has no {key}"
    assert isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 30
    assert "id" not in dash or dash["id"] is None, "a provisioned dashboard carries no id"
    panels = all_panels(dash)
    ids = [p.get("id") for p in panels]
    assert all(isinstance(i, int) for i in ids), ids
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    for p in panels:
        grid = p.get("gridPos") or {}
        assert all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")), p["title"]
        assert grid["x"] + grid["w"] <= 24, f"{p['title']}: wider than the grid"
        if p["type"] == "row":
            continue
        assert p.get("title") and p.get("targets"), p
        assert p.get("datasource", {}).get("uid") == uid, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t.get("datasource", {}).get("uid") == uid, f"{p['title']} {t['refId']}"
            assert t.get("expr", "").strip(), f"{p['title']} {t['refId']}: no expr"
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            assert var.get("datasource", {}).get("uid") == uid, var["name"]


def grafana_expand(expr: str) -> str:
    for var in sorted(GRAFANA_VARS, key=len, reverse=True):
        expr = expr.replace(var, GRAFANA_VARS[var])
    assert "$" not in expr, f"an unknown Grafana variable in {expr}"
    return expr


def dashboard_queries(dash: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, refId, query with Grafana's variables expanded) of every target."""
    return [(p["title"], t["refId"], grafana_expand(t["expr"]))
            for p in all_panels(dash) if p["type"] != "row" for t in p["targets"]]


# -- against a running Prometheus ------------------------------------------------------------
def query(get: Get, expr: str) -> list[dict[str, Any]]:
    """An instant query's result; fails unless Prometheus accepted the query."""
    data = get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert data.get("status") == "success", f"{expr}: {data}"
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def check_targets_up(get: Get, jobs: Iterable[str] = JOBS) -> dict[str, str]:
    """Every expected job scraped and every active target up: job -> health."""
    active = get("/api/v1/targets?state=active")["data"]["activeTargets"]
    health = {t["labels"]["job"]: t["health"] for t in active}
    missing = set(jobs) - set(health)
    assert not missing, f"no scrape target for {missing} (have {health})"
    down = {t["scrapeUrl"]: t.get("lastError") for t in active if t["health"] != "up"}
    assert not down, f"targets not up: {down}"
    return health


def check_rules_loaded(get: Get) -> dict[str, str]:
    """All contract alerts loaded: alert -> state (inactive, pending, firing)."""
    groups = get("/api/v1/rules?type=alert")["data"]["groups"]
    states = {r["name"]: r["state"] for g in groups for r in g["rules"]}
    missing = set(ALERTS) - set(states)
    assert not missing, f"alert rules not loaded: {missing} (loaded {sorted(states)})"
    bad = {r["name"]: r.get("lastError") for g in groups for r in g["rules"]
           if r.get("health") not in (None, "ok", "unknown")}
    assert not bad, f"alert rules failing to evaluate: {bad}"
    return states


def check_rule_metrics_exist(get: Get, path: Path = RULES) -> None:
    """Every metric an alert reads is one Prometheus has (a typo would never fire)."""
    names = set()
    for r in alert_rules(path):
        names |= set(re.findall(r"\b((?:codegraph|process)_[a-z_]+)\b", r["expr"]))
    missing = sorted(n for n in names if not query(get, f"count({n})"))
    assert not missing, f"alerts read metrics the API does not export: {missing}"


def check_dashboard_queries(get: Get, dash: dict[str, Any],
                            may_be_empty: Iterable[str] = ()) -> dict[str, int]:
    """Every target accepted by Prometheus's query API, and answering with data unless its
    "panel/refId" is in ``may_be_empty`` (e.g. 5xx panels on a healthy API): -> series."""
    allowed = set(may_be_empty)
    counts: dict[str, int] = {}
    empty = []
    for title, ref, expr in dashboard_queries(dash):
        key = f"{title}/{ref}"
        result = query(get, expr)
        counts[key] = len(result)
        values = [float(r["value"][1]) for r in result]
        if not any(math.isfinite(v) for v in values) and key not in allowed:
            empty.append(f"{key}: {expr} -> {values or 'no series'}")
    unknown = allowed - set(counts)
    assert not unknown, f"may_be_empty names no target: {unknown}"
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)
    return counts


def check_template_variables(get: Get, dash: dict[str, Any]) -> None:
    """label_values(<selector>, <label>) variables resolve to at least one value."""
    for var in dash.get("templating", {}).get("list", []):
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var.get("definition", ""))
        assert m, f"variable {var.get('name')}: unsupported definition"
        params = urllib.parse.urlencode({"match[]": m.group(1)})
        values = get(f"/api/v1/label/{m.group(2)}/values?{params}")["data"]
        assert values, f"variable {var['name']} has no values"


def check_alertmanager_connected(get: Get, target: str = "alertmanager:9093") -> None:
    """Prometheus has discovered the Alertmanager it sends alerts to."""
    active = get("/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    urls = [a["url"] for a in active]
    assert any(target in u for u in urls), f"{target} not among {urls}"


def firing(get: Get, alert: str) -> list[dict[str, Any]]:
    return query(get, f'ALERTS{{alertname="{alert}", alertstate="firing"}}')


def wait_for(check: Callable[[], Any], timeout: float, every: float = 3.0) -> Any:
    """check()'s result once it stops raising AssertionError; its last error on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(every)
