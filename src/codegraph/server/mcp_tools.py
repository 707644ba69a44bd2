"""The MCP server: CodeGraph's questions as tools an agent calls, over stdio or streamable HTTP.

Every list answer is one bounded page, ``{"results", "total", "truncated", "next_cursor"}``:
at most ``limit`` items, cut to a ``max_tokens`` budget (4000 unless asked; never more than
the server's ceiling, ``CODEGRAPH_MAX_TOKENS``: a larger request is capped and the answer
says so in ``max_tokens_capped``), and ``next_cursor`` to pass back for the next page.

Each tool is a declared query (``query/catalog.py``; its MCP name is ``Query.tool_name``:
the ``map`` query is the ``repo_map`` tool). It declares its input schema, its output schema
(``query/outputs.py``) and its annotations (``readOnlyHint``, ``idempotentHint``: every
query only reads). An answer is ``structuredContent`` (checked against the output schema by
the SDK) and the same JSON, compact, as text for clients without structured output. A bad
request (unknown symbol, bad cursor or mode) is an MCP tool error (``isError``) with a
one-line message, never a traceback. The store work runs in a worker thread, so a slow
query never stalls the event loop. ``serverInfo`` is CodeGraph's name and version.

stdio: ``run_stdio(data_dir)`` (``codegraph mcp``, or ``python -m codegraph.server.mcp_tools
--data-dir D``) opens the store read-only, so it runs beside an indexer or the HTTP server;
it answers from the index as it was when opened (restart it to see later indexing). Logs go
to stderr: stdout is the protocol. When stdin closes, the requests already received are
answered before the process exits (within ``CODEGRAPH_DRAIN_SECONDS``).

Streamable HTTP in a host Starlette app (the session manager must run in the host's
lifespan: Starlette does not run the lifespans of mounted apps)::

    mcp = build_mcp(engine.reading)
    app = Starlette(routes=[..., mcp_route(mcp)],   # POST /mcp; host middleware applies
                    lifespan=lifespan)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with session_lifespan(mcp):  # mcp.session_manager.run(); once per ``mcp``
            ...                            # the host's own start-up
            yield

``streamable_http_app(mcp)`` is the same endpoint as an app of its own, reachable at
``/mcp`` when mounted at the root (``Mount("/", app=...)``, after the host's routes). Do not
``Mount("/mcp", ...)`` it: the endpoint would then be ``/mcp/mcp``. The transport is
stateless with plain JSON responses (``stateless_http=True, json_response=True``): no
session affinity, no long-lived SSE streams, so any worker behind a load balancer or proxy
answers any request; the tools need no server-to-client notifications. DNS-rebinding
(Host/Origin) checks are off unless ``transport_security`` is given: the host app owns its
access policy (pass loopback-only ``allowed_hosts`` when serving on 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.message import SessionMessage
from mcp.types import (
    ContentBlock,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    TextContent,
    ToolAnnotations,
)
from mcp.types import Tool as MCPTool
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from codegraph.config import Config
from codegraph.errors import CodeGraphError
from codegraph.query.catalog import QUERIES, Query
from codegraph.query.outputs import output_schema

if TYPE_CHECKING:
    from codegraph.api import CodeGraph

log = logging.getLogger("codegraph.mcp")

Reading = Callable[[], AbstractContextManager["CodeGraph"]]
Annotate = Callable[[str, Any], Any]  # (query name, answer) -> the answer a server gives

INSTRUCTIONS = (
    "CodeGraph answers questions about indexed source code from its code graph: find "
    "symbols (symbols, search), read a definition with its source (symbol, definition), "
    "follow calls and references (callers, callees, references), see what a change would "
    "affect (impact), list a file's structure (outline) and module imports (dependencies). "
    "For a first look at a repository or a directory, repo_map lists its most important "
    "definitions with their signatures. "
    "Symbols are names or qualified names (`compute`, `shop.pricing.compute`). Lists are "
    "paged: pass `next_cursor` back as `cursor` for more; `max_tokens` bounds a page. "
    "callers, references and impact also say how many sites of the name were left "
    "`unresolved` (any of them may be the symbol: the list is then incomplete); "
    "`min_confidence` drops less sure edges; impact stops at `max_nodes` (`capped`).")


def input_schema(query: Query) -> dict[str, Any]:
    """The tool's JSON schema, from the query's declaration."""
    return {"type": "object", "additionalProperties": False,
            "properties": {p.name: p.schema() for p in query.all_params},
            "required": [p.name for p in query.all_params if p.required]}


def tool_annotations(query: Query) -> ToolAnnotations:
    """What a client may assume of the tool, from the query's declaration."""
    return ToolAnnotations(title=query.summary, readOnlyHint=query.read_only,
                           destructiveHint=not query.read_only,
                           idempotentHint=query.idempotent, openWorldHint=False)


