"""Declared endpoints: one table gives both the Starlette routes and the OpenAPI document.

An :class:`Endpoint` names its parameters with types and bounds; the handler built from it
checks auth, parses and checks the parameters (a bad one is a 400 naming it), waits for
``min_revision`` when asked, answers from the query cache when it can, and runs the
operation in the bounded worker pool (``CODEGRAPH_WORKERS`` threads), never on the event
loop: the probes and other connections are served while queries run.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from codegraph.query.catalog import Param
from codegraph.server.auth import authorize
from codegraph.server.cache import cache_key
from codegraph.server.errors import ApiError, error_response, translate

if TYPE_CHECKING:
    from codegraph.server.app import Context

JSON = "application/json"
MIN_REVISION = "min_revision"
WAITED = "codegraph.revision_wait"  # scope key: seconds spent waiting for min_revision


Operation = Callable[["Context", dict[str, Any]], Any]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    op: Operation
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: tuple[Param, ...] = ()
    mutates: bool = False  # needs the API key
    admin: bool = False  # needs the admin token instead (server/auth.py)
    cached: bool = False  # answers may come from the query cache
    is_async: bool = False  # op is a coroutine function (awaited on the event loop)
    status: int = 200
    errors: tuple[int, ...] = (400, 404)
    response: dict[str, Any] | None = None  # the JSON schema of a success (OpenAPI)

    @functools.cached_property
    def route_params(self) -> tuple[Param, ...]:
        return (*self.params, Param(MIN_REVISION, int, minimum=0, help=(
            "wait (a bounded time) until the index reaches this revision")))


async def _arguments(endpoint: Endpoint, request: Request) -> dict[str, Any]:
    args: dict[str, Any] = {}
    known = {p.name for p in endpoint.route_params if p.where == "query"}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ApiError(400, "bad_request", f"unknown parameter(s): {', '.join(unknown)[:200]}")
    for p in endpoint.route_params:
        raw = (request.path_params.get(p.name) if p.where == "path"
               else request.query_params.get(p.name))
        if raw is None:
            if p.required:
                raise ApiError(400, "bad_request", f"the {p.name} parameter is required")
            continue
        args[p.name] = p.parse(raw)
    if endpoint.body:
        raw_body = await request.body()
        try:
            data = json.loads(raw_body) if raw_body else {}
        except (ValueError, RecursionError):
            raise ApiError(400, "bad_request", "the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_request", "the request body must be a JSON object")
        known = {p.name for p in endpoint.body}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ApiError(400, "bad_request", f"unknown field(s): {', '.join(unknown)}")
        for p in endpoint.body:
            if p.name not in data or data[p.name] is None:
                if p.required:
                    raise ApiError(400, "bad_request", f"the {p.name} field is required")
                continue
            args[p.name] = p.parse(data[p.name])
    return args


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()


def _answer(endpoint: Endpoint, ctx: Context, args: dict[str, Any]) -> bytes:
    """Run a synchronous operation and serialise its answer (in a worker thread), with the
    store it reads kept open (a full re-index may swap it meanwhile)."""
    with ctx.engine.reading():
        return dumps(endpoint.op(ctx, args))


def make_route(endpoint: Endpoint, ctx: Context) -> Route:
    async def handle(request: Request) -> Response:
        request.scope["codegraph.route"] = endpoint.path
        try:
            authorize(ctx.config, request.headers, mutates=endpoint.mutates,
                      admin=endpoint.admin)
            args = await _arguments(endpoint, request)
            waiting = time.perf_counter()
            try:
                revision = await ctx.wait_for_revision(args.pop(MIN_REVISION, None))
            finally:  # the wait the client asked for is not the server's latency
                request.scope[WAITED] = time.perf_counter() - waiting
            key = (cache_key(ctx.cache_epoch(revision), endpoint.path, args)
                   if endpoint.cached else None)
            if key is not None:
                hit = await ctx.cache.get(key)
                if hit is not None:
                    return Response(hit, media_type=JSON, headers={"X-Cache": "hit"})
            if endpoint.is_async:
                body = dumps(await endpoint.op(ctx, args))
            else:  # the store and the indexes are read in the bounded worker pool
                body = await ctx.in_pool(_answer, endpoint, ctx, args)
            if key is not None:
                await ctx.cache.set(key, body)
            return Response(body, status_code=endpoint.status, media_type=JSON)
        except Exception as exc:  # every failure becomes the JSON error shape
            return error_response(translate(exc), request)

    return Route(endpoint.path, handle, methods=[endpoint.method], name=endpoint.path)
