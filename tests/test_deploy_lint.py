"""Lint every Docker and compose file (issue 14, section 6): hadolint and checkov on every
Dockerfile, checkov's secrets scan and our own hardening policy on every compose file.

checkov 3.3 has no docker-compose framework (`checkov --list` has no compose check; the
frameworks are dockerfile, kubernetes, ..., and `--framework docker_compose` is an error),
so on a compose file it can only look for secrets. The hardening the CIS Docker Benchmark
asks of a running container is checked here instead, on the configuration Compose itself
resolves (`docker compose config --format json`, with an .env made from .env.example), for
every service of every docker-compose*.yml at the repository root. Each exception is
listed below with its reason. Nothing here starts a container; the healthcheck check only
creates (never starts) one per image to look for the command's file.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import uuid
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("CODEGRAPH_TOOLS", Path.home() / ".cache/codegraph-tools"))
STRICT = (os.environ.get("CODEGRAPH_STRICT_SKIPS") == "1"
          or os.environ.get("CODEGRAPH_REQUIRE_DOCKER") == "1")
DOCKERFILES = sorted({*ROOT.glob("Dockerfile*"), *ROOT.glob("deploy/**/*.Dockerfile"),
                      *ROOT.glob("deploy/**/Dockerfile")})
COMPOSE_FILES = sorted(ROOT.glob("docker-compose*.yml"))
STACKS = ("docker-compose.production.yml", "docker-compose.dev.yml")
REQUIRED_SECRETS = {
    "docker-compose.production.yml": ("REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD",
                                      "CODEGRAPH_API_KEY", "CODEGRAPH_ADMIN_TOKEN"),
    "docker-compose.dev.yml": ("POSTGRES_PASSWORD", "JUPYTER_TOKEN", "REDIS_COMMANDER_PASSWORD"),
}

# hadolint rules we do not follow, and why.
HADOLINT_IGNORE = {
    "DL3008": "pin apt package versions: Debian's archive keeps only the current version of a "
              "stable package, so a pin breaks the build at the next point or security "
              "release; the base image is pinned (by tag or digest) and the SBOM records every "
              "version installed",
}
# checkov checks a Dockerfile may fail: (glob of the file, check) -> why.
CHECKOV_EXCEPTIONS = {
    ("Dockerfile.*", "CKV_DOCKER_7"):
        "FROM ${BUILDER_IMAGE} / ${RUNTIME_IMAGE}: build args whose defaults carry tags "
        "(debian:bookworm-slim, ...python3-debian12:nonroot); checkov cannot see through the "
        "variable. Pin by digest through the build args",
    ("deploy/jupyter/Dockerfile", "CKV_DOCKER_7"):
        "FROM ${BASE_IMAGE}: a build arg whose default carries a tag (debian:bookworm-slim)",
    ("deploy/jupyter/Dockerfile", "CKV2_DOCKER_16"):
        "PIP_TRUSTED_HOST is an opt-in build arg, empty by default, for builders behind a "
        "TLS-intercepting proxy; every file pip installs is checked by --require-hashes",
    ("deploy/standins/*.Dockerfile", "CKV_DOCKER_2"):
        "stand-ins for upstream images, which have no HEALTHCHECK either; every compose file "
        "gives each service its healthcheck (the compose policy below requires one)",
    ("deploy/standins/*.Dockerfile", "CKV_DOCKER_3"):
        "stand-ins laid out like the upstream image, which starts as root (nginx, redis, "
        "postgres); the compose files run each as a non-root user (the compose policy below "
        "requires it)",
}
# Compose hardening exceptions: (compose file, service, rule) -> why. Rules: read_only,
# cap_add:<CAP>, root, one-shot (no restart, no healthcheck), healthcheck-shell, host-mount,
# writable-bind.
COMPOSE_EXCEPTIONS = {
    ("docker-compose.production.yml", "node-exporter", "host-mount"):
        "node-exporter's job is the host's metrics: it reads the host's /proc, /sys and / "
        "(all read-only)",
}
RESTART = re.compile(r"no|always|unless-stopped|on-failure(:\d+)?")
RESTART_CONDITIONS = {"none", "on-failure", "any"}
SECRET_NAME = re.compile(r"PASSWORD|TOKEN(?!S)|SECRET|(^|_)KEY$|API_KEY")  # (not MAX_TOKENS)


def _tool(name: str) -> str:
    for path in (TOOLS / "bin" / name, shutil.which(name)):
        if path and Path(path).is_file():
            return str(path)
    message = f"{name} is not installed (scripts/install-scanners.sh installs it)"
    if STRICT:
        pytest.fail(f"CI: {message}")
    pytest.skip(message)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- Dockerfiles -------------------------------------------------------------------------------
def test_the_dockerfiles_are_found() -> None:
    names = {_rel(p) for p in DOCKERFILES}
    assert {"Dockerfile.minimal", "Dockerfile.optimized"} <= names
    assert any(n.startswith("deploy/standins/") for n in names), names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_rel)
def test_hadolint(dockerfile: Path) -> None:
    ignores = [arg for rule in HADOLINT_IGNORE for arg in ("--ignore", rule)]
    out = subprocess.run([_tool("hadolint"), "--no-color", "--failure-threshold", "warning",
                          *ignores, str(dockerfile)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def _checkov(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run([_tool("checkov"), "--compact", "--quiet", "-o", "json",
                          "--skip-download", *args], capture_output=True, text=True,
                         timeout=600, cwd=ROOT, check=False)
    assert out.returncode in (0, 1), out.stdout[-2000:] + out.stderr[-2000:]
    report = json.loads(out.stdout)
    return report if isinstance(report, list) else [report]


def test_checkov_dockerfiles() -> None:
    """checkov's dockerfile framework (CKV_DOCKER_*, CKV2_DOCKER_*) on every Dockerfile: no
    failed check beyond the listed exceptions."""
    args = [a for p in DOCKERFILES for a in ("-f", _rel(p))]
    reports = _checkov("--framework", "dockerfile", *args)
    failed, passed = [], 0
    for report in reports:
        passed += report.get("summary", {}).get("passed", 0)
        for check in report.get("results", {}).get("failed_checks", []):
            path = check["file_path"].lstrip("/")
            if not any(Path(path).match(glob) and check["check_id"] == cid
                       for glob, cid in CHECKOV_EXCEPTIONS):
                failed.append(f"{path}: {check['check_id']} {check['check_name']}")
    assert passed > 0, reports
    assert failed == [], "\n".join(failed)


def test_checkov_finds_no_secret_in_any_compose_file() -> None:
    """On a compose file checkov can run its secrets scan only (no compose framework)."""
    assert COMPOSE_FILES
    args = [a for p in COMPOSE_FILES for a in ("-f", _rel(p))]
    failed = [f"{c['file_path']}:{c['file_line_range']}: {c['check_id']} {c['check_name']}"
              for report in _checkov("--framework", "secrets", *args)
              for c in report.get("results", {}).get("failed_checks", [])]
    assert failed == [], "\n".join(failed)


def test_checkov_has_no_compose_framework() -> None:
    """Why the compose policy below exists: if checkov ever gains compose checks, use them."""
    out = subprocess.run([_tool("checkov"), "--framework", "docker_compose", "-d", "deploy"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2 and "Invalid frameworks specified: docker_compose" in out.stderr


# -- compose files -----------------------------------------------------------------------------
def test_both_stacks_exist() -> None:
    assert set(STACKS) <= {p.name for p in COMPOSE_FILES}, [p.name for p in COMPOSE_FILES]


def _env_file(tmp: Path, **overrides: str | None) -> Path:
    """.env.example with every secret filled in, then ``overrides`` (None: left out)."""
    text = (ROOT / ".env.example").read_text()
    values: dict[str, str | None] = {
        n: secrets.token_hex(24) for n in ("REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD",
                                           "CODEGRAPH_API_KEY", "CODEGRAPH_ADMIN_TOKEN",
                                           "POSTGRES_PASSWORD", "JUPYTER_TOKEN",
                                           "REDIS_COMMANDER_PASSWORD")}
    values |= overrides
    for name, value in values.items():
        text = re.sub(rf"^{name}=.*\n", "" if value is None else f"{name}={value}\n", text,
                      flags=re.M)
    path = tmp / f"env-{uuid.uuid4().hex[:8]}"
    path.write_text(text)
    return path


def _compose_config(compose: Path, env_file: Path, *flags: str,
                    ) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True,
                                        timeout=60, check=False).returncode != 0:
        if STRICT:
            pytest.fail("CI: no `docker compose` (scripts/install-scanners.sh installs it)")
        pytest.skip("no `docker compose` (scripts/install-scanners.sh installs it)")
    return subprocess.run([docker, "compose", "-f", str(compose), "--env-file", str(env_file),
                           "-p", f"lint-{uuid.uuid4().hex[:8]}", "config", "--format", "json",
                           *flags],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


@cache
def _resolved(name: str, bind: str | None = "127.0.0.1") -> dict[str, Any]:
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    env = _env_file(tmp, CODEGRAPH_BIND_ADDRESS=bind)
    try:
        out = _compose_config(ROOT / name, env)
    finally:
        env.unlink()
    assert out.returncode == 0, f"docker compose config of {name}:\n{out.stderr}"
    config: dict[str, Any] = json.loads(out.stdout)
    return config


def _compose_ids(path: Path) -> str:
    return path.name


def _user_is_root(user: str | None) -> bool:
    uid = (user or "").split(":")[0]
    return uid in ("", "0", "root")


def _limits(service: dict[str, Any]) -> dict[str, Any]:
    limits: dict[str, Any] = ((service.get("deploy") or {}).get("resources") or {}).get(
        "limits") or {}
    return limits


def _built_with_healthcheck(service: dict[str, Any]) -> bool:
    """The service builds its image from a Dockerfile with an exec-form HEALTHCHECK."""
    build = service.get("build")
    if not build:
        return False
    dockerfile = Path(build["context"]) / build.get("dockerfile", "Dockerfile")
    text = dockerfile.read_text().replace("\\\n", " ") if dockerfile.is_file() else ""
    return re.search(r"^HEALTHCHECK\b.*\bCMD \[", text, re.M) is not None


def _violations(name: str, service_name: str, service: dict[str, Any]) -> list[str]:
    def excepted(rule: str) -> bool:
        return (name, service_name, rule) in COMPOSE_EXCEPTIONS

    bad = []
    one_shot = excepted("one-shot")
    if service.get("read_only") is not True and not excepted("read_only"):
        bad.append("read_only is not true")
    if "ALL" not in (service.get("cap_drop") or []):
        bad.append("cap_drop lacks ALL")
    for cap in service.get("cap_add") or []:
        if not excepted(f"cap_add:{cap}"):
            bad.append(f"cap_add {cap}")
    opts = [o.replace("=", ":") for o in service.get("security_opt") or []]
    if not {"no-new-privileges", "no-new-privileges:true"} & set(opts):
        bad.append("security_opt lacks no-new-privileges:true")
    bad += [f"security_opt {o}" for o in opts if "unconfined" in o]
    if not service.get("user"):
        bad.append("no user: set (it runs as its image's default user, root in many)")
    elif _user_is_root(service.get("user")) and not excepted("root"):
        bad.append(f"runs as root (user: {service.get('user')!r})")
    if not (_limits(service).get("pids") or service.get("pids_limit")):
        bad.append("no pids limit (deploy.resources.limits.pids)")
    if not (_limits(service).get("memory") or service.get("mem_limit")):
        bad.append("no memory limit (deploy.resources.limits.memory)")
    test = (service.get("healthcheck") or {}).get("test") or []
    if service.get("healthcheck", {}).get("disable") or not test or test[0] == "NONE":
        if not one_shot and not _built_with_healthcheck(service):
            bad.append("no healthcheck")
    elif test[0] == "CMD-SHELL" and not excepted("healthcheck-shell"):
        bad.append(f"healthcheck in shell form: {test}")
    restart = service.get("restart") or "no"
    if not RESTART.fullmatch(restart):
        bad.append(f"restart {restart!r} is not a restart policy")
    if restart == "no" and not one_shot:
        bad.append("no restart policy for a long-running service")
    condition = ((service.get("deploy") or {}).get("restart_policy") or {}).get("condition")
    if condition is not None and condition not in RESTART_CONDITIONS:
        bad.append(f"deploy.restart_policy.condition {condition!r} (none, on-failure or any)")
    logging = service.get("logging") or {}
    if logging.get("driver") not in ("json-file", "local") or not (
            logging.get("options") or {}).get("max-size"):
        bad.append("logs not rotated (logging: json-file with max-size)")
    if service.get("privileged"):
        bad.append("privileged")
    for key in ("network_mode", "pid", "ipc", "userns_mode", "uts"):
        if service.get(key) == "host":
            bad.append(f"{key}: host")
    for volume in service.get("volumes") or []:
        source = str(volume.get("source") or "")
        if "docker.sock" in source or "docker.sock" in str(volume.get("target")):
            bad.append(f"mounts the Docker socket ({source})")
        elif volume.get("type") == "bind":
            inside = source == str(ROOT) or source.startswith(str(ROOT) + os.sep)
            if not inside and not excepted("host-mount"):
                bad.append(f"bind-mounts a host path outside the project: {source}")
            if (name == "docker-compose.production.yml" and not volume.get("read_only")
                    and not excepted("writable-bind")):
                bad.append(f"writable bind mount {source} -> {volume.get('target')}")
    return bad


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=_compose_ids)
def test_compose_hardening_policy(compose: Path) -> None:
    """Every service: read-only root filesystem, cap_drop ALL, no-new-privileges, not root,
    pids and memory limits, an exec-form healthcheck, a valid restart policy, rotated logs,
    not privileged, no host namespaces, no Docker socket, no host paths outside the
    project."""
    config = _resolved(compose.name)
    found = [f"{compose.name}: {name}: {problem}"
             for name, service in sorted(config["services"].items())
             for problem in _violations(compose.name, name, service)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=_compose_ids)
def test_ports_only_on_loopback_or_the_bind_address(compose: Path) -> None:
    """Published ports: 127.0.0.1 when CODEGRAPH_BIND_ADDRESS is unset, the address when it
    is set; never every interface."""
    for bind, allowed in ((None, {"127.0.0.1"}), ("127.0.0.9", {"127.0.0.1", "127.0.0.9"})):
        for name, service in _resolved(compose.name, bind)["services"].items():
            for port in service.get("ports") or []:
                assert port.get("host_ip") in allowed, (
                    f"{compose.name}: {name} publishes {port} beyond {sorted(allowed)}")


def test_production_network_layout() -> None:
    """Only nginx publishes; the backend network is internal; Redis, Prometheus and
    node-exporter are on the backend only; Alertmanager is on the backend and on a bridge of
    its own that is not internal (codegraph_alerting), so that it can reach the receivers
    (webhook, SMTP, Slack) that docs/operations.md tells operators to configure."""
    config = _resolved("docker-compose.production.yml")
    services = config["services"]
    networks = config["networks"]
    assert [n for n, s in services.items() if s.get("ports")] == ["nginx"]
    assert networks["codegraph_backend"].get("internal") is True
    assert networks["codegraph_network"]["ipam"]["config"][0]["subnet"] == "172.20.0.0/16"
    for name in ("redis", "prometheus", "node-exporter"):
        assert set(services[name]["networks"]) == {"codegraph_backend"}, name
    assert set(services["alertmanager"]["networks"]) == {"codegraph_backend",
                                                         "codegraph_alerting"}
    assert not networks["codegraph_alerting"].get("internal")
    assert networks["codegraph_alerting"].get("driver", "bridge") == "bridge"
    assert [n for n, s in services.items() if "codegraph_alerting" in s["networks"]] == [
        "alertmanager"]
    assert set(services["nginx"]["networks"]) == {"codegraph_network"}
    # every network but the backend has a way out: the API (OpenAI) and Alertmanager
    assert {n for n, net in networks.items() if net.get("internal")} == {"codegraph_backend"}


def test_nginx_finds_the_api_through_dockers_dns() -> None:
    """nginx looks the API's tasks up per request (Docker's DNS, answers kept 2 s), so it
    depends on no API service and follows scaled, restarted and rolled replicas: no
    upstream{} block (nginx 1.22 resolves those once, at start), and every proxy_pass names
    a variable that maps to the replicas or the indexer."""
    nginx = _resolved("docker-compose.production.yml")["services"]["nginx"]
    assert not set(nginx.get("depends_on") or {}) & {"codegraph-api", "codegraph-indexer"}
    conf = (ROOT / "deploy/nginx/nginx.conf").read_text()
    assert re.search(r"^\s*resolver 127\.0\.0\.11 valid=2s\b", conf, re.M)
    assert not re.search(r"^\s*upstream\s", conf, re.M)
    targets = re.findall(r"proxy_pass http://\$(\w+);", conf)
    assert len(targets) == len(re.findall(r"proxy_pass", conf)), targets
    assert set(targets) == {"codegraph_replicas", "codegraph_indexer",
                            "codegraph_repos_upstream", "codegraph_grafana"}


@pytest.mark.parametrize(("env", "expected"), [
    ({}, 2.0), ({"CODEGRAPH_API_CPUS": "1.5"}, 1.5)])
def test_the_apis_cpu_limit(tmp_path: Path, env: dict[str, str], expected: float) -> None:
    """The spec's 2 CPUs by default; CODEGRAPH_API_CPUS for a host with fewer (Docker
    refuses a limit above the host's CPUs)."""
    out = _compose_config(ROOT / "docker-compose.production.yml", _env_file(tmp_path, **env))
    assert out.returncode == 0, out.stderr
    api = json.loads(out.stdout)["services"]["codegraph-api"]
    assert float(api["deploy"]["resources"]["limits"]["cpus"]) == expected


