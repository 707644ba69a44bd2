"""JavaScript: extraction (definitions, docs, signatures, exports, imports, calls, JSX) and
resolution across files (relative/index paths, ES imports, re-exports, require, classes)."""

from __future__ import annotations

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import EXTERNAL, IMPORT, SAME_SCOPE, EdgeKind
from codegraph.parse.extract import extract
from codegraph.parse.facts import Definition, FileFacts, Import

SHAPES = b"""\
import { helper } from './helper';

/**
 * A shape.
 * Has an area.
 */
export class Shape {
  constructor(name) {
    this.name = name;
  }

  /** The area. */
  area() {
    return 0;
  }

  describe() {
    return `${this.name}: ${this.area()}`;
  }

  static #count = 0;
  onClick = (event) => helper(event);
}

export class Circle extends Shape {
  constructor(r) {
    super('circle');
    this.r = r;
  }

  area() {
    return Math.PI * this.r * this.r;
  }
}

// Builds a circle.
export const makeCircle = (r) => new Circle(r);
const square = function (x) { return x * x; };
let counter = 0;
var legacy = 1;
export const LIMIT = 10;

function* ids() {
  const local = 1;
  yield local;
}

const Anonymous = class extends Shape {
  area() { return 1; }
};

export default Circle;
"""


def _defs(facts: FileFacts) -> dict[str, Definition]:
    return {d.name: d for d in facts.definitions}


def _calls(facts: FileFacts) -> set[tuple[str | None, str]]:
    return {(c.receiver, c.name) for c in facts.calls}


def _call_edges(graph: Graph, qname: str) -> dict[str, tuple[str, str, float]]:
    return {e.name: (n.qualified_name, e.resolution, e.confidence)
            for n, e in graph.out(qname, EdgeKind.CALLS)}


def test_definitions_kinds_and_nesting() -> None:
    facts = extract(SHAPES, "javascript")
    kinds = [(d.kind, d.name) for d in facts.definitions]
    assert kinds == [
        ("class", "Shape"), ("constructor", "constructor"), ("method", "area"),
        ("method", "describe"), ("method", "onClick"),
        ("class", "Circle"), ("constructor", "constructor"), ("method", "area"),
        ("function", "makeCircle"), ("function", "square"), ("variable", "counter"),
        ("variable", "legacy"), ("constant", "LIMIT"), ("function", "ids"),
        ("class", "Anonymous"), ("method", "area"),
    ]
    defs = facts.definitions
    assert defs[2].parent == 0 and defs[7].parent == 5 and defs[15].parent == 14
    assert "local" not in {d.name for d in defs}  # locals are dropped
    assert facts.error_lines == []


def test_positions_signatures_and_docs() -> None:
    defs = _defs(extract(SHAPES, "javascript"))
    shape = defs["Shape"]
    assert (shape.line, shape.col, shape.end_line) == (7, 8, 23)
    assert shape.signature == "class Shape"
    assert shape.doc == "A shape.\nHas an area."  # JSDoc above `export`
    assert defs["describe"].signature == "describe()"
    assert defs["Circle"].signature == "class Circle extends Shape"
    make = defs["makeCircle"]
    assert (make.line, make.signature, make.doc) == (37, "const makeCircle = (r) =>",
                                                     "Builds a circle.")
    assert defs["square"].signature == "const square = function (x)"
    assert defs["counter"].signature == "let counter = 0"
    assert defs["LIMIT"].signature == "const LIMIT = 10"
    assert defs["ids"].signature == "function* ids()"
    assert defs["onClick"].signature == "onClick = (event) =>"
    assert defs["Anonymous"].signature == "const Anonymous = class extends Shape"


def test_method_doc() -> None:
    facts = extract(SHAPES, "javascript")
    area = next(d for d in facts.definitions if d.name == "area")
    assert (area.line, area.doc) == (13, "The area.")


def test_exports_are_marked() -> None:
    defs = _defs(extract(SHAPES, "javascript"))
    assert defs["Shape"].extra == {"exported": True, "fields": {"#count": "number"}}
    assert defs["Circle"].extra == {"exported": True, "default_export": True}
    assert defs["makeCircle"].extra == {"exported": True}
    assert defs["square"].extra is None


