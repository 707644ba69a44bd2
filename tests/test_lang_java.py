"""Java: extraction (types, members, constants, Javadoc, imports, calls, inheritance) and
resolution across two packages (imports, wildcard imports, same-package classes,
``this.m()`` through a base class, static imports, externals)."""

from __future__ import annotations

import pytest

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import EXTERNAL, IMPORT, NAME_MATCH, SAME_SCOPE, EdgeKind, Node
from codegraph.graph.resolvers.common import EXTERNAL_KNOWN
from codegraph.parse.extract import extract

SHAPE = b"""\
package com.acme.model;

/**
 * A shape.
 * Subclasses compute their area.
 */
public abstract class Shape {
    /** The unit of lengths. */
    public static final String UNIT = "cm", AREA_UNIT = "cm2";
    private int count;
    static int instances;

    /** Area of the shape. */
    public abstract double area();

    protected void log(String msg) {
        System.out.println(msg);
    }
}
"""

VISIBLE = b"""\
package com.acme.model;

public interface Visible {
    int LAYER = 1;
    boolean visible();
}
"""

DRAWABLE = b"""\
package com.acme.model;

public interface Drawable extends Visible {
    void draw();
}
"""

CIRCLE = b"""\
package com.acme.model;

public class Circle extends Shape implements Drawable {
    private final double r;

    public Circle(double r) {
        super();
        this.r = r;
    }

    @Override
    public double area() {
        return Math.PI * r * r;
    }

    public void draw() {
        this.log("circle");
        log("again");
        Helper.assist();
        Helper h = new Helper();
    }

    public boolean visible() { return true; }
}
"""

HELPER = b"""\
package com.acme.model;

class Helper {
    static void assist() {}
}
"""

SQUARE = b"""\
package com.acme.model;

public class Square extends Shape {
    public double area() { return 1; }
}
"""

MAIN = b"""\
package com.acme.app;

import com.acme.model.Circle;
import com.acme.model.*;
import java.util.List;
import java.util.ArrayList;
import static java.util.Collections.sort;

public class Main {
    public static void main(String[] args) {
        Circle c = new Circle(2.0);
        c.draw();
        List<Shape> shapes = new ArrayList<>();
        sort(shapes);
        Shape sq = new Square();
        run();
        java.util.Objects.requireNonNull(sq);
        Color color = Color.RED;
    }

    static void run() {}

    enum Color { RED, GREEN }
}
"""

FILES = {
    "src/com/acme/model/Shape.java": SHAPE,
    "src/com/acme/model/Visible.java": VISIBLE,
    "src/com/acme/model/Drawable.java": DRAWABLE,
    "src/com/acme/model/Circle.java": CIRCLE,
    "src/com/acme/model/Helper.java": HELPER,
    "src/com/acme/model/Square.java": SQUARE,
    "src/com/acme/app/Main.java": MAIN,
}

M = "com.acme.model"


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph("acme", FILES)


def _node(graph: Graph, qname: str) -> Node:
    """The definition named ``qname`` (a class shares its name with its file's module)."""
    found = [n for n in graph.nodes.values()
             if n.qualified_name == qname and n.kind != "module"]
    assert len(found) == 1, (qname, found)
    return found[0]


def _edges(graph: Graph, qname: str, kind: EdgeKind) -> dict[str, tuple[str, float]]:
    src = _node(graph, qname).id
    return {graph.nodes[e.dst].qualified_name: (e.resolution, e.confidence)
            for e in graph.edges if e.src == src and e.kind == kind}


def _module_edges(graph: Graph, qname: str, kind: EdgeKind) -> dict[str, tuple[str, float]]:
    src = next(n.id for n in graph.nodes.values()
               if n.qualified_name == qname and n.kind == "module")
    return {graph.nodes[e.dst].qualified_name: (e.resolution, e.confidence)
            for e in graph.edges if e.src == src and e.kind == kind}


