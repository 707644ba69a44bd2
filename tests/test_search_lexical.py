"""Lexical search: code-aware tokens and the BM25 index over SQLite FTS5."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from codegraph.search.chunks import Chunk, chunk_id, header, text_hash
from codegraph.search.lexical import (
    LexicalHit,
    LexicalIndex,
    LexicalIndexError,
    SyncReport,
    default_path,
)
from codegraph.search.tokens import code_tokens, query_terms, token_text

# -- tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "tokens"), [
    ("HTTPServerError", ["http", "server", "error", "httpservererror"]),
    ("parse_json_file", ["parse", "json", "file", "parsejsonfile"]),
    ("getHTTP2Url", ["get", "http2", "http", "url", "gethttp2url"]),
    ("getUserById", ["get", "user", "id", "getuserbyid"]),
    ("get_user_by_id", ["get", "user", "id", "getuserbyid"]),
    ("XMLHttpRequest", ["xml", "http", "request", "xmlhttprequest"]),
    ("my-component.tsx", ["my", "component", "tsx"]),
    ("src/codegraph/search/chunks.py", ["src", "codegraph", "search", "chunks", "py"]),
    ("__init__", ["init"]),
    ("sha256sum", ["sha256", "sha", "sum", "sha256sum"]),
    ("int64ToString", ["int64", "int", "string", "int64tostring"]),
    ("x509 v2 404 8080 0 i", ["x509", "v2", "404", "8080"]),
    ("größeBerechnen", ["größe", "berechnen", "größeberechnen"]),
    ("日本語の関数", ["日本語の関数"]),
    ("# Return the user of this id, or None.", ["user", "id"]),
    ("def f(self): return self.x", []),
    ("", []),
    ("!!! ... ()", []),
])
def test_code_tokens(text: str, tokens: list[str]) -> None:
    assert code_tokens(text) == tokens


def test_code_tokens_keep_repeats_and_query_terms_do_not() -> None:
    assert code_tokens("load load loadAll") == ["load", "load", "load", "all", "loadall"]
    assert query_terms("load load loadAll") == ["load", "all", "loadall"]


def test_code_tokens_drop_blobs() -> None:
    blob = "a" * 65
    assert code_tokens(f"{blob} ok") == ["ok"]


# -- a small realistic corpus ----------------------------------------------------------

REPO = "shop"


def make(qname: str, path: str, body: str, *, kind: str = "function",
         language: str = "python", signature: str = "", doc: str = "", repo: str = REPO,
         part: int = 0) -> Chunk:
    text = f"{header(path, qname, signature, doc)}\n{body}"
    node = text_hash(f"{repo}{path}{qname}")[:16]
    return Chunk(chunk_id(node, part), node, repo, path, qname, kind, language, 1,
                 body.count("\n") + 1, text, text_hash(text))


CORPUS = [
    make("shop.config.load_json_file", "shop/config.py",
         "def load_json_file(path):\n    with open(path) as f:\n        return json.load(f)",
         signature="def load_json_file(path)", doc="Parse a JSON file into a dict."),
    make("shop.config.save_json", "shop/config.py",
         "def save_json(path, data):\n    with open(path, 'w') as f:\n        json.dump(data, f)",
         signature="def save_json(path, data)", doc="Write data as JSON."),
    make("shop.config.load_yaml", "shop/config.py",
         "def load_yaml(path):\n    with open(path) as f:\n        return yaml.safe_load(f)",
         signature="def load_yaml(path)", doc="Load a YAML config file."),
    make("shop.config.Settings", "shop/config.py",
         "class Settings:\n    debug = False\n    database_url = ''", kind="class",
         signature="class Settings", doc="Application settings."),
    make("shop.csvio.parse_csv", "shop/csvio.py",
         "def parse_csv(text):\n    return list(csv.reader(text.splitlines()))",
         signature="def parse_csv(text)", doc="Parse CSV text into rows."),
    make("shop.files.read_file", "shop/files.py",
         "def read_file(path):\n    with open(path) as f:\n        return f.read()",
         signature="def read_file(path)", doc="Read a whole text file."),
    make("shop.files.parse_args", "shop/files.py",
         "def parse_args(argv):\n    p = argparse.ArgumentParser()\n    p.add_argument('file')"
         "\n    return p.parse_args(argv)", signature="def parse_args(argv)",
         doc="Parse the command line."),
    make("shop.http.HTTPServerError", "shop/http.py",
         "class HTTPServerError(Exception):\n    status = 500", kind="class",
         signature="class HTTPServerError(Exception)", doc="A 5xx answer from a server."),
    make("shop.http.fetch_url", "shop/http.py",
         "def fetch_url(url):\n    r = requests.get(url)\n    if r.status_code >= 500:\n"
         "        raise HTTPServerError(r.status_code)\n    return r.json()",
         signature="def fetch_url(url)", doc="GET a URL and decode its JSON answer."),
    make("shop.http.retry", "shop/http.py",
         "def retry(fn, attempts=3):\n    for i in range(attempts):\n        try:\n"
         "            return fn()\n        except HTTPServerError:\n            time.sleep(2 ** i)",
         signature="def retry(fn, attempts=3)", doc="Call fn again on server errors."),
    make("UserService.getUserById", "web/src/users.ts",
         "getUserById(id: string): User {\n  return this.users.find(u => u.id === id);\n}",
         kind="method", language="typescript", signature="getUserById(id: string): User",
         repo="web"),
    make("UserService.getUserByEmail", "web/src/users.ts",
         "getUserByEmail(email: string): User {\n  return this.users.find(u => u.email === "
         "email);\n}", kind="method", language="typescript",
         signature="getUserByEmail(email: string): User", repo="web"),
    make("UserService.deleteUser", "web/src/users.ts",
         "deleteUser(id: string): void {\n  this.users = this.users.filter(u => u.id !== id);"
         "\n}", kind="method", language="typescript", signature="deleteUser(id: string): void",
         repo="web"),
    make("UserService", "web/src/users.ts",
         "export class UserService {\n  private users: User[] = [];\n  getUserById ...\n"
         "  getUserByEmail ...\n  deleteUser ...\n}", kind="class", language="typescript",
         signature="export class UserService", repo="web"),
    make("profile.renderProfile", "web/src/profile.tsx",
         "export function renderProfile(id: string) {\n  const user = service.getUserById(id);"
         "\n  return <Profile user={user} />;\n}", language="typescript",
         signature="export function renderProfile(id: string)", repo="web"),
    make("orders.CreateOrder", "api/orders.go",
         "func CreateOrder(db *sql.DB, o Order) error {\n\t_, err := db.Exec(\"INSERT INTO "
         "orders VALUES (?)\", o.ID)\n\treturn err\n}", language="go",
         signature="func CreateOrder(db *sql.DB, o Order) error",
         doc="CreateOrder stores a new order.", repo="api"),
    make("orders.ListOrders", "api/orders.go",
         "func ListOrders(db *sql.DB) ([]Order, error) {\n\trows, err := db.Query(\"SELECT * "
         "FROM orders\")\n\treturn scan(rows), err\n}", language="go",
         signature="func ListOrders(db *sql.DB) ([]Order, error)", repo="api"),
    make("orders.Order", "api/model.go",
         "type Order struct {\n\tID int64\n\tTotal float64\n}", kind="struct", language="go",
         signature="type Order struct", repo="api"),
    make("shop.cart.Cart", "shop/cart.py",
         "class Cart:\n    def __init__(self):\n        self.items = []", kind="class",
         signature="class Cart", doc="A shopping cart."),
    make("shop.cart.Cart.add_item", "shop/cart.py",
         "def add_item(self, item, quantity=1):\n    self.items.append((item, quantity))",
         kind="method", signature="def add_item(self, item, quantity=1)",
         doc="Add an item to the cart."),
    make("shop.cart.Cart.total", "shop/cart.py",
         "def total(self):\n    return sum(i.price * q for i, q in self.items)",
         kind="method", signature="def total(self)", doc="The price of everything."),
    make("shop.cart.Cart.clear", "shop/cart.py", "def clear(self):\n    self.items.clear()",
         kind="method", signature="def clear(self)", doc="Empty the cart."),
    make("shop.money.format_price", "shop/money.py",
         "def format_price(cents):\n    return f'{cents // 100}.{cents % 100:02d}'",
         signature="def format_price(cents)", doc="Cents as a price string."),
    make("shop.money.convert_currency", "shop/money.py",
         "def convert_currency(amount, rate):\n    return round(amount * rate, 2)",
         signature="def convert_currency(amount, rate)", doc="Convert between currencies."),
    make("shop.auth.hash_password", "shop/auth.py",
         "def hash_password(pw, salt):\n    return hashlib.sha256(salt + pw).hexdigest()",
         signature="def hash_password(pw, salt)", doc="A salted SHA-256 of a password."),
    make("shop.auth.check_password", "shop/auth.py",
         "def check_password(pw, salt, digest):\n    return hash_password(pw, salt) == digest",
         signature="def check_password(pw, salt, digest)", doc="Does the password match?"),
    make("shop.auth.login", "shop/auth.py",
         "def login(request):\n    user = find_user(request.form['name'])\n"
         "    if not check_password(request.form['pw'], user.salt, user.digest):\n"
         "        raise PermissionError('bad password')\n    return session_for(user)",
         signature="def login(request)", doc="Log a user in."),
    make("shop.mail.send_email", "shop/mail.py",
         "def send_email(to, subject, body):\n    with smtplib.SMTP('localhost') as s:\n"
         "        s.sendmail('shop@example.com', [to], body)",
         signature="def send_email(to, subject, body)", doc="Send an email over SMTP."),
    make("shop.tests.test_cart_total", "tests/test_cart.py",
         "def test_cart_total():\n    cart = Cart()\n    cart.add_item(Item(price=250), 2)\n"
         "    assert cart.total() == 500", signature="def test_cart_total()"),
    make("i18n.größeBerechnen", "lib/i18n.py",
         "def größeBerechnen(x):\n    return len(x)", signature="def größeBerechnen(x)"),
]
BY_ID = {c.id: c for c in CORPUS}


@pytest.fixture
def index(tmp_path: Path) -> LexicalIndex:
    ix = LexicalIndex.open(default_path(str(tmp_path)))
    ix.sync(CORPUS)
    return ix


def names(hits: list[LexicalHit]) -> list[str]:
    return [BY_ID[h.chunk_id].qualified_name for h in hits]


def test_ranking_natural_language(index: LexicalIndex) -> None:
    assert names(index.search("parse json file"))[0] == "shop.config.load_json_file"
    assert names(index.search("shopping cart"))[0] == "shop.cart.Cart"
    assert names(index.search("send an email"))[0] == "shop.mail.send_email"
    assert names(index.search("salted password hash"))[0] == "shop.auth.hash_password"


def test_ranking_exact_identifier(index: LexicalIndex) -> None:
    assert names(index.search("getUserById"))[0] == "UserService.getUserById"
    assert names(index.search("get_user_by_id"))[0] == "UserService.getUserById"
    assert names(index.search("HTTPServerError"))[0] == "shop.http.HTTPServerError"
    assert names(index.search("CreateOrder"))[0] == "orders.CreateOrder"
    # a caller mentions it too, below the definition
    assert "profile.renderProfile" in names(index.search("getUserById"))


def test_hits_are_ranked_and_scored(index: LexicalIndex) -> None:
    hits = index.search("user id", limit=50)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(h.score > 0 for h in hits)
    assert len({h.chunk_id for h in hits}) == len(hits)


def test_unusual_tokens_survive(index: LexicalIndex) -> None:
    assert names(index.search("größe"))[0] == "i18n.größeBerechnen"
    assert names(index.search("sha256"))[0] == "shop.auth.hash_password"
    assert "shop.http.fetch_url" in names(index.search("500"))


@pytest.mark.parametrize("query", [
    "", "   ", "the of a", "self return", "!!!", '"', 'json" OR "x', "NEAR(a b)", "a*", "-",
    "json AND (", "^json", "col:json", "{json}", "\0", "json'; DROP TABLE docs; --",
])
def test_no_query_is_a_syntax_error(index: LexicalIndex, query: str) -> None:
    hits = index.search(query)
    assert isinstance(hits, list)
    assert index.count() == len(CORPUS)


def test_empty_query_finds_nothing(index: LexicalIndex) -> None:
    assert index.search("") == []
    assert index.search("the of this") == []
    assert index.search("json", limit=0) == []


def test_filters(index: LexicalIndex) -> None:
    assert {BY_ID[h.chunk_id].repo for h in index.search("user", repo="web", limit=50)} == {
        "web"}
    assert index.search("user", repo="nowhere") == []
    go = index.search("order", language="go", limit=50)
    assert go and {BY_ID[h.chunk_id].language for h in go} == {"go"}
    assert set(names(index.search("cart", kind="method", limit=50))) == {
        "shop.cart.Cart.add_item", "shop.cart.Cart.clear", "shop.cart.Cart.total"}
    assert set(names(index.search("json", path="shop/config.*", limit=50))) == {
        "shop.config.load_json_file", "shop.config.save_json"}
    assert names(index.search("user", path="*.tsx", language="typescript")) == [
        "profile.renderProfile"]
    assert index.search("user", path="*.TSX") == []  # GLOB is case-sensitive


def test_filter_ids_and_chunk_locations(index: LexicalIndex) -> None:
    assert index.filter_ids() == set(BY_ID)
    assert index.filter_ids(repo="api", kind="function") == {
        c.id for c in CORPUS if c.repo == "api" and c.kind == "function"}
    assert index.filter_ids(path="web/*", language="python") == set()
    ids = [CORPUS[3].id, "0000000000000000", CORPUS[1].id, CORPUS[3].id]
    assert list(index.chunk_locations(ids).items()) == [
        (CORPUS[3].id, (REPO, "shop/config.py")), (CORPUS[1].id, (REPO, "shop/config.py"))]
    many = [c.id for c in CORPUS] * 40
    assert len(index.chunk_locations(many)) == len(CORPUS)


def test_pagination_is_stable_and_disjoint(index: LexicalIndex) -> None:
    query = "user id json file path"  # some hits have every term, most have some
    everything = index.search(query, limit=100)
    assert len(everything) > 10
    pages = [index.search(query, limit=3, offset=o) for o in range(0, len(everything) + 3, 3)]
    flat = [h for page in pages for h in page]
    assert flat == everything
    assert pages[-1] == []
    assert index.search(query, limit=3, offset=3) == pages[1]  # stable on a repeat
    assert index.search(query, limit=3, offset=-5) == pages[0]


def test_all_terms_rank_before_some_terms(index: LexicalIndex) -> None:
    hits = names(index.search("user email", limit=50))
    assert hits[0] == "UserService.getUserByEmail"
    assert hits.index("UserService.getUserByEmail") < hits.index("UserService.deleteUser")


def test_pages_through_equal_scores_are_disjoint_and_complete(tmp_path: Path) -> None:
    """Rows that score the same cross a page's end: the cut is by chunk id, not arbitrary."""
    same = [make("m.twin", "m/twins.py", "def twin():\n    return twin_value + 1",
                 part=i) for i in range(25)]
    ix = LexicalIndex.open(default_path(str(tmp_path)))
    ix.sync(same)
    everything = ix.search("twin value", limit=100)
    assert [h.chunk_id for h in everything] == sorted(c.id for c in same)
    pages = [ix.search("twin value", limit=7, offset=o) for o in range(0, 28, 7)]
    assert [h.chunk_id for p in pages for h in p] == [h.chunk_id for h in everything]
    assert ix.search("twin", limit=10, offset=20)[0].chunk_id == everything[20].chunk_id


