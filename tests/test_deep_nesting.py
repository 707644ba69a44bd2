"""Deeply nested code: what indexing a file stores, and the memory it takes, grow with the
file's size, not with how deeply its definitions nest.
"""

from __future__ import annotations

from codegraph.parse.extract import extract
from codegraph.parse.facts import Import


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