def tool(query: Query) -> MCPTool:
    return MCPTool(name=query.tool_name, description=query.description,
                   inputSchema=input_schema(query), outputSchema=output_schema(query.name),
                   annotations=tool_annotations(query))


BY_TOOL = {q.tool_name: q for q in QUERIES}


def server_version() -> str:
    """CodeGraph's version, from its package metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("codegraph")
    except PackageNotFoundError:  # (run from a source tree that was never installed)
        return "0+unknown"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class CodeGraphMCP(FastMCP):
    """FastMCP's transports and sessions, with the tools made from the declared queries
    (``query/catalog.py``): their schemas are the declarations', their arguments are
    checked by them, and each call is ``CodeGraph.answer`` inside ``reading()``, in a
    worker thread."""

    def __init__(self, reading: Reading, *, default_max_tokens: int = 4000,
                 transport_security: TransportSecuritySettings | None = None,
                 annotate: Annotate | None = None) -> None:
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        super().__init__(  # FastMCP configures the root logger on creation: undone below
            "codegraph", instructions=INSTRUCTIONS, log_level="WARNING",
            stateless_http=True, json_response=True,
            transport_security=transport_security
            or TransportSecuritySettings(enable_dns_rebinding_protection=False))
        root.handlers[:] = handlers
        root.setLevel(level)
        self._mcp_server.version = server_version()  # serverInfo: ours, not the SDK's
        sdk = logging.getLogger("mcp")  # the SDK logs every request at INFO: quiet unless set
        if sdk.level == logging.NOTSET:
            sdk.setLevel(logging.WARNING)
        self.reading = reading
        self.annotate = annotate or (lambda name, answer: answer)
        self.default_max_tokens = default_max_tokens
        self.tools = [tool(q) for q in QUERIES]

    async def list_tools(self) -> list[MCPTool]:
        return self.tools

    async def call_tool(self, name: str, arguments: dict[str, Any]  # type: ignore[override]
                        ) -> tuple[list[ContentBlock], dict[str, Any]]:
        """The answer as text and as structured content: the SDK's low-level handler takes
        the pair (FastMCP's own signature does not say so)."""
        query = BY_TOOL.get(name)
        if query is None:
            raise ToolError(f"unknown tool: {name}")
        args = dict(arguments or {})
        try:
            answer = await anyio.to_thread.run_sync(self._answer, query, args)
        except CodeGraphError as exc:
            raise ToolError(str(exc)) from None
        except Exception:
            log.exception("MCP tool failed")
            raise ToolError("internal error (the server log has the details)") from None
        text = _json(answer)
        return [TextContent(type="text", text=text)], json.loads(text)

    def _answer(self, query: Query, args: dict[str, Any]) -> Any:
        """The answer; without a ``max_tokens``, MCP's default budget, at most the index's
        ceiling (CODEGRAPH_MAX_TOKENS: a default over it is no request to cap)."""
        with self.reading() as cg:
            if args.get("max_tokens") is None and any(p.name == "max_tokens"
                                                      for p in query.all_params):
                args["max_tokens"] = min(self.default_max_tokens, cg.config.max_tokens)
            return self.annotate(query.name, cg.answer(query.name, args))


def build_mcp(reading: Reading, *, default_max_tokens: int = 4000,
              transport_security: TransportSecuritySettings | None = None,
              annotate: Annotate | None = None) -> CodeGraphMCP:
    """The MCP server with CodeGraph's tools; each tool call reads inside ``reading()``
    (the server's: it keeps the store it reads open until the call is done), and its answer
    goes through ``annotate`` (the server's: ``stats`` gains the running embedding job, as
    the HTTP API's does)."""
    return CodeGraphMCP(reading, default_max_tokens=default_max_tokens,
                        transport_security=transport_security, annotate=annotate)


class _Endpoint:
    """The streamable HTTP endpoint as a plain ASGI app (a Route then takes every method)."""

    def __init__(self, mcp: FastMCP) -> None:
        mcp.streamable_http_app()  # creates the session manager
        self.manager = mcp.session_manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)


