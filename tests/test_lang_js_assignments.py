"""JavaScript definitions made by assignment (``obj.f = function () {}``, ``exports.f``,
``module.exports``, prototypes, ``Object.assign``, object literals, class fields) and
``this.f()`` inside them: the object they were assigned to."""

from __future__ import annotations

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import EXTERNAL, IMPORT, INFERRED, SAME_SCOPE, EdgeKind
from codegraph.parse.extract import extract


def _calls(graph: Graph, qname: str) -> list[tuple[str, str, str]]:
    return [(e.name, n.qualified_name, e.resolution) for n, e in graph.out(qname, EdgeKind.CALLS)]


APPLICATION = b"""\
var app = exports = module.exports = {};

/** Initialises. */
app.init = function init() {
  this.defaultConfiguration();
  helper();
};

app.defaultConfiguration = function defaultConfiguration() {
  var self = this;
  self.set('x', 1);
};

app.set = (setting, val) => { return val; };

function helper() {}
"""


def test_object_member_assignments_are_methods() -> None:
    facts = extract(APPLICATION, "javascript")
    got = [(d.kind, d.name, d.signature, d.doc) for d in facts.definitions]
    assert got == [
        ("variable", "app", "var app = exports = module.exports = {}", ""),
        ("method", "init", "app.init = function init()", "Initialises."),
        ("method", "defaultConfiguration",
         "app.defaultConfiguration = function defaultConfiguration()", ""),
        ("method", "set", "app.set = (setting, val) =>", ""),
        ("function", "helper", "function helper()", ""),
    ]
    init = facts.definitions[1]
    assert init.extra is not None and init.extra["receiver"] == "app"
    callers = {c.name: facts.definitions[c.caller].name for c in facts.calls}
    assert callers == {"defaultConfiguration": "init", "helper": "init", "set":
                       "defaultConfiguration"}


def test_this_resolves_to_the_assigned_object() -> None:
    graph = build_graph("express", {"lib/application.js": APPLICATION})
    app = "lib/application.app"
    assert graph.named(f"{app}.init").kind == "method"
    assert _calls(graph, f"{app}.init") == [
        ("defaultConfiguration", f"{app}.defaultConfiguration", SAME_SCOPE),
        ("helper", "lib/application.helper", SAME_SCOPE),
    ]
    # `var self = this` is `this` too
    assert _calls(graph, f"{app}.defaultConfiguration") == [("set", f"{app}.set", SAME_SCOPE)]


def test_prototype_methods_and_object_assign() -> None:
    source = b"""\
function Layer(path) {
  this.reset();
}
Layer.prototype.match = function match(path) {
  return this.reset() && this.params();
};
Layer.prototype.reset = function () {};
Object.assign(Layer.prototype, {
  params() { return this.match('/'); },
  keys: function () {},
});
module.exports = Layer;
"""
    facts = extract(source, "javascript")
    assert [(d.kind, d.name) for d in facts.definitions] == [
        ("function", "Layer"), ("method", "match"), ("method", "reset"), ("method", "params"),
        ("method", "keys")]
    graph = build_graph("r", {"lib/layer.js": source, "lib/use.js": b"""\
var Layer = require('./layer');
/** @param {Layer} layer */
function run(layer) { return layer.match('/'); }
"""})
    layer = "lib/layer.Layer"
    assert _calls(graph, f"{layer}.match") == [("reset", f"{layer}.reset", SAME_SCOPE),
                                               ("params", f"{layer}.params", SAME_SCOPE)]
    assert _calls(graph, f"{layer}.params") == [("match", f"{layer}.match", SAME_SCOPE)]
    assert _calls(graph, layer) == [("reset", f"{layer}.reset", SAME_SCOPE)]  # constructor
    # a JSDoc type on a parameter types the receiver
    assert _calls(graph, "lib/use.run") == [("match", f"{layer}.match", INFERRED)]


def test_exports_members_and_module_exports_function() -> None:
    files = {
        "lib/utils.js": b"""\
exports.isAbsolute = (path) => path[0] === '/';
exports.normalize = function (type) { return exports.isAbsolute(type); };
""",
        "lib/api.js": b"""\
module.exports = {
  get(url) { return this.request(url); },
  request: function (url) {},
};
""",
        "lib/query.js": b"module.exports = function query(options) { return options; };\n",
        "lib/main.js": b"""\
var utils = require('./utils');
var api = require('./api');
var query = require('./query');
function main() {
  utils.normalize('a');
  api.get('/');
  query({});
}
""",
    }
    graph = build_graph("m", files)
    assert graph.named("lib/utils.isAbsolute").kind == "function"
    assert graph.named("lib/api.get").kind == "function"
    assert graph.named("lib/query.query").kind == "function"
    assert _calls(graph, "lib/main.main") == [
        ("normalize", "lib/utils.normalize", IMPORT),
        ("get", "lib/api.get", IMPORT),
        ("query", "lib/query.query", IMPORT),
    ]
    assert _calls(graph, "lib/api.get") == [("request", "lib/api.request", SAME_SCOPE)]
    assert _calls(graph, "lib/utils.normalize") == [("isAbsolute", "lib/utils.isAbsolute",
                                                      SAME_SCOPE)]


