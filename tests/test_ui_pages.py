"""The web UI's pages against a real server on 127.0.0.1: each page answers with what the
index holds, hostile names and code are shown as text, bad input is a 4xx page (never a
5xx), and with the key needed for reads the pages need it too (``/login``'s cookie, which
the JSON API does not accept)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from codegraph.ui.routes import COOKIE
from serverproc import ServerProcess, serve_tree
from uitree import HOSTILE, TREE, node_id

pytestmark = pytest.mark.timeout(180)
KEY = "ui-key-7"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve_tree(tmp_path_factory.mktemp("ui"), TREE) as proc:
        yield proc


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve_tree(tmp_path_factory.mktemp("ui-locked"), TREE, key=KEY) as proc:
        yield proc


def _html(server: ServerProcess, url: str, status: int = 200, **params: str) -> str:
    r = server.client.get(url, params=params)
    assert r.status_code == status, (url, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    return r.text


def _no_markup_from_code(page: str) -> None:
    """Nothing from the indexed files became markup: no script but the UI's own files
    (src=/ui/static/...) and the graph's JSON, no element with an onerror handler."""
    for tag in re.findall(r"<script[^>]*>", page):
        assert 'src="/ui/static/' in tag or 'type="application/json"' in tag, tag
    assert "onerror=" not in page.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
    assert "<img" not in page


def test_home_lists_the_repository(server: ServerProcess) -> None:
    page = _html(server, "/")
    assert '<a href="/repo/shop">shop</a>' in page
    assert 'id="q"' in page and "/ui/static/ui.js" in page


def test_search_shows_hits_with_snippets_and_scores(server: ServerProcess) -> None:
    page = _html(server, "/search", q="tax", mode="lexical")
    apply_tax = node_id(server, "apply_tax")
    assert f'href="/symbol/{apply_tax}"' in page
    assert "pricing.py:6" in page  # the path and lines
    assert 'class="code"' in page  # a highlighted snippet, numbered lines
    assert "lexical #1" in page and "fused" in page  # why it ranked
    assert re.search(r'<span class="[^"]*-Match">tax</span>', page)  # the word, marked
    _no_markup_from_code(page)
    filtered = _html(server, "/search", q="tax", mode="lexical", path="shop/checkout.py")
    assert "checkout.refund" in filtered and "pricing.apply_tax" not in filtered
    assert "No hits" in _html(server, "/search", q="tax", mode="lexical", kind="class")


def test_symbol_page_shows_source_and_relations(server: ServerProcess) -> None:
    apply_tax = node_id(server, "apply_tax")
    total_price = node_id(server, "total_price")
    page = _html(server, f"/symbol/{apply_tax}")
    assert "def apply_tax(amount)" in page  # the signature
    assert '<a href="#L-6">6</a>' in page or 'href="#L-6"' in page  # numbered from line 6
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page  # the docstring, as text
    callers = page.split('id="callers"')[1].split("</section>")[0]
    assert f'href="/symbol/{total_price}"' in callers
    assert "same_scope" in callers and "0.90" in callers and "unresolved" in callers
    for section in ("callees", "references", "impact"):
        assert f'id="{section}"' in page
    _no_markup_from_code(page)
    # The confidence filter: a caller at 0.9 stays at 0.9, goes at 1.0.
    assert f'/symbol/{total_price}"' in _html(server, f"/symbol/{apply_tax}",
                                              min_confidence="0.9").split('id="callers"')[1]
    kept = _html(server, f"/symbol/{apply_tax}", min_confidence="1").split('id="callers"')[1]
    assert f'/symbol/{total_price}"' not in kept.split("</section>")[0]


def test_a_name_lists_its_definitions(server: ServerProcess) -> None:
    page = _html(server, "/symbol/apply_tax")
    assert f'href="/symbol/{node_id(server, "apply_tax")}"' in page


def test_graph_page_embeds_the_neighbourhood(server: ServerProcess) -> None:
    apply_tax = node_id(server, "apply_tax")
    page = _html(server, f"/symbol/{apply_tax}/graph", depth="2")
    assert '<script src="/ui/static/vendor/cytoscape.min.js"' in page
    data = page.split('id="graph-data">')[1].split("</script>")[0]
    for name in ("apply_tax", "total_price", "checkout", "refund"):
        assert f'"label": "{name}"' in data, name
    library = server.client.get("/ui/static/vendor/cytoscape.min.js")
    assert library.status_code == 200 and len(library.content) > 100_000  # the real thing
    assert "cytoscape" in library.text[:2000].lower()