# -- sync, upsert, remove --------------------------------------------------------------


def edited(c: Chunk, text: str) -> Chunk:
    return Chunk(c.id, c.node_id, c.repo, c.path, c.qualified_name, c.kind, c.language,
                 c.line, c.end_line, text, text_hash(text))


def test_sync_adds_updates_removes_and_is_idempotent(tmp_path: Path) -> None:
    with LexicalIndex.open(str(tmp_path / "lexical.sqlite")) as ix:
        assert ix.count() == 0 and ix.search("json") == []
        assert ix.sync(CORPUS) == SyncReport(len(CORPUS), 0, 0)
        assert ix.sync(CORPUS) == SyncReport(0, 0, len(CORPUS))
        assert ix.sync(reversed(CORPUS)) == SyncReport(0, 0, len(CORPUS))
        changed = [edited(CORPUS[0], CORPUS[0].text + "\n# zebra crossing"), *CORPUS[1:-1]]
        assert ix.sync(changed) == SyncReport(1, 2, len(CORPUS) - 2)
        assert ix.count() == len(CORPUS) - 1
        assert [h.chunk_id for h in ix.search("zebra")] == [CORPUS[0].id]
        assert ix.search("größeBerechnen") == []
        assert ix.chunk_ids() == {c.id: c.hash for c in changed}
        assert ix.sync([*changed, changed[0]]) == SyncReport(0, 0, len(changed))  # repeats
        assert ix.sync([]) == SyncReport(0, len(changed), 0)
        assert ix.count() == 0 and ix.search("zebra") == []
        assert ix.sync(CORPUS[:3]) == SyncReport(3, 0, 0)
        assert ix.count() == 3


