"""Go: extraction (definitions, receivers, imports, calls, embedding) and resolution
across files of one package and across packages named by the go.mod module path."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import EXTERNAL, IMPORT, NAME_MATCH, SAME_SCOPE, EdgeKind
from codegraph.graph.resolvers.common import EXTERNAL_KNOWN
from codegraph.parse.extract import extract
from helpers import out_edges as _edges

GO_MOD = b"module example.com/shop\n\ngo 1.22\n"

SERVER_GO = b"""\
package server

import (
\t"fmt"
\tstr "strings"

\t"example.com/shop/util"
)

// Server serves requests.
// It embeds Base.
type Server struct {
\tBase
\t*util.Logger
\tname string
}

// Handler handles.
type Handler interface {
\tfmt.Stringer
\tHandle(req string) error
}

type ID = int

// MaxConns caps connections.
const MaxConns = 10

var (
\tdefaultName = "srv"
\tlimitA, limitB int
)

// Start starts the server.
func (s *Server) Start(port int) error {
\ts.listen(port)
\ts.Reset()
\tfmt.Println("starting", s.name)
\tname := str.ToUpper(s.name)
\tutil.Log(name)
\treturn nil
}

func (s *Server) listen(port int) {
\tsetup()
\t_ = len(s.name)
}

func New(name string) *Server {
\treturn &Server{name: name}
}
"""

BASE_GO = b"""\
package server

type Base struct{}

// Reset clears state.
func (b *Base) Reset() {}

func setup() {
\tconfigure()
}

func configure() {}
"""

UTIL_GO = b"""\
package util

import "fmt"

type Logger struct{}

func (l *Logger) Printf(format string) {
\tfmt.Printf(format)
}

// Log logs a message.
func Log(msg string) {
\tfmt.Println(msg)
}
"""

MAIN_GO = b"""\
package main

import (
\t"os"

\tsrv "example.com/shop/server"
\t_ "example.com/shop/util"
)

func main() {
\ts := srv.New("x")
\ts.Start(8080)
\tos.Exit(0)
\tos.Stdout.WriteString("bye")
}
"""


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    root: Path = tmp_path_factory.mktemp("shop")
    (root / "go.mod").write_bytes(GO_MOD)
    files = {
        "go.mod": GO_MOD,
        "server/server.go": SERVER_GO,
        "server/base.go": BASE_GO,
        "util/log.go": UTIL_GO,
        "cmd/shop/main.go": MAIN_GO,
    }
    return build_graph("shop", files, root=str(root))


def test_definitions_and_docs() -> None:
    facts = extract(SERVER_GO, "go")
    assert facts.package == "server"
    assert facts.error_lines == []
    by_name = {d.name: d for d in facts.definitions}
    server = by_name["Server"]
    assert (server.kind, server.line, server.col, server.end_line) == ("struct", 12, 1, 16)
    assert server.signature == "type Server struct"
    assert server.doc == "Server serves requests.\nIt embeds Base."
    assert by_name["Handler"].kind == "interface"
    assert by_name["Handler"].doc == "Handler handles."
    handle = by_name["Handle"]
    assert (handle.kind, facts.definitions[handle.parent].name) == ("method", "Handler")
    assert (by_name["ID"].kind, by_name["ID"].signature) == ("type_alias", "type ID = int")
    max_conns = by_name["MaxConns"]
    assert (max_conns.kind, max_conns.signature, max_conns.doc) == (
        "constant", "const MaxConns = 10", "MaxConns caps connections.")
    assert by_name["defaultName"].kind == "variable"
    assert by_name["limitA"].parent == by_name["limitB"].parent == -1
    assert by_name["limitB"].signature == "var limitA, limitB int"
    assert "name" not in by_name  # struct fields and locals are not definitions
    start = by_name["Start"]
    assert (start.kind, start.line, start.parent) == ("method", 35, -1)
    assert start.signature == "func (s *Server) Start(port int) error"
    assert start.doc == "Start starts the server."
    assert start.extra == {"receiver": "Server", "receiver_var": "s"}
    assert by_name["New"].kind == "function"


def test_imports_and_calls_extracted() -> None:
    facts = extract(MAIN_GO, "go")
    assert [(i.module, i.alias, i.wildcard) for i in facts.imports] == [
        ("os", None, False),
        ("example.com/shop/server", "srv", False),
        ("example.com/shop/util", "_", False),
    ]
    assert [(c.receiver, c.name) for c in facts.calls] == [
        ("srv", "New"), ("s", "Start"), ("os", "Exit"), ("os.Stdout", "WriteString")]
    dot = extract(b'package p\nimport . "math"\nfunc f() { Sqrt(2) }\n', "go")
    assert dot.imports[0].wildcard and dot.imports[0].module == "math"


def test_receiver_type_params_and_embedding_refs() -> None:
    src = b"""package p