def test_production_ignores_debug_and_metrics_switches_in_env(tmp_path: Path) -> None:
    """DEBUG_MODE=true or PROMETHEUS_ENABLED=false in a shared .env changes nothing in
    production: /debug/info stays behind the admin token, metrics stay on."""
    out = _compose_config(ROOT / "docker-compose.production.yml",
                          _env_file(tmp_path, DEBUG_MODE="true", PROMETHEUS_ENABLED="false"))
    assert out.returncode == 0, out.stderr
    env = json.loads(out.stdout)["services"]["codegraph-api"]["environment"]
    assert (env["DEBUG_MODE"], env["PROMETHEUS_ENABLED"]) == ("false", "true")


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=_compose_ids)
def test_no_secret_is_written_into_a_compose_file(compose: Path, tmp_path: Path) -> None:
    """A variable named like a secret gets its value from the environment (``${...}``),
    never a literal in the file (read as written: ``config --no-interpolate``)."""
    out = _compose_config(compose, _env_file(tmp_path), "--no-interpolate")
    assert out.returncode == 0, out.stderr
    literal = [f"{name}: {key}" for name, service in json.loads(out.stdout)["services"].items()
               for key, value in (service.get("environment") or {}).items()
               if SECRET_NAME.search(key) and value not in (None, "") and "${" not in value]
    assert literal == [], f"{compose.name}: literal secrets: {literal}"


