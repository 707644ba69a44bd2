"""Prometheus metrics, served by their own listener on ``METRICS_PORT``.

Index figures come from the engine's snapshot (refreshed by the writer after jobs), so a
scrape never scans the store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from codegraph.server.cache import QueryCache
    from codegraph.server.replica import Serving

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)

HTTP_REQUESTS = Counter("codegraph_http_requests_total", "HTTP requests handled",
                        ["route", "method", "status"])
HTTP_LATENCY = Histogram("codegraph_http_request_duration_seconds",
                         "HTTP request latency (less any min_revision wait the client asked for)",
                         ["route", "method"], buckets=LATENCY_BUCKETS)
SEARCH_LATENCY = Histogram("codegraph_search_duration_seconds", "Code search latency",
                           ["mode"], buckets=LATENCY_BUCKETS)
CACHE_REQUESTS = Counter("codegraph_cache_requests_total",
                         "Query cache lookups by layer and result", ["layer", "result"])
CACHE_OUTAGES = Counter("codegraph_cache_outages_total",
                        "Times the Redis cache became unreachable")
JOBS = Counter("codegraph_index_jobs_total", "Index jobs finished", ["kind", "state"])


_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one request; the labelled children are looked up once per combination."""
    key = (route, method, status)
    pair = _children.get(key)
    if pair is None:
        pair = _children[key] = (HTTP_REQUESTS.labels(route, method, str(status)),
                                 HTTP_LATENCY.labels(route, method))
    pair[0].inc()
    pair[1].observe(seconds)


class IndexCollector(Collector):
    """Reads the engine's snapshot at scrape time."""

    def __init__(self, engine: Serving, cache: QueryCache) -> None:
        self.engine = engine
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        e = self.engine
        snap = e.snapshot
        now = time.time()

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, value=value)

        yield gauge("codegraph_index_files", "Files in the index", snap.files)
        nodes = GaugeMetricFamily("codegraph_index_nodes", "Graph nodes by kind",
                                  labels=["kind"])
        for kind, count in snap.nodes_by_kind.items():
            nodes.add_metric([kind], count)
        yield nodes
        edges = GaugeMetricFamily("codegraph_index_edges", "Graph edges by kind",
                                  labels=["kind"])
        for kind, count in snap.edges_by_kind.items():
            edges.add_metric([kind], count)
        yield edges
        yield gauge("codegraph_index_revision", "Current index revision", e.revision)
        yield gauge("codegraph_index_revision_age_seconds",
                    "Seconds since the index last changed", now - e.revision_changed)
        yield gauge("codegraph_index_lag_seconds",
                    "Seconds since the oldest saved change not yet indexed", e.index_lag())
        yield gauge("codegraph_index_last_duration_seconds",
                    "Duration of the last full index run", snap.last_index_seconds)
        yield gauge("codegraph_index_parse_failures", "Files that failed to parse",
                    snap.parse_failures)
        yield gauge("codegraph_search_chunks", "Searchable chunks", snap.chunks)
        live = e.embedding()  # (the running embedding job's saved vectors counted)
        yield gauge("codegraph_search_embedded_chunks", "Chunks with a current embedding",
                    live["embedded"])
        embeddable = snap.chunks - snap.embedding_excluded
        yield gauge("codegraph_search_embedding_coverage_ratio",
                    "Embedded chunks over the chunks CODEGRAPH_EMBED_EXCLUDE leaves in",
                    live["embedded"] / embeddable if embeddable > 0 else 0.0)
        yield gauge("codegraph_search_embedding_backlog_chunks",
                    "Chunks waiting for an embedding (those CODEGRAPH_EMBED_EXCLUDE leaves "
                    "out are not waiting)", live["pending"])
        yield gauge("codegraph_search_embedding_failures",
                    "Chunks whose embedding failed in the last run", snap.embedding_failures)
        queued = sum(1 for j in e.jobs.list() if j.state == "queued")
        yield gauge("codegraph_index_jobs_queued", "Index jobs waiting", queued)
        yield gauge("codegraph_search_embeddings_enabled",
                    "1 when chunks are embedded (CODEGRAPH_EMBED), 0 when switched off",
                    1.0 if e.config.embed else 0.0)
        yield gauge("codegraph_cache_up", "1 when Redis answers (or none is configured)",
                    0.0 if self.cache.down else 1.0)
        yield from volume_gauges(e.config.data_dir)
        yield from container_gauges()


