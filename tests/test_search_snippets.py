"""Snippets of search hits: the lines that matched, or the first lines of the body, with
their source line, bounded in lines and characters; on chunks made by the real chunker."""

from __future__ import annotations

from typing import Any

from codegraph.search.chunks import Chunk, header, text_hash
from codegraph.search.snippets import MAX_CHARS, MAX_LINES, snippet
from codegraph.search.tokens import query_terms

SIGNATURE = "def total_price(self, prices)"


def make_chunk(body: list[str], line: int, *, doc: str = "", kind: str = "method",
               end_line: int | None = None) -> tuple[Chunk, dict[str, Any]]:
    head = header("shop/cart.py", "shop.cart.Cart.total_price", SIGNATURE, doc)
    text = f"{head}\n" + "\n".join(body)
    chunk = Chunk("c1", "n1", "shop", "shop/cart.py", "shop.cart.Cart.total_price", kind,
                  "python", line, end_line or line + len(body) - 1, text, text_hash(text))
    node = {"signature": SIGNATURE, "doc": doc, "line": line}
    return chunk, node


BODY = ["    def total_price(self, prices):",
        "        subtotal = sum(prices[sku] * qty for sku, qty in self.items.items())",
        "",
        "        return subtotal * (1 + TAX_RATE)"]


def test_the_line_with_most_query_terms_leads() -> None:
    chunk, node = make_chunk(BODY, 20, doc="Sum the price of every item.")
    found = snippet(chunk, node, query_terms("tax rate of the subtotal"))
    assert found == {"line": 23, "text": "return subtotal * (1 + TAX_RATE)"}
    found = snippet(chunk, node, query_terms("sum of the items"))
    assert found is not None and found["line"] == 21
    assert found["text"].startswith("subtotal = sum(prices[sku]")
    assert found["text"].count("\n") < MAX_LINES


def test_without_terms_the_body_after_the_header_line() -> None:
    chunk, node = make_chunk(BODY, 20)
    assert snippet(chunk, node) == {
        "line": 21, "text": "subtotal = sum(prices[sku] * qty for sku, qty in self.items."
                            "items())\n\nreturn subtotal * (1 + TAX_RATE)"}
    # Terms that match nothing: the same.
    assert snippet(chunk, node, ["zebra"]) == snippet(chunk, node)
    # A signature over several lines is skipped whole.
    long_def = ["    def total_price(", "        self,", "        prices,", "    ):",
                "        return 1"]
    chunk, node = make_chunk(long_def, 5)
    assert snippet(chunk, node) == {"line": 9, "text": "return 1"}


def test_a_later_window_starts_at_its_first_line() -> None:
    chunk, node = make_chunk(["        x = 1", "        y = 2"], 70)
    node["line"] = 20  # the definition starts before this window
    assert snippet(chunk, node) == {"line": 70, "text": "x = 1\ny = 2"}


def test_bounded_in_lines_and_characters() -> None:
    body = ["def f():"] + [f"    value_{i} = compute({'x' * 200})" for i in range(10)]
    chunk, node = make_chunk(body, 1)
    found = snippet(chunk, node, query_terms("compute value"))
    assert found is not None and found["line"] == 2
    assert len(found["text"]) <= MAX_CHARS and found["text"].endswith("...")
    assert found["text"].count("\n") <= MAX_LINES - 1


def test_line_numbers_stop_at_a_nested_definition_cut() -> None:
    # A class chunk: its methods are cut to their first line and " ...", so only the
    # lines up to the first cut have known source lines.
    body = ["class Cart:", "    tax = 0.2", "    def total_price(self, prices): ...",
            "    def refund(self): ..."]
    chunk, node = make_chunk(body, 10, kind="class", end_line=40)
    node["signature"] = SIGNATURE
    found = snippet(chunk, node, query_terms("refund"))
    assert found is not None and found["line"] == 11  # refund is past the cut: not used
    found = snippet(chunk, node, query_terms("total price"))
    assert found == {"line": 12, "text": "def total_price(self, prices): ..."}


def test_an_unknown_header_and_an_empty_body() -> None:
    chunk, node = make_chunk(BODY, 20, doc="Sum.")
    assert snippet(chunk, None, query_terms("tax rate")) is None  # lines unknown
    assert snippet(chunk, {**node, "doc": "Another."}) is None
    head = header("shop/cart.py", "shop.cart", "", "")
    empty = Chunk("c2", "n2", "shop", "shop/cart.py", "shop.cart", "module", "python", 1, 1,
                  head, text_hash(head))
    assert snippet(empty, {"signature": "", "doc": "", "line": 1}) is None


def test_a_docstring_is_skipped_when_code_follows() -> None:
    body = ["def f(x):", '    """Double x.', "", '    Twice."""', "    return x * 2"]
    chunk, node = make_chunk(body, 1, doc="Double x.\n\nTwice.")
    assert snippet(chunk, node) == {"line": 5, "text": "return x * 2"}
    one = ["def f(x):", "    r'''Double x.'''", "    return x * 2"]
    chunk, node = make_chunk(one, 1, doc="Double x.")
    assert snippet(chunk, node) == {"line": 3, "text": "return x * 2"}
    only = ["def f(x):", '    """Double x."""']
    chunk, node = make_chunk(only, 1, doc="Double x.")
    assert snippet(chunk, node) == {"line": 2, "text": '"""Double x."""'}
