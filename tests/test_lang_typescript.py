"""TypeScript and TSX: extraction of TS-only definitions (interfaces, enums, type aliases,
namespaces, overloads), type uses, and resolution across files (ESM ``.js`` specifiers,
``.d.ts``, ``index.tsx``, re-export chains, implements/extends, namespaces, JSX)."""

from __future__ import annotations

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.layout import RepoLayout
from codegraph.graph.model import EXTERNAL, IMPORT, NAME_MATCH, SAME_SCOPE, EdgeKind
from codegraph.graph.resolvers.javascript import module_name
from codegraph.parse.extract import extract
from codegraph.parse.facts import Definition, FileFacts

MODELS = b"""\
import type { Base, Id } from './ids';

/** Something with an id. */
export interface Entity extends Base<Id> {
  id: Id;
  label(): string;
}

export enum Color { Red, Green }

/** A user id or a name. */
export type Key = Id | string;

// Models live here.
export namespace Models {
  export const VERSION = 2;
  export function make(): Entity { return build(); }
}
/** Stores entities. */
@Injectable()
export abstract class Repo<T extends Entity> extends Base<T>
  implements Store<T>, api.Closeable {
  private items: T[] = [];
  constructor(private readonly size: number) {}
  abstract find(id: Id): T | undefined;
  get(id: string): T;
  get(id: Id): T;
  get(id: Id | string): T { return this.find(id as Id)!; }
  close = async (): Promise<void> => { this.items = []; };
}

export function parse(text: string): Entity;
export function parse(text: Buffer): Entity;
export function parse(input: string | Buffer): Entity { return JSON.parse(String(input)); }

export const handler: Handler<Entity> = async (req) => respond(req);
export default Repo;
"""


def _defs(facts: FileFacts) -> dict[str, Definition]:
    return {d.name: d for d in facts.definitions}


def test_typescript_definitions() -> None:
    facts = extract(MODELS, "typescript")
    assert [(d.kind, d.name) for d in facts.definitions] == [
        ("interface", "Entity"), ("method", "label"),
        ("enum", "Color"), ("type_alias", "Key"),
        ("namespace", "Models"), ("constant", "VERSION"), ("function", "make"),
        ("class", "Repo"), ("constructor", "constructor"), ("method", "find"),
        ("method", "get"), ("method", "close"),
        ("function", "parse"), ("function", "handler"),
    ]
    assert facts.error_lines == []


def test_typescript_signatures_docs_and_exports() -> None:
    defs = _defs(extract(MODELS, "typescript"))
    entity = defs["Entity"]
    assert (entity.line, entity.signature, entity.doc) == (
        4, "interface Entity extends Base<Id>", "Something with an id.")
    assert defs["label"].signature == "label(): string"
    assert defs["Key"].signature == "type Key = Id | string"
    assert defs["Key"].doc == "A user id or a name."
    assert defs["Models"].doc == "Models live here."
    assert defs["VERSION"].signature == "const VERSION = 2"
    repo = defs["Repo"]
    assert repo.signature == ("abstract class Repo<T extends Entity> extends Base<T> "
                              "implements Store<T>, api.Closeable")
    assert (repo.line, repo.doc) == (21, "Stores entities.")  # doc above the decorator
    assert repo.extra == {"exported": True, "default_export": True,
                          "fields": {"items": "Array<T>", "size": "number"}}
    # overloads: one definition, the implementation
    assert (defs["get"].line, defs["get"].signature) == (28, "get(id: Id | string): T")
    assert defs["parse"].signature == "function parse(input: string | Buffer): Entity"
    assert defs["close"].signature == "close = async (): Promise<void> =>"
    assert defs["handler"].signature == "const handler: Handler<Entity> = async (req) =>"
    assert defs["constructor"].signature == "constructor(private readonly size: number)"
    assert defs["Color"].extra == {"exported": True}


