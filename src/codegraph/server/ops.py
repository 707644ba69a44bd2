"""Operations: readiness, ``/debug/info``, and the SIGUSR1 / SIGUSR2 handlers."""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import signal
import threading
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

import structlog

from codegraph import __version__
from codegraph.errors import Unavailable
from codegraph.search.vector_manifest import saved_manifest
from codegraph.server import logs
from codegraph.server.auth import presents

if TYPE_CHECKING:
    from starlette.requests import Request

    from codegraph.server.app import Context

log = structlog.get_logger("codegraph.ops")
HEAP_TOP = 50


def memory() -> dict[str, int]:
    """Resident and peak resident memory in bytes, from /proc."""
    out = {"rss_bytes": 0, "peak_rss_bytes": 0}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key = "rss_bytes" if line.startswith("VmRSS") else "peak_rss_bytes"
                    out[key] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def _vector_component(ctx: Context) -> dict[str, Any]:
    if not ctx.config.embed:
        return {"status": "disabled", "detail": "CODEGRAPH_EMBED=0: lexical search only"}
    try:
        info = saved_manifest(ctx.cg.search_service().vector_dir, cached=True)
    except Unavailable as exc:  # a replica before its first snapshot
        return {"status": "waiting", "detail": str(exc)}
    except (OSError, ValueError) as exc:
        return {"status": "error", "detail": f"unreadable vector index manifest: {exc}"}
    if info is None:
        return {"status": "empty", "detail": "no embeddings yet"}
    snap = ctx.engine.snapshot
    return {"status": "ok", "provider": info.provider, "model": info.model,
            "embedded": snap.embedded, "chunks": snap.chunks,
            "excluded": snap.embedding_excluded, "embedding_failures": snap.embedding_failures}


def _semantic_component(ctx: Context) -> dict[str, Any]:
    """Semantic search's coverage, its own component: embedding in progress leaves the
    server ready (structure and lexical search answer meanwhile; semantic and hybrid
    search say how much they cover). ``status`` is the state: ``complete``, ``embedding``,
    ``partial`` or ``disabled``."""
    live = ctx.engine.embedding()
    out = {"status": live["state"], **{k: live[k] for k in (
        "embedded", "chunks", "excluded", "pending", "coverage", "rate", "eta_seconds")}}
    if live["job"] is not None:
        out["repo"] = live["job"]["repo"]
    return out


def _provider_component(ctx: Context) -> dict[str, Any]:
    import importlib.util

    provider = ctx.config.embedding_provider
    if not ctx.config.embed:
        return {"status": "disabled", "provider": provider,
                "detail": "CODEGRAPH_EMBED=0: lexical search only"}
    needs = ["numpy", "faiss"]
    if provider == "openai":
        if not ctx.config.openai_api_key:
            return {"status": "error", "provider": provider,
                    "detail": "OPENAI_API_KEY is not set"}
    else:
        needs += ["onnxruntime", "tokenizers"]
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        return {"status": "error", "provider": provider,
                "detail": f"not installed in this build: {', '.join(missing)}"}
    return {"status": "ok", "provider": provider}


async def readiness(ctx: Context) -> dict[str, Any]:
    engine = ctx.engine
    components: dict[str, Any] = {}
    ready = not ctx.draining
    revision: int | None = None
    snapshot = engine.snapshot_id
    try:
        revision = engine.revision
        components["store"] = {"status": "ok", "revision": revision,
                               "path": ctx.config.rocksdb_path}
    except Exception as exc:  # a closed or broken store
        components["store"] = {"status": "error", "detail": str(exc)}
        ready = False
    if ctx.config.role == "replica":  # it serves snapshots, not the store at that path
        components["store"] = {"status": "ok" if snapshot else "waiting",
                               "revision": revision, "snapshot": snapshot}
        if snapshot is None:
            components["store"]["detail"] = "no snapshot published yet"
            ready = False
    components["vector_index"] = _vector_component(ctx)
    if components["vector_index"]["status"] == "error":
        ready = False
    components["embedding_provider"] = _provider_component(ctx)
    components["semantic"] = _semantic_component(ctx)  # never makes it unready (above)
    components["cache"] = await ctx.cache.ping()
    lag = engine.index_lag()
    waiting = engine.not_indexed_yet()
    stale = lag > ctx.config.stale_after
    components["index"] = {"status": "stale" if stale else "ok", "lag_seconds": round(lag, 3),
                           "stale_after": ctx.config.stale_after,
                           "repositories": engine.snapshot.repositories,
                           "not_indexed_yet": waiting}
    if stale or waiting:
        components["index"]["status"] = "stale" if stale else "indexing"
        ready = False
    degraded = [k for k, v in components.items() if v.get("status") in ("down", "error")]
    return {"ready": ready, "draining": ctx.draining, "degraded": degraded,
            "role": ctx.config.role, "revision": revision, "snapshot": snapshot,
            "components": components}