def mcp_endpoint(mcp: FastMCP) -> ASGIApp:
    """The endpoint, for a Route in the host app's routes (needs ``session_lifespan``)."""
    return _Endpoint(mcp)


def mcp_route(mcp: FastMCP, path: str = "/mcp") -> Route:
    return Route(path, endpoint=mcp_endpoint(mcp))


def streamable_http_app(mcp: FastMCP) -> Starlette:
    """The endpoint as an app, at ``/mcp`` when mounted at the root. Its own lifespan runs the
    session manager only when it is served directly; mounted, use ``session_lifespan``."""
    return mcp.streamable_http_app()


def session_lifespan(mcp: FastMCP) -> AbstractAsyncContextManager[None]:
    """The session manager's run, for the host's lifespan: enter it once per ``mcp``."""
    mcp.streamable_http_app()
    return mcp.session_manager.run()


def run_stdio(config: Config) -> None:
    """Serve the tools over stdio from the index of ``config``, opened read-only."""
    import structlog

    from codegraph.api import CodeGraph

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, force=True,
                        format="codegraph mcp: %(levelname)s %(name)s: %(message)s")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    with CodeGraph.open(config, readonly=True) as cg:
        mcp = build_mcp(lambda: contextlib.nullcontext(cg))
        anyio.run(serve_stdio, mcp, config.drain_seconds)


async def serve_stdio(mcp: FastMCP, drain_seconds: float) -> None:
    """The server on stdin and stdout, as the SDK's ``run_stdio_async``, except at the end:
    the SDK cancels the requests in flight when stdin closes; here the server's input is
    held open until each request received has been answered (or ``drain_seconds`` have
    passed), so a client that writes its requests and closes stdin gets every answer."""
    from mcp.server.stdio import stdio_server

    pending: set[str | int] = set()  # ids of the requests received and not yet answered

    async with stdio_server() as (stdin, stdout):
        into_send, into = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        out, out_receive = anyio.create_memory_object_stream[SessionMessage](0)

        async def inbound() -> None:
            async with into_send:
                async for message in stdin:
                    if isinstance(message, SessionMessage):
                        _track(message, pending)
                    await into_send.send(message)
                with anyio.move_on_after(drain_seconds):
                    while pending:
                        await anyio.sleep(0.01)
                if pending:
                    log.warning("stdin closed: %d request(s) left unanswered after %.0f s",
                                len(pending), drain_seconds)

        async def outbound() -> None:
            async with stdout, out_receive:
                async for message in out_receive:
                    await stdout.send(message)
                    root = message.message.root
                    if isinstance(root, JSONRPCResponse | JSONRPCError):
                        pending.discard(root.id)

        server = mcp._mcp_server
        async with anyio.create_task_group() as tg:
            tg.start_soon(inbound)
            tg.start_soon(outbound)
            await server.run(into, out, server.create_initialization_options())


def _track(message: SessionMessage, pending: set[str | int]) -> None:
    """A request from the client is pending until answered; a cancelled one no more."""
    root = message.message.root
    if isinstance(root, JSONRPCRequest):
        pending.add(root.id)
    elif isinstance(root, JSONRPCNotification) and root.method == "notifications/cancelled":
        pending.discard((root.params or {}).get("requestId", ""))


def main(argv: list[str] | None = None) -> int:
    """``python -m codegraph.server.mcp_tools [--data-dir D]``: ``codegraph mcp``."""
    from codegraph.cli import main as cli

    return cli([*(argv if argv is not None else sys.argv[1:]), "mcp"])


if __name__ == "__main__":
    sys.exit(main())
