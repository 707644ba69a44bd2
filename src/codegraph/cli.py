"""The ``codegraph`` command line. Heavy modules are imported only by the commands that
need them, so a query starts fast."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from typing import Any, NoReturn

EXIT_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codegraph",
                                description="Code graph and code intelligence for repositories.")
    p.add_argument("--data-dir", help="where the index lives (default $CODEGRAPH_DATA_DIR "
                                      "or ./.codegraph)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help_: str, symbol: str | None = None) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_, description=help_)
        if symbol:
            c.add_argument(symbol)
        c.add_argument("--json", action="store_true", help="print one JSON object")
        c.add_argument("--repo", help="only this repository")
        return c

    c = sub.add_parser("index", help="build or update the index of a repository")
    c.add_argument("path")
    c.add_argument("--name", help="repository name: letters, digits, '.', '_', '-' (default: "
                                  "made from the directory name)")
    c.add_argument("--full", action="store_true", help="re-index everything from scratch, "
                   "beside the current index (readers use it until the new one is done)")
    c.add_argument("--watch", action="store_true", help="keep indexing saved changes")
    c.add_argument("--workers", type=int, help="parser processes (default $CODEGRAPH_WORKERS "
                                               "or the number of cores)")
    c.add_argument("--progress", choices=["auto", "bar", "plain", "json", "none"],
                   default="auto")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--no-embed", dest="embed", action="store_false",
                   default=os.environ.get("CODEGRAPH_EMBED", "1") != "0",
                   help="skip embeddings (semantic search); $CODEGRAPH_EMBED=0 does too")

    c = cmd("symbols", "find symbols by exact, prefix or fuzzy name", "query")
    c.add_argument("--kind")
    c.add_argument("--lang")
    c.add_argument("--path", help="glob on the repo-relative path")
    c.add_argument("--limit", type=int, default=50)
    cmd("def", "where a name is defined", "name")
    cmd("refs", "references to a symbol", "symbol")
    cmd("callers", "who calls a symbol", "symbol")
    cmd("callees", "what a symbol calls", "symbol")
    c = cmd("impact", "what may break if a symbol changes", "symbol")
    c.add_argument("--depth", type=int, default=3)
    cmd("outline", "the definitions of a file", "file")
    c = cmd("deps", "module dependency graph")
    c.add_argument("--cycles", action="store_true", help="only import cycles")
    cmd("stats", "what the index holds")
    c = cmd("search", "search code by words or meaning", "query")
    c.add_argument("--mode", default="hybrid", help="lexical, semantic or hybrid")
    c.add_argument("--limit", type=int, default=10)
    c.add_argument("--offset", type=int, default=0)
    c.add_argument("--lang")
    c.add_argument("--kind")
    c.add_argument("--path", help="glob on the repo-relative path")
    c.add_argument("--graph-boost", action="store_true",
                   help="favour definitions with many callers")
    c = cmd("similar", "definitions similar to a symbol", "symbol")
    c.add_argument("--limit", type=int, default=10)
    c = sub.add_parser("checkpoint", help="publish a consistent read-only snapshot")
    c.add_argument("dest")
    c = sub.add_parser("serve", help="index and watch repositories and serve the HTTP API "
                       "(with MCP at /mcp and metrics on $METRICS_PORT)")
    c.add_argument("paths", nargs="*", metavar="PATH",
                   help="repositories to index and watch (also $CODEGRAPH_REPOS)")
    sub.add_parser("mcp", help="serve the MCP tools over stdio (read-only)")
    c = sub.add_parser("healthcheck", help="exit 0 if the local server is healthy, else 1")
    c.add_argument("--url", help="default http://127.0.0.1:$SERVER_PORT/health")
    c.add_argument("--quiet", action="store_true")
    return p


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


def _print_human(command: str, results: Any) -> None:
    if command == "stats":
        for key, value in results.items():
            if key == "problems":
                for prob in value:
                    print(f"  {prob['status']}: {prob['repo']}:{prob['path']}: {prob['reason']}")
            else:
                print(f"{key}: {json.dumps(value) if isinstance(value, dict) else value}")
    elif command == "deps":
        for r in results:
            if "cycle" in r:
                print(" -> ".join(r["cycle"]))
            else:
                print(f"{r['module']}: {', '.join(r['imports']) or '-'}")
    else:
        _print_items(results, at_site=command != "callees")


# Objects that the process's exit frees, all at once (see ``run``).
_LEFT_TO_EXIT: list[object] = []


class _Terminated(KeyboardInterrupt):
    """SIGTERM, stopping ``codegraph index`` as Ctrl-C does: the run removes its temporary
    files and stops its workers, and the store is closed."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _index(args: argparse.Namespace) -> int:
    from codegraph.api import CodeGraph
    from codegraph.index.progress import make_progress

    signal.signal(signal.SIGTERM, _raise_terminated)

    if not os.path.isdir(args.path):  # before the store is opened (and maybe created)
        what = "not a directory" if os.path.exists(args.path) else "no such directory"
        raise FileNotFoundError(f"{what}: {os.path.abspath(args.path)}")
    progress = make_progress("none" if args.json else args.progress)
    with CodeGraph.open(args.data_dir) as cg:
        indexer = cg.indexer(args.workers, progress)
        if not args.watch:  # the run's working set is left to the exit (see ``run``)
            indexer.keep_working_set = True
            _LEFT_TO_EXIT.append(indexer)
        if args.full:  # built beside the live index, switched in at the end
            report = cg.rebuild(args.path, name=args.name, workers=args.workers,
                                progress=progress)
            indexer = cg.indexer(args.workers, progress)  # on the new store (--watch)
        else:
            feed = cg.search_service().lexical_feed()
            report = indexer.index(args.path, name=args.name, on_chunks=feed)
            feed.finish()
        embedded = cg.embed(progress).to_dict() if args.embed else None
        if args.json:
            print(json.dumps({**report.to_dict(), "embeddings": embedded}))
        elif embedded and embedded["error"]:
            print(f"codegraph: warning: embedding stopped: {embedded['error']}",
                  file=sys.stderr)
        if args.watch:
            from codegraph.index.watch import watch

            synced = [cg.revision]  # the store revision the lexical index is in step with

            def on_update(update: Any) -> None:
                if progress is not None:
                    progress({"event": "update", **update.to_dict()})
                cg.search_service().sync_paths(update.repo, update.changed, since=synced[0])
                synced[0] = cg.revision
                if args.embed and update.changed:
                    cg.embed(progress)

            watch(indexer, report.repo, report.root, on_update=on_update)
    return 0


