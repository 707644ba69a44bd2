"""The JSON schema of each declared query's answer (``query/catalog.py``): MCP tools
declare it as their ``outputSchema`` and return the answer as ``structuredContent``.

The schemas say what an agent may rely on (the fields every answer has, and their types)
and leave room for more (``additionalProperties`` is not closed): a field added to an
answer is no break. The MCP SDK checks every answer against its schema, on the server and
in the client; the tests call every tool."""

from __future__ import annotations

from typing import Any

from codegraph.query.catalog import QUERIES

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
MAYBE_STRING = {"type": ["string", "null"]}
MAYBE_INTEGER = {"type": ["integer", "null"]}
CAPPED = {"type": "object", "description": "present when max_tokens asked for more than the "
          "server's ceiling (CODEGRAPH_MAX_TOKENS): what was asked and what was applied",
          "properties": {"requested": INTEGER, "max_tokens": INTEGER},
          "required": ["requested", "max_tokens"]}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    return {"type": "object", "properties": {**required, **(optional or {})},
            "required": list(required)}


NODE = _object({"id": STRING, "name": STRING, "qualified_name": STRING, "kind": STRING,
                "repo": STRING, "path": STRING, "line": INTEGER},
               {"language": STRING, "end_line": INTEGER, "signature": STRING, "doc": STRING})
EDGE_ITEM = {"allOf": [NODE, _object({"site_line": INTEGER, "edge": STRING,
                                      "resolution": STRING, "confidence": NUMBER})]}
UNRESOLVED = {"unresolved": {"type": "integer", "description": "sites of the symbol's name "
                                                               "left unresolved"},
              "external": {"type": "integer", "description": "sites that went to a known "
                                                             "external of that name"}}


def page(item: dict[str, Any], more: dict[str, Any] | None = None) -> dict[str, Any]:
    """A page of a list: its results, how many there are, and the cursor to go on."""
    return _object({"results": {"type": "array", "items": item}},
                   {"total": MAYBE_INTEGER, "truncated": BOOLEAN, "next_cursor": MAYBE_STRING,
                    "max_tokens_capped": CAPPED, **(more or {})})


SEARCH_HIT = {"allOf": [NODE, _object(
    {"score": NUMBER, "scores": {"type": "object"}},
    {"snippet": {"type": ["object", "null"], "description": "the lines that matched",
                 "properties": {"line": INTEGER, "text": STRING}}})]}
MAP_FILE = _object({"repo": STRING, "path": STRING, "definitions": {
    "type": "array", "items": _object({"qualified_name": STRING, "kind": STRING,
                                       "line": INTEGER, "signature": STRING,
                                       "rank": INTEGER})}})

OUTPUTS: dict[str, dict[str, Any]] = {
    "search": page(SEARCH_HIT, {"mode": STRING, "coverage": {"type": "object"},
                                "semantic": STRING}),
    "symbols": page({"allOf": [NODE, _object({"match": STRING, "score": NUMBER})]}),
    "symbol": page({"allOf": [NODE, _object({"source": MAYBE_STRING},
                                            {"source_truncated": BOOLEAN})]}),
    "definition": page(NODE),
    "references": page(EDGE_ITEM, UNRESOLVED),
    "callers": page(EDGE_ITEM, UNRESOLVED),
    "callees": page(EDGE_ITEM),
    "impact": page({"allOf": [NODE, _object({"depth": INTEGER})]},
                   {**UNRESOLVED, "max_nodes": INTEGER, "capped": BOOLEAN}),
    "outline": page({"allOf": [NODE, _object({"depth": INTEGER})]}),
    "dependencies": page({"type": "object", "description": "a module and what it imports "
                          "(module, imports, external), or an import cycle (modules, size, "
                          "cycle)"}),
    "graph": _object({"center": {"type": "array", "items": STRING},
                      "nodes": {"type": "array", "items": NODE},
                      "edges": {"type": "array", "items": {"type": "object"}},
                      "truncated": BOOLEAN}),
    "similar": page({"allOf": [NODE, _object({"score": NUMBER})]}),
    "map": _object({"results": {"type": "array", "items": MAP_FILE},
                    "total": INTEGER, "next_cursor": {"type": "null"},
                    "definitions": INTEGER, "shown": INTEGER, "truncated": BOOLEAN,
                    "max_tokens": INTEGER},
                   {"repo": MAYBE_STRING, "path": MAYBE_STRING, "revision": INTEGER,
                    "max_tokens_capped": CAPPED}),
    "stats": _object({"revision": INTEGER, "repositories": {"type": "object"},
                      "files": INTEGER, "nodes": INTEGER, "edges": INTEGER},
                     {"languages": {"type": "object"}, "search": {"type": "object"},
                      "embedding": {"type": "object"}}),
}


def output_schema(name: str) -> dict[str, Any]:
    """The schema of the answer of the declared query ``name`` (KeyError if none)."""
    return OUTPUTS[name]


MISSING = sorted({q.name for q in QUERIES} - set(OUTPUTS))  # the tests keep this empty
