"""``codegraph serve``: build the application and run it on uvicorn (uvloop, httptools).

Start: open the store as its one writer, queue an incremental index of every repository
given (command line and ``CODEGRAPH_REPOS``) and watch them, start the metrics listener,
serve. SIGTERM: uvicorn stops accepting and drains in-flight requests (up to
``CODEGRAPH_DRAIN_SECONDS``); then the running index job stops after its current atomic
batch, the store is flushed and closed, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from codegraph.config import Config, export, load
from codegraph.server import logs, metrics, ops
from codegraph.server.app import create_app
from codegraph.server.cache import QueryCache
from codegraph.server.engine import Engine
from codegraph.server.jobs import Job
from codegraph.server.mcp_deferred import DeferredMCP
from codegraph.server.replica import Replica, Serving

log = structlog.get_logger("codegraph.server")


def _count_job(job: Job) -> None:
    metrics.JOBS.labels(job.kind, job.state).inc()


def _resume_embedding(engine: Engine, indexing: set[str]) -> None:
    """The backlog left by ``codegraph index --no-wait`` (or a stopped run): embedded now."""
    try:
        queued = engine.resume_embedding(skip=indexing)
    except Exception as exc:  # (a damaged store: requests say so; a quick shutdown)
        log.warning("counting the embedding backlog failed", error=f"{type(exc).__name__}: "
                    f"{exc}")
        return
    if queued:
        log.info("embedding the backlog", repos=queued)


def build(config: Config, paths: Sequence[str] = ()) -> Starlette:
    """The application with its engine; the engine starts work in the app's lifespan."""
    engine: Serving = (Replica(config) if config.role == "replica"
                       else Engine(config, on_job_done=_count_job))
    cache = QueryCache(config.redis_url, config.cache_ttl, config.cache_local_entries,
                       config.cache_local_bytes, config.cache_max_entry)
    mcp_app, mcp_lifespan = _mcp(engine, config)
    app = create_app(config, engine, cache, mcp_app=mcp_app, mcp_lifespan=mcp_lifespan)
    ctx = app.state.ctx
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Starlette) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = config.workers
        ops.install_signal_handlers(ctx)
        metrics.install(engine, cache)
        if config.prometheus_enabled:
            try:
                metrics.serve_metrics(config.host, config.metrics_port)
            except OSError as exc:
                log.error("metrics listener failed", port=config.metrics_port,
                          error=str(exc))
                raise
        if isinstance(engine, Replica):
            if paths or config.repos:
                log.warning("a replica indexes nothing: give the repositories to the indexer",
                            repos=[*paths, *config.repos])
            await asyncio.to_thread(engine.start)
        else:
            if config.role == "indexer" and any(  # what is there already, for replicas
                    info.get("last_indexed") for info in engine.store.repos().values()):
                engine.publish_soon()  # (an empty index is not: the first run publishes)
            for path in [*paths, *config.repos]:
                job = engine.add_repo(path, trusted=True)
                log.info("indexing", repo=job.repo, root=job.root, job=job.id)
            resumed = engine.resume_watching()  # registered earlier (POST /api/v1/repos)
            if resumed:
                log.info("watching again", repos=resumed)
            indexing = {j.repo for j in engine.jobs.list() if j.kind == "index"}
            threading.Thread(target=_resume_embedding, args=(engine, indexing),
                             name="codegraph-resume-embedding", daemon=True).start()
        log.info("serving", role=config.role, snapshot=engine.snapshot_id,
                 repos=_served(engine), host=config.host, port=config.port,
                 metrics_port=config.metrics_port if config.prometheus_enabled else None,
                 revision=engine.revision)
        flushing = asyncio.create_task(logs.flusher())
        async with inner(a):
            try:
                yield
            finally:
                flushing.cancel()
                ctx.draining = True
                log.info("shutting down: finishing the current index batch")
                stopped = await asyncio.to_thread(engine.close, config.drain_seconds)
                log.info("stopped", clean=stopped)

    app.router.lifespan_context = lifespan
    return app


def _served(engine: Serving) -> list[str]:
    """The names of the repositories served: those indexed, and those queued to be."""
    try:
        names = set(engine.repos())
    except Exception as exc:  # (a replica with no snapshot yet, a damaged store)
        log.warning("listing the repositories failed", error=f"{type(exc).__name__}: {exc}")
        names = set()
    if isinstance(engine, Engine):
        names.update(j.repo for j in engine.jobs.list() if j.kind == "index")
    return sorted(names)


def _mcp(engine: Serving, config: Config) -> tuple[ASGIApp | None, Any]:
    """The MCP streamable-HTTP endpoint for /mcp and its lifespan, built after the server is up
    (mcp_deferred). Behind a loopback-only bind, DNS-rebinding protection is on; otherwise
    the proxy in front owns Host checks. Without the MCP SDK installed, no /mcp."""
    if importlib.util.find_spec("mcp") is None:
        log.warning("MCP is not installed in this build: no /mcp")
        return None, None

    def build() -> tuple[ASGIApp, AbstractAsyncContextManager[Any]]:
        from mcp.server.transport_security import TransportSecuritySettings

        from codegraph.server.mcp_tools import build_mcp, mcp_endpoint, session_lifespan

        security = None
        if config.loopback_only:
            hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
            security = TransportSecuritySettings(
                enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                allowed_origins=[f"http://{h}" for h in hosts])
        mcp = build_mcp(engine.reading, transport_security=security,
                        annotate=engine.annotate)
        return mcp_endpoint(mcp), session_lifespan(mcp)

    deferred = DeferredMCP(build)
    return deferred, deferred.lifespan()


def app_factory() -> Starlette:
    """For uvicorn's reloader (``HOT_RELOAD``): the configuration the parent exported."""
    config = load()
    logs.configure(config.log_level, config.log_format)
    return build(config)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM once it has shut down gracefully, so the process would die
    by the signal; a clean drain exits 0 instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(config: Config, paths: Sequence[str] = ()) -> int:
    """Run the server on ``config`` (loaded by the command line), indexing ``paths`` too."""
    if config.tracemalloc:  # heap profiles see everything
        import tracemalloc

        tracemalloc.start(10)
    logs.configure(config.log_level, config.log_format)
    common = {"host": config.host, "port": config.port, "loop": "uvloop",
              "http": "httptools", "lifespan": "on", "log_config": None,
              "access_log": False, "timeout_graceful_shutdown": int(config.drain_seconds),
              "backlog": 16384, "server_header": False}
    if config.hot_reload:  # the reloader's child loads the configuration again
        export(config, (*map(os.path.realpath, paths), *config.repos))
        import codegraph

        uvicorn.run("codegraph.server.runner:app_factory", factory=True, reload=True,
                    reload_dirs=[os.path.dirname(codegraph.__file__)], **common)  # type: ignore[arg-type]
        return 0
    app = build(config, paths)
    server = _Server(uvicorn.Config(app, **common))  # type: ignore[arg-type]
    server.run()
    return 0 if server.started else 1