def test_upsert_and_remove(tmp_path: Path) -> None:
    with LexicalIndex.open(str(tmp_path / "lexical.sqlite")) as ix:
        assert ix.upsert(CORPUS[:10]) == SyncReport(10, 0, 0)
        assert ix.upsert(CORPUS[5:15]) == SyncReport(5, 0, 5)
        assert ix.upsert([edited(CORPUS[0], "# a\n# b\nplatypus")]) == SyncReport(1, 1, 0)
        assert ix.count() == 15
        assert [h.chunk_id for h in ix.search("platypus")] == [CORPUS[0].id]
        assert ix.search("dict") == []  # the old text is gone (its name stays)
        assert ix.remove([CORPUS[0].id, CORPUS[1].id, "feedfacefeedface", CORPUS[0].id]) == 2
        assert ix.count() == 13 and ix.search("platypus") == []
        assert ix.remove([]) == 0


def test_failed_sync_changes_nothing(tmp_path: Path) -> None:
    with LexicalIndex.open(str(tmp_path / "lexical.sqlite")) as ix:
        ix.sync(CORPUS[:5], revision=4)
        bad = edited(CORPUS[6], "x")
        bad.text = None  # type: ignore[assignment]
        with pytest.raises(AttributeError):
            ix.sync([*CORPUS[1:5], bad], revision=5)
        assert ix.chunk_ids() == {c.id: c.hash for c in CORPUS[:5]}
        assert ix.revision == 4
        assert ix.search("load json file")[0].chunk_id == CORPUS[0].id


