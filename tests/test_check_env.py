"""scripts/check-env.sh: a .env checked before `docker compose up` (issue 14, section 3).

The real script on real files: the example with its secrets filled in passes with one OK
line; each class of bad value fails with a line naming the variable; a missing file fails
clearly; the script is shellcheck-clean and knows every variable CodeGraph reads.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SRC

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check-env.sh"
EXAMPLE = ROOT / ".env.example"
STRICT = os.environ.get("CODEGRAPH_STRICT_SKIPS") == "1"
REQUIRED = ("REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "CODEGRAPH_API_KEY",
            "CODEGRAPH_ADMIN_TOKEN")
DEV_SECRETS = ("POSTGRES_PASSWORD", "JUPYTER_TOKEN", "REDIS_COMMANDER_PASSWORD")


def filled(tmp_path: Path, values: dict[str, str] | None = None, dev: bool = False) -> Path:
    """.env.example with fresh secrets (openssl rand -hex 32's shape), then ``values``."""
    fills = {name: secrets.token_hex(32) for name in REQUIRED}
    if dev:
        fills |= {name: secrets.token_hex(24) for name in DEV_SECRETS}
    fills |= values or {}
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={fills.pop(name)}" if "=" in line and name in fills else line)
    lines += [f"{name}={value}" for name, value in fills.items()]
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def check(*args: str | Path, codegraph: bool = True) -> subprocess.CompletedProcess[str]:
    """The script, delegating the API's settings to this tree's codegraph (or to none)."""
    env = dict(os.environ, PYTHONPATH=SRC,
               CODEGRAPH=f"{sys.executable} -m codegraph.cli" if codegraph else "none")
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=60, env=env, check=False)


def problems(out: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in out.stderr.splitlines() if not line.startswith("check-env: warning")]


@pytest.mark.parametrize("codegraph", [True, False], ids=["with-codegraph", "shell-only"])
def test_the_example_with_secrets_filled_in_passes(tmp_path: Path, codegraph: bool) -> None:
    env = filled(tmp_path)
    out = check(env, codegraph=codegraph)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n") == 1 and out.stdout.startswith(f"check-env: {env} OK")
    assert ("checked by codegraph" in out.stdout) is codegraph
    assert "not a variable" not in out.stderr  # the example holds no unknown name


def test_the_example_as_shipped_fails_on_its_empty_secrets(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / ".env")
    out = check(tmp_path / ".env")
    assert out.returncode == 1
    for name in REQUIRED:
        assert any(f": {name}: required and empty" in line and "openssl rand -hex 32" in line
                   for line in problems(out)), out.stderr


def test_dev_requires_the_dev_stacks_secrets(tmp_path: Path) -> None:
    out = check("--dev", filled(tmp_path))
    assert out.returncode == 1
    assert {line.split(": ")[2] for line in problems(out)} == set(DEV_SECRETS)
    assert check("--dev", filled(tmp_path, dev=True)).returncode == 0


