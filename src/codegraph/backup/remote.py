"""Backups through a running server: where its archives may go (``CODEGRAPH_BACKUP_DIR``),
and the client that ``codegraph backup`` uses when the store it was asked to back up is
held by the local server (the writer lock): it asks that server's admin endpoint, with
``CODEGRAPH_ADMIN_TOKEN``, and the server writes the archive. Standard library only."""

from __future__ import annotations

import http.client
import json
import os
from datetime import UTC, datetime
from typing import Any

from codegraph.backup.create import SERVER_HINT, archive_path, check_writable
from codegraph.config import Config
from codegraph.errors import BadRequest, CodeGraphError, Conflict, NotFound, Unavailable
from codegraph.server.healthcheck import local_host

PATH = "/api/v1/admin/backups"
TIMEOUT = 3600.0  # seconds: a large index takes a while to pack


def server_target(config: Config, dest: str | None) -> str:
    """The archive path for a backup the server writes: ``dest`` (a directory or a
    ``.tar.gz`` path; relative ones are taken from the backup directory) must lie in the
    backup directory, which is made if missing."""
    base = os.path.realpath(config.backup_dir)
    try:
        os.makedirs(base, exist_ok=True)
    except OSError as exc:
        raise Unavailable(f"cannot make the backup directory {base} (CODEGRAPH_BACKUP_DIR): "
                          f"{exc.strerror}") from None
    target = base if not dest else os.path.join(base, dest)
    real = os.path.realpath(target if os.path.isdir(target) else os.path.dirname(target))
    if real != base and not real.startswith(base.rstrip("/") + "/"):
        raise BadRequest(f"backups are written only under the backup directory {base} "
                         "(CODEGRAPH_BACKUP_DIR): give a destination there")
    archive = archive_path(target, datetime.now(UTC))
    check_writable(os.path.dirname(archive), SERVER_HINT)
    return archive


def _host(host: str) -> str:
    return local_host(host).strip("[]")


def _request(config: Config, method: str, body: dict[str, Any] | None = None,
             ) -> dict[str, Any]:
    token = config.admin_token
    assert token is not None
    where = f"http://{_host(config.host)}:{config.port}{PATH}"
    conn = http.client.HTTPConnection(_host(config.host), config.port, timeout=TIMEOUT)
    headers = {"X-Admin-Token": token, "Content-Type": "application/json"}
    try:
        conn.request(method, PATH, body=json.dumps(body) if body is not None else None,
                     headers=headers)
        response = conn.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Unavailable(f"the store at {config.rocksdb_path} is held by another process "
                          f"and no CodeGraph server answers at {where} ({exc}): if it is "
                          "an index run, wait for it to end") from None
    finally:
        conn.close()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {}
    if response.status < 300 and isinstance(answer, dict):
        return answer
    message = (answer.get("error", {}).get("message") if isinstance(answer, dict) else None) \
        or f"HTTP {response.status}"
    kind: type[CodeGraphError] = {400: BadRequest, 404: NotFound, 409: Conflict}.get(
        response.status, Unavailable)
    if response.status in (401, 403):
        message = f"{message} (check CODEGRAPH_ADMIN_TOKEN)"
    raise kind(f"the server at {where} refused the backup: {message}")


def backup_via_server(config: Config, dest: str) -> dict[str, Any]:
    """Ask the local server, which holds the store of ``config``, to write a backup to
    ``dest``; what it wrote."""
    if not config.admin_token:
        raise Unavailable(f"the store at {config.rocksdb_path} is held by another process (a "
                          "running server, or `codegraph index`): to back up through the "
                          "server, set CODEGRAPH_ADMIN_TOKEN (the server's)")
    listing = _request(config, "GET")
    served = listing.get("data_dir")
    if served is None or os.path.realpath(served) != os.path.realpath(config.data_dir):
        raise Unavailable(f"the store at {config.rocksdb_path} is held by another process; "
                          f"the server on port {config.port} serves {served}, not this "
                          "data directory")
    return _request(config, "POST", {"dest": os.path.abspath(dest)})
