"""The small repositories the search tests index, and their shared search settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codegraph.api import CodeGraph

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


@pytest.fixture(scope="module", autouse=True)
def default_search_config() -> Iterator[None]:
    """The defaults (local model, faiss/ in the data dir) whatever the environment says."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("EMBEDDING_PROVIDER", "EMBEDDING_MODEL_PATH", "FAISS_INDEX_PATH"):
            mp.delenv(name, raising=False)
        yield


def stored_chunks(cg: CodeGraph) -> dict[str, tuple[str, str]]:
    """chunk id -> (path, hash) of every chunk in the graph store."""
    return {c.id: (c.path, c.hash) for c in cg.search_service().chunks()}
