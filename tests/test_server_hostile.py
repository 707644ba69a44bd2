"""Hostile request bodies and parameters against a real server: each is a 400 (or 413) with
the JSON error body, on the API and on MCP alike; never a 5xx."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import run_cli, write_tree
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(180)
KEY = "hostile-key"
AUTH = {"X-API-Key": KEY}
MCP = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
REPO = {"pkg/core.py": "def target(x):\n    return x + 1\n\n\ndef first():\n"
                       "    return target(1)\n"}
POSTS = ("/api/v1/repos", "/api/v1/jobs", "/api/v1/ask", "/mcp")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("hostile")
    write_tree(work / "proj", REPO)
    for spare in ("spare", "spare2", "my repo!"):
        write_tree(work / spare, {"lib.py": "def tool():\n    return 42\n"})
    with ServerProcess(work, [work / "proj"], CODEGRAPH_API_KEY=KEY,
                       OPENAI_API_KEY="sk-unused", OPENAI_BASE_URL="http://127.0.0.1:9") as p:
        p.wait_jobs_idle()
        yield p


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["request_id"] == r.headers["x-request-id"]
    return str(error["message"])


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 50_000, b"[" * 65 + b"]" * 65,
                                  b'{"repo": ' + b"[" * 1000 + b"]" * 1000 + b"}"])
def test_deeply_nested_bodies_are_refused(server: ServerProcess, path: str,
                                          body: bytes) -> None:
    r = server.client.post(path, content=body, headers={**AUTH, **MCP})
    assert "nests deeper than 64 levels" in _error(r, 400)


def test_bodies_that_once_made_the_check_backtrack_are_quick(server: ServerProcess) -> None:
    """Runs of escaped quotes with no closing quote: quadratic in a backtracking string
    pattern (3 s for 32 KB, about 50 minutes for 1 MB)."""
    for body in (b'"' + b'\\"' * 400_000, b'["' + b'\\"' * 400_000 + b"]", b'"' * 900_000):
        started = time.monotonic()
        r = server.client.post("/api/v1/jobs", content=body, headers={**AUTH, **MCP})
        assert r.status_code == 400 and time.monotonic() - started < 5, r.text[:200]
        assert server.get("/health").status_code == 200


@pytest.mark.parametrize("path", POSTS)
def test_bodies_that_are_not_utf8_are_refused(server: ServerProcess, path: str) -> None:
    for body in (b"\xf6\xd4.\x83", b'{"repo": "caf\xe9"}'):
        r = server.client.post(path, content=body, headers={**AUTH, **MCP})
        assert "not UTF-8 text" in _error(r, 400)


@pytest.mark.parametrize("path", POSTS)
def test_lone_surrogates_are_refused(server: ServerProcess, path: str) -> None:
    for body in (b'{"path": "\\ud800"}', b'{"repo": "a\\udfffb", "full": true}',
                 b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": '
                 b'{"name": "symbol", "arguments": {"symbol": "\\udc80"}}}'):
        r = server.client.post(path, content=body, headers={**AUTH, **MCP})
        assert "lone surrogate" in _error(r, 400)
    # a surrogate pair is one valid character: not refused for it
    ok = server.client.post("/api/v1/jobs", content=b'{"repo": "\\ud83d\\ude00"}',
                            headers={**AUTH, "Content-Type": "application/json"})
    assert ok.status_code == 404 and "no repository" in ok.text


def test_bodies_within_the_limits_still_work(server: ServerProcess) -> None:
    shallow = {"repo": "proj", "full": False}
    r = server.client.post("/api/v1/jobs", json=shallow, headers=AUTH)
    assert r.status_code == 202, r.text
    too_big = server.client.post("/api/v1/jobs", content=b" " * 1_100_000,
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert "over 1048576 bytes" in _error(too_big, 413)


def _cursor(offset: str) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def test_absurd_cursors_and_offsets_are_refused(server: ServerProcess,
                                                tmp_path: Path) -> None:
    for cursor in (_cursor("9" * 25), _cursor("-1"), _cursor("1e400"), _cursor("9" * 700)):
        for path, params in (("/api/v1/search", {"query": "target", "mode": "lexical"}),
                             ("/api/v1/callers", {"symbol": "target"}),
                             ("/api/v1/symbols", {"query": "target"})):
            r = server.client.get(path, params={**params, "cursor": cursor})
            assert "cursor is not one CodeGraph handed out" in _error(r, 400), path
    deep = server.client.get("/api/v1/search", params={"query": "target", "mode": "lexical",
                                                       "cursor": _cursor("1000"),
                                                       "limit": "20"})
    assert "offset + limit must be at most 1000" in _error(deep, 400)
    rpc = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "search", "arguments": {"query": "target",
                                                      "cursor": _cursor("9" * 25)}}}
    r = server.client.post("/mcp", content=json.dumps(rpc), headers=MCP)
    assert r.status_code == 200
    result = json.loads(r.text)["result"]
    assert result["isError"] and "cursor is not one" in result["content"][0]["text"]
    code, _, err = run_cli("search", "target", "--mode", "lexical", "--cursor",
                           _cursor("9" * 25), data_dir=server.data_dir)
    assert code == 2 and "cursor is not one CodeGraph handed out" in err
    code, _, err = run_cli("search", "target", "--mode", "lexical", "--cursor",
                           _cursor("1000"), "--limit", "20", data_dir=server.data_dir)
    assert code == 2 and "offset + limit must be at most 1000" in err


def test_repository_names_are_checked(server: ServerProcess, tmp_path: Path) -> None:
    def add(path: str, name: str | None = None) -> httpx.Response:
        body = {"path": path, "watch": False, **({"name": name} if name else {})}
        return server.client.post("/api/v1/repos", json=body, headers=AUTH)

    for bad in ("../../evil", "a/b", ".hidden", "-x", "x" * 101, "white space", "é"):
        assert "repository names are 1 to 100 letters" in _error(add("spare", bad), 400), bad
    assert "is already indexed as 'proj'" in _error(add("proj", "second-name"), 409)
    assert "already used for" in _error(add("spare2", "proj"), 409)
    made = add("my repo!")
    assert made.status_code == 202 and made.json()["repo"] == "my-repo"
    server.wait_jobs_idle()
    names = {r["name"] for r in server.ok("/api/v1/repos")["results"]}
    assert names == {"proj", "my-repo"}
    assert server.get("/api/v1/repos/my-repo").status_code == 200
    # the CLI refuses the same names, with one line and exit status 2
    write_tree(tmp_path / "r", {"a.py": "x = 1\n"})
    code, _, err = run_cli("index", str(tmp_path / "r"), "--name", "../../evil",
                           data_dir=tmp_path / "data")
    assert code == 2 and "repository names are 1 to 100" in err and "Traceback" not in err
    assert run_cli("index", str(tmp_path / "r"), "--name", "good", data_dir=tmp_path / "data"
                   )[0] == 0
    code, _, err = run_cli("index", str(tmp_path / "r"), "--name", "other",
                           data_dir=tmp_path / "data")
    assert code == 2 and "is already indexed as 'good'" in err


def test_a_client_gone_before_its_body_is_whole_is_no_error(server: ServerProcess) -> None:
    import socket

    for path in ("/api/v1/jobs", "/mcp"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      "application/json\r\nContent-Length: 100000\r\n\r\n{\"repo\": ".encode())
        deadline = time.monotonic() + 10
        while not [e for e in server.logs() if e.get("path") == path
                   and e.get("status") == 499]:
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.05)
    assert "Traceback" not in server.output() and "unhandled error" not in server.output()
    assert server.get("/health").status_code == 200
