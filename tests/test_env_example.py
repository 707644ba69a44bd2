""".env.example and the API's refusal of bad values (issue 14, section 3).

The example lists every variable of the spec's Environment Configuration with one comment
each and no secret; every variable in it is read by CodeGraph or by a compose file; and the
real ``codegraph serve`` process refuses each bad value with exit status 2 and one stderr
line that names the variable, before it opens or binds anything.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # (PyYAML, via schemathesis; no stubs)

from codegraph.config import ConfigError, load, read_env_file
from helpers import cli_env, one_line_error, run_cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".env.example"
# The spec's "Environment Configuration", by its sections.
SPEC = {
    "core": ("SERVER_HOST", "SERVER_PORT", "RUST_LOG"),
    "database": ("ROCKSDB_PATH", "FAISS_INDEX_PATH"),
    "performance": ("TOKIO_WORKER_THREADS", "ROCKSDB_BLOCK_CACHE_SIZE"),
    "openai": ("OPENAI_API_KEY", "OPENAI_MODEL"),
    "monitoring": ("METRICS_PORT", "PROMETHEUS_ENABLED"),
    "development": ("DEBUG_MODE", "HOT_RELOAD"),
}
# The stacks' own (the shared contract of issue 14).
STACK = ("REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "CODEGRAPH_API_KEY",
         "CODEGRAPH_ADMIN_TOKEN", "CODEGRAPH_TAG", "CODEGRAPH_BIND_ADDRESS", "HTTP_PORT",
         "HTTPS_PORT", "CODEGRAPH_REPOS_DIR", "CODEGRAPH_REPOS", "CODEGRAPH_CERTS_DIR",
         "CODEGRAPH_SUBNET", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB",
         "JUPYTER_TOKEN", "REDIS_COMMANDER_PASSWORD")
SECRETS = ("REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "CODEGRAPH_API_KEY",
           "CODEGRAPH_ADMIN_TOKEN", "POSTGRES_PASSWORD", "JUPYTER_TOKEN",
           "REDIS_COMMANDER_PASSWORD", "OPENAI_API_KEY")


def _assignments() -> list[tuple[int, str]]:
    lines = EXAMPLE.read_text().splitlines()
    return [(i, m.group(1)) for i, line in enumerate(lines)
            if (m := re.match(r"([A-Z][A-Z0-9_]*)=", line))]


def test_example_lists_every_spec_and_stack_variable() -> None:
    names = set(read_env_file(str(EXAMPLE)))
    for section, variables in SPEC.items():
        assert set(variables) <= names, f"{section}: {set(variables) - names} missing"
    assert set(STACK) <= names, set(STACK) - names


def test_every_variable_has_its_own_comment() -> None:
    lines = EXAMPLE.read_text().splitlines()
    names = [name for _, name in _assignments()]
    assert len(names) == len(set(names)), "a variable is set twice"
    for i, name in _assignments():
        assert lines[i - 1].startswith("# "), f"{name} (line {i + 1}) has no comment of its own"


def test_secrets_are_empty_and_say_how_to_make_one() -> None:
    env = read_env_file(str(EXAMPLE))
    text = EXAMPLE.read_text()
    for name in SECRETS:
        assert env[name] == "", f"{name} must be empty in the example"
    assert text.count("openssl rand -hex") >= 3  # the required block and each dev secret


def test_every_variable_is_read_by_codegraph_or_a_compose_file() -> None:
    """No invented variable: each is a name config.py reads, or one a compose file
    interpolates (the stack's own)."""
    config_py = (ROOT / "src/codegraph/config.py").read_text()
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', config_py))
    composed = set()
    for compose in ROOT.glob("docker-compose*.yml"):
        composed |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose.read_text()))
    assert {"docker-compose.production.yml", "docker-compose.dev.yml"} <= {
        p.name for p in ROOT.glob("docker-compose*.yml")}, "both stacks' compose files"
    unread = {name for _, name in _assignments()} - read - composed
    assert unread == set(), f"in .env.example but read by nothing: {sorted(unread)}"


def test_example_is_a_valid_configuration() -> None:
    code, out, err = run_cli("check-config", "--env-file", str(EXAMPLE), data_dir=None)
    assert (code, err) == (0, ""), err
    assert out.strip() == f"codegraph: configuration OK ({EXAMPLE})"


