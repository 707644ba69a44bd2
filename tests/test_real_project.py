"""Index a real project, Flask 3.0.3 from its pinned PyPI sdist, through the CLI, and check
what the graph says against the source.

Every expected value below was read off the Flask 3.0.3 sdist by hand (grep and the
files themselves); the comments quote the source lines. The sdist holds 82 ``.py``
files and nothing else the indexer parses (the rest is .rst, .html, .txt, ...).
Module names follow the Python rule of the indexer: ``src/flask/app.py`` -> ``flask.app``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from corpora import sdist_or_skip

pytestmark = pytest.mark.slow

SRC = str(Path(__file__).resolve().parents[1] / "src")
REPO = "flask"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("CODEGRAPH_DATA_DIR", None)
    env.pop("ROCKSDB_PATH", None)
    return env


class Flask:
    """The indexed sdist and a way to ask the CLI about it."""

    def __init__(self, tree: Path, data: Path, cwd: Path) -> None:
        self.tree = tree
        self.data = data
        self.cwd = cwd  # a directory without a src/flask of its own, for `outline`

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "codegraph.cli", "--data-dir",
                               str(self.data), *args], capture_output=True, text=True,
                              env=_env(), cwd=self.cwd, timeout=300, check=False)

    def json(self, *args: str) -> Any:
        proc = self.run(*args, "--json")
        assert proc.returncode == 0, f"codegraph {' '.join(args)}: {proc.stderr}"
        return json.loads(proc.stdout)

    def results(self, *args: str) -> list[dict[str, Any]]:
        """The whole list, page after page (a page holds at most CODEGRAPH_MAX_TOKENS)."""
        body = self.json(*args)
        results: list[dict[str, Any]] = body["results"]
        while body.get("next_cursor"):
            body = self.json(*args, "--cursor", body["next_cursor"])
            results += body["results"]
        return results


@pytest.fixture(scope="module")
def flask(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    tree = sdist_or_skip("flask", "3.0.3")
    work = tmp_path_factory.mktemp("flask-index")
    cg = Flask(tree, work / "data", work)
    proc = cg.run("index", str(tree), "--name", REPO, "--progress", "none")
    assert proc.returncode == 0, proc.stderr
    return cg


def test_cold_index_report(flask: Flask) -> None:
    # A second run over the unchanged tree: everything is unchanged, nothing fails.
    report = flask.json("index", str(flask.tree), "--name", REPO, "--progress", "none")
    py_files = sorted(p for p in flask.tree.rglob("*.py"))
    assert len(py_files) == 82
    assert report["repo"] == REPO
    assert report["files"] == 82
    assert report["unchanged"] == 82
    assert (report["parsed"], report["failed"], report["skipped"]) == (0, 0, 0)
    assert report["problems"] == []


def test_stats(flask: Flask) -> None:
    stats = flask.json("stats")
    assert stats["languages"] == {"python": 82}
    assert stats["languages"]["python"] > 20
    assert stats["files"] == 82
    assert stats["files_by_status"] == {"ok": 82}
    assert stats["files_by_status"].get("failed", 0) == 0
    assert stats["problems"] == []
    assert set(stats["repositories"]) == {REPO}
    assert stats["nodes_by_kind"]["file"] == 82
    assert stats["nodes_by_kind"]["module"] == 82
    for kind in ("calls", "contains", "defines", "imports", "inherits", "references"):
        assert stats["edges_by_kind"][kind] > 0, kind


def test_definition_of_flask(flask: Flask) -> None:
    # src/flask/app.py:79 `class Flask(App):`, the class runs to the last line (1498,
    # `return self.wsgi_app(environ, start_response)` in Flask.__call__).
    [item] = flask.results("def", "flask.app.Flask")
    assert (item["kind"], item["path"], item["line"]) == ("class", "src/flask/app.py", 79)
    assert item["end_line"] == 1498
    assert item["signature"] == "class Flask(App)"
    assert item["repo"] == REPO


def test_definition_of_decorated_method_is_the_def_line(flask: Flask) -> None:
    # src/flask/sansio/scaffold.py:295 `@setupmethod`, 296 `def get(self, rule: str, ...`
    [item] = flask.results("def", "flask.sansio.scaffold.Scaffold.get")
    assert (item["kind"], item["path"], item["line"]) == (
        "method", "src/flask/sansio/scaffold.py", 296)


def _inheritors(flask: Flask, base: str) -> set[tuple[str, str, int, str]]:
    return {(r["qualified_name"], r["path"], r["site_line"], r["resolution"])
            for r in flask.results("refs", base) if r["edge"] == "inherits"}


def test_flask_inherits_sansio_app(flask: Flask) -> None:
    # src/flask/app.py:43 `from .sansio.app import App`, :79 `class Flask(App):`
    assert _inheritors(flask, "flask.sansio.app.App") == {
        ("flask.app.Flask", "src/flask/app.py", 79, "import")}


def test_inherits_through_an_aliased_import(flask: Flask) -> None:
    # src/flask/blueprints.py:10 `from .sansio.blueprints import Blueprint as SansioBlueprint`
    # and :18 `class Blueprint(SansioBlueprint):`
    assert _inheritors(flask, "flask.sansio.blueprints.Blueprint") == {
        ("flask.blueprints.Blueprint", "src/flask/blueprints.py", 18, "import")}


def test_scaffold_subclasses(flask: Flask) -> None:
    # The only `(Scaffold)` bases in the sdist: sansio/app.py:59 `class App(Scaffold):` and
    # sansio/blueprints.py:119 `class Blueprint(Scaffold):`, both `from .scaffold import`.
    assert _inheritors(flask, "flask.sansio.scaffold.Scaffold") == {
        ("flask.sansio.app.App", "src/flask/sansio/app.py", 59, "import"),
        ("flask.sansio.blueprints.Blueprint", "src/flask/sansio/blueprints.py", 119, "import"),
    }


def test_callers_of_route(flask: Flask) -> None:
    # Scaffold._method_route ends with `return self.route(rule, methods=[method], **options)`
    # (src/flask/sansio/scaffold.py:293); every other `.route(` in src/flask is in a
    # docstring. Of the decorators in tests/ and examples/ (`@app.route`, `@bp.route`),
    # those on a typed object are typed: examples/celery/src/task_app/__init__.py:19
    # `@app.route("/")` in `def create_app() -> Flask:` after `app = Flask(__name__)`.
    callers = flask.results("callers", "flask.sansio.scaffold.Scaffold.route", "--limit", "500")
    found = {(r["qualified_name"], r["path"], r["site_line"], r["edge"], r["resolution"])
             for r in callers}
    assert ("flask.sansio.scaffold.Scaffold._method_route", "src/flask/sansio/scaffold.py",
            293, "calls", "same_scope") in found
    assert ("task_app.create_app", "examples/celery/src/task_app/__init__.py", 19, "calls",
            "inferred") in found
    in_flask = {(r["qualified_name"], r["site_line"]) for r in callers
                if r["path"].startswith("src/flask/")}
    assert in_flask == {("flask.sansio.scaffold.Scaffold._method_route", 293)}


def test_typed_receivers_and_dispatch(flask: Flask) -> None:
    # src/flask/ctx.py:385-386, in RequestContext.push:
    #     session_interface = self.app.session_interface
    #     self.session = session_interface.open_session(self.app, self.request)
    # where RequestContext.__init__ has `app: Flask` and `self.app = app`, and Flask has
    # `session_interface: SessionInterface = SecureCookieSessionInterface()` (app.py:216).
    callers = flask.results("callers", "flask.sessions.SessionInterface.open_session")
    assert ("flask.ctx.RequestContext.push", "src/flask/ctx.py", 386, "inferred") in {
        (r["qualified_name"], r["path"], r["site_line"], r["resolution"]) for r in callers}
    # app.py:1284 `self.session_interface.save_session(...)`: the override may run
    callees = flask.results("callees", "flask.app.Flask.process_response")
    found = {(r["qualified_name"], r["site_line"], r["resolution"]) for r in callees}
    assert ("flask.sessions.SessionInterface.save_session", 1284, "inferred") in found
    assert ("flask.sessions.SecureCookieSessionInterface.save_session", 1284,
            "dispatch") in found


def test_callers_of_method_route(flask: Flask) -> None:
    # `return self._method_route("GET", rule, options)` and so on, in get/post/put/delete/
    # patch of Scaffold (src/flask/sansio/scaffold.py); no other call in the sdist.
    callers = flask.results("callers", "flask.sansio.scaffold.Scaffold._method_route")
    got = sorted((r["qualified_name"], r["path"], r["site_line"], r["resolution"])
                 for r in callers)
    scaffold = "src/flask/sansio/scaffold.py"
    assert got == sorted([
        ("flask.sansio.scaffold.Scaffold.get", scaffold, 301, "same_scope"),
        ("flask.sansio.scaffold.Scaffold.post", scaffold, 309, "same_scope"),
        ("flask.sansio.scaffold.Scaffold.put", scaffold, 317, "same_scope"),
        ("flask.sansio.scaffold.Scaffold.delete", scaffold, 325, "same_scope"),
        ("flask.sansio.scaffold.Scaffold.patch", scaffold, 333, "same_scope"),
    ])


def test_callers_of_an_imported_function(flask: Flask) -> None:
    # Every call of get_debug_flag() in the sdist, each reaching it through an import
    # (`from .helpers import`, `from ..helpers import` in sansio/app.py:25,
    # `from flask.helpers import` in tests/test_helpers.py:8).
    callers = flask.results("callers", "flask.helpers.get_debug_flag")
    got = sorted((r["qualified_name"], r["path"], r["site_line"], r["resolution"])
                 for r in callers)
    assert got == sorted([
        ("flask.cli.ScriptInfo.load_app", "src/flask/cli.py", 355, "import"),
        ("flask.cli.run_command", "src/flask/cli.py", 955, "import"),
        ("flask.sansio.app.App.make_config", "src/flask/sansio/app.py", 495, "import"),
        ("flask.app.Flask.run", "src/flask/app.py", 591, "import"),
        ("tests.test_helpers.TestHelpers.test_get_debug_flag", "tests/test_helpers.py", 323,
         "import"),
    ])


def test_callees_same_class_and_imported(flask: Flask) -> None:
    # Flask.send_static_file (src/flask/app.py:300):
    #   313  raise RuntimeError("'static_folder' must be set to serve static_files.")
    #   317  max_age = self.get_send_file_max_age(filename)     (Flask method, line 273)
    #   318  return send_from_directory(                        (from .helpers import, :42)
    callees = flask.results("callees", "flask.app.Flask.send_static_file")
    got = {(r["qualified_name"], r["site_line"]): r for r in callees}
    own = got[("flask.app.Flask.get_send_file_max_age", 317)]
    assert (own["resolution"], own["path"], own["line"]) == (
        "same_scope", "src/flask/app.py", 273)
    imported = got[("flask.helpers.send_from_directory", 318)]
    assert (imported["resolution"], imported["path"], imported["line"]) == (
        "import", "src/flask/helpers.py", 514)
    assert got[("builtins.RuntimeError", 313)]["resolution"] == "external"


def test_outline_of_helpers(flask: Flask) -> None:
    # The def lines of src/flask/helpers.py (the `def`s at 64-78, 136, 141 and 524 are
    # inside docstrings); decorator and generator are nested in stream_with_context.
    outline = flask.results("outline", "src/flask/helpers.py")
    got = [(r["name"], r["kind"], r["line"], r["depth"]) for r in outline]
    assert got == [
        ("get_debug_flag", "function", 27, 0),
        ("get_load_dotenv", "function", 35, 0),
        ("stream_with_context", "function", 50, 0),
        ("decorator", "function", 90, 1),
        ("generator", "function", 96, 1),
        ("make_response", "function", 127, 0),
        ("url_for", "function", 176, 0),
        ("redirect", "function", 230, 0),
        ("abort", "function", 254, 0),
        ("get_template_attribute", "function", 277, 0),
        ("flash", "function", 299, 0),
        ("get_flashed_messages", "function", 333, 0),
        ("_prepare_send_file_kwargs", "function", 375, 0),
        ("send_file", "function", 388, 0),
        ("send_from_directory", "function", 514, 0),
        ("get_root_path", "function", 557, 0),
        ("_split_blueprint_path", "function", 615, 0),
    ]


def test_deps(flask: Flask) -> None:
    deps = {r["module"]: r for r in flask.results("deps", "--limit", "500")}
    # src/flask/app.py imports (module level 28-54, TYPE_CHECKING 60-61, and in functions
    # at 465, 659, 685, 703, 1432; `from flask import Flask` at 95 is in a docstring).
    app = deps["flask.app"]
    assert app["path"] == "src/flask/app.py"
    assert app["imports"] == sorted([
        "flask.cli", "flask.ctx", "flask.debughelpers", "flask.globals", "flask.helpers",
        "flask.sansio.app", "flask.sansio.scaffold", "flask.sessions", "flask.signals",
        "flask.templating", "flask.testing", "flask.typing", "flask.wrappers"])
    assert "werkzeug.routing.Rule" in app["external"]  # :24 `from werkzeug.routing import Rule`
    # src/flask/helpers.py: .globals (16-20), .signals (21), .wrappers (24, TYPE_CHECKING).
    helpers = deps["flask.helpers"]
    assert helpers["imports"] == ["flask.globals", "flask.signals", "flask.wrappers"]
    assert "werkzeug.utils" in helpers["external"]  # :11 `import werkzeug.utils`
    # src/flask/signals.py imports only blinker.
    assert deps["flask.signals"]["imports"] == []


# -- engine bugs this corpus found once: regression tests ----------------------------------

def test_line_count(flask: Flask) -> None:
    lines = sum(p.read_bytes().count(b"\n") for p in flask.tree.rglob("*.py"))
    # `wc -l` over the 82 files: 79 end with a newline, three __init__.py files are empty
    # (tests/test_apps/blueprintapp/apps, tests/test_apps/cliapp{,/inner1/inner2}).
    assert lines == 17565
    assert flask.json("stats")["lines"] == lines


def test_partial_name_matches_whole_components(flask: Flask) -> None:
    assert [r["qualified_name"] for r in flask.results("def", "app.Flask")] == [
        "flask.app.Flask"]
    proc = flask.run("def", "pp.Flask")  # no module is called `pp`
    assert proc.returncode != 0


def test_package_init_and_submodule_agree(flask: Flask) -> None:
    # examples/celery/src/task_app/{__init__,tasks,views}.py: the package task_app (there
    # is no examples/celery/src/__init__.py); views.py has `from . import tasks`.
    modules = {r["path"]: r["module"] for r in flask.results("deps")}
    base = "examples/celery/src/task_app/"
    assert modules[base + "tasks.py"] == "task_app.tasks"
    assert modules[base + "__init__.py"] == "task_app"
