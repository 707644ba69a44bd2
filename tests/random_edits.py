"""Seeded random edits of a real source tree, for the incremental-equals-clean property test.

Each edit is one of the changes a developer makes between two index runs: a function body
edited, a definition renamed, a method added or removed, a class attribute that shadows a
method (Django's ``as_manager = classmethod(as_manager)``), an import changed, a file added,
deleted or moved, a package's ``__init__.py`` added or removed, a file saved unchanged.
Python edits are checked with ``ast.parse`` (an edit that would not parse is tried on
another candidate); JavaScript edits only insert or rename whole lines that parse.
"""

from __future__ import annotations

import ast
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from helpers import touch_later

PY_DEF = re.compile(r"^(\s*)(?:async\s+)?def (\w+)\(.*\)\s*(?:->.*)?:\s*(?:#.*)?$")
PY_CLASS = re.compile(r"^(\s*)class (\w+)\b.*:\s*$")
PY_FROM = re.compile(r"^from ([\w.]+) import (\w+)(?: as \w+)?\s*$")
JS_FUNCTION = re.compile(r"^(\s*)function (\w+)\(.*\)\s*\{\s*$")
# Names that Python and JavaScript files alike leave to an external node of the same name.
SHARED_EXTERNALS = ("json", "path", "events", "util")