@pytest.mark.parametrize(("stack", "secret"), [
    (stack, secret) for stack, names in REQUIRED_SECRETS.items() for secret in names])
def test_a_missing_secret_stops_compose_naming_it(tmp_path: Path, stack: str,
                                                  secret: str) -> None:
    """The stacks require their secrets (``${NAME:?...}``): no weak default, no empty
    password; Compose refuses to start and names the variable."""
    out = _compose_config(ROOT / stack, _env_file(tmp_path, **{secret: None}))
    assert out.returncode != 0, f"{stack} starts without {secret}"
    assert secret in out.stderr, out.stderr


# -- healthcheck commands exist in their images --------------------------------------------------
PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def _has_file(container: str, path: str) -> bool:
    out = subprocess.run(["docker", "cp", f"{container}:{path}", "-"], capture_output=True,
                         timeout=60, check=False)
    return out.returncode == 0


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=_compose_ids)
def test_healthcheck_commands_exist_in_their_images(compose: Path) -> None:
    """The upstream spec's stack ran `wget` in a distroless image: each healthcheck's command
    (and /bin/sh for CMD-SHELL) must be a file in the service's image. Images not built on
    this machine (Grafana's) are named in a warning, not checked."""
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60,
                      check=False).returncode != 0:
        if STRICT:
            pytest.fail("CI: no Docker engine for the healthcheck check")
        pytest.skip("no Docker engine reachable")
    missing, unchecked = [], []
    for name, service in sorted(_resolved(compose.name)["services"].items()):
        test = (service.get("healthcheck") or {}).get("test") or []
        if len(test) < 2 or test[0] not in ("CMD", "CMD-SHELL"):
            continue
        image = service["image"]
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True,
                          timeout=60, check=False).returncode != 0:
            unchecked.append(f"{name} ({image})")
            continue
        words = [test[1]] if test[0] == "CMD" else shlex.split(test[1])
        command = next(w for w in words if not re.match(r"\w+=", w))  # past VAR=value
        candidates = [command] if "/" in command else [f"{d}/{command}" for d in PATH_DIRS]
        created = subprocess.run(["docker", "create", image], capture_output=True, text=True,
                                 timeout=60, check=True).stdout.strip()
        try:
            if not any(_has_file(created, c) for c in candidates):
                missing.append(f"{name}: {command} is not in {image}")
            if test[0] == "CMD-SHELL" and not _has_file(created, "/bin/sh"):
                missing.append(f"{name}: CMD-SHELL but {image} has no /bin/sh")
        finally:
            subprocess.run(["docker", "rm", "-v", created], capture_output=True, timeout=60,
                           check=False)  # -v: and the anonymous volumes of its VOLUMEs
    if unchecked:
        warnings.warn(f"{compose.name}: healthcheck commands not checked, image not on this "
                      f"machine: {', '.join(unchecked)}", stacklevel=1)
    assert missing == [], "\n".join(missing)


