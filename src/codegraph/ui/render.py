"""Turning page data into HTML: one Jinja2 environment (autoescaping on: names, paths and
code from indexed files never become markup), Pygments for highlighted source with line
numbers, and small filters for the templates."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pygments import highlight
from pygments.filter import Filter
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.token import _TokenType
from pygments.util import ClassNotFound

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
GRAPH_LIBRARY = STATIC / "vendor" / "cytoscape.min.js"
STYLE = "default"  # Pygments' colours, written to /ui/static/pygments.css


@functools.cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(["html"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = _when
    env.filters["pct"] = _pct
    env.filters["conf"] = _conf
    return env


def page(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


MAX_MARKS = 10  # query words marked in a snippet


class _Marks(Filter):
    """Splits tokens around the query's words, each match a ``<type>.Match`` token: the
    HTML keeps the token's own class and adds ``<class>-Match`` (ui.css marks it)."""

    def __init__(self, words: Sequence[str]) -> None:
        super().__init__()
        self.pattern = re.compile("(" + "|".join(map(re.escape, words)) + ")", re.IGNORECASE)

    def filter(self, lexer: Lexer | None, stream: Iterable[tuple[_TokenType, str]],
               ) -> Iterator[tuple[_TokenType, str]]:
        for ttype, value in stream:
            for i, piece in enumerate(self.pattern.split(value)):
                if piece:
                    yield (ttype.Match if i % 2 else ttype), piece


def words(query: str) -> list[str]:
    """The words of a search to mark in its snippets (2 characters or more, longest first,
    so that one containing another is marked whole)."""
    found = {w.lower() for w in re.split(r"[\W_]+", query) if len(w) >= 2}
    return sorted(found, key=lambda w: (-len(w), w))[:MAX_MARKS]


def source(code: str, language: str, first_line: int, marks: Sequence[str] = ()) -> Markup:
    """``code`` highlighted for ``language``, its lines numbered from ``first_line`` (each
    number an anchor, ``#L12``), the words ``marks`` marked. Pygments escapes the code."""
    try:  # (PHP: a definition's lines start inside the code, not at "<?php")
        lexer = get_lexer_by_name(language or "text", stripnl=False,
                                  startinline=language == "php")
    except (ClassNotFound, ImportError):  # (ImportError: a lexer the image prunes)
        lexer = TextLexer(stripnl=False)
    if marks:
        lexer.add_filter(_Marks(marks))
    formatter = HtmlFormatter(linenos="table", linenostart=max(1, first_line),
                              lineanchors="L", anchorlinenos=True, cssclass="code")
    return Markup(highlight(code, lexer, formatter))  # (Pygments escapes the code)


@functools.cache
def pygments_css() -> str:
    formatter: Any = HtmlFormatter(style=STYLE, cssclass="code")  # (untyped in the stubs)
    return str(formatter.get_style_defs(".code"))


def graph_library_present() -> bool:
    return GRAPH_LIBRARY.is_file()


def _when(epoch: Any) -> str:
    if not isinstance(epoch, int | float) or epoch <= 0:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(epoch)))


def _pct(value: Any) -> str:
    return f"{float(value) * 100:.1f}%" if isinstance(value, int | float) else "n/a"


def _conf(value: Any) -> str:
    return f"{float(value):.2f}" if isinstance(value, int | float) else "-"