def test_typescript_references() -> None:
    facts = extract(MODELS, "typescript")
    refs = {(r.kind, r.qualifier, r.name) for r in facts.references}
    assert {("inherits", None, "Base"), ("implements", None, "Store"),
            ("implements", "api", "Closeable")} <= refs
    assert ("use", None, "Injectable") not in refs  # a decorator call is a call
    uses = {r.name for r in facts.references if r.kind == "use"}
    assert {"Id", "Entity", "Handler", "Promise", "Buffer"} <= uses
    assert "T" not in uses  # type parameters are not references
    calls = {(c.receiver, c.name) for c in facts.calls}
    assert {(None, "Injectable"), ("this", "find"), ("JSON", "parse"), (None, "respond"),
            (None, "build")} <= calls


def test_typescript_imports() -> None:
    source = b"""\
import type { A } from './a';
import fs = require('fs');
import def, * as all from './all';
import { default as D, type B } from './b';
export type { C } from './c';
"""
    facts = extract(source, "typescript")
    got = [(i.module, i.name, i.alias, i.kind) for i in facts.imports]
    assert got == [
        ("./a", "A", None, "import"),
        ("fs", None, "fs", "require"),
        ("./all", "default", "def", "import"),
        ("./all", None, "all", "import"),
        ("./b", "default", "D", "import"),
        ("./b", "B", None, "import"),
        ("./c", "C", None, "reexport"),
    ]


def test_ambient_declarations() -> None:
    source = b"""\
/** Reads a file. */
declare function read(path: string): string;
declare class Client { send(body: string): void; }
declare namespace Api { function ping(): void; }
export = Client;
"""
    defs = _defs(extract(source, "typescript"))
    assert defs["read"].signature == "function read(path: string): string"
    assert defs["read"].doc == "Reads a file."
    assert defs["send"].kind == "method"
    assert defs["ping"].parent >= 0
    assert defs["Client"].extra == {"exported": True, "default_export": True}


def test_tsx_definitions_and_jsx() -> None:
    source = b"""\
import { Card } from './card';
export const Panel = ({ title }: { title: string }) => (
  <section><Card title={title} /><h1>{title}</h1></section>
);
export default function Page(): JSX.Element { return <Panel title="x" />; }
"""
    facts = extract(source, "tsx")
    assert [(d.kind, d.name) for d in facts.definitions] == [
        ("function", "Panel"), ("function", "Page")]
    refs = {(r.qualifier, r.name) for r in facts.references if r.kind == "use"}
    assert refs == {(None, "Card"), (None, "Panel"), ("JSX", "Element")}


def test_syntax_errors_keep_what_parses() -> None:
    source = b"""\
export interface Ok { a: number }
export function broken(a: number { return a; }
export class Fine { run(): void {} }
"""
    facts = extract(source, "typescript")
    assert facts.error_lines
    assert {"Ok", "Fine", "run"} <= {d.name for d in facts.definitions}


REPO: dict[str, bytes] = {
    "src/ids.ts": b"""\
export type Id = number;
export class Base<T> { base(): T | null { return null; } }
""",
    "src/models.ts": MODELS,
    "src/store.d.ts": b"export interface Store<T> { get(id: number): T; }\n",
    "src/services/user.service.ts": b"""\
import Repo, { Entity, Models, parse } from '../models.js';
import { Store } from '../store';
import { Id } from '../ids';

export class UserRepo extends Repo<Entity> implements Store<Entity> {
  find(id: Id): Entity | undefined { return Models.make(); }
  load(text: string): Entity {
    this.close();
    this.base();
    return parse(text);
  }
}
""",
    "src/services/index.ts": b"""\
export { UserRepo as Users } from './user.service';
export * as models from '../models';
""",
    "src/app/index.tsx": b"""\
import { useState } from 'react';
import { Users, models } from '../services';
import { Button } from '../ui';

export function App() {
  const [repo] = useState(() => new Users(10));
  models.parse('{}');
  return <Button onClick={() => repo.load('x')} />;
}
""",
    "src/ui/index.tsx": b"export const Button = (props: Props) => <button {...props} />;\n",
}


def _graph() -> Graph:
    return build_graph("ts", REPO)


def test_typescript_module_names() -> None:
    layout = RepoLayout("", set(REPO))
    assert module_name("src/store.d.ts", "", layout) == "src/store"
    assert module_name("src/ui/index.tsx", "", layout) == "src/ui/index"
    assert module_name("src/services/user.service.ts", "", layout) == "src/services/user.service"
    assert _graph().named("src/models.Models.make").kind == "function"