@dataclass(slots=True)
class Edit:
    kind: str
    paths: list[str]  # the repo-relative paths it changed (what a watcher would report)
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class Editor:
    """Applies seeded random edits under ``root``; ``step()`` makes one and describes it."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rnd = random.Random(seed)
        self.count = 0
        self.removed_inits: list[str] = []
        self.operations: list[Callable[[], Edit | None]] = [
            self.edit_body, self.rename_definition, self.add_method, self.remove_method,
            self.shadow_method, self.change_import, self.add_file, self.delete_file,
            self.move_file, self.toggle_package, self.touch, self.edit_js_body,
            self.rename_js_function, self.add_js_file]
        self.round: list[Callable[[], Edit | None]] = []

    # -- the tree ---------------------------------------------------------------------
    def files(self, suffix: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob(f"*{suffix}")
                      if p.is_file())

    def read(self, rel: str) -> list[str]:
        return (self.root / rel).read_text().split("\n")

    def write(self, rel: str, lines: list[str]) -> None:
        path = self.root / rel
        if path.exists():
            touch_later(path, "\n".join(lines))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines))

    def defined_names(self) -> list[str]:
        names: set[str] = set()
        for rel in self.rnd.sample(self.files(".py"), 8):
            names.update(m.group(2) for line in self.read(rel) if (m := PY_DEF.match(line)))
        return sorted(names)

    def module_of(self, rel: str) -> str:
        parts = rel[: -len(".py")].split("/")
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def _python_edit(self, kind: str, change: Callable[[str, list[str]], tuple[list[str], str]
                                                       | None]) -> Edit | None:
        """Try ``change`` on random Python files until one gives lines that parse."""
        for rel in self.rnd.sample(self.files(".py"), 12):
            lines = self.read(rel)
            result = change(rel, lines)
            if result is None:
                continue
            new, detail = result
            try:
                ast.parse("\n".join(new))
            except SyntaxError:
                continue
            self.write(rel, new)
            return Edit(kind, [rel], f"{rel}: {detail}")
        return None

    def _matches(self, lines: list[str], pattern: re.Pattern[str]) -> list[int]:
        return [i for i, line in enumerate(lines) if pattern.match(line)]

    def _block_end(self, lines: list[str], start: int) -> int:
        """The index after the block that the line ``start`` opens."""
        indent = len(lines[start]) - len(lines[start].lstrip())
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or
                                    len(lines[end]) - len(lines[end].lstrip()) > indent):
            end += 1
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        return end

    # -- Python edits ---------------------------------------------------------------------
    def edit_body(self) -> Edit | None:
        callee = self.rnd.choice(self.defined_names())

        def change(rel: str, lines: list[str]) -> tuple[list[str], str] | None:
            found = self._matches(lines, PY_DEF)
            if not found:
                return None
            i = self.rnd.choice(found)
            indent = PY_DEF.match(lines[i]).group(1)  # type: ignore[union-attr]
            call = f"self.{callee}()" if indent and self.rnd.random() < 0.5 else f"{callee}()"
            return [*lines[:i + 1], f"{indent}    {call}", *lines[i + 1:]], f"line {i + 2} {call}"

        return self._python_edit("edit body", change)

    def rename_definition(self) -> Edit | None:
        self.count += 1

        def change(rel: str, lines: list[str]) -> tuple[list[str], str] | None:
            found = self._matches(lines, PY_DEF) + self._matches(lines, PY_CLASS)
            if not found:
                return None
            i = self.rnd.choice(found)
            m = PY_DEF.match(lines[i]) or PY_CLASS.match(lines[i])
            assert m is not None
            new = f"{m.group(2)}_r{self.count}"
            line = lines[i][:m.start(2)] + new + lines[i][m.end(2):]
            return [*lines[:i], line, *lines[i + 1:]], f"{m.group(2)} -> {new}"

        return self._python_edit("rename", change)

    def add_method(self) -> Edit | None:
        self.count += 1
        callee = self.rnd.choice(self.defined_names())

        def change(rel: str, lines: list[str]) -> tuple[list[str], str] | None:
            found = self._matches(lines, PY_CLASS)
            if not found:
                return None
            i = self.rnd.choice(found)
            indent = PY_CLASS.match(lines[i]).group(1)  # type: ignore[union-attr]
            name = self.rnd.choice([f"added_{self.count}", callee])
            method = [f"{indent}    def {name}(self):", f"{indent}        return self.{callee}()"]
            return lines[:i + 1] + method + lines[i + 1:], f"{name} in line {i + 1}"

        return self._python_edit("add method", change)

    def remove_method(self) -> Edit | None:
        def change(rel: str, lines: list[str]) -> tuple[list[str], str] | None:
            found = [i for i in self._matches(lines, PY_DEF) if lines[i].startswith("    ")]
            if not found:
                return None
            i = self.rnd.choice(found)
            start = i
            while start > 0 and lines[start - 1].strip().startswith("@"):
                start -= 1
            name = PY_DEF.match(lines[i]).group(2)  # type: ignore[union-attr]
            return lines[:start] + lines[self._block_end(lines, i):], f"{name} (line {i + 1})"

        return self._python_edit("remove method", change)

    def shadow_method(self) -> Edit | None:
        def change(rel: str, lines: list[str]) -> tuple[list[str], str] | None:
            found = [i for i in self._matches(lines, PY_DEF) if lines[i].startswith("    ")]
            if not found:
                return None
            i = self.rnd.choice(found)
            m = PY_DEF.match(lines[i])
            assert m is not None
            wrapper = self.rnd.choice(["classmethod", "staticmethod", "property"])
            end = self._block_end(lines, i)
            shadow = f"{m.group(1)}{m.group(2)} = {wrapper}({m.group(2)})"
            return [*lines[:end], "", shadow, *lines[end:]], shadow.strip()

        return self._python_edit("shadow method", change)

    def change_import(self) -> Edit | None:
        names = self.defined_names()
        modules = [self.module_of(p) for p in self.files(".py")]

        def change(rel: str, lines: list[str]) -> tuple[list[str], str] | None:
            found = self._matches(lines, PY_FROM)
            if not found:
                return None
            i = self.rnd.choice(found)
            m = PY_FROM.match(lines[i])
            assert m is not None
            if self.rnd.random() < 0.5:
                line = f"from {m.group(1)} import {self.rnd.choice(names)}"
            else:
                line = f"from {self.rnd.choice(modules)} import {m.group(2)}"
            return [*lines[:i], line, *lines[i + 1:]], f"{lines[i]!r} -> {line!r}"

        return self._python_edit("change import", change)

    def add_file(self) -> Edit | None:
        self.count += 1
        directory = self.rnd.choice(sorted({p.rpartition("/")[0] for p in self.files(".py")}))
        rel = f"{directory}/added_{self.count}.py"
        modules = [self.module_of(p) for p in self.rnd.sample(self.files(".py"), 3)]
        names = self.rnd.sample(self.defined_names(), 3)
        lines = [f"import {self.rnd.choice(SHARED_EXTERNALS)}",
                 f"import {modules[0]}", f"from {modules[1]} import {names[0]}",
                 f"from {modules[2]} import *", "", "",
                 f"class Added{self.count}:",
                 f"    def {names[1]}(self):", f"        return {names[0]}()", "",
                 f"    {names[1]} = classmethod({names[1]})", "", "",
                 f"def {names[2]}():", f"    return {modules[0]}.{names[1]}()"]
        self.write(rel, lines)
        return Edit("add file", [rel], rel)

    def add_js_file(self) -> Edit | None:
        self.count += 1
        js = self.files(".js")
        directory = self.rnd.choice(sorted({p.rpartition("/")[0] for p in js}))
        rel = f"{directory}/added_{self.count}.js"
        other = os.path.relpath(self.rnd.choice(js), directory)
        functions = self._js_functions(self.rnd.sample(js, min(3, len(js))))
        callee = self.rnd.choice(functions) if functions else "quickElement"
        lines = [f"import {self.rnd.choice(SHARED_EXTERNALS)} from "
                 f"'{self.rnd.choice(SHARED_EXTERNALS)}';",
                 f"import {{ {callee} }} from './{other}';", "",
                 f"export function added{self.count}() {{", f"    return {callee}();", "}", ""]
        self.write(rel, lines)
        return Edit("add file", [rel], rel)

    def delete_file(self) -> Edit | None:
        rel = self.rnd.choice(self.files(".py") + self.files(".js"))
        (self.root / rel).unlink()
        return Edit("delete file", [rel], rel)

    def move_file(self) -> Edit | None:
        self.count += 1
        suffix = self.rnd.choice([".py", ".py", ".js"])
        rel = self.rnd.choice(self.files(suffix))
        directory = self.rnd.choice(sorted({p.rpartition("/")[0] for p in self.files(suffix)}))
        stem = rel.rpartition("/")[2][: -len(suffix)]
        dest = f"{directory}/{stem}_m{self.count}{suffix}"
        os.rename(self.root / rel, self.root / dest)
        return Edit("move file", [rel, dest], f"{rel} -> {dest}")

    def toggle_package(self) -> Edit | None:
        if self.removed_inits and self.rnd.random() < 0.5:
            rel = self.removed_inits.pop()
            (self.root / rel).write_text("")
            return Edit("add __init__.py", [rel], rel)
        inits = [p for p in self.files("__init__.py") if p.count("/") >= 2]
        if not inits:
            return None
        rel = self.rnd.choice(inits)
        (self.root / rel).unlink()
        self.removed_inits.append(rel)
        return Edit("remove __init__.py", [rel], rel)

    def touch(self) -> Edit | None:
        rel = self.rnd.choice(self.files(".py") + self.files(".js"))
        touch_later(self.root / rel, (self.root / rel).read_text())
        return Edit("touch", [rel], rel)

    # -- JavaScript edits -------------------------------------------------------------------
    def _js_functions(self, paths: list[str]) -> list[str]:
        return sorted({m.group(2) for rel in paths for line in self.read(rel)
                       if (m := JS_FUNCTION.match(line))})

    def edit_js_body(self) -> Edit | None:
        js = self.files(".js")
        callees = self._js_functions(js) or ["quickElement"]
        for rel in self.rnd.sample(js, min(6, len(js))):
            lines = self.read(rel)
            found = self._matches(lines, JS_FUNCTION)
            if found:
                i = self.rnd.choice(found)
                indent = JS_FUNCTION.match(lines[i]).group(1)  # type: ignore[union-attr]
                call = f"{self.rnd.choice(callees)}();"
                self.write(rel, [*lines[:i + 1], f"{indent}    {call}", *lines[i + 1:]])
                return Edit("edit js body", [rel], f"{rel}: line {i + 2} {call}")
        return None

    def rename_js_function(self) -> Edit | None:
        self.count += 1
        js = self.files(".js")
        for rel in self.rnd.sample(js, min(6, len(js))):
            lines = self.read(rel)
            found = self._matches(lines, JS_FUNCTION)
            if found:
                i = self.rnd.choice(found)
                m = JS_FUNCTION.match(lines[i])
                assert m is not None
                new = f"{m.group(2)}_r{self.count}"
                lines[i] = lines[i][:m.start(2)] + new + lines[i][m.end(2):]
                self.write(rel, lines)
                return Edit("rename js function", [rel], f"{rel}: {m.group(2)} -> {new}")
        return None

    # -- one step ---------------------------------------------------------------------------
    def step(self) -> Edit:
        """The next edit: the operations in rounds, each round in a shuffled order (so
        that a few steps try every kind of edit)."""
        while True:
            if not self.round:
                self.round = self.rnd.sample(self.operations, len(self.operations))
            edit = self.round.pop()()
            if edit is not None:
                return edit
