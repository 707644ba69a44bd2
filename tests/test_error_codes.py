"""The API's error codes are those docs/server.md lists, with the same statuses: a code
added, renamed or dropped in the source fails here until the docs say so too."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _in_source() -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / "src" / "codegraph" / "server").rglob("*.py"):
        text = path.read_text()
        found |= {(status, code) for status, code in
                  re.findall(r'ApiError\(\s*(\d{3}),\s*"(\w+)"', text)}
        # the mapping of the error kinds (server/errors.py: STATUSES)
        found |= set(re.findall(r'^\s*\(\w+, (\d{3}), "(\w+)"\),$', text, flags=re.M))
        for mapping in re.findall(r"\{(\d{3}: \"\w+\"(?:, \d{3}: \"\w+\")*)\}\.get\(status, "
                                  r"\"(\w+)\"\)", text):
            pairs, fallback = mapping
            found |= set(re.findall(r'(\d{3}): "(\w+)"', pairs))
            found.add(("4xx", fallback))
    return found


def _in_docs() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "server.md").read_text()
    return set(re.findall(r"^\s*\| (\d{3}|4xx) \| `(\w+)` \|", text, flags=re.M))


def test_every_error_code_is_documented_with_its_status() -> None:
    source, docs = _in_source(), _in_docs()
    assert len(source) >= 14
    assert source == docs, {"undocumented": source - docs, "not in the code": docs - source}