def test_check_config_prints_the_configuration_with_secrets_redacted(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("CODEGRAPH_API_KEY=k-0123456789abcdef\nREDIS_URL='redis://:pw@r:6379/0'\n"
                        "export SERVER_PORT=8080 # a comment\nTOKIO_WORKER_THREADS=\"3\"\n")
    code, out, err = run_cli("check-config", "--env-file", str(env_file), "--json",
                             data_dir=None)
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["port"], shown["workers"]) == (8080, 3)
    assert shown["api_key"] == shown["redis_url"] == "<redacted>"
    assert "0123456789abcdef" not in out and "pw@" not in out


@pytest.mark.parametrize(("text", "message"), [
    ("SERVER_PORT\n", ":1: not a NAME=value line"),
    ("OK=1\nSERVER_PORT='3000\n", ":2: not a NAME=value line (or an unclosed quote)"),
])
def test_env_file_syntax_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_env_file(str(env_file))


@pytest.mark.parametrize("name", ["PROMETHEUS_ENABLED", "CODEGRAPH_EMBED", "CODEGRAPH_WATCH",
                                  "DEBUG_MODE", "HOT_RELOAD"])
def test_an_empty_boolean_is_its_default(name: str) -> None:
    """Compose passes ``${VAR:-}`` of an unset variable as "": that is "unset", not false
    (it used to turn metrics, embeddings and watching off)."""
    default = load({})
    field = {"PROMETHEUS_ENABLED": "prometheus_enabled", "CODEGRAPH_EMBED": "embed",
             "CODEGRAPH_WATCH": "watch", "DEBUG_MODE": "debug_mode",
             "HOT_RELOAD": "hot_reload"}[name]
    assert getattr(load({name: ""}), field) == getattr(default, field)
    assert getattr(load({name: "  "}), field) == getattr(default, field)


@pytest.mark.parametrize(("host", "ok"), [
    ("0.0.0.0", True), ("127.0.0.1", True), ("::1", True), ("[::]", True), ("localhost", True),
    ("api.internal", True), ("not a host", False), ("999.1.1.1", False), ("-bad.host", False),
    ("a..b", False), ("x" * 64, False),
])
def test_server_host_is_an_address_or_a_host_name(host: str, ok: bool) -> None:
    if ok:
        assert load({"SERVER_HOST": host}).host == host.strip("[]")
    else:
        with pytest.raises(ConfigError, match="SERVER_HOST must be an IP address or a host"):
            load({"SERVER_HOST": host})


# -- the real process: every bad value of .env.example stops `codegraph serve` at start --------
BAD = [
    ("SERVER_HOST", "not a host", "SERVER_HOST must be an IP address or a host name"),
    ("SERVER_HOST", "no-such-host.invalid", "SERVER_HOST 'no-such-host.invalid' cannot be bound"),
    ("SERVER_PORT", "http", "SERVER_PORT must be a whole number, got 'http'"),
    ("SERVER_PORT", "70000", "SERVER_PORT must be between 1 and 65535, got 70000"),
    ("RUST_LOG", "loud", "RUST_LOG must be one of"),
    ("TOKIO_WORKER_THREADS", "0", "TOKIO_WORKER_THREADS must be between 1 and 256, got 0"),
    ("TOKIO_WORKER_THREADS", "four", "TOKIO_WORKER_THREADS must be a whole number"),
    ("ROCKSDB_BLOCK_CACHE_SIZE", "256 megs", "ROCKSDB_BLOCK_CACHE_SIZE: not a size"),
    ("METRICS_PORT", "-1", "METRICS_PORT must be between 1 and 65535, got -1"),
    ("METRICS_PORT", "3000", "METRICS_PORT (3000) must differ from SERVER_PORT"),
    ("PROMETHEUS_ENABLED", "maybe", "PROMETHEUS_ENABLED must be true or false, got 'maybe'"),
    ("DEBUG_MODE", "2", "DEBUG_MODE must be true or false, got '2'"),
    ("HOT_RELOAD", "sometimes", "HOT_RELOAD must be true or false, got 'sometimes'"),
    ("CODEGRAPH_REPOS", "/no/such/repo", "CODEGRAPH_REPOS: not a directory: /no/such/repo"),
    ("EMBEDDING_PROVIDER", "magic", "EMBEDDING_PROVIDER must be one of local, openai"),
    ("OPENAI_BASE_URL", "ftp://x", "OPENAI_BASE_URL must be an http(s) URL"),
    ("REDIS_URL", "http://redis:6379", "REDIS_URL must start with redis://"),
    ("CODEGRAPH_MAX_BODY", "big", "CODEGRAPH_MAX_BODY: not a size"),
    ("CODEGRAPH_LOG_FORMAT", "xml", "CODEGRAPH_LOG_FORMAT must be one of auto, json, console"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD,
                         ids=[f"{n}={v}" for n, v, _ in BAD])
def test_serve_refuses_a_bad_value_naming_it(tmp_path: Path, name: str, value: str,
                                              message: str) -> None:
    env = cli_env(**{"SERVER_HOST": "127.0.0.1", "SERVER_PORT": "3000", "METRICS_PORT": "9090",
                     "CODEGRAPH_WATCH": "0", name: value})
    code, out, err = run_cli("serve", data_dir=tmp_path / "data", env=env, timeout=60)
    line = one_line_error(code, err, message)
    assert name in line and out == ""
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_every_variable_a_compose_file_reads_is_in_the_example() -> None:
    example = set(read_env_file(str(EXAMPLE)))
    for compose in ROOT.glob("docker-compose*.yml"):
        read = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose.read_text()))
        assert read - example == set(), f"{compose.name} reads {sorted(read - example)}"


