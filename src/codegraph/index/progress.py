"""Indexing progress for people (a rich progress bar on a terminal) and for machines.

The events are the indexer's (``walk``, ``parse``/``parsed``, ``resolve``/``resolved``,
``done``), then the command line's ``ready`` (structure and lexical search answer now; how
many chunks embedding has left, and about how long), then the embedding run's (``embed``,
``embedded`` after each batch, with ``rate`` and ``eta_seconds``), then the command line's
``embedding_done`` (the run's report). ``tick`` events only mark where a run may stop.

Embedding reports a batch every second or so: plain lines show at most one every
``EVERY`` seconds, and the last; the bar redraws in place; JSON lines (for programs) give
every event.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from codegraph.errors import CodeGraphError

Event = dict[str, Any]
EVERY = 5.0  # seconds between two plain lines of embedding progress


def about(seconds: float | None) -> str:
    """``eta_seconds`` for people: "about 5 min"; empty when not measured."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "under a minute"
    if seconds < 90 * 60:
        return f"about {max(1, round(seconds / 60))} min"
    return f"about {seconds / 3600:.1f} h"


def ready_line(event: Event) -> str:
    """The line that says structure and lexical search answer, and what embedding has
    left: "ready: structure and lexical search; embedding 41,430 chunks, about 5 min"."""
    pending = int(event.get("pending") or 0)
    excluded = int(event.get("excluded") or 0)
    left_out = f" ({excluded:,} left out by CODEGRAPH_EMBED_EXCLUDE)" if excluded else ""
    if event.get("embedding") == "off":
        return "ready: structure and lexical search (embedding is off)"
    if not pending:
        return f"ready: structure, lexical and semantic search{left_out}"
    eta = about(event.get("eta_seconds"))
    eta = f", {eta}" if eta else ""
    if event.get("waiting", True):
        return f"ready: structure and lexical search; embedding {pending:,} chunks{eta}{left_out}"
    return (f"ready: structure and lexical search; {pending:,} chunks left to embed{eta}"
            f"{left_out}, by `codegraph serve` or the next `codegraph index`")


def embedded_line(event: Event) -> str:
    rate = event.get("rate")
    speed = f", {rate:,.1f} chunks/s" if rate else ""
    eta = about(event.get("eta_seconds")) if event.get("done") != event.get("total") else ""
    left = f", {eta} left" if eta else ""
    return f"  embedded {event['done']:,}/{event['total']:,} chunks{speed}{left}"


def embedding_done_line(event: Event) -> str:
    rate = event.get("rate")
    speed = f", {rate:,.1f} chunks/s" if rate else ""
    made, cached = event.get("embedded", 0), event.get("cached", 0)
    text = (f"embedded {made + cached:,} chunks ({made:,} by the model, {cached:,} from the "
            "cache) in "
            f"{event.get('seconds', 0.0):.1f}s{speed}")
    if event.get("error"):
        text += f"; stopped: {event['error']}"
    return text


def plain_line(event: Event) -> str:
    kind = event.get("event")
    if kind == "walk":
        return f"indexing {event['repo']} ({event['root']})"
    if kind in ("parse", "resolve"):
        return f"{kind}: {event['total']} files"
    if kind in ("parsed", "resolved"):
        return f"  {kind} {event['done']}/{event['total']}"
    if kind == "done":
        return (f"done: {event['files']} files, {event['parsed']} parsed, "
                f"{event['unchanged']} unchanged, {event['deleted']} deleted, "
                f"{event['skipped']} skipped, {event['failed']} failed in "
                f"{event['seconds']:.2f}s (revision {event['revision']})")
    if kind == "ready":
        return ready_line(event)
    if kind == "embed":
        return f"embed: {event['total']:,} chunks ({event.get('provider')} {event.get('model')})"
    if kind == "embedded":
        return embedded_line(event)
    if kind == "embedding_done":
        return embedding_done_line(event)
    if kind == "lexical":
        return "lexical search: updating"
    if kind == "update":
        return (f"updated {event.get('repo')}: {event.get('parsed', 0)} parsed, "
                f"{event.get('deleted', 0)} deleted, {event.get('failed', 0)} failed "
                f"(revision {event.get('revision')})")
    return other_line(event)


