"""TypeScript receiver types: a method call on a receiver typed by an annotation (parameter,
variable, return type), a class field, a constructor parameter property or a ``new``
resolves to the type's method (through project bases) as ``inferred``; a type outside the
project gives a known external edge; only an unknown receiver is guessed."""

from __future__ import annotations

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import (
    EXTERNAL,
    EXTERNAL_KNOWN,
    INFERRED,
    SAME_SCOPE,
    EdgeKind,
)

SERVICES = b"""\
export class Base {
  start(): void {}
}
export class Service extends Base {
  run(): number { return 1; }
  get next(): Service { return this; }
  self(): this { return this; }
  async later(): Promise<Service> { return this; }
}
export interface Store {
  load(id: string): Service;
}
export function make(): Service { return new Service(); }
export class Other {
  run(): number { return 2; }
}
"""


def _graph(main: bytes) -> Graph:
    return build_graph("ts", {"src/services.ts": SERVICES, "src/main.ts": main})


def _calls(graph: Graph, qname: str) -> list[tuple[str, str, str, float]]:
    return [(e.name, n.qualified_name, e.resolution, e.confidence)
            for n, e in graph.out(qname, EdgeKind.CALLS)]


def _targets(graph: Graph, qname: str) -> list[tuple[str, str, str]]:
    return [(e.name, n.qualified_name, e.resolution) for n, e in graph.out(qname, EdgeKind.CALLS)]


S = "src/services"


def test_parameter_variable_and_new_annotations() -> None:
    graph = _graph(b"""\
import { Service, Store } from './services';
export function use(svc: Service, store: Store | undefined) {
  svc.run();
  svc.start();
  store!.load('a').run();
  const s: Service = pick();
  s.run();
  let t = new Service();
  t.run();
}
""")
    assert _targets(graph, "src/main.use") == [
        ("run", f"{S}.Service.run", INFERRED),
        ("start", f"{S}.Base.start", INFERRED),  # through the project base
        ("load", f"{S}.Store.load", INFERRED),  # an interface's method
        ("run", f"{S}.Service.run", INFERRED),  # its return type
        ("pick", "pick", EXTERNAL),
        ("run", f"{S}.Service.run", INFERRED),
        ("Service", f"{S}.Service", "import"),
        ("run", f"{S}.Service.run", INFERRED),
    ]


def test_fields_parameter_properties_getters_and_returns() -> None:
    graph = _graph(b"""\
import { Service, make } from './services';
class Controller {
  private other = new Service();
  helper: Service;
  constructor(private readonly svc: Service) {}
  go() {
    this.svc.run();
    this.other.run();
    this.helper.start();
    this.svc.next.run();
    this.svc.self().run();
    make().run();
    this.make().start();
  }
  make(): Service { return make(); }
  async wait() {
    const s = await this.svc.later();
    s.run();
  }
}
""")
    go = _targets(graph, "src/main.Controller.go")
    assert go == [
        ("run", f"{S}.Service.run", INFERRED),
        ("run", f"{S}.Service.run", INFERRED),
        ("start", f"{S}.Base.start", INFERRED),
        ("run", f"{S}.Service.run", INFERRED),  # a getter's type
        ("self", f"{S}.Service.self", INFERRED),
        ("run", f"{S}.Service.run", INFERRED),  # `this` as the return type
        ("make", f"{S}.make", "import"),
        ("run", f"{S}.Service.run", INFERRED),
        ("make", "src/main.Controller.make", SAME_SCOPE),
        ("start", f"{S}.Base.start", INFERRED),
    ]
    wait = _targets(graph, "src/main.Controller.wait")
    assert wait[-1] == ("run", f"{S}.Service.run", INFERRED)  # awaited Promise<Service>


