"""The web UI's routes, served by the API's own app (``server/app.py`` adds them): pages
rendered on the server from the library's answers (``views.py``), static files under
``/ui/static``, and ``/login`` for servers that need the API key for reads.

Authentication is the API's (``server/auth.authorize``, a read): when reads need the key
(``CODEGRAPH_API_KEY`` with ``CODEGRAPH_AUTH_READS``), a page needs it too, from the
headers the API accepts or from the cookie ``/login`` sets (HttpOnly, SameSite=Strict, so
other sites' pages cannot use it). Only UI pages accept the cookie, never ``/api/v1``.
Without it a page redirects to ``/login``. Bad input is a 4xx page, never a 5xx.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, quote

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from codegraph.api import CodeGraph
from codegraph.errors import CodeGraphError
from codegraph.graph.model import is_node_id
from codegraph.server.auth import authorize
from codegraph.server.errors import ApiError, translate
from codegraph.ui import render, views

if TYPE_CHECKING:
    from codegraph.server.app import Context

log = structlog.get_logger("codegraph.ui")
T = TypeVar("T")
COOKIE = "codegraph_key"
HEADERS = {
    # Everything from this server: no inline script, no other origin, no framing.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' "
                               "'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _allowed(ctx: Context, request: Request) -> bool:
    """The API's read rule, met by the request's own headers or by the login cookie (the
    key itself, compared as it was typed: a stale cookie never hides a valid header)."""
    try:
        authorize(ctx.config, request.headers, mutates=False)
        return True
    except ApiError:
        pass
    key, secret = request.cookies.get(COOKIE), ctx.config.api_key
    return bool(key and secret and hmac.compare_digest(key.encode(), secret.encode()))


def _https(request: Request) -> bool:
    """Whether the browser reached us over TLS: directly, or through the stack's nginx
    (which sets X-Forwarded-Proto; a client forging it can only make its own cookie
    Secure)."""
    return request.url.scheme == "https" or \
        request.headers.get("x-forwarded-proto", "").lower() == "https"


def _safe_next(target: str | None) -> str:
    """A local path to go back to after logging in (never another site)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _error(request: Request, status: int, message: str) -> HTMLResponse:
    title = {400: "Bad request", 401: "Key needed", 404: "Not found",
             503: "Unavailable"}.get(status, "Error")
    return _html(render.page("error.html", title=title, status=status, message=message,
                             request_id=request.scope.get("codegraph.request_id")), status)


def ui_routes(ctx: Context) -> list[BaseRoute]:
    def read(fn: Callable[..., T], *args: Any) -> T:
        with ctx.engine.reading() as cg:
            return fn(cg, *args)

    async def answer(request: Request, template: str, fn: Callable[..., dict[str, Any]],
                     *args: Any, **extra: Any) -> Response:
        """``fn(cg, *args)`` in the worker pool, rendered with ``template``; the login
        redirect when the key is needed, an error page for bad input."""
        if not _allowed(ctx, request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
        try:
            data = await ctx.in_pool(read, fn, *args)
        except CodeGraphError as exc:  # the API's statuses (server/errors.py), one table
            return _error(request, translate(exc).status, str(exc))
        return _html(render.page(template, **data, **extra, auth=ctx.config.api_key is not None))

    async def home(request: Request) -> Response:
        return await answer(request, "home.html", views.home)

    async def search(request: Request) -> Response:
        params = {k: request.query_params.get(k, "") for k in ("q", *views.FILTERS)}
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            return _error(request, 400, "page must be a whole number")
        return await answer(request, "search.html", _search, params, page,
                            filters=params, modes=("hybrid", "lexical", "semantic"))

    async def symbol(request: Request) -> Response:
        key = request.path_params["symbol"]
        if not is_node_id(key):  # a name: its one definition, or a list to choose from
            return await answer(request, "choose.html", _choose, key)
        return await answer(request, "symbol.html", _symbol, key,
                            request.query_params.get("min_confidence"))

    async def graph(request: Request) -> Response:
        try:
            depth = int(request.query_params.get("depth", "1"))
        except ValueError:
            return _error(request, 400, "depth must be 1, 2 or 3")
        return await answer(request, "graph.html", views.graph,
                            request.path_params["symbol"], depth,
                            library=render.graph_library_present())

    async def repo(request: Request) -> Response:
        def annotated(cg: CodeGraph, name: str) -> dict[str, Any]:
            data = views.repo(cg, name)
            data["stats"] = ctx.engine.annotate("stats", data["stats"])
            return data

        return await answer(request, "repo.html", annotated, request.path_params["name"])

    async def login(request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return _html(render.page("login.html", next=target, failed=False,
                                     needed=ctx.config.api_key is not None))
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        key = (form.get("key") or [""])[0]
        target = _safe_next((form.get("next") or [target])[0])
        secret = ctx.config.api_key
        if secret is None or not key or not hmac.compare_digest(key.encode(), secret.encode()):
            return _html(render.page("login.html", next=target, failed=True,
                                     needed=secret is not None), 401)
        response = RedirectResponse(target, 303)
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/",
                            secure=_https(request))
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def pygments_css(request: Request) -> Response:
        return Response(render.pygments_css(), media_type="text/css",
                        headers={"Cache-Control": "max-age=3600"})

    return [
        Route("/", home, name="ui:home"),
        Route("/search", search, name="ui:search"),
        Route("/symbol/{symbol}", symbol, name="ui:symbol"),
        Route("/symbol/{symbol}/graph", graph, name="ui:graph"),
        Route("/repo/{name:path}", repo, name="ui:repo"),
        Route("/login", login, methods=["GET", "POST"], name="ui:login"),
        Route("/logout", logout, methods=["POST"], name="ui:logout"),
        Route("/ui/static/pygments.css", pygments_css),
        Mount("/ui/static", StaticFiles(directory=render.STATIC), name="ui:static"),
    ]


def _symbol(cg: CodeGraph, key: str, min_confidence: str | None) -> dict[str, Any]:
    data = views.symbol(cg, key, min_confidence)
    node = data["node"]
    data["source"] = render.source(node.get("source") or "", node.get("language", ""),
                                   int(node.get("line") or 1))
    return data


def _search(cg: CodeGraph, params: dict[str, str], page: int) -> dict[str, Any]:
    data = views.search(cg, params, page)
    marks = render.words(data["query"])
    for hit in data["results"]:
        snip = hit.get("snippet")
        if isinstance(snip, dict) and snip.get("text"):
            hit["snippet_html"] = render.source(str(snip["text"]), hit.get("language", ""),
                                                int(snip.get("line") or 1), marks)
    return data


def _choose(cg: CodeGraph, name: str) -> dict[str, Any]:
    found = views.candidates(cg, name)
    return {"name": name, "candidates": found}
