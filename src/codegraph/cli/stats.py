"""``codegraph stats`` for people: counts with separators, times as ages ("3 min ago") and
dates, sizes in kB/MB/GB, not epoch seconds and bytes. ``--json`` prints the answer as the
API gives it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from typing import Any

from codegraph.cli.render import DIM, NAME, NOTE, PATH, Output

LABEL = 12  # the width of the labels' column


def size(n: float) -> str:
    """Bytes for people: "980 B", "12.3 kB", "4.1 MB" (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def age(when: float, now: float | None = None) -> str:
    """Epoch seconds as "3 min ago (2026-12-07 07:40 UTC)"."""
    seconds = max(0.0, (time.time() if now is None else now) - when)
    if seconds < 60:
        ago = f"{seconds:.0f} s ago"
    elif seconds < 3600:
        ago = f"{seconds / 60:.0f} min ago"
    elif seconds < 2 * 86400:
        ago = f"{seconds / 3600:.1f} h ago"
    else:
        ago = f"{seconds / 86400:.0f} days ago"
    stamp = dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{ago} ({stamp})"


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def disk_usage(path: str) -> int:
    """Bytes of the files under ``path`` (0 if it is not there)."""
    total = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):  # (a file gone meanwhile)
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def counts(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                     for k, v in values.items()) or "-"


def print_stats(out: Output, answer: dict[str, Any], data_dir: str) -> None:
    def row(label: str, text: str, style: str = "") -> None:
        out.line((f"{label:<{LABEL}}", DIM), (text, style))

    shown = {"revision", "repositories", "files", "files_by_status", "lines", "languages",
             "nodes", "nodes_by_kind", "edges", "edges_by_kind", "edges_by_resolution",
             "problems", "search", "embedding"}
    row("revision", f"{answer.get('revision')}")
    for name, repo in (answer.get("repositories") or {}).items():
        out.line((name, NAME), ("  ", ""), (str(repo.get("root", "")), PATH))
        if repo.get("last_indexed"):
            took = (f" in {duration(repo['last_duration'])}"
                    if repo.get("last_duration") is not None else "")
            row("  indexed", f"{age(repo['last_indexed'])}{took}")
        if repo.get("created"):
            row("  added", age(repo["created"]))
        if "files" in repo:
            row("  files", f"{repo['files']:,}")
    row("files", f"{answer.get('files', 0):,} ({counts(answer.get('files_by_status') or {})})")
    row("lines", f"{answer.get('lines', 0):,}")
    row("languages", counts(answer.get("languages") or {}))
    row("nodes", f"{answer.get('nodes', 0):,} ({counts(answer.get('nodes_by_kind') or {})})")
    row("edges", f"{answer.get('edges', 0):,} ({counts(answer.get('edges_by_kind') or {})})")
    row("resolution", counts(answer.get("edges_by_resolution") or {}))
    search = answer.get("search") or {}
    if search:
        chunks, embedded = int(search.get("chunks") or 0), int(search.get("embedded") or 0)
        share = f" ({embedded / chunks:.0%})" if chunks else ""
        model = (f", {search['provider']}/{search['model']}" if search.get("provider")
                 else "")
        row("search", f"{chunks:,} chunks, {embedded:,} embedded{share}{model}")
        if search.get("last_embedding_error"):
            row("", f"last embedding error: {search['last_embedding_error']}", NOTE)
    embedding = answer.get("embedding") or {}
    if embedding.get("error"):
        row("embedding", str(embedding["error"]), NOTE)
    elif embedding.get("pending") is not None:
        eta = embedding.get("eta_seconds")
        left = f", about {duration(eta)}" if eta else ""
        row("embedding", f"{embedding['pending']:,} chunks to embed{left}")
    row("on disk", f"{size(disk_usage(data_dir))} ({data_dir})")
    for key, value in answer.items():  # anything newer than this view
        if key not in shown:
            row(key, json.dumps(value, default=str) if isinstance(value, dict | list)
                else str(value))
    for prob in answer.get("problems") or []:
        out.line((f"  {prob['status']}: ", NOTE),
                 (f"{prob['repo']}:{prob['path']}: {prob['reason']}", ""))