def test_the_kernel_enforces_the_apis_hardening() -> None:
    """The production API's settings, applied by this engine: Docker's default seccomp
    profile on (mode 2: not disabled by the hardening), no-new-privileges, no effective
    capability, uid 65534. Run in debian:bookworm-slim (the distroless API image has no
    `cat`), without network."""
    if subprocess.run(["docker", "image", "inspect", "debian:bookworm-slim"],
                      capture_output=True, timeout=60, check=False).returncode != 0:
        if STRICT:
            pytest.fail("CI: no debian:bookworm-slim (scripts/offline-base-images.sh)")
        pytest.skip("no Docker engine or no debian:bookworm-slim image")
    api = _resolved("docker-compose.production.yml")["services"]["codegraph-api"]
    args = ["--read-only"] if api.get("read_only") else []
    args += [a for cap in api.get("cap_drop") or [] for a in ("--cap-drop", cap)]
    args += [a for opt in api.get("security_opt") or [] for a in ("--security-opt", opt)]
    args += ["--user", api["user"], "--pids-limit", str(_limits(api)["pids"]),
             "--memory", str(_limits(api)["memory"])]
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", *args,
                          "debian:bookworm-slim", "cat", "/proc/self/status"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    status = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert status["Seccomp"].strip() == "2", out
    assert status["NoNewPrivs"].strip() == "1", out
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, out
    assert status["Uid"].split()[:2] == ["65534", "65534"], out
