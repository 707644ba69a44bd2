"""Rust: extraction (items, impl methods, use trees) and resolution over a Cargo crate."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.layout import RepoLayout
from codegraph.graph.model import EdgeKind, Node
from codegraph.graph.resolvers import generic
from codegraph.parse.extract import extract
from helpers import out_edges as edges

CARGO = b'[package]\nname = "my-shapes"\nversion = "0.1.0"\n'
LIB = b"""\
//! Shapes.
pub mod geom;
mod util;
use crate::geom::{Point, Shape as S};
use std::collections::HashMap;

/// Entry point.
pub fn run() -> f64 {
    let p = Point::new(1.0);
    let m: HashMap<u8, u8> = HashMap::new();
    util::helper();
    geom::circle::area_of(2.0);
    println!("{}", 1);
    p.area() + local()
}

fn local() -> f64 { 0.0 }
"""
GEOM = b"""\
pub mod circle;

/// A shape.
pub trait Shape {
    fn area(&self) -> f64;
    fn describe(&self) -> String { String::new() }
}

/// A point.
/// Second line.
#[derive(Debug)]
pub struct Point { x: f64 }

impl Point {
    /// Makes a point.
    pub fn new(x: f64) -> Self { Self::check(); Point { x } }
    fn check() {}
}

impl Shape for Point {
    fn area(&self) -> f64 { self.describe(); self.x }
}
"""
CIRCLE = b"""\
use super::Point;
pub const PI: f64 = 3.14;
pub static mut COUNT: u32 = 0;
pub type Radius = f64;
pub enum Kind { Round }
pub fn area_of(r: f64) -> f64 {
    let _p = Point::new(r);
    super::super::util::helper();
    r * r * PI
}
"""
UTIL = b"pub fn helper() {}\n"


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    root = tmp_path_factory.mktemp("crate")
    files = {"Cargo.toml": CARGO, "src/lib.rs": LIB, "src/geom/mod.rs": GEOM,
             "src/geom/circle.rs": CIRCLE, "src/util.rs": UTIL}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(text)
    return build_graph("repo", files, root=str(root))


def test_definitions(graph: Graph) -> None:
    def node(q: str) -> Node:
        return graph.named(q)

    point = node("my_shapes::geom::Point")
    assert (point.kind, point.line, point.doc) == ("struct", 12, "A point.\nSecond line.")
    assert point.signature == "pub struct Point"
    new = node("my_shapes::geom::Point::new")
    assert (new.kind, new.line, new.doc) == ("method", 16, "Makes a point.")
    assert new.signature == "pub fn new(x: f64) -> Self"
    assert node("my_shapes::geom::Point::area").kind == "method"
    assert node("my_shapes::geom::Shape").kind == "trait"
    assert node("my_shapes::geom::Shape::area").kind == "method"
    assert node("my_shapes::geom::circle::PI").kind == "constant"
    assert node("my_shapes::geom::circle::COUNT").kind == "variable"
    assert node("my_shapes::geom::circle::Radius").kind == "type_alias"
    assert node("my_shapes::geom::circle::Kind").kind == "enum"
    run = node("my_shapes::run")
    assert (run.kind, run.line, run.doc) == ("function", 8, "Entry point.")
    assert node("my_shapes").kind == "module"
    assert node("my_shapes::geom").path == "src/geom/mod.rs"


def test_calls(graph: Graph) -> None:
    assert edges(graph, "my_shapes::run", EdgeKind.CALLS) == {
        "my_shapes::geom::Point::new": ("import", 1.0),
        "std::collections::HashMap::new": ("external", 1.0),
        "my_shapes::util::helper": ("same_scope", 0.9),
        "my_shapes::geom::circle::area_of": ("same_scope", 0.9),
        "my_shapes::geom::Shape::area": ("name_match", 0.25),  # p.area(): type unknown
        "my_shapes::geom::Point::area": ("name_match", 0.25),
        "my_shapes::local": ("same_scope", 0.9),
    }
    assert edges(graph, "my_shapes::geom::Point::new", EdgeKind.CALLS) == {
        "my_shapes::geom::Point::check": ("same_scope", 0.9)}
    # self.describe(): a default method of the implemented trait
    assert edges(graph, "my_shapes::geom::Point::area", EdgeKind.CALLS) == {
        "my_shapes::geom::Shape::describe": ("same_scope", 0.9)}
    assert edges(graph, "my_shapes::geom::Shape::describe", EdgeKind.CALLS) == {
        "String::new": ("external", 1.0)}
    assert edges(graph, "my_shapes::geom::circle::area_of", EdgeKind.CALLS) == {
        "my_shapes::geom::Point::new": ("import", 1.0),
        "my_shapes::util::helper": ("import", 1.0),
    }


def test_imports_and_implements(graph: Graph) -> None:
    assert edges(graph, "my_shapes", EdgeKind.IMPORTS) == {
        "my_shapes::geom::Point": ("import", 1.0),
        "my_shapes::geom::Shape": ("import", 1.0),
        "std::collections::HashMap": ("external", 1.0),
    }
    assert edges(graph, "my_shapes::geom::circle", EdgeKind.IMPORTS) == {
        "my_shapes::geom::Point": ("import", 1.0)}
    assert edges(graph, "my_shapes::geom::Point", EdgeKind.IMPLEMENTS) == {
        "my_shapes::geom::Shape": ("same_scope", 0.9)}


def test_use_trees() -> None:
    facts = extract(b"use a::b::{c, d as e, f::*, self};\nuse crate::x;\nuse super::y::z;\n"
                    b"use serde;\n", "rust")
    got = [(i.module, i.name, i.alias, i.wildcard, i.line) for i in facts.imports]
    assert got == [
        ("a::b", "c", None, False, 1),
        ("a::b", "d", "e", False, 1),
        ("a::b::f", None, None, True, 1),
        ("a", "b", None, False, 1),
        ("crate", "x", None, False, 2),
        ("super::y", "z", None, False, 3),
        ("serde", None, None, False, 4),
    ]


def test_impl_receivers_and_generic_impls() -> None:
    src = b"""\
