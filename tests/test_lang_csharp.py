"""C#: namespaces (block and file-scoped), types, members, using directives, base lists."""

from __future__ import annotations

import pytest

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import EdgeKind
from codegraph.parse.extract import extract
from helpers import module_imports
from helpers import out_edges as edges

SHAPES = b"""\
using System;
using Acme.Util;
using T = Acme.Util.Tools;

namespace Acme.Shapes;

/// <summary>
/// A circle.
/// </summary>
public class Circle : Shape, IDrawable
{
    public const double Pi = 3.14;
    public static readonly int Ignored = 1;
    public double Radius { get; set; }

    public Circle(double r) : base(r) { }

    public override double Area()
    {
        Tools.Log("area");
        T.Log("again");
        this.Draw();
        Console.WriteLine("x");
        var s = new Square();
        var l = new System.Text.StringBuilder();
        return Scale(Pi);
    }

    public void Draw() { Describe(); base.Describe(); }
}

public record Person(string Name);
public struct Point : IEquatable<Point> { }
public enum Color { Red, Green }
"""
BASE = b"""\
namespace Acme.Shapes
{
    // The base of all shapes.
    public abstract class Shape
    {
        protected Shape(double r) { }
        public abstract double Area();
        protected double Scale(double v) => v;
        public void Describe() { }
    }

    public interface IDrawable { void Draw(); }

    public class Square : Shape, IComparable
    {
        public Square() : base(1) { }
        public override double Area() => 1;
    }
}
"""
TOOLS = b"""\
namespace Acme.Util
{
    public static class Tools
    {
        public static void Log(string m) { }
    }
}
"""


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph("repo", {"src/Shapes.cs": SHAPES, "src/Base.cs": BASE,
                                "src/Util/Tools.cs": TOOLS})


def test_definitions(graph: Graph) -> None:
    circle = graph.named("Acme.Shapes.Circle")
    assert (circle.kind, circle.line, circle.doc) == ("class", 10, "A circle.")
    assert circle.signature == "public class Circle : Shape, IDrawable"
    assert circle.path == "src/Shapes.cs"
    pi = graph.named("Acme.Shapes.Circle.Pi")
    assert (pi.kind, pi.line) == ("constant", 12)
    ctor = graph.named("Acme.Shapes.Circle.Circle")
    assert (ctor.kind, ctor.line) == ("constructor", 16)
    area = graph.named("Acme.Shapes.Circle.Area")
    assert (area.kind, area.signature) == ("method", "public override double Area()")
    assert graph.named("Acme.Shapes.Person").kind == "class"
    assert graph.named("Acme.Shapes.Point").kind == "struct"
    assert graph.named("Acme.Shapes.Color").kind == "enum"
    assert graph.named("Acme.Shapes.IDrawable").kind == "interface"
    assert graph.named("Acme.Shapes.IDrawable.Draw").kind == "method"
    shape = graph.named("Acme.Shapes.Shape")
    assert (shape.line, shape.doc) == (4, "The base of all shapes.")
    assert graph.named("Acme.Shapes").kind == "namespace"  # a block namespace
    names = {n.name for n in graph.nodes.values()}
    assert "Radius" not in names and "Ignored" not in names  # properties, fields


def test_calls(graph: Graph) -> None:
    assert edges(graph, "Acme.Shapes.Circle.Area", EdgeKind.CALLS) == {
        "Acme.Util.Tools.Log": ("import", 1.0),  # via `using Acme.Util;` and via alias T
        "Acme.Shapes.Circle.Draw": ("same_scope", 0.9),
        "Console.WriteLine": ("external", 1.0),
        "Acme.Shapes.Square": ("same_scope", 0.9),
        "System.Text.StringBuilder": ("external", 1.0),
        "Acme.Shapes.Shape.Scale": ("same_scope", 0.9),  # inherited, implicit this
    }
    assert edges(graph, "Acme.Shapes.Circle.Draw", EdgeKind.CALLS) == {
        "Acme.Shapes.Shape.Describe": ("same_scope", 0.9)}


def test_inheritance(graph: Graph) -> None:
    assert edges(graph, "Acme.Shapes.Circle", EdgeKind.INHERITS) == {
        "Acme.Shapes.Shape": ("same_scope", 0.9)}
    assert edges(graph, "Acme.Shapes.Circle", EdgeKind.IMPLEMENTS) == {
        "Acme.Shapes.IDrawable": ("same_scope", 0.9)}
    assert edges(graph, "Acme.Shapes.Square", EdgeKind.IMPLEMENTS) == {
        "IComparable": ("external", 0.3)}
    assert edges(graph, "Acme.Shapes.Point", EdgeKind.IMPLEMENTS) == {
        "IEquatable": ("external", 0.3)}


def test_imports(graph: Graph) -> None:
    assert module_imports(graph, "src/Shapes.cs") == {
        "System": ("external", 1.0),
        "Acme.Util": ("import", 1.0),
        "Acme.Util.Tools": ("import", 1.0),
    }
    facts = extract(b"using static System.Math;\nusing Json = Newtonsoft.Json;\n", "csharp")
    got = [(i.module, i.alias, i.wildcard) for i in facts.imports]
    assert got == [("System.Math", None, True), ("Newtonsoft.Json", "Json", False)]


def test_syntax_error_keeps_what_parses() -> None:
    facts = extract(b"namespace N { class Ok { void M() {} }\nclass Broken { void ( }\n",
                    "csharp")
    assert facts.error_lines
    assert "Ok" in [d.name for d in facts.definitions]
