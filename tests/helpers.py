"""Shared helpers of the end-to-end tests: fixture trees, the CLI in a subprocess, store dumps."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from codegraph.graph.build import Graph
from codegraph.graph.model import EdgeKind

SRC = str(Path(__file__).resolve().parents[1] / "src")
NOBODY = 65534


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: this source tree, no embeddings (these tests are
    about the graph), no CODEGRAPH_/ROCKSDB_ settings from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGRAPH_", "ROCKSDB_"))}
    env.update(PYTHONPATH=SRC, PYTHONDONTWRITEBYTECODE="1", CODEGRAPH_EMBED="0")
    env.update(extra)
    return env


def run_cli(*args: str, data_dir: str | os.PathLike[str] | None, cwd: str | None = None,
            timeout: float = 300, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``python -m codegraph.cli [--data-dir DIR] ARGS`` -> (exit code, stdout, stderr)."""
    cmd = [sys.executable, "-m", "codegraph.cli"]
    if data_dir is not None:
        cmd += ["--data-dir", os.fspath(data_dir)]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env or cli_env())
    return proc.returncode, proc.stdout, proc.stderr


def run_json(*args: str, data_dir: str | os.PathLike[str]) -> Any:
    """A query with ``--json`` that must succeed: its parsed output."""
    code, out, err = run_cli(*args, "--json", data_dir=data_dir)
    assert code == 0, err
    assert "Traceback" not in err
    return json.loads(out)


# The CLI as uid 65534: imports first (the interpreter may live under /root, unreadable to
# nobody), then drop privileges and run main() in-process with one worker.
_AS_NOBODY = """
import os, sys
import codegraph.cli, codegraph.api, codegraph.index.indexer, codegraph.index.progress
import codegraph.query.queries, codegraph.graph.resolvers.python, encodings.idna
import importlib, json, networkx, rapidfuzz.fuzz, rapidfuzz.process, sqlite3
for optional in ("codegraph.search.service", "codegraph.search.lexical", "codegraph.index.watch",
                 "codegraph.search.vectors", "codegraph.search.embeddings", "onnxruntime",
                 "tokenizers"):
    try:
        importlib.import_module(optional)
    except ImportError:
        pass
from codegraph.parse.extract import extract
extract(b"def f():\\n    g()\\n", "python")
os.setgroups([])
os.setgid(%(uid)d)
os.setuid(%(uid)d)
sys.exit(codegraph.cli.main(sys.argv[1:]))
"""


def run_cli_as_nobody(*args: str, data_dir: str | os.PathLike[str]) -> tuple[int, str, str]:
    """Like :func:`run_cli` but as uid 65534 (for permission tests when running as root)."""
    script = _AS_NOBODY % {"uid": NOBODY} if os.geteuid() == 0 else _AS_NOBODY.split(
        "os.setgroups")[0] + "sys.exit(codegraph.cli.main(sys.argv[1:]))\n"
    proc = subprocess.run([sys.executable, "-c", script, "--data-dir", os.fspath(data_dir),
                           *args], capture_output=True, text=True, timeout=300,
                          env=cli_env(CODEGRAPH_WORKERS="1"))
    return proc.returncode, proc.stdout, proc.stderr


def write_tree(root: str | os.PathLike[str], files: Mapping[str, str | bytes]) -> Path:
    """Write ``{relative path: text or bytes}`` under ``root``; returns ``root`` as a Path."""
    base = Path(root)
    for rel, content in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return base


def touch_later(path: str | os.PathLike[str], text: str) -> None:
    """Rewrite a file so that its size or mtime surely differs from before."""
    before = os.stat(path).st_mtime_ns
    Path(path).write_text(text)
    after = os.stat(path)
    if after.st_mtime_ns == before:
        os.utime(path, ns=(after.st_atime_ns, before + 1_000_000))


def one_line_error(code: int, err: str, *needles: str, expected_code: int = 2) -> str:
    """Assert a clean CLI failure: the exit code and a single ``codegraph: error:`` line."""
    assert code == expected_code, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("codegraph: error: "), err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def dir_digest(path: str | os.PathLike[str]) -> dict[str, str]:
    """Every file under ``path`` -> a hash of its bytes."""
    out = {}
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = hashlib.sha256(f.read()).hexdigest()
    return out


