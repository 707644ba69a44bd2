"""Search when things go wrong: another model's index, partial coverage, a failing
embedding provider (a real OpenAI-compatible server on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codegraph.api import CodeGraph
from codegraph.search.service import SearchError
from codegraph.search.vectors import VectorIndex
from helpers import (
    LoopbackHTTPServer,
    QuietHandler,
    cli_env,
    run_cli,
    touch_later,
    write_tree,
)
from search_corpus import CART, SHOP, default_search_config, stored_chunks  # noqa: F401

# -- model mismatch, partial coverage ------------------------------------------------------


def test_index_of_another_model(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop-repo", SHOP)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo), name="shop", workers=1, embed=True)
        total = cg.stats()["search"]["embedded"]
        assert total > 0
    # Another model's index takes the place of this one.
    other = VectorIndex.open(str(data / "faiss"), provider="other", model="x",
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
        assert all(set(h["scores"]) == {"lexical", "fusion", "priors", "graph_boost", "fused"}
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
                body = self.read_json()
                owner.requests += 1
                payload: dict[str, Any]
                if owner.failing:
                    status, payload = 500, {"error": {"message": "the model is on fire"}}
                else:
                    status, payload = 200, {"data": [
                        {"index": i, "embedding": [float(len(t) % 7 + 1), float(i + 1),
                                                   *map(float, t.encode()[:6].ljust(6))]}
                        for i, t in enumerate(body["input"])]}
                self.send_json(status, payload, {"retry-after-ms": "1"})

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
    return cg.store.embedding_cache.vector_count()


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