def test_revision_and_persistence(tmp_path: Path) -> None:
    path = str(tmp_path / "data" / "lexical.sqlite")  # the directory is made
    with LexicalIndex.open(path) as ix:
        assert ix.revision == 0
        ix.sync(CORPUS, revision=7)
        assert ix.revision == 7
        before = ix.search("user id json", limit=20)
    with LexicalIndex.open(path) as ix:
        assert ix.revision == 7 and ix.count() == len(CORPUS)
        assert ix.search("user id json", limit=20) == before
        ix.set_revision(8)
        ix.remove([CORPUS[0].id], revision=9)
    with LexicalIndex.open(path) as ix:
        assert ix.revision == 9 and ix.count() == len(CORPUS) - 1


def test_two_connections_see_each_others_writes(tmp_path: Path) -> None:
    path = str(tmp_path / "lexical.sqlite")
    with LexicalIndex.open(path) as writer, LexicalIndex.open(path) as reader:
        writer.sync(CORPUS)
        assert reader.count() == len(CORPUS)
        assert reader.search("getUserById")[0].chunk_id == writer.search("getUserById")[
            0].chunk_id


# -- bad files -------------------------------------------------------------------------


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lexical.sqlite"
    path.write_bytes(b"this is not a database at all\n" * 200)
    other = tmp_path / "rocksdb.keep"
    other.write_text("graph")
    with pytest.raises(LexicalIndexError, match="corrupted"):
        LexicalIndex.open(str(path))
    assert other.read_text() == "graph"
    assert path.read_bytes().startswith(b"this is not a database")  # left for inspection


