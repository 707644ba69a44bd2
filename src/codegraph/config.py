"""CodeGraph's whole configuration, read once: flags, then the environment, then defaults.

This is the one module that reads ``os.environ``. The command line and the server's entry
point call :func:`load` at start; everything below them is handed the frozen
:class:`Config` (or the values it needs) and never looks at the environment.

Precedence, for every setting: a command-line flag beats its environment variable, which
beats the default derived from the others. The paths, in particular:

- ``data_dir``: ``--data-dir`` > ``$CODEGRAPH_DATA_DIR`` > ``./.codegraph``;
- ``rocksdb_path``: ``<--data-dir>/rocksdb`` > ``$ROCKSDB_PATH`` > ``<data_dir>/rocksdb``;
- ``faiss_path``: ``<--data-dir>/faiss`` > ``$FAISS_INDEX_PATH`` > ``<data_dir>/faiss``;
- ``backup_dir`` (where the server writes backups): ``$CODEGRAPH_BACKUP_DIR`` > ``backups``
  beside the data directory (``/app/data`` -> ``/app/backups``); never inside the data
  directory, which a restore replaces whole.

A ``--data-dir`` names a whole data directory (a checkpoint is read whole, from there), so
it beats ``$ROCKSDB_PATH`` and ``$FAISS_INDEX_PATH`` too.

Names are CodeGraph's own; the spec's Rust-specific ones are documented aliases:
``RUST_LOG`` for ``CODEGRAPH_LOG_LEVEL`` and ``TOKIO_WORKER_THREADS`` for
``CODEGRAPH_WORKERS`` (the primary name wins when both are set). An empty value is an
unset one (the default applies), as Compose passes ``${VAR}`` of an unset variable. A bad
value raises :class:`ConfigError`, whose one-line message names the variable and the value.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from codegraph.errors import BadRequest

DEFAULT_DATA_DIR = ".codegraph"
# In the data directory, next to the lexical index: where parse workers stage its rows
# (search/lexical_stage.py).
LEXICAL_STAGE = "lexical-stage"
DEFAULT_MAX_FILE_SIZE = 1_000_000
# The most LLM tokens (about 4 characters each) one answer may hold, whatever is asked
# (CODEGRAPH_MAX_TOKENS): a larger max_tokens is capped, and the answer says so.
DEFAULT_MAX_TOKENS = 8000
LOG_LEVELS = {"trace": "DEBUG", "debug": "DEBUG", "info": "INFO", "warn": "WARNING",
              "warning": "WARNING", "error": "ERROR", "off": "CRITICAL", "critical": "CRITICAL"}
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
SECRETS = ("api_key", "admin_token", "openai_api_key", "redis_url")
ALIASES = {"CODEGRAPH_WORKERS": "TOKIO_WORKER_THREADS", "CODEGRAPH_LOG_LEVEL": "RUST_LOG"}
PROVIDERS = ("local", "openai")
# standalone: one server that indexes and answers; indexer: the one writer, publishing
# snapshots; replica: answers from the newest published snapshot, writes nothing
ROLES = ("standalone", "indexer", "replica")
HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
T = TypeVar("T")


class ConfigError(BadRequest):
    """A bad setting: the message names the variable (or flag) and the value."""


# What gets no vector unless CODEGRAPH_EMBED_EXCLUDE says otherwise (search/embed_scope.py):
# what nobody searches by meaning and what only lengthens the first run. Migration files
# (Django, Laravel, Knex: migrations/0001_...; Rails: migrate/2024...; Alembic), not a
# migrations package's own code (django/db/migrations/ is the framework).
DEFAULT_EMBED_EXCLUDE: tuple[str, ...] = (
    "**/migrations/[0-9]*", "**/migrate/[0-9]*", "**/alembic/versions/**",
    "*_pb2.py", "*_pb2_grpc.py", "*.pb.go", "*.min.js",
    "**/vendor/**", "**/third_party/**", "**/node_modules/**",
)


@dataclass(frozen=True, slots=True)
class Config:
    # where the index lives
    data_dir: str = os.path.abspath(DEFAULT_DATA_DIR)
    rocksdb_path: str = os.path.abspath(os.path.join(DEFAULT_DATA_DIR, "rocksdb"))
    faiss_path: str = os.path.abspath(os.path.join(DEFAULT_DATA_DIR, "faiss"))
    backup_dir: str = os.path.abspath("backups")
    block_cache: str | None = None
    # indexing
    workers: int = 1
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    embed: bool = True
    embed_exclude: tuple[str, ...] = DEFAULT_EMBED_EXCLUDE  # see search/embed_scope.py
    # embeddings and the chat model of /ask
    embedding_provider: str = "local"
    embedding_model_path: str | None = None
    openai_api_key: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_embedding_model: str = "text-embedding-3-small"
    openai_model: str = "gpt-3.5-turbo"
    # the server
    host: str = "0.0.0.0"
    port: int = 3000
    log_level: str = "INFO"
    log_format: str = "auto"  # json, console or auto (console on a terminal)
    metrics_port: int = 9090
    prometheus_enabled: bool = True
    debug_mode: bool = False
    hot_reload: bool = False
    redis_url: str | None = None
    cache_ttl: int = 300
    cache_local_entries: int = 4096
    cache_local_bytes: int = 32 << 20
    cache_max_entry: int = 256 << 10
    max_tokens: int = DEFAULT_MAX_TOKENS  # the ceiling of any answer's token budget
    api_key: str | None = None
    admin_token: str | None = None
    auth_reads: bool = False
    repos_root: str = "/"
    repos: tuple[str, ...] = ()
    watch: bool = True
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    max_body_depth: int = 64
    stale_after: float = 300.0
    min_revision_wait: float = 10.0
    drain_seconds: float = 20.0
    profile_dir: str = "/tmp"
    tracemalloc: bool = False
    # scale-out (docs/scaling.md)
    role: str = "standalone"
    publish_interval: float = 1.0
    snapshot_grace: float = 60.0
    snapshot_poll: float = 1.0
    # diagnostics
    debug: bool = False  # CODEGRAPH_DEBUG: tracebacks on the command line
    build_revision: str | None = None
    build_created: str | None = None

    @property
    def lexical_stage(self) -> str:
        return os.path.join(self.data_dir, LEXICAL_STAGE)

    @property
    def loopback_only(self) -> bool:
        return self.host in ("127.0.0.1", "::1", "localhost")

    @property
    def writes_open(self) -> bool:
        """Mutating endpoints need the API key, unless none is set and only this machine can
        reach the server."""
        return self.api_key is None and self.loopback_only

    def redacted(self) -> dict[str, Any]:
        out = asdict(self)
        for name in SECRETS:
            if out.get(name):
                out[name] = "<redacted>"
        return out


def parse_size(text: str) -> int:
    """``256MB`` / ``1GiB`` / ``1048576`` -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*", text.lower())
    if not m:
        raise ValueError(f"not a size: {text!r} (try 256MB)")
    unit = m.group(2).rstrip("b").rstrip("i")
    power = " kmgt".index(unit) if unit else 0
    return int(float(m.group(1)) * 1024**power)


CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_cpu_limit(root: str | None = None) -> int | None:
    """The CPU quota of this process's cgroup in whole cores, rounded up (``docker run
    --cpus 1.5``, compose ``cpus: 2.0``): cgroup v2's ``cpu.max`` ("<quota> <period>" or
    "max <period>"), else cgroup v1's ``cpu/cpu.cfs_quota_us`` over ``cpu.cfs_period_us``
    (-1: none). None: no quota, or no cgroup file system to ask."""
    def read(*parts: str) -> str | None:
        try:
            with open(os.path.join(root or CGROUP_ROOT, *parts)) as f:
                return f.read().strip()
        except OSError:
            return None

    quota: float | None = None
    period: float | None = None
    v2 = read("cpu.max")
    if v2 is not None:
        fields = v2.split()
        if len(fields) == 2 and fields[0] != "max":
            quota, period = _float(fields[0]), _float(fields[1])
    else:
        for group in ("cpu", "cpu,cpuacct"):
            raw_quota, raw_period = (read(group, "cpu.cfs_quota_us"),
                                     read(group, "cpu.cfs_period_us"))
            if raw_quota is not None and raw_period is not None:
                quota, period = _float(raw_quota), _float(raw_period)
                break
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def no_color() -> bool:
    """NO_COLOR (no-color.org): set and not empty, the command line draws no colour."""
    return bool(os.environ.get("NO_COLOR"))


