"""The languages CodeGraph parses: file extensions, grammar packages and per-language hooks.

Grammars are imported lazily, on first use, so the CLI starts fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    name: str
    extensions: tuple[str, ...]
    grammar_module: str  # the tree-sitter grammar wheel
    grammar_func: str  # its function returning the language pointer
    query_files: tuple[str, ...]  # under codegraph/parse/queries/, joined in this order
    hooks_module: str  # codegraph.parse.langs.<x>: parse_import() and optional postprocess()
    doc_style: str = "comments"  # "docstring" (Python) or "comments" (preceding comments)


def _spec(name: str, exts: tuple[str, ...], module: str, func: str = "language",
          queries: tuple[str, ...] = (), hooks: str | None = None,
          doc_style: str = "comments") -> LanguageSpec:
    return LanguageSpec(name, exts, module, func,
                        tuple(f"{q}.scm" for q in queries or (name,)),
                        f"codegraph.parse.langs.{hooks or name}", doc_style)


LANGUAGES: dict[str, LanguageSpec] = {
    s.name: s
    for s in (
        _spec("python", (".py", ".pyi"), "tree_sitter_python", doc_style="docstring"),
        _spec("javascript", (".js", ".mjs", ".cjs", ".jsx"), "tree_sitter_javascript",
              hooks="javascript"),
        _spec("typescript", (".ts", ".mts", ".cts"), "tree_sitter_typescript",
              "language_typescript", hooks="javascript"),
        _spec("tsx", (".tsx",), "tree_sitter_typescript", "language_tsx",
              queries=("typescript", "tsx"), hooks="javascript"),
        _spec("go", (".go",), "tree_sitter_go"),
        _spec("rust", (".rs",), "tree_sitter_rust"),
        _spec("java", (".java",), "tree_sitter_java"),
        _spec("c", (".c", ".h"), "tree_sitter_c"),
        _spec("cpp", (".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++"),
              "tree_sitter_cpp"),
        _spec("csharp", (".cs",), "tree_sitter_c_sharp"),
        _spec("ruby", (".rb", ".rake", ".gemspec"), "tree_sitter_ruby"),
        _spec("php", (".php",), "tree_sitter_php", "language_php"),
    )
}

_BY_EXTENSION: dict[str, str] = {
    ext: spec.name for spec in LANGUAGES.values() for ext in spec.extensions
}


def language_for_path(path: str) -> str | None:
    """The language of a file, from its extension; None if CodeGraph does not parse it."""
    _, ext = os.path.splitext(path)
    return _BY_EXTENSION.get(ext.lower())
