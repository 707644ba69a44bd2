"""The ``codegraph`` command line. Heavy modules are imported only by the commands that
need them, so a query starts fast."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from codegraph.config import ROLES, Config, ConfigError, load
from codegraph.errors import BadRequest, CodeGraphError, DiskFull, NotFound, is_disk_full
from codegraph.query.catalog import QUERIES, Query
from codegraph.query.paging import decode_cursor

if TYPE_CHECKING:
    from codegraph.api import CodeGraph
    from codegraph.index.indexer import Progress

EXIT_ERROR = 2
UNRESOLVED_COUNTED = ("callers", "references", "impact")  # answers with ``unresolved``


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codegraph",
                                description="Code graph and code intelligence for repositories.")
    p.add_argument("--data-dir", help="where the index lives (default $CODEGRAPH_DATA_DIR "
                                      "or ./.codegraph)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("index", help="build or update the index of a repository")
    c.add_argument("path")
    c.add_argument("--name", help="repository name: letters, digits, '.', '_', '-' (default: "
                                  "made from the directory name)")
    c.add_argument("--full", action="store_true", help="re-index everything from scratch, "
                   "beside the current index (readers use it until the new one is done)")
    waiting = c.add_mutually_exclusive_group()
    waiting.add_argument("--watch", action="store_true", help="keep indexing saved changes")
    waiting.add_argument("--no-wait", dest="wait", action="store_false", help=(
        "return once structure and lexical search are ready: leave embedding (semantic "
        "search) to `codegraph serve` or the next `codegraph index`"))
    c.add_argument("--workers", type=int, help="parser processes (default $CODEGRAPH_WORKERS "
                                               "or the number of cores)")
    c.add_argument("--progress", choices=["auto", "bar", "plain", "json", "none"],
                   default="auto")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--no-embed", dest="embed", action="store_false", default=None,
                   help="skip embeddings (semantic search); $CODEGRAPH_EMBED=0 does too")

    for query in QUERIES:
        _query_command(sub, query)
    c = sub.add_parser("checkpoint", help="publish a consistent read-only snapshot")
    c.add_argument("dest")
    c = sub.add_parser("backup", help="write a consistent backup archive of the data "
                       "directory (through the running server if it holds the store)")
    c.add_argument("dest", metavar="DEST", help="a directory (the archive is named "
                   "codegraph-data-YYYYMMDD-HHMMSS.tar.gz in it) or a path ending .tar.gz")
    c.add_argument("--json", action="store_true", help="print what was written as JSON")
    c = sub.add_parser("restore", help="replace the data directory with a backup archive's, "
                       "verified first (no server may be running on it)")
    c.add_argument("file", metavar="FILE", help="a codegraph-data-*.tar.gz archive")
    c.add_argument("--check", action="store_true", help="only verify the archive (stream, "
                   "names, checksums, schema): nothing is written, a server may be running")
    c.add_argument("--json", action="store_true", help="print the archive's manifest summary "
                   "as JSON")
    c = sub.add_parser("serve", help="index and watch repositories and serve the HTTP API "
                       "(with MCP at /mcp and metrics on $METRICS_PORT)")
    c.add_argument("paths", nargs="*", metavar="PATH",
                   help="repositories to index and watch (also $CODEGRAPH_REPOS)")
    c.add_argument("--role", choices=ROLES, help="standalone (index and answer), indexer "
                   "(the one writer: also publishes snapshots for replicas) or replica "
                   "(answer from the newest snapshot, read-only); default $CODEGRAPH_ROLE "
                   "or standalone. See docs/scaling.md")
    sub.add_parser("mcp", help="serve the MCP tools over stdio (read-only)")
    c = sub.add_parser("check-config", help="check the configuration (the environment, or "
                       "an env file) and exit: 0 and OK, or 2 and the first bad setting")
    c.add_argument("--env-file", help="read the variables from this .env file only (as "
                   "Docker Compose does), not from the environment")
    c.add_argument("--json", action="store_true", help="print the configuration, secrets "
                   "redacted")
    c = sub.add_parser("healthcheck", help="exit 0 if the local server is healthy, else 1")
    c.add_argument("--url", help="default http://127.0.0.1:$SERVER_PORT/health")
    c.add_argument("--quiet", action="store_true")
    return p


def _query_command(sub: Any, query: Query) -> None:
    """The subcommand of a declared query: its required parameters are positional, the
    others options (``graph_boost`` is ``--graph-boost``); values are checked by the
    declaration, as the API's and MCP's are."""
    aliases = [query.cli_alias] if query.cli_alias else []
    c = sub.add_parser(query.name, aliases=aliases, help=query.summary,
                       description=query.description)
    for p in query.all_params:
        text = p.help + (f" ({', '.join(p.choices)})" if p.choices else "")
        if p.required:
            c.add_argument(p.name, help=text)
        elif p.kind is bool:
            c.add_argument("--" + p.name.replace("_", "-"), dest=p.name, action="store_true",
                           default=None, help=text)
        else:
            default = f" (default {p.default})" if p.default is not None else ""
            c.add_argument("--" + p.name.replace("_", "-"), dest=p.name,
                           metavar=p.name.upper(), help=text + default)
    c.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    c.set_defaults(declared=query)


def _print_items(results: list[dict[str, Any]], at_site: bool = True) -> None:
    """``at_site``: an edge's line is its site, in the result's file (not for callees: the
    site of a callee's edge is in the queried symbol's file)."""
    if not results:
        print("(no results)")
    for r in results:
        line = (r.get("site_line") if at_site else None) or r["line"]
        where = f"{r['repo']}:{r['path']}:{line}" if r["path"] else "(external)"
        extra = ""
        if "resolution" in r:
            extra = f"  [{r['edge']} {r['resolution']} {r['confidence']:.2f}]"
        elif "scores" in r:
            parts = [f"{k} #{v['rank']}" for k, v in r["scores"].items()
                     if isinstance(v, dict)]
            extra = f"  [{r['score']:.4f}: {', '.join(parts)}]"
        indent = "  " * r.get("depth", 0) if "site_line" not in r else ""
        print(f"{where}  {indent}{r['kind']} {r['qualified_name']}{extra}")


def _print_unresolved(answer: dict[str, Any], what: str, subject: tuple[str, str]) -> None:
    """After a list of callers, references or dependents: how many sites of the symbol's
    name were left unresolved or went to a known external, and whether impact stopped at
    its cap."""
    name, kind = subject
    singular = "call" if what == "calls" else "call or reference"
    for count, text in ((answer.get("unresolved", 0),
                         "whose receiver could not be resolved" if kind == "method"
                         else "that could not be resolved"),
                        (answer.get("external", 0), "outside the indexed code (external)")):
        if count:
            print(f"and {count:,} {singular if count == 1 else what} to a `{name}` {text}")
    if answer.get("capped"):
        cap = answer["max_nodes"]
        print(f"(stopped at {cap:,} dependent{'s' if cap != 1 else ''}: more may break; "
              "--max-nodes raises the cap)")


def _print_answer(name: str, answer: Any, subject: tuple[str, str] | None = None) -> None:
    if name == "stats":
        for key, value in answer.items():
            if key == "problems":
                for prob in value:
                    print(f"  {prob['status']}: {prob['repo']}:{prob['path']}: {prob['reason']}")
            else:
                print(f"{key}: {json.dumps(value) if isinstance(value, dict) else value}")
        return
    if name == "graph":
        print(json.dumps(answer, indent=2))
        return
    if name == "map":
        from codegraph.query.repomap import render

        print(render(answer))
        return
    results = answer["results"]
    if name == "dependencies":
        for r in results:
            if "cycle" in r:
                print(" -> ".join(r["cycle"]))
            else:
                print(f"{r['module']}: {', '.join(r['imports']) or '-'}")
    elif name == "symbol":
        for r in results:
            print(f"{r['repo']}:{r['path']}:{r['line']}  {r['kind']} {r['qualified_name']}")
            print(r.get("source") or "(source not available)")
    else:
        _print_items(results, at_site=name != "callees")
    coverage = answer.get("coverage")
    if coverage and coverage.get("partial"):
        print(f"(semantic coverage is partial: {coverage['embedded']} of "
              f"{coverage['chunks']} chunks embedded)")
    if answer.get("next_cursor"):
        rest = answer.get("total", 0) - decode_cursor(answer["next_cursor"])
        more = f"{rest} more" if "total" in answer else "more"
        print(f"({more}: --cursor {answer['next_cursor']})")
    if subject is not None:
        _print_unresolved(answer, "calls" if name == "callers" else "calls or references",
                          subject)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, stopping ``codegraph index`` as Ctrl-C does: the run removes its temporary
    files and stops its workers, and the store is closed."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _index(args: argparse.Namespace, config: Config) -> int:
    from codegraph.api import CodeGraph
    from codegraph.index.progress import make_progress

    signal.signal(signal.SIGTERM, _raise_terminated)

    if not os.path.isdir(args.path):  # before the store is opened (and maybe created)
        what = "not a directory" if os.path.exists(args.path) else "no such directory"
        raise FileNotFoundError(f"{what}: {os.path.abspath(args.path)}")
    progress = make_progress("none" if args.json else args.progress)
    try:
        with CodeGraph.open(config) as cg:
            report = cg.index(args.path, name=args.name, full=args.full, progress=progress)
            embedded, backlog = _embed_after_index(cg, report.repo, config.embed and args.wait,
                                                   progress)
            if args.json:
                print(json.dumps({**report.to_dict(), "embeddings": embedded,
                                  "backlog": backlog}))
            elif embedded and embedded["error"]:
                print(f"codegraph: warning: embedding stopped: {embedded['error']}",
                      file=sys.stderr)
            if args.watch:
                from codegraph.index.watch import changed_paths

                for paths in changed_paths(report.root):
                    update = cg.update(report.repo, report.root, paths)
                    if progress is not None:
                        progress({"event": "update", **update.to_dict()})
                    if config.embed and update.changed:
                        cg.embed(progress, repo=report.repo)
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()  # (a bar drawn when Ctrl-C stopped the run: ended on its own line)
    return 0


def _embed_after_index(cg: CodeGraph, repo: str, wait: bool, progress: Progress | None,
                       ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """After the structure and lexical search: say they are ready, then embed the
    repository's chunks (``wait``), showing the run's progress, or leave them to
    ``codegraph serve`` or the next run (the backlog). The run's report, or the backlog."""
    def emit(event: dict[str, Any]) -> None:
        if progress is not None:
            progress(event)

    if not cg.config.embed:
        emit({"event": "ready", "repo": repo, "embedding": "off", "pending": 0})
        return None, None
    if not wait:
        backlog = cg.embed_backlog(repo)
        emit({"event": "ready", "repo": repo, "waiting": False, **backlog})
        return None, backlog

    said = False
    todo = 0

    def announced(event: dict[str, Any]) -> None:
        nonlocal said, todo
        if event.get("event") == "embed" and not said:  # before the first batch
            said, todo = True, int(event.get("total") or 0)
            emit({"event": "ready", "repo": repo, "waiting": True,
                  "pending": event.get("total", 0), "excluded": event.get("excluded", 0),
                  "eta_seconds": event.get("eta_seconds")})
        emit(event)

    report = cg.embed(announced, repo=repo).to_dict()
    if not said:  # (a run that found nothing to do, or a provider that failed at once)
        emit({"event": "ready", "repo": repo, "waiting": True,
              "pending": report.get("failed", 0)})
    if todo or report.get("error"):
        emit({"event": "embedding_done", **report})
    return report, None