type List[T any] struct{ items []T }
func (l List[T]) Len() int { return len(l.items) }
func (List[T]) Cap() int { return 0 }
type Both interface { Reader; io.Writer }
"""
    facts = extract(src, "go")
    by_name = {d.name: d for d in facts.definitions}
    assert by_name["Len"].extra == {"receiver": "List", "receiver_var": "l"}
    assert by_name["Cap"].extra == {"receiver": "List", "receiver_var": ""}
    assert [(r.kind, r.qualifier, r.name) for r in facts.references] == [
        ("inherits", None, "Reader"), ("inherits", "io", "Writer")]


def test_qualified_names_follow_go_mod(graph: Graph) -> None:
    assert graph.named("example.com/shop/server.Server").kind == "struct"
    assert graph.named("example.com/shop/server.Server.Start").kind == "method"
    assert graph.named("example.com/shop/util.Log").doc == "Log logs a message."
    modules = {n.qualified_name for n in graph.nodes.values() if n.kind == "module"}
    assert {"example.com/shop/server", "example.com/shop/util",
            "example.com/shop/cmd/shop"} <= modules


def test_receiver_method_calls(graph: Graph) -> None:
    calls = _edges(graph, "example.com/shop/server.Server.Start", EdgeKind.CALLS)
    assert calls["example.com/shop/server.Server.listen"] == (SAME_SCOPE, 0.9)
    # Promoted from the embedded Base, declared in another file of the package.
    assert calls["example.com/shop/server.Base.Reset"] == (SAME_SCOPE, 0.9)


def test_same_package_calls_across_files(graph: Graph) -> None:
    calls = _edges(graph, "example.com/shop/server.Server.listen", EdgeKind.CALLS)
    assert calls["example.com/shop/server.setup"] == (SAME_SCOPE, 0.9)
    assert calls["builtin.len"] == (EXTERNAL, EXTERNAL_KNOWN)
    assert _edges(graph, "example.com/shop/server.setup", EdgeKind.CALLS) == {
        "example.com/shop/server.configure": (SAME_SCOPE, 0.9)}


def test_package_calls_through_imports(graph: Graph) -> None:
    calls = _edges(graph, "example.com/shop/server.Server.Start", EdgeKind.CALLS)
    assert calls["example.com/shop/util.Log"] == (IMPORT, 1.0)
    assert calls["fmt.Println"] == (EXTERNAL, EXTERNAL_KNOWN)
    assert calls["strings.ToUpper"] == (EXTERNAL, EXTERNAL_KNOWN)
    main_calls = _edges(graph, "example.com/shop/cmd/shop.main", EdgeKind.CALLS)
    assert main_calls["example.com/shop/server.New"] == (IMPORT, 1.0)
    assert main_calls["os.Exit"] == (EXTERNAL, EXTERNAL_KNOWN)
    assert main_calls["os.Stdout.WriteString"] == (EXTERNAL, EXTERNAL_KNOWN)
    # s.Start on a local variable: a name match, not presented as certain.
    assert main_calls["example.com/shop/server.Server.Start"] == (NAME_MATCH, 0.5)


def test_imports_edges(graph: Graph) -> None:
    imports = _edges(graph, "example.com/shop/cmd/shop", EdgeKind.IMPORTS)
    assert imports["example.com/shop/server"] == (IMPORT, 1.0)
    assert imports["example.com/shop/util"] == (IMPORT, 1.0)
    assert imports["os"] == (EXTERNAL, EXTERNAL_KNOWN)


def test_embedding_is_inheritance(graph: Graph) -> None:
    inherits = _edges(graph, "example.com/shop/server.Server", EdgeKind.INHERITS)
    assert inherits == {
        "example.com/shop/server.Base": (SAME_SCOPE, 0.9),
        "example.com/shop/util.Logger": (IMPORT, 1.0),
    }
    assert _edges(graph, "example.com/shop/server.Handler", EdgeKind.INHERITS) == {
        "fmt.Stringer": (EXTERNAL, EXTERNAL_KNOWN)}
    uses = _edges(graph, "example.com/shop/server.New", EdgeKind.REFERENCES)
    assert uses == {"example.com/shop/server.Server": (SAME_SCOPE, 0.9)}


def test_without_go_mod_modules_are_directories() -> None:
    graph = build_graph("r", {
        "main.go": b"package main\nfunc main() { helper() }\n",
        "tools/a.go": b"package tools\nfunc A() {}\n",
    })
    assert graph.named("main.main").kind == "function"
    assert graph.named("tools.A").kind == "function"
    assert _edges(graph, "main.main", EdgeKind.CALLS) == {"helper": (EXTERNAL, 0.3)}


def test_dot_import_resolves_bare_calls(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_bytes(b"module m\n")
    graph = build_graph("r", {
        "go.mod": b"module m\n",
        "lib/lib.go": b"package lib\nfunc Helper() {}\n",
        "app/app.go": b'package app\nimport . "m/lib"\nfunc Run() { Helper() }\n',
    }, root=str(tmp_path))
    assert _edges(graph, "m/app.Run", EdgeKind.CALLS) == {"m/lib.Helper": (IMPORT, 1.0)}


def test_syntax_errors_keep_what_parses() -> None:
    src = b"""package broken

func Good() int { return 1 }

func Bad( {
\tx :=
}

type After struct{}
"""
    facts = extract(src, "go")
    assert facts.error_lines
    names = {d.name for d in facts.definitions}
    assert {"Good", "After"} <= names
