"""Backups of a running server (real ``codegraph serve`` processes on 127.0.0.1): the admin
endpoint needs the admin token, a backup taken under a bounded load of 50 concurrent
clients fails no request and restores to the same answers, ``codegraph backup`` goes
through the server that holds the store, and ``codegraph restore`` refuses to run under
it."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from codegraph.backup import verify
from codegraph.backup.manifest import NAME_RE
from corpora import sdist_or_skip
from helpers import cli_env, one_line_error, run_cli, write_tree
from mounts import fill, read_only_view, small_disk
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(180)
TOKEN = "admin-token-for-backups"
ADMIN = {"X-Admin-Token": TOKEN}
BACKUPS = "/api/v1/admin/backups"

CLIENTS = 50  # concurrent connections of the load
REQUESTS = 3000  # in all, at most
LOAD_SECONDS = 60.0  # and at most this long
NAMES = ["Flask", "url_for", "route", "Blueprint", "render_template", "jsonify", "request",
         "session", "abort", "redirect", "make_response", "send_file", "register_blueprint",
         "add_url_rule", "dispatch_request", "full_dispatch_request", "wsgi_app", "run",
         "Config", "from_object", "test_client", "app_context", "g", "flash",
         "open_resource", "handle_exception", "preprocess_request", "process_response",
         "get_flashed_messages", "stream_with_context", "send_from_directory"]
QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    ("/api/v1/stats", {}), ("/api/v1/symbols", {"query": "Blueprint"}),
    ("/api/v1/definition", {"symbol": "Flask"}),
    ("/api/v1/callers", {"symbol": "url_for", "limit": 100}),
    ("/api/v1/search", {"query": "register a blueprint", "mode": "lexical", "limit": 20}),
    ("/api/v1/outline", {"file": "src/flask/app.py", "limit": 200})]


def _server(work: Path, repos: list[Path]) -> ServerProcess:
    return ServerProcess(work, repos, repos_root=work, CODEGRAPH_ADMIN_TOKEN=TOKEN,
                         CODEGRAPH_BACKUP_DIR=str(work / "backups"), CODEGRAPH_WATCH="0")


@pytest.fixture(scope="module")
def flask_tree() -> Path:
    return sdist_or_skip("flask", "3.0.3")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, flask_tree: Path,
           ) -> Iterator[ServerProcess]:
    with _server(tmp_path_factory.mktemp("served"), [flask_tree]) as proc:
        proc.wait_jobs_idle()
        yield proc


def answers(server: ServerProcess) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, params in QUESTIONS:
        r = server.get(path, **params)
        assert r.status_code == 200, r.text
        out[path] = r.json()
        out["revision"] = r.headers["x-codegraph-revision"]
    return out


def _error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    error = r.json()["error"]
    assert error["code"] == code and error["request_id"], r.text
    return str(error["message"])


# -- the admin endpoint ------------------------------------------------------------------------
def test_the_admin_endpoints_need_the_token(served: ServerProcess) -> None:
    c = served.client
    for headers in ({}, {"X-Admin-Token": "wrong"}, {"Authorization": "Bearer wrong"},
                    {"X-API-Key": TOKEN}):
        assert "admin token" in _error(c.post(BACKUPS, json={}, headers=headers), 401,
                                       "unauthorized")
        _error(c.get(BACKUPS, headers=headers), 401, "unauthorized")
    assert not list((Path(served.data_dir).parent / "backups").glob("*.tar.gz"))
    spec = c.get("/openapi.json").json()["paths"][BACKUPS]
    assert spec["post"]["security"] == [{"adminToken": []}]


def test_without_an_admin_token_they_are_off(tmp_path: Path) -> None:
    """Even with DEBUG_MODE (which opens /debug/info): backups write files."""
    with ServerProcess(tmp_path, DEBUG_MODE="1") as proc:
        _error(proc.client.post(BACKUPS, json={}, headers=ADMIN), 403, "admin_disabled")
        _error(proc.client.get(BACKUPS, headers=ADMIN), 403, "admin_disabled")
        assert proc.client.get("/debug/info").status_code == 200


def test_a_backup_through_the_endpoint(served: ServerProcess) -> None:
    c = served.client
    r = c.post(BACKUPS, json={}, headers=ADMIN)
    assert r.status_code == 201, r.text
    made = r.json()
    archive = Path(made["archive"])
    assert archive.parent == Path(served.data_dir).parent / "backups"
    assert NAME_RE.fullmatch(made["name"]) and archive.name == made["name"]
    assert made["size"] == archive.stat().st_size
    assert made["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert str(made["revision"]) == r.headers["x-codegraph-revision"]
    assert verify.read(str(archive)).revision == made["revision"]
    listed = c.get(BACKUPS, headers=ADMIN).json()
    assert listed["data_dir"] == served.data_dir
    assert {"name": made["name"], "size": made["size"], "revision": made["revision"]}.items() \
        <= listed["results"][0].items()
    # a backup is administration's: the open job endpoints neither show it (its archive
    # path) nor cancel it, whatever the key; /debug/info leaves it out too
    for headers in ({}, ADMIN, {"X-API-Key": TOKEN}):
        assert made["job"] not in {j["id"] for j in c.get(
            "/api/v1/jobs", params={"limit": 500}, headers=headers).json()["results"]}
        _error(c.get(f"/api/v1/jobs/{made['job']}", headers=headers), 404, "not_found")
        _error(c.delete(f"/api/v1/jobs/{made['job']}", headers=headers), 404, "not_found")
    info = c.get("/debug/info", headers=ADMIN).json()
    assert not [j for j in info["jobs"] if j["kind"] == "backup"]
    assert made["archive"] not in json.dumps(info["jobs"])

    r = c.post(BACKUPS, json={"dest": "named.tar.gz"}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["name"] == "named.tar.gz", r.text
    assert "already exists" in _error(c.post(BACKUPS, json={"dest": "named.tar.gz"},
                                             headers=ADMIN), 409, "conflict")
    for dest in ("../outside.tar.gz", "/tmp/outside.tar.gz", "../"):
        assert "CODEGRAPH_BACKUP_DIR" in _error(c.post(BACKUPS, json={"dest": dest},
                                                       headers=ADMIN), 400, "bad_request")
    _error(c.post(BACKUPS, json={"dest": "x.zip"}, headers=ADMIN), 400, "bad_request")
    # names the file system refuses are the request's fault (ENAMETOOLONG was a 500)
    assert "at most 255" in _error(c.post(BACKUPS, json={"dest": "a" * 300 + ".tar.gz"},
                                          headers=ADMIN), 400, "bad_request")
    _error(c.post(BACKUPS, json={"dest": "/".join(["d" * 200] * 20) + ".tar.gz"},
                  headers=ADMIN), 400, "bad_request")
    _error(c.post(BACKUPS, json={"dest": 5}, headers=ADMIN), 400, "bad_request")
    _error(c.post(BACKUPS, json={"where": "x"}, headers=ADMIN), 400, "bad_request")
    _error(c.post(BACKUPS, content=b"{", headers=ADMIN), 400, "bad_request")
    assert not [p for p in archive.parent.iterdir() if p.name.startswith(".")]
    assert not [p for p in Path(served.data_dir).iterdir() if p.name.startswith(".backup")]


def test_a_backup_directory_that_cannot_take_the_archive(tmp_path: Path) -> None:
    """A read-only CODEGRAPH_BACKUP_DIR (a real read-only bind mount: EROFS even as root)
    is the configuration's fault, a full one the disk's: 503 naming the directory, never a
    500, and nothing left behind."""
    repo = write_tree(tmp_path / "repo", {"pkg/a.py": "def f():\n    return 1\n",
                                          "pkg/b.py": "from pkg.a import f\n\n\ndef g():\n"
                                                      "    return f()\n"})
    writable = tmp_path / "backups"
    writable.mkdir()
    with read_only_view(writable, tmp_path / "ro") as ro, \
            ServerProcess(tmp_path / "ro-server", [repo], repos_root=tmp_path,
                          CODEGRAPH_ADMIN_TOKEN=TOKEN, CODEGRAPH_BACKUP_DIR=str(ro),
                          CODEGRAPH_WATCH="0") as proc:
        proc.wait_jobs_idle()
        message = _error(proc.client.post(BACKUPS, json={}, headers=ADMIN), 503,
                         "unavailable")
        assert "Read-only file system" in message and "CODEGRAPH_BACKUP_DIR" in message
        assert str(ro) in message
        assert not list(writable.iterdir())
        assert not [p for p in Path(proc.data_dir).iterdir() if p.name.startswith(".backup")]
    with small_disk(tmp_path / "full", 1) as full, \
            ServerProcess(tmp_path / "full-server", [repo], repos_root=tmp_path,
                          CODEGRAPH_ADMIN_TOKEN=TOKEN, CODEGRAPH_BACKUP_DIR=str(full),
                          CODEGRAPH_WATCH="0") as proc:
        proc.wait_jobs_idle()
        ballast = fill(full)
        message = _error(proc.client.post(BACKUPS, json={}, headers=ADMIN), 503,
                         "unavailable")
        assert "no space left on device writing the backup archive" in message
        assert [p.name for p in full.iterdir()] == [ballast.name]  # no partial archive
        ballast.unlink()
        r = proc.client.post(BACKUPS, json={}, headers=ADMIN)  # room again: it works
        assert r.status_code == 201, r.text
        assert verify.read(r.json()["archive"]).revision == r.json()["revision"]
        proc.stop()


# -- the command line against a running server -----------------------------------------------
def _cli_env(server: ServerProcess, **extra: str) -> dict[str, str]:
    return cli_env(**{"CODEGRAPH_DATA_DIR": server.data_dir, "SERVER_HOST": "127.0.0.1",
                      "SERVER_PORT": str(server.port), "METRICS_PORT": str(server.metrics_port),
                      "CODEGRAPH_BACKUP_DIR": str(Path(server.data_dir).parent / "backups"),
                      **extra})


def test_restore_refuses_while_a_server_holds_the_store(served: ServerProcess) -> None:
    before = answers(served)
    archive = served.client.post(BACKUPS, json={"dest": "for-restore.tar.gz"},
                                 headers=ADMIN).json()["archive"]
    code, _, err = run_cli("restore", archive, data_dir=None, env=_cli_env(served))
    one_line_error(code, err, "running CodeGraph server", "stop it first")
    assert answers(served) == before
    # only verifying opens no store: it runs beside the server (restore.sh does it first)
    code, out, err = run_cli("restore", "--check", archive, data_dir=None,
                             env=_cli_env(served))
    assert code == 0, err
    assert "intact" in out and not err
    assert answers(served) == before


def test_cli_backup_asks_the_server_that_holds_the_store(served: ServerProcess,
                                                        tmp_path: Path) -> None:
    backups = Path(served.data_dir).parent / "backups"
    store = Path(served.data_dir) / "rocksdb"
    store_files = sorted(p.name for p in store.iterdir())
    code, out, err = run_cli("backup", str(backups), "--json", data_dir=None,
                             env=_cli_env(served, CODEGRAPH_ADMIN_TOKEN=TOKEN))
    assert code == 0, err
    made = json.loads(out)
    assert Path(made["archive"]).parent == backups and made["job"]
    assert verify.read(made["archive"]).revision == made["revision"]

    code, _, err = run_cli("backup", str(backups), data_dir=None, env=_cli_env(served))
    one_line_error(code, err, "held by another process", "set CODEGRAPH_ADMIN_TOKEN")
    code, _, err = run_cli("backup", str(backups), data_dir=None,
                           env=_cli_env(served, CODEGRAPH_ADMIN_TOKEN="wrong"))
    one_line_error(code, err, "refused the backup", "check CODEGRAPH_ADMIN_TOKEN")
    code, _, err = run_cli("backup", str(tmp_path), data_dir=None,
                           env=_cli_env(served, CODEGRAPH_ADMIN_TOKEN=TOKEN))
    one_line_error(code, err, "only under the backup directory")
    code, _, err = run_cli("backup", str(backups), data_dir=None,
                           env=_cli_env(served, CODEGRAPH_ADMIN_TOKEN=TOKEN,
                                        SERVER_PORT=str(served.metrics_port + 1)))
    one_line_error(code, err, "no CodeGraph server answers")
    # the commands found the server's lock without opening the store: no info LOG rotated
    # (RocksDB renames LOG to LOG.old.<time> on open, before it finds the lock taken)
    assert not [p.name for p in store.iterdir()
                if p.name.startswith("LOG.old") and p.name not in store_files]


# -- under load --------------------------------------------------------------------------------
class Load:
    """``CLIENTS`` concurrent connections asking varied questions (so that the query cache
    does not answer them all) until ``REQUESTS`` are done or ``LOAD_SECONDS`` passed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.done: list[tuple[float, float, int]] = []  # (start, end, status; 0: failed)
        self.errors: list[str] = []
        self.finished = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def _requests(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for limit, name in itertools.product(range(1, 100), NAMES):
            asked: list[tuple[str, dict[str, Any]]] = [
                ("/api/v1/callers", {"symbol": name, "limit": limit}),
                ("/api/v1/definition", {"symbol": name}),
                ("/api/v1/symbols", {"query": name[:3], "limit": limit}),
                ("/api/v1/search", {"query": f"{name} handler", "mode": "lexical",
                                    "limit": limit % 30 + 1}),
                ("/health", {})]
            yield from asked

    async def _run(self) -> None:
        todo = itertools.islice(self._requests(), REQUESTS)
        deadline = time.monotonic() + LOAD_SECONDS
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=30) as client:
            async def worker() -> None:
                for path, params in todo:
                    if time.monotonic() > deadline:
                        return
                    started = time.monotonic()
                    try:
                        r = await client.get(path, params=params)
                        status = r.status_code
                        if status != 200:
                            self.errors.append(f"{path} {params}: {status} {r.text[:200]}")
                    except httpx.HTTPError as exc:
                        status = 0
                        self.errors.append(f"{path} {params}: {exc!r}")
                    self.done.append((started, time.monotonic(), status))

            await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        self.finished.set()


