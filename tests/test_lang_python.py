"""Python: extraction and name resolution (imports, relative imports, aliases, self/cls/super,
base classes, module-qualified calls, module names from the package layout)."""

from __future__ import annotations

import textwrap

import pytest

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import EdgeKind
from codegraph.parse.extract import extract


def src(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


FILES = {
    "src/shop/__init__.py": src("""
        from .models import Order as Order
        from .util import *
        """),
    "src/shop/base.py": src("""
        class Model:
            def save(self):
                return self.validate()

            def validate(self):
                return True

            @classmethod
            def create(cls):
                return cls.build()

            @classmethod
            def build(cls):
                return cls()
        """),
    "src/shop/models.py": src('''
        """Orders."""
        import json
        import os.path as osp
        from . import base
        from .base import Model as BaseModel

        MAX_ITEMS = 10
        registry = {}


        class Order(BaseModel):
            """An order.

            With items."""

            currency = "EUR"

            def __init__(self, items: list) -> None:
                self.items = items

            def save(self):
                super().save()
                self.total()
                return json.dumps(osp.join("a", "b"))

            def total(self) -> int:
                return len(self.items)


        class Special(base.Model):
            def check(self):
                return self.validate()
        '''),
    "src/shop/util.py": src("""
        def fmt(x):
            return str(x)


        def _private():
            pass
        """),
    "src/shop/api/__init__.py": b"",
    "src/shop/api/views.py": src("""
        from .. import models
        from ..models import Order
        from ...elsewhere import thing
        import shop.util
        from shop import fmt


        def show(order_id):
            order = Order([order_id])
            models.Order.total(order)
            shop.util.fmt(order)
            fmt(order)
            thing()
            return helper()


        def helper():
            return undefined_name()
        """),
    "scripts/run.py": src("""
        from shop.models import Order
        from shop import Order as ReExported

        def main():
            Order([]).save()
            ReExported([])
        """),
}


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph("shop", FILES)


def calls(graph: Graph, qname: str) -> dict[str, tuple[str, float]]:
    return {n.qualified_name: (e.resolution, e.confidence)
            for n, e in graph.out(qname, EdgeKind.CALLS)}


def test_module_names_follow_the_package_layout(graph: Graph) -> None:
    modules = {n.path: n.qualified_name for n in graph.nodes.values() if n.kind == "module"}
    assert modules == {
        "src/shop/__init__.py": "shop",
        "src/shop/base.py": "shop.base",
        "src/shop/models.py": "shop.models",
        "src/shop/util.py": "shop.util",
        "src/shop/api/__init__.py": "shop.api",
        "src/shop/api/views.py": "shop.api.views",
        "scripts/run.py": "scripts.run",
    }


def test_definitions_with_spans_signatures_and_docs(graph: Graph) -> None:
    order = graph.named("shop.models.Order")
    assert (order.kind, order.line, order.end_line, order.col) == ("class", 11, 27, 1)
    assert order.signature == "class Order(BaseModel)"
    assert order.doc == "An order.\n\nWith items."
    init = graph.named("shop.models.Order.__init__")
    assert init.kind == "constructor"
    assert init.signature == "def __init__(self, items: list) -> None"
    assert init.parent == order.id
    assert graph.named("shop.models.Order.total").kind == "method"
    assert graph.named("shop.models.MAX_ITEMS").kind == "constant"
    assert graph.named("shop.models.registry").kind == "variable"
    assert graph.named("shop.models.Order.currency").kind == "variable"
    assert graph.named("shop.util.fmt").kind == "function"
    # Locals are not definitions.
    assert not [n for n in graph.nodes.values() if n.name == "order"]


def test_import_resolution(graph: Graph) -> None:
    assert calls(graph, "shop.api.views.show") == {
        "shop.models.Order": ("import", 1.0),  # from ..models import Order
        "shop.models.Order.total": ("import", 1.0),  # models.Order.total via from .. import
        "shop.util.fmt": ("import", 1.0),  # shop.util.fmt(...) and the re-exported fmt
        "elsewhere.thing": ("external", 1.0),  # beyond the top-level package: external
        "shop.api.views.helper": ("same_scope", 0.9),
    }
    imports = {n.qualified_name: e.resolution
               for n, e in graph.out("shop.api.views", EdgeKind.IMPORTS)}
    assert imports["shop.models"] == "import"
    assert imports["shop.models.Order"] == "import"
    assert imports["shop.util"] == "import"


def test_reexports_through_package_init(graph: Graph) -> None:
    assert calls(graph, "scripts.run.main") == {
        "shop.models.Order": ("import", 1.0),
        "shop.models.Order.save": ("inferred", 0.95),  # Order([]).save(): an Order
    }


def test_self_cls_and_super_through_bases(graph: Graph) -> None:
    assert calls(graph, "shop.models.Order.save") == {
        "shop.base.Model.save": ("same_scope", 0.9),  # super().save()
        "builtins.super": ("external", 1.0),
        "shop.models.Order.total": ("same_scope", 0.9),  # self.total()
        "json.dumps": ("external", 1.0),
        "os.path.join": ("external", 1.0),  # import os.path as osp
    }
    assert calls(graph, "shop.models.Special.check") == {
        "shop.base.Model.validate": ("same_scope", 0.9)}  # inherited through base.Model
    assert calls(graph, "shop.base.Model.create") == {"shop.base.Model.build": ("same_scope", 0.9)}
    assert calls(graph, "shop.base.Model.build") == {"shop.base.Model": ("same_scope", 0.9)}


def test_inheritance_through_aliases_and_modules(graph: Graph) -> None:
    assert graph.targets("shop.models.Order", EdgeKind.INHERITS) == {"shop.base.Model"}
    assert graph.targets("shop.models.Special", EdgeKind.INHERITS) == {"shop.base.Model"}


def test_unresolved_names_become_external_not_guesses(graph: Graph) -> None:
    [(node, edge)] = graph.out("shop.api.views.helper", EdgeKind.CALLS)
    assert node.kind == "external" and node.qualified_name == "undefined_name"
    assert (edge.resolution, edge.confidence) == ("external", 0.3)


def test_syntax_errors_keep_what_parses() -> None:
    facts = extract(src("""
        def good():
            return 1

        def broken(:
            pass

        class Kept:
            def method(self):
                return good()
        """), "python")
    assert facts.error_lines
    names = [d.name for d in facts.definitions]
    assert "good" in names and "Kept" in names and "method" in names
    assert [(c.name, c.line) for c in facts.calls] == [("good", 9)]


def test_imports_are_extracted_with_levels_and_aliases() -> None:
    facts = extract(src("""
        import a.b as c, d
        from ..pkg import x as y, z
        from . import *
        """), "python")
    assert [(i.module, i.name, i.alias, i.level, i.wildcard) for i in facts.imports] == [
        ("a.b", None, "c", 0, False),
        ("d", None, None, 0, False),
        ("pkg", "x", "y", 2, False),
        ("pkg", "z", None, 2, False),
        ("", None, None, 1, True),
    ]
