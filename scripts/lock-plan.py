#!/usr/bin/env python3
"""Print the pinned requirements one image needs, from requirements.lock alone.

The lock (``uv pip compile --extra dev``) pins runtime and dev dependencies together; its
``# via`` comments say who needs each package. A package is in the runtime set when it is
one of pyproject's ``[project] dependencies`` or something in the runtime set needs it.
``--without A,B`` drops those packages and whatever only they needed (the minimal image);
``--dev`` adds the dev dependencies (the development image).

The Docker builds run this in their planner stage, so the dependency layers are keyed on
its output: changing pyproject's version or the app never reinstalls dependencies.

    python3 scripts/lock-plan.py [--dev] [--without A,B] requirements.lock pyproject.toml
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib

SELF = "codegraph (pyproject.toml)"


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """(name -> pin line, name -> names of what needs it)."""
    pins: dict[str, str] = {}
    via: dict[str, set[str]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not raw.startswith((" ", "#")):
            name = norm(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0])
            pins[name], via[name], current = line, set(), name
            continue
        comment = line.lstrip("#").strip()
        if comment.startswith("via"):
            comment = comment[3:].strip()
        if current and comment:
            via[current].add(comment if comment == SELF else norm(comment.split()[0]))
    return pins, via


def direct_runtime(pyproject: dict[str, object]) -> set[str]:
    project = pyproject.get("project")
    deps = project.get("dependencies", []) if isinstance(project, dict) else []
    return {norm(re.split(r"[=<>!~\[; ]", d, maxsplit=1)[0]) for d in deps}


def plan(pins: dict[str, str], via: dict[str, set[str]], roots: set[str]) -> list[str]:
    needed = set(roots) & set(pins)
    changed = True
    while changed:
        changed = False
        for name, parents in via.items():
            if name not in needed and parents & needed:
                needed.add(name)
                changed = True
    return sorted(needed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock")
    parser.add_argument("pyproject")
    parser.add_argument("--dev", action="store_true", help="runtime and dev dependencies")
    parser.add_argument("--without", default="", help="comma-separated packages to leave out")
    args = parser.parse_args(argv)
    with open(args.lock, encoding="utf-8") as f:
        pins, via = parse_lock(f.read())
    with open(args.pyproject, "rb") as fb:
        roots = direct_runtime(tomllib.load(fb))
    without = {norm(n) for n in args.without.split(",") if n.strip()}
    unknown = without - set(pins)
    if unknown:
        print(f"lock-plan: not in the lock: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.dev:  # every direct dependency of the project, dev ones included
        roots |= {n for n, parents in via.items() if SELF in parents}
    kept = {n: p - without for n, p in via.items() if n not in without}
    names = plan({n: v for n, v in pins.items() if n not in without}, kept, roots - without)
    missing = (roots - without) - set(pins)
    if missing:
        print(f"lock-plan: pyproject needs what the lock lacks: {', '.join(sorted(missing))}",
              file=sys.stderr)
        return 2
    print("\n".join(pins[n] for n in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