mod inner {
    pub struct Wrap<T>(T);
    impl<T> Wrap<T> { pub fn get(&self) {} const N: u8 = 1; }
    impl<T> Clone for Wrap<T> { fn clone(&self) -> Self { todo!() } }
}
fn outer() { fn nested() {} }
"""
    facts = extract(src, "rust")
    got = {(d.kind, d.name, (d.extra or {}).get("receiver")) for d in facts.definitions}
    assert ("method", "get", "Wrap") in got
    assert ("constant", "N", "Wrap") in got
    assert ("method", "clone", "Wrap") in got
    assert ("namespace", "inner", None) in got
    [ref] = facts.references
    assert (ref.kind, ref.name, facts.definitions[ref.source].name) == ("implements", "Clone",
                                                                       "Wrap")
    assert [c.name for c in facts.calls] == []  # todo!() is a macro


def test_module_names(tmp_path: Path) -> None:
    (tmp_path / "crates" / "core").mkdir(parents=True)
    (tmp_path / "crates" / "core" / "Cargo.toml").write_text(
        '[package]\nname = "my-core"\n[lib]\nname = "core_lib"\n')
    layout = RepoLayout(str(tmp_path), set())
    name = generic.module_name
    assert name("crates/core/src/lib.rs", "", layout) == "core_lib"
    assert name("crates/core/src/a/mod.rs", "", layout) == "core_lib::a"
    assert name("crates/core/src/a/b.rs", "", layout) == "core_lib::a::b"
    assert name("crates/core/tests/it.rs", "", layout) == "crates::core::tests::it"
    assert name("src/x/y.rs", "", layout) == "x::y"  # no Cargo.toml
    assert generic.qualifier("core_lib::a", "") == "core_lib::a"
    assert generic.separator("rust") == "::"


def test_syntax_error_keeps_what_parses() -> None:
    facts = extract(b"fn good() {}\nfn broken( {\nstruct Fine;\n", "rust")
    assert facts.error_lines
    assert "good" in [d.name for d in facts.definitions]
