"""What receivers in other files may be typed through: a file's definitions' declared types
and bases. When they change, the files that name those definitions are re-resolved
(``indexer.py``)."""

from __future__ import annotations

from typing import Any

from codegraph.parse.facts import FileFacts

# Keys of ``Definition.extra`` that other files' receivers are typed through: JS/TS's,
# then Python's (parse/langs/python.py). A function's ``locals`` matter to others only
# through its ``returned`` values, when no annotation says what it returns.
_TYPE_KEYS = ("fields", "returns", "type", "get", "this", "receiver",
              "params", "returned", "attrs", "spec", "decorators")


def typed_definitions(wire: list[Any] | None) -> set[tuple[str, str, str]]:
    """(name, its class's name or "", declared types and bases) of a file's definitions
    that declare types or bases: when one changes, files that name either may type a
    receiver differently."""
    if wire is None:
        return set()
    facts = FileFacts.from_wire(wire)
    defs = facts.definitions
    bases: dict[int, list[str]] = {}
    for ref in facts.references:
        if ref.kind == "inherits":
            bases.setdefault(ref.source, []).append(
                f"{ref.qualifier}.{ref.name}" if ref.qualifier else ref.name)
    out = set()
    for i, d in enumerate(defs):
        info = d.extra or {}
        typed = sorted((k, info[k]) for k in _TYPE_KEYS if k in info)
        if "returned" in info and "returns" not in info and "locals" in info:
            typed.append(("locals", info["locals"]))
        if i in bases:
            typed.append(("bases", bases[i]))
        if typed:
            parent = defs[d.parent].name if d.parent >= 0 else ""
            out.add((d.name, parent, repr(typed)))
    return out