def test_damaged_pages_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lexical.sqlite"
    with LexicalIndex.open(str(path)) as ix:
        ix.sync([*CORPUS, *synthetic(500)])
    data = bytearray(path.read_bytes())
    rnd = random.Random(3)
    for at in range(8192, len(data), 512):
        data[at:at + 64] = bytes(rnd.randrange(256) for _ in range(64))
    path.write_bytes(bytes(data))
    with pytest.raises(LexicalIndexError), LexicalIndex.open(str(path)) as ix:
        ix.chunk_ids()
        for word in ("json", "user", "order", "cart", "alpha beta", "gamma"):
            ix.search(word, limit=1000)


def test_other_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t(x)")
    db.commit()
    db.close()
    with pytest.raises(LexicalIndexError, match="not a lexical index"):
        LexicalIndex.open(str(path))


def test_closed_index_is_a_clear_error(tmp_path: Path) -> None:
    ix = LexicalIndex.open(str(tmp_path / "lexical.sqlite"))
    ix.close()
    with pytest.raises(LexicalIndexError):
        ix.search("json")


# -- scale -----------------------------------------------------------------------------

WORDS = ["alpha", "beta", "gamma", "delta", "parse", "load", "save", "user", "order", "cart",
         "item", "price", "json", "yaml", "http", "server", "client", "request", "response",
         "cache", "index", "query", "token", "file", "path", "read", "write", "stream",
         "buffer", "socket", "thread", "lock", "queue", "event", "handler", "config"]


