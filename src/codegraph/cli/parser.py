"""The ``codegraph`` command line's parser: the global options (accepted before or after
the command), the commands, and one subcommand per declared query
(``query/catalog.py``), whose lists take ``--limit`` and ``--offset``."""

from __future__ import annotations

import argparse
from typing import Any

from codegraph import __version__
from codegraph.config import ROLES
from codegraph.query.catalog import QUERIES, Query

SHELLS = ("bash", "zsh", "fish")
PROGRESS = ("auto", "bar", "plain", "json", "none")


def _global_options(p: argparse.ArgumentParser, top: bool) -> None:
    """``--data-dir`` and ``--json``, on the program and (``top`` False) on each command:
    there a command's copy sets nothing unless given, so either place works."""
    unset: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    p.add_argument("--data-dir", help="where the index lives (default $CODEGRAPH_DATA_DIR "
                                      "or ./.codegraph)", **({"default": None} | unset))
    p.add_argument("--json", action="store_true", help="print the answer as JSON",
                   **({"default": False} | unset))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codegraph",
                                description="Code graph and code intelligence for repositories.")
    p.add_argument("--version", action="version", version=f"codegraph {__version__}")
    _global_options(p, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, top=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=[common],
                                                         **kwargs)
        return parser

    c = command("index", "build or update the index of a repository")
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
    c.add_argument("--progress", choices=PROGRESS, default="auto", help=(
        "auto (a bar on a terminal, else plain), bar, plain (lines for people), json (one "
        "JSON event a line, for programs) or none; on stderr"))
    c.add_argument("--no-embed", dest="embed", action="store_false", default=None,
                   help="skip embeddings (semantic search); $CODEGRAPH_EMBED=0 does too")

    for query in QUERIES:
        _query_command(sub, common, query)
    c = command("checkpoint", "publish a consistent read-only snapshot")
    c.add_argument("dest")
    c = command("backup", "write a consistent backup archive of the data directory (through "
                "the running server if it holds the store)")
    c.add_argument("dest", metavar="DEST", help="a directory (the archive is named "
                   "codegraph-data-YYYYMMDD-HHMMSS.tar.gz in it) or a path ending .tar.gz")
    c = command("restore", "replace the data directory with a backup archive's, verified "
                "first (no server may be running on it)")
    c.add_argument("file", metavar="FILE", help="a codegraph-data-*.tar.gz archive")
    c.add_argument("--check", action="store_true", help="only verify the archive (stream, "
                   "names, checksums, schema): nothing is written, a server may be running")
    c = command("serve", "index and watch repositories and serve the HTTP API (with MCP at "
                "/mcp and metrics on --metrics-port)")
    c.add_argument("paths", nargs="*", metavar="PATH",
                   help="repositories to index and watch (also $CODEGRAPH_REPOS)")
    c.add_argument("--role", choices=ROLES, help="standalone (index and answer), indexer "
                   "(the one writer: also publishes snapshots for replicas) or replica "
                   "(answer from the newest snapshot, read-only); default $CODEGRAPH_ROLE "
                   "or standalone. See docs/scaling.md")
    c.add_argument("--host", help="the address to listen on (default $SERVER_HOST or 0.0.0.0)")
    c.add_argument("--port", help="the API's port (default $SERVER_PORT or 3000)")
    c.add_argument("--metrics-port", help="the Prometheus metrics' port (default "
                                          "$METRICS_PORT or 9090)")
    command("mcp", "serve the MCP tools over stdio (read-only)")
    c = command("check-config", "check the configuration (the environment, or an env file) "
                "and exit: 0 and OK, or 2 and the first bad setting")
    c.add_argument("--env-file", help="read the variables from this .env file only (as "
                   "Docker Compose does), not from the environment")
    c = command("healthcheck", "exit 0 if the local server is healthy, else 1")
    c.add_argument("--url", help="default http://127.0.0.1:$SERVER_PORT/health")
    c.add_argument("--quiet", action="store_true")
    c = command("completion", "print the shell completion script for bash, zsh or fish",
                description="Print a completion script. bash: add `eval \"$(codegraph "
                "completion bash)\"` to ~/.bashrc; zsh: the same in ~/.zshrc; fish: "
                "`codegraph completion fish > ~/.config/fish/completions/codegraph.fish`.")
    c.add_argument("shell", choices=SHELLS)
    return p


def _query_command(sub: Any, common: argparse.ArgumentParser, query: Query) -> None:
    """The subcommand of a declared query: its required parameters are positional, the
    others options (``graph_boost`` is ``--graph-boost``); values are checked by the
    declaration, as the API's and MCP's are. A list that pages (a ``cursor``) also takes
    ``--offset``: how many results to skip."""
    aliases = [query.cli_alias] if query.cli_alias else []
    c = sub.add_parser(query.name, aliases=aliases, help=query.summary,
                       description=query.description, parents=[common])
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
    if any(p.name == "cursor" for p in query.all_params):
        c.add_argument("--offset", metavar="N", help="skip the first N results (0 or more; "
                       "instead of --cursor)")
    c.set_defaults(declared=query)
