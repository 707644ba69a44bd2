"""Search end to end: real store, real local model, real FAISS, real SQLite FTS5.

Lexical, semantic and hybrid search through the library API and the CLI on small
multi-file, multi-language repositories: hit fields and score explanations, filters,
pagination, persistence, incremental re-embedding, model mismatch, partial coverage and
a failing embedding provider (an OpenAI-compatible server on 127.0.0.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codegraph.api import CodeGraph
from codegraph.search.service import MODES, EmbedReport, SearchError, faiss_path
from codegraph.search.vectors import VectorIndex
from helpers import (
    LoopbackHTTPServer,
    QuietHandler,
    cli_env,
    one_line_error,
    run_cli,
    touch_later,
    write_tree,
)

CART = '''\
"""The shopping cart."""

TAX_RATE = 0.2


class Cart:
    """A shopping cart holding products and their quantities."""

    def __init__(self):
        self.items = {}

    def add_item(self, sku, quantity=1):
        """Put a product into the cart."""
        self.items[sku] = self.items.get(sku, 0) + quantity

    def remove_item(self, sku):
        self.items.pop(sku, None)

    def total_price(self, prices):
        """Sum the price of every item in the cart, tax included."""
        subtotal = sum(prices[sku] * qty for sku, qty in self.items.items())
        return subtotal * (1 + TAX_RATE)


def apply_discount(amount, percent):
    """Reduce an amount by a percentage discount."""
    return amount * (100 - percent) / 100
'''
PAYMENT = '''\
from shop.cart import apply_discount


def charge_credit_card(card, amount, coupon=0):
    """Charge a credit card through the payment gateway."""
    total = apply_discount(amount, coupon)
    return gateway_post("/charges", {"card": card, "amount": total})


def refund_payment(transaction_id):
    """Give the money of a charge back to the customer."""
    return gateway_post("/refunds", {"transaction": transaction_id})


def validate_card_number(number):
    """Check a card number with the Luhn checksum."""
    digits = [int(d) for d in str(number)][::-1]
    odd = sum(digits[0::2])
    even = sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return (odd + even) % 10 == 0


def gateway_post(path, payload):
    return {"path": path, "payload": payload}
'''
HANDLERS = '''\
// HTTP handlers of the shop front end.

function renderCheckoutPage(cart) {
  const rows = cart.items.map((item) => `<li>${item.name}</li>`);
  return `<ul>${rows.join("")}</ul>`;
}

function handleLogin(request) {
  const { username, password } = request.body;
  return checkPassword(username, password) ? "welcome" : "denied";
}

async function fetchUserProfile(userId) {
  const response = await fetch(`/api/users/${userId}`);
  return response.json();
}
'''
STRINGS = '''\
package util

import "strings"

// ReverseString returns its argument with the characters in reverse order.
func ReverseString(s string) string {
\trunes := []rune(s)
\tfor i, j := 0, len(runes)-1; i < j; i, j = i+1, j-1 {
\t\trunes[i], runes[j] = runes[j], runes[i]
\t}
\treturn string(runes)
}

// Slugify turns a title into a lowercase URL slug.
func Slugify(title string) string {
\treturn strings.ReplaceAll(strings.ToLower(strings.TrimSpace(title)), " ", "-")
}
'''
SHOP = {"shop/__init__.py": "", "shop/cart.py": CART, "shop/payment.py": PAYMENT,
        "shop/web/handlers.js": HANDLERS, "shop/util/strings.go": STRINGS}

CONFIG = '''\
def parse_config(path):
    """Read an INI-like file of key=value lines into a dict of settings."""
    settings = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                key, value = line.split("=", 1)
                settings[key.strip()] = value.strip()
    return settings


def write_config(path, settings):
    with open(path, "w") as f:
        for key, value in sorted(settings.items()):
            f.write(f"{key}={value}\\n")
'''
NET = '''\
import time
import urllib.request


def download_file(url, dest):
    """Fetch a URL and save the response body to a local file."""
    with urllib.request.urlopen(url) as response, open(dest, "wb") as out:
        out.write(response.read())


def retry_request(fn, attempts=5):
    """Call fn again after failures, waiting twice as long each time."""
    for attempt in range(attempts):
        try:
            return fn()
        except OSError:
            time.sleep(2 ** attempt)
    raise RuntimeError("gave up")
'''
TOOLS = {"tools/__init__.py": "", "tools/config.py": CONFIG, "tools/net.py": NET}

NODE_FIELDS = ("id", "name", "qualified_name", "kind", "language", "repo", "path", "line",
               "end_line")
# Queries whose results the module's store must give again after a close and reopen.
PROBES = [("sum the price of every item in the cart", "hybrid"),
          ("luhn checksum of a card number", "semantic"),
          ("config settings", "lexical"),
          ("retry a failed request with exponential backoff", "hybrid")]


def qnames(found: dict[str, Any]) -> list[str]:
    return [r["qualified_name"] for r in found["results"]]


def stored_chunks(cg: CodeGraph) -> dict[str, tuple[str, str]]:
    """chunk id -> (path, hash) of every chunk in the graph store."""
    return {c.id: (c.path, c.hash) for c in cg.search_service().chunks()}


@pytest.fixture(scope="module", autouse=True)
def _default_search_config() -> Iterator[None]:
    """The defaults (local model, faiss/ in the data dir) whatever the environment says."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("EMBEDDING_PROVIDER", "EMBEDDING_MODEL_PATH", "FAISS_INDEX_PATH"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two repositories indexed and embedded by one writer, which is then closed; the
    results of PROBES before the close."""
    base = tmp_path_factory.mktemp("search")
    shop = write_tree(base / "shop-repo", SHOP)
    tools = write_tree(base / "tools-repo", TOOLS)
    data = base / "data"
    with CodeGraph.open(str(data)) as cg:
        for path, name in ((shop, "shop"), (tools, "tools")):
            report = cg.index(str(path), name=name, workers=1)
            assert report.failed == 0 and report.problems == []
        embed = cg.embed()
        before = {probe: cg.search(probe[0], mode=probe[1]) for probe in PROBES}
        coverage = cg.stats()["search"]
    return {"data": data, "shop": shop, "tools": tools, "embed": embed, "before": before,
            "coverage": coverage}


@pytest.fixture(scope="module")
def cg(built: dict[str, Any]) -> Iterator[CodeGraph]:
    """A new reader of the built store (a new CodeGraph and SearchService)."""
    with CodeGraph.open(str(built["data"]), readonly=True) as graph:
        yield graph


# -- hits, scores and the three modes ------------------------------------------------------


def test_the_build_embedded_every_chunk(built: dict[str, Any]) -> None:
    report: EmbedReport = built["embed"]
    assert report.failed == 0 and report.error == ""
    assert report.total >= 15 and report.embedded == report.total and report.cached == 0
    cov = built["coverage"]
    assert (cov["chunks"], cov["embedded"]) == (report.total, report.total)
    assert (cov["provider"], cov["model"]) == ("local", report.model)
    assert cov["embedding_failures"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_hits_have_node_fields_and_explained_scores(cg: CodeGraph, mode: str) -> None:
    found = cg.search("sum the price of every item in the cart", mode=mode, limit=5)
    assert found["mode"] == mode
    assert ("coverage" in found) == (mode != "lexical")
    results = found["results"]
    assert results and len(results) <= 5
    assert results[0]["qualified_name"] == "shop.cart.Cart.total_price"
    for hit in results:
        for name in NODE_FIELDS:
            assert hit[name] not in (None, ""), (name, hit)
        assert hit["line"] <= hit["end_line"]
        assert hit["chunk"]["line"] >= hit["line"] and hit["chunk"]["end_line"] <= hit["end_line"]
        scores = hit["scores"]
        assert scores["fused"] == hit["score"] > 0
        components = {k for k, v in scores.items() if isinstance(v, dict)}
        assert components <= {"lexical", "semantic"} and components
        if mode != "hybrid":
            assert components == {mode}
        for name in components:
            assert scores[name]["rank"] >= 1 and isinstance(scores[name]["score"], float)
    assert [h["score"] for h in results] == sorted((h["score"] for h in results), reverse=True)
    assert len({h["id"] for h in results}) == len(results)  # one hit per definition


def test_hybrid_explains_both_components_with_their_own_ranks(cg: CodeGraph) -> None:
    query = "sum the price of every item in the cart"
    hybrid = cg.search(query, mode="hybrid", limit=10)["results"]
    top = hybrid[0]["scores"]
    assert {"lexical", "semantic"} <= set(top)
    assert top["lexical"]["rank"] == 1 and top["semantic"]["rank"] == 1
    # Each component is what that ranking alone says about the same chunk.
    alone = {mode: {h["chunk"]["id"]: h["scores"][mode] for h in
                    cg.search(query, mode=mode, limit=50)["results"]}
             for mode in ("lexical", "semantic")}
    both = 0
    for hit in hybrid:
        for mode in ("lexical", "semantic"):
            if mode in hit["scores"]:
                assert hit["scores"][mode] == alone[mode][hit["chunk"]["id"]]
        both += {"lexical", "semantic"} <= set(hit["scores"])
    assert both >= 2


def test_each_mode_finds_what_it_is_good_at(cg: CodeGraph) -> None:
    # An identifier: lexical.
    assert qnames(cg.search("fetchUserProfile", mode="lexical"))[0] == \
        "shop/web/handlers.fetchUserProfile"
    # Words that are not in the code: only the meaning matches.
    semantic = qnames(cg.search("verify a credit card number checksum", mode="semantic",
                                limit=3))
    assert "shop.payment.validate_card_number" in semantic
    hybrid = qnames(cg.search("turn a headline into a url slug", mode="hybrid", limit=3))
    assert "shop/util.Slugify" in hybrid


def test_queries_that_cannot_be_answered(cg: CodeGraph) -> None:
    with pytest.raises(SearchError, match="mode must be one of"):
        cg.search("cart", mode="fuzzy")
    with pytest.raises(SearchError, match="limit must be at least 1"):
        cg.search("cart", limit=0)
    with pytest.raises(SearchError, match="offset"):
        cg.search("cart", offset=-1)
    with pytest.raises(SearchError, match="empty"):
        cg.search("   ")
    assert cg.search("the of and", mode="lexical")["results"] == []  # only stop words


# -- filters and pagination ----------------------------------------------------------------


FILTERS: list[tuple[dict[str, str], str, Any]] = [
    ({"repo": "tools"}, "repo", "tools"),
    ({"language": "javascript"}, "language", "javascript"),
    ({"language": "go"}, "language", "go"),
    ({"kind": "method"}, "kind", "method"),
    ({"path": "shop/web/*"}, "path", "shop/web/handlers.js"),
    ({"path": "*/payment.py", "kind": "function"}, "path", "shop/payment.py"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("options", "field", "value"), FILTERS,
                         ids=[",".join(f[0]) + "=" + ",".join(f[0].values()) for f in FILTERS])
def test_filters(cg: CodeGraph, mode: str, options: dict[str, str], field: str,
                 value: str) -> None:
    # A query that matches something everywhere: lexical needs a shared term.
    query = "return the cart item settings user string card"
    found = cg.search(query, mode=mode, limit=50, **options)["results"]
    assert found, (mode, options)
    assert {h[field] for h in found} == {value}
    if "kind" in options:
        assert {h["kind"] for h in found} == {options["kind"]}
    unfiltered = cg.search(query, mode=mode, limit=50)["results"]
    assert len(unfiltered) > len(found)


def test_filter_that_matches_nothing(cg: CodeGraph) -> None:
    for mode in MODES:
        assert cg.search("cart", mode=mode, repo="nope")["results"] == []
        assert cg.search("cart", mode=mode, language="rust")["results"] == []


@pytest.mark.parametrize("mode", MODES)
def test_pages_are_disjoint_stable_and_add_up(cg: CodeGraph, mode: str) -> None:
    query = "return the cart item price amount settings"
    whole = [h["id"] for h in cg.search(query, mode=mode, limit=9)["results"]]
    assert len(whole) == 9
    pages = [[h["id"] for h in cg.search(query, mode=mode, limit=3, offset=o)["results"]]
             for o in (0, 3, 6)]
    assert all(len(p) == 3 for p in pages)
    flat = [i for p in pages for i in p]
    assert len(set(flat)) == 9  # disjoint
    assert flat == whole
    again = [[h["id"] for h in cg.search(query, mode=mode, limit=3, offset=o)["results"]]
             for o in (0, 3, 6)]
    assert again == pages  # stable
    far = cg.search(query, mode=mode, limit=5, offset=1000)["results"]
    assert far == []


# -- persistence ---------------------------------------------------------------------------


def test_results_survive_close_and_reopen(built: dict[str, Any], cg: CodeGraph) -> None:
    for (query, mode), before in built["before"].items():
        after = cg.search(query, mode=mode)
        assert after == before, (query, mode)
        assert after["results"]
    assert cg.stats()["search"] == built["coverage"]


def test_similar(cg: CodeGraph) -> None:
    found = cg.similar("shop.payment.charge_credit_card", limit=4)
    assert 0 < len(found) <= 4
    names = [h["qualified_name"] for h in found]
    assert "shop.payment.charge_credit_card" not in names
    assert "shop.payment.refund_payment" in names
    for hit in found:
        assert all(hit[f] not in (None, "") for f in NODE_FIELDS)
        assert set(hit["scores"]) >= {"semantic", "fused"}


# -- incremental re-embedding --------------------------------------------------------------


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[CodeGraph, Path]]:
    repo = write_tree(tmp_path / "shop-repo", SHOP)
    with CodeGraph.open(str(tmp_path / "data")) as graph:
        graph.index(str(repo), name="shop", workers=1)
        yield graph, repo


def vectors_of(cg: CodeGraph, ids: Any) -> dict[str, Any]:
    vectors = cg.search_service().vectors()
    return {i: vectors.vector(i) for i in ids}


def test_one_edit_re_embeds_only_its_changed_chunks(writer: tuple[CodeGraph, Path]) -> None:
    cg, repo = writer
    first = cg.embed()
    assert first.embedded == first.total and first.failed == 0
    before = stored_chunks(cg)
    old_vectors = vectors_of(cg, before)
    # Edit one method's body (two more lines, so later definitions move down).
    edited = CART.replace("        return subtotal * (1 + TAX_RATE)\n",
                          "        if subtotal < 0:\n            raise ValueError(prices)\n"
                          "        return subtotal * (1 + TAX_RATE)\n")
    touch_later(repo / "shop/cart.py", edited)
    cg.index(str(repo), name="shop", workers=1)
    after = stored_chunks(cg)
    changed = {i for i, v in after.items() if before.get(i) != v}
    assert changed and {after[i][0] for i in changed} == {"shop/cart.py"}
    assert len(changed) < sum(1 for p, _ in after.values() if p == "shop/cart.py")
    report = cg.embed()
    assert report.embedded == len(changed)
    assert report.cached == 0 and report.failed == 0
    assert report.removed == len(changed)  # the stale vectors of the old text
    assert report.total == len(after)
    new_vectors = vectors_of(cg, after)
    for i in after:
        assert new_vectors[i] is not None
        if i not in changed:
            assert np.array_equal(new_vectors[i], old_vectors[i])  # untouched
        else:
            assert not np.allclose(new_vectors[i], old_vectors[i])
    assert cg.search("raise ValueError when the subtotal is negative",
                     mode="hybrid")["results"][0]["qualified_name"] == "shop.cart.Cart.total_price"
    # Nothing changed: nothing to do. Back to the old text: its vector comes from the cache.
    idle = cg.embed()
    assert (idle.embedded, idle.cached, idle.removed) == (0, 0, 0)
    touch_later(repo / "shop/cart.py", CART)
    cg.index(str(repo), name="shop", workers=1)
    back = cg.embed()
    assert (back.embedded, back.cached) == (0, len(changed))
    assert stored_chunks(cg) == before
    assert all(np.array_equal(v, old_vectors[i]) for i, v in vectors_of(cg, before).items())


def test_deleted_and_added_files(writer: tuple[CodeGraph, Path]) -> None:
    cg, repo = writer
    cg.embed()
    svc = cg.search_service()
    before = stored_chunks(cg)
    gone = {i for i, (path, _) in before.items() if path == "shop/web/handlers.js"}
    assert len(gone) == 3
    (repo / "shop/web/handlers.js").unlink()
    write_tree(repo, {"shop/inventory.py": (
        "def restock_warehouse(sku, count):\n"
        '    """Order more units of a product from the supplier."""\n'
        "    return {'sku': sku, 'count': count}\n")})
    cg.index(str(repo), name="shop", workers=1)
    after = stored_chunks(cg)
    added = set(after) - set(before)
    assert gone.isdisjoint(after) and added
    assert {after[i][0] for i in added} == {"shop/inventory.py"}
    # Lexical search is in step at once; semantic search after embedding.
    assert gone.isdisjoint(svc.lexical().chunk_ids()) and added <= set(svc.lexical().chunk_ids())
    report = cg.embed()
    assert report.embedded == len(added) and report.removed == len(gone)
    ids = set(svc.vectors().ids())
    assert ids == set(after)
    for mode in MODES:
        paths = {h["path"] for h in cg.search("fetchUserProfile handleLogin checkout page",
                                              mode=mode, limit=50)["results"]}
        assert "shop/web/handlers.js" not in paths
        top = cg.search("order more units from the supplier", mode=mode)["results"]
        assert top[0]["qualified_name"] == "shop.inventory.restock_warehouse"
    cov = cg.stats()["search"]
    assert cov["chunks"] == cov["embedded"] == len(after)


# -- model mismatch, partial coverage ------------------------------------------------------


def test_index_of_another_model(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop-repo", SHOP)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), name="shop", workers=1, embed=True)
        total = cg.stats()["search"]["embedded"]
        assert total > 0
    # Another model's index takes the place of this one.
    other = VectorIndex.open(faiss_path(str(data)), provider="other", model="x",
                             dimension=384, reset=True)
    other.add(["00000000000000aa"], np.eye(1, 384, dtype=np.float32))
    other.save(0)
    with CodeGraph.open(str(data)) as cg:
        for mode in ("semantic", "hybrid"):
            with pytest.raises(SearchError, match="re-embed") as err:
                cg.search("cart total", mode=mode)
            assert "other/x" in str(err.value)
        assert cg.search("cart total", mode="lexical")["results"]  # lexical still works
        assert cg.stats()["search"]["model"] == "x"
    with CodeGraph.open(str(data)) as cg:  # the writer path replaces it
        report = cg.embed()
        assert report.failed == 0 and report.embedded + report.cached == total
        found = cg.search("cart total", mode="semantic")
        assert found["coverage"] == {"embedded": total, "chunks": total, "partial": False}
        assert found["results"]
        cov = cg.stats()["search"]
        assert (cov["provider"], cov["embedded"]) == ("local", total)
        assert "00000000000000aa" not in cg.search_service().vectors()


def test_partial_coverage(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop-repo", SHOP)
    with CodeGraph.open(str(tmp_path / "data")) as cg:
        cg.index(str(repo), name="shop", workers=1, embed=False)
        cov = cg.stats()["search"]
        chunks = cov["chunks"]
        assert chunks > 0 and cov["embedded"] == 0
        semantic = cg.search("sum the price of the cart", mode="semantic")
        assert semantic["results"] == []
        assert semantic["coverage"] == {"embedded": 0, "chunks": chunks, "partial": True}
        hybrid = cg.search("sum the price of the cart", mode="hybrid")
        assert hybrid["coverage"]["partial"]
        assert hybrid["results"][0]["qualified_name"] == "shop.cart.Cart.total_price"
        assert all(set(h["scores"]) == {"lexical", "graph_boost", "fused"}
                   for h in hybrid["results"])
        report = cg.embed()
        assert report.embedded == chunks
        assert cg.stats()["search"]["embedded"] == chunks
        assert not cg.search("cart", mode="semantic")["coverage"]["partial"]


# -- a failing embedding provider ----------------------------------------------------------


class FlakyOpenAI:
    """An OpenAI-compatible embeddings server on 127.0.0.1: HTTP 500 while ``failing``,
    else deterministic 8-dimension vectors. Retry-After is 1 ms, so retries are quick."""

    def __init__(self) -> None:
        self.failing = True
        self.requests = 0
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests += 1
                payload: dict[str, Any]
                if owner.failing:
                    status, payload = 500, {"error": {"message": "the model is on fire"}}
                else:
                    status, payload = 200, {"data": [
                        {"index": i, "embedding": [float(len(t) % 7 + 1), float(i + 1),
                                                   *map(float, t.encode()[:6].ljust(6))]}
                        for i, t in enumerate(body["input"])]}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("retry-after-ms", "1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._http = LoopbackHTTPServer(Handler)
        self.server, self.base_url = self._http.server, self._http.base_url

    def close(self) -> None:
        self._http.close()


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyOpenAI]:
    server = FlakyOpenAI()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "OPENAI_EMBEDDING_MODEL", "FAISS_INDEX_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EMBEDDING_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    yield server
    server.close()


def embedding_cache(cg: CodeGraph) -> int:
    """How many vectors the embedding cache holds (its id map entries excluded)."""
    return sum(1 for k in cg.store.scan_keys("embeddings", b"") if not k.startswith(b"\0"))


def test_a_failing_provider_never_stores_vectors(tmp_path: Path, flaky: FlakyOpenAI) -> None:
    repo = write_tree(tmp_path / "shop-repo", SHOP)
    with CodeGraph.open(str(tmp_path / "data")) as cg:
        cg.index(str(repo), name="shop", workers=1)
        chunks = cg.stats()["search"]["chunks"]
        # Down from the start: even the dimension cannot be learnt.
        report = cg.embed()
        assert report.provider == "openai" and report.failed == chunks > 0
        assert report.embedded == report.cached == 0
        assert "HTTP 500" in report.error and "the model is on fire" in report.error
        cov = cg.stats()["search"]
        assert cov["embedded"] == 0 and cov["embedding_failures"] == chunks
        assert "HTTP 500" in cov["last_embedding_error"]
        assert embedding_cache(cg) == 0
        # Up: everything is embedded and the failure is cleared.
        flaky.failing = False
        report = cg.embed()
        assert (report.embedded, report.failed, report.error) == (chunks, 0, "")
        cov = cg.stats()["search"]
        assert (cov["provider"], cov["embedded"], cov["embedding_failures"]) == \
            ("openai", chunks, 0)
        svc = cg.search_service()
        vectors_before = {i: svc.vectors().vector(i) for i in svc.vectors().ids()}
        # An edit, then down again: the changed chunk gets no vector, the others keep theirs.
        before = stored_chunks(cg)
        touch_later(repo / "shop/cart.py", CART.replace("percent) / 100", "percent) / 100.0"))
        cg.index(str(repo), name="shop", workers=1)
        changed = {i for i, v in stored_chunks(cg).items() if before.get(i) != v}
        assert len(changed) == 1
        flaky.failing = True
        requests = flaky.requests
        report = cg.embed()
        assert report.failed == 1 and report.embedded == 0 and "HTTP 500" in report.error
        assert flaky.requests > requests
        assert set(svc.vectors().ids()) == set(vectors_before) - changed
        for i, v in vectors_before.items():
            if i not in changed:
                assert np.array_equal(svc.vectors().vector(i), v)  # type: ignore[arg-type]
        assert embedding_cache(cg) == chunks  # no entry for the new text
        cov = cg.stats()["search"]
        assert cov["embedded"] == chunks - 1 and cov["embedding_failures"] == 1
        flaky.failing = False
        found = cg.search("discount", mode="semantic", limit=50)
        assert found["coverage"] == {"embedded": chunks - 1, "chunks": chunks, "partial": True}
        assert len(found["results"]) == chunks - 1  # one definition per vector
        report = cg.embed()
        assert (report.embedded, report.failed) == (1, 0)
        assert cg.stats()["search"]["embedded"] == chunks


def test_cli_index_reports_a_failing_provider(tmp_path: Path, flaky: FlakyOpenAI) -> None:
    repo = write_tree(tmp_path / "shop-repo", SHOP)
    env = cli_env(CODEGRAPH_EMBED="1", EMBEDDING_PROVIDER="openai", OPENAI_API_KEY="sk-test",
                  OPENAI_BASE_URL=flaky.base_url)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        env.pop(name, None)
    code, out, err = run_cli("index", str(repo), "--json", data_dir=tmp_path / "data", env=env)
    assert code == 0, err
    embeddings = json.loads(out)["embeddings"]
    assert embeddings["failed"] == embeddings["total"] > 0 and "HTTP 500" in embeddings["error"]
    code, out, err = run_cli("index", str(repo), "--progress", "none", data_dir=tmp_path / "data",
                             env=env)
    assert code == 0, err
    assert err.startswith("codegraph: warning: embedding stopped: ") and "HTTP 500" in err
    assert len(err.splitlines()) == 1


# -- the command line ----------------------------------------------------------------------


def cli(data: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(*args, data_dir=data, env=cli_env(CODEGRAPH_EMBED="1"))


def test_cli_search_json(built: dict[str, Any]) -> None:
    data = built["data"]
    code, out, err = cli(data, "search", "sum the price of every item in the cart", "--json",
                         "--limit", "3")
    assert code == 0, err
    body = json.loads(out)
    assert set(body) == {"results", "mode", "coverage", "revision"}
    assert body["mode"] == "hybrid" and body["coverage"]["partial"] is False
    assert len(body["results"]) == 3
    top = body["results"][0]
    assert top["qualified_name"] == "shop.cart.Cart.total_price"
    assert all(f in top for f in NODE_FIELDS) and {"lexical", "semantic"} <= set(top["scores"])
    code, out, err = cli(data, "search", "config", "--mode", "lexical", "--repo", "tools",
                         "--kind", "function", "--path", "tools/*", "--lang", "python",
                         "--offset", "1", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["mode"] == "lexical" and "coverage" not in body
    assert body["results"] and {r["repo"] for r in body["results"]} == {"tools"}
    code, out, err = cli(data, "search", "verify a credit card number", "--mode", "semantic")
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert lines and all(" [" in line and "semantic #" in line for line in lines)
    assert "shop:shop/payment.py:" in out


def test_cli_similar(built: dict[str, Any]) -> None:
    code, out, err = cli(built["data"], "similar", "refund_payment", "--limit", "3", "--json")
    assert code == 0, err
    body = json.loads(out)
    names = [r["qualified_name"] for r in body["results"]]
    assert 0 < len(names) <= 3 and "shop.payment.refund_payment" not in names
    code, out, err = cli(built["data"], "similar", "no_such_symbol")
    one_line_error(code, err, "no_such_symbol")


def test_cli_bad_search_arguments(built: dict[str, Any]) -> None:
    data = built["data"]
    code, _, err = cli(data, "search", "cart", "--mode", "fuzzy")
    one_line_error(code, err, "mode must be one of lexical, semantic, hybrid, got 'fuzzy'")
    code, _, err = cli(data, "search", "cart", "--limit", "0")
    one_line_error(code, err, "limit must be at least 1")
    code, _, err = cli(data, "search", "  ")
    one_line_error(code, err, "the search query is empty")


def test_cli_partial_coverage_then_embed(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop-repo", SHOP)
    data = tmp_path / "data"
    code, out, err = run_cli("index", str(repo), "--json", data_dir=data,
                             env=cli_env(CODEGRAPH_EMBED="0"))
    assert code == 0, err
    assert json.loads(out)["embeddings"] is None
    code, out, err = cli(data, "search", "cart", "--mode", "semantic")
    assert code == 0, err
    assert "(no results)" in out and "semantic coverage is partial: 0 of" in out
    code, out, err = cli(data, "stats", "--json")
    search = json.loads(out)["search"]
    assert search["embedded"] == 0 and search["chunks"] > 0
    code, out, err = cli(data, "index", str(repo), "--json")
    assert code == 0, err
    embeddings = json.loads(out)["embeddings"]
    assert embeddings["embedded"] == embeddings["total"] == search["chunks"]
    code, out, err = cli(data, "search", "cart", "--mode", "semantic")
    assert code == 0 and "partial" not in out and "(no results)" not in out

