"""The configuration: one precedence (flag > environment > derived default) for every path
and count, read in one module, and honoured by every command."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import pytest

from codegraph.api import CodeGraph
from codegraph.config import ConfigError, load, usable_cores
from helpers import one_line_error, run_cli, write_tree
from serverproc import ServerProcess

SRC = Path(__file__).resolve().parent.parent / "src" / "codegraph"
REPO = {"pkg/__init__.py": "", "pkg/core.py": "def area(w, h):\n    return w * h\n"}


# -- the precedence table -------------------------------------------------------------------
def test_data_dir_flag_beats_every_path_variable(tmp_path: Path) -> None:
    env = {"CODEGRAPH_DATA_DIR": str(tmp_path / "envdir"),
           "ROCKSDB_PATH": str(tmp_path / "rocks"), "FAISS_INDEX_PATH": str(tmp_path / "faiss")}
    flag = load(env, data_dir=str(tmp_path / "flag"))
    assert (flag.data_dir, flag.rocksdb_path, flag.faiss_path) == (
        str(tmp_path / "flag"), str(tmp_path / "flag" / "rocksdb"),
        str(tmp_path / "flag" / "faiss"))
    assert flag.lexical_stage.startswith(str(tmp_path / "flag") + os.sep)


@pytest.mark.parametrize(("env", "expected"), [
    ({}, (".codegraph", ".codegraph/rocksdb", ".codegraph/faiss")),
    ({"CODEGRAPH_DATA_DIR": "d"}, ("d", "d/rocksdb", "d/faiss")),
    ({"CODEGRAPH_DATA_DIR": "d", "ROCKSDB_PATH": "r"}, ("d", "r", "d/faiss")),
    ({"CODEGRAPH_DATA_DIR": "d", "FAISS_INDEX_PATH": "f"}, ("d", "d/rocksdb", "f")),
    ({"ROCKSDB_PATH": "r", "FAISS_INDEX_PATH": "f"}, (".codegraph", "r", "f")),
])
def test_path_variables_beat_derived_defaults(env: dict[str, str],
                                              expected: tuple[str, str, str]) -> None:
    config = load(env)
    assert (config.data_dir, config.rocksdb_path, config.faiss_path) == tuple(
        os.path.abspath(p) for p in expected)


@pytest.mark.parametrize(("env", "flag", "expected"), [
    ({}, None, usable_cores()),
    ({"TOKIO_WORKER_THREADS": "5"}, None, 5),  # the spec's name, an alias
    ({"CODEGRAPH_WORKERS": "3", "TOKIO_WORKER_THREADS": "5"}, None, 3),
    ({"CODEGRAPH_WORKERS": "3"}, 7, 7),
    ({}, 2, 2),
])
def test_workers_precedence(env: dict[str, str], flag: int | None, expected: int) -> None:
    assert load(env, workers=flag).workers == expected


@pytest.mark.parametrize(("env", "flag", "expected"), [
    ({}, None, True), ({"CODEGRAPH_EMBED": "0"}, None, False),
    ({"CODEGRAPH_EMBED": "1"}, False, False), ({"CODEGRAPH_EMBED": "0"}, True, True),
])
def test_embed_precedence(env: dict[str, str], flag: bool | None, expected: bool) -> None:
    assert load(env, embed=flag).embed is expected


@pytest.mark.parametrize(("name", "field", "raw", "value", "default"), [
    ("CODEGRAPH_MAX_FILE_SIZE", "max_file_size", "2MB", 2 << 20, 1_000_000),
    ("CODEGRAPH_CACHE_TTL", "cache_ttl", "60", 60, 300),
    ("CODEGRAPH_CACHE_LOCAL_ENTRIES", "cache_local_entries", "10", 10, 4096),
    ("CODEGRAPH_CACHE_LOCAL_BYTES", "cache_local_bytes", "1MB", 1 << 20, 32 << 20),
    ("CODEGRAPH_CACHE_MAX_ENTRY", "cache_max_entry", "8KB", 8 << 10, 256 << 10),
    ("CODEGRAPH_MAX_BODY", "max_body_bytes", "2MB", 2 << 20, 1 << 20),
    ("CODEGRAPH_MAX_DEPTH", "max_body_depth", "10", 10, 64),
    ("SERVER_PORT", "port", "8080", 8080, 3000),
    ("METRICS_PORT", "metrics_port", "9191", 9191, 9090),
    ("CODEGRAPH_DRAIN_SECONDS", "drain_seconds", "5", 5.0, 20.0),
    ("CODEGRAPH_LOG_LEVEL", "log_level", "debug", "DEBUG", "INFO"),
    ("RUST_LOG", "log_level", "warn", "WARNING", "INFO"),
])
def test_every_count_from_its_variable_else_its_default(
        name: str, field: str, raw: str, value: object, default: object) -> None:
    assert getattr(load({name: raw}), field) == value
    assert getattr(load({}), field) == default


def test_primary_names_beat_the_spec_aliases() -> None:
    assert load({"CODEGRAPH_LOG_LEVEL": "error", "RUST_LOG": "debug"}).log_level == "ERROR"


@pytest.mark.parametrize(("env", "flags", "message"), [
    ({"CODEGRAPH_WORKERS": "many"}, {}, "CODEGRAPH_WORKERS must be a whole number, got 'many'"),
    ({"TOKIO_WORKER_THREADS": "0"}, {}, "TOKIO_WORKER_THREADS must be between 1 and 256"),
    ({}, {"workers": 0}, "--workers must be between 1 and 256, got 0"),
    ({"CODEGRAPH_MAX_FILE_SIZE": "big"}, {}, "CODEGRAPH_MAX_FILE_SIZE: not a size: 'big'"),
    ({"EMBEDDING_PROVIDER": "magic"}, {}, "EMBEDDING_PROVIDER must be one of local, openai"),
    ({"CODEGRAPH_EMBED": "maybe"}, {}, "CODEGRAPH_EMBED must be true or false, got 'maybe'"),
    ({"OPENAI_BASE_URL": "ftp://x"}, {}, "OPENAI_BASE_URL must be an http(s) URL"),
    ({"ROCKSDB_BLOCK_CACHE_SIZE": "lots"}, {}, "ROCKSDB_BLOCK_CACHE_SIZE: not a size"),
    ({"CODEGRAPH_STALE_AFTER": "nan"}, {}, "CODEGRAPH_STALE_AFTER must be a finite number"),
    ({"CODEGRAPH_DRAIN_SECONDS": "inf"}, {}, "CODEGRAPH_DRAIN_SECONDS must be a finite number"),
    ({"CODEGRAPH_DRAIN_SECONDS": "-1"}, {}, "not negative, got '-1'"),
    ({}, {"data_dir": " "}, "--data-dir must not be empty"),
])
def test_bad_configuration_names_the_variable_and_value(
        env: dict[str, str], flags: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(env, **flags)  # type: ignore[arg-type]
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_every_command_fails_at_start_on_bad_configuration(tmp_path: Path) -> None:
    for args in (("stats",), ("index", str(tmp_path)), ("healthcheck",), ("serve",)):
        code, _, err = run_cli(*args, data_dir=tmp_path / "data",
                               env={"CODEGRAPH_WORKERS": "0"})
        one_line_error(code, err, "CODEGRAPH_WORKERS must be between 1 and 256, got 0")
    assert not (tmp_path / "data").exists()  # nothing was opened, nothing created


# -- read in one place --------------------------------------------------------------------
def test_only_the_config_module_reads_the_environment() -> None:
    readers = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                readers.append(str(path.relative_to(SRC)))
    assert set(readers) == {"config.py"}, readers


# -- the bugs: --data-dir and CODEGRAPH_WORKERS reach everything ------------------------------
def _index_files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


def test_data_dir_flag_puts_the_whole_index_there(tmp_path: Path) -> None:
    """The images set ROCKSDB_PATH and FAISS_INDEX_PATH: ``--data-dir`` used to put the store
    in the flag's directory but the vectors in the variable's (index), or leave both there
    with only the lexical index moved (serve)."""
    repo = write_tree(tmp_path / "repo", REPO)
    live = tmp_path / "live"
    rocks, faiss = str(live / "rocksdb"), str(live / "faiss")
    env = {"ROCKSDB_PATH": rocks, "FAISS_INDEX_PATH": faiss, "CODEGRAPH_EMBED": "1"}
    other = tmp_path / "other"
    code, _, err = run_cli("index", str(repo), "--progress", "none", data_dir=other, env=env)
    assert code == 0, err
    assert {"rocksdb", "faiss", "lexical.sqlite"} <= _index_files(other)
    assert not live.exists()

    served = tmp_path / "served"
    with ServerProcess(tmp_path / "srv", [repo], flags=("--data-dir", str(served)),
                       ROCKSDB_PATH=rocks, FAISS_INDEX_PATH=faiss, CODEGRAPH_EMBED="1") as proc:
        deadline = time.monotonic() + 120
        while proc.ok("/api/v1/stats")["search"]["embedded"] == 0:
            assert time.monotonic() < deadline, "the server embedded nothing"
            time.sleep(0.2)
    assert {"rocksdb", "faiss", "lexical.sqlite"} <= _index_files(served)
    assert not live.exists() and not (tmp_path / "srv" / "data").exists()


def test_workers_reach_the_onnx_embedder_and_faiss(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", REPO)
    config = load({"CODEGRAPH_WORKERS": "3"}, data_dir=str(tmp_path / "data"))
    with CodeGraph.open(config) as cg:
        cg.index(str(repo), embed=True)
        search = cg.search_service()
        embedder = search.embedder()
        # One thread per model run; the runs of a call go to CODEGRAPH_WORKERS threads.
        embedder.embed([f"text number {i}" for i in range(12)])
        session = embedder._session  # type: ignore[attr-defined]
        assert session.get_session_options().intra_op_num_threads == 1
        assert embedder._pool._max_workers == 3  # type: ignore[attr-defined]
        assert search.vectors().threads == 3


# -- the default worker count honours a container's CPU quota ---------------------------------
def _cgroup(root: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return str(root)


@pytest.mark.parametrize(("files", "limit"), [
    ({"cpu.max": "200000 100000"}, 2),  # cgroup v2, docker --cpus 2
    ({"cpu.max": "150000 100000"}, 2),  # --cpus 1.5: rounded up
    ({"cpu.max": "50000 100000"}, 1),  # --cpus 0.5: at least one
    ({"cpu.max": "max 100000"}, None),  # no quota
    ({"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1),  # v1
    ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3),
    ({"cpu,cpuacct/cpu.cfs_quota_us": "200000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
     2),
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),  # v1: none
    ({"cpu.max": "garbage"}, None),
    ({}, None),  # no cgroup file system
])
def test_the_cgroup_cpu_quota_caps_the_default_workers(
        tmp_path: Path, files: dict[str, str], limit: int | None) -> None:
    from codegraph.config import cgroup_cpu_limit

    root = _cgroup(tmp_path, files)
    assert cgroup_cpu_limit(root) == limit
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(root) == (affinity if limit is None else min(affinity, limit))


def test_a_quota_of_one_core_gives_one_worker(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The default ``workers`` (and the parser pool's size) follows the quota."""
    import codegraph.config as config

    monkeypatch.setattr(config, "CGROUP_ROOT", _cgroup(tmp_path, {"cpu.max": "100000 100000"}))
    assert load({}).workers == 1
    assert load({"CODEGRAPH_WORKERS": "4"}).workers == 4  # an explicit count still wins