def _ask(args: argparse.Namespace, config: Config) -> int:
    """A declared query, asked as the API and MCP ask it (``CodeGraph.answer``)."""
    from codegraph.api import CodeGraph

    query: Query = args.declared
    raw = {p.name: getattr(args, p.name) for p in query.all_params}
    with CodeGraph.open(config, readonly=True) as cg:
        here = _from_here(query.name, raw)
        try:
            answer = cg.answer(query.name, here)
        except NotFound:  # a path from here that is no indexed file: as given, then
            if here is raw:
                raise
            answer = cg.answer(query.name, raw)
        revision = cg.revision
        subject = None
        if query.name in UNRESOLVED_COUNTED and not args.json:
            from codegraph.query.queries import resolve_symbol

            found = resolve_symbol(cg.store, raw["symbol"], raw.get("repo"))[0]
            subject = (found.name, found.kind)
    if args.json:
        print(json.dumps(answer if query.name == "stats" else {**answer, "revision": revision}))
    else:
        _print_answer(query.name, answer, subject)
    return 0


def _from_here(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """``outline``'s file as a path from the working directory, when there is one."""
    if name != "outline" or os.path.isabs(raw["file"]) or not os.path.exists(raw["file"]):
        return raw
    return {**raw, "file": os.path.abspath(raw["file"])}


def _checkpoint(args: argparse.Namespace, config: Config) -> int:
    """DEST becomes a data directory: ``codegraph --data-dir DEST`` reads the snapshot."""
    from codegraph.api import CodeGraph

    with CodeGraph.open(config) as cg:
        if os.path.exists(args.dest) and os.listdir(args.dest):
            raise BadRequest(f"checkpoint destination {args.dest} is not empty")
        os.makedirs(args.dest, exist_ok=True)
        cg.checkpoint(args.dest)
    print(os.path.abspath(args.dest))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from codegraph.config import read_env_file

    source = args.env_file or "the environment"
    config = load(read_env_file(args.env_file) if args.env_file else None,
                  data_dir=args.data_dir)
    print(json.dumps(config.redacted()) if args.json
          else f"codegraph: configuration OK ({source})")
    return 0


def _check_bind(config: Config) -> None:
    """What ``serve`` needs before it starts: the listen address resolves, and every
    repository of $CODEGRAPH_REPOS is a directory (else one line naming the variable)."""
    import socket

    try:
        socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM,
                           flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"SERVER_HOST {config.host!r} cannot be bound: {exc}") from None
    for path in config.repos:
        if not os.path.isdir(path):
            raise ConfigError(f"CODEGRAPH_REPOS: not a directory: {os.path.abspath(path)}")


