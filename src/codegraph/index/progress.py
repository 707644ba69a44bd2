"""Indexing progress for people (a rich progress bar on a terminal) and for machines."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from codegraph.errors import CodeGraphError

Event = dict[str, Any]


class PlainProgress:
    """One line per phase on stderr; ``json`` mode writes each event as a JSON line."""

    def __init__(self, as_json: bool = False, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stderr

    def __call__(self, event: Event) -> None:
        if event.get("event") == "tick":  # a point where a run may stop: nothing to show
            return
        if self.as_json:
            print(json.dumps(event, default=str), file=self.stream, flush=True)
            return
        kind = event.get("event")
        if kind == "walk":
            text = f"indexing {event['repo']} ({event['root']})"
        elif kind in ("parse", "resolve"):
            text = f"{kind}: {event['total']} files"
        elif kind in ("parsed", "resolved"):
            text = f"  {kind} {event['done']}/{event['total']}"
        elif kind == "done":
            text = (f"done: {event['files']} files, {event['parsed']} parsed, "
                    f"{event['unchanged']} unchanged, {event['deleted']} deleted, "
                    f"{event['skipped']} skipped, {event['failed']} failed in "
                    f"{event['seconds']:.2f}s (revision {event['revision']})")
        else:
            text = json.dumps(event, default=str)
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class BarProgress:
    """A rich progress bar for the parse and resolve phases."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
        self.bar.start()
        self.task: Any = None

    def __call__(self, event: Event) -> None:
        kind = event.get("event")
        if kind in ("parse", "resolve"):
            self.task = self.bar.add_task(kind, total=event["total"] or 1)
            if not event["total"]:
                self.bar.update(self.task, completed=1)
        elif kind in ("parsed", "resolved") and self.task is not None:
            self.bar.update(self.task, completed=event["done"])
        elif kind == "done":
            if self.task is not None:
                self.bar.update(self.task, completed=self.bar.tasks[-1].total)
            self.bar.stop()
            PlainProgress()(event)

    def close(self) -> None:
        self.bar.stop()


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
