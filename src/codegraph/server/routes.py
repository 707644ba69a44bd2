"""The ``/api/v1`` endpoints: repositories, index jobs and code intelligence."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from codegraph.graph.model import NODE_KINDS
from codegraph.server import metrics
from codegraph.server.endpoints import Endpoint, Operation, Param
from codegraph.server.errors import ApiError
from codegraph.server.intel import MAX_DEPTH, MAX_LIMIT, page

if TYPE_CHECKING:
    from codegraph.server.app import Context

API = "/api/v1"
MODES = ("lexical", "semantic", "hybrid")
KINDS = tuple(sorted(NODE_KINDS))

REPO = Param("repo", help="only this repository")
LIMIT = Param("limit", int, minimum=1, maximum=MAX_LIMIT, help="results per page")
CURSOR = Param("cursor", help="the next_cursor of the previous page")
MAX_TOKENS = Param("max_tokens", int, minimum=1, maximum=1_000_000,
                   help="cut the page to about this many LLM tokens")
PAGING = (LIMIT, CURSOR, MAX_TOKENS)
SYMBOL = Param("symbol", required=True,
               help="a node id, a qualified name (flask.app.Flask.route) or a plain name")


def _paged(items: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    return page(items, args.get("limit"), args.get("cursor"), args.get("max_tokens"))


# -- repositories and jobs ---------------------------------------------------------------------
def list_repos(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    repos = ctx.engine.repos()
    return {"results": [{"name": k, **v} for k, v in sorted(repos.items())]}


def get_repo(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    repos = ctx.engine.repos()
    if args["repo"] not in repos:
        raise ApiError(404, "not_found", f"no repository named {args['repo']!r}")
    return {"name": args["repo"], **repos[args["repo"]]}


def add_repo(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    job = ctx.engine.add_repo(args["path"], args.get("name"), watch=args.get("watch"))
    return {"repo": job.repo, "job": job.to_dict()}


def delete_repo(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return {"job": ctx.engine.remove_repo(args["repo"]).to_dict()}


def start_job(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return ctx.engine.reindex(args["repo"], full=bool(args.get("full"))).to_dict()


def list_jobs(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _paged([j.to_dict() for j in ctx.engine.jobs.list()], args)


def get_job(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    job = ctx.engine.jobs.get(args["job_id"])
    if job is None:
        raise ApiError(404, "not_found", f"no job {args['job_id']!r}")
    return job.to_dict()


def cancel_job(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    job = ctx.engine.jobs.cancel(args["job_id"])
    if job is None:
        raise ApiError(404, "not_found", f"no job {args['job_id']!r}")
    return job.to_dict()


# -- code intelligence -------------------------------------------------------------------------
def symbols(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _paged(ctx.intel.symbols(args["q"], kind=args.get("kind"), lang=args.get("lang"),
                                    repo=args.get("repo"), path=args.get("path")), args)


def symbol(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _paged(ctx.intel.symbol(args["symbol"], args.get("repo"), args.get("context", 0)),
                  args)


def definition(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _paged(ctx.intel.definition(args["name"], args.get("repo")), args)


def _edges(which: str) -> Any:
    def op(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
        return _paged(ctx.intel.edges(which, args["symbol"], args.get("repo")), args)
    return op


def impact(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _paged(ctx.intel.impact(args["symbol"], args.get("depth"), args.get("repo")), args)


def outline(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _paged(ctx.intel.outline(args["file"], args.get("repo")), args)


def dependencies(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _paged(ctx.intel.deps(args.get("repo"), bool(args.get("cycles"))), args)


def graph(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return ctx.intel.neighbourhood(args["symbol"], args.get("depth"), args.get("repo"),
                                   args.get("limit"))


def search(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    mode = args.get("mode", "hybrid")
    started = time.perf_counter()
    out = ctx.intel.search(args["q"], mode=mode, limit=args.get("limit"),
                           cursor=args.get("cursor"), repo=args.get("repo"),
                           lang=args.get("lang"), kind=args.get("kind"),
                           path=args.get("path"), graph_boost=bool(args.get("graph_boost")),
                           max_tokens=args.get("max_tokens"))
    metrics.SEARCH_LATENCY.labels(mode).observe(time.perf_counter() - started)
    return out


def similar(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return {"results": ctx.intel.similar(args["symbol"], args.get("limit"), args.get("repo"))}


def stats(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return ctx.intel.stats(args.get("repo"))


async def ask(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    from codegraph.server.ask import answer

    return await answer(ctx, args["question"], repo=args.get("repo"),
                        max_context=args.get("max_context"))


def _get(path: str, op: Operation, summary: str, params: tuple[Param, ...] = ()) -> Endpoint:
    """A cached code-intelligence read."""
    return Endpoint("GET", path, op, summary, "code intelligence", params=params, cached=True)


def endpoints() -> list[Endpoint]:
    edge_help = {"refs": "references to a symbol", "callers": "who calls a symbol",
                 "callees": "what a symbol calls"}
    return [
        Endpoint("GET", f"{API}/repos", list_repos, "List repositories", "repositories"),
        Endpoint("POST", f"{API}/repos", add_repo, "Register and index a repository under "
                 "CODEGRAPH_REPOS_ROOT", "repositories", mutates=True, status=202,
                 body=(Param("path", required=True, where="body",
                             help="a directory under CODEGRAPH_REPOS_ROOT"),
                       Param("name", where="body", max_length=200),
                       Param("watch", bool, where="body", help="re-index saved changes")),
                 errors=(400, 401, 403)),
        Endpoint("GET", f"{API}/repos/{{repo}}", get_repo, "One repository", "repositories",
                 params=(Param("repo", required=True, where="path"),)),
        Endpoint("DELETE", f"{API}/repos/{{repo}}", delete_repo,
                 "Remove a repository from the index", "repositories", mutates=True,
                 status=202, params=(Param("repo", required=True, where="path"),),
                 errors=(401, 403, 404)),
        Endpoint("POST", f"{API}/jobs", start_job, "Start an index job (incremental or full)",
                 "jobs", mutates=True, status=202,
                 body=(Param("repo", required=True, where="body"),
                       Param("full", bool, where="body", help="re-index from scratch")),
                 errors=(400, 401, 403, 404)),
        Endpoint("GET", f"{API}/jobs", list_jobs, "Index jobs, newest first", "jobs",
                 params=PAGING),
        Endpoint("GET", f"{API}/jobs/{{job_id}}", get_job, "A job's status and progress",
                 "jobs", params=(Param("job_id", required=True, where="path"),)),
        Endpoint("DELETE", f"{API}/jobs/{{job_id}}", cancel_job, "Cancel a job", "jobs",
                 mutates=True, params=(Param("job_id", required=True, where="path"),),
                 errors=(401, 403, 404)),
        _get(f"{API}/symbols", symbols, "Find symbols by exact, prefix or fuzzy name",
             (Param("q", required=True, help="a name or part of one"),
              Param("kind", choices=KINDS), Param("lang"),
              Param("path", help="glob on the repo-relative path"), REPO, *PAGING)),
        _get(f"{API}/symbol", symbol, "A symbol with its source",
             (SYMBOL, REPO, Param("context", int, minimum=0, maximum=50,
                                  help="lines of context around the definition"), *PAGING)),
        _get(f"{API}/definition", definition, "Where a name is defined",
             (Param("name", required=True), REPO, *PAGING)),
        *[_get(f"{API}/{'references' if w == 'refs' else w}", _edges(w),
               edge_help[w].capitalize(), (SYMBOL, REPO, *PAGING))
          for w in ("refs", "callers", "callees")],
        _get(f"{API}/impact", impact, "What may break if a symbol changes",
             (SYMBOL, Param("depth", int, minimum=1, maximum=MAX_DEPTH), REPO, *PAGING)),
        _get(f"{API}/outline", outline, "The definitions of a file",
             (Param("file", required=True, help="repo-relative path"), REPO, *PAGING)),
        _get(f"{API}/dependencies", dependencies,
             "Module dependency graph, or only its import cycles",
             (REPO, Param("cycles", bool), *PAGING)),
        _get(f"{API}/graph", graph, "The graph around a symbol (nodes and edges)",
             (SYMBOL, Param("depth", int, minimum=1, maximum=3), REPO,
              Param("limit", int, minimum=1, maximum=300, help="at most this many nodes"))),
        _get(f"{API}/search", search,
             "Search code by words or meaning, with each hit's component scores",
             (Param("q", required=True), Param("mode", choices=MODES), REPO, Param("lang"),
              Param("kind", choices=KINDS), Param("path"), Param("graph_boost", bool),
              Param("limit", int, minimum=1, maximum=100), CURSOR, MAX_TOKENS)),
        _get(f"{API}/similar", similar, "Definitions similar to a symbol",
             (SYMBOL, REPO, Param("limit", int, minimum=1, maximum=100))),
        _get(f"{API}/stats", stats, "What the index holds", (REPO,)),
        Endpoint("POST", f"{API}/ask", ask, "Answer a question about the code "
                 "(retrieval plus an OpenAI-compatible chat model)", "code intelligence",
                 is_async=True, body=(Param("question", required=True, where="body",
                                            max_length=4000), Param("repo", where="body"),
                                      Param("max_context", int, where="body", minimum=1,
                                            maximum=20)),
                 errors=(400, 502, 503)),
    ]
