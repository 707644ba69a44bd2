"""The library, and the one front door: every question is answered and every repository
indexed here. The command line, the HTTP API, MCP and the server's jobs all call it.

    with CodeGraph.open("/srv/index") as cg:
        cg.index("/src/shop", embed=True)
        cg.callers("shop.pricing.compute")          # the whole list
        cg.answer("callers", {"symbol": "compute", "limit": "5"})   # checked, one page

The questions are declared once, with their parameters and bounds, in
``query/catalog.py``; :meth:`CodeGraph.answer` checks a request against the declaration and
runs the method of the same name.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from codegraph import config as configuration
from codegraph.config import Config
from codegraph.errors import BadRequest, EmbeddingError
from codegraph.query import catalog, queries
from codegraph.query.paging import decode_cursor, encode_cursor, page, token_ceiling
from codegraph.query.queries import Listing, NotFoundError
from codegraph.query.source import snippet
from codegraph.query.summaries import RevisionCache, stats_counts
from codegraph.store.rocks import Store, close_after

if TYPE_CHECKING:  # the indexer and search load only when used: queries start fast
    from codegraph.index.indexer import Indexer, IndexReport, Progress
    from codegraph.search.embedding_run import EmbedReport
    from codegraph.search.service import SearchService

Item = dict[str, Any]
TICK = {"event": "tick"}  # a progress event that only lets a cancel stop a run there


class CodeGraph:
    def __init__(self, store: Store, config: Config, *, threaded: bool = False) -> None:
        """``threaded``: other threads of this process use it meanwhile (a server): its
        runs then never fork a process that could inherit another thread's locks (their
        workers are spawned; see ``index/pools.py``)."""
        self.store = store
        self.config = config
        self.threaded = threaded
        self._search: SearchService | None = None
        self.summaries = RevisionCache()  # stats and dependencies, per store revision

    @classmethod
    def open(cls, config: Config | str | None = None, *, readonly: bool = False,
             threaded: bool = False) -> CodeGraph:
        """Open the index of ``config``; a string is a data directory (as ``--data-dir``
        is), None the configuration of the environment."""
        if not isinstance(config, Config):
            config = configuration.load(data_dir=config)
        staging = () if readonly else (config.lexical_stage,)
        store = Store.open(config.rocksdb_path, readonly=readonly,
                           block_cache=config.block_cache, staging=staging)
        return cls(store, config, threaded=threaded)

    def close(self) -> None:
        try:
            if self._search is not None:
                self._search.close()
        finally:
            self.store.close()

    def __enter__(self) -> CodeGraph:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        close_after(self.close, failed=exc_type is not None)

    @property
    def revision(self) -> int:
        return self.store.revision

    @property
    def start_method(self) -> str:
        return "spawn" if self.threaded else "fork"

    @property
    def data_dir(self) -> str:
        return self.config.data_dir

    # -- indexing ---------------------------------------------------------------------------
    def indexer(self, workers: int | None = None, progress: Progress | None = None, *,
                store: Store | None = None) -> Indexer:
        """An indexer of this configuration, on this store (or on ``store``)."""
        from codegraph.index.indexer import Indexer

        return Indexer(store or self.store, workers=workers or self.config.workers,
                       max_file_size=self.config.max_file_size, progress=progress,
                       start_method=self.start_method)

    def index(self, path: str, *, name: str | None = None, full: bool = False,
              workers: int | None = None, progress: Progress | None = None,
              embed: bool = False,
              exclusive: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
              ) -> IndexReport:
        """Index a repository: its structure, then its lexical search rows; with ``embed``,
        then the embeddings of semantic search. ``full`` re-indexes from scratch beside the
        live index and switches to the result at the end (see :meth:`rebuild`). A
        ``progress`` callback that raises stops the run at its next atomic step."""
        if full:
            report = self.rebuild(path, name=name, workers=workers, progress=progress,
                                  exclusive=exclusive)
        else:
            from codegraph.search.lexical import LexicalIndex, default_path
            from codegraph.search.lexical_feed import LexicalFeed

            # A connection of the run's own: searches keep theirs (SQLite's WAL).
            with LexicalIndex.open(default_path(self.data_dir)) as lexical:
                feed = LexicalFeed(lexical, self.store, background=not self.threaded)
                report = self.indexer(workers, progress).index(path, name=name,
                                                               on_chunks=feed)
                feed.finish(tick=self._tick(progress, "lexical"))
        if embed:
            self.embed(progress, repo=report.repo)
        return report

    def rebuild(self, path: str, *, name: str | None = None, workers: int | None = None,
                progress: Progress | None = None,
                exclusive: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
                ) -> IndexReport:
        """Index a repository from scratch beside the live store, then switch to the result
        (``store/generations.py``): until the switch, readers (this object's, and other
        processes') see the previous index and its lexical rows, and a crash, a cancel or
        a failure leaves both as they were. The lexical index's new rows are written before
        the switch, in a transaction committed with it. The switch is made inside
        ``exclusive()``: a server's readers wait there for the moment it takes."""
        from codegraph.search.lexical import LexicalIndex, default_path
        from codegraph.search.lexical_feed import LexicalFeed
        from codegraph.store import generations

        live = self.store
        staging = generations.begin(live)
        try:
            with LexicalIndex.open(default_path(self.data_dir)) as lexical:
                feed = LexicalFeed(lexical, staging, full=True, background=False)
                report = self.indexer(workers, progress, store=staging).index(
                    path, name=name, full=True, on_chunks=feed)
                with feed.finishing(staging, self._tick(progress, "lexical")):
                    staging.close()  # (the lexical rows are committed with the switch)
                    with exclusive():
                        self._switch(staging.path)
        finally:  # what is left beside: the old store, or a failed run's staging one
            staging.close()
            generations.discard(live.path)
        return report

    def _switch(self, staging: str) -> None:
        """Put the store at ``staging`` in the live one's place, and open it (the live one
        is open again if that fails)."""
        from codegraph.store import generations

        live = self.store
        live.close()
        gc.collect()  # an iterator left in a reference cycle would keep RocksDB open
        try:
            # Anything still holding the live store open would go on naming its files
            # under the path that the switch gives the new store: refuse (StoreLocked).
            Store.open(live.path, block_cache=live.block_cache, tidy=False).close()
            generations.switch(staging, live.path)
        finally:  # the new store, or the previous one if the switch failed
            self.store = Store.open(live.path, block_cache=live.block_cache, tidy=False)
            if self._search is not None:  # its lexical and vector indexes stay
                self._search.store = self.store

    def update(self, repo: str, root: str, paths: list[str], *,
               progress: Progress | None = None) -> IndexReport:
        """Re-index the files ``paths`` of a repository (saved changes), then their lexical
        rows."""
        before = self.store.revision
        report = self.indexer(progress=progress).update_paths(repo, root, paths)
        self.search_service().sync_paths(repo, report.changed, since=before,
                                         tick=self._tick(progress))
        return report

    def remove(self, repo: str, *, progress: Progress | None = None) -> None:
        """Remove a repository from the index, and its lexical rows."""
        self.indexer(progress=progress).remove_repo(repo)
        self.search_service().sync_lexical(self._tick(progress, "lexical"))

    def embed(self, progress: Progress | None = None, *, repo: str | None = None
              ) -> EmbedReport:
        """Embed the chunks of ``repo`` (all repositories when None) that lack a current
        vector, most-called source first, saving every few seconds of work; drop the
        vectors of chunks gone or excluded. ``progress`` may raise to stop the run (what it
        saved stays)."""
        return self.search_service().embed(progress, repo=repo)

    def embed_backlog(self, repo: str | None = None) -> Item:
        """How many chunks (of ``repo``, or all) wait for a vector, and roughly how long
        they take at the model's last measured rate (None if never measured)."""
        return self.search_service().backlog(repo)

    @staticmethod
    def _tick(progress: Progress | None, phase: str | None = None) -> Callable[[], None] | None:
        """Announce ``phase`` and give the points where a cancel may stop it."""
        if progress is None:
            return None
        if phase:
            progress({"event": phase})
        return functools.partial(progress, TICK)

    def checkpoint(self, dest: str, *, lexical: bool = True, vectors: bool = True) -> str:
        """Publish a consistent copy of the index in ``dest``, a new data directory that
        readers open read-only (``--data-dir DEST``, on read-only media too): the store,
        the lexical index and the vector index (``lexical``/``vectors`` False: left to the
        caller, ``snapshots.publish``), as of now. Only the writer may: nothing changes
        meanwhile."""
        data_dir, rocksdb, faiss = configuration.layout(dest)
        self.store.checkpoint(rocksdb)
        self.search_service().copy_to(data_dir, faiss, lexical=lexical, vectors=vectors)
        return data_dir

    def search_service(self) -> SearchService:
        if self._search is None:
            from codegraph.search.service import SearchService

            self._search = SearchService(self.store, self.data_dir, self.config.faiss_path,
                                         config=self.config)
        return self._search

    # -- answering ----------------------------------------------------------------------------
    def answer(self, name: str, args: dict[str, Any]) -> Any:
        """The declared query ``name`` (``query/catalog.py``) asked with ``args`` (text, as
        in a query string, or JSON values): checked, run, and cut to one page if the query
        is paged. A bad argument raises :class:`codegraph.errors.BadRequest`."""
        query = catalog.query(name)
        kwargs = query.arguments(args)
        if kwargs.get("repo"):  # one answer for every query: not found ("": every one)
            self.known_repo(kwargs["repo"])
        capped = None
        if any(p.name == "max_tokens" for p in query.all_params):  # CODEGRAPH_MAX_TOKENS
            kwargs["max_tokens"], capped = token_ceiling(kwargs.get("max_tokens"),
                                                         self.config.max_tokens)
        out = self._answer(query, kwargs)
        if capped:  # a budget over the ceiling was asked: the answer says it was cut to it
            out["max_tokens_capped"] = capped
        return out

    def _answer(self, query: catalog.Query, kwargs: dict[str, Any]) -> Any:
        name = query.name
        if not query.paged:
            return getattr(self, name)(**kwargs)
        limit, cursor = kwargs.pop("limit"), kwargs.pop("cursor", None)
        max_tokens = kwargs.pop("max_tokens", None)
        items = getattr(self, name)(**kwargs)
        out = page(items, limit, cursor, max_tokens)
        about = items.about if isinstance(items, Listing) else {}
        if about:  # beside every page: the counts and the cap are the whole list's
            out.update(about)
            out["truncated"] = out["truncated"] or bool(about.get("capped"))
        return out

    def known_repo(self, repo: str) -> str:
        """``repo`` if it is indexed, else :class:`NotFound` (HTTP 404, exit 2, MCP)."""
        if repo not in self.store.repos():
            raise NotFoundError(f"no repository named {repo!r}")
        return repo

    # -- the questions (query/catalog.py declares them) -------------------------------------
    def search(self, query: str, *, mode: str = "hybrid", repo: str | None = None,
               language: str | None = None, kind: str | None = None, path: str | None = None,
               graph_boost: bool = False, limit: int = 10, cursor: str | None = None,
               max_tokens: int | None = None, offset: int | None = None) -> Item:
        """Search code: one page of hits, best first (``next_cursor`` continues; the library
        may give an ``offset`` instead)."""
        from codegraph.search.service import MAX_WINDOW

        start = decode_cursor(cursor) if offset is None else offset
        if cursor is not None and start >= MAX_WINDOW:
            raise BadRequest(f"offset + limit must be at most {MAX_WINDOW}: narrow the "
                             "search instead of paging this deep")
        if cursor is not None:  # the last page of the window is cut to fit it
            limit = min(limit, MAX_WINDOW - start)
        peek = 1 if limit >= 1 and start + limit < MAX_WINDOW else 0  # one more: is there?
        found = self.search_service().search(
            query, mode=mode, limit=limit + peek, offset=start, repo=repo,
            language=language, kind=kind, path=path, graph_boost=graph_boost)
        results = found.pop("results")
        chosen = page(results[:limit], limit, None, max_tokens)
        end = start + len(chosen["results"])
        more = (len(results) > limit or chosen["truncated"]) and end < MAX_WINDOW
        # total: None, a ranked search is cut at its window and never counted whole
        return {**found, "results": chosen["results"], "total": None,
                "truncated": chosen["truncated"],
                "next_cursor": encode_cursor(end) if more else None}

    def symbols(self, query: str, *, kind: str | None = None, language: str | None = None,
                repo: str | None = None, path: str | None = None) -> Listing:
        """Exact, prefix, then fuzzy name matches, in a fixed order; at most
        ``catalog.MAX_LIMIT`` (``.about``: ``capped`` when more matched)."""
        return queries.symbols(self.store, query, kind=kind, language=language, repo=repo,
                               path=path, limit=catalog.MAX_LIMIT)

    def symbol(self, symbol: str, repo: str | None = None, context: int = 0) -> list[Item]:
        """The matching definitions, each with its source text (``context`` lines more on
        each side)."""
        out = []
        for n in queries.resolve_symbol(self.store, symbol, repo)[:20]:
            item = queries.node_item(n)
            item["source"] = snippet(self.store, n.repo, n.path, max(1, n.line - context),
                                     n.end_line + context)
            out.append(item)
        return out

    def definition(self, symbol: str, repo: str | None = None) -> list[Item]:
        return queries.definition(self.store, symbol, repo)

    def references(self, symbol: str, repo: str | None = None,
                   min_confidence: float | None = None) -> Listing:
        """Every reference to a symbol; ``.about`` holds how many sites of its name were
        left ``unresolved`` or went to a known ``external`` (see ``queries.unresolved``)."""
        return queries.refs(self.store, symbol, repo, min_confidence)

    refs = references

    def callers(self, symbol: str, repo: str | None = None,
                min_confidence: float | None = None) -> Listing:
        """Who calls a symbol; ``.about`` holds how many calls to its name were left
        ``unresolved`` or went to a known ``external``."""
        return queries.callers(self.store, symbol, repo, min_confidence)

    def callees(self, symbol: str, repo: str | None = None,
                min_confidence: float | None = None) -> Listing:
        return queries.callees(self.store, symbol, repo, min_confidence)

    def impact(self, symbol: str, depth: int = 3, repo: str | None = None,
               min_confidence: float | None = None,
               max_nodes: int = queries.MAX_IMPACT) -> Listing:
        """What may break, nearest first, at most ``max_nodes``; ``.about`` adds to the
        unresolved counts ``max_nodes`` and ``capped`` (it stopped there)."""
        return queries.impact(self.store, symbol, depth, repo, min_confidence, max_nodes)

    def outline(self, file: str, repo: str | None = None) -> list[Item]:
        return queries.outline(self.store, file, repo)

    def dependencies(self, repo: str | None = None, cycles: bool = False) -> list[Item]:
        """Computed once per store revision (``query/summaries.py``)."""
        store = self.store
        return self.summaries.get(store, ("dependencies", repo, cycles),
                                  lambda: queries.deps(store, repo, cycles))

    def graph(self, symbol: str, depth: int = 1, repo: str | None = None,
              limit: int = 100) -> Item:
        return queries.neighbourhood(self.store, symbol, depth, repo, limit)

    def similar(self, symbol: str, repo: str | None = None, limit: int = 100) -> list[Item]:
        nodes = queries.resolve_symbol(self.store, symbol, repo)
        return self.search_service().similar([n.id for n in nodes], limit)

    def map(self, repo: str | None = None, path: str | None = None,
            max_tokens: int | None = None) -> Item:
        """The repository map (``query/repomap.py``): the most important definitions of a
        repository or a directory, with signatures, grouped by file, in ``max_tokens``."""
        from codegraph.query.repomap import repo_map

        return repo_map(self.store, repo, path, max_tokens or self.config.max_tokens)

    def stats(self, repo: str | None = None) -> Item:
        store = self.store  # the counts: once per store revision (query/summaries.py)
        out = stats_counts(self.summaries, store, repo, lambda: queries.stats(store, repo))
        live = self.summaries.get(store, ("embedding", repo),
                                  functools.partial(self._embedding_figures, repo),
                                  token=self._embedding_token())
        out.update({k: dict(v) for k, v in live.items()})
        return out

    def _embedding_figures(self, repo: str | None) -> dict[str, Item]:
        out = {"search": self.search_service().coverage()}
        try:  # the backlog (a server adds its running embedding job's progress)
            out["embedding"] = self.embed_backlog(repo)
        except (ImportError, EmbeddingError) as exc:  # no model in this build
            out["embedding"] = {"repo": repo, "pending": None, "error": str(exc)}
        return out

    def _embedding_token(self) -> tuple[Any, ...]:
        """What search coverage and the backlog read besides the store's revision: the
        vector manifest's stat, the last run's failures, and per model its rate and id
        map (chunk id -> the hash its vector was made from: a few ms to read)."""
        from codegraph.search.vector_manifest import MANIFEST_FILE, saved_manifest

        service, cache = self.search_service(), self.store.embedding_cache
        models, stat = set(), None
        try:
            st = os.stat(os.path.join(service.vector_dir, MANIFEST_FILE))
            stat = (st.st_mtime_ns, st.st_size)
            manifest = saved_manifest(service.vector_dir, cached=True)
            if manifest is not None:
                models.add(f"{manifest.provider}/{manifest.model}")
        except (OSError, ValueError):
            pass
        with contextlib.suppress(ImportError, EmbeddingError):
            embedder = service.embedder()
            models.add(f"{embedder.provider}/{embedder.model}")
        return (stat, cache.failures(),
                tuple((m, cache.rate(m), cache.embedded(m)) for m in sorted(models)))

    def snippet(self, repo: str, path: str, start: int, end: int) -> str | None:
        return snippet(self.store, repo, path, start, end)