def completing() -> bool:
    """Whether a shell's completion (argcomplete's ``_ARGCOMPLETE``) started this process."""
    return "_ARGCOMPLETE" in os.environ


def usable_cores(cgroup_root: str | None = None) -> int:
    """The cores this process may use: its CPU affinity (taskset, cgroup cpusets), capped by
    its cgroup's CPU quota (a container's ``cpus:`` limit) when it has one. A container
    limited to 2 CPUs on a 16-core host gets 2, not 16 parser processes."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cores = max(1, os.cpu_count() or 1)
    limit = cgroup_cpu_limit(cgroup_root)
    return cores if limit is None else min(cores, limit)


class _Reader:
    """Typed, checked reads of one environment mapping; every error names the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def name(self, primary: str) -> str:
        """The variable that sets ``primary``: itself, or its alias when only that is set."""
        alias = ALIASES.get(primary)
        if alias and not self.env.get(primary, "").strip() and self.env.get(alias, "").strip():
            return alias
        return primary

    def text(self, name: str, default: str | None = None) -> str | None:
        return self.env.get(name, "").strip() or default

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self._number(name, int, "a whole number")
        return default if value is None else check_range(name, value, lo, hi)

    def seconds(self, name: str, default: float) -> float:
        value = self._number(name, float, "a number of seconds")
        if value is not None and not 0 <= value < math.inf:  # (NaN too)
            raise ConfigError(f"{name} must be a finite number of seconds, not negative, "
                              f"got {self.env[name].strip()!r}")
        return default if value is None else value

    def _number(self, name: str, kind: Callable[[str], T], what: str) -> T | None:
        raw = self.env.get(name, "").strip()
        if not raw:
            return None
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {what}, got {raw!r}") from None

    def flag(self, name: str, default: bool) -> bool:
        raw = self.env.get(name, "")
        value = raw.strip().lower()
        if not value:
            return default
        if value in TRUE:
            return True
        if value in FALSE:
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def size(self, name: str, default: str) -> int:
        raw = self.env.get(name, "").strip() or default
        try:
            return parse_size(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None

    def names(self, name: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.env.get(name, "").split(",") if p.strip())

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.env.get(name, "").strip() or default).lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def host(self, name: str, default: str) -> str:
        """An IP address or a host name (RFC 1123), checked before anything binds it."""
        value = self.env.get(name, "").strip() or default
        try:
            ipaddress.ip_address(value.strip("[]"))
            return value.strip("[]")
        except ValueError:
            pass
        labels = value.split(".")
        if (len(value) > 253 or not all(HOST_LABEL.fullmatch(p) for p in labels)
                or labels[-1].isdigit()):  # 999.1.1.1 is no address and no name
            raise ConfigError(f"{name} must be an IP address or a host name, got {value!r}")
        return value

    def log_level(self) -> str:
        """``CODEGRAPH_LOG_LEVEL`` (or ``RUST_LOG``): a level, or ``RUST_LOG``'s directives,
        whose global level applies unless one names us (``codegraph=debug,info``)."""
        name = self.name("CODEGRAPH_LOG_LEVEL")
        raw = self.env.get(name, "").strip()
        if not raw:
            return "INFO"
        ours = default = None
        for directive in raw.split(","):
            target, _, level = directive.strip().rpartition("=")
            if not target:
                default = level.strip().lower()
            elif target.split("::")[0] in ("codegraph", "codegraph_api"):
                ours = level.strip().lower()
        chosen = ours or default
        if chosen not in LOG_LEVELS:
            raise ConfigError(f"{name} must be one of {', '.join(sorted(LOG_LEVELS))}, "
                              f"got {raw!r}")
        return LOG_LEVELS[chosen]


def check_host(name: str, value: str) -> str:
    """An IP address or a host name given as ``name`` (a flag): checked as SERVER_HOST is."""
    return _Reader({name: value}).host(name, value)


def check_range(name: str, value: int, lo: int, hi: int) -> int:
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def layout(data_dir: str, rocksdb: str | None = None, faiss: str | None = None,
           ) -> tuple[str, str, str]:
    """The data directory, the store's and the vector index's directories (absolute): the
    two in the data directory unless given elsewhere."""
    return (os.path.abspath(data_dir),
            os.path.abspath(rocksdb or os.path.join(data_dir, "rocksdb")),
            os.path.abspath(faiss or os.path.join(data_dir, "faiss")))


