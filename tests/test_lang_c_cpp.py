"""C and C++: definitions, prototypes, includes and include-aware resolution."""

from __future__ import annotations

import pytest

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import EdgeKind, Node
from codegraph.parse.extract import extract

UTIL_H = b"""\
#ifndef UTIL_H
#define UTIL_H
#define LIMIT 10
/* Clamps a value. */
double clamp(double v);
typedef struct pair { int a; int b; } pair_t;
typedef int (*callback)(int);
enum color { RED, GREEN };
extern int counter;
#endif
"""
UTIL_C = b"""\
#include "util.h"
#include <stdio.h>
int counter = 0;
static const int MAX = 3;

/**
 * Clamps v to LIMIT.
 */
double clamp(double v) { printf("x"); return v > LIMIT ? LIMIT : v; }

static void bump(pair_t *p) {
    int local = 1;
    counter++;
    clamp(1.0);
    p->cb(1);
}
"""
MAIN_C = b"""\
#include "util.h"
int main(void) { return (int)clamp(2.0) + helper(); }
int helper(void);
int helper(void) { return 0; }
"""

SHAPE_HPP = b"""\
#pragma once
#include <vector>
namespace geo {
/// Base of all shapes.
class Shape {
public:
    virtual double area() const = 0;
    void describe();
};
/// A circle.
class Circle : public Shape {
public:
    explicit Circle(double r);
    double area() const override;
    double r() const { return r_; }
private:
    double r_;
};
using Radius = double;
double scale(double v);
}
"""
SHAPE_CPP = b"""\
#include "../include/shape.hpp"
#include "util.h"
namespace geo {
Circle::Circle(double r) : r_(r) {}
// Area of the circle.
double Circle::area() const { describe(); return scale(r_ * r_); }
double scale(double v) { return clamp(v); }
void Shape::describe() { this->area(); }
}
"""
MAIN_CPP = b"""\
#include "../include/shape.hpp"
#include <iostream>
using namespace geo;
int main() {
    geo::Circle* c = new geo::Circle(2.0);
    c->area();
    geo::scale(1.0);
    std::sort(nullptr, nullptr);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_graph() -> Graph:
    return build_graph("repo", {"src/util.h": UTIL_H, "src/util.c": UTIL_C,
                                "src/main.c": MAIN_C})


@pytest.fixture(scope="module")
def cpp_graph() -> Graph:
    return build_graph("repo", {"include/shape.hpp": SHAPE_HPP, "src/shape.cpp": SHAPE_CPP,
                                "src/main.cpp": MAIN_CPP, "src/util.h": UTIL_H,
                                "src/util.c": UTIL_C})


def node(g: Graph, qname: str, path: str) -> Node:
    [found] = [n for n in g.nodes.values()
               if n.qualified_name == qname and n.path == path and n.kind != "file"]
    return found


def out(g: Graph, src: Node, kind: EdgeKind) -> dict[tuple[str, str], tuple[str, float]]:
    return {(g.nodes[e.dst].qualified_name, g.nodes[e.dst].path): (e.resolution, e.confidence)
            for e in g.edges if e.src == src.id and e.kind == kind}


def test_c_definitions(c_graph: Graph) -> None:
    got = {(n.kind, n.qualified_name, n.path, n.line) for n in c_graph.nodes.values()
           if n.path and n.kind not in ("file", "module")}
    assert got == {
        ("constant", "LIMIT", "src/util.h", 3),
        ("function", "clamp", "src/util.h", 5),  # a prototype: what includers see
        ("struct", "pair", "src/util.h", 6),
        ("type_alias", "pair_t", "src/util.h", 6),
        ("type_alias", "callback", "src/util.h", 7),
        ("enum", "color", "src/util.h", 8),
        ("variable", "counter", "src/util.h", 9),
        ("variable", "counter", "src/util.c", 3),
        ("constant", "MAX", "src/util.c", 4),
        ("function", "clamp", "src/util.c", 9),
        ("function", "bump", "src/util.c", 11),
        ("function", "main", "src/main.c", 2),
        ("function", "helper", "src/main.c", 4),  # its prototype on line 3 is dropped
    }
    assert node(c_graph, "clamp", "src/util.h").doc == "Clamps a value."
    clamp = node(c_graph, "clamp", "src/util.c")
    assert (clamp.doc, clamp.signature) == ("Clamps v to LIMIT.", "double clamp(double v)")


def test_c_resolution(c_graph: Graph) -> None:
    main = node(c_graph, "main", "src/main.c")
    # clamp() is declared in the included header and defined in util.c: the definition wins
    assert out(c_graph, main, EdgeKind.CALLS) == {
        ("clamp", "src/util.c"): ("import", 1.0),
        ("helper", "src/main.c"): ("same_scope", 0.9),
    }
    bump = node(c_graph, "bump", "src/util.c")
    assert out(c_graph, bump, EdgeKind.CALLS) == {
        ("clamp", "src/util.c"): ("same_scope", 0.9),
        ("cb", ""): ("external", 0.3),  # a function pointer in a struct
    }
    clamp = node(c_graph, "clamp", "src/util.c")
    assert out(c_graph, clamp, EdgeKind.CALLS) == {("printf", ""): ("external", 1.0)}
    module = node(c_graph, "src/util.c", "src/util.c")
    assert out(c_graph, module, EdgeKind.IMPORTS) == {
        ("src/util.h", "src/util.h"): ("import", 1.0),
        ("<stdio.h>", ""): ("external", 1.0),
    }


def test_cpp_definitions(cpp_graph: Graph) -> None:
    hpp, cpp = "include/shape.hpp", "src/shape.cpp"
    circle = node(cpp_graph, "geo::Circle", hpp)
    assert (circle.kind, circle.line, circle.doc) == ("class", 11, "A circle.")
    assert circle.signature == "class Circle : public Shape"
    assert node(cpp_graph, "geo", hpp).kind == "namespace"
    assert node(cpp_graph, "geo::Circle::Circle", hpp).kind == "constructor"
    assert node(cpp_graph, "geo::Circle::r", hpp).kind == "method"
    assert node(cpp_graph, "geo::Radius", hpp).kind == "type_alias"
    assert node(cpp_graph, "geo::scale", hpp).kind == "function"
    # out-of-line definitions are members of their class
    assert node(cpp_graph, "geo::Circle::Circle", cpp).kind == "constructor"
    area = node(cpp_graph, "geo::Circle::area", cpp)
    assert (area.kind, area.line, area.doc) == ("method", 6, "Area of the circle.")
    assert area.signature == "double Circle::area() const"
    assert node(cpp_graph, "geo::Shape::describe", cpp).kind == "method"


def test_cpp_resolution(cpp_graph: Graph) -> None:
    hpp, cpp = "include/shape.hpp", "src/shape.cpp"
    circle = node(cpp_graph, "geo::Circle", hpp)
    assert out(cpp_graph, circle, EdgeKind.INHERITS) == {
        ("geo::Shape", hpp): ("same_scope", 0.9)}
    area = node(cpp_graph, "geo::Circle::area", cpp)
    assert out(cpp_graph, area, EdgeKind.CALLS) == {
        ("geo::Shape::describe", cpp): ("same_scope", 0.9),  # implicit this, base class
        ("geo::scale", cpp): ("same_scope", 0.9),
    }
    describe = node(cpp_graph, "geo::Shape::describe", cpp)
    assert out(cpp_graph, describe, EdgeKind.CALLS) == {
        ("geo::Shape::area", hpp): ("same_scope", 0.9)}
    scale = node(cpp_graph, "geo::scale", cpp)
    assert out(cpp_graph, scale, EdgeKind.CALLS) == {("clamp", "src/util.c"): ("import", 1.0)}
    main = node(cpp_graph, "main", "src/main.cpp")
    calls = out(cpp_graph, main, EdgeKind.CALLS)
    assert calls[("geo::Circle", hpp)] == ("import", 1.0)  # new geo::Circle(...)
    assert calls[("geo::scale", cpp)] == ("import", 1.0)
    assert calls[("std::sort", "")] == ("external", 1.0)
    assert {r for (q, _), (r, _) in calls.items() if q.endswith("::area")} == {"name_match"}
    module = node(cpp_graph, "src/main.cpp", "src/main.cpp")
    assert out(cpp_graph, module, EdgeKind.IMPORTS) == {
        (hpp, hpp): ("import", 1.0),
        ("<iostream>", ""): ("external", 1.0),
        ("geo", hpp): ("import", 1.0),
    }


def test_cpp_call_forms() -> None:
    facts = extract(b"void f() { a::b::g<int>(1); obj.m(); p->n(); new ns::T(); h(); }\n",
                    "cpp")
    got = [(c.receiver, c.name) for c in facts.calls]
    assert got == [("a::b", "g"), ("obj", "m"), ("p", "n"), ("ns", "T"), (None, "h")]


def test_syntax_errors_keep_what_parses() -> None:
    for language in ("c", "cpp"):
        facts = extract(b"int ok(void) { return 1; }\nint broken( {\n", language)
        assert facts.error_lines
        assert "ok" in [d.name for d in facts.definitions]
