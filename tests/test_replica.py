"""One writer, read-only replicas: a real ``serve --role indexer`` publishes snapshots of its
index, and real ``serve --role replica`` processes answer from them through a read-only
bind mount of the data directory (every write there fails with EROFS, even as root)."""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from codegraph import snapshots
from helpers import dir_digest, write_tree
from mounts import read_only_view
from serverproc import ServerProcess

AUTH = {"X-API-Key": "k" * 32}
KEYS = {"CODEGRAPH_API_KEY": "k" * 32, "CODEGRAPH_EMBED": "0", "CODEGRAPH_MIN_REVISION_WAIT": "3"}
SOURCE = {"app/core.py": "def target():\n    return 1\n\n\ndef caller():\n    return target()\n"}


def marker_file(n: int) -> str:
    """Revision ``n`` of the edited file: its one function is named for it."""
    return f"def marker_{n}():\n    return {n}\n"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path, Path]]:
    """An indexer that watches a repository, and a read-only view of its data directory."""
    repo = write_tree(tmp_path / "repo", {**SOURCE, "app/marker.py": marker_file(0)})
    indexer = ServerProcess(tmp_path / "indexer", [repo], repos_root=tmp_path,
                            env={"CODEGRAPH_ROLE": "indexer", "CODEGRAPH_SNAPSHOT_GRACE": "3",
                                 "CODEGRAPH_PUBLISH_INTERVAL": "0.2", **KEYS})
    try:
        wait_published(indexer)
        with read_only_view(Path(indexer.data_dir), tmp_path / "view") as view:
            yield indexer, repo, view
    finally:
        indexer.stop()


def replica(tmp_path: Path, view: Path, name: str, **env: str) -> ServerProcess:
    return ServerProcess(tmp_path / name, flags=("--data-dir", str(view)),
                         env={"CODEGRAPH_ROLE": "replica", "CODEGRAPH_SNAPSHOT_POLL": "0.2",
                              **KEYS, **env})


def wait_published(indexer: ServerProcess, revision: int | None = None,
                   timeout: float = 30.0) -> str:
    """The id of the snapshot ``current`` names once it has ``revision`` (the indexer's)."""
    deadline = time.monotonic() + timeout
    want = revision if revision is not None else int(indexer.get("/health").headers[
        "x-codegraph-revision"])
    while time.monotonic() < deadline:
        name = snapshots.current(indexer.data_dir)
        if name is not None:
            manifest = snapshots.Manifest.read(snapshots.path_of(indexer.data_dir, name))
            if manifest.revision >= want:
                return name
        time.sleep(0.05)
    raise AssertionError(f"revision {want} not published in {timeout} s:\n{indexer.output()}")


def wait_embedded(indexer: ServerProcess, chunks: int, timeout: float) -> None:
    """Until the snapshot ``current`` names holds at least ``chunks`` embedded chunks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        name = snapshots.current(indexer.data_dir)
        if name and snapshots.Manifest.read(snapshots.path_of(
                indexer.data_dir, name)).figures.get("embedded", 0) >= chunks:
            return
        time.sleep(0.1)
    raise AssertionError(f"no snapshot with {chunks} embedded chunks:\n{indexer.output()}")


def edit(indexer: ServerProcess, repo: Path, n: int) -> int:
    """Save revision ``n`` of the marker file; the indexer's revision once it is indexed."""
    before = int(indexer.get("/health").headers["x-codegraph-revision"])
    (repo / "app" / "marker.py").write_text(marker_file(n))
    r = indexer.get("/api/v1/symbols", query=f"marker_{n}", min_revision=before + 1)
    assert r.status_code == 200, r.text
    return int(r.headers["x-codegraph-revision"])


def markers(answer: dict[str, Any]) -> set[str]:
    return {s["name"] for s in answer["results"] if s["name"].startswith("marker_")}