def _backup(args: argparse.Namespace, config: Config) -> int:
    """A backup archive at DEST: taken here when the store is free, else by the local
    server that holds it (its admin endpoint)."""
    from codegraph.api import CodeGraph
    from codegraph.store.lock import held
    from codegraph.store.rocks import StoreLocked

    if not os.path.isdir(config.rocksdb_path):
        raise BadRequest(f"no index at {config.data_dir}: nothing to back up")
    try:
        # Who holds the store, asked without opening it: an open writes (RocksDB rotates
        # its info LOG before it finds the lock taken; recovery of an interrupted run).
        with held(config.rocksdb_path):
            pass
        cg = CodeGraph.open(config)  # (a server started meanwhile: StoreLocked still)
    except StoreLocked:
        from codegraph.backup.remote import backup_via_server

        info = backup_via_server(config, args.dest)
    else:
        from codegraph.backup.create import backup

        with cg:
            info = backup(cg, args.dest)
    print(json.dumps(info) if args.json else info["archive"])
    return 0


def _restore(args: argparse.Namespace, config: Config) -> int:
    from codegraph.backup.restore import check, restore

    manifest = check(args.file) if args.check else restore(config, args.file)
    if args.json:
        print(json.dumps({"data_dir": config.data_dir, "archive": os.path.abspath(args.file),
                          "revision": manifest.revision, "created": manifest.created,
                          "files": len(manifest.files), "bytes": manifest.total_bytes,
                          "restored": not args.check}))
    elif args.check:
        print(f"{os.path.abspath(args.file)}: intact, revision {manifest.revision} of "
              f"{manifest.created}, {len(manifest.files)} files")
    else:
        print(f"restored {config.data_dir} from {os.path.abspath(args.file)}: revision "
              f"{manifest.revision} of {manifest.created}, {len(manifest.files)} files")
    return 0