def _ms(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100)[int(q) - 1] * 1000, 1) if len(
        values) > 2 else 0.0


def test_a_backup_under_load_fails_no_request_and_restores_the_same(
        tmp_path: Path, flask_tree: Path) -> None:
    server = _server(tmp_path, [flask_tree])
    try:
        server.wait_jobs_idle()
        before = answers(server)
        load = Load(server.url)
        load.thread.start()
        while len(load.done) < 300 and not load.finished.is_set():
            time.sleep(0.01)
        windows, made = [], []
        with httpx.Client(base_url=server.url, timeout=120) as admin:
            for i in range(3):
                started = time.monotonic()
                r = admin.post(BACKUPS, json={"dest": f"load-{i}.tar.gz"}, headers=ADMIN)
                assert r.status_code == 201, r.text
                windows.append((started, time.monotonic()))
                made.append(r.json())
        assert not load.finished.is_set(), "the load ended before the backups did: raise it"
        load.thread.join(LOAD_SECONDS + 30)
        assert load.finished.is_set()
        during = [e - s for s, e, _ in load.done if any(s < w1 and e > w0 for w0, w1 in windows)]
        outside = [e - s for s, e, _ in load.done if not any(s < w1 and e > w0
                                                             for w0, w1 in windows)]
        failed = sum(1 for *_, status in load.done if status != 200)
        print(f"\nload: {len(load.done)} requests at {CLIENTS} connections, {failed} failed; "
              f"{len(during)} overlapped the 3 backups "
              f"({', '.join(f'{w1 - w0:.3f} s' for w0, w1 in windows)}; "
              f"archive {made[-1]['size']} bytes, snapshot {made[-1]['snapshot_seconds']} s, "
              f"pack {made[-1]['pack_seconds']} s); latency p50/p99 during "
              f"{_ms(during, 50)}/{_ms(during, 99)} ms, outside "
              f"{_ms(outside, 50)}/{_ms(outside, 99)} ms")
        assert failed == 0 and not load.errors, load.errors[:5]
        assert len(during) >= 20
        assert {m["revision"] for m in made} == {int(before["revision"])}
    finally:
        server.stop()

    # wipe the data, restore the last archive, serve it again: the same answers
    data = Path(server.data_dir)
    for child in data.iterdir():
        if child.is_dir():
            import shutil

            shutil.rmtree(child)
        else:
            child.unlink()
    code, _, err = run_cli("restore", made[-1]["archive"], data_dir=data)
    assert code == 0, err
    with _server(tmp_path, []) as again:
        assert answers(again) == before