def _api_environment(compose: str) -> dict[str, str]:
    """The API service's environment as written in a compose file (uninterpolated)."""
    data = yaml.safe_load((ROOT / compose).read_text())
    env = data["services"]["codegraph-api"]["environment"]
    return {k: str(v) for k, v in env.items()}


def _comment(lines: list[str], i: int) -> str:
    j = i
    while j > 0 and lines[j - 1].startswith("#"):
        j -= 1
    return " ".join(line.lstrip("#").strip() for line in lines[j:i])


def test_the_api_variables_say_whether_the_stacks_pass_them() -> None:
    """Each API setting in .env.example reaches the production API (``${NAME...}`` in its
    environment), or its comment says the production stack does not pass it, and which
    stack does, or what production fixes it to: nobody sets it in .env in vain. A comment
    never says "not passed" of a variable that production passes."""
    lines = EXAMPLE.read_text().splitlines()
    config_py = (ROOT / "src/codegraph/config.py").read_text()
    prod = _api_environment("docker-compose.production.yml")
    dev = _api_environment("docker-compose.dev.yml")
    not_passed = re.compile(r"stacks do not pass|production stack does not pass")
    for i, name in _assignments():
        if f'"{name}"' not in config_py:
            continue  # the stacks' own: interpolated by a compose file (test above)
        comment = _comment(lines, i)
        if "${" + name in prod.get(name, ""):
            assert not not_passed.search(comment), (
                f"{name}: production passes it, but its comment says it does not")
            continue
        assert not_passed.search(comment), (
            f"{name}: the production stack does not pass it, and its comment is silent")
        if name in prod:
            assert "production fixes" in comment, (
                f"{name}: production fixes it to {prod[name]!r}: say so in its comment")
        if "${" + name in dev.get(name, ""):
            assert "dev stack passes" in comment, f"{name}: say that the dev stack passes it"


# Variables the API reads that the production stack neither passes from .env nor fixes,
# and why.
NOT_FOR_PRODUCTION = {
    "HOT_RELOAD": "development only: reloads the source the dev stack bind-mounts",
    "CODEGRAPH_DEBUG": "tracebacks on the command line (the CLI, not the server)",
    "NO_COLOR": "colour on a terminal (the CLI, not the server)",
    "CODEGRAPH_BUILD_REVISION": "set by the image's build",
    "CODEGRAPH_BUILD_CREATED": "set by the image's build",
}


def test_production_passes_every_setting_the_api_reads() -> None:
    """Every variable config.py reads reaches the production API, from .env (``${NAME``)
    or fixed by the stack, unless listed above with its reason: a setting check-env.sh
    validates must not be dropped silently on its way to the API."""
    read = set(re.findall(r'"([A-Z][A-Z0-9]*_[A-Z0-9_]+)"',
                          (ROOT / "src/codegraph/config.py").read_text()))
    prod = _api_environment("docker-compose.production.yml")
    dropped = sorted(read - set(prod) - set(NOT_FOR_PRODUCTION))
    assert dropped == [], f"the production stack drops {dropped}"
    stale = sorted(set(NOT_FOR_PRODUCTION) - (read - set(prod)))
    assert stale == [], f"listed as not passed, but passed or not read: {stale}"


@pytest.mark.parametrize(("name", "fixed"), [("DEBUG_MODE", "false"),
                                             ("PROMETHEUS_ENABLED", "true")])
def test_production_fixes_what_must_not_come_from_env(name: str, fixed: str) -> None:
    """DEBUG_MODE=true in a shared .env would open /debug/info through nginx; metrics off
    would fire CodeGraphAPIDown forever: production writes both, whatever .env says."""
    assert _api_environment("docker-compose.production.yml")[name] == fixed
