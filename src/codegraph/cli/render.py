"""Answers for people: colour on a terminal (rich; none with ``NO_COLOR``), plain text when
piped; a list's count and how to get more ("20 of 366; --offset 20 for more")."""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import IO, Any

from codegraph.config import no_color

Part = tuple[str, str]  # (text, rich style)
PATH, KIND, NAME, DIM, NOTE = "cyan", "magenta", "bold", "dim", "yellow"


class Output:
    """Lines of styled parts. On a terminal (``tty``) the count of a list is shown and, unless
    ``NO_COLOR`` is set, rich draws the styles; piped, the text is plain."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.console: Any = None
        if (self.tty and not no_color()
                and importlib.util.find_spec("rich") is not None):
            from rich.console import Console

            self.console = Console(file=self.stream, soft_wrap=True, highlight=False)

    def line(self, *parts: Part) -> None:
        if self.console is None:
            print("".join(text for text, _ in parts), file=self.stream)
            return
        from rich.text import Text

        self.console.print(Text.assemble(*parts))

    def source(self, code: str, first: int, path: str) -> None:
        """Numbered lines of source; highlighted on a colour terminal."""
        if self.console is not None:
            from rich.syntax import Syntax

            lexer = Syntax.guess_lexer(path, code)
            self.console.print(Syntax(code, lexer, line_numbers=True, start_line=first,
                                      background_color="default", word_wrap=True))
            return
        width = len(str(first + code.count("\n")))
        for number, text in enumerate(code.splitlines(), start=first):
            print(f"{number:>{width}}  {text}", file=self.stream)


def item_parts(r: dict[str, Any], at_site: bool = True) -> list[Part]:
    """One result: where it is, its kind and name, and its edge or scores. ``at_site``: an
    edge's line is its site, in the result's file (not for callees: the site of a callee's
    edge is in the queried symbol's file)."""
    line = (r.get("site_line") if at_site else None) or r["line"]
    where = f"{r['repo']}:{r['path']}:{line}" if r["path"] else "(external)"
    extra = ""
    if "resolution" in r:
        extra = f"  [{r['edge']} {r['resolution']} {r['confidence']:.2f}]"
    elif "scores" in r:
        parts = [f"{k} #{v['rank']}" for k, v in r["scores"].items() if isinstance(v, dict)]
        extra = f"  [{r['score']:.4f}: {', '.join(parts)}]"
    indent = "  " * r.get("depth", 0) if "site_line" not in r else ""
    return [(where, PATH), (f"  {indent}", ""), (r["kind"], KIND), (" ", ""),
            (r["qualified_name"], NAME), (extra, DIM)]


def count_line(answer: dict[str, Any], start: int, tty: bool) -> str | None:
    """What part of the list this page is, and how to get more: "20 of 366; --offset 20 for
    more". ``total`` may be missing or null (not counted), or a cap (``capped``: "500+").
    Piped output gets the line only when more remain (the rest is for --json)."""
    shown = len(answer.get("results") or [])
    end = start + shown
    more = bool(answer.get("next_cursor"))
    if not (more or tty):
        return None
    total = answer.get("total")
    span = f"{shown:,}" if start == 0 else f"{start + 1:,}-{end:,}" if shown else "none"
    if isinstance(total, int) and not isinstance(total, bool):
        text = f"{span} of {total:,}{'+' if answer.get('capped') else ''}"
    else:
        text = f"{span} shown"
    return f"{text}; --offset {end} for more" if more else text


def json_line(value: Any) -> str:
    return json.dumps(value, default=str)