def dump_store(data_dir: str | os.PathLike[str], skip: tuple[str, ...] = ("meta",),
               ) -> dict[str, dict[bytes, bytes]]:
    """Every column family of a data dir's store (read-only) as {key: value}, with ``out``
    (one value per node) as one entry per edge, keyed like ``in`` from the other end
    (src + kind + dst + line -> the edge's ``in`` value), so that edges compare one by one."""
    from codegraph.config import load
    from codegraph.store.edges import decode_out, in_key, in_value
    from codegraph.store.rocks import COLUMN_FAMILIES, Store

    with Store.open(load(data_dir=os.fspath(data_dir)).rocksdb_path, readonly=True) as store:
        dump = {cf: dict(store._scan(cf, b"")) for cf in COLUMN_FAMILIES if cf not in skip}
    if "out" in dump:
        edges = [e for key, value in dump["out"].items() for e in decode_out(key.hex(), value)]
        assert len({(e.src, e.kind, e.dst, e.line) for e in edges}) == len(edges)
        dump["out"] = {(k := in_key(e))[9:17] + k[8:9] + k[:8] + k[17:]: in_value(e)
                       for e in edges}
    return dump


def dangling_edges(dump: dict[str, dict[bytes, bytes]]) -> list[str]:
    """Edges (in ``out`` and ``in``) whose source or target node is not stored."""
    nodes = dump["nodes"]
    bad = []
    for cf in ("out", "in"):
        for key in dump[cf]:
            for end in (key[:8], key[9:17]):
                if end not in nodes:
                    bad.append(f"{cf}: {key.hex()} -> missing {end.hex()}")
    return bad


def mirrored_edges(dump: dict[str, dict[bytes, bytes]]) -> bool:
    """``in`` holds exactly the ``out`` edges, reversed."""
    flipped = {k[9:17] + k[8:9] + k[:8] + k[17:]: v for k, v in dump["out"].items()}
    return flipped == dump["in"]


def sited_edges(dump: dict[str, dict[bytes, bytes]]) -> bool:
    """``external_sites`` holds exactly the external ``out`` edges, each under its source
    node's repository and the name at its site."""
    from codegraph.graph.model import EXTERNAL
    from codegraph.store.codec import unpack
    from codegraph.store.edges import decode_in_edge, site_key

    want = set()
    for k, v in dump["out"].items():
        e = decode_in_edge(k[9:17] + k[8:9] + k[:8] + k[17:], v)
        if e.resolution == EXTERNAL:
            want.add(site_key(unpack(dump["nodes"][k[:8]])[4], e))
    return want == set(dump["external_sites"]) and all(
        v == b"" for v in dump["external_sites"].values())


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean (no access log)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_json(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def send_json(self, status: int, payload: Any,
                  headers: Mapping[str, str] | None = None) -> None:
        """Answer with ``payload`` as JSON; bytes go as they are (a malformed body)."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LoopbackHTTPServer:
    """An HTTP server on 127.0.0.1 in a background thread, for tests that need a real peer
    (an OpenAI-compatible API, say); ``base_url`` ends in ``/v1``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def out_edges(g: Graph, qname: str, kind: EdgeKind) -> dict[str, tuple[str, float]]:
    """A definition's edges of one kind: target qualified name -> (resolution, confidence)."""
    return {n.qualified_name: (e.resolution, e.confidence) for n, e in g.out(qname, kind)}


def module_imports(g: Graph, path: str) -> dict[str, tuple[str, float]]:
    """The IMPORTS edges of a file's module, as :func:`out_edges` gives them."""
    [module] = [n.id for n in g.nodes.values() if n.kind == "module" and n.path == path]
    return {g.nodes[e.dst].qualified_name: (e.resolution, e.confidence)
            for e in g.edges if e.src == module and e.kind == EdgeKind.IMPORTS}