def test_definitions_docs_and_signatures() -> None:
    facts = extract(SHAPE, "java")
    assert facts.package == M
    assert facts.error_lines == []
    by_name = {d.name: d for d in facts.definitions}
    shape = by_name["Shape"]
    assert (shape.kind, shape.line, shape.end_line) == ("class", 7, 19)
    assert shape.signature == "public abstract class Shape"
    assert shape.doc == "A shape.\nSubclasses compute their area."
    unit = by_name["UNIT"]
    assert (unit.kind, unit.parent, unit.line) == ("constant", 0, 9)
    assert unit.doc == "The unit of lengths."
    assert unit.signature == 'public static final String UNIT = "cm", AREA_UNIT = "cm2"'
    area_unit = by_name["AREA_UNIT"]
    assert (area_unit.kind, area_unit.parent, area_unit.line) == ("constant", 0, 9)
    assert "count" not in by_name and "instances" not in by_name  # not static final
    area = by_name["area"]
    assert (area.kind, area.signature, area.doc) == (
        "method", "public abstract double area()", "Area of the shape.")
    assert by_name["log"].signature == "protected void log(String msg)"


def test_kinds_of_types_and_members() -> None:
    src = b"""package p;
interface I { int X = 1; void m(); }
enum E { A, B; void f() {} }
record R(int x) { R { } }
@interface Note { String value(); }
class C { C() {} }
"""
    facts = extract(src, "java")
    kinds = {(d.name, d.kind) for d in facts.definitions}
    assert {("I", "interface"), ("X", "constant"), ("m", "method"), ("E", "enum"),
            ("A", "constant"), ("f", "method"), ("R", "class"), ("Note", "interface"),
            ("value", "method"), ("C", "class")} <= kinds
    constructors = [d for d in facts.definitions if d.kind == "constructor"]
    assert [d.name for d in constructors] == ["R", "C"]


def test_imports_extracted() -> None:
    facts = extract(MAIN, "java")
    assert [(i.module, i.name, i.wildcard) for i in facts.imports] == [
        ("com.acme.model", "Circle", False),
        ("com.acme.model", None, True),
        ("java.util", "List", False),
        ("java.util", "ArrayList", False),
        ("java.util.Collections", "sort", False),
    ]


def test_calls_extracted() -> None:
    facts = extract(CIRCLE, "java")
    assert [(c.receiver, c.name, c.line) for c in facts.calls] == [
        (None, "super", 7), ("this", "log", 17), (None, "log", 18), ("Helper", "assist", 19),
        (None, "Helper", 20)]
    assert [(r.kind, r.name) for r in facts.references] == [
        ("inherits", "Shape"), ("implements", "Drawable"), ("use", "Override")]


def test_qualified_names(graph: Graph) -> None:
    assert _node(graph, f"{M}.Circle").kind == "class"
    assert graph.named(f"{M}.Circle.draw").kind == "method"
    assert graph.named(f"{M}.Shape.UNIT").kind == "constant"
    assert graph.named("com.acme.app.Main.Color.RED").kind == "constant"
    assert graph.named(f"{M}.Circle.Circle").kind == "constructor"


def test_inheritance(graph: Graph) -> None:
    assert _edges(graph, f"{M}.Circle", EdgeKind.INHERITS) == {f"{M}.Shape": (SAME_SCOPE, 0.9)}
    assert _edges(graph, f"{M}.Circle", EdgeKind.IMPLEMENTS) == {
        f"{M}.Drawable": (SAME_SCOPE, 0.9)}
    assert _edges(graph, f"{M}.Drawable", EdgeKind.INHERITS) == {
        f"{M}.Visible": (SAME_SCOPE, 0.9)}


def test_this_and_bare_calls_through_base_class(graph: Graph) -> None:
    src = _node(graph, f"{M}.Circle.draw").id
    log_calls = [(graph.nodes[e.dst].qualified_name, e.resolution) for e in graph.edges
                 if e.src == src and e.kind == EdgeKind.CALLS and e.name == "log"]
    assert log_calls == [(f"{M}.Shape.log", SAME_SCOPE), (f"{M}.Shape.log", SAME_SCOPE)]


