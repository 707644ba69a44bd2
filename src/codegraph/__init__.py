"""CodeGraph: a code graph of your repositories, with search, for people and AI agents.

The library API mirrors the CLI::

    from codegraph import CodeGraph

    with CodeGraph.open(".codegraph") as cg:
        cg.index("path/to/repo")
        for hit in cg.callers("flask.app.Flask.route"):
            print(hit["path"], hit["line"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["CodeGraph", "__version__"]

if TYPE_CHECKING:
    from codegraph.api import CodeGraph


def __getattr__(name: str) -> Any:
    if name == "CodeGraph":
        from codegraph.api import CodeGraph

        return CodeGraph
    raise AttributeError(name)