BAD = [
    # secrets: placeholder, weak, mangled by Compose or the Redis URL, reused
    ("REDIS_PASSWORD", "changeme-changeme-changeme", "placeholder"),
    ("CODEGRAPH_API_KEY", "short1234", "too short (9 characters, at least 16)"),
    ("GRAFANA_ADMIN_PASSWORD", "a" * 40, "one character repeated"),
    ("CODEGRAPH_ADMIN_TOKEN", "abc$def0123456789abcdef", "contains whitespace, a quote, $"),
    ("REDIS_PASSWORD", "p@ss/word:0123456789abcdef", "must be URL-safe"),
    ("POSTGRES_PASSWORD", "password123456789", "placeholder"),
    # ports
    ("SERVER_PORT", "http", "must be a port, 1-65535, got 'http'"),
    ("HTTPS_PORT", "70000", "must be a port, 1-65535, got '70000'"),
    ("METRICS_PORT", "0", "must be a port, 1-65535"),
    ("METRICS_PORT", "3000", "must differ from SERVER_PORT"),
    # booleans
    ("PROMETHEUS_ENABLED", "maybe", "must be true or false, got 'maybe'"),
    ("DEBUG_MODE", "2", "must be true or false, got '2'"),
    ("HOT_RELOAD", "enabled", "must be true or false"),
    # sizes and counts
    ("ROCKSDB_BLOCK_CACHE_SIZE", "256 megs", "must be a size such as 256MB"),
    ("ROCKSDB_BLOCK_CACHE_SIZE", "-1MB", "must be a size such as 256MB"),
    ("TOKIO_WORKER_THREADS", "0", "must be a whole number between 1 and 256, got '0'"),
    # log levels
    ("RUST_LOG", "loud", "must be trace, debug, info, warn, error or off"),
    ("RUST_LOG", "hyper=info,codegraph=chatty", "must be trace, debug"),
    # addresses and networks
    ("SERVER_HOST", "not a host", "must be an IP address or a host name"),
    ("CODEGRAPH_BIND_ADDRESS", "localhost", "must be an IPv4 address of this host"),
    ("CODEGRAPH_BIND_ADDRESS", "127.0.0.300", "must be an IPv4 address"),
    ("CODEGRAPH_SUBNET", "172.20.0.0", "must be an IPv4 CIDR"),
    ("CODEGRAPH_SUBNET", "172.20.0.0/33", "must be an IPv4 CIDR"),
    ("CODEGRAPH_SUBNET", "172.20.1.0/16", "has host bits set"),
    ("CODEGRAPH_API_CPUS", "0.5", "must be a number of CPUs of at least 1"),
    ("CODEGRAPH_API_CPUS", "two", "must be a number of CPUs of at least 1"),
    ("CODEGRAPH_REPLICAS", "0", "must be a number of replicas from 1 to 999"),
    ("CODEGRAPH_REPLICAS", "three", "must be a number of replicas from 1 to 999"),
    # the rest
    ("CODEGRAPH_TAG", "optimized latest", "must be an image tag"),
    ("EMBEDDING_PROVIDER", "magic", "must be one of local openai"),
    ("OPENAI_BASE_URL", "ftp://example.org", "must be an http(s) URL"),
    # the development stack's
    ("CODEGRAPH_DEV_CPUS", "0", "must be a number of CPUs above 0"),
    ("CODEGRAPH_DEV_CPUS", "two", "must be a number of CPUs above 0"),
    ("CODEGRAPH_DEV_CPUS_RESERVED", "3", "(3) must not exceed CODEGRAPH_DEV_CPUS (2)"),
    ("POSTGRES_USER", "code-graph", "must be a PostgreSQL name"),
    ("POSTGRES_DB", "1db", "must be a PostgreSQL name"),
    ("REDIS_COMMANDER_USER", "ad:min", "must be a login name"),
    ("CODEGRAPH_PIP_TRUSTED_HOST", "pypi.org https://files.pythonhosted.org",
     "must be host names separated by spaces"),
    ("JUPYTER_PORT", "88888", "must be a port, 1-65535"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD,
                         ids=[f"{n}={v[:20]}" for n, v, _ in BAD])
def test_each_bad_value_fails_naming_the_variable(tmp_path: Path, name: str, value: str,
                                                  message: str) -> None:
    env = filled(tmp_path, {name: value})
    out = check(env)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = problems(out)
    assert len(lines) == 1, out.stderr  # once, even where codegraph finds it too
    assert lines[0].startswith(f"check-env: {env}: {name}: "), lines
    assert message in lines[0], lines


def test_dev_checks_the_dev_stacks_host_ports_and_cpus(tmp_path: Path) -> None:
    """--dev: two services on one host port fail, naming the second; a CPU limit above
    this host's CPUs is a warning (Docker refuses it, but the file may be meant for a bigger
    host); the source and notebooks directories are looked for."""
    cpus = len(os.sched_getaffinity(0))  # as nproc counts them
    env = filled(tmp_path, {"GRAFANA_PORT": "3000", "CODEGRAPH_DEV_CPUS": str(cpus + 2),
                            "CODEGRAPH_SRC": str(ROOT / "src"),
                            "CODEGRAPH_NOTEBOOKS_DIR": str(tmp_path / "nowhere")}, dev=True)
    out = check("--dev", env)
    assert out.returncode == 1
    assert problems(out) == [f"check-env: {env}: GRAFANA_PORT: host port 3000 is also "
                             "API_PORT's"]
    assert (f"CODEGRAPH_DEV_CPUS: {cpus + 2} is more than this host's {cpus} CPUs: Docker "
            "refuses to start the API") in out.stderr, out.stderr
    assert f"CODEGRAPH_NOTEBOOKS_DIR: {tmp_path / 'nowhere'} does not exist" in out.stderr
    assert "CODEGRAPH_SRC" not in out.stderr
    assert check(env).returncode == 0, "without --dev the dev stack's ports are not checked"


def test_an_api_cpu_limit_above_the_host_is_a_warning(tmp_path: Path) -> None:
    """Docker refuses a CPU limit above the host's CPUs: CODEGRAPH_API_CPUS (the production
    API's limit) above them is a warning naming it, and no failure."""
    cpus = len(os.sched_getaffinity(0))
    out = check(filled(tmp_path, {"CODEGRAPH_API_CPUS": str(cpus + 2)}), codegraph=False)
    assert out.returncode == 0, out.stderr
    assert (f"CODEGRAPH_API_CPUS: {cpus + 2} is more than this host's {cpus} CPUs: Docker "
            "refuses to start the API") in out.stderr, out.stderr
    out = check(filled(tmp_path, {"CODEGRAPH_API_CPUS": "1"}), codegraph=False)
    assert out.returncode == 0 and "CODEGRAPH_API_CPUS" not in out.stderr, out.stderr


def test_the_gateway_is_no_setting(tmp_path: Path) -> None:
    """Nothing reads CODEGRAPH_GATEWAY (Docker derives the gateway from the subnet): it is an
    unknown variable, not a validated one."""
    out = check(filled(tmp_path, {"CODEGRAPH_GATEWAY": "10.0.0.1"}), codegraph=False)
    assert out.returncode == 0, out.stderr
    assert "CODEGRAPH_GATEWAY: not a variable CodeGraph or its stacks read" in out.stderr


def test_openai_provider_needs_the_key(tmp_path: Path) -> None:
    out = check(filled(tmp_path, {"EMBEDDING_PROVIDER": "openai"}))
    assert out.returncode == 1
    assert problems(out) == [f"check-env: {tmp_path / '.env'}: OPENAI_API_KEY: required with "
                             "EMBEDDING_PROVIDER=openai"]


def test_what_only_codegraph_knows_is_reported_through_it(tmp_path: Path) -> None:
    """A value the shell accepts but the API refuses (a port with a leading zero parses in
    both; a metrics port equal to SERVER_PORT only once metrics are on): the API's own
    check runs on the file and its line names the variable."""
    env = filled(tmp_path, {"CODEGRAPH_LOG_FORMAT": "json", "CODEGRAPH_CORS_ORIGINS": "x",
                            "CODEGRAPH_MAX_DEPTH": "1"})
    out = check(env)
    assert out.returncode == 1
    assert problems(out) == [f"check-env: {env}: CODEGRAPH_MAX_DEPTH: must be a whole number "
                             "between 2 and 500, got '1'"]
    env.write_text(env.read_text() + "CODEGRAPH_MAX_DEPTH=\nCODEGRAPH_STALE_AFTER=inf\n")
    out = check(env)
    assert problems(out) == [f"check-env: {env}: CODEGRAPH_STALE_AFTER: must be a number of "
                             "seconds, not negative, got 'inf'"]


def test_lines_that_are_not_assignments_fail(tmp_path: Path) -> None:
    env = filled(tmp_path)
    env.write_text(env.read_text() + "this is not an assignment\nQUOTED='open\n")
    out = check(env, codegraph=False)
    assert out.returncode == 1
    assert problems(out) == [f"check-env: {env}: line {len(env.read_text().splitlines()) - 1}: "
                             "not a NAME=value line",
                             f"check-env: {env}: QUOTED: unclosed quote (line "
                             f"{len(env.read_text().splitlines())})"]


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    env = filled(tmp_path, {"CODEGRAPH_BIND_ADDRESS": "0.0.0.0", "SERVR_PORT": "3000",
                            "CODEGRAPH_REPOS": "/srv/project"})
    env.chmod(0o644)
    out = check(env)
    assert out.returncode == 0, out.stderr
    for needle in ("CODEGRAPH_BIND_ADDRESS: 0.0.0.0 publishes the stack on every interface",
                   "SERVR_PORT: not a variable CodeGraph or its stacks read",
                   "CODEGRAPH_REPOS: /srv/project is not under /repos",
                   "mode 644: other users can read the secrets"):
        assert needle in out.stderr, out.stderr


def test_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    out = check(tmp_path / "nope.env")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == (f"check-env: {tmp_path / 'nope.env'}: no such readable file "
                                  f"(cp .env.example {tmp_path / 'nope.env'}, then fill in the "
                                  "secrets)")


def test_default_file_is_dot_env_in_the_working_directory(tmp_path: Path) -> None:
    filled(tmp_path)
    out = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, CODEGRAPH="none"), check=False)
    assert out.returncode == 0 and out.stdout.startswith("check-env: .env OK"), out.stderr


