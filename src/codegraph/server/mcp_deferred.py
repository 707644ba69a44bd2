"""``/mcp``, brought up once the server is listening.

Importing the MCP SDK (a few hundred pydantic models) takes about 0.2 s, which would delay
every start's first answer, health checks included. So the app's lifespan only starts a
task; the task imports and builds the MCP server in a worker thread, then runs its session
manager until shutdown. A request to ``/mcp`` that comes earlier waits for it; if the build
failed, it gets a 503 that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from codegraph.server.errors import ApiError, error_response

log = structlog.get_logger("codegraph.server")

# () -> (the endpoint, the session manager's run): called in a worker thread
Build = Callable[[], tuple[ASGIApp, AbstractAsyncContextManager[Any]]]


class DeferredMCP:
    """The ASGI app for ``/mcp``; ``lifespan()`` goes in the host app's lifespan."""

    def __init__(self, build: Build) -> None:
        self._build = build
        self._ready: asyncio.Future[ASGIApp] | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        self._ready = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(self._serve(self._ready, stop))
        try:
            yield
        finally:
            stop.set()
            await task

    async def _serve(self, ready: asyncio.Future[ASGIApp], stop: asyncio.Event) -> None:
        try:
            endpoint, session = await asyncio.to_thread(self._build)
        except Exception as exc:  # an MCP SDK that does not load: the rest still serves
            log.error("MCP failed to start: /mcp answers 503", error=str(exc))
            ready.set_exception(exc)
            ready.exception()  # retrieved: requests re-raise it, none may ever come
            return
        async with session:  # entered and left in this one task, as anyio requires
            ready.set_result(endpoint)
            await stop.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._ready is None:
            raise RuntimeError("DeferredMCP.lifespan() is not running")
        try:
            endpoint = await asyncio.shield(self._ready)
        except Exception as exc:
            response = error_response(ApiError(503, "unavailable", f"MCP did not start: {exc}"),
                                      Request(scope))
            await response(scope, receive, send)
            return
        await endpoint(scope, receive, send)