def volume_gauges(path: str) -> Iterator[GaugeMetricFamily]:
    """Size and free space of the filesystem holding ``path`` (the data directory), read
    with statvfs at scrape time. Free is what an unprivileged user may still write
    (``f_bavail``: the API runs as 65534). Nothing is yielded when ``path`` cannot be
    statted (not created yet): an absent series rather than a false zero."""
    try:
        st = os.statvfs(path)
    except OSError:
        return
    labels = ["path"]
    for name, doc, value in (
            ("codegraph_data_volume_size_bytes", "Size of the data directory's filesystem",
             st.f_blocks * st.f_frsize),
            ("codegraph_data_volume_free_bytes",
             "Bytes of the data directory's filesystem that the API may still write",
             st.f_bavail * st.f_frsize)):
        family = GaugeMetricFamily(name, doc, labels=labels)
        family.add_metric([path], float(value))
        yield family


def _read(root: str, *parts: str) -> str | None:
    try:
        with open(os.path.join(root, *parts)) as f:
            return f.read()
    except OSError:
        return None


def _stat(text: str | None, key: str) -> int | None:
    """The value of ``key`` in a cgroup ``*.stat`` file ("name value" lines)."""
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def _number(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def container_usage(root: str | None = None) -> dict[str, float]:
    """CPU seconds used and memory in use by this process's cgroup (a container's: its
    parser processes included, which ``process_*`` of PID 1 leaves out), with the memory
    limit when there is one, read from the cgroup file system: v2 ``cpu.stat`` usage_usec,
    ``memory.current``, ``memory.max``; else v1 ``cpuacct/cpuacct.usage`` (ns),
    ``memory/memory.usage_in_bytes``, ``memory.limit_in_bytes``. Memory is the working set,
    as ``docker stats`` and cAdvisor show it: usage less the inactive page cache. Keys are
    left out when they cannot be read."""
    from codegraph.config import CGROUP_ROOT

    base = root or CGROUP_ROOT
    out: dict[str, float] = {}
    v2_cpu = _read(base, "cpu.stat")
    if v2_cpu is not None:
        usec = _stat(v2_cpu, "usage_usec")
        usage = _number(_read(base, "memory.current"))
        inactive = _stat(_read(base, "memory.stat"), "inactive_file") or 0
        limit = _number(_read(base, "memory.max"))  # ("max": none)
    else:
        nsec = next((n for group in ("cpuacct", "cpu,cpuacct") if (n := _number(
            _read(base, group, "cpuacct.usage"))) is not None), None)
        usec = None if nsec is None else nsec // 1000
        usage = _number(_read(base, "memory", "memory.usage_in_bytes"))
        inactive = _stat(_read(base, "memory", "memory.stat"), "total_inactive_file") or 0
        limit = _number(_read(base, "memory", "memory.limit_in_bytes"))
        if limit is not None and limit >= 1 << 60:  # v1's "no limit" (a page-rounded 2^63)
            limit = None
    if usec is not None:
        out["cpu_seconds"] = usec / 1e6
    if usage is not None:
        out["memory_bytes"] = float(max(0, usage - inactive))
    if limit is not None:
        out["memory_limit_bytes"] = float(limit)
    return out


def container_gauges(root: str | None = None) -> Iterator[Metric]:
    """``codegraph_container_cpu_seconds_total`` and ``codegraph_container_memory_bytes``
    (and ``..._memory_limit_bytes``), read at scrape time; absent where unreadable."""
    usage = container_usage(root)
    if "cpu_seconds" in usage:
        yield CounterMetricFamily(
            "codegraph_container_cpu_seconds",
            "CPU seconds used by the API's container (its cgroup: every process in it)",
            value=usage["cpu_seconds"])
    if "memory_bytes" in usage:
        yield GaugeMetricFamily(
            "codegraph_container_memory_bytes", "Memory in use by the API's container (its "
            "cgroup's working set: usage less inactive page cache, as docker stats shows)",
            value=usage["memory_bytes"])
    if "memory_limit_bytes" in usage:
        yield GaugeMetricFamily("codegraph_container_memory_limit_bytes",
                                "Memory limit of the API's container (its cgroup)",
                                value=usage["memory_limit_bytes"])


def install(engine: Serving, cache: QueryCache, registry: CollectorRegistry = REGISTRY) -> None:
    registry.register(IndexCollector(engine, cache))


def serve_metrics(host: str, port: int) -> None:
    """The /metrics listener, in its own thread, apart from the API's event loop."""
    start_http_server(port, addr=host)
