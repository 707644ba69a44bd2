"""Property-based fuzzing of the live HTTP API from its own /openapi.json (schemathesis CLI):
no operation may answer a 5xx, whatever the input. MCP at /mcp is fuzzed the same way, from
an OpenAPI document made of its tools' own input schemas (one operation per tool).

The server runs on 127.0.0.1 with a small indexed repository and ``CODEGRAPH_API_KEY``; the
key is sent with every request, so the mutating endpoints run for real. Hooks (written next
to the run) mix names that exist into the generated symbols, files, repositories and bodies,
so requests reach past "not found" into the queries, jobs and the /ask pipeline (answered by
a fake OpenAI-compatible chat model on 127.0.0.1). No 5xx is accepted: a ``min_revision``
above the index's revision is a 409 (``CODEGRAPH_MIN_REVISION_WAIT=0`` makes it immediate).
Every answer must also be documented: its status code among the operation's, and its body
valid against the operation's response schema (the list, job and repository shapes).
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import LoopbackHTTPServer, QuietHandler, write_tree
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(180)

KEY = "schemathesis-key"
MAX_EXAMPLES = 40  # per operation (fuzzing); the run takes about 15 s on 2 idle cores,
# 58-73 s on 2 cores shared with other test runs (load average 6.5)
MCP_EXAMPLES = 25  # per MCP tool
RUN_TIMEOUT = 120.0  # seconds for the schemathesis subprocess
SEED = 20261128
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
              "all_proxy")

REPO = {
    "pkg/__init__.py": "",
    "pkg/core.py": '''\
"""Core helpers."""

LIMIT = 10


def target(x):
    """The function everybody calls."""
    return x + LIMIT


def first():
    return target(1)


class Shape:
    """A shape with an area."""

    def area(self):
        return target(2) * 3
''',
    "pkg/uses.py": '''\
from pkg.core import Shape, target


def helper(values):
    return [target(v) for v in values]


def build():
    return Shape().area()
''',
}
SPARE = {"lib/tool.py": "def tool():\n    return 42\n"}

# Loaded by schemathesis (SCHEMATHESIS_HOOKS); kept as text so it is only imported there.
HOOKS = '''\
import schemathesis
from hypothesis import strategies as st

REAL = {
    "symbol": ["target", "pkg.core.target", "first", "Shape", "pkg.core.Shape.area", "helper",
               "tool", "LIMIT"],
    "name": ["target", "Shape", "helper", "area", "tool"],
    "file": ["pkg/core.py", "pkg/uses.py", "lib/tool.py", "pkg/__init__.py"],
    "query": ["target", "shape area", "helper values", "tool"],
    "repo": ["proj", "spare"],
    "path": ["pkg/*.py", "*.py"],
    "language": ["python"],
}


def _mix(values, real):
    """Keep each generated value or swap in an existing one (hypothesis chooses)."""
    if not isinstance(values, dict):
        return st.just(values)
    parts = {k: st.one_of(st.just(v), st.sampled_from(real[k])) if k in real else st.just(v)
             for k, v in values.items()}
    return st.fixed_dictionaries(parts)


@schemathesis.hook
def flatmap_query(ctx, query):
    return _mix(query, REAL)


@schemathesis.hook
def flatmap_path_parameters(ctx, path_parameters):
    op = ctx.operation
    # Only the spare repository may be removed, so the fuzzing keeps an index to query.
    real = {"repo": ["spare"] if op is not None and op.method.upper() == "DELETE"
            else REAL["repo"]}
    return _mix(path_parameters, real)


@schemathesis.hook
def flatmap_body(ctx, body):
    op = ctx.operation
    if op is None or not isinstance(body, dict):
        return st.just(body)
    if op.path.endswith("/repos"):
        return _mix(body, {"path": ["spare", "proj", "../outside", "proj/pkg"],
                           "name": ["spare", "proj"]})
    if op.path.endswith("/jobs"):
        return _mix(body, {"repo": ["proj", "spare"]})
    if op.path.endswith("/ask"):
        return _mix(body, {"question": ["what calls target?"], "repo": ["proj"]})
    return st.just(body)


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 5xx."""
    if response.status_code < 500:
        return None
    raise AssertionError(f"HTTP {response.status_code} from {case.method} {case.path}: "
                         f"{response.text[:500]}")