def synthetic(n: int, seed: int = 1) -> list[Chunk]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        words = rnd.sample(WORDS, 3)
        name = words[0] + "".join(w.title() for w in words[1:]) + str(i)
        body = "\n".join(f"    {rnd.choice(WORDS)}_{rnd.choice(WORDS)} = "
                         f"{rnd.choice(WORDS)}.{rnd.choice(WORDS)}({rnd.choice(WORDS)})"
                         for _ in range(12))
        out.append(make(f"gen.m{i % 50}.{name}", f"gen/m{i % 50}.py",
                        f"def {name}(self):\n{body}", signature=f"def {name}(self)",
                        repo="gen", doc=f"{words[0]} the {words[1]}"))
    return out


def test_twenty_thousand_chunks(tmp_path: Path) -> None:
    chunks = synthetic(20_000)
    with LexicalIndex.open(str(tmp_path / "lexical.sqlite")) as ix:
        assert ix.sync(chunks, revision=1) == SyncReport(20_000, 0, 0)
        assert ix.count() == 20_000
        target = chunks[12_345]
        assert ix.search(target.qualified_name.rsplit(".", 1)[1])[0].chunk_id == target.id
        hits = ix.search("parse json user", limit=25, offset=100, repo="gen")
        assert len(hits) == 25 and hits[0].rank == 101
        assert ix.sync(chunks[:19_000]) == SyncReport(0, 1_000, 19_000)
        assert ix.count() == 19_000


@pytest.mark.parametrize("text", [
    "getUserById(user_id) -> HTTPServerError; x.y_z = 404",
    "größeBerechnen(wert) + Δx — naïve_café.__init__",  # non-ASCII: the regex path
    "a b\tc\n\x1c\x0bdef self.__x__ 42 sha256 " + "q" * 70,
    "",
])
def test_token_text_is_code_tokens_joined(text: str) -> None:
    assert token_text(text) == " ".join(code_tokens(text))
    assert token_text(text) == " ".join(code_tokens(text))  # from the cache too


def test_checkpoint_empties_the_write_ahead_log(index: LexicalIndex) -> None:
    wal = Path(index.path + "-wal")
    before = names(index.search("password"))
    assert wal.stat().st_size > 0  # the sync's pages are still in the log
    index.checkpoint()
    assert wal.stat().st_size == 0
    assert names(index.search("password")) == before
    reader = LexicalIndex.open(index.path)  # the database file alone has everything
    assert names(reader.search("password")) == before
    reader.close()
