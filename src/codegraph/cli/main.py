"""The ``codegraph`` command line: runs a command (parsed in ``parser.py``, printed by
``render.py``). Heavy modules are imported only by the commands that need them, so a query
starts fast."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from codegraph.cli.parser import build_parser
from codegraph.cli.render import (
    DIM,
    KIND,
    NAME,
    NOTE,
    PATH,
    Output,
    count_line,
    item_parts,
    json_line,
)
from codegraph.config import Config, ConfigError, check_range, completing, load
from codegraph.errors import BadRequest, CodeGraphError, DiskFull, NotFound, is_disk_full
from codegraph.query.catalog import Param, Query
from codegraph.query.paging import MAX_OFFSET, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from codegraph.api import CodeGraph
    from codegraph.index.indexer import Progress

EXIT_ERROR = 2
UNRESOLVED_COUNTED = ("callers", "references", "impact")  # answers with ``unresolved``
ITEM_FIELDS = {"repo", "path", "line", "kind", "qualified_name"}
OFFSET = Param("offset", int, minimum=0, maximum=MAX_OFFSET)


def _print_unresolved(out: Output, answer: dict[str, Any], what: str,
                      subject: tuple[str, str]) -> None:
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
            out.line((f"and {count:,} {singular if count == 1 else what} to a `{name}` {text}",
                      NOTE))
    if answer.get("capped") and "max_nodes" in answer:
        cap = answer["max_nodes"]
        out.line((f"(stopped at {cap:,} dependent{'s' if cap != 1 else ''}: more may break; "
                  "--max-nodes raises the cap)", NOTE))


def _print_answer(out: Output, name: str, answer: Any, start: int, context: int,
                  subject: tuple[str, str] | None = None) -> None:
    if name == "graph":
        print(json.dumps(answer, indent=2))
        return
    if name == "map":
        from codegraph.query.repomap import render

        print(render(answer))
        return
    results = answer["results"]
    if not results:
        out.line(("(no results)", DIM))
    if name == "dependencies":
        for r in results:
            if "cycle" in r:
                out.line((" -> ".join(r["cycle"]), NAME))
            else:
                out.line((r["module"], NAME), (f": {', '.join(r['imports']) or '-'}", ""))
    elif name == "symbol":
        for r in results:
            out.line((f"{r['repo']}:{r['path']}:{r['line']}", PATH), ("  ", ""),
                     (r["kind"], KIND), (" ", ""), (r["qualified_name"], NAME))
            if r.get("source"):
                out.source(r["source"], max(1, r["line"] - context), r["path"])
            else:
                out.line(("(source not available)", DIM))
    else:
        for r in results:
            if r.keys() >= ITEM_FIELDS:
                out.line(*item_parts(r, at_site=name != "callees"))
            else:  # an item of another shape (a query added since): as JSON
                out.line((json_line(r), ""))
    coverage = answer.get("coverage")
    if coverage and coverage.get("partial"):
        out.line((f"(semantic coverage is partial: {coverage['embedded']} of "
                  f"{coverage['chunks']} chunks embedded)", NOTE))
    counted = count_line(answer, start, out.tty)
    if counted:
        out.line((counted, DIM))
    if subject is not None:
        _print_unresolved(out, answer, "calls" if name == "callers" else "calls or references",
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
    """A declared query, asked as the API and MCP ask it (``CodeGraph.answer``); ``--offset``
    is the cursor of that many results."""
    query: Query = args.declared
    raw = {p.name: getattr(args, p.name) for p in query.all_params}
    start = _start(args, raw)
    from codegraph.api import CodeGraph

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
    elif query.name == "stats":
        from codegraph.cli.stats import print_stats

        print_stats(Output(), answer, config.data_dir)
    else:
        context = int(getattr(args, "context", None) or 0)
        _print_answer(Output(), query.name, answer, start, context, subject)
    return 0


def _start(args: argparse.Namespace, raw: dict[str, Any]) -> int:
    """Where the page starts: ``--offset`` (put in ``raw`` as its cursor) or ``--cursor``."""
    offset = getattr(args, "offset", None)
    if offset is None:
        return decode_cursor(raw["cursor"]) if raw.get("cursor") else 0
    if raw.get("cursor") is not None:
        raise BadRequest("give --offset or --cursor, not both")
    start = int(OFFSET.parse(offset))
    raw["cursor"] = encode_cursor(start)
    return start


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
    dest = os.path.abspath(args.dest)
    print(json.dumps({"data_dir": dest, "revision": cg.revision}) if args.json else dest)
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

        config = _serve_config(args, config)

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


def _serve_config(args: argparse.Namespace, config: Config) -> Config:
    """``serve``'s flags over the environment's settings, checked as those are."""
    from codegraph.config import check_host

    changes: dict[str, Any] = {}
    if args.role:
        changes["role"] = args.role
    if args.host is not None:
        changes["host"] = check_host("--host", args.host)
    for flag, field in (("--port", "port"), ("--metrics-port", "metrics_port")):
        value = getattr(args, field)
        if value is not None:
            if not value.strip().isdigit():
                raise ConfigError(f"{flag} must be a port number (1-65535), got {value!r}")
            changes[field] = check_range(flag, int(value), 1, 65535)
    config = dataclasses.replace(config, **changes)
    if config.prometheus_enabled and config.metrics_port == config.port:
        raise ConfigError(f"the metrics port ({config.metrics_port}) must differ from the "
                          "API's port (--port, --metrics-port)")
    return config


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr (exit 2 for the user's to fix, 1 for
    ours), never a traceback unless ``CODEGRAPH_DEBUG`` is set."""
    parser = build_parser()
    if completing():  # a shell asks for completions (completion.py)
        from codegraph.cli.completion import complete

        complete(parser)
    args = parser.parse_args(argv)
    debug = False
    try:
        if args.command == "completion":
            from codegraph.cli.completion import script

            print(script(args.shell), end="")
            return 0
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