def test_a_replica_serves_snapshots_and_follows_the_indexer(
        cluster: tuple[ServerProcess, Path, Path], tmp_path: Path) -> None:
    indexer, repo, view = cluster
    first = snapshots.published(indexer.data_dir)[0]  # never an empty index: replicas
    assert snapshots.Manifest.read(  # would be ready with nothing to answer
        snapshots.path_of(indexer.data_dir, first)).figures["files"] == 2
    with replica(tmp_path, view, "r1") as r1:
        ready = r1.ok("/health/ready")
        assert ready["role"] == "replica" and ready["snapshot"] == snapshots.current(str(view))
        revision = ready["revision"]
        assert revision == int(indexer.get("/health").headers["x-codegraph-revision"])
        callers = r1.get("/api/v1/callers", symbol="target")
        assert callers.status_code == 200
        assert [c["name"] for c in callers.json()["results"]] == ["caller"]
        assert callers.headers["x-codegraph-revision"] == str(revision)

        # an edit, indexed and published: the replica serves it without a restart
        newer = edit(indexer, repo, 1)
        answer = r1.get("/api/v1/symbols", query="marker_", min_revision=newer)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-codegraph-revision"] == str(newer)
        assert markers(answer.json()) == {"marker_1"}
        serving = snapshots.path_of(str(view), r1.ok("/health/ready")["snapshot"])
        before = dir_digest(serving)

        # behind: waits CODEGRAPH_MIN_REVISION_WAIT (3 s), then 409 naming its revision
        started = time.monotonic()
        far = r1.get("/api/v1/callers", symbol="target", min_revision=newer + 1000)
        assert 2.5 < time.monotonic() - started < 10
        assert far.status_code == 409, far.text
        assert far.json()["error"]["code"] == "revision_not_reached"
        assert f"revision {newer}," in far.json()["error"]["message"]
        assert far.headers["retry-after"] == "1"

        # writes belong to the indexer
        for method, path, body in (("POST", "/api/v1/repos", {"path": str(repo)}),
                                   ("DELETE", "/api/v1/repos/repo", None),
                                   ("POST", "/api/v1/jobs", {"repo": "repo"})):
            r = r1.client.request(method, path, json=body, headers=AUTH)
            assert r.status_code == 409, (path, r.text)
            assert r.json()["error"]["code"] == "read_only_replica"
        assert r1.ok("/api/v1/jobs")["results"] == []
        assert "Traceback" not in r1.output()
        assert dir_digest(serving) == before  # what it served, byte for byte


def test_a_replica_before_the_first_snapshot_is_not_ready(tmp_path: Path) -> None:
    """Not ready, and clear about why, until the first publish; then it serves it (the
    snapshots directory did not exist when it started: it polls until it does)."""
    from codegraph.api import CodeGraph

    repo = write_tree(tmp_path / "repo", SOURCE)
    data = tmp_path / "data"
    with CodeGraph.open(str(data)) as cg:
        cg.index(str(repo))
    with read_only_view(data, tmp_path / "view") as view, \
            ServerProcess(tmp_path / "r", flags=("--data-dir", str(view)), wait_ready=False,
                          env={"CODEGRAPH_ROLE": "replica", **KEYS}) as r:
        ready = r.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["snapshot"] is None
        assert ready.json()["components"]["store"]["status"] == "waiting"
        query = r.get("/api/v1/callers", symbol="target")
        assert query.status_code == 503 and "no snapshot" in query.json()["error"]["message"]
        assert r.get("/health").status_code == 200
        with CodeGraph.open(str(data)) as cg:
            published = snapshots.publish(cg)
        r.wait(ready=True, timeout=10)
        assert r.ok("/health/ready")["snapshot"] == published.id
        assert [c["name"] for c in r.ok("/api/v1/callers", symbol="target")["results"]] == [
            "caller"]


def test_a_switch_under_load_fails_nothing_and_mixes_nothing(
        cluster: tuple[ServerProcess, Path, Path], tmp_path: Path) -> None:
    """Readers hammer a replica while five edits are published: every answer is whole and
    agrees with the revision in its header."""
    indexer, repo, view = cluster
    seen: dict[int, set[str]] = {}
    with replica(tmp_path, view, "r1") as r1:
        stop = threading.Event()
        answers: list[tuple[int, int, set[str]]] = []

        def read() -> None:
            with httpx.Client(base_url=r1.url, timeout=30) as client:
                while not stop.is_set() and len(answers) < 20_000:
                    got = client.get("/api/v1/symbols", params={"query": "marker_"})
                    body = got.json() if got.status_code == 200 else {"results": []}
                    answers.append((got.status_code, int(got.headers.get(
                        "x-codegraph-revision", -1)), markers(body)))

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            readers = [pool.submit(read) for _ in range(8)]
            try:
                for n in range(1, 6):
                    seen[edit(indexer, repo, n)] = {f"marker_{n}"}
                    wait_published(indexer, max(seen))
                    time.sleep(0.5)
            finally:
                stop.set()
            for f in readers:
                f.result(timeout=60)
    assert answers and all(status == 200 for status, _, _ in answers), answers[:5]
    served = {rev for _, rev, _ in answers}
    assert len(served & set(seen)) >= 3, (served, seen)  # it did switch, several times
    for _, rev, names in answers:
        if rev in seen:
            assert names == seen[rev], (rev, names)
        else:  # the first snapshot, or one published between the saves
            assert len(names) == 1


