"""The OpenAPI 3 document, generated from the endpoint table so it cannot drift, and the
interactive docs page (Swagger UI served from the package, so it works offline)."""

from __future__ import annotations

from typing import Any

from codegraph import __version__
from codegraph.server.endpoints import Endpoint

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "request_id": {"type": "string"}}}},
}
NUMBER_OR_NULL = {"type": "number", "nullable": True}
JOB: dict[str, Any] = {
    "type": "object", "description": "An index, update, removal or embedding job",
    "required": ["id", "kind", "repo", "state", "phase", "progress", "created"],
    "properties": {
        "id": {"type": "string"},
        "kind": {"type": "string", "enum": ["index", "update", "remove", "embed"]},
        "repo": {"type": "string"}, "full": {"type": "boolean"},
        "state": {"type": "string",
                  "enum": ["queued", "running", "done", "failed", "cancelled"]},
        "phase": {"type": "string", "description": "queued, walk, parse, resolve, lexical, "
                  "embed, preempted, then the final state"},
        "progress": {"type": "object", "required": ["done", "total", "eta_seconds"],
                     "description": "live: items done of total in the current phase, its "
                     "rate (items/s) and the seconds left at that rate (null until "
                     "measured); saved: vectors committed (embedding)",
                     "properties": {"done": {"type": "integer"}, "total": {"type": "integer"},
                                    "rate": NUMBER_OR_NULL, "eta_seconds": NUMBER_OR_NULL,
                                    "saved": {"type": "integer"}}},
        "created": {"type": "number"}, "started": NUMBER_OR_NULL,
        "finished": NUMBER_OR_NULL, "error": {"type": "string", "nullable": True},
        "result": {"type": "object"}},
}
REPOSITORY: dict[str, Any] = {
    "type": "object", "description": "A repository: its record and this server's view of it",
    "required": ["name", "root"],
    "properties": {"name": {"type": "string"}, "root": {"type": "string"},
                   "watching": {"type": "boolean"},
                   "pending_since": NUMBER_OR_NULL},
}


def listing(item: dict[str, Any], counted: bool = True) -> dict[str, Any]:
    """Every list's shape: one page of ``results``, the ``total`` (null where the list is
    not counted: search), and the ``next_cursor`` to pass back (null on the last page)."""
    total = {"type": "integer", "nullable": not counted, "description": (
        "the whole list's length" if counted else "null: a ranked search is not counted")}
    return {"type": "object", "required": ["results", "total", "next_cursor"],
            "properties": {"results": {"type": "array", "items": item}, "total": total,
                           "truncated": {"type": "boolean"},
                           "next_cursor": {"type": "string", "nullable": True}}}


REASONS = {400: "Bad request", 401: "API key (or admin token) missing or wrong",
           403: "Forbidden", 404: "Not found",
           409: "Conflict (min_revision not reached; a write asked of a read-only replica)",
           413: "Request body too large", 502: "Upstream model failed",
           503: "Unavailable (index not ready, or no model configured)"}
OPS_PATHS: dict[str, Any] = {
    "/health": {"get": {"summary": "Liveness", "tags": ["operations"], "responses": {
        "200": {"description": "alive", "content": {"application/json": {
            "schema": {"type": "object"}}}}}}},
    "/health/ready": {"get": {"summary": "Readiness, per component", "tags": ["operations"],
                              "responses": {
        "200": {"description": "ready", "content": {"application/json": {
            "schema": {"type": "object"}}}},
        "503": {"description": "not ready", "content": {"application/json": {
            "schema": {"type": "object"}}}}}}},
}


def _operation(e: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": e.summary, "tags": [e.tag],
                          "operationId": f"{e.method.lower()}_{e.path.strip('/')}".replace(
                              "/", "_").replace("{", "").replace("}", "")}
    params = []
    for p in e.route_params:
        if p.where == "body":
            continue
        params.append({"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                       "description": p.help, "schema": p.schema()})
    if params:
        op["parameters"] = params
    if e.body:
        required = [p.name for p in e.body if p.required]
        body: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {
            p.name: {**p.schema(), "description": p.help} for p in e.body}}
        if required:  # (OpenAPI 3.0: a required list is never empty)
            body["required"] = required
        op["requestBody"] = {"required": bool(required),
                             "content": {"application/json": {"schema": body}}}
    responses: dict[str, Any] = {str(e.status): {
        "description": {201: "Created", 202: "Accepted"}.get(e.status, "OK"),
        "content": {"application/json": {"schema": e.response or {"type": "object"}}}}}
    codes = set(e.errors) | {400, 409, 503}  # 409: min_revision not reached, or a replica
    if e.mutates or e.admin:
        codes |= {401, 403}
    for code in sorted(codes):
        responses[str(code)] = {"description": REASONS.get(code, "Error"),
                                "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    op["responses"] = responses
    if e.admin:
        op["security"] = [{"adminToken": []}]
    elif e.mutates:
        op["security"] = [{"apiKey": []}, {"bearer": []}]
    return op


def document(endpoints: list[Endpoint]) -> dict[str, Any]:
    paths: dict[str, Any] = dict(OPS_PATHS)
    for e in endpoints:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e)
    return {
        "openapi": "3.0.3",
        "info": {"title": "CodeGraph API", "version": __version__,
                 "description": "Code graph, code search and code intelligence. Every "
                                "response carries X-CodeGraph-Revision."},
        "paths": paths,
        "components": {"securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
            "adminToken": {"type": "apiKey", "in": "header", "name": "X-Admin-Token"}}},
    }


DOCS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>CodeGraph API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
"""
DOCS_INIT_JS = "SwaggerUIBundle({url: '/openapi.json', dom_id: '#ui'});\n"
