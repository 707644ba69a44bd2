"""The `openai` embedding provider against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest

from codegraph.config import load
from codegraph.search.embeddings import Embedder, EmbeddingError
from codegraph.search.openai_embed import DEFAULT_BASE_URL, DEFAULT_MODEL, OpenAIEmbedder
from codegraph.search.openai_embed import _retry_after as retry_after
from codegraph.search.service import make_embedder
from helpers import LoopbackHTTPServer, QuietHandler

KEY = "sk-test-key"
DIM = 8


def raw_vector(text: str, dim: int = DIM) -> list[float]:
    """The server's deterministic, deliberately unnormalised vector for a text."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(b - 127.5) / 10 for b in digest[:dim]]


def unit(text: str, dim: int = DIM) -> np.ndarray:
    v = np.asarray(raw_vector(text, dim), dtype=np.float64)
    return v / np.linalg.norm(v)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # None: the default embeddings; bytes: sent as is; else JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeOpenAI:
    """Records every request; answers from ``script`` (one Reply per request) then normally."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Reply] = []
        self.dimension = DIM
        self.lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.read_json()
                with owner.lock:
                    owner.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body})
                    reply = owner.script.pop(0) if owner.script else Reply()
                time.sleep(reply.delay)
                payload = reply.body
                if payload is None:
                    payload = {"object": "list", "model": body["model"], "data": [
                        {"object": "embedding", "index": i,
                         "embedding": raw_vector(t, owner.dimension)}
                        for i, t in enumerate(body["input"])]}
                # (the client may have timed out and gone)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_json(reply.status, payload, reply.headers)

        self._http = LoopbackHTTPServer(Handler)
        self.server, self.base_url = self._http.server, self._http.base_url

    def close(self) -> None:
        self._http.close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the test server is on 127.0.0.1


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.close()


def embedder(server: FakeOpenAI, **kwargs: Any) -> OpenAIEmbedder:
    options: dict[str, Any] = {"api_key": KEY, "base_url": server.base_url, "backoff": 0.01,
                               "max_backoff": 0.05, **kwargs}
    return OpenAIEmbedder(**options)


def test_embeds_normalised_rows_in_order_and_sends_the_key(server: FakeOpenAI) -> None:
    texts = [f"def f{i}(): pass" for i in range(5)]
    with embedder(server, model="my-model", batch_size=2) as e:
        out = e.embed(texts)
        assert e.dimension == DIM  # learnt from the first response, no extra request
    assert out.dtype == np.float32 and out.shape == (5, DIM)
    np.testing.assert_allclose(out, np.stack([unit(t) for t in texts]), atol=1e-6)
    assert len(server.requests) == 3
    for request in server.requests:
        assert request["path"] == "/v1/embeddings"
        assert request["headers"]["Authorization"] == f"Bearer {KEY}"
        assert request["body"]["model"] == "my-model"
    assert [r["body"]["input"] for r in server.requests] == [texts[:2], texts[2:4], texts[4:]]


def test_batches_of_64_by_default(server: FakeOpenAI) -> None:
    out = embedder(server).embed([f"text {i}" for i in range(130)])
    assert out.shape == (130, DIM)
    assert [len(r["body"]["input"]) for r in server.requests] == [64, 64, 2]


def test_satisfies_the_protocol_and_learns_the_dimension_by_probing(server: FakeOpenAI) -> None:
    server.dimension = 12
    e: Embedder = embedder(server)
    assert e.dimension == 12 and e.provider == "openai"
    assert len(server.requests) == 1
    assert embedder(server, dimension=12).embed([]).shape == (0, 12)


def test_reorders_by_index_and_blanks_are_sent_as_a_space(server: FakeOpenAI) -> None:
    texts = ["alpha", "", "gamma"]
    data = [{"index": i, "embedding": raw_vector(t)} for i, t in enumerate(["alpha", " ",
                                                                            "gamma"])]
    server.script = [Reply(body={"data": data[::-1]})]
    out = embedder(server).embed(texts)
    np.testing.assert_allclose(out, np.stack([unit("alpha"), unit(" "), unit("gamma")]),
                               atol=1e-6)
    assert server.requests[0]["body"]["input"] == ["alpha", " ", "gamma"]


def test_config_from_the_environment(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url + "/")
    monkeypatch.setenv("OPENAI_EMBEDDING_MODEL", "env-model")
    monkeypatch.setenv("EMBEDDING_PROVIDER", "openai")
    embedder = make_embedder(load())  # the variables reach it through the configuration
    assert isinstance(embedder, OpenAIEmbedder)
    embedder.embed(["x"])
    request = server.requests[0]
    assert request["headers"]["Authorization"] == "Bearer env-key"
    assert request["body"]["model"] == "env-model" and request["path"] == "/v1/embeddings"


def test_defaults_and_a_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_EMBEDDING_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EMBEDDING_PROVIDER", "openai")
    with pytest.raises(EmbeddingError, match="OPENAI_API_KEY"):
        make_embedder(load())
    with pytest.raises(EmbeddingError, match="OPENAI_API_KEY"):
        OpenAIEmbedder()
    e = OpenAIEmbedder(api_key="k")
    assert (e.url, e.model) == (f"{DEFAULT_BASE_URL}/embeddings", DEFAULT_MODEL)
    with pytest.raises(EmbeddingError, match="http"):
        OpenAIEmbedder(api_key="k", base_url="localhost:8080")


def test_429_honours_retry_after_then_succeeds(server: FakeOpenAI) -> None:
    server.script = [Reply(429, {"error": {"message": "Rate limit reached"}},
                           {"Retry-After": "0"})]
    start = time.monotonic()
    out = embedder(server, backoff=10.0, max_backoff=10.0).embed(["a", "b"])
    assert time.monotonic() - start < 2  # waited Retry-After (0 s), not the 5-10 s backoff
    np.testing.assert_allclose(out, np.stack([unit("a"), unit("b")]), atol=1e-6)
    assert len(server.requests) == 2


def test_5xx_are_retried_then_succeed(server: FakeOpenAI) -> None:
    server.script = [Reply(500, b"oops"), Reply(503, {"error": "overloaded"}), Reply(502)]
    out = embedder(server).embed(["a"])
    np.testing.assert_allclose(out[0], unit("a"), atol=1e-6)
    assert len(server.requests) == 4


def test_retries_exhausted(server: FakeOpenAI) -> None:
    server.script = [Reply(503, {"error": {"message": "try later"}})] * 5
    with pytest.raises(EmbeddingError, match=r"after 3 attempts.*HTTP 503: try later"):
        embedder(server, max_attempts=3).embed(["a"])
    assert len(server.requests) == 3


def test_read_timeout_is_retried_then_fails(server: FakeOpenAI) -> None:
    server.script = [Reply(delay=0.6)]
    out = embedder(server, read_timeout=0.2).embed(["a"])
    np.testing.assert_allclose(out[0], unit("a"), atol=1e-6)
    assert len(server.requests) == 2
    server.script = [Reply(delay=0.6)] * 2
    with pytest.raises(EmbeddingError, match=r"after 2 attempts.*ReadTimeout"):
        embedder(server, read_timeout=0.2, max_attempts=2).embed(["a"])


def test_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    e = OpenAIEmbedder(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_attempts=2,
                       backoff=0.01)
    with pytest.raises(EmbeddingError, match=r"after 2 attempts.*ConnectError"):
        e.embed(["a"])


def test_client_errors_are_not_retried(server: FakeOpenAI) -> None:
    server.script = [Reply(401, {"error": {"message": "Incorrect API key provided"}})]
    with pytest.raises(EmbeddingError, match=r"Incorrect API key.*check \$OPENAI_API_KEY"):
        embedder(server).embed(["a"])
    server.script = [Reply(400, {"error": {"message": "model not found"}})]
    with pytest.raises(EmbeddingError, match="HTTP 400: model not found"):
        embedder(server).embed(["a"])
    assert len(server.requests) == 2


def _data(*rows: Any) -> dict[str, Any]:
    return {"data": [{"index": i, "embedding": r} for i, r in enumerate(rows)]}


GOOD = raw_vector("x")


@pytest.mark.parametrize(("body", "message"), [
    (b"<html>bad gateway</html>", "not JSON"),
    ({"object": "list"}, "no 'data' list"),
    ({"data": "nope"}, "no 'data' list"),
    (_data(GOOD), "1 embeddings for 2 inputs"),
    (_data(GOOD, GOOD, GOOD), "3 embeddings for 2 inputs"),
    (_data(GOOD, GOOD[:4]), "different dimensions"),
    (_data(GOOD, [*GOOD[:7], "1"]), "non-numeric"),
    (_data(GOOD, [*GOOD[:7], None]), "non-numeric"),
    (_data(GOOD, [*GOOD[:7], True]), "non-numeric"),
    (_data(GOOD, "AAAAAA=="), "not a non-empty list"),
    (_data(GOOD, []), "not a non-empty list"),
    (_data(GOOD, [0.0] * DIM), "all-zero"),
    ({"data": [{"index": 0, "embedding": GOOD}, {"index": 0, "embedding": GOOD}]}, "indexes"),
    ({"data": [{"index": 0, "embedding": GOOD}, {"embedding": GOOD}]}, "indexes"),
])
def test_malformed_responses_fail_the_whole_call(server: FakeOpenAI, body: Any,
                                                 message: str) -> None:
    server.script = [Reply(body=body)]
    with pytest.raises(EmbeddingError, match=message):
        embedder(server).embed(["a", "b"])
    assert len(server.requests) == 1  # not retried: the server answered


def test_wrong_dimension_and_a_failed_later_batch(server: FakeOpenAI) -> None:
    with pytest.raises(EmbeddingError, match="4-dimension vectors, expected 8"):
        server.dimension = 4
        embedder(server, dimension=8).embed(["a"])
    server.dimension = DIM
    e = embedder(server, batch_size=1)
    e.embed(["first"])  # learns 8
    server.script = [Reply(), Reply(body=_data(raw_vector("b", 16)))]
    with pytest.raises(EmbeddingError, match="16-dimension vectors, expected 8"):
        e.embed(["a", "b"])  # the first batch succeeded, but nothing is returned


def test_retry_after_forms() -> None:
    assert retry_after(httpx.Headers({"Retry-After": "2"})) == 2.0
    assert retry_after(httpx.Headers({"retry-after-ms": "250", "Retry-After": "9"})) == 0.25
    assert retry_after(httpx.Headers({})) is None
    assert retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    date = retry_after(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert date == 0.0  # in the past
