"""Operating the server: metrics, debug info, logs, signals, shutdown, configuration."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from codegraph.config import ConfigError, load
from helpers import dump_store, one_line_error, run_cli, write_tree
from serverproc import ServerProcess, free_port

pytestmark = pytest.mark.timeout(240)


def _small_repo(root: Path) -> Path:
    return write_tree(root, {
        "pkg/__init__.py": "",
        "pkg/core.py": "def base():\n    return 1\n\n\ndef top():\n    return base()\n",
    })


def _metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()) and (
                head == name or head.startswith(name + "{")):
            return float(value)
    return None


def test_metrics_on_their_own_port(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")]) as proc:
        proc.wait_jobs_idle()
        proc.ok("/api/v1/callers", symbol="base")
        proc.ok("/api/v1/search", query="base", mode="lexical")
        assert proc.get("/metrics").status_code == 404  # not on the API port
        text = httpx.get(proc.metrics_url, timeout=10).text
        assert _metric(text, "codegraph_http_requests_total", route="/api/v1/callers",
                       method="GET", status="200") == 1.0
        assert _metric(text, "codegraph_http_request_duration_seconds_count",
                       route="/api/v1/callers") == 1.0
        assert _metric(text, "codegraph_search_duration_seconds_count", mode="lexical") == 1.0
        assert _metric(text, "codegraph_index_files") == 2.0
        assert _metric(text, "codegraph_index_nodes", kind="function") == 2.0
        assert _metric(text, "codegraph_index_edges", kind="calls") == 1.0
        assert (_metric(text, "codegraph_index_revision") or 0) > 0
        assert _metric(text, "codegraph_index_lag_seconds") == 0.0
        assert _metric(text, "codegraph_index_parse_failures") == 0.0
        assert (_metric(text, "codegraph_index_last_duration_seconds") or 0) > 0
        assert _metric(text, "codegraph_search_embedding_coverage_ratio") is not None
        assert (_metric(text, "process_resident_memory_bytes") or 0) > 10_000_000
        # the container's (cgroup's) own figures, children included (here: this host's)
        assert (_metric(text, "codegraph_container_memory_bytes") or 0) > 10_000_000
        assert (_metric(text, "codegraph_container_cpu_seconds_total") or 0) >= (
            _metric(text, "process_cpu_seconds_total") or 0) > 0
        assert _metric(text, "codegraph_index_jobs_total", kind="index", state="done") == 1.0


def test_metrics_can_be_switched_off(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")],
                       PROMETHEUS_ENABLED="false") as proc, pytest.raises(httpx.ConnectError):
        httpx.get(proc.metrics_url, timeout=5)


def test_debug_info_is_guarded_and_redacted(tmp_path: Path) -> None:
    secret, admin = "sk-live-verysecret", "admin-token-1"
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")], OPENAI_API_KEY=secret,
                       CODEGRAPH_API_KEY="api-secret", CODEGRAPH_ADMIN_TOKEN=admin) as proc:
        r = proc.get("/debug/info")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = proc.client.get("/debug/info", headers={"X-Admin-Token": admin})
        assert r.status_code == 200
        info = r.json()
        assert secret not in r.text and "api-secret" not in r.text and admin not in r.text
        assert info["config"]["openai_api_key"] == "<redacted>"
        assert info["config"]["port"] == proc.port
        assert info["memory"]["rss_bytes"] > 10_000_000
        assert info["index"]["files"] == 2 and info["version"]
    with ServerProcess(tmp_path / "d", [_small_repo(tmp_path / "r2")],
                       DEBUG_MODE="true") as proc:
        assert proc.get("/debug/info").status_code == 200


def test_json_logs_carry_the_request(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")]) as proc:
        rid = proc.client.get("/api/v1/callers", params={"symbol": "base"},
                              headers={"X-Request-Id": "abc-123"}).headers["x-request-id"]
        proc.get("/api/v1/callers", symbol="nothing_here")
        time.sleep(0.2)
        lines = proc.output().splitlines()
        records = proc.logs()
        assert len(records) == len(lines)  # every line is one JSON object
        access = [r for r in records if r.get("request_id") == rid]
        assert access and set(access[0]) >= {"ts", "level", "msg", "request_id", "route",
                                             "status", "duration_ms"}
        assert access[0]["route"] == "/api/v1/callers" and access[0]["status"] == 200
        assert any(r.get("status") == 404 and r.get("route") == "/api/v1/callers"
                   for r in records)


def test_a_traceback_in_the_log_carries_the_request_id(tmp_path: Path) -> None:
    """A node record that no longer decodes (a damaged store): the request gets 500 with
    its request id, and the log has the traceback under that id."""
    from rocksdict import Options, Rdict

    from codegraph.store.rocks import COLUMN_FAMILIES

    data = tmp_path / "data"
    assert run_cli("index", str(_small_repo(tmp_path / "r")), data_dir=data)[0] == 0
    node = run_cli("def", "base", "--json", data_dir=data)[1]
    node_id = __import__("json").loads(node)["results"][0]["id"]
    db = Rdict(str(data / "rocksdb"), Options(raw_mode=True), column_families={
        name: Options(raw_mode=True) for name in COLUMN_FAMILIES})
    db.get_column_family("nodes")[bytes.fromhex(node_id)] = b"\xc1 not msgpack"
    db.close()
    del db
    with ServerProcess(tmp_path, []) as proc:
        r = proc.client.get("/api/v1/definition", params={"symbol": "base"},
                            headers={"X-Request-Id": "trace-me-1"})
        assert r.status_code == 500 and r.json()["error"]["request_id"] == "trace-me-1"
        assert "Traceback" not in r.text
        deadline = time.monotonic() + 10
        while not (failed := [rec for rec in proc.logs() if rec.get("level") == "error"]):
            assert time.monotonic() < deadline, proc.output()
            time.sleep(0.05)
        assert all(rec.get("request_id") == "trace-me-1" for rec in failed)
        assert any("Traceback" in rec.get("exception", "") for rec in failed)


def test_sigusr1_toggles_debug_and_sigusr2_writes_a_heap_profile(tmp_path: Path) -> None:
    admin = {"X-Admin-Token": "t"}
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")],
                       CODEGRAPH_ADMIN_TOKEN="t") as proc:
        def level() -> str:
            return str(proc.client.get("/debug/info", headers=admin).json()["log_level"])

        assert level() == "INFO"
        proc.send_signal(signal.SIGUSR1)
        _until(lambda: level() == "DEBUG")
        proc.send_signal(signal.SIGUSR1)
        _until(lambda: level() == "INFO")
        assert proc.proc.poll() is None
        for _ in range(2):
            proc.send_signal(signal.SIGUSR2)
            time.sleep(0.3)
        _until(lambda: len(list(tmp_path.glob("codegraph-heap-*.txt"))) >= 1)
        _until(lambda: len([r for r in proc.logs() if r.get("msg") == "heap profile written"])
               == 2)
        paths = [r["path"] for r in proc.logs() if r.get("msg") == "heap profile written"]
        profile = Path(paths[-1]).read_text()
        assert "rss" in profile and " B " in profile


def _until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path, [_small_repo(tmp_path / "r")],
                         CODEGRAPH_MIN_REVISION_WAIT="2")
    answers: list[int] = []

    def slow_request() -> None:  # waits ~2 s for a revision that never comes
        r = httpx.get(f"{proc.url}/api/v1/callers",
                      params={"symbol": "base", "min_revision": 10**9}, timeout=30)
        answers.append(r.status_code)

    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert proc.stop(signal.SIGTERM) == 0
    t.join(10)
    assert answers == [409]  # answered (revision_not_reached), not dropped
    assert time.monotonic() - started >= 1.0  # it waited for the request
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{proc.url}/health", timeout=2)
    assert any(r.get("msg") == "stopped" and r.get("clean") for r in proc.logs())


def _big_repo(root: Path) -> Path:
    """800 files of 60 functions: several seconds of indexing with one worker."""
    def module(j: int) -> str:
        nxt = (j + 1) % 20
        return f"from mod.m{nxt} import f{nxt}_0\n\n\n" + "".join(
            f"def f{j}_{k}(x):\n    return f{j}_{(k + 1) % 60}(x) + f{nxt}_0(x)\n\n\n"
            for k in range(60))

    return write_tree(root, {f"mod{i}/m{j}.py": module(j).replace("mod.", f"mod{i}.")
                             for i in range(40) for j in range(20)})


def _running_job(proc: ServerProcess) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def running() -> bool:
        found[:] = [j for j in proc.get("/api/v1/jobs").json().get("results", [])
                    if j["state"] == "running" and j["progress"]["done"] > 0]
        return bool(found)

    _until(running, 60)
    return found[0]


def test_cancel_queued_and_running_jobs(tmp_path: Path) -> None:
    key = {"X-API-Key": "k"}
    with ServerProcess(tmp_path, [_big_repo(tmp_path / "big")], wait_ready=False,
                       CODEGRAPH_WORKERS="1", CODEGRAPH_API_KEY="k") as proc:
        running = _running_job(proc)
        queued = proc.client.post("/api/v1/jobs", json={"repo": "big", "full": True},
                                  headers=key).json()
        assert queued["state"] == "queued" and queued["id"] != running["id"]
        r = proc.client.delete(f"/api/v1/jobs/{queued['id']}", headers=key)
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        proc.client.delete(f"/api/v1/jobs/{running['id']}", headers=key)
        _until(lambda: proc.ok(f"/api/v1/jobs/{running['id']}")["state"] == "cancelled")
        assert proc.ok("/health/ready".replace("/ready", ""))["status"] == "ok"
        again = proc.client.post("/api/v1/jobs", json={"repo": "big"}, headers=key).json()
        _until(lambda: proc.ok(f"/api/v1/jobs/{again['id']}")["state"] == "done", 120)
        assert proc.ok("/api/v1/callers", symbol="mod3.m5.f5_7")["total"] == 1
        proc.wait(ready=True)


def test_sigterm_during_indexing_leaves_a_store_that_completes(tmp_path: Path) -> None:
    repo = _big_repo(tmp_path / "big")
    proc = ServerProcess(tmp_path, [repo], wait_ready=False, CODEGRAPH_WORKERS="1")
    _running_job(proc)
    assert proc.stop(signal.SIGTERM, timeout=60) == 0
    # The next run finishes what the interrupted one started, equal to a clean index.
    assert run_cli("index", str(repo), data_dir=proc.data_dir)[0] == 0
    clean = tmp_path / "clean"
    assert run_cli("index", str(repo), data_dir=clean)[0] == 0
    assert dump_store(proc.data_dir) == dump_store(clean)


def test_healthcheck_command(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")]) as proc:
        code, out, _ = run_cli("healthcheck", data_dir=None,
                               env=proc.env)
        assert code == 0 and "healthy" in out
    dead = free_port()
    code, _, err = run_cli("healthcheck", data_dir=None,
                           env={**proc.env, "SERVER_PORT": str(dead)})
    assert code == 1 and "unhealthy" in err


def test_ready_components(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")]) as proc:
        body = proc.ok("/health/ready")
        assert body["ready"] is True
        assert set(body["components"]) == {"store", "vector_index", "embedding_provider",
                                           "semantic", "cache", "index"}
        assert body["components"]["cache"]["status"] == "disabled"
        assert body["components"]["index"]["not_indexed_yet"] == []


@pytest.mark.parametrize(("env", "needle"), [
    ({"SERVER_PORT": "abc"}, "SERVER_PORT must be a whole number"),
    ({"SERVER_PORT": "70000"}, "SERVER_PORT must be between 1 and 65535"),
    ({"RUST_LOG": "loud"}, "RUST_LOG must be one of"),
    ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL must start with redis://"),
    ({"PROMETHEUS_ENABLED": "maybe"}, "PROMETHEUS_ENABLED must be true or false"),
    ({"ROCKSDB_BLOCK_CACHE_SIZE": "lots"}, "ROCKSDB_BLOCK_CACHE_SIZE"),
    ({"TOKIO_WORKER_THREADS": "0"}, "TOKIO_WORKER_THREADS must be between 1"),
])
def test_bad_configuration_fails_at_start(tmp_path: Path, env: dict[str, str],
                                          needle: str) -> None:
    from helpers import cli_env

    code, _, err = run_cli("serve", data_dir=tmp_path / "d", timeout=30,
                           env=cli_env(SERVER_HOST="127.0.0.1", **env))
    one_line_error(code, err, needle)


def test_settings_follow_the_spec_names() -> None:
    s = load({"RUST_LOG": "codegraph=debug,info", "TOKIO_WORKER_THREADS": "3",
              "HOT_RELOAD": "true", "METRICS_PORT": "9100", "SERVER_PORT": "3100"})
    assert (s.log_level, s.workers, s.hot_reload, s.metrics_port, s.port) == (
        "DEBUG", 3, True, 9100, 3100)
    assert load({"RUST_LOG": "warn"}).log_level == "WARNING"
    assert load({"CODEGRAPH_WORKERS": "2", "TOKIO_WORKER_THREADS": "7"}).workers == 2
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        load({"SERVER_PORT": "9090"})


def test_mcp_command_needs_an_index(tmp_path: Path) -> None:
    code, _, err = run_cli("mcp", data_dir=tmp_path / "none", timeout=60)
    one_line_error(code, err, "codegraph: error:")


def test_ready_turns_stale_when_saved_changes_wait(tmp_path: Path) -> None:
    """A save queued behind a long index run ages past CODEGRAPH_STALE_AFTER: not ready."""
    small = _small_repo(tmp_path / "r")
    with ServerProcess(tmp_path, [small], CODEGRAPH_STALE_AFTER="0.3", CODEGRAPH_WORKERS="1",
                       CODEGRAPH_API_KEY="k") as proc:
        big = _big_repo(tmp_path / "big")
        proc.client.post("/api/v1/repos", json={"path": "big"}, headers={"X-API-Key": "k"})
        _running_job(proc)
        (small / "pkg" / "core.py").write_text("def base():\n    return 2\n")
        _until(lambda: proc.get("/health/ready").status_code == 503, 20)
        body = proc.get("/health/ready").json()
        assert body["components"]["index"]["status"] == "stale"
        assert body["components"]["index"]["lag_seconds"] > 0.3
        _until(lambda: proc.get("/health/ready").status_code == 200, 120)
        assert big.exists()


def test_cors_when_configured(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")],
                       CODEGRAPH_CORS_ORIGINS="https://app.example") as proc:
        r = proc.client.options("/api/v1/callers", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        r = proc.client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_hot_reload_serves(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")], HOT_RELOAD="true") as proc:
        assert proc.ok("/api/v1/callers", symbol="base")["results"][0]["name"] == "top"


def test_embedding_refreshes_cached_answers(tmp_path: Path) -> None:
    """Embedding changes answers without a new store revision: cached ones must not stick."""
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")], CODEGRAPH_EMBED="1") as proc:
        def coverage() -> dict[str, Any]:
            return dict(proc.ok("/api/v1/stats")["search"])

        coverage()  # cached now, perhaps before the embedding job ran
        _until(lambda: coverage()["embedded"] == coverage()["chunks"] > 0, 90)
        hits = proc.ok("/api/v1/search", query="the base value", mode="semantic")["results"]
        assert {h["name"] for h in hits} == {"base", "top"}
        similar = proc.ok("/api/v1/similar", symbol="pkg.core.base")["results"]
        assert [h["qualified_name"] for h in similar] == ["pkg.core.top"]


def test_hybrid_falls_back_to_words_when_semantic_cannot_run(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, [_small_repo(tmp_path / "r")], CODEGRAPH_EMBED="1",
                       EMBEDDING_PROVIDER="openai") as proc:  # no OPENAI_API_KEY
        out = proc.ok("/api/v1/search", query="base")
        assert out["results"][0]["name"] == "base"
        assert "OPENAI_API_KEY" in out["semantic"]
        r = proc.get("/api/v1/search", query="base", mode="semantic")
        assert r.status_code == 503 and "OPENAI_API_KEY" in r.json()["error"]["message"]
        ready = proc.ok("/health/ready")
        assert ready["components"]["embedding_provider"]["status"] == "error"