def test_export_forms() -> None:
    source = b"""\
function a() {}
function b() {}
class C {}
export { a, b as bee };
export default function named() {}
module.exports = C;
"""
    defs = _defs(extract(source, "javascript"))
    assert defs["a"].extra == {"exported": True}
    assert defs["b"].extra == {"exported": True, "exported_as": ["bee"]}
    assert defs["named"].extra == {"exported": True, "default_export": True}
    assert defs["C"].extra == {"exported": True, "default_export": True}


def test_commonjs_export_assignments() -> None:
    source = b"""\
/** Greets. */
exports.greet = function (name) { return name; };
module.exports.Thing = class {};
"""
    defs = _defs(extract(source, "javascript"))
    assert defs["greet"].kind == "function"
    assert defs["greet"].signature == "exports.greet = function (name)"
    assert defs["greet"].doc == "Greets."
    assert defs["greet"].extra == {"exported": True, "this": ""}
    assert defs["Thing"].kind == "class"


def test_calls() -> None:
    facts = extract(SHAPES, "javascript")
    assert _calls(facts) == {
        (None, "helper"), ("this", "area"), (None, "super"), (None, "Circle"),
    }
    by_name = {c.name: c for c in facts.calls}
    assert facts.definitions[by_name["super"].caller].name == "constructor"
    assert facts.definitions[by_name["Circle"].caller].name == "makeCircle"
    assert (by_name["Circle"].line, by_name["Circle"].col) == (37, 34)


def test_member_and_new_calls() -> None:
    facts = extract(b"obj.m(); a.b.c(); new ns.Thing(); this.#priv(); make()();\n",
                    "javascript")
    assert _calls(facts) == {("obj", "m"), ("a.b", "c"), ("ns", "Thing"), ("this", "#priv"),
                             (None, "make")}


def test_inheritance_references() -> None:
    facts = extract(SHAPES + b"class X extends lib.Base {}\n", "javascript")
    refs = {(r.kind, r.qualifier, r.name, facts.definitions[r.source].name)
            for r in facts.references}
    assert refs == {("inherits", None, "Shape", "Circle"), ("inherits", None, "Shape",
                                                             "Anonymous"),
                    ("inherits", "lib", "Base", "X")}


def test_imports() -> None:
    source = b"""\
import React, { useState as useS, useEffect } from 'react';
import * as path from 'path';
import './polyfill';
export { a, b as c } from './ab';
export * from './all';
export * as everything from './all';
const fs = require('fs');
const { join, resolve: res } = require('path');
const one = require('./one').one;
require('./side');
function lazy() { const later = require('./later'); }
"""
    facts = extract(source, "javascript")
    got = [(i.module, i.name, i.alias, i.kind, i.wildcard, i.line) for i in facts.imports]
    assert got == [
        ("react", "default", "React", "import", False, 1),
        ("react", "useState", "useS", "import", False, 1),
        ("react", "useEffect", None, "import", False, 1),
        ("path", None, "path", "import", False, 2),
        ("./polyfill", None, None, "import", False, 3),
        ("./ab", "a", None, "reexport", False, 4),
        ("./ab", "b", "c", "reexport", False, 4),
        ("./all", None, None, "reexport", True, 5),
        ("./all", None, "everything", "reexport", False, 6),
        ("fs", None, "fs", "require", False, 7),
        ("path", "join", None, "require", False, 8),
        ("path", "resolve", "res", "require", False, 8),
        ("./one", "one", "one", "require", False, 9),
        ("./side", None, None, "require", False, 10),
        ("./later", None, "later", "require", False, 11),
    ]
    assert facts.imports[-1].source == 0  # inside lazy()
    # require bindings are imports, not definitions or calls
    assert [d.name for d in facts.definitions] == ["lazy"]
    assert facts.calls == []


def test_exporting_an_import_is_a_reexport() -> None:
    facts = extract(b"import x, { y } from './m';\nexport { y as z };\nexport default x;\n",
                    "javascript")
    reexports = [(i.module, i.name, i.alias) for i in facts.imports if i.kind == "reexport"]
    assert reexports == [("./m", "y", "z"), ("./m", "default", "default")]