def _paths(read: _Reader, data_dir: str | None) -> tuple[str, str, str]:
    if data_dir is not None:
        if not data_dir.strip():
            raise ConfigError("--data-dir must not be empty")
        return layout(data_dir)  # a whole data directory: the flag beats the variables
    return layout(read.text("CODEGRAPH_DATA_DIR") or DEFAULT_DATA_DIR,
                  read.text("ROCKSDB_PATH"), read.text("FAISS_INDEX_PATH"))


def _backup_dir(read: _Reader, data_dir: str) -> str:
    """``CODEGRAPH_BACKUP_DIR``, or ``backups`` beside the data directory; never inside it."""
    chosen = os.path.abspath(read.text("CODEGRAPH_BACKUP_DIR")
                             or os.path.join(os.path.dirname(data_dir), "backups"))
    inside = os.path.realpath(chosen) + "/"
    if inside.startswith(os.path.realpath(data_dir).rstrip("/") + "/"):
        raise ConfigError(f"CODEGRAPH_BACKUP_DIR ({chosen}) must not be inside the data "
                          f"directory {data_dir}: a restore replaces that directory whole")
    return chosen


def _embed_exclude(read: _Reader) -> tuple[str, ...]:
    """CODEGRAPH_EMBED_EXCLUDE's patterns (default: ``DEFAULT_EMBED_EXCLUDE``), checked
    now: a pattern that cannot match is a configuration error, not a silent no-op."""
    from codegraph.search.embed_scope import EmbedScope

    patterns = read.names("CODEGRAPH_EMBED_EXCLUDE") or DEFAULT_EMBED_EXCLUDE
    EmbedScope(patterns)
    return patterns


