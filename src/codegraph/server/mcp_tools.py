"""The MCP server: CodeGraph's questions as tools an agent calls, over stdio or streamable HTTP.

Every list answer is one bounded page, ``{"results", "total", "truncated", "next_cursor"}``:
at most ``limit`` items, cut to a ``max_tokens`` budget (4000 unless asked), and
``next_cursor`` to pass back for the next page. Answers are compact JSON text (no duplicate
``structuredContent``). A bad request (unknown symbol, bad cursor or mode) is an MCP tool
error (``isError``) with a one-line message, never a traceback. The store work runs in a
worker thread, so a slow query never stalls the event loop.

stdio: ``run_stdio(data_dir)`` (``codegraph mcp``, or ``python -m codegraph.server.mcp_tools
--data-dir D``) opens the store read-only, so it runs beside an indexer or the HTTP server;
it answers from the index as it was when opened (restart it to see later indexing). Logs go
to stderr: stdout is the protocol.

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

import argparse
import contextlib
import inspect
import json
import logging
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from codegraph.errors import CodeGraphError
from codegraph.query.queries import QueryError
from codegraph.server.intel import Intel, clamp, estimate_tokens, page
from codegraph.store.rocks import StoreError

log = logging.getLogger("codegraph.mcp")

T = TypeVar("T")
Item = dict[str, Any]

DEFAULT_LIMIT = 20
MAX_TOKENS = 100_000
SIMILAR_POOL = 100  # neighbours fetched for `similar`, then paged

INSTRUCTIONS = (
    "CodeGraph answers questions about indexed source code from its code graph: find "
    "symbols (symbols, search), read a definition with its source (symbol, definition), "
    "follow calls and references (callers, callees, references), see what a change would "
    "affect (impact), list a file's structure (outline) and module imports (dependencies). "
    "Symbols are names or qualified names (`compute`, `shop.pricing.compute`). Lists are "
    "paged: pass `next_cursor` back as `cursor` for more; `max_tokens` bounds a page.")

Symbol = Annotated[str, Field(description="Symbol name or qualified name, e.g. `compute` or "
                                          "`shop.pricing.compute` or `Item.total`")]
Repo = Annotated[str | None, Field(description="Only this repository (its indexed name); "
                                               "default: all repositories")]
Limit = Annotated[int, Field(description="Most results in this page (1-500)")]
Cursor = Annotated[str | None, Field(description="`next_cursor` of the previous page, to "
                                                 "continue; omit for the first page")]
MaxTokens = Annotated[int | None, Field(description="Token budget of this page (about 4 "
                                                    "characters a token); default: the server's, "
                                                    "usually 4000")]
Kind = Annotated[str | None, Field(description="Only this node kind: function, method, "
                                               "class, module, variable, ...")]
Lang = Annotated[str | None, Field(description="Only this language: python, go, rust, ...")]
PathGlob = Annotated[str | None, Field(description="Only files matching this path glob, "
                                                   "e.g. `src/*`")]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _fit_source(answer: Item, budget: int) -> Item:
    """A single definition over the budget keeps its head of source, marked truncated."""
    first = answer["results"][0] if answer["results"] else None
    if first and first.get("source") and estimate_tokens(first) > budget:
        room = max(0, budget * 4 - estimate_tokens({**first, "source": ""}) * 4)
        first["source"] = first["source"][:room]
        first["source_truncated"] = answer["truncated"] = True
    return answer


def build_mcp(reading: Callable[[], AbstractContextManager[Intel]], *,
              default_max_tokens: int = 4000,
              transport_security: TransportSecuritySettings | None = None) -> FastMCP:
    """The MCP server with CodeGraph's tools; each tool call reads inside ``reading()``
    (the server's: it keeps the store it reads open until the call is done)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    mcp = FastMCP(  # FastMCP configures the root logger on creation: undone below
        "codegraph", instructions=INSTRUCTIONS, log_level="WARNING",
        stateless_http=True, json_response=True,
        transport_security=transport_security
        or TransportSecuritySettings(enable_dns_rebinding_protection=False))
    root.handlers[:] = handlers
    root.setLevel(level)
    sdk = logging.getLogger("mcp")  # the SDK logs every request at INFO: quiet unless set
    if sdk.level == logging.NOTSET:
        sdk.setLevel(logging.WARNING)

    def budget(max_tokens: int | None) -> int:
        return clamp(max_tokens, default_max_tokens, 1, MAX_TOKENS)

    async def call(work: Callable[[Intel], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(lambda: _read(reading, work))
        except (QueryError, CodeGraphError, StoreError, ValueError) as exc:  # SearchError too
            raise ToolError(str(exc)) from None
        except Exception:
            log.exception("MCP tool failed")
            raise ToolError("internal error (the server log has the details)") from None

    async def paged(items: Callable[[Intel], list[Item]], limit: int, cursor: str | None,
                    max_tokens: int | None) -> Item:
        return await call(lambda i: page(items(i), limit, cursor, budget(max_tokens)))

    structured = False  # compact JSON text, not a second (indented) copy of it

    def tool(fn: Callable[..., Any]) -> Callable[..., Any]:
        mcp.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""),
                     structured_output=structured)
        return fn

    @tool
    async def search(query: Annotated[str, Field(description="What to look for: words, "
                                                             "identifiers or a description")],
                     mode: Annotated[str, Field(  # the enum checked by search: one line
                         json_schema_extra={"enum": ["hybrid", "lexical", "semantic"]},
                         description="lexical (BM25 over names and code), semantic "
                                     "(embeddings) or hybrid (both, fused)")] = "hybrid",
                     repo: Repo = None, lang: Lang = None, kind: Kind = None,
                     path: PathGlob = None, limit: Limit = 10, cursor: Cursor = None,
                     max_tokens: MaxTokens = None) -> str:
        """Search the indexed code for definitions matching a query; best first, one hit per
        definition with its file, lines and scores."""
        return _json(await call(lambda i: i.search(
            query, mode=mode, limit=limit, cursor=cursor, repo=repo, lang=lang, kind=kind,
            path=path, max_tokens=budget(max_tokens))))

    @tool
    async def symbols(query: Annotated[str, Field(description="A name or part of one; "
                                                              "fuzzy matched")],
                      kind: Kind = None, lang: Lang = None, repo: Repo = None,
                      path: PathGlob = None, limit: Limit = DEFAULT_LIMIT,
                      cursor: Cursor = None, max_tokens: MaxTokens = None) -> str:
        """Find symbols (functions, classes, methods, ...) by name: where each is defined."""
        return _json(await paged(lambda i: i.symbols(query, kind=kind, lang=lang, repo=repo,
                                                     path=path), limit, cursor, max_tokens))

    @tool
    async def symbol(symbol: Symbol, repo: Repo = None,
                     context: Annotated[int, Field(description="Extra lines of source before "
                                                               "and after (0-50)")] = 0,
                     limit: Limit = 5, cursor: Cursor = None,
                     max_tokens: MaxTokens = None) -> str:
        """A symbol's definitions with their source code (a long one is cut to the budget)."""
        answer = await paged(lambda i: i.symbol(symbol, repo, context), limit, cursor,
                             max_tokens)
        return _json(_fit_source(answer, budget(max_tokens)))

    @tool
    async def definition(symbol: Symbol, repo: Repo = None, limit: Limit = DEFAULT_LIMIT,
                         cursor: Cursor = None, max_tokens: MaxTokens = None) -> str:
        """Where a symbol is defined: file, line range, kind and qualified name."""
        return _json(await paged(lambda i: i.definition(symbol, repo), limit, cursor,
                                 max_tokens))

    def edge_tool(which: str, name: str, doc: str) -> None:
        async def edges(symbol: Symbol, repo: Repo = None, limit: Limit = DEFAULT_LIMIT,
                        cursor: Cursor = None, max_tokens: MaxTokens = None) -> str:
            return _json(await paged(lambda i: i.edges(which, symbol, repo), limit, cursor,
                                     max_tokens))
        mcp.add_tool(edges, name=name, description=doc, structured_output=structured)

    edge_tool("callers", "callers", "Who calls a symbol: each calling function or method, "
              "where it is defined, and `site_line`, the line of the call.")
    edge_tool("callees", "callees", "What a symbol calls: each called definition and "
              "`site_line`, the line of the call in the symbol.")
    edge_tool("refs", "references", "Every reference to a symbol (calls, imports, type uses, "
              "inheritance): the referring definition and `site_line`.")

    @tool
    async def impact(symbol: Symbol, depth: Annotated[int, Field(
                         description="How many call/reference steps out to follow (1-6)")] = 3,
                     repo: Repo = None, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                     max_tokens: MaxTokens = None) -> str:
        """What a change to a symbol could affect: the definitions that depend on it,
        directly or through others, nearest first, each with its `depth` (steps away)."""
        return _json(await paged(lambda i: i.impact(symbol, depth, repo), limit, cursor,
                                 max_tokens))

    @tool
    async def outline(path: Annotated[str, Field(description="The file's path relative to "
                                                             "its repository root")],
                      repo: Repo = None, limit: Limit = 100, cursor: Cursor = None,
                      max_tokens: MaxTokens = None) -> str:
        """A file's structure: its classes, functions, methods, ... in order, with lines."""
        return _json(await paged(lambda i: i.outline(path, repo), limit, cursor, max_tokens))

    @tool
    async def dependencies(repo: Repo = None,
                           cycles: Annotated[bool, Field(description="Only the import "
                                                                     "cycles")] = False,
                           limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                           max_tokens: MaxTokens = None) -> str:
        """Module dependencies: which modules each module imports (or, with cycles, the
        import cycles)."""
        return _json(await paged(lambda i: i.deps(repo, cycles), limit, cursor, max_tokens))

    @tool
    async def similar(symbol: Symbol, repo: Repo = None, limit: Limit = 10,
                      cursor: Cursor = None, max_tokens: MaxTokens = None) -> str:
        """Definitions whose code is most like a symbol's (needs embeddings)."""
        return _json(await paged(lambda i: i.similar(symbol, SIMILAR_POOL, repo), limit,
                                 cursor, max_tokens))

    @tool
    async def stats(repo: Repo = None) -> str:
        """Index figures: repositories, files, languages, node and edge counts, search
        coverage."""
        return _json(await call(lambda i: i.stats(repo)))

    return mcp


def _read(reading: Callable[[], AbstractContextManager[Intel]], work: Callable[[Intel], T]
          ) -> T:
    with reading() as intel:
        return work(intel)


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


def run_stdio(data_dir: str | None) -> None:
    """Serve the tools over stdio from the index in ``data_dir``, opened read-only."""
    import structlog

    from codegraph.api import CodeGraph

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, force=True,
                        format="codegraph mcp: %(levelname)s %(name)s: %(message)s")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    with CodeGraph.open(data_dir, readonly=True) as cg:
        shared = Intel(cg.store, cg.search_service())
        anyio.run(build_mcp(lambda: contextlib.nullcontext(shared)).run_stdio_async)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codegraph-mcp",
                                     description="CodeGraph's MCP server over stdio")
    parser.add_argument("--data-dir", help="the index (default: $CODEGRAPH_DATA_DIR or "
                                           "./.codegraph)")
    args = parser.parse_args(argv)
    try:
        run_stdio(args.data_dir)
    except KeyboardInterrupt:
        return 130
    except (CodeGraphError, QueryError, StoreError, OSError, ValueError) as exc:
        print(f"codegraph mcp: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
