"""Deeply nested code: what indexing a file stores, and the memory it takes, grow with the
file's size, not with how deeply its definitions nest.
"""

from __future__ import annotations

from codegraph.graph.build import make_unit
from codegraph.graph.layout import RepoLayout
from codegraph.parse.extract import MAX_DEPTH, MAX_NAME, extract
from codegraph.parse.facts import FileFacts, Import
from codegraph.search.chunks import Chunk, file_chunks


def chunks_of(path: str, text: str) -> tuple[FileFacts, list[Chunk]]:
    source = text.encode()
    language = {"py": "python", "js": "javascript", "java": "java"}[path.rpartition(".")[2]]
    facts = extract(source, language)
    unit = make_unit("r", path, facts, RepoLayout("", {path})).unit
    return facts, file_chunks("r", path, facts, unit.def_ids, unit.def_qnames,
                              unit.module_id, unit.module, source)


def test_definitions_deeper_than_the_bound_fold_into_their_ancestor() -> None:
    depth = MAX_DEPTH + 8
    text = "".join(f"function f{i}(){{\n" for i in range(depth)) + "work();\n" \
        + "}\n" * depth
    facts = extract(text.encode(), "javascript")
    assert [d.name for d in facts.definitions] == [f"f{i}" for i in range(MAX_DEPTH)]
    assert facts.folded == 8
    (call,) = facts.calls
    assert (call.name, call.caller) == ("work", MAX_DEPTH - 1)  # the deepest one kept
    assert FileFacts.from_wire(facts.to_wire()).folded == 8
    assert FileFacts.from_wire(facts.to_wire()[:8]).folded == 0  # stored before the field


def test_a_long_name_is_stored_once_not_once_per_member() -> None:
    """A class's name is in each method's qualified name (and chunk header): names are cut
    at MAX_NAME characters, so a 40,000-character one cannot be stored a thousand times."""
    name = "A" * 40_000
    text = f"class {name} {{\n" + "".join(f"  m{i}() {{ {name}() }}\n" for i in range(3)) \
        + "".join(f"  n{i}() {{}}\n" for i in range(1000)) + "}\n"
    facts, chunks = chunks_of("long.js", text)
    assert facts.definitions[0].name == "A" * MAX_NAME
    assert {c.name for c in facts.calls} == {"A" * MAX_NAME}  # still its name
    assert max(len(c.qualified_name) for c in chunks) <= MAX_NAME + 20
    assert sum(len(c.text) for c in chunks) <= 2 * len(text) + 1000 * 2 * MAX_NAME


def test_a_deeply_nested_rust_use_tree() -> None:
    """Nested use lists were walked by recursion: a thousand levels overflowed it."""
    depth = 3000
    text = "use " + "a::{" * depth + "b" + "}" * depth + ";\n"
    facts = extract(text.encode(), "rust")
    assert [(i.module, i.name) for i in facts.imports] == [("::".join(["a"] * depth), "b")]
    text = "use a::{b::{c, d as e}, f::*, g};\n"
    assert extract(text.encode(), "rust").imports == [
        Import("a::b", "c", None, 1), Import("a::b", "d", "e", 1),
        Import("a::f", None, None, 1, wildcard=True), Import("a", "g", None, 1)]
