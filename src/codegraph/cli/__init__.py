"""The ``codegraph`` command line (``main``; ``run`` is the console script): its parser
(``parser.py``), the commands (``main.py``), output for people (``render.py``,
``stats.py``) and shell completion (``completion.py``)."""

from __future__ import annotations

from codegraph.cli.main import main, run
from codegraph.cli.parser import build_parser

_parser = build_parser  # (the name the catalog's tests use)

__all__ = ["build_parser", "main", "run"]
