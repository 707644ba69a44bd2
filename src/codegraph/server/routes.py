"""The ``/api/v1`` endpoints: repositories, index jobs and code intelligence."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from codegraph.query.catalog import QUERIES, Param, Query, paging
from codegraph.query.paging import page, token_ceiling
from codegraph.server import metrics
from codegraph.server.endpoints import Endpoint
from codegraph.server.errors import ApiError
from codegraph.server.openapi import JOB, REPOSITORY, listing

if TYPE_CHECKING:
    from codegraph.server.app import Context
    from codegraph.server.jobs import Job

API = "/api/v1"
PAGING = paging(50)
REPO_AND_JOB = {**REPOSITORY, "required": [*REPOSITORY["required"], "job"],
                "properties": {**REPOSITORY["properties"], "job": JOB}}


def _paged(ctx: Context, items: list[dict[str, Any]], args: dict[str, Any]
           ) -> dict[str, Any]:
    """One page of ``items``, budgeted as the queries' answers are (CODEGRAPH_MAX_TOKENS
    at most, and saying so when the request asked for more)."""
    budget, capped = token_ceiling(args.get("max_tokens"), ctx.config.max_tokens)
    out = page(items, args.get("limit", 50), args.get("cursor"), budget)
    if capped:
        out["max_tokens_capped"] = capped
    return out


# -- repositories and jobs ---------------------------------------------------------------------
# A repository is its record (root, created, last_indexed, ...) with its ``name``, whether
# this server ``watching`` it and its first unapplied save (``pending_since``); answers
# that create or remove one add the ``job`` doing it. A job is ``Job.to_dict()``.
def list_repos(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    repos = ctx.engine.repos()
    return _paged(ctx, [{"name": k, **v} for k, v in sorted(repos.items())], args)


def _repo(ctx: Context, name: str) -> dict[str, Any]:
    repos = ctx.engine.repos()
    if name not in repos:
        raise ApiError(404, "not_found", f"no repository named {name!r}")
    return {"name": name, **repos[name]}


def get_repo(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _repo(ctx, args["repo"])


def add_repo(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """202: the repository (its record, or what it will be once its first index writes
    it) and the index job that registers it."""
    job = ctx.engine.add_repo(args["path"], args.get("name"), watch=args.get("watch"))
    repos = ctx.engine.repos()
    repo = ({"name": job.repo, **repos[job.repo]} if job.repo in repos else
            {"name": job.repo, "root": job.root, "watching": bool(job.watch),
             "pending_since": None})
    return {**repo, "repo": job.repo, "job": job.to_dict()}


def delete_repo(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """202: the repository as it was, the removal job and the jobs it cancelled."""
    repo = _repo(ctx, args["repo"])
    job, cancelled = ctx.engine.remove_repo(args["repo"])
    return {**repo, "watching": False, "job": job.to_dict(),
            "cancelled": [j.to_dict() for j in cancelled]}


def start_job(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return ctx.engine.reindex(args["repo"], full=bool(args.get("full"))).to_dict()


def list_jobs(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _paged(ctx, [j.to_dict() for j in ctx.engine.jobs.list() if not j.admin], args)


def _public_job(ctx: Context, job_id: str) -> Job:
    """The job ``job_id``, if it is not administration's (a backup): those are not found
    here, whatever key the request carries (the admin endpoint answers for them)."""
    job = ctx.engine.jobs.get(job_id)
    if job is None or job.admin:
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    return job


def get_job(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _public_job(ctx, args["job_id"]).to_dict()


def cancel_job(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    job = ctx.engine.jobs.cancel(_public_job(ctx, args["job_id"]).id)
    assert job is not None
    return job.to_dict()


# -- code intelligence: one cached GET per declared query (query/catalog.py) ----------------
def _declared(query: Query) -> Endpoint:
    name = query.name

    def op(ctx: Context, args: dict[str, Any]) -> Any:
        started = time.perf_counter()
        out = ctx.engine.annotate(name, ctx.cg.answer(name, args))  # (inside reading())
        if name == "search":
            metrics.SEARCH_LATENCY.labels(args.get("mode") or "hybrid").observe(
                time.perf_counter() - started)
        return out

    listed = query.paged or name == "search"
    return Endpoint("GET", f"{API}/{name}", op, query.summary, "code intelligence",
                    params=query.all_params, cached=True,
                    response=listing({"type": "object"}, counted=name != "search")
                    if listed else None)


# -- administration: backups (the admin token) ----------------------------------------------
async def create_backup(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """The snapshot waits for the writer (a job); reads go on meanwhile."""
    return await asyncio.to_thread(ctx.engine.backup, args.get("dest"))


def list_backups(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    from codegraph.backup.create import list_archives

    return {"backup_dir": ctx.config.backup_dir, "data_dir": ctx.config.data_dir,
            **_paged(ctx, list_archives(ctx.config.backup_dir), args)}


def _known_repo(ctx: Context, repo: str) -> None:
    with ctx.engine.reading() as cg:
        cg.known_repo(repo)


async def ask(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    from codegraph.server.ask import answer

    if args.get("repo"):  # unknown: 404, as for every query
        await ctx.in_pool(_known_repo, ctx, args["repo"])
    return await answer(ctx, args["question"], repo=args.get("repo"),
                        max_context=args.get("max_context"))


def endpoints() -> list[Endpoint]:
    return [
        Endpoint("GET", f"{API}/repos", list_repos, "List repositories, by name",
                 "repositories", params=PAGING, response=listing(REPOSITORY)),
        Endpoint("POST", f"{API}/repos", add_repo, "Register and index a repository under "
                 "CODEGRAPH_REPOS_ROOT: the repository and its index job",
                 "repositories", mutates=True, status=202, response=REPO_AND_JOB,
                 body=(Param("path", required=True, where="body",
                             help="a directory under CODEGRAPH_REPOS_ROOT"),
                       Param("name", where="body", max_length=200),
                       Param("watch", bool, where="body", help="re-index saved changes")),
                 errors=(400, 401, 403)),
        Endpoint("GET", f"{API}/repos/{{repo}}", get_repo, "One repository", "repositories",
                 params=(Param("repo", required=True, where="path"),), response=REPOSITORY),
        Endpoint("DELETE", f"{API}/repos/{{repo}}", delete_repo,
                 "Remove a repository from the index: the repository, its removal job "
                 "and the jobs cancelled", "repositories", mutates=True, response=REPO_AND_JOB,
                 status=202, params=(Param("repo", required=True, where="path"),),
                 errors=(401, 403, 404)),
        Endpoint("POST", f"{API}/jobs", start_job, "Start an index job (incremental or full)",
                 "jobs", mutates=True, status=202, response=JOB,
                 body=(Param("repo", required=True, where="body"),
                       Param("full", bool, where="body", help="re-index from scratch")),
                 errors=(400, 401, 403, 404)),
        Endpoint("GET", f"{API}/jobs", list_jobs, "Index jobs, newest first", "jobs",
                 params=PAGING, response=listing(JOB)),
        Endpoint("GET", f"{API}/jobs/{{job_id}}", get_job, "A job's status and progress",
                 "jobs", params=(Param("job_id", required=True, where="path"),),
                 response=JOB),
        Endpoint("DELETE", f"{API}/jobs/{{job_id}}", cancel_job, "Cancel a job: the job",
                 "jobs", mutates=True, response=JOB,
                 params=(Param("job_id", required=True, where="path"),),
                 errors=(401, 403, 404)),
        *[_declared(query) for query in QUERIES],
        Endpoint("POST", f"{API}/ask", ask, "Answer a question about the code "
                 "(retrieval plus an OpenAI-compatible chat model)", "code intelligence",
                 is_async=True, body=(Param("question", required=True, where="body",
                                            max_length=4000), Param("repo", where="body"),
                                      Param("max_context", int, where="body", minimum=1,
                                            maximum=20)),
                 errors=(400, 404, 502, 503)),
        Endpoint("POST", f"{API}/admin/backups", create_backup, "Write a consistent backup "
                 "archive of the data directory under CODEGRAPH_BACKUP_DIR", "administration",
                 admin=True, is_async=True, status=201,
                 body=(Param("dest", where="body", max_length=4096, help=(
                     "a directory, or a file name ending .tar.gz, under "
                     "CODEGRAPH_BACKUP_DIR (default: codegraph-data-YYYYMMDD-HHMMSS.tar.gz "
                     "there)")),),
                 errors=(400, 401, 403, 409, 503)),
        Endpoint("GET", f"{API}/admin/backups", list_backups, "The backup archives under "
                 "CODEGRAPH_BACKUP_DIR, newest first", "administration", admin=True,
                 params=PAGING, response=listing({"type": "object"}),
                 errors=(401, 403)),
    ]