def _query(args: argparse.Namespace) -> int:
    from codegraph.api import CodeGraph

    with CodeGraph.open(args.data_dir, readonly=True) as cg:
        c = args.command
        repo = args.repo
        results: Any
        extra: dict[str, Any] = {}
        if c == "symbols":
            results = cg.symbols(args.query, kind=args.kind, lang=args.lang, repo=repo,
                                 path=args.path, limit=args.limit)
        elif c == "def":
            results = cg.definition(args.name, repo)
        elif c in ("refs", "callers", "callees"):
            results = getattr(cg, c)(args.symbol, repo)
        elif c == "impact":
            results = cg.impact(args.symbol, args.depth, repo)
        elif c == "outline":
            results = cg.outline(args.file, repo)
        elif c == "deps":
            results = cg.deps(repo, args.cycles)
        elif c == "search":
            found = cg.search(args.query, mode=args.mode, limit=args.limit,
                              offset=args.offset, repo=repo, language=args.lang,
                              kind=args.kind, path=args.path, graph_boost=args.graph_boost)
            results = found["results"]
            extra = {k: v for k, v in found.items() if k != "results"}
        elif c == "similar":
            results = cg.similar(args.symbol, args.limit, repo)
        else:
            results = cg.stats(repo)
        revision = cg.revision
    if args.json:
        body = results if c == "stats" else {"results": results, **extra}
        print(json.dumps({**body, "revision": revision} if c != "stats" else body))
    else:
        _print_human(c, results)
        coverage = extra.get("coverage")
        if coverage and coverage.get("partial"):
            print(f"(semantic coverage is partial: {coverage['embedded']} of "
                  f"{coverage['chunks']} chunks embedded)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from codegraph.errors import CodeGraphError
    from codegraph.query.queries import QueryError
    from codegraph.store.rocks import StoreError

    user_errors = (CodeGraphError, QueryError, StoreError, OSError, ValueError)

    try:
        if args.command == "index":
            return _index(args)
        if args.command == "healthcheck":
            from codegraph.server.healthcheck import main as healthcheck

            return healthcheck(args.url, args.quiet)
        if args.command == "serve":
            from codegraph.server.runner import serve

            for path in args.paths:
                if not os.path.isdir(path):
                    raise FileNotFoundError(f"not a directory: {os.path.abspath(path)}")
            return serve(args.paths, args.data_dir)
        if args.command == "mcp":
            from codegraph.server.mcp_tools import run_stdio

            run_stdio(args.data_dir)
            return 0
        if args.command == "checkpoint":
            from codegraph.api import CodeGraph

            # DEST becomes a data directory: `codegraph --data-dir DEST` reads the snapshot
            with CodeGraph.open(args.data_dir) as cg:
                if os.path.exists(args.dest) and os.listdir(args.dest):
                    raise StoreError(f"checkpoint destination {args.dest} is not empty")
                os.makedirs(args.dest, exist_ok=True)
                cg.checkpoint(args.dest)
            print(os.path.abspath(args.dest))
            return 0
        return _query(args)
    except BrokenPipeError:
        return 0
    except user_errors as exc:
        print(f"codegraph: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        return 128 + (signal.SIGTERM if isinstance(exc, _Terminated) else signal.SIGINT)
    except Exception as exc:  # never a traceback on the command line
        if os.environ.get("CODEGRAPH_DEBUG"):
            raise
        from codegraph.config import data_paths
        from codegraph.errors import DiskFull, is_disk_full

        if is_disk_full(exc):  # a write that no layer below translated
            print(f"codegraph: error: {DiskFull(data_paths(args.data_dir).data_dir)}",
                  file=sys.stderr)
            return EXIT_ERROR
        if str(exc).startswith("Corruption"):  # RocksDB found damage while reading
            from codegraph.store.rocks import store_error

            print(f"codegraph: error: {store_error(data_paths(args.data_dir).rocksdb, exc)}",
                  file=sys.stderr)
            return EXIT_ERROR
        print(f"codegraph: internal error: {type(exc).__name__}: {exc} "
              "(set CODEGRAPH_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


def run() -> NoReturn:
    """The console script: ``main``, then the process's exit. After an index run, at once:
    a process that has just indexed a large repository holds millions of small objects,
    which the interpreter's teardown would free one by one (tens of ms) for nothing.
    Everything that must last is written by then (the store and the lexical index are
    closed), and the output is flushed here. Other commands exit as usual (a server's
    threads, say, are joined)."""
    code = main()
    if not _LEFT_TO_EXIT:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to flush to
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