def other_line(event: Event) -> str:
    """An event without a line of its own, as words: "phase: key value, key value"."""
    rest = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in event.items()
                     if key != "event" and not isinstance(value, dict | list))
    return f"{event.get('event', 'progress')}: {rest}" if rest else str(event.get("event"))


class _Throttle:
    """Whether an ``embedded`` event is shown: the first after ``every`` seconds since the
    last one shown (or the run's start), and the last of the run."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.last = time.monotonic()

    def __call__(self, event: Event) -> bool:
        kind = event.get("event")
        if kind == "embed":
            self.last = time.monotonic()
            return True
        if kind != "embedded":
            return True
        now = time.monotonic()
        if event.get("done") == event.get("total") or now - self.last >= self.every:
            self.last = now
            return True
        return False


class PlainProgress:
    """One line per phase on stderr, and embedding's progress every ``every`` seconds;
    ``json`` mode writes each event as a JSON line (every one: programs read them)."""

    def __init__(self, as_json: bool = False, stream: IO[str] | None = None,
                 every: float = EVERY) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stderr
        self.shown = _Throttle(every)

    def __call__(self, event: Event) -> None:
        if event.get("event") == "tick":  # a point where a run may stop: nothing to show
            return
        if not self.as_json and not self.shown(event):
            return
        text = json.dumps(event, default=str) if self.as_json else plain_line(event)
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class BarProgress:
    """Rich progress bars on stderr: parse and resolve (each completed, and the bars
    stopped, when the structure is done), then the ready line, then embedding with its
    rate and time left."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.bar: Any = None
        self.task: Any = None
        self.plain = PlainProgress(stream=self.console.file)

    def _start(self, *columns: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._stop()
        self.bar = Progress("[progress.description]{task.description}", BarColumn(),
                            MofNCompleteColumn(), *columns, TimeElapsedColumn(),
                            console=self.console, transient=False)
        self.bar.start()

    def _stop(self) -> None:
        """Complete every task (a phase's last count is not always reported) and stop."""
        if self.bar is None:
            return
        for task in self.bar.tasks:
            if task.total is not None:
                self.bar.update(task.id, completed=task.total)
        self.bar.stop()
        self.bar = self.task = None

    def __call__(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "tick":
            return
        if kind in ("parse", "resolve"):
            if self.bar is None:
                self._start()
            elif self.task is not None:  # the previous phase is over
                self.bar.update(self.task, completed=self.bar.tasks[-1].total)
            self.task = self.bar.add_task(kind, total=event["total"] or 1)
            if not event["total"]:
                self.bar.update(self.task, completed=1)
        elif kind in ("parsed", "resolved") and self.task is not None:
            self.bar.update(self.task, completed=event["done"])
        elif kind == "embed":
            self._stop()
            if event.get("total"):
                from rich.progress import TextColumn

                self._start(TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}"))
                self.task = self.bar.add_task("embed", total=event["total"], rate="",
                                              eta=_eta_field(event))
        elif kind == "embedded" and self.task is not None:
            rate = event.get("rate")
            self.bar.update(self.task, completed=event["done"], eta=_eta_field(event),
                            rate=f"{rate:,.1f} chunks/s" if rate else "")
        elif kind in ("walk", "lexical", "parsed", "resolved", "embedded"):
            return  # (the bars show them, or there is none to update)
        else:  # done, ready, embedding_done, update: a line under the stopped bars
            self._stop()
            self.plain(event)

    def close(self) -> None:
        self._stop()


def _eta_field(event: Event) -> str:
    if event.get("done") == event.get("total"):
        return ""
    eta = about(event.get("eta_seconds"))
    return f"{eta} left" if eta else ""


def make_progress(mode: str) -> Callable[[Event], None] | None:
    """``auto`` (a bar on a terminal when rich is installed, else plain), ``bar``, ``plain``,
    ``json`` or ``none``. (The minimal container image leaves rich out.)"""
    has_rich = importlib.util.find_spec("rich") is not None
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() and has_rich else "plain"
    if mode == "none":
        return None
    if mode == "bar":
        if not has_rich:
            raise CodeGraphError("--progress bar needs the rich package; use plain or json")
        return BarProgress()
    return PlainProgress(as_json=mode == "json")
