"""A small repository for the web UI's tests, with hostile text where indexed code may put
it (a file name, a docstring, a string): the pages must show it as text, never as markup."""

from __future__ import annotations

from typing import Any

from serverproc import ServerProcess

HOSTILE = '<img src=x onerror="window.__pwned=1">'
TREE = {
    "shop/__init__.py": "",
    "shop/pricing.py": '''def total_price(items):
    """Sum the prices of the items, with tax."""
    return apply_tax(sum(i.price for i in items))


def apply_tax(amount):
    """Add the tax. <script>window.__pwned=1</script>"""
    return amount * 1.2
''',
    "shop/checkout.py": '''from shop.pricing import apply_tax, total_price


def checkout(items):
    return total_price(items)


def refund(amount):
    return -apply_tax(amount)
''',
    f"shop/{HOSTILE}.py": '''def odd_file_helper():
    return "</script><script>window.__pwned=1</script>"
''',
}


def node_id(server: ServerProcess, name: str, headers: dict[str, str] | None = None) -> str:
    """The id of the one definition of ``name`` (through the JSON API)."""
    r = server.client.get("/api/v1/definition", params={"symbol": name}, headers=headers)
    assert r.status_code == 200, r.text
    body: Any = r.json()
    found = body["results"] if isinstance(body, dict) else body
    assert len(found) == 1, found
    return str(found[0]["id"])