'''


class FakeChat:
    """An OpenAI-compatible chat model on 127.0.0.1 that always answers."""

    def __init__(self) -> None:
        self.calls = 0
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.read_json()
                owner.calls += 1
                self.send_json(200, {"model": body.get("model", "fake"), "choices": [
                    {"index": 0, "message": {"role": "assistant",
                                             "content": "target is called by first [1]."}}]})

        self.http = LoopbackHTTPServer(Handler)
        self.base_url = self.http.base_url

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    fake = FakeChat()
    yield fake
    fake.close()


def run_schemathesis(cmd: list[str], cwd: Path, env: dict[str, str],
                     ) -> tuple[subprocess.CompletedProcess[str], float]:
    """The schemathesis CLI, bounded by RUN_TIMEOUT: its result and how long it took."""
    started = time.monotonic()
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env,
                             timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"schemathesis ran over {RUN_TIMEOUT} s:\n{exc.stdout!r}"
                             ) from None
    return run, time.monotonic() - started


def operations(spec: dict[str, Any]) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in spec["paths"].items()
            for method in item if method in ("get", "post", "put", "patch", "delete")}


def junit_results(path: Path) -> dict[str, list[str]]:
    """JUnit report -> {"METHOD /path": [failure texts]} for every test case in it."""
    out: dict[str, list[str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        problems = [(e.get("message") or "") + (e.text or "") for e in case
                    if e.tag in ("failure", "error")]
        out.setdefault(case.get("name", ""), []).extend(problems)
    return out


def access_log(server: ServerProcess) -> collections.Counter[tuple[str, str, int]]:
    return collections.Counter((e["method"], e["route"], int(e["status"]))
                               for e in server.logs() if e.get("logger") == "codegraph.access")


def test_no_operation_answers_a_server_error(tmp_path: Path, chat: FakeChat) -> None:
    if importlib.util.find_spec("schemathesis") is None:
        pytest.skip("schemathesis not installed (a dev dependency in requirements.lock)")
    repos = tmp_path / "repos"
    proj = write_tree(repos / "proj", REPO)
    write_tree(repos / "spare", SPARE)
    hooks = tmp_path / "st_hooks.py"
    hooks.write_text(HOOKS)
    report = tmp_path / "report"
    no_proxy = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

    with ServerProcess(tmp_path, [proj], repos_root=repos, CODEGRAPH_API_KEY=KEY,
                       CODEGRAPH_MIN_REVISION_WAIT="0", OPENAI_API_KEY="fake-key",
                       OPENAI_BASE_URL=chat.base_url, OPENAI_MODEL="fake-chat",
                       NO_PROXY=no_proxy["NO_PROXY"], no_proxy=no_proxy["no_proxy"]) as server:
        server.wait_jobs_idle()
        spec = server.ok("/openapi.json")
        expected_ops = operations(spec)
        assert len(expected_ops) >= 20, expected_ops
        # The fixture itself works: a real answer, and /ask goes through the fake model.
        assert server.ok("/api/v1/callers", symbol="target")["total"] >= 2
        r = server.client.post("/api/v1/ask", json={"question": "what calls target?"})
        assert r.status_code == 200 and chat.calls == 1, r.text

        env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
        env.update(SCHEMATHESIS_HOOKS=str(hooks), PYTHONDONTWRITEBYTECODE="1", **no_proxy)
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json",
               "--url", server.url, "--checks",
               # and every answer as documented: its status code and its JSON schema
               "no_server_error,status_code_conformance,response_schema_conformance",
               # one worker: sequential requests, and hypothesis is not thread-safe here
               "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
               "--no-color",
               "--generation-database", "none", "--request-timeout", "30",
               "-H", f"X-API-Key: {KEY}", "--report", "junit",
               "--report-junit-path", str(report / "junit.xml"),
               "--report-dir", str(report)]
        run, elapsed = run_schemathesis(cmd, tmp_path, env)
        output = run.stdout + run.stderr
        log = access_log(server)
        server_output = server.output()

    tracebacks = [line for line in server_output.splitlines()
                  if "Traceback" in line or "unhandled error" in line]
    # (/health/ready answers 503 by design while a repository schemathesis added indexes)
    server_errors = {k: n for k, n in log.items()
                     if k[2] >= 500 and k[1:] != ("/health/ready", 503)}
    context = (f"schemathesis exit {run.returncode} after {elapsed:.1f} s\n"
               f"{output[-12000:]}\n--- server 5xx: {server_errors}\n--- server errors:\n"
               + "\n".join(tracebacks[:20])[:8000])
    assert "Custom check failed" not in output, context
    assert run.returncode == 0, context
    assert not server_errors, context
    assert not tracebacks, context

    # Schemathesis really ran every operation, and the requests reached the handlers.
    results = junit_results(report / "junit.xml")
    tested = {name.split(" ", 1)[0].upper() + " " + name.split(" ", 1)[1]
              for name in results if " /" in name}
    assert expected_ops <= tested, (expected_ops - tested, sorted(results))
    assert not {k: v for k, v in results.items() if v}, results
    routed = {f"{m} {route}" for (m, route, status) in log if status != 405}
    assert expected_ops <= routed, expected_ops - routed
    total = sum(log.values())
    assert total > 20 * len(expected_ops), (total, log)
    ok = {(m, route) for (m, route, status) in log if 200 <= status < 300}
    for needed in [("GET", "/api/v1/callers"), ("GET", "/api/v1/symbol"),
                   ("GET", "/api/v1/search"), ("POST", "/api/v1/jobs"),
                   ("POST", "/api/v1/ask")]:
        assert needed in ok, (needed, sorted(ok))
    assert chat.calls > 1
    print(f"\nschemathesis: {total} requests in {elapsed:.1f} s, "
          f"{sum(n for k, n in log.items() if k[2] < 300)} answered 2xx")



MCP_HOOKS = '''\
import json

