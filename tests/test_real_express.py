"""Express 4.21.2 (its pinned npm tarball): CommonJS definitions made by assignment and
``this`` inside them, checked on edges read off the source by hand (quoted below)."""

from __future__ import annotations

import sys

import pytest

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import EXTERNAL, IMPORT, INFERRED, SAME_SCOPE, EdgeKind
from corpora import BENCH, CorpusDownloadError, network_required

if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from _npm import fetch_npm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def express() -> Graph:
    try:
        tree = fetch_npm("express", "4.21.2")
    except CorpusDownloadError as exc:
        if network_required():
            pytest.fail(f"CODEGRAPH_REQUIRE_NETWORK=1 and {exc}", pytrace=False)
        pytest.skip(f"express@4.21.2 unavailable: {exc}")
    files = {str(p.relative_to(tree)): p.read_bytes()
             for p in sorted([tree / "index.js", *(tree / "lib").rglob("*.js")])}
    return build_graph("express", files)


def _edges(graph: Graph, caller: str, line: int) -> set[tuple[str, str, str]]:
    return {(e.name, n.qualified_name, e.resolution)
            for n, e in graph.out(caller, EdgeKind.CALLS) if e.line == line}


APP = "lib/application.app"


def test_assigned_functions_are_definitions(express: Graph) -> None:
    # lib/application.js:64  app.init = function init() {
    init = express.named(f"{APP}.init")
    assert (init.kind, init.line, init.path) == ("method", 64, "lib/application.js")
    # lib/router/route.js:101  Route.prototype.dispatch = function dispatch(req, res, done) {
    assert express.named("lib/router/route.Route.dispatch").kind == "method"
    # lib/utils.js:246  exports.setCharset = function setCharset(type, charset) {
    assert express.named("lib/utils.setCharset").kind == "function"


def test_this_is_the_object_assigned_to(express: Graph) -> None:
    # lib/application.js:69  this.defaultConfiguration();   (in app.init)
    assert _edges(express, f"{APP}.init", 69) == {
        ("defaultConfiguration", f"{APP}.defaultConfiguration", SAME_SCOPE)}
    # :221  this.lazyrouter();   (in app.use)
    assert _edges(express, f"{APP}.use", 221) == {
        ("lazyrouter", f"{APP}.lazyrouter", SAME_SCOPE)}
    # :439  return Boolean(this.set(setting));   (in app.enabled)
    assert ("set", f"{APP}.set", SAME_SCOPE) in _edges(express, f"{APP}.enabled", 439)
    # lib/response.js:162  return this.json(chunk);   (in res.send)
    assert _edges(express, "lib/response.res.send", 162) == {
        ("json", "lib/response.res.json", SAME_SCOPE)}
    # lib/router/index.js:137 `var self = this;` in proto.handle, then in its `next`, :280
    # self.process_params(layer, paramcalled, req, res, function (err) {
    assert _edges(express, "lib/router/index.proto.handle.next", 280) == {
        ("process_params", "lib/router/index.proto.process_params", SAME_SCOPE)}


def test_imports_types_and_shadowing(express: Graph) -> None:
    # lib/application.js:146  this._router = new Router({   (Router = require('./router'),
    # whose `var proto = module.exports = function(options) {` is the default export)
    assert _edges(express, f"{APP}.lazyrouter", 146) == {
        ("Router", "lib/router/index.proto", IMPORT)}
    # :151  this._router.use(query(this.get('query parser fn')));   (_router: a Router)
    assert ("use", "lib/router/index.proto.use", INFERRED) in _edges(
        express, f"{APP}.lazyrouter", 151)
    # lib/router/index.js:585  return layer.match(path);   (JSDoc: @param {Layer} layer)
    assert _edges(express, "lib/router/index.matchLayer", 585) == {
        ("match", "lib/router/layer.Layer.match", INFERRED)}
    # lib/request.js:133  var accept = accepts(this);   (in req.accepts: the package)
    assert _edges(express, "lib/request.req.accepts", 133) == {
        ("accepts", "accepts", EXTERNAL)}