def test_chained_assignments_and_object_literals() -> None:
    source = b"""\
var res = Object.create(Base.prototype);
res.get = res.header = function header(field) { return this.status(); };
res.status = function status() {};
const Box = {
  init() { this.render(); },
  render: () => 1,
  nested: { deeper() {} },
};
"""
    facts = extract(source, "javascript")
    assert [(d.kind, d.name, d.parent) for d in facts.definitions] == [
        ("variable", "res", -1), ("method", "header", -1), ("method", "status", -1),
        ("constant", "Box", -1), ("method", "init", 3), ("method", "render", 3)]
    graph = build_graph("b", {"box.js": source})
    assert _calls(graph, "box.res.header") == [("status", "box.res.status", SAME_SCOPE)]
    assert _calls(graph, "box.Box.init") == [("render", "box.Box.render", SAME_SCOPE)]


def test_class_field_functions_own_their_calls() -> None:
    source = b"""\
class Widget {
  onClick = (event) => { this.render(event); };
  handler = function () { this.render(); };
  render() {}
}
"""
    graph = build_graph("w", {"w.js": source})
    assert _calls(graph, "w.Widget.onClick") == [("render", "w.Widget.render", SAME_SCOPE)]
    assert _calls(graph, "w.Widget.handler") == [("render", "w.Widget.render", SAME_SCOPE)]


def test_parameters_hide_file_level_names_and_are_not_guessed() -> None:
    files = {
        "a.js": b"""\
import { next } from './b';
function handle(req, next, done) {
  next();
  done();
  req.accepts();
}
""",
        "b.js": b"export function next() {}\nexport function done() {}\n"
                b"export const x = { accepts() {} };\n",
    }
    graph = build_graph("p", files)
    calls = _calls(graph, "a.handle")
    assert calls[:2] == [("next", "next", EXTERNAL), ("done", "done", EXTERNAL)]
    assert calls[2] == ("accepts", "accepts", EXTERNAL)  # unknown receiver: no guess


def test_file_level_functions_reached_through_an_object() -> None:
    source = b"""\
var proto = module.exports = function (options) { return proto.handle(options); };
proto.handle = function handle(options) {};
"""
    graph = build_graph("r", {"router/index.js": source, "app.js": b"""\
var Router = require('./router');
function lazy() { var r = new Router(); r.handle(); }
"""})
    assert graph.named("router/index.proto").kind == "function"
    assert _calls(graph, "router/index.proto") == [
        ("handle", "router/index.proto.handle", SAME_SCOPE)]
    assert _calls(graph, "app.lazy") == [("Router", "router/index.proto", IMPORT),
                                         ("handle", "router/index.proto.handle", INFERRED)]


def test_names_assigned_to_objects_are_not_in_scope() -> None:
    source = b"""\
var accepts = require('accepts');
var req = {};
req.accepts = function () { return accepts(this); };
function View(name) { this.engine = name; }
View.prototype.render = function render() { this.engine(); this.lookup(); };
"""
    graph = build_graph("q", {"request.js": source,
                              "other.js": b"exports.engine = function () {};\n"
                                          b"exports.lookup = function () {};\n"})
    # the imported `accepts`, not the method req.accepts
    assert _calls(graph, "request.req.accepts") == [("accepts", "accepts", EXTERNAL)]
    # a property of the object is called: unresolved, not a guess; an unknown member is
    calls = _calls(graph, "request.View.render")
    assert calls == [("engine", "request.View.engine", EXTERNAL),
                     ("lookup", "lookup", EXTERNAL)]


def test_a_file_function_named_like_an_earlier_assigned_one_is_in_scope() -> None:
    # express lib/response.js: `res.sendfile = function sendfile(...)` comes first, the
    # file's own `function sendfile(res, file, ...)` last; `sendfile(...)` is the latter.
    source = b"""\
var res = {};
res.sendfile = function sendfile(path) { sendfile(this, path); };
res.sendFile = function sendFile(path) { sendfile(this, path); };
function sendfile(res, file) {}
"""
    graph = build_graph("r", {"response.js": source})
    assert _calls(graph, "response.res.sendFile") == [("sendfile", "response.sendfile",
                                                        SAME_SCOPE)]


def test_assignment_cycles_and_deep_types_do_not_stop_an_index() -> None:
    from codegraph.parse.extract import extract

    ok = b"export function g() {}\nfunction k() { g(); }\n"
    for ext in ("js", "ts"):
        for bad in (b"var x = y;\nvar y = x;\nfunction h() { x.go(); }\n",
                    b"function h() { let r = r.go(); const q = q; q.z(); }\n"):
            graph = build_graph("p", {f"bad.{ext}": bad, f"ok.{ext}": ok})
            assert ("g", "ok.g", IMPORT) in _calls(graph, "ok.k") or \
                [c[1] for c in _calls(graph, "ok.k")] == ["ok.g"]
    nested = b"let x: " + b"Array<" * 600 + b"number" + b">" * 600 + b";\nfunction f() {}\n"
    union = b"let y: " + b" |\n".join(b"A%d" % i for i in range(3000)) + b";\nfunction g() {}\n"
    for source in (nested, union):
        assert [d.name for d in extract(source, "typescript").definitions][-1] in ("f", "g")
