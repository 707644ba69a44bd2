"""The ASGI application: the endpoint table, operations endpoints, the MCP transport at
``/mcp``, and one pure-ASGI middleware for request ids, limits, metrics and access logs."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codegraph.api import CodeGraph
from codegraph.config import Config
from codegraph.server import bodies, logs, metrics, openapi, ops
from codegraph.server.auth import Guarded
from codegraph.server.cache import QueryCache
from codegraph.server.endpoints import WAITED, make_route
from codegraph.server.errors import ApiError, error_response
from codegraph.server.replica import Serving
from codegraph.server.routes import endpoints
from codegraph.ui.routes import ui_routes

log = structlog.get_logger("codegraph.http")
T = TypeVar("T")


class Context:
    """What every handler needs: config, engine (and its library), the cache, and the
    bounded pool of ``CODEGRAPH_WORKERS`` threads that every read of the store runs in."""

    def __init__(self, config: Config, engine: Serving, cache: QueryCache) -> None:
        self.config = config
        self.engine = engine
        self.cache = cache
        self.draining = False
        self.pool = ThreadPoolExecutor(config.workers, thread_name_prefix="codegraph-query")
        self._slots: asyncio.Semaphore | None = None

    async def in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the pool, in a copy of this context (log records made there
        carry the request id). At most ``workers`` calls are handed over at a time, the
        rest wait on the event loop: with all of them queued in the pool, its threads
        held the GIL so much that /health waited (p99 53-72 ms under 100 connections of
        lookups, against 5 ms). A plain executor hands over in a quarter of anyio's time."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.workers)
        context = contextvars.copy_context()
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self.pool, context.run,
                                                                    fn, *args)

    @property
    def cg(self) -> CodeGraph:
        """The library; ask it inside ``engine.reading()`` (the endpoints do)."""
        return self.engine.cg

    def cache_epoch(self, revision: int) -> str:
        """What a cached answer depends on (the revision, and what else changes answers)."""
        return self.engine.cache_epoch(revision)

    async def wait_for_revision(self, wanted: int | None) -> int:
        """The revision this request reads, after waiting (bounded) until it reaches
        ``wanted``: else 409 with the revision this server has (another replica may be
        ahead)."""
        revision = self.engine.revision
        if wanted is None or revision >= wanted:
            return revision
        deadline = time.monotonic() + self.config.min_revision_wait
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            self.engine.refresh_pin()  # a replica: the newest snapshot, if it switched
            revision = self.engine.revision
            if revision >= wanted:
                return revision
        raise ApiError(409, "revision_not_reached",
                       f"the index is at revision {revision}, not yet {wanted}; retry later",
                       headers={"Retry-After": "1"})


class RequestMiddleware:
    """Request id, body limits (size, depth, valid text), revision header, metrics and one
    access-log line, for every HTTP request: the API, MCP and the probes alike."""

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope["codegraph.request_id"] = request_id
        status = 500
        extra = [(b"x-request-id", request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                revision = str(self.ctx.engine.revision).encode()
                message["headers"] = [*message.get("headers", ()), *extra,
                                      (b"x-codegraph-revision", revision)]
            await send(message)

        # Log records made while serving this request (tracebacks included, in worker
        # threads too: they run in a copy of this context) carry its id.
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            if scope["method"] not in _NO_BODY:
                receive = await self._checked_body(scope, receive)
            with self.ctx.engine.pinned():  # one request, one revision (a replica's switch)
                await self.app(scope, receive, send_with_headers)
        except _ClientGone:
            status = 499  # (nginx's code, for the access log: no response was sent)
        except ApiError as err:
            await error_response(err, Request(scope))(scope, receive, send_with_headers)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            method = scope["method"]
            waited = float(scope.get(WAITED, 0.0))  # min_revision: the client's own wait
            metrics.observe_request(name, method, status, max(0.0, elapsed - waited))
            logs.access(request_id=request_id, method=method, route=name, path=scope["path"],
                        status=status, duration_ms=round(elapsed * 1000, 2))

    async def _checked_body(self, scope: Scope, receive: Receive) -> Receive:
        """Read the whole body (at most ``CODEGRAPH_MAX_BODY``), refuse one that no handler
        should parse (``bodies.check``), and give the app a ``receive`` that replays it."""
        config = self.ctx.config
        limit = config.max_body_bytes
        too_large = ApiError(413, "too_large", f"the request body is over {limit} bytes")
        if _declared_length(scope) > limit:
            raise too_large
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nobody to answer
                raise _ClientGone
            part = message.get("body", b"")
            size += len(part)
            if size > limit:
                raise too_large
            parts.append(part)
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        try:
            if len(body) > BODY_CHECKED_INLINE:  # up to 65 ms for 1 MB: not on the loop
                await self.ctx.in_pool(bodies.check, body, config.max_body_depth)
            else:
                bodies.check(body, config.max_body_depth)
        except bodies.BodyRejected as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # a disconnect, when the client goes away
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


class _ClientGone(Exception):
    """The client disconnected before its request body was whole."""


_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_CHECKED_INLINE = 64 << 10  # bytes: larger bodies are checked in the worker pool


def _declared_length(scope: Scope) -> int:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


_ID_PREFIX = os.urandom(4).hex()  # per process: ids stay unique across replicas
_ids = itertools.count(1)


def _request_id(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            text: str = value.decode("latin-1")[:64]
            if text and all(c.isalnum() or c in "-_." for c in text):
                return text
    return f"{_ID_PREFIX}{next(_ids):08x}"


def create_app(config: Config, engine: Serving, cache: QueryCache,
               mcp_app: ASGIApp | None = None, mcp_lifespan: Any = None) -> Starlette:
    """``mcp_app`` serves MCP at ``/mcp``, behind the same authentication as the API;
    ``mcp_lifespan`` (an async context manager, the MCP session manager's run) spans the
    app's lifetime."""
    ctx = Context(config, engine, cache)
    table = endpoints()
    spec = openapi.document(table)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "draining" if ctx.draining else "ok",
                             "uptime_seconds": round(time.time() - engine.started, 3)})

    async def ready(request: Request) -> Response:
        body = await ops.readiness(ctx)
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    async def debug_info(request: Request) -> Response:
        if not ops.debug_allowed(ctx, request):
            return error_response(ApiError(403, "forbidden", "/debug/info needs DEBUG_MODE "
                                           "or the admin token"), request)
        return JSONResponse(await ctx.in_pool(ops.debug_info, ctx))

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(spec)

    async def docs(request: Request) -> Response:
        return Response(openapi.DOCS_HTML, media_type="text/html")

    async def docs_init(request: Request) -> Response:
        return PlainTextResponse(openapi.DOCS_INIT_JS, media_type="application/javascript")

    # Matching is a scan in order: probes, then the code-intelligence reads, then the rest.
    reads = [e for e in table if e.cached]
    routes: list[BaseRoute] = [
        Route("/health", health), Route("/health/ready", ready),
        *[make_route(e, ctx) for e in reads],
        *[make_route(e, ctx) for e in table if not e.cached],
        Route("/debug/info", debug_info), Route("/openapi.json", openapi_json),
        Route("/docs", docs), Route("/docs/init.js", docs_init),
    ]
    with contextlib.suppress(ImportError):
        import swagger_ui_bundle  # type: ignore[import-untyped]

        routes.append(Mount("/docs/static",
                            StaticFiles(directory=swagger_ui_bundle.swagger_ui_path)))
    if mcp_app is not None:
        routes.append(Route("/mcp", endpoint=Guarded(mcp_app, config)))
    routes.extend(ui_routes(ctx))  # the web UI: /, /search, /symbol/..., /repo/..., /login

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        return error_response(ApiError(status, code, str(getattr(exc, "detail", exc))),
                              request)

    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(ApiError(500, "internal", "internal error"), request)

    middleware = [Middleware(RequestMiddleware, ctx=ctx)]
    if config.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-Id"],
            expose_headers=["X-CodeGraph-Revision", "X-Request-Id"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp_lifespan if mcp_lifespan is not None else contextlib.nullcontext():
            yield
        await cache.close()
        ctx.pool.shutdown(wait=False, cancel_futures=True)

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found, 500: crashed})
    app.state.ctx = ctx
    return app
