"""Logging: one JSON object per line on stdout (ts, level, msg, and the request's fields),
or human-readable on a terminal. The standard library's loggers (uvicorn's among them) go
through the same formatter. SIGUSR1 flips the level to DEBUG and back.

Libraries that announce at INFO which optional builds of theirs they tried and did not find
(FAISS's loader: "Could not load library with AVX2 support") are logged at DEBUG: nothing
is wrong, and an operator reading INFO should not wonder."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import structlog

_state: dict[str, Any] = {"base": logging.INFO, "json": True}
ACCESS = logging.getLogger("codegraph.access")
QUIETED = ("faiss.loader",)  # their INFO records are DEBUG records here


class DemoteInfo(logging.Filter):
    """Turns a logger's INFO records into DEBUG ones (dropped unless DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_optional_loaders() -> None:
    """Install :class:`DemoteInfo` on the :data:`QUIETED` loggers (once)."""
    for name in QUIETED:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DemoteInfo) for f in logger.filters):
            logger.addFilter(DemoteInfo())


def configure(level: str = "INFO", fmt: str = "auto") -> None:
    as_json = fmt == "json" or (fmt == "auto" and not sys.stdout.isatty())
    _state["json"] = as_json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    renderer: Any
    if as_json:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.EventRenamer("msg"))
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    numeric = logging.getLevelName(level)
    _state["base"] = numeric if isinstance(numeric, int) else logging.INFO
    root.setLevel(_state["base"])
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access log replaces it
    quiet_optional_loaders()


def toggle_debug() -> str:
    """Flip between DEBUG and the configured level; returns the new level's name."""
    root = logging.getLogger()
    new = _state["base"] if root.level == logging.DEBUG else logging.DEBUG
    root.setLevel(new)
    return logging.getLevelName(new)


def current_level() -> str:
    return logging.getLevelName(logging.getLogger().level)


_quote = json.encoder.encode_basestring  # C-accelerated
_second: list[Any] = [0, ""]  # the last whole second seen and its ISO text


def access(request_id: str, method: str, route: str, path: str, status: int,
           duration_ms: float) -> None:
    """One access-log record per request. In JSON mode the line is formatted here (the same
    shape as every other record): the structlog pipeline would cost more than a cached
    answer does."""
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    if not _state["json"]:
        structlog.get_logger("codegraph.access").info(
            "request", request_id=request_id, method=method, route=route, path=path,
            status=status, duration_ms=duration_ms)
        return
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    sys.stdout.write(  # flushed by flusher()
        f'{{"request_id": {_quote(request_id)}, "method": {_quote(method)}, '
        f'"route": {_quote(route)}, "path": {_quote(path)}, "status": {status:d}, '
        f'"duration_ms": {duration_ms!r}, "level": "info", "logger": "codegraph.access", '
        f'"ts": "{_second[1]}.{int((now - second) * 1e6):06d}Z", "msg": "request"}}\n')


async def flusher(interval: float = 0.2) -> None:
    """Flush stdout a few times a second: access records reach the log within
    ``interval`` without a write syscall per request (other records flush at once)."""
    import asyncio

    while True:
        await asyncio.sleep(interval)
        sys.stdout.flush()