def test_help_and_usage_errors() -> None:
    out = check("--help")
    assert out.returncode == 0 and "check-env.sh [--dev] [ENV_FILE]" in out.stdout
    out = check("--bogus")
    assert out.returncode == 2 and "unknown option: --bogus" in out.stderr


def test_knows_every_variable_codegraph_reads() -> None:
    """Its list of known names holds every variable config.py reads (else a correct .env
    would be warned about) and every one of .env.example."""
    text = SCRIPT.read_text()
    known = set(re.search(r'KNOWN="([^"]*)"', text, re.S).group(1).split())  # type: ignore[union-attr]
    read = set(re.findall(r'"([A-Z][A-Z0-9]*_[A-Z0-9_]+)"',
                          (ROOT / "src/codegraph/config.py").read_text()))
    example = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", EXAMPLE.read_text(), re.M))
    assert read - known == set() and example - known == set()


def test_shellcheck_clean() -> None:
    """Every shell script of the repository, this one included."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if STRICT:
            pytest.fail("CODEGRAPH_STRICT_SKIPS=1 but shellcheck is not installed")
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    root = SCRIPT.parent.parent
    scripts = sorted({*root.glob("scripts/**/*.sh"), *root.glob("deploy/**/*.sh"),
                      root / ".ci" / "run"})
    assert SCRIPT in scripts
    out = subprocess.run([shellcheck, "-x", *map(str, scripts)], capture_output=True,
                         text=True, timeout=120, check=False, cwd=root)
    assert out.returncode == 0, out.stdout