def test_jsx_component_references() -> None:
    source = b"""\
import { Button } from './button';
export function App() {
  return <div><Button label="x" /><ui.Card>hi</ui.Card></div>;
}
"""
    facts = extract(source, "javascript")
    refs = {(r.kind, r.qualifier, r.name) for r in facts.references}
    assert refs == {("use", None, "Button"), ("use", "ui", "Card")}


def test_syntax_errors_keep_what_parses() -> None:
    source = b"""\
export function good() { return 1; }
function broken() { if ( }
class Fine { ok() {} }
"""
    facts = extract(source, "javascript")
    assert facts.error_lines == [2]
    assert [(d.kind, d.name) for d in facts.definitions] == [
        ("function", "good"), ("function", "broken"), ("class", "Fine"), ("method", "ok")]


REPO: dict[str, bytes] = {
    "src/geometry/shapes.js": SHAPES,
    "src/geometry/helper.js": b"export function helper(e) { return e; }\n",
    "src/geometry/index.js": b"""\
export * from './shapes.js';
export { helper as assist } from './helper';
""",
    "src/lib/index.js": b"export * from '../geometry';\n",
    "src/legacy/counter.js": b"""\
class Counter {
  increment() { return 1; }
}
module.exports = Counter;
""",
    "src/legacy/util.js": b"exports.double = function (x) { return 2 * x; };\n",
    "src/main.js": b"""\
import Circle, { Shape as Base, makeCircle } from './geometry/shapes';
import * as geo from './geometry';
import { assist } from './lib';
import Counter from './legacy/counter.js';
import _ from 'lodash';
import { map } from 'lodash/fp';
const util = require('./legacy/util');
const { double } = require('./legacy/util');
const { nothing } = require('./missing');

export function main() {
  const c = makeCircle(2);
  new Circle(1);
  new Base('b');
  geo.makeCircle(3);
  assist(c);
  new Counter().increment();
  _.chunk([1, 2], 1);
  map(String);
  util.double(2);
  double(3);
  nothing();
  console.log(c);
  run();
  c.area();
}

function run() { main(); }
""",
}


def test_resolution_of_calls_across_files() -> None:
    graph = build_graph("js", REPO)
    calls = _call_edges(graph, "src/main.main")
    shapes = "src/geometry/shapes"
    assert calls["makeCircle"] == (f"{shapes}.makeCircle", IMPORT, 1.0)  # named import
    assert calls["Circle"] == (f"{shapes}.Circle", IMPORT, 1.0)  # default import
    assert calls["Base"] == (f"{shapes}.Shape", IMPORT, 1.0)  # aliased import
    assert calls["assist"] == ("src/geometry/helper.helper", IMPORT, 1.0)  # re-export chain
    assert calls["Counter"] == ("src/legacy/counter.Counter", IMPORT, 1.0)  # module.exports
    assert calls["double"] == ("src/legacy/util.double", IMPORT, 1.0)  # require
    assert calls["chunk"] == ("lodash.chunk", EXTERNAL, 1.0)  # bare package
    assert calls["map"] == ("lodash/fp.map", EXTERNAL, 1.0)
    assert calls["nothing"] == ("src/missing.nothing", EXTERNAL, 0.3)
    assert calls["log"] == ("globalThis.console.log", EXTERNAL, 1.0)
    assert calls["run"] == ("src/main.run", SAME_SCOPE, 0.9)
    assert calls["area"][1:] == (EXTERNAL, 0.3)  # unknown receiver, only its name: unresolved
    targets = graph.targets("src/main.main", EdgeKind.CALLS)
    # namespace import through index.js and `export * from './shapes.js'`
    assert f"{shapes}.makeCircle" in targets
    assert "src/legacy/util.double" in targets  # util.double() and double()


