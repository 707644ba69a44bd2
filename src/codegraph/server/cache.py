"""The query cache: a small in-process LRU in front of Redis (``REDIS_URL``).

The in-process part is bounded twice: at most ``local_entries`` answers and at most
``local_bytes`` bytes of them (the image's memory budget, not the number of answers, is
what runs out); an answer larger than ``max_entry`` is cached nowhere.

Keys carry the index revision, so any re-index invalidates every cached answer. Redis is an
optimisation, never a dependency: when it stops answering, lookups fall through to the
store, the outage is counted and shown in readiness, and reconnects are tried at most once
per ``RETRY_SECONDS`` so a dead Redis costs no request more than that.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import OrderedDict
from typing import Any

import structlog

from codegraph.server import metrics

log = structlog.get_logger("codegraph.cache")
LOCAL_HITS = metrics.CACHE_REQUESTS.labels("local", "hit")
LOCAL_MISSES = metrics.CACHE_REQUESTS.labels("local", "miss")

LOCAL_ENTRIES = 4096
LOCAL_BYTES = 32 << 20
MAX_ENTRY = 256 << 10
RETRY_SECONDS = 2.0
SOCKET_TIMEOUT = 0.25


def cache_key(epoch: str, route: str, args: dict[str, Any]) -> str:
    """``epoch``: the index revision and embedding generation the answer reflects."""
    text = route + "\0" + "\0".join(f"{k}={args[k]}" for k in sorted(args))
    return f"codegraph:{epoch}:{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}"


class QueryCache:
    def __init__(self, redis_url: str | None, ttl: int = 300,
                 local_entries: int = LOCAL_ENTRIES, local_bytes: int = LOCAL_BYTES,
                 max_entry: int = MAX_ENTRY) -> None:
        self.redis_url = redis_url
        self.ttl = ttl
        self.local_entries = local_entries
        self.local_bytes = local_bytes
        self.max_entry = max_entry
        self.local: OrderedDict[str, bytes] = OrderedDict()
        self.held = 0  # bytes of the answers in ``local``
        self.down = False
        self.outages = 0
        self.last_error: str | None = None
        self._retry_at = 0.0
        self._client: Any = None
        if redis_url:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                redis_url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT,
                retry_on_timeout=False, health_check_interval=0)

    @property
    def configured(self) -> bool:
        return self._client is not None

    async def get(self, key: str) -> bytes | None:
        hit = self.local.get(key)
        if hit is not None:
            self.local.move_to_end(key)
            LOCAL_HITS.inc()
            return hit
        LOCAL_MISSES.inc()
        if not self._usable():
            return None
        try:
            value = await self._client.get(key)
        except Exception as exc:  # any Redis failure: serve from the store instead
            self._failed(exc)
            return None
        self._recovered()
        metrics.CACHE_REQUESTS.labels("redis", "hit" if value is not None else "miss").inc()
        if value is not None:
            self._remember(key, value)
        return value  # type: ignore[no-any-return]

    async def set(self, key: str, value: bytes) -> None:
        if len(value) > self.max_entry:  # cheaper to compute again than to hold
            return
        self._remember(key, value)
        if not self._usable():
            return
        try:
            await self._client.set(key, value, ex=self.ttl)
        except Exception as exc:
            self._failed(exc)
        else:
            self._recovered()

    async def ping(self) -> dict[str, Any]:
        """The cache's part of readiness."""
        if self._client is None:
            return {"status": "disabled", "detail": "no REDIS_URL: in-process cache only"}
        try:
            await self._client.ping()
        except Exception as exc:
            self._failed(exc)
        else:
            self._recovered()
        return {"status": "down" if self.down else "up", "outages": self.outages,
                "last_error": self.last_error}

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # a dead connection may fail to close
                await self._client.aclose()

    # -- bookkeeping -------------------------------------------------------------------------
    def _remember(self, key: str, value: bytes) -> None:
        if not self.local_entries or len(value) > min(self.max_entry, self.local_bytes):
            return
        old = self.local.pop(key, None)
        if old is not None:
            self.held -= len(old)
        self.local[key] = value
        self.held += len(value)
        while len(self.local) > self.local_entries or self.held > self.local_bytes:
            self.held -= len(self.local.popitem(last=False)[1])

    def _usable(self) -> bool:
        return self._client is not None and (not self.down or time.monotonic() >= self._retry_at)

    def _failed(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + RETRY_SECONDS
        metrics.CACHE_REQUESTS.labels("redis", "error").inc()
        if not self.down:
            self.down = True
            self.outages += 1
            metrics.CACHE_OUTAGES.inc()
            log.warning("redis cache unreachable; serving from the store",
                        error=self.last_error)

    def _recovered(self) -> None:
        if self.down:
            self.down = False
            log.info("redis cache reachable again")