def test_same_package_class_without_import(graph: Graph) -> None:
    calls = _edges(graph, f"{M}.Circle.draw", EdgeKind.CALLS)
    assert calls[f"{M}.Helper.assist"] == (SAME_SCOPE, 0.9)
    assert calls[f"{M}.Helper"] == (SAME_SCOPE, 0.9)  # new Helper()
    ctor = _edges(graph, f"{M}.Circle.Circle", EdgeKind.CALLS)
    assert ctor == {f"{M}.Shape": (SAME_SCOPE, 0.9)}  # super()


def test_imports_and_wildcard_imports(graph: Graph) -> None:
    calls = _edges(graph, "com.acme.app.Main.main", EdgeKind.CALLS)
    assert calls[f"{M}.Circle"] == (IMPORT, 1.0)  # import com.acme.model.Circle
    assert calls[f"{M}.Square"] == (IMPORT, 1.0)  # import com.acme.model.*
    assert calls["com.acme.app.Main.run"] == (SAME_SCOPE, 0.9)
    # c.draw(): no local types, so a guess shared between the two methods named draw
    assert calls[f"{M}.Circle.draw"] == calls[f"{M}.Drawable.draw"] == (NAME_MATCH, 0.25)
    imports = _module_edges(graph, "com.acme.app.Main", EdgeKind.IMPORTS)
    assert imports[f"{M}.Circle"] == (IMPORT, 1.0)
    assert imports[f"{M}.Square"] == (IMPORT, 1.0)  # the wildcard's classes in use
    assert imports["java.util.List"] == (EXTERNAL, EXTERNAL_KNOWN)


def test_externals(graph: Graph) -> None:
    calls = _edges(graph, "com.acme.app.Main.main", EdgeKind.CALLS)
    assert calls["java.util.ArrayList"] == (EXTERNAL, EXTERNAL_KNOWN)
    assert calls["java.util.Collections.sort"] == (EXTERNAL, EXTERNAL_KNOWN)
    assert calls["java.util.Objects.requireNonNull"] == (EXTERNAL, EXTERNAL_KNOWN)
    assert _edges(graph, f"{M}.Shape.log", EdgeKind.CALLS) == {
        "java.lang.System.out.println": (EXTERNAL, EXTERNAL_KNOWN)}
    assert _edges(graph, f"{M}.Circle.area", EdgeKind.REFERENCES) == {
        "java.lang.Override": (EXTERNAL, EXTERNAL_KNOWN)}


def test_static_import_of_repo_method_and_nested_class() -> None:
    graph = build_graph("r", {
        "a/Util.java": b"package a;\npublic class Util {\n"
                       b"  public static int twice(int x) { return 2 * x; }\n"
                       b"  public static class Box { }\n}\n",
        "b/Use.java": b"package b;\nimport static a.Util.twice;\nimport a.Util;\n"
                      b"class Use {\n  int f() { new Util.Box(); return twice(2); }\n}\n",
    })
    calls = _edges(graph, "b.Use.f", EdgeKind.CALLS)
    assert calls == {"a.Util.twice": (IMPORT, 1.0), "a.Util.Box": (IMPORT, 1.0)}


def test_default_package() -> None:
    graph = build_graph("r", {"Tool.java": b"class Tool { void a() { b(); } void b() {} }\n"})
    assert graph.named("Tool.a").kind == "method"
    assert _edges(graph, "Tool.a", EdgeKind.CALLS) == {"Tool.b": (SAME_SCOPE, 0.9)}


def test_syntax_errors_keep_what_parses() -> None:
    src = b"""package p;

public class Broken {
    void good() {}
    void bad( {
        int x = ;
    }
    void after() {}
}
"""
    facts = extract(src, "java")
    assert facts.error_lines
    names = {d.name for d in facts.definitions}
    assert {"Broken", "good"} <= names
