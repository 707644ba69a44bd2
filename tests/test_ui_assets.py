"""The graph library the UI serves: the pinned version, fetched and checked by
scripts/fetch-ui-assets.py (``make`` runs it); missing, this fails (in CI too)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from codegraph.ui import render

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fetch-ui-assets.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_ui_assets", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pinned_library_is_in_place() -> None:
    script = _script()
    assert script.current(render.GRAPH_LIBRARY.parent), (
        f"{render.GRAPH_LIBRARY} is missing or not the pinned version: run {SCRIPT}")
    assert render.graph_library_present()
    head = render.GRAPH_LIBRARY.read_text(encoding="utf-8")[:2000].lower()
    assert "cytoscape" in head and script.VERSION in render.GRAPH_LIBRARY.with_name(
        "cytoscape.min.js.version").read_text()


def test_check_fails_where_the_file_is_missing_or_another(tmp_path: Path) -> None:
    check = [sys.executable, str(SCRIPT), "--check", "--dest", str(tmp_path)]
    out = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "run scripts/fetch-ui-assets.py" in out.stderr
    (tmp_path / "cytoscape.min.js").write_text("// not the library")
    (tmp_path / "cytoscape.min.js.version").write_text("cytoscape@0.0.1 sha512-x\n")
    assert subprocess.run(check, capture_output=True, timeout=60).returncode == 1
    # the right version's stamp, but a file changed since: not current either
    real = render.GRAPH_LIBRARY.with_name("cytoscape.min.js.version").read_text()
    (tmp_path / "cytoscape.min.js.version").write_text(real)
    (tmp_path / "cytoscape.min.js").write_bytes(render.GRAPH_LIBRARY.read_bytes()[:-10])
    assert subprocess.run(check, capture_output=True, timeout=60).returncode == 1