def load(env: Mapping[str, str] | None = None, *, data_dir: str | None = None,
         workers: int | None = None, embed: bool | None = None) -> Config:
    """The configuration from the flags given (None: not given), then ``env`` (default: the
    process's environment), then the defaults. Raises :class:`ConfigError`."""
    read = _Reader(os.environ if env is None else env)
    data, rocks, faiss = _paths(read, data_dir)
    workers_var = read.name("CODEGRAPH_WORKERS")
    worker_count = (check_range("--workers", workers, 1, 256) if workers is not None
                    else read.integer(workers_var, usable_cores(), 1, 256))
    block_cache = read.text("ROCKSDB_BLOCK_CACHE_SIZE")
    if block_cache:
        read.size("ROCKSDB_BLOCK_CACHE_SIZE", block_cache)
    redis_url = read.text("REDIS_URL")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix://, "
                          f"got {redis_url.split('@')[-1]!r}")
    base_url = (read.text("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"OPENAI_BASE_URL must be an http(s) URL, got {base_url!r}")
    config = Config(
        data_dir=data, rocksdb_path=rocks, faiss_path=faiss, block_cache=block_cache,
        backup_dir=_backup_dir(read, data),
        workers=worker_count,
        max_file_size=read.size("CODEGRAPH_MAX_FILE_SIZE", str(DEFAULT_MAX_FILE_SIZE)),
        embed=embed if embed is not None else read.flag("CODEGRAPH_EMBED", True),
        embed_exclude=_embed_exclude(read),
        embedding_provider=read.choice("EMBEDDING_PROVIDER", "local", PROVIDERS),
        embedding_model_path=read.text("EMBEDDING_MODEL_PATH"),
        openai_api_key=read.text("OPENAI_API_KEY"),
        openai_base_url=base_url,
        openai_embedding_model=read.text("OPENAI_EMBEDDING_MODEL")
        or "text-embedding-3-small",
        openai_model=read.text("OPENAI_MODEL") or "gpt-3.5-turbo",
        host=read.host("SERVER_HOST", "0.0.0.0"),
        port=read.integer("SERVER_PORT", 3000, 1, 65535),
        log_level=read.log_level(),
        log_format=read.choice("CODEGRAPH_LOG_FORMAT", "auto", ("auto", "json", "console")),
        metrics_port=read.integer("METRICS_PORT", 9090, 1, 65535),
        prometheus_enabled=read.flag("PROMETHEUS_ENABLED", True),
        debug_mode=read.flag("DEBUG_MODE", False),
        hot_reload=read.flag("HOT_RELOAD", False),
        redis_url=redis_url,
        cache_ttl=read.integer("CODEGRAPH_CACHE_TTL", 300, 1, 86400 * 7),
        cache_local_entries=read.integer("CODEGRAPH_CACHE_LOCAL_ENTRIES", 4096, 0, 1_000_000),
        cache_local_bytes=read.size("CODEGRAPH_CACHE_LOCAL_BYTES", "32MB"),
        cache_max_entry=read.size("CODEGRAPH_CACHE_MAX_ENTRY", "256KB"),
        max_tokens=read.integer("CODEGRAPH_MAX_TOKENS", DEFAULT_MAX_TOKENS, 100, 1_000_000),
        api_key=read.text("CODEGRAPH_API_KEY"),
        admin_token=read.text("CODEGRAPH_ADMIN_TOKEN"),
        auth_reads=read.flag("CODEGRAPH_AUTH_READS", False),
        repos_root=os.path.realpath(read.text("CODEGRAPH_REPOS_ROOT") or os.getcwd()),
        repos=read.names("CODEGRAPH_REPOS"),
        watch=read.flag("CODEGRAPH_WATCH", True),
        cors_origins=read.names("CODEGRAPH_CORS_ORIGINS"),
        max_body_bytes=read.size("CODEGRAPH_MAX_BODY", "1MB"),
        max_body_depth=read.integer("CODEGRAPH_MAX_DEPTH", 64, 2, 500),
        stale_after=read.seconds("CODEGRAPH_STALE_AFTER", 300.0),
        min_revision_wait=read.seconds("CODEGRAPH_MIN_REVISION_WAIT", 10.0),
        drain_seconds=read.seconds("CODEGRAPH_DRAIN_SECONDS", 20.0),
        profile_dir=read.text("CODEGRAPH_PROFILE_DIR") or read.text("TMPDIR") or "/tmp",
        tracemalloc=read.flag("CODEGRAPH_TRACEMALLOC", False),
        role=read.choice("CODEGRAPH_ROLE", "standalone", ROLES),
        publish_interval=read.seconds("CODEGRAPH_PUBLISH_INTERVAL", 1.0),
        snapshot_grace=read.seconds("CODEGRAPH_SNAPSHOT_GRACE", 60.0),
        snapshot_poll=max(0.05, read.seconds("CODEGRAPH_SNAPSHOT_POLL", 1.0)),
        debug=read.flag("CODEGRAPH_DEBUG", False),
        build_revision=read.text("CODEGRAPH_BUILD_REVISION"),
        build_created=read.text("CODEGRAPH_BUILD_CREATED"),
    )
    if config.prometheus_enabled and config.metrics_port == config.port:
        raise ConfigError(f"METRICS_PORT ({config.metrics_port}) must differ from "
                          f"SERVER_PORT")
    return config


def read_env_file(path: str) -> dict[str, str]:
    """The variables of a ``.env`` file as Docker Compose reads it (python-dotenv's parser:
    ``NAME=value``, comments, ``export``, quotes; no interpolation). Raises
    :class:`ConfigError` naming the first line that is none of these."""
    from dotenv.parser import parse_stream

    env: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for binding in parse_stream(f):
            if binding.error or (binding.key is not None and binding.value is None):
                raise ConfigError(f"{path}:{binding.original.line}: not a NAME=value line "
                                  f"(or an unclosed quote)")
            if binding.key is not None and binding.value is not None:
                env[binding.key] = binding.value
    return env


def export(config: Config, repos: tuple[str, ...]) -> None:
    """Hand the resolved paths and repositories to a child that loads its configuration
    again (uvicorn's reloader starts the server in one): it then reads what this process
    resolved, whatever flags were given here."""
    os.environ.update(CODEGRAPH_DATA_DIR=config.data_dir, ROCKSDB_PATH=config.rocksdb_path,
                      FAISS_INDEX_PATH=config.faiss_path, CODEGRAPH_REPOS=",".join(repos),
                      CODEGRAPH_WORKERS=str(config.workers),
                      CODEGRAPH_EMBED="1" if config.embed else "0")