def test_resolution_of_imports() -> None:
    graph = build_graph("js", REPO)
    imports = {(e.name, n.qualified_name, e.resolution)
               for n, e in graph.out("src/main", EdgeKind.IMPORTS)}
    assert imports == {
        ("default", "src/geometry/shapes.Circle", IMPORT),
        ("Shape", "src/geometry/shapes.Shape", IMPORT),
        ("makeCircle", "src/geometry/shapes.makeCircle", IMPORT),
        ("./geometry", "src/geometry/index", IMPORT),  # directory index
        ("assist", "src/geometry/helper.helper", IMPORT),
        ("default", "src/legacy/counter.Counter", IMPORT),  # extension written
        ("default", "lodash", EXTERNAL),
        ("map", "lodash/fp.map", EXTERNAL),
        ("./legacy/util", "src/legacy/util", IMPORT),
        ("double", "src/legacy/util.double", IMPORT),
        ("nothing", "src/missing.nothing", EXTERNAL),
    }


def test_this_and_super_calls_through_the_base_class() -> None:
    graph = build_graph("js", REPO)
    shapes = "src/geometry/shapes"
    circle = graph.named(f"{shapes}.Circle")
    ctor = next(n for n in graph.nodes.values()
                if n.kind == "constructor" and n.parent == circle.id)
    super_edges = [(n.qualified_name, n.kind, e.resolution)
                   for n, e in graph.out(ctor.qualified_name, EdgeKind.CALLS)]
    assert super_edges == [(f"{shapes}.Shape.constructor", "constructor", SAME_SCOPE)]
    assert graph.targets(f"{shapes}.Circle", EdgeKind.INHERITS) == {f"{shapes}.Shape"}
    assert graph.targets(f"{shapes}.Anonymous", EdgeKind.INHERITS) == {f"{shapes}.Shape"}
    # this.area() in Shape.describe stays on Shape (the dynamic dispatch is not modelled)
    assert graph.targets(f"{shapes}.Shape.describe", EdgeKind.CALLS) == {f"{shapes}.Shape.area"}
    assert graph.targets(f"{shapes}.makeCircle", EdgeKind.CALLS) == {f"{shapes}.Circle"}


def test_this_call_finds_inherited_method() -> None:
    files = {
        "a/base.js": b"export class Base { hello() {} }\n",
        "a/child.js": b"""\
import { Base } from './base';
class Child extends Base {
  go() { this.hello(); super.hello(); this.missing(); }
}
""",
    }
    graph = build_graph("js", files)
    edges = [(e.name, n.qualified_name, e.resolution)
             for n, e in graph.out("a/child.Child.go", EdgeKind.CALLS)]
    assert edges == [("hello", "a/base.Base.hello", SAME_SCOPE),
                     ("hello", "a/base.Base.hello", SAME_SCOPE),
                     ("missing", "missing", EXTERNAL)]


def test_module_name_keeps_index() -> None:
    graph = build_graph("js", {"pkg/index.mjs": b"export const x = 1;\n",
                               "pkg/sub/file.cjs": b"module.exports = {};\n"})
    assert graph.named("pkg/index.x").kind == "constant"
    assert graph.named("pkg/sub/file").kind == "module"


def test_jsx_component_reference_resolves() -> None:
    files = {
        "ui/button.jsx": b"export default function Button() { return <button />; }\n",
        "ui/app.jsx": b"""\
import Button from './button';
export function App() { return <Button />; }
""",
    }
    graph = build_graph("js", files)
    assert graph.targets("ui/app.App", EdgeKind.REFERENCES) == {"ui/button.Button"}


def test_import_record_roundtrip() -> None:
    facts = extract(b"import { a } from './a';\n", "javascript")
    assert FileFacts.from_wire(facts.to_wire()).imports == [
        Import("./a", "a", None, 1, 0, False, "import", -1)
    ]


def test_default_import_without_a_known_default_binds_the_module() -> None:
    files = {
        "cfg/settings.js": b"module.exports = { debug: true };\n",
        "cfg/use.js": b"import settings from './settings';\nexport const d = settings.debug;\n",
    }
    graph = build_graph("js", files)
    edges = [(n.qualified_name, n.kind, e.resolution, e.confidence)
             for n, e in graph.out("cfg/use", EdgeKind.IMPORTS)]
    assert edges == [("cfg/settings", "module", IMPORT, 0.7)]
