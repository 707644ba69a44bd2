"""Every question CodeGraph answers, declared once: its name, parameters, bounds and help.

The HTTP routes (``/api/v1/<name>``), the MCP tools and the CLI subcommands are all made
from :data:`QUERIES`, and :meth:`codegraph.api.CodeGraph.answer` runs them: a parameter
has one name, one type, one range and one help text everywhere, and a bad value is the
same :class:`BadRequest` (HTTP 400, an MCP tool error, exit 2 on the command line).

A declared query ``name`` is answered by the ``CodeGraph`` method of that name, called with
the declared parameters as keyword arguments. A ``paged`` query's method returns the whole
list; ``answer`` cuts one page of it (``limit``, ``cursor``, ``max_tokens``: see
``query/paging.py``). Adding a question means writing its method and declaring it here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from codegraph.errors import BadRequest
from codegraph.graph.model import NODE_KINDS

MAX_LIMIT = 500
MAX_DEPTH = 6
IMPACT_NODES = 2000  # impact's default cap on the dependents it lists (``max_nodes``)
MAX_IMPACT_NODES = 10_000  # and how far it may be raised
MAX_TOKENS = 1_000_000
MODES = ("lexical", "semantic", "hybrid")
KINDS = tuple(sorted(NODE_KINDS))
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Param:
    name: str
    kind: type = str  # str, int, float or bool
    required: bool = False
    help: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: int | float | None = None
    maximum: int | float | None = None
    max_length: int = 1000
    where: str = "query"  # HTTP only: query, path or body

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the value (OpenAPI and MCP)."""
        out: dict[str, Any] = {"type": {str: "string", int: "integer", float: "number",
                                        bool: "boolean"}[self.kind]}
        if self.help:
            out["description"] = self.help
        if self.choices:
            out["enum"] = list(self.choices)
        if self.kind in (int, float):
            if self.minimum is not None:
                out["minimum"] = self.minimum
            if self.maximum is not None:
                out["maximum"] = self.maximum
        if self.kind is str:
            out["maxLength"] = self.max_length
            if self.required:
                out["minLength"] = 1
        if self.default is not None:
            out["default"] = self.default
        return out

    def parse(self, raw: Any) -> Any:
        """The value from a query string or a command line (text) or from JSON; a bad one
        raises :class:`BadRequest` naming the parameter."""
        if self.kind is bool:
            return self._bool(raw)
        if self.kind is int:
            return self._int(raw)
        if self.kind is float:
            return self._float(raw)
        if not isinstance(raw, str):
            raise BadRequest(f"{self.name} must be a string")
        if len(raw) > self.max_length:
            raise BadRequest(f"{self.name} must be at most {self.max_length} characters")
        if "\0" in raw:
            raise BadRequest(f"{self.name} must not contain NUL characters")
        if not raw.isascii():
            try:
                raw.encode()
            except UnicodeEncodeError:  # a lone surrogate, from JSON's \ud800
                raise BadRequest(f"{self.name} must be valid Unicode text") from None
        if self.choices and raw not in self.choices:
            shown = raw if len(raw) <= 40 else raw[:40] + "..."
            raise BadRequest(f"{self.name} must be one of {', '.join(self.choices)}, "
                             f"got {shown!r}")
        if self.required and not raw.strip():
            raise BadRequest(f"{self.name} must not be empty")
        return raw

    def _bool(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in TRUE + FALSE:
            return raw.strip().lower() in TRUE
        raise BadRequest(f"{self.name} must be true or false")

    def _int(self, raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise BadRequest(f"{self.name} must be a whole number")
        text = raw.strip() if isinstance(raw, str) else str(raw)
        if not (text.removeprefix("-").isdigit() and text.isascii()) or len(text) > 20:
            raise BadRequest(f"{self.name} must be a whole number")
        value = int(text)
        lo = self.minimum if self.minimum is not None else -(2**63)
        hi = self.maximum if self.maximum is not None else 2**63 - 1
        if not lo <= value <= hi:
            raise BadRequest(f"{self.name} must be between {lo} and {hi}")
        return value

    def _float(self, raw: Any) -> float:
        """A finite number, written in ASCII (``0.5``, ``1``, ``5e-1``)."""
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise BadRequest(f"{self.name} must be a number")
        try:
            value = float(raw.strip() if isinstance(raw, str) else raw)
        except (ValueError, OverflowError):
            value = math.nan
        if isinstance(raw, str) and (not raw.isascii() or len(raw) > 40):
            value = math.nan  # float() also reads other scripts' digits (Arabic-Indic...)
        if not math.isfinite(value):
            raise BadRequest(f"{self.name} must be a number")
        lo = self.minimum if self.minimum is not None else -math.inf
        hi = self.maximum if self.maximum is not None else math.inf
        if not lo <= value <= hi:
            raise BadRequest(f"{self.name} must be between {lo} and {hi}")
        return value


@dataclass(frozen=True)
class Query:
    name: str  # the CodeGraph method, the MCP tool, the CLI subcommand, /api/v1/<name>
    summary: str  # one line: CLI help, OpenAPI summary
    params: tuple[Param, ...]
    paged: bool = True  # the method's list is cut into pages by ``answer``
    default_limit: int = 20
    max_limit: int = MAX_LIMIT
    detail: str = ""  # more for an agent: the MCP tool's description adds it
    cli_alias: str | None = None  # a short CLI name kept from before (``def``, ``refs``)
    tool: str | None = None  # the MCP tool's name when it is not ``name`` (``repo_map``)
    read_only: bool = True  # MCP's readOnlyHint: the query changes nothing
    idempotent: bool = True  # MCP's idempotentHint: asked again, the same effect

    @property
    def tool_name(self) -> str:
        return self.tool or self.name

    @property
    def description(self) -> str:
        return f"{self.summary}. {self.detail}".strip() if self.detail else self.summary

    @property
    def all_params(self) -> tuple[Param, ...]:
        """The declared parameters, then the paging ones of a paged query."""
        if not self.paged:
            return self.params
        return (*self.params, *paging(self.default_limit, self.max_limit))

    def param(self, name: str) -> Param:
        return next(p for p in self.all_params if p.name == name)

    def arguments(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Checked keyword arguments from ``raw`` (None values are left out): unknown names,
        missing required ones and bad values raise :class:`BadRequest`."""
        known = {p.name: p for p in self.all_params}
        unknown = sorted(k for k, v in raw.items() if k not in known and v is not None)
        if unknown:
            raise BadRequest(f"unknown parameter(s) for {self.name}: {', '.join(unknown)}")
        out: dict[str, Any] = {}
        for p in known.values():
            value = raw.get(p.name)
            if value is None:
                if p.required:
                    raise BadRequest(f"the {p.name} parameter is required")
                if p.default is not None:
                    out[p.name] = p.default
                continue
            out[p.name] = p.parse(value)
        return out


def paging(default_limit: int = 20, max_limit: int = MAX_LIMIT) -> tuple[Param, ...]:
    return (Param("limit", int, default=default_limit, minimum=1, maximum=max_limit,
                  help=f"most results in this page (1-{max_limit})"),
            Param("cursor", help="the next_cursor of the previous page, to continue"),
            MAX_TOKENS_PARAM)


MAX_TOKENS_PARAM = Param("max_tokens", int, minimum=1, maximum=MAX_TOKENS, help=(
    "cut the answer to about this many LLM tokens (4 characters each); at most the "
    "server's ceiling (CODEGRAPH_MAX_TOKENS, default 8000): a larger one is capped and "
    "the answer says so (max_tokens_capped)"))


SYMBOL = Param("symbol", required=True, help="a node id, a qualified name "
               "(shop.pricing.compute, Item.total) or a plain name")
REPO = Param("repo", help="only this repository (its indexed name)")
KIND = Param("kind", choices=KINDS, help="only this kind of definition")
LANGUAGE = Param("language", max_length=40, help="only this language: python, go, rust, ...")
PATH_GLOB = Param("path", help="only files whose repo-relative path matches this glob, "
                               "e.g. src/*")
MIN_CONFIDENCE = Param("min_confidence", float, minimum=0, maximum=1, help=(
    "only edges whose confidence is at least this (0-1): 1 keeps the certain ones "
    "(imports, known externals), lower values let in less sure resolutions; name-match "
    "guesses are the least sure. Default: every edge"))

UNRESOLVED = ("Beside the results: unresolved, how many sites with the symbol's name "
              "could not be resolved (an unknown receiver: any of them may be this symbol), "
              "and external, how many went to a known external of that name.")

QUERIES: tuple[Query, ...] = (
    Query("search", "Search code by words or meaning, best first, with each hit's scores",
          (Param("query", required=True, help="words, identifiers or a description"),
           Param("mode", choices=MODES, default="hybrid", help="lexical (BM25 over names "
                 "and code), semantic (embeddings) or hybrid (both, fused)"),
           REPO, LANGUAGE, KIND, PATH_GLOB,
           Param("graph_boost", bool, help="favour definitions with many callers"),
           *paging(10, 100)),
          paged=False, detail="One hit per definition, with its file and lines, its scores "
          "(each ranking's rank and score, the fusion, the priors applied) and a snippet: "
          "the lines that matched (at most 3 lines, 240 characters)."),
    Query("symbols", "Find symbols by exact, prefix or fuzzy name",
          (Param("query", required=True, help="a name or part of one"), KIND, LANGUAGE,
           REPO, PATH_GLOB), default_limit=50,
          detail="Each with where it is defined, its match (exact, prefix, fuzzy) and score; "
                 "the same order every run. total counts at most 500 matches: capped says "
                 "there were more."),
    Query("symbol", "A symbol's definitions with their source code",
          (SYMBOL, REPO, Param("context", int, default=0, minimum=0, maximum=50,
                               help="extra lines of source before and after")),
          default_limit=5, cli_alias="show", detail="A definition longer than the token "
          "budget keeps the head of its source, marked source_truncated."),
    Query("definition", "Where a symbol is defined: file, lines, kind, qualified name",
          (SYMBOL, REPO), cli_alias="def"),
    Query("references", "Every reference to a symbol (calls, imports, type uses, "
          "inheritance)", (SYMBOL, REPO, MIN_CONFIDENCE), cli_alias="refs",
          detail="Each referring definition with site_line, the line of the reference. "
                 + UNRESOLVED),
    Query("callers", "Who calls a symbol", (SYMBOL, REPO, MIN_CONFIDENCE),
          detail="Each calling function or method with site_line, the line of the call. "
                 + UNRESOLVED),
    Query("callees", "What a symbol calls", (SYMBOL, REPO, MIN_CONFIDENCE),
          detail="Each called definition with site_line, the line of the call in the "
                 "symbol."),
    Query("impact", "What may break if a symbol changes",
          (SYMBOL, Param("depth", int, default=3, minimum=1, maximum=MAX_DEPTH,
                         help=f"call and reference steps to follow (1-{MAX_DEPTH})"), REPO,
           MIN_CONFIDENCE,
           Param("max_nodes", int, default=IMPACT_NODES, minimum=1, maximum=MAX_IMPACT_NODES,
                 help=f"stop after this many dependents (1-{MAX_IMPACT_NODES:,}); the "
                      "answer then says capped and truncated")),
          detail="The definitions that depend on it, directly or through others, nearest "
                 "first, each with its depth. " + UNRESOLVED),
    Query("outline", "The definitions of a file, in order, with lines",
          (Param("file", required=True, help="the file's path relative to its repository"),
           REPO), default_limit=100),
    Query("dependencies", "Module dependency graph, or only its import cycles",
          (REPO, Param("cycles", bool, help="only the import cycles")), cli_alias="deps"),
    Query("graph", "The graph around a symbol: nodes and edges, both directions",
          (SYMBOL, Param("depth", int, default=1, minimum=1, maximum=3,
                         help="steps out from the symbol (1-3)"), REPO,
           Param("limit", int, default=100, minimum=1, maximum=300,
                 help="at most this many nodes")), paged=False),
    Query("similar", "Definitions whose code is most like a symbol's (needs embeddings)",
          (SYMBOL, REPO), default_limit=10, max_limit=100),
    Query("map", "A map of a repository or a directory: its most important definitions "
          "with their signatures, grouped by file",
          (REPO, Param("path", help="only this directory (or file) of the repository, "
                                    "relative to its root"), MAX_TOKENS_PARAM),
          paged=False, tool="repo_map",
          detail="For a first look at a codebase. Definitions are ranked by PageRank over "
          "the code graph (calls, imports, inheritance, references), the most important "
          "first, and as many as fit max_tokens are listed, each with its qualified name, "
          "kind, line, signature and rank, grouped by file; shown of definitions says how "
          "many were left out (truncated)."),
    Query("stats", "What the index holds: repositories, files, languages, nodes, edges, "
          "search coverage", (REPO,), paged=False),
)

BY_NAME = {q.name: q for q in QUERIES}


def query(name: str) -> Query:
    try:
        return BY_NAME[name]
    except KeyError:
        raise BadRequest(f"no query named {name!r}") from None