def test_typescript_inheritance_across_files() -> None:
    graph = _graph()
    user_repo = "src/services/user.service.UserRepo"
    assert graph.targets(user_repo, EdgeKind.INHERITS) == {"src/models.Repo"}
    assert graph.targets(user_repo, EdgeKind.IMPLEMENTS) == {"src/store.Store"}
    assert graph.targets("src/models.Entity", EdgeKind.INHERITS) == {"src/ids.Base"}
    implements = {(n.qualified_name, e.resolution, e.confidence)
                  for n, e in graph.out("src/models.Repo", EdgeKind.IMPLEMENTS)}
    # Store is not imported in models.ts: a name-match guess; api is unknown: external
    assert implements == {("src/store.Store", NAME_MATCH, 0.5), ("api.Closeable", EXTERNAL, 0.3)}
    assert graph.targets("src/models.Repo", EdgeKind.INHERITS) == {"src/ids.Base"}


def test_typescript_calls_across_files() -> None:
    graph = _graph()
    load = {e.name: (n.qualified_name, e.resolution)
            for n, e in graph.out("src/services/user.service.UserRepo.load", EdgeKind.CALLS)}
    assert load == {
        "close": ("src/models.Repo.close", SAME_SCOPE),  # this.m() through the base class
        "base": ("src/ids.Base.base", SAME_SCOPE),  # two levels up
        "parse": ("src/models.parse", IMPORT),  # `.js` specifier for a .ts file
    }
    assert graph.targets("src/services/user.service.UserRepo.find", EdgeKind.CALLS) == {
        "src/models.Models.make"}  # namespace member
    assert graph.targets("src/models.Models.make", EdgeKind.CALLS) == {"build"}


def test_tsx_resolution_through_index_and_reexports() -> None:
    graph = _graph()
    calls = {e.name: (n.qualified_name, e.resolution, e.confidence)
             for n, e in graph.out("src/app/index.App", EdgeKind.CALLS)}
    assert calls["useState"] == ("react.useState", EXTERNAL, 1.0)
    # `export {UserRepo as Users} from` in services/index.ts
    assert calls["Users"] == ("src/services/user.service.UserRepo", IMPORT, 1.0)
    # `export * as models from '../models'`, then a member of that module
    assert calls["parse"] == ("src/models.parse", IMPORT, 1.0)
    refs = graph.targets("src/app/index.App", EdgeKind.REFERENCES)
    assert refs == {"src/ui/index.Button"}  # <Button /> via ui/index.tsx


def test_type_references_resolve() -> None:
    graph = _graph()
    refs = {n.qualified_name
            for n, _ in graph.out("src/services/user.service.UserRepo.find",
                                  EdgeKind.REFERENCES)}
    assert refs == {"src/ids.Id", "src/models.Entity"}
    handler = {(n.qualified_name, e.resolution)
               for n, e in graph.out("src/models.handler", EdgeKind.REFERENCES)}
    assert handler == {("Handler", EXTERNAL), ("src/models.Entity", SAME_SCOPE)}


def test_reexport_cycles_terminate() -> None:
    files = {
        "a.ts": b"export * from './b';\nexport const a = 1;\n",
        "b.ts": b"export * from './a';\n",
        "c.ts": b"import { a, zzz } from './b';\nexport const c = a;\n",
    }
    graph = build_graph("ts", files)
    imports = {(e.name, n.qualified_name, e.resolution)
               for n, e in graph.out("c", EdgeKind.IMPORTS)}
    assert imports == {("a", "a.a", IMPORT), ("zzz", "b.zzz", EXTERNAL)}


def test_local_export_aliases_and_exported_imports() -> None:
    files = {
        "lib/core.ts": b"function impl() {}\nexport { impl as run };\n",
        "lib/facade.ts": b"import { run } from './core';\nexport { run as start };\n",
        "main.ts": b"import { start } from './lib/facade';\nstart();\n",
    }
    graph = build_graph("ts", files)
    edges = [(n.qualified_name, e.resolution) for n, e in graph.out("main", EdgeKind.CALLS)]
    assert edges == [("lib/core.impl", IMPORT)]
