"""The web UI in a real browser: Debian's headless Chromium driven by Playwright, against a
real server on 127.0.0.1 with a real index of a small tree. Search, open a symbol, follow
a caller, see the graph drawn (its nodes counted through Cytoscape's own API), keyboard
``/``, a phone-sized screen, the login form; no request leaves 127.0.0.1; screenshots go to
test-artifacts/ui/ (printed). Without Chromium or Playwright the tests skip loudly (in CI,
CODEGRAPH_STRICT_SKIPS=1 makes that a failure; .ci/run installs Debian's chromium)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from serverproc import ServerProcess, serve_tree
from uitree import TREE, node_id

pytestmark = pytest.mark.timeout(300)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "ui"
KEY = "browser-key-3"
PHONE = {"width": 390, "height": 844}


def _chromium() -> str:
    path = os.environ.get("CODEGRAPH_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")
    if not path:
        pytest.skip("no Chromium for the browser tests (apt-get install chromium, or set "
                    "CODEGRAPH_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (it is in the dev extra)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve_tree(tmp_path_factory.mktemp("ui-browser"), TREE) as proc:
        yield proc


class Watched:
    """A page whose every request is recorded (none may leave 127.0.0.1) and whose
    script errors fail the test."""

    def __init__(self, browser: Any, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.set_default_timeout(15_000)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    def close(self) -> None:
        self.context.close()
        hosts = {urlsplit(u).hostname for u in self.requests if not u.startswith("data:")}
        assert hosts <= {"127.0.0.1"}, sorted(self.requests)
        assert not self.errors, self.errors


@pytest.fixture
def tab(browser: Any) -> Iterator[Watched]:
    watched = Watched(browser, viewport={"width": 1280, "height": 900})
    yield watched
    watched.close()


def _graph_nodes(page: Any) -> int:
    page.wait_for_function("() => window.codegraphGraph && window.codegraphGraph.nodes()"
                           ".length > 0 && window.codegraphGraph.nodes()[0].renderedWidth() > 0")
    return int(page.evaluate("window.codegraphGraph.nodes().length"))


def test_search_symbol_caller_graph(tab: Watched, server: ServerProcess) -> None:
    page = tab.page
    page.goto(f"{server.url}/")
    assert page.locator("#repos").get_by_role("link", name="shop").is_visible()
    tab.shot("home")
    # Search from the box at the top.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("apply tax")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=apply+tax*")
    hits = page.locator("#hits li.hit")
    assert hits.count() >= 2
    assert page.locator("#hits .snippet .code").first.is_visible()  # highlighted snippet
    tab.shot("search")
    # Open the symbol.
    page.locator("#hits a.hit-name", has_text="pricing.apply_tax").click()
    page.wait_for_url(f"**/symbol/{node_id(server, 'apply_tax')}")
    assert "def apply_tax(amount)" in page.locator("#source").inner_text()
    assert page.evaluate("window.__pwned") is None  # the docstring's script stayed text
    tab.shot("symbol")
    # Follow a caller.
    page.locator("#callers").get_by_role("link", name="pricing.total_price").click()
    page.wait_for_url(f"**/symbol/{node_id(server, 'total_price')}")
    assert page.locator("#symbol-name").inner_text().startswith("shop.pricing.total_price")
    # The confidence filter applies on change.
    page.select_option("#min-confidence", "1.0")
    page.wait_for_url("**min_confidence=1.0")
    assert page.locator("#callees").get_by_role("link", name="pricing.apply_tax").count() == 0
    # The graph around it, two steps out: drawn by Cytoscape, every node of the page's data.
    page.goto(f"{server.url}/symbol/{node_id(server, 'apply_tax')}/graph?depth=2")
    drawn = _graph_nodes(page)
    listed = page.locator("#graph-nodes li").count()
    assert drawn == listed >= 4, (drawn, listed)  # apply_tax, total_price, checkout, refund
    labels = set(page.evaluate("window.codegraphGraph.nodes().map(n => n.data('label'))"))
    assert {"apply_tax", "total_price", "checkout", "refund"} <= labels
    tab.shot("graph")
    # Clicking a node opens its page.
    refund = node_id(server, "refund")
    box = page.evaluate("""id => {
        const node = window.codegraphGraph.getElementById(id);
        const frame = document.getElementById("graph").getBoundingClientRect();
        const at = node.renderedPosition();
        return [frame.x + at.x, frame.y + at.y];
    }""", refund)
    page.mouse.click(box[0], box[1])
    page.wait_for_url(f"**/symbol/{refund}")
    # The repository page.
    page.goto(f"{server.url}/repo/shop")
    assert page.locator("#file-count").inner_text().startswith("4")
    tab.shot("repo")


def test_phone_sized_screen(browser: Any, server: ServerProcess) -> None:
    phone = Watched(browser, viewport=PHONE, is_mobile=True, has_touch=True,
                    device_scale_factor=2)
    try:
        page = phone.page
        page.goto(f"{server.url}/symbol/{node_id(server, 'apply_tax')}")
        # Nothing wider than the screen but the tables and code, which scroll in place.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        assert page.locator("#q").is_visible()
        phone.shot("symbol-phone")
        page.goto(f"{server.url}/symbol/{node_id(server, 'apply_tax')}/graph")
        assert _graph_nodes(page) >= 2
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.shot("graph-phone")
        page.goto(f"{server.url}/search?q=tax")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.shot("search-phone")
    finally:
        phone.close()


def test_login_when_reads_need_the_key(browser: Any,
                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    with serve_tree(tmp_path_factory.mktemp("ui-browser-locked"), TREE, key=KEY) as server:
        tab = Watched(browser, viewport={"width": 1280, "height": 900})
        try:
            page = tab.page
            page.goto(f"{server.url}/repo/shop")
            page.wait_for_url("**/login?next=%2Frepo%2Fshop")
            page.fill("#key", "wrong")
            page.keyboard.press("Enter")
            page.locator("#login-failed").wait_for()  # a 401 page, the form again
            page.fill("#key", KEY)
            page.keyboard.press("Enter")
            page.wait_for_url("**/repo/shop")
            assert page.locator("#repo-name").inner_text() == "shop"
            cookie = next(c for c in tab.context.cookies() if c["name"] == "codegraph_key")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert page.evaluate("document.cookie") == ""  # not readable by scripts
            tab.shot("repo-after-login")
        finally:
            tab.close()