def test_types_outside_the_project_are_known_externals() -> None:
    graph = _graph(b"""\
import { Request } from 'express';
import { EventEmitter } from 'events';
class Bus extends EventEmitter {
  fire(names: string[], index: Map<string, number>, req: Request, text: string) {
    names.map(String);
    index.get('a');
    req.get('host');
    text.trim();
    this.emit('fired');
    const p = Promise.resolve(1);
    p.then(String);
  }
}
""")
    calls = [(name, target, resolution, conf)
             for name, target, resolution, conf in _calls(graph, "src/main.Bus.fire")]
    assert calls == [
        ("map", "globalThis.Array.map", EXTERNAL, EXTERNAL_KNOWN),
        ("get", "globalThis.Map.get", EXTERNAL, EXTERNAL_KNOWN),
        ("get", "express.Request.get", EXTERNAL, EXTERNAL_KNOWN),
        ("trim", "globalThis.String.trim", EXTERNAL, EXTERNAL_KNOWN),
        ("emit", "events.EventEmitter.emit", EXTERNAL, EXTERNAL_KNOWN),  # external base
        ("resolve", "globalThis.Promise.resolve", EXTERNAL, EXTERNAL_KNOWN),
        ("then", "then", EXTERNAL, 0.3),  # return types of the globals are not known
    ]


def test_unknown_receivers_are_guessed_known_ones_are_not() -> None:
    graph = _graph(b"""\
import { Service } from './services';
export function use(svc: Service, thing: any, data) {
  svc.missing();
  thing.run();
  data.run();
}
""")
    calls = _calls(graph, "src/main.use")
    # a project type without that method: unresolved, not a guess
    assert calls[0] == ("missing", f"{S}.Service.missing", EXTERNAL, 0.3)
    # of unknown type, with nothing but the name to go on: unresolved, not guessed
    assert {(target, resolution) for _, target, resolution, _ in calls[1:]} == {
        ("run", EXTERNAL)}


def test_local_type_hides_an_import() -> None:
    graph = _graph(b"""\
import { Service as svc } from './services';
import { Other } from './services';
export function use() {
  const svc = new Other();
  svc.run();
}
""")
    assert _targets(graph, "src/main.use")[-1] == ("run", f"{S}.Other.run", INFERRED)


def test_this_parameters_unions_literals_and_interface_properties() -> None:
    graph = _graph(b"""\
import { Service, Other, Base } from './services';
interface Holder { svc: Service; run(): void }
export function make_(this: Service, pick: Service | Other | null, h: Holder) {
  this.run();
  pick!.start();
  h.svc.run();
  [1, 2].forEach(String);
  'a b'.split(' ');
}
""")
    assert _targets(graph, "src/main.make_") == [
        ("run", f"{S}.Service.run", INFERRED),  # `this:` parameter
        ("start", f"{S}.Base.start", INFERRED),  # the one member of the union that has it
        ("run", f"{S}.Service.run", INFERRED),  # an interface's property
        ("forEach", "globalThis.Array.forEach", EXTERNAL),
        ("split", "globalThis.String.split", EXTERNAL),
    ]


def test_containers_elements_and_other_files_initialisers() -> None:
    files = {
        "src/services.ts": SERVICES,
        "src/registry.ts": b"""\
import { make } from './services';
export const shared = make();
""",
        "src/main.ts": b"""\
import { Service } from './services';
import { shared } from './registry';
export function use(byId: Map<string, Service>, all: Service[]) {
  byId.get('a')!.run();
  all.forEach(s => s.start());
  all.filter(Boolean).find(Boolean)!.run();
  shared.run();
}
""",
    }
    graph = build_graph("ts", files)
    assert _targets(graph, "src/main.use") == [
        ("get", "globalThis.Map.get", EXTERNAL),
        ("run", f"{S}.Service.run", INFERRED),  # what Map<string, Service>.get gives
        ("forEach", "globalThis.Array.forEach", EXTERNAL),
        ("start", f"{S}.Base.start", INFERRED),  # the callback's parameter: an element
        ("filter", "globalThis.Array.filter", EXTERNAL),
        ("find", "globalThis.Array.find", EXTERNAL),
        ("run", f"{S}.Service.run", INFERRED),
        ("run", f"{S}.Service.run", INFERRED),  # `shared = make()` in another file
    ]
