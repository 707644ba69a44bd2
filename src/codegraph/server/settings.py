"""The server's configuration, read once from the environment and checked at start.

Every variable of the spec's "Environment Configuration" is honoured. Where the spec names a
Rust-specific one we keep its meaning: ``RUST_LOG`` sets the log level, ``TOKIO_WORKER_THREADS``
the number of worker threads, ``HOT_RELOAD`` uvicorn's reload.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from codegraph import config
from codegraph.config import data_paths
from codegraph.errors import CodeGraphError
from codegraph.store.rocks import parse_size

LOG_LEVELS = {"trace": "DEBUG", "debug": "DEBUG", "info": "INFO", "warn": "WARNING",
              "warning": "WARNING", "error": "ERROR", "off": "CRITICAL", "critical": "CRITICAL"}
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
SECRETS = ("api_key", "admin_token", "openai_api_key", "redis_url")


class SettingsError(CodeGraphError):
    """A bad environment variable: the message names it and says what is expected."""


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 3000
    log_level: str = "INFO"
    log_format: str = "auto"  # json, console or auto (console on a terminal)
    data_dir: str = ".codegraph"
    rocksdb_path: str = ".codegraph/rocksdb"
    faiss_path: str = ".codegraph/faiss"
    block_cache: str | None = None
    workers: int = 4
    metrics_port: int = 9090
    prometheus_enabled: bool = True
    debug_mode: bool = False
    hot_reload: bool = False
    redis_url: str | None = None
    cache_ttl: int = 300
    cache_local_entries: int = 4096
    cache_local_bytes: int = 32 << 20
    cache_max_entry: int = 256 << 10
    api_key: str | None = None
    admin_token: str | None = None
    auth_reads: bool = False
    repos_root: str = "."
    repos: tuple[str, ...] = ()
    watch: bool = True
    embed: bool = True
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    max_body_depth: int = 64
    stale_after: float = 300.0
    min_revision_wait: float = 10.0
    drain_seconds: float = 20.0
    profile_dir: str = "/tmp"
    openai_api_key: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-3.5-turbo"

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


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _log_level(env: Mapping[str, str]) -> str:
    """``CODEGRAPH_LOG_LEVEL``, else ``RUST_LOG``: its global level, so ``info`` and
    ``codegraph=debug,info`` both work (a module-only directive applies to us)."""
    name = "CODEGRAPH_LOG_LEVEL" if env.get("CODEGRAPH_LOG_LEVEL") else "RUST_LOG"
    raw = env.get(name, "").strip()
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
        raise SettingsError(f"{name} must be one of {', '.join(sorted(LOG_LEVELS))}, "
                            f"got {raw!r}")
    return LOG_LEVELS[chosen]


def _size(env: Mapping[str, str], name: str, default: str) -> int:
    raw = env.get(name, "").strip() or default
    try:
        return parse_size(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    return _int(env, name, default, 1, 65535)


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in env.get(name, "").split(",") if p.strip())


def load(env: Mapping[str, str] | None = None, *, data_dir: str | None = None) -> Settings:
    """Read and check the whole configuration; a bad value raises :class:`SettingsError`."""
    env = os.environ if env is None else env
    paths = data_paths(data_dir)
    host = env.get("SERVER_HOST", "0.0.0.0").strip() or "0.0.0.0"
    try:
        worker_count = config.workers(env)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    block_cache = env.get("ROCKSDB_BLOCK_CACHE_SIZE") or None
    if block_cache:
        try:
            parse_size(block_cache)
        except ValueError as exc:
            raise SettingsError(f"ROCKSDB_BLOCK_CACHE_SIZE: {exc}") from None
    max_body_bytes = _size(env, "CODEGRAPH_MAX_BODY", "1MB")
    log_format = env.get("CODEGRAPH_LOG_FORMAT", "auto").strip().lower() or "auto"
    if log_format not in ("auto", "json", "console"):
        raise SettingsError(f"CODEGRAPH_LOG_FORMAT must be auto, json or console, "
                            f"got {log_format!r}")
    redis_url = env.get("REDIS_URL", "").strip() or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"REDIS_URL must start with redis://, rediss:// or unix://, "
                            f"got {redis_url.split('@')[-1]!r}")
    repos_root = os.path.realpath(env.get("CODEGRAPH_REPOS_ROOT") or os.getcwd())
    settings = Settings(
        host=host,
        port=_port(env, "SERVER_PORT", 3000),
        log_level=_log_level(env),
        log_format=log_format,
        data_dir=paths.data_dir,
        rocksdb_path=paths.rocksdb,
        faiss_path=os.path.abspath(env.get("FAISS_INDEX_PATH")
                                   or os.path.join(paths.data_dir, "faiss")),
        block_cache=block_cache,
        workers=worker_count,
        metrics_port=_port(env, "METRICS_PORT", 9090),
        prometheus_enabled=_bool(env, "PROMETHEUS_ENABLED", True),
        debug_mode=_bool(env, "DEBUG_MODE", False),
        hot_reload=_bool(env, "HOT_RELOAD", False),
        redis_url=redis_url,
        cache_ttl=_int(env, "CODEGRAPH_CACHE_TTL", 300, 1, 86400 * 7),
        cache_local_entries=_int(env, "CODEGRAPH_CACHE_LOCAL_ENTRIES", 4096, 0, 1_000_000),
        cache_local_bytes=_size(env, "CODEGRAPH_CACHE_LOCAL_BYTES", "32MB"),
        cache_max_entry=_size(env, "CODEGRAPH_CACHE_MAX_ENTRY", "256KB"),
        api_key=env.get("CODEGRAPH_API_KEY") or None,
        admin_token=env.get("CODEGRAPH_ADMIN_TOKEN") or None,
        auth_reads=_bool(env, "CODEGRAPH_AUTH_READS", False),
        repos_root=repos_root,
        repos=_list(env, "CODEGRAPH_REPOS"),
        watch=_bool(env, "CODEGRAPH_WATCH", True),
        embed=_bool(env, "CODEGRAPH_EMBED", True),
        cors_origins=_list(env, "CODEGRAPH_CORS_ORIGINS"),
        max_body_bytes=max_body_bytes,
        max_body_depth=_int(env, "CODEGRAPH_MAX_DEPTH", 64, 2, 500),
        stale_after=_float(env, "CODEGRAPH_STALE_AFTER", 300.0),
        min_revision_wait=_float(env, "CODEGRAPH_MIN_REVISION_WAIT", 10.0),
        drain_seconds=_float(env, "CODEGRAPH_DRAIN_SECONDS", 20.0),
        profile_dir=env.get("CODEGRAPH_PROFILE_DIR") or env.get("TMPDIR") or "/tmp",
        openai_api_key=env.get("OPENAI_API_KEY") or None,
        openai_base_url=(env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/"),
        openai_model=env.get("OPENAI_MODEL") or "gpt-3.5-turbo",
    )
    if settings.prometheus_enabled and settings.metrics_port == settings.port:
        raise SettingsError(f"METRICS_PORT ({settings.metrics_port}) must differ from "
                            f"SERVER_PORT")
    return settings
