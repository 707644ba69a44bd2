"""Pieces of the production stack checked alone, without starting the stack (issue 14):
nginx's configuration in its image with no API behind it, and scripts/restore.sh's check
of an archive's permissions, which runs before any Docker command.

The nginx test needs a Docker engine and the nginx:1.22 image (scripts/offline-base-images.sh
builds it offline); without them it is skipped, or fails under CODEGRAPH_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import dockerproc

NGINX_FILES = ("nginx.conf", "ratelimit.conf", "security-headers.conf", "proxy.conf")


def test_nginx_errors_are_the_apis_json(tmp_path: Path) -> None:
    """nginx's own errors in the API's shape, checked on deploy/nginx alone (the nginx image,
    its config files as the stack mounts them, no API behind it: on an internal network of
    the test's, Docker's DNS answers codegraph-api and codegraph-indexer with nginx's own
    address, where nothing listens on 3000): 502 unavailable for /, /mcp and
    /grafana/, 404 not_found for /metrics, 413 too_large, 429 rate_limited with
    Retry-After, with the security headers; the
    client's valid X-Request-ID kept (echoed in the body), an invalid one replaced."""
    problem = dockerproc.engine_problem()
    if problem is None and not dockerproc.image_exists("nginx:1.22"):
        problem = "no nginx:1.22 image (scripts/offline-base-images.sh)"
    dockerproc.require(problem, "needs Docker and the nginx image")
    certs = tmp_path / "certs"
    out = subprocess.run(["bash", str(dockerproc.ROOT / "scripts/dev-certs.sh"), str(certs)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for f in [tmp_path, certs, *certs.iterdir()]:
        f.chmod(0o755 if f.is_dir() else 0o644)
    mounts = [a for f in NGINX_FILES for a in (
        "-v", f"{dockerproc.ROOT / 'deploy/nginx' / f}:/etc/nginx/{f}:ro")]
    name = f"cg-nginx-json-{uuid.uuid4().hex[:10]}"
    # nginx resolves the API per request through Docker's DNS (127.0.0.11): a network with
    # one, removed with the container
    dockerproc.run("network", "create", "--internal", name, timeout=60)
    try:
        dockerproc.run("run", "-d", "--name", name, "--network", name, "--network-alias",
                       "codegraph-api", "--network-alias", "codegraph-indexer",
                       "--user", "101:101", "--read-only", "--tmpfs", "/tmp", "--cap-drop",
                       "ALL", *mounts, "-v", f"{certs}:/etc/nginx/certs:ro", "nginx:1.22",
                       timeout=120)
    except BaseException:
        dockerproc.run("network", "rm", name, timeout=60, check=False)
        raise
    try:
        def parse(text: str) -> tuple[int, dict[str, str], dict[str, Any]]:
            head, _, body = text.replace("\r\n", "\n").partition("\n\n")
            status = int(head.split()[1])
            headers = dict(line.lower().split(": ", 1) for line in head.splitlines()[1:]
                           if ": " in line)
            assert headers["content-type"] == "application/json", (head, body)
            assert headers["x-content-type-options"] == "nosniff", head
            error: dict[str, Any] = json.loads(body)["error"]
            return status, headers, error

        def curl(*args: str) -> tuple[int, dict[str, str], dict[str, Any]]:
            return parse(dockerproc.run("exec", name, "curl", "-sk", "-D", "-", "-m", "20",
                                        *args, timeout=60).stdout)

        deadline = time.monotonic() + 30
        while dockerproc.run("exec", name, "curl", "-s", "-o", "/dev/null",
                             "http://127.0.0.1:8080/nginx-health", timeout=60,
                             check=False).returncode != 0:
            assert time.monotonic() < deadline, dockerproc.run("logs", name).stderr
            time.sleep(0.5)
        base = "https://127.0.0.1:8443"
        for path in ("/api/v1/stats", "/mcp"):
            status, _, error = curl("-H", "X-Request-ID: client-id.42_x", base + path)
            assert (status, error["code"], error["request_id"]) == (
                502, "unavailable", "client-id.42_x"), error
        status, _, error = curl(base + "/grafana/")  # Grafana is not running either
        assert (status, error["code"]) == (502, "unavailable") and "Grafana" in error["message"]
        status, _, error = curl(base + "/metrics")
        assert (status, error["code"]) == (404, "not_found"), error
        status, _, error = curl("-H", 'X-Request-ID: bad"id', base + "/api/v1/stats")
        assert status == 502 and len(error["request_id"]) == 32, error  # nginx's own id
        dockerproc.run("exec", name, "sh", "-c", "head -c 2000000 /dev/zero > /tmp/big",
                       timeout=60)
        status, _, error = curl("-X", "POST", "--data-binary", "@/tmp/big",
                                base + "/api/v1/repos")
        assert (status, error["code"]) == (413, "too_large"), error
        # past the burst (40) at 20 r/s: at most 100 requests in a row from inside the
        # container (docker exec per request would be slower than the rate), until a 429
        burst = dockerproc.run("exec", name, "sh", "-c", (
            "for i in $(seq 100); do r=$(curl -sk -D - -m 5 " + base + "/health); "
            "case $r in 'HTTP/2 429'*) printf '%s' \"$r\"; exit 0 ;; esac; done; exit 1"),
            timeout=120, check=False)
        assert burst.returncode == 0, "no 429 within 100 requests"
        status, headers, error = parse(burst.stdout)
        assert (status, error["code"]) == (429, "rate_limited"), error
        assert headers["retry-after"] == "1"
    finally:
        dockerproc.run("rm", "-f", name, timeout=60, check=False)
        dockerproc.run("network", "rm", name, timeout=60, check=False)


@pytest.mark.parametrize(("mode", "owner", "readable"), [
    (0o600, None, False), (0o640, None, False), (0o644, None, True),
    (0o600, 65534, True), (0o640, (0, 65534), True)])
def test_restore_refuses_an_archive_the_api_cannot_read(
        tmp_path: Path, mode: int, owner: int | tuple[int, int] | None, readable: bool) -> None:
    """The archive is mounted into a container running as 65534: one it cannot read (a
    mode-0600 file of the operator's) is refused by restore.sh before anything runs, with a
    line that says why and what to do. (A readable one gets past the check and then stops
    at the compose file that does not exist: no Docker command runs in this test.)"""
    archive = tmp_path / "codegraph-data-20260101-000000.tar.gz"
    archive.write_bytes(b"not checked here")
    if owner is not None:
        uid, gid = owner if isinstance(owner, tuple) else (owner, owner)
        try:
            os.chown(archive, uid, gid)
        except PermissionError:
            pytest.fail("chown needs root (this test's other cases do not)")
    archive.chmod(mode)
    out = subprocess.run(["bash", str(dockerproc.ROOT / "scripts/restore.sh"), "-f",
                          str(tmp_path / "none.yml"), str(archive)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1
    refused = "is not readable by uid 65534" in out.stderr
    assert refused is not readable, out.stderr
    assert ("no compose file" in out.stderr) is readable, out.stderr
    if refused:
        assert "chmod o+r" in out.stderr and "nothing was stopped or changed" in out.stderr