def test_repo_page_shows_the_figures(server: ServerProcess) -> None:
    page = _html(server, "/repo/shop")
    stats = server.client.get("/api/v1/stats", params={"repo": "shop"}).json()
    assert f'<dd id="revision">{stats["revision"]}</dd>' in page
    assert f'id="file-count">{stats["files"]}' in page
    assert f'id="node-count">{stats["nodes"]}' in page
    assert f'id="edge-count">{stats["edges"]}' in page
    assert "python" in page and "shop/pricing.py" in page
    assert "chunks" in page.split('id="embedding"')[1]  # coverage
    assert 'id="no-cycles"' in page  # no import cycle in this tree
    # The hostile file name is listed, as text.
    assert "shop/&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;.py" in page
    assert HOSTILE not in page
    _no_markup_from_code(page)


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/symbol/0123456789abcdef", {}, 404),
    ("/symbol/no_such_name", {}, 404),
    ("/symbol/{apply_tax}", {"min_confidence": "2"}, 400),
    ("/symbol/{apply_tax}", {"min_confidence": "nan"}, 400),
    ("/symbol/{apply_tax}/graph", {"depth": "4"}, 400),
    ("/symbol/{apply_tax}/graph", {"depth": "x"}, 400),
    ("/symbol/not-an-id/graph", {}, 400),
    ("/search", {"q": "tax", "mode": "bogus"}, 400),
    ("/search", {"q": "tax", "page": "0"}, 400),
    ("/search", {"q": "tax", "page": "x"}, 400),
    ("/search", {"q": "tax", "kind": "<b>"}, 400),
    ("/search", {"q": "tax", "repo": "nope"}, 404),  # as on the API, MCP and the CLI
    ("/repo/nope", {}, 404),
    ("/repo/<script>", {}, 404),
])
def test_bad_input_is_a_4xx_page(server: ServerProcess, path: str, params: dict[str, str],
                                 status: int) -> None:
    url = path.replace("{apply_tax}", node_id(server, "apply_tax"))
    page = _html(server, url, status, **params)
    assert 'id="error-message"' in page
    assert "<script>" not in page.split("<main>")[1]  # echoed input is escaped


def test_pages_need_the_key_when_reads_do(locked: ServerProcess) -> None:
    client = locked.client
    r = client.get("/search", params={"q": "tax"})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fsearch%3Fq%3Dtax"
    assert client.get("/").status_code == 303
    assert client.get("/repo/shop").status_code == 303
    # The API's headers open the pages too.
    assert client.get("/repo/shop", headers={"X-API-Key": KEY}).status_code == 200
    # A wrong key: 401, no cookie.
    wrong = client.post("/login", data={"key": "nope", "next": "/repo/shop"})
    assert wrong.status_code == 401 and "login-failed" in wrong.text
    assert "set-cookie" not in wrong.headers
    # The right one: a cookie for this site only, and back to where it was going.
    ok = client.post("/login", data={"key": KEY, "next": "/repo/shop"})
    assert ok.status_code == 303 and ok.headers["location"] == "/repo/shop"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    jar = httpx.Client(base_url=locked.url, cookies=ok.cookies, timeout=30)
    with jar:
        assert jar.get("/repo/shop").status_code == 200
        assert "pricing.apply_tax" in jar.get("/search", params={"q": "tax"}).text
        # The cookie is the UI's only: the JSON API still wants the key in a header.
        assert jar.get("/api/v1/stats").status_code == 401
    # A stale cookie (the key was rotated) never hides a valid header.
    with httpx.Client(base_url=locked.url, cookies={COOKIE: "old-key"}, timeout=30) as stale:
        assert stale.get("/repo/shop").status_code == 303
        assert stale.get("/repo/shop", headers={"X-API-Key": KEY}).status_code == 200
    # Behind the stack's nginx (TLS there, X-Forwarded-Proto: https) the cookie is Secure.
    tls = client.post("/login", data={"key": KEY, "next": "/"},
                      headers={"X-Forwarded-Proto": "https"})
    assert "secure" in tls.headers["set-cookie"].lower()
    assert "secure" not in cookie
    with httpx.Client(base_url=locked.url, cookies=ok.cookies, timeout=30) as jar:
        out = jar.post("/logout")
        assert out.status_code == 303
        jar.cookies.clear()
        assert jar.get("/repo/shop").status_code == 303
    # Never sent back to another site.
    away = client.post("/login", data={"key": KEY, "next": "//evil.example/x"})
    assert away.headers["location"] == "/"


def test_login_needs_nothing_without_a_key(server: ServerProcess, tmp_path: Path) -> None:
    assert "needs no key" in _html(server, "/login")
    assert server.client.post("/login", data={"key": "x"}).status_code == 401


def test_graph_page_says_when_the_library_is_missing() -> None:
    """An installation without the fetched asset: the page says so and lists the nodes."""
    from codegraph.ui import render

    page = render.page("graph.html", node={"id": "ab" * 8, "name": "f", "qualified_name": "m.f"},
                       depth=1, nodes=1, edges=0, truncated=False, library=False,
                       elements=[{"data": {"id": "ab" * 8, "label": "f", "title": "m.f",
                                           "external": False}}])
    assert 'id="graph-missing"' in page and "scripts/fetch-ui-assets.py" in page
    assert "cytoscape.min.js\"" not in page and f'href="/symbol/{"ab" * 8}"' in page


HOSTILE_VALUES = ["\x00", "%", "[", "*" * 5000, "../..", "<script>x</script>", "'\"", "%ff",
                  "é" * 300, "-1", "1e309", " "]


def test_no_value_makes_a_5xx(server: ServerProcess) -> None:
    """Every parameter of every page, given hostile text: an answer, or a 4xx page."""
    apply_tax = node_id(server, "apply_tax")
    pages = {"/search": ("q", "mode", "repo", "language", "kind", "path", "page"),
             f"/symbol/{apply_tax}": ("min_confidence",),
             f"/symbol/{apply_tax}/graph": ("depth",), "/login": ("next",)}
    for url, names in pages.items():
        for name in names:
            for value in HOSTILE_VALUES:
                params = {"q": "tax", name: value} if url == "/search" else {name: value}
                r = server.client.get(url, params=params)
                assert r.status_code < 500, (url, name, value[:20], r.status_code)
                assert "<script>x</script>" not in r.text
    for value in HOSTILE_VALUES[1:]:
        for prefix in ("/symbol/", "/repo/"):
            r = server.client.get(prefix + quote(value, safe=""))
            assert r.status_code < 500, (prefix, value[:20], r.status_code)
            assert "<script>x</script>" not in r.text