def _command(args: argparse.Namespace, config: Config) -> int:
    if args.command == "index":
        return _index(args, config)
    if args.command == "checkpoint":
        return _checkpoint(args, config)
    if args.command == "backup":
        return _backup(args, config)
    if args.command == "restore":
        return _restore(args, config)
    if args.command == "healthcheck":
        from codegraph.server.healthcheck import default_url
        from codegraph.server.healthcheck import main as healthcheck

        return healthcheck(args.url or default_url(config.host, config.port), args.quiet)
    if args.command == "serve":
        from codegraph.server.runner import serve

        if args.role:
            config = dataclasses.replace(config, role=args.role)

        for path in args.paths:
            if not os.path.isdir(path):
                raise FileNotFoundError(f"not a directory: {os.path.abspath(path)}")
        _check_bind(config)
        return serve(config, args.paths)
    if args.command == "mcp":
        from codegraph.server.mcp_tools import run_stdio

        run_stdio(config)
        return 0
    return _ask(args, config)


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr (exit 2 for the user's to fix, 1 for
    ours), never a traceback unless ``CODEGRAPH_DEBUG`` is set."""
    args = _parser().parse_args(argv)
    debug = False
    try:
        if args.command == "check-config":  # its own source of settings
            return _check_config(args)
        config = load(data_dir=args.data_dir, workers=getattr(args, "workers", None),
                      embed=getattr(args, "embed", None))
        debug = config.debug
        return _command(args, config)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt as exc:
        return 128 + (signal.SIGTERM if isinstance(exc, _Terminated) else signal.SIGINT)
    except (CodeGraphError, OSError, ValueError) as exc:
        if is_disk_full(exc) and not isinstance(exc, DiskFull):  # a write no layer translated
            exc = DiskFull(args.data_dir or os.getcwd())
        print(f"codegraph: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        if debug:
            raise
        if is_disk_full(exc):
            print(f"codegraph: error: {DiskFull(args.data_dir or os.getcwd())}", file=sys.stderr)
            return EXIT_ERROR
        print(f"codegraph: internal error: {type(exc).__name__}: {exc} "
              "(set CODEGRAPH_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


def run() -> NoReturn:
    """The console script."""
    sys.exit(main())


if __name__ == "__main__":
    run()
