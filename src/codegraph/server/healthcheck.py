"""``codegraph healthcheck``: exit 0 when the local server's ``/health`` answers 200, else 1.

For container HEALTHCHECKs: the standard library only, no shell, curl or wget, and it
starts in a few tens of milliseconds.
"""

from __future__ import annotations

import http.client
import sys
from urllib.parse import urlsplit

ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


def local_host(host: str) -> str:
    """Where this machine reaches a server bound to ``host`` (``SERVER_HOST``): loopback
    when it binds every address."""
    return "127.0.0.1" if host in ANY_ADDRESS else host


def default_url(host: str, port: int) -> str:
    """The server's /health on this machine: ``SERVER_HOST`` unless it binds every address."""
    host = local_host(host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/health"


def check(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False, f"not an http:// URL: {url}"
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/health")
        response = conn.getresponse()
        response.read(65536)
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{parts.geturl()}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return response.status == 200, f"{parts.geturl()}: HTTP {response.status}"


def main(url: str, quiet: bool = False) -> int:
    ok, detail = check(url)
    if not quiet or not ok:
        print(("healthy: " if ok else "unhealthy: ") + detail, file=sys.stdout if ok
              else sys.stderr)
    return 0 if ok else 1