import schemathesis
from hypothesis import strategies as st

REAL = {"symbol": ["target", "pkg.core.target", "Shape.area", "helper"],
        "query": ["target", "shape area", "tar"], "path": ["pkg/core.py", "pkg/*.py"],
        "repo": ["proj"], "cursor": ["bzoy", "bzoxMDAwMDAwMDAw"]}


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    case.path = "/mcp"  # one operation per tool in the document; one endpoint on the server


@schemathesis.hook
def flatmap_body(ctx, body):
    params = body.get("params") if isinstance(body, dict) else None
    args = params.get("arguments") if isinstance(params, dict) else None
    if not isinstance(args, dict):
        return st.just(body)
    mixed = {k: st.one_of(st.just(v), st.sampled_from(REAL[k])) if k in REAL else st.just(v)
             for k, v in args.items()}
    return st.fixed_dictionaries(mixed).map(
        lambda a: {**body, "params": {**body["params"], "arguments": a}})


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 5xx, and no tool failing with an internal error."""
    if response.status_code >= 500 or "internal error" in response.text:
        raise AssertionError(f"HTTP {response.status_code} from {case.body!r}: "
                             f"{response.text[:500]}")
'''
MCP_METHODS = ("initialize", "tools/list", "resources/list", "prompts/list", "ping")


def mcp_document(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """An OpenAPI document with one POST operation per MCP tool (its JSON-RPC call, the
    arguments from the tool's input schema) and per method without arguments."""
    def rpc(method: dict[str, Any], params: dict[str, Any] | None) -> dict[str, Any]:
        props: dict[str, Any] = {"jsonrpc": {"const": "2.0"}, "method": method,
                                 "id": {"type": "integer", "minimum": 1, "maximum": 1000}}
        if params is not None:
            props["params"] = params
        schema = {"type": "object", "required": list(props), "properties": props}
        return {"post": {"requestBody": {"required": True, "content": {
            "application/json": {"schema": schema}}},
            "responses": {"200": {"description": "a JSON-RPC answer"}}}}

    paths = {f"/mcp-tool-{t['name']}": rpc({"const": "tools/call"}, {
        "type": "object", "required": ["name", "arguments"],
        "properties": {"name": {"const": t["name"]}, "arguments": t["inputSchema"]}})
        for t in tools}
    paths.update({f"/mcp-{m.replace('/', '-')}": rpc({"const": m}, None)
                  for m in MCP_METHODS})
    return {"openapi": "3.1.0", "info": {"title": "CodeGraph MCP", "version": "1"},
            "paths": paths}


def test_no_mcp_tool_answers_a_server_error(tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    proj = write_tree(repos / "proj", REPO)
    hooks = tmp_path / "mcp_hooks.py"
    hooks.write_text(MCP_HOOKS)
    report = tmp_path / "report"
    accept = "Accept: application/json, text/event-stream"
    with ServerProcess(tmp_path, [proj], repos_root=repos) as server:
        server.wait_jobs_idle()
        listed = server.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1,
                                                  "method": "tools/list"},
                                    headers={"Accept": accept.split(": ")[1]})
        tools = json.loads(listed.text)["result"]["tools"]
        assert len(tools) >= 12
        document = tmp_path / "mcp-openapi.json"
        document.write_text(json.dumps(mcp_document(tools)))
        env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
        env.update(SCHEMATHESIS_HOOKS=str(hooks), PYTHONDONTWRITEBYTECODE="1",
                   NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", str(document),
               "--url", server.url, "--checks", "no_server_error", "--max-examples",
               str(MCP_EXAMPLES), "--seed", str(SEED), "--workers", "1", "--no-color",
               # the coverage phase would take minutes: MCP's per-request session is slow
               "--phases", "examples,fuzzing",
               "--generation-database", "none", "--request-timeout", "30", "-H", accept,
               "--report", "junit", "--report-junit-path", str(report / "junit.xml")]
        run, elapsed = run_schemathesis(cmd, tmp_path, env)
        log = access_log(server)
        server_output = server.output()
    output = run.stdout + run.stderr
    tracebacks = [line for line in server_output.splitlines()
                  if "Traceback" in line or "MCP tool failed" in line]
    context = f"exit {run.returncode} after {elapsed:.1f} s\n{output[-8000:]}\n" + \
        "\n".join(tracebacks[:20])[:4000]
    assert run.returncode == 0 and not tracebacks, context
    results = junit_results(report / "junit.xml")
    assert len(results) == len(tools) + len(MCP_METHODS), sorted(results)
    assert not {k: v for k, v in results.items() if v}, results
    calls = sum(n for (m, route, _), n in log.items() if route == "/mcp")
    assert calls > MCP_EXAMPLES * len(tools), log
    print(f"\nschemathesis on MCP: {calls} requests in {elapsed:.1f} s")
