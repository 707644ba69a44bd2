"""Errors as the API shows them: ``{"error": {"code", "message"}}`` with the right status,
never a traceback (that goes to the log, with the request id)."""

from __future__ import annotations

import json

import structlog
from starlette.requests import Request
from starlette.responses import Response

from codegraph.errors import (
    BadRequest,
    CodeGraphError,
    Conflict,
    NotFound,
    ReadOnlyReplica,
    Unavailable,
)

log = structlog.get_logger("codegraph.api")

# The one mapping of the error kinds (codegraph/errors.py) to HTTP, most specific first.
STATUSES: tuple[tuple[type[CodeGraphError], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (ReadOnlyReplica, 409, "read_only_replica"),
    (Conflict, 409, "conflict"),
    (Unavailable, 503, "unavailable"),
    (BadRequest, 400, "bad_request"),
    (CodeGraphError, 400, "bad_request"),
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def translate(exc: Exception) -> ApiError:
    """The API error for any exception an operation may raise."""
    if isinstance(exc, ApiError):
        return exc
    for kind, status, code in STATUSES:
        if isinstance(exc, kind):
            if status == 503:
                log.error("index unavailable", error=str(exc))
            return ApiError(status, code, str(exc))
    log.exception("unhandled error", exc_info=exc)
    return ApiError(500, "internal", "internal error: see the server log for this request id")


def error_body(code: str, message: str, request_id: str | None = None) -> bytes:
    error: dict[str, str] = {"code": code, "message": message}
    if request_id:
        error["request_id"] = request_id
    return json.dumps({"error": error}, ensure_ascii=False).encode()


def error_response(err: ApiError, request: Request | None = None) -> Response:
    request_id = request.scope.get("codegraph.request_id") if request is not None else None
    return Response(error_body(err.code, err.message, request_id), status_code=err.status,
                    media_type="application/json", headers=err.headers)