def test_superseded_snapshots_go_after_the_grace(
        cluster: tuple[ServerProcess, Path, Path]) -> None:
    indexer, repo, _ = cluster
    first = snapshots.current(indexer.data_dir)
    for n in range(1, 4):
        wait_published(indexer, edit(indexer, repo, n))
    assert first in snapshots.published(indexer.data_dir)  # within the grace (3 s)
    time.sleep(3.5)
    wait_published(indexer, edit(indexer, repo, 9))  # (pruned right after it is current)
    deadline = time.monotonic() + 10
    while first in snapshots.published(indexer.data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    kept = snapshots.published(indexer.data_dir)
    assert first not in kept and snapshots.current(indexer.data_dir) == kept[-1]
    usage = snapshots.disk_usage(indexer.data_dir)
    assert usage["shared_bytes"] < usage["apparent_bytes"]  # SST files shared by hard links


def test_semantic_search_on_a_replica(tmp_path: Path) -> None:
    """A replica embeds the query itself (the local model, loaded once) and searches the
    vectors the indexer published."""
    repo = write_tree(tmp_path / "repo", {
        "shop/pricing.py": "def apply_tax(amount, rate):\n    return amount * (1 + rate)\n",
        "shop/mail.py": "def send_invoice(address):\n    return f'mail to {address}'\n"})
    embed = {**KEYS, "CODEGRAPH_EMBED": "1"}
    with ServerProcess(tmp_path / "indexer", [repo], repos_root=tmp_path,
                       env={"CODEGRAPH_ROLE": "indexer", **embed}) as indexer:
        wait_embedded(indexer, 2, timeout=120)
        with read_only_view(Path(indexer.data_dir), tmp_path / "view") as view, \
                replica(tmp_path, view, "r1", **embed) as r1:
            found = r1.ok("/api/v1/search", query="price of an item with tax",
                          mode="semantic")
            assert found["results"][0]["name"] == "apply_tax", found
            assert r1.ok("/health/ready")["components"]["vector_index"]["status"] == "ok"


def test_a_replica_embeds_queries_through_the_openai_provider(tmp_path: Path) -> None:
    """EMBEDDING_PROVIDER=openai: the indexer embeds the chunks and a replica each query,
    both through the OpenAI-compatible server (a fake one on 127.0.0.1)."""
    from test_embeddings_openai import KEY, FakeOpenAI

    fake = FakeOpenAI()
    repo = write_tree(tmp_path / "repo", SOURCE)
    env = {**KEYS, "CODEGRAPH_EMBED": "1", "EMBEDDING_PROVIDER": "openai",
           "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": fake.base_url, "NO_PROXY": "127.0.0.1"}
    try:
        with ServerProcess(tmp_path / "indexer", [repo], repos_root=tmp_path,
                           env={"CODEGRAPH_ROLE": "indexer", **env}) as indexer:
            wait_embedded(indexer, 2, timeout=60)
            with read_only_view(Path(indexer.data_dir), tmp_path / "view") as view, \
                    replica(tmp_path, view, "r1", **env) as r1:
                found = r1.ok("/api/v1/search", query="who returns one", mode="semantic")
                assert found["results"], found
        asked = [r["body"]["input"] for r in fake.requests]
        assert ["who returns one"] in asked, asked[-3:]
    finally:
        fake.close()


def test_publishes_are_at_least_the_interval_apart(tmp_path: Path) -> None:
    """CODEGRAPH_PUBLISH_INTERVAL bounds how many snapshots a burst of saves makes (and so
    the disk they take within the grace); the last save is still published."""
    repo = write_tree(tmp_path / "repo", {**SOURCE, "app/marker.py": marker_file(0)})
    with ServerProcess(tmp_path / "indexer", [repo], repos_root=tmp_path,
                       env={"CODEGRAPH_ROLE": "indexer", "CODEGRAPH_PUBLISH_INTERVAL": "1.5",
                            **KEYS}) as indexer:
        wait_published(indexer)
        last = 0
        for n in range(1, 5):
            last = edit(indexer, repo, n)
        wait_published(indexer, last, timeout=15)
        created = [snapshots.Manifest.read(snapshots.path_of(indexer.data_dir, name)).created
                   for name in snapshots.published(indexer.data_dir)]
        gaps = [b - a for a, b in itertools.pairwise(created)]
        assert gaps and min(gaps) >= 1.4, gaps
