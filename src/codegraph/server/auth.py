"""Who may do what, checked the same way on every HTTP transport: the ``/api/v1``
endpoints and MCP at ``/mcp`` (``Guarded``). The probes (``/health``, ``/health/ready``)
need nothing; ``/debug/info`` has its own token (``ops.debug_allowed``).

- changes (``mutates``): the API key, or, with no key set, a loopback-only server;
- reads: open, unless ``CODEGRAPH_AUTH_READS`` asks for the key too;
- administration (``admin``: backups): the admin token (``X-Admin-Token``), and nothing
  at all when ``CODEGRAPH_ADMIN_TOKEN`` is not set (``DEBUG_MODE`` opens no door here).
  MCP has no administration tools.

The stdio transports (``codegraph mcp``, the CLI) read the index files directly: whoever
can run them can read those files, so the operating system's permissions decide there.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from codegraph.config import Config
from codegraph.server.errors import ApiError, error_response


def presents(headers: Headers, secret: str, header: str = "x-api-key") -> bool:
    """Whether the request carries ``secret`` in ``header`` or as a Bearer token."""
    given = headers.get(header)
    if not given:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    if not given:
        return False
    return hmac.compare_digest(given.encode(), secret.encode())


def authorize(config: Config, headers: Headers, *, mutates: bool, admin: bool = False,
              ) -> None:
    """Raise the 401 or 403 :class:`ApiError` that a request without the right to this
    read (or change, or administration) gets; return when it has it."""
    if admin:
        if not config.admin_token:
            raise ApiError(403, "admin_disabled", "administration endpoints are disabled: "
                           "set CODEGRAPH_ADMIN_TOKEN to enable them")
        if not presents(headers, config.admin_token, "x-admin-token"):
            raise ApiError(401, "unauthorized", "this endpoint needs the admin token "
                           "(X-Admin-Token)", headers={"WWW-Authenticate": "Bearer"})
        return
    if mutates:
        if config.api_key is not None:
            if not presents(headers, config.api_key):
                raise ApiError(401, "unauthorized",
                               "this endpoint needs the API key (X-API-Key or Bearer token)",
                               headers={"WWW-Authenticate": "Bearer"})
        elif not config.writes_open:
            raise ApiError(403, "writes_disabled",
                           "changes are disabled: set CODEGRAPH_API_KEY to enable them")
    elif config.auth_reads and config.api_key is not None \
            and not presents(headers, config.api_key):
        raise ApiError(401, "unauthorized", "this server needs the API key for reads too",
                       headers={"WWW-Authenticate": "Bearer"})


class Guarded:
    """An ASGI app that answers only requests allowed to read (MCP's tools only read);
    others get the API's JSON error, as a declared endpoint would."""

    def __init__(self, app: ASGIApp, config: Config) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            authorize(self.config, Headers(scope=scope), mutates=False)
        except ApiError as err:
            await error_response(err, Request(scope))(scope, receive, send)
            return
        await self.app(scope, receive, send)