def debug_allowed(ctx: Context, request: Request) -> bool:
    if ctx.config.debug_mode:
        return True
    token = ctx.config.admin_token
    return token is not None and presents(request.headers, token, "x-admin-token")


def debug_info(ctx: Context) -> dict[str, Any]:
    with ctx.engine.reading():
        return _debug_info(ctx)


def _debug_info(ctx: Context) -> dict[str, Any]:
    engine = ctx.engine
    snap = engine.snapshot
    return {
        "version": __version__,
        "build": {"revision": ctx.config.build_revision,
                  "created": ctx.config.build_created,
                  "python": platform.python_version(), "platform": platform.platform()},
        "pid": os.getpid(),
        "uptime_seconds": round(time.time() - engine.started, 3),
        "config": ctx.config.redacted(),
        "index": {"revision": engine.revision, "files": snap.files, "nodes": snap.nodes,
                  "edges": snap.edges, "chunks": snap.chunks, "embedded": snap.embedded,
                  "embedding": engine.embedding(),
                  "lag_seconds": engine.index_lag(),
                  "repositories": sorted(engine.repos())},
        "jobs": [j.to_dict() for j in engine.jobs.list() if not j.admin][:20],
        "memory": memory(),
        "threads": sorted(t.name for t in threading.enumerate()),
        "log_level": logs.current_level(),
        "tracemalloc": tracemalloc.is_tracing(),
    }


def write_heap_profile(directory: str) -> str:
    """Write the top allocations (tracemalloc) to a file and return its path. The first
    call starts tracing if it was off (CODEGRAPH_TRACEMALLOC=1 traces from the start)."""
    started_now = not tracemalloc.is_tracing()
    if started_now:
        tracemalloc.start(10)
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    stats = snapshot.statistics("lineno")
    path = os.path.join(directory, f"codegraph-heap-{os.getpid()}-{int(time.time())}.txt")
    mem = memory()
    with open(path, "w") as f:
        f.write(f"# CodeGraph heap profile, pid {os.getpid()}, {time.ctime()}\n")
        f.write(f"# rss {mem['rss_bytes']} bytes, peak {mem['peak_rss_bytes']} bytes\n")
        traced, peak = tracemalloc.get_traced_memory()
        f.write(f"# traced {traced} bytes, traced peak {peak} bytes\n")
        if started_now:
            f.write("# tracing started with this signal: send SIGUSR2 again to see what "
                    "is allocated from now on\n")
        for stat in stats[:HEAP_TOP]:
            f.write(f"{stat.size:>12} B {stat.count:>8} blocks  {stat.traceback}\n")
    return path


def install_signal_handlers(ctx: Context) -> None:
    """SIGUSR1 toggles debug logging; SIGUSR2 writes a heap profile."""
    loop = asyncio.get_running_loop()

    def on_usr1() -> None:
        log.warning("log level changed by SIGUSR1", level=logs.toggle_debug())

    def on_usr2() -> None:
        async def write() -> None:
            try:
                path = await asyncio.to_thread(write_heap_profile, ctx.config.profile_dir)
            except OSError as exc:
                log.error("heap profile not written", error=str(exc),
                          directory=ctx.config.profile_dir)
            else:
                log.warning("heap profile written", path=path)
        loop.create_task(write())  # noqa: RUF006 (fire and forget, logged either way)

    loop.add_signal_handler(signal.SIGUSR1, on_usr1)
    loop.add_signal_handler(signal.SIGUSR2, on_usr2)
