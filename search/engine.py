"""The query side: `Engine` owns an index's keyword and vector stores and answers searches.

    with Engine.open("~/.local/share/accord/index") as engine:
        for hit in engine.search("military-technical cooperation Libya", k=10):
            print(hit.title, hit.score, hit.keyword, hit.semantic)

A search runs each leg it needs (over-fetching candidates, filters applied inside each leg),
fuses them, optionally re-sorts by date, collapses near-duplicates and builds hits. The embedding
model is loaded only when a query needs the semantic leg, so keyword searches never import torch.

This module is the ranker; the hits are assembled in search/hits.py, and the result types live in
search/results.py (imported here too, so `from search.engine import Hit` keeps working).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, ParamSpec, TypeVar, get_args

from index.embedding.encoder import Encoder, embed_queries, encoder_for
from index.errors import ArticleNotFound, InvalidArgument, ReadInterrupted
from index.filters import Filters
from index.storage.base import Generation, ServerHealth, Store, StoreView
from index.storage.factory import open_store
from index.storage.manifest import Manifest
from index.text.articles import Article
from search import regions, relevance, snippets
from search.feedback import Feedback, VectorFeedback, expanded_query, vector_feedback_run
from search.fusion import RRF_K, Scale, best_first, boost_by_coverage, convex_fusion, reciprocal_rank_fusion
from search.hits import Chosen, Run, build_hits, collapse_page, leg_scores
from search.passages import best_passages
from search.query import ParsedQuery, parse_query, with_extra_words
from search.relevance import Strength
from search.results import Candidate, Facets, Hit, IndexStats, SearchResult
from search.results import LegScore as LegScore  # re-exported: callers import it from here

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np  # imported where used: a keyword search never needs numpy
    from whoosh import query as whoosh_query

    from index.storage.docstore import StoredPassage
    from index.text.defence_facts import DefenceFacts

Mode = Literal["hybrid", "keyword", "semantic"]
FusionMethod = Literal["rrf", "convex"]
Sort = Literal["relevance", "date"]
MODES: tuple[str, ...] = get_args(Mode)
FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)
SORTS: tuple[str, ...] = get_args(Sort)
P = ParamSpec("P")
R = TypeVar("R")
STRENGTH_RANKS = 10  # the ranks whose word coverage a result's weak-match label looks at
# Facets count a search's candidates: each leg gives at least this many for them, as every search
# fetched before the legs' candidates were completed (RankingConfig.min_fetch).
FACET_CANDIDATES = 100
# A hybrid search over an index folder runs its semantic leg in a worker thread, beside the
# keyword leg, only for a query of at least this many words; shorter ones run both legs in turn
# (docs/performance.md, section 13: legs in turn or side by side).
PARALLEL_LEGS_WORDS = 40


@dataclass(frozen=True)
class RankingConfig:
    """How the hybrid ranker fuses its legs; the defaults are chosen by `accord eval`."""

    # Chosen on TIME dev, CISI and Cranfield together (docs/tuning.md, B, F and D tables): convex
    # fusion at keyword weight 0.3 is at least the better leg on all three; BM25 k1=2.0 beats 1.2
    # on all three. Each leg is divided by its best score ("max"), so the first page of ten is the
    # top of a deeper search (min-max scaling, before it, moved every score with the depth, and
    # its first page scored 0.0043 lower on the mean of the three).
    fusion: FusionMethod = "convex"
    rrf_k: int = RRF_K
    weight: float = 0.3  # keyword share in the convex combination
    scale: Scale = "max"  # how the convex combination scales each leg (search/fusion.py)
    # Each leg returns fetch_factor * k candidates, but never fewer than min_fetch, and every
    # candidate is scored by both legs (`Engine._completed`): from 30 a leg, a first page of ten
    # is the first ten of a search fetching 1,000 a leg on all but 2 of 343 dev queries, with the
    # same nDCG@10 (docs/tuning.md, D5). Before the candidates were completed, 50 and 30 lost
    # Cranfield beyond noise and the default was 100 (D4).
    fetch_factor: int = 3
    min_fetch: int = 30
    bm25_k1: float = 2.0  # BM25F term-frequency saturation
    bm25_b: float = 0.75  # BM25F length normalisation
    # Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)), beat whoosh's on CISI (docs/tuning.md,
    # K1 vs K2 and the Q table); "whoosh" is kept for the tuning scripts (index.storage.keyword.IDFS).
    idf: str = "lucene"
    # A region named in a query ("North Africa") also searches for its member countries at this
    # keyword weight, and lifts articles about them by this share of the top fused score: a soft
    # filter. Set on the seeds ("arms sales to North Africa": the Libya article needs a share
    # over 0.4 with the exact model, over 0.55 with the default int8 one, to pass the Iran one,
    # which says "arms sales"); no dev query names a region, so the dev collections cannot move.
    region_term_boost: float = 0.5
    region_lift: float = 0.7
    # Pseudo-relevance feedback (search/feedback.py); None: off. On the hybrid's keyword leg
    # (never in keyword mode), 5 articles, 10 terms, weight 0.2 raised the hybrid on all three
    # dev collections (docs/tuning.md, P table) for about twice the keyword leg's time; on the
    # semantic leg it did not (V table).
    feedback: Feedback | None = Feedback(docs=5, terms=10, weight=0.2)
    vector_feedback: VectorFeedback | None = None
    # The hybrid's fused score plus this x the share of the query's idf weight an article's words
    # hold (search/fusion.py `boost_by_coverage`), so a rare name in the query lifts the article
    # naming it. 0.2 raised nDCG@10 on all three dev collections (TIME dev +0.003, CISI +0.008,
    # Cranfield +0.002; 0.3 lowered TIME: docs/relevance.md). Convex fusion only. 0: off.
    coverage_boost: float = 0.2
    # With a share, the boost counts only the query's rare words: those in at most this share of
    # the articles (None: every word, each weighted by its idf). Measured and not the default: at
    # 0.3 and 0.5 it lowered CISI and Cranfield (docs/relevance.md).
    rare_share: float | None = None


@dataclass(frozen=True)
class _Candidates:
    fused: Run
    keyword: Run
    semantic: Run
    best_passage: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    complete: bool = True  # no leg was cut at the depth it was asked for
    vector: np.ndarray | None = None  # the query's embedding (None when the semantic leg did not run)
    words: relevance.WordMatches | None = None  # the query's words, when the ranking needed them
    # Best-passage cosines of the candidates only the keyword leg fetched (see Engine._completed).
    meaning: dict[str, float] = field(default_factory=dict)

    @functools.cached_property
    def cosines(self) -> dict[str, float]:
        """Every candidate's best-passage cosine the legs computed: the semantic leg's scores and
        the completion's (`meaning`); made once for the page's hits and the match strength."""
        return {**dict(self.semantic), **self.meaning}


def _retried(method: Callable[P, R]) -> Callable[P, R]:
    """`method` run once more when the store lost its connection before it answered: the whole
    call again, in a new snapshot, on another server (the one that failed is out of turn)."""
    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except ReadInterrupted:
            return method(*args, **kwargs)
    return run


class Engine:
    """An open index: searches it in keyword, semantic or hybrid mode.

    Sharing: one Engine may be used by many threads at once (a web server's worker threads,
    say). Each thread reads through its own whoosh searcher and SQLite connection; the query
    encoder (ONNX Runtime) and the faiss index are safe for concurrent use; faiss is set to one
    OpenMP thread for the process once, when the vectors are first loaded. A search keeps no
    state on the Engine: everything it found is in the SearchResult it returns.

    `refresh()` switches to a newer index generation (after an update) without stopping:
    searches already running finish on the generation they started on, which is closed when the
    last of them ends. An Engine is not shared between processes: each process opens its own
    (opening is cheap; the model is loaded on the first semantic query).

    The index is a folder or a PostgreSQL store (`Engine.open("postgresql://...")`): over a
    store, each search borrows one pooled connection (a replica's when there is one) and reads
    in one REPEATABLE READ snapshot, so its legs and hits come from one committed state, and
    `refresh()` notices a newer commit with one short query (index/storage/postgres/generation.py).
    A read that loses its connection (a replica stopped) runs once more from the start (`_retried`).
    """

    def __init__(
        self,
        store: Store,
        generation: Generation,
        encoder: Encoder | None = None,
        ranking: RankingConfig | None = None,
    ) -> None:
        self.store = store
        # What messages and stats show: the folder, or the database URL without its password.
        self.location = store.location
        self.ranking = ranking or RankingConfig()
        self._generation = generation
        self._generation_lock = threading.Lock()
        self._encoder = _for_queries(encoder) if encoder is not None else None
        self._encoder_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(
        cls,
        index_dir: Path | str | Store,
        encoder: Encoder | None = None,
        ranking: RankingConfig | None = None,
        *,
        replicas: Sequence[str] = (),
    ) -> Engine:
        """Open the index at `index_dir`: a folder, a PostgreSQL store named by a postgresql://
        URL (searches then go to the first of `replicas` that answers, else to it), or a `Store`
        from `index.storage.factory.open_store`.

        Raises IndexNotFound when there is none, IndexIncompatible when it was built by another
        format version or with a model other than `encoder`'s, StoreUnavailable when the
        database cannot be reached, InvalidArgument for replicas of a folder.
        """
        store = open_store(index_dir, replicas=replicas)
        ranking = ranking or RankingConfig()
        generation = store.open_generation(ranking.bm25_k1, ranking.bm25_b, encoder.name if encoder is not None else None, ranking.idf)
        return cls(store, generation, encoder, ranking)

    def servers(self) -> list[ServerHealth]:
        """The database servers behind the index, each asked now (a folder: none); for health checks."""
        return self._generation.servers()

    def store_counters(self) -> dict[str, int]:
        """How often the store's reads lost a connection and ran again, waited out a pool, probed
        a down server or opened a pool (a database store; a folder: {}); for monitoring and the
        failover benchmark."""
        return self._generation.counters()

    @property
    def manifest(self) -> Manifest:
        """The manifest of the generation new searches use."""
        return self._generation.manifest

    def refresh(self) -> bool:
        """Switch to the index's newest generation if an update published one; True if it did.

        Cheap when nothing changed (one stat of manifest.json; one short query on a PostgreSQL
        store), so a server may call it before every request. Searches already running finish
        on the old generation. Raises IndexIncompatible when the index was rebuilt with another
        model.
        """
        with self._generation_lock:
            current = self._generation
            fresh = current.newer(current.manifest.model)
            if fresh is None:
                return False
            self._generation = fresh
        current.retire()
        return True

    @_retried
    def warm(self) -> None:
        """Read now what the current generation's searches would otherwise read a piece at a
        time, and keep it: the article store's near-duplicate groups, the article of every
        passage and the articles themselves up to 32 million characters of text
        (`ArticleReader.hold`), the keyword index's term statistics, decoded postings and the
        articles' terms that feedback reads, shared by every thread (`KeywordStore.hold`), and,
        behind an HNSW graph, the exact vectors into the page cache (`VectorStore.hold`).
        Until then each search reads those of its candidates, passages and terms that no
        earlier search read: over the first 200 hybrid searches a warmed engine's p50 CPU was
        0.87x one that held only the article store's tables at 28,828 articles (0.88x at 10,000,
        0.90x at 2,000), and holding the feedback terms as well took it to 0.95x at 2,000 and
        0.93x at 10,000 of a warm engine without them. For a long-lived process: `accord serve`
        calls it at start and, in a thread of its own, for each new generation. A one-shot
        search should not (this reads every row and term: ~0.6 s at 2,000 articles, ~3 s and
        ~130 MB at 28,828; a search reads a few hundred). Keeps
        nothing on a PostgreSQL store, whose searches each read through their own connection.
        Safe from any thread; a search running meanwhile reads as before."""
        with self._using() as view:
            view.docs.hold()
            view.keyword.hold()
            view.vectors.hold()

    def close(self) -> None:
        """Close the stores (and the worker threads of long hybrid searches). Call it once no search
        is running; searches after it fail."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown()
        self._generation.retire()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def encoder(self) -> Encoder:
        """The index's embedding model, loaded on first use (once, whichever thread asks first)."""
        if self._encoder is None:
            with self._encoder_lock:
                if self._encoder is None:
                    self._encoder = _for_queries(encoder_for(self.manifest.model))
        return self._encoder

    @contextmanager
    def view(self) -> Iterator[StoreView]:
        """The current generation's stores (keyword index, vectors, article store), held open
        for the block: for tools that read beneath the ranker, such as the tuning scripts. The
        view stays on its generation even if a refresh moves the Engine on; safe in any thread."""
        with self._using() as view:
            yield view

    @contextmanager
    def _using(self) -> Iterator[StoreView]:
        """The stores of the current generation, held open for the duration of one call."""
        if self._closed:
            raise InvalidArgument("the engine is closed")
        with self._generation_lock:
            generation = self._generation
            generation.acquire()
        try:
            with generation.reading() as view:
                yield view
        finally:
            generation.release()

    @_retried
    def search(
        self,
        query: str,
        k: int = 10,
        mode: Mode = "hybrid",
        *,
        filters: Filters | None = None,
        sort: Sort = "relevance",
        collapse: bool = True,
        facets: bool = False,
        strict: bool = False,
        offset: int = 0,
        page_size: int | None = None,
    ) -> SearchResult:
        """The `k` best articles for `query` after the first `offset`, best first (with
        sort="date": those k, newest first).

        Pages: `offset=0, k=10` then `offset=10, k=10` continue one ranking. Each page is cut
        from one fused candidate list whose depth is a whole multiple of the first page's fetch
        (`fetch_factor * k`, at least `min_fetch`), so the pages within one such depth (the first
        three, by default; the first ten with facets) are slices of the same list: no overlap, no
        gap. Every candidate is scored by both legs, so at the default scale a longer list orders
        the candidates both hold the same way. The result's `total` counts that list after
        collapsing (see SearchResult). Filters apply inside both legs before fusion, so k hits
        come back when k exist. An article the keyword query excludes (NOT, AND NOT, a required
        term it lacks) is never returned, by either leg. Near-duplicates are collapsed into one
        hit listing its copies unless `collapse` is False. With `facets=True` the result also
        counts the candidates by country, year and source (each leg then fetched at least
        FACET_CANDIDATES deep). A malformed query is read as plain words (the result's notes say
        so); with `strict=True` it raises QuerySyntaxError. Raises InvalidArgument for a bad k,
        offset, mode or sort. `page_size` (default k) is the page size whose candidate list to
        cut from: `k=100, page_size=10` returns exactly the hits of the first ten pages of
        ten, as the views count them (search/views/matches.py).
        """
        started = time.perf_counter()
        self._check_arguments(query, k, mode, sort, offset)
        with self._using() as generation:
            parsed = parse_query(query, strict=strict, settings=generation.manifest.settings)
            depth = self._depth(k, offset, page_size, facets)
            while True:
                candidates = self._candidates(generation, parsed, mode, filters, depth)
                page = collapse_page(generation, candidates.fused, offset, k, collapse)
                # Collapsing copies may leave fewer hits than the page needs while the legs had
                # more to give: fetch deeper rather than return a short page.
                if page.total >= offset + k or candidates.complete:
                    break
                depth *= 2
            counted = self._facets(generation, candidates) if facets else None
            hits_started = time.perf_counter()
            # The page's hits and the ranks the match strength reads (the hybrid's words cover
            # every candidate already).
            asked = [doc_id for doc_id, _s, _c in page.chosen] + [doc_id for doc_id, _s in candidates.fused[:STRENGTH_RANKS]]
            words = candidates.words or self._word_matches(generation, parsed, asked)
            hits = self._hits(generation, parsed.highlight, candidates, page.chosen, sort, words)
            strength = self._strength(generation, candidates, hits, words)
        timings = dict(candidates.timings, hits=time.perf_counter() - hits_started)
        timings["total"] = time.perf_counter() - started
        notes = parsed.notes + candidates.notes + ((strength.note,) if strength.label == "weak" else ())
        return SearchResult(
            tuple(hits), counted, notes, timings, generation.manifest.generation,
            offset=offset, total=page.total, complete=candidates.complete, strength=strength,
        )

    @_retried
    def candidates(
        self, query: str, mode: Mode = "hybrid", *, filters: Filters | None = None, limit: int = 100
    ) -> list[Candidate]:
        """The ranked candidate list a search fuses, best first, before collapsing and paging.

        Each leg is asked for `limit` articles, so up to 2 * `limit` come back in hybrid mode.
        For views that count or chart matches (no snippets are made, no articles loaded).
        """
        self._check_arguments(query, 1, mode, "relevance", 0)
        if limit < 1:
            raise InvalidArgument(f"limit must be at least 1, not {limit}")
        with self._using() as generation:
            parsed = parse_query(query, settings=generation.manifest.settings)
            found = self._candidates(generation, parsed, mode, filters, limit)
        keyword_legs, semantic_legs = leg_scores(found.keyword), leg_scores(found.semantic)
        return [
            Candidate(doc_id, score, keyword_legs.get(doc_id), semantic_legs.get(doc_id))
            for doc_id, score in found.fused
        ]

    @_retried
    def similar(
        self, article_id: str, k: int = 10, *, filters: Filters | None = None, collapse: bool = True,
        offset: int = 0,
    ) -> SearchResult:
        """Articles most like `article_id` (more-like-this), through the same fusion as search,
        paged as search pages (`offset`, `total`).

        The keyword leg searches the article's most distinctive terms, the semantic leg the mean
        of its passage vectors. The article itself and its near-duplicates are left out.
        """
        import numpy as np

        started = time.perf_counter()
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, not {k}")
        if offset < 0:
            raise InvalidArgument(f"offset must be 0 or more, not {offset}")
        fetch = self._depth(k, offset)
        with self._using() as generation:
            article = self._article(generation, article_id)
            # The keyword store does not index the defence facts: it is given the ids that pass
            # them, as in _keyword_leg.
            entity_ids, keyword_filters = self._entity_ids(generation, filters)
            text = f"{article.title}\n{article.body}"
            keyword = generation.keyword.similar(text, fetch + 1, keyword_filters, entity_ids)
            passages = generation.docs.passages_of(article_id)
            mean = generation.vectors.vectors([p.id for p in passages]).mean(axis=0)
            centre = mean / (np.linalg.norm(mean) or 1.0)
            allowed = self._allowed_passages(generation, filters, None)
            semantic, best = self._best_passages(generation, centre, fetch + 1, allowed)
            group = generation.docs.duplicate_groups([article_id])[article_id]
            same = {article_id, *generation.docs.group_members([group]).get(group, [])}
            complete = len(keyword) <= fetch and len(semantic) <= fetch  # each leg was asked for fetch + 1
            keyword = [(d, s) for d, s in keyword if d not in same]
            semantic = [(d, s) for d, s in semantic if d not in same]

            def words(ids: set[str]) -> Run:  # the more-like-this query's scores of these articles
                return _scored_among(ids, entity_ids, lambda wanted: generation.keyword.similar(
                    text, len(wanted), keyword_filters, wanted))

            keyword_scored, semantic_scored, _meaning = self._completed(generation, keyword, semantic, centre, words)
            candidates = _Candidates(self._fuse(keyword_scored, semantic_scored, "hybrid"), keyword, semantic, best, complete=complete)
            page = collapse_page(generation, candidates.fused, offset, k, collapse)
            terms = frozenset(snippets.terms(article.title, generation.manifest.settings))
            hits = self._hits(generation, terms, candidates, page.chosen, "relevance")
        timings = {"total": time.perf_counter() - started}
        return SearchResult(tuple(hits), timings=timings, generation=generation.manifest.generation,
                            offset=offset, total=page.total, complete=complete)

    @_retried
    def articles(self, article_ids: Sequence[str]) -> dict[str, Article]:
        """The cleaned articles with these ids (ids not in the index are left out)."""
        with self._using() as generation:
            return generation.docs.articles(list(article_ids))

    @_retried
    def duplicate_groups(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The near-duplicate group of each of these articles (an article alone is its own group).

        For views that collapse copies the way search does.
        """
        with self._using() as generation:
            return generation.docs.duplicate_groups(list(article_ids))

    @_retried
    def duplicate_members(self, groups: Sequence[str]) -> dict[str, list[str]]:
        """The articles of each of these near-duplicate groups, by group (groups of one left out)."""
        with self._using() as generation:
            return generation.docs.group_members(list(groups))

    @_retried
    def keyword_run(self, query: str, limit: int, filters: Filters | None = None) -> Run:
        """The keyword leg alone: article ids with BM25F scores, best first."""
        with self._using() as generation:
            return self._keyword_leg(generation, parse_query(query, settings=generation.manifest.settings).keyword, limit, filters)[0]

    @_retried
    def semantic_run(self, query: str, limit: int, filters: Filters | None = None) -> tuple[Run, dict[str, int]]:
        """The semantic leg alone: article ids scored by their best passage, best first.

        Also returns each article's best passage id, for its snippet.
        """
        with self._using() as generation:
            parsed = parse_query(query, settings=generation.manifest.settings)
            allowed = self._allowed_passages(generation, filters, self._required(generation, parsed))
            return self._semantic_leg(generation, parsed, limit, allowed)

    @_retried
    def newest(self, k: int = 10) -> list[Article]:
        """The `k` articles with the latest publication dates, newest first (undated ones never),
        for a start page. Reads the dates of the last year's articles, widening to ten years and
        then to all when there are fewer than `k`."""
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, not {k}")
        year = time.gmtime().tm_year
        with self._using() as generation:
            docs = generation.docs
            for since in (f"{year - 1}-01-01", f"{year - 10}-01-01", "0001-01-01"):
                ids = docs.filtered_article_ids(since=since)
                if len(ids) >= k:
                    break
            dates = docs.dates(sorted(ids))
            chosen = sorted(ids, key=lambda doc_id: (dates[doc_id] or "", doc_id), reverse=True)[:k]
            found = docs.articles(chosen)
        return [found[doc_id] for doc_id in chosen if doc_id in found]

    @_retried
    def article(self, article_id: str) -> Article:
        """The cleaned article with this id; raises ArticleNotFound."""
        with self._using() as generation:
            return self._article(generation, article_id)

    @_retried
    def facts(self, article_id: str) -> DefenceFacts | None:
        """The defence facts stored for an article (docs/entities.md; spans into its title, a
        line break, its body), None when the index has none for it; raises ArticleNotFound."""
        with self._using() as generation:
            self._article(generation, article_id)
            return generation.docs.facts(article_id)

    @_retried
    def kinds_of(self, article_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The kinds of cooperation stored for each of `article_ids` (index/text/defence KINDS,
        in that order); an article with none is left out. One read per kind, whatever the number
        of articles. Raises IndexIncompatible for an index built before the facts were stored."""
        from index.text.defence.kinds import KINDS

        wanted = set(article_ids)
        found: dict[str, list[str]] = {}
        with self._using() as generation:
            for kind in KINDS:
                for article_id in generation.docs.filtered_article_ids(kinds=(kind,)) & wanted:
                    found.setdefault(article_id, []).append(kind)
        return {article_id: tuple(kinds) for article_id, kinds in found.items()}

    @_retried
    def stats(self) -> IndexStats:
        """Counts and description of the open index."""
        with self._using() as generation:
            m = generation.manifest
            return IndexStats(
                index_dir=self.location,
                model=m.model,
                dim=m.dim,
                format_version=m.format_version,
                generation=m.generation,
                articles=generation.docs.count_articles(),
                passages=generation.docs.count_passages(),
                sources=list(m.sources),
                created=m.created,
                keyword_fast_path=generation.keyword.fast_path,
            )

    def _article(self, generation: StoreView, article_id: str) -> Article:
        article = generation.docs.article(article_id)
        if article is None:
            raise ArticleNotFound(f"no article with id {article_id!r} in {self.location}")
        return article

    def _check_arguments(self, query: str, k: int, mode: str, sort: str, offset: int) -> None:
        if mode not in MODES:
            raise InvalidArgument(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if sort not in SORTS:
            raise InvalidArgument(f"sort {sort!r} is not one of {', '.join(SORTS)}")
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, not {k}")
        if offset < 0:
            raise InvalidArgument(f"offset must be 0 or more, not {offset}")
        if not query.strip():
            raise InvalidArgument("the query is empty; give some words to search for")

    def _fetch(self, k: int) -> int:
        return max(k * self.ranking.fetch_factor, self.ranking.min_fetch)

    def counted_candidates(self, k: int) -> int:
        """How many candidates each leg gives a search for `k` hits whose candidates are counted
        (facets, the timeline of a result): its fetch, at least FACET_CANDIDATES."""
        return max(self._fetch(k), FACET_CANDIDATES)

    def _depth(self, k: int, offset: int, page_size: int | None = None, facets: bool = False) -> int:
        """How many candidates each leg is asked for to serve hits offset+1 .. offset+k: the
        first page's fetch (a page of `page_size`, default k; `counted_candidates` with
        `facets`), times as many as it takes to reach offset + k. A whole multiple, so
        neighbouring pages share one list (a deeper list
        holds candidates a shallower one lacks, and an article fetched by one leg only gets 0
        from the other)."""
        if page_size is not None and page_size < 1:
            raise InvalidArgument(f"page_size must be at least 1, not {page_size}")
        first = self.counted_candidates(page_size or k) if facets else self._fetch(page_size or k)
        return first * -(-(offset + k) // first)

    def _required(self, generation: StoreView, parsed: ParsedQuery) -> set[str] | None:
        """The articles a boolean query allows (None: the query only ranks, all are allowed)."""
        if parsed.excludes_only:
            return set()
        if parsed.constraint is None:
            return None
        return generation.keyword.matching(parsed.constraint)

    def _candidates(
        self, generation: StoreView, parsed: ParsedQuery, mode: str, filters: Filters | None, fetch: int
    ) -> _Candidates:
        timings = {"keyword": 0.0, "semantic": 0.0}
        keyword: Run = []
        semantic: Run = []
        best: dict[str, int] = {}
        vector: np.ndarray | None = None
        if parsed.excludes_only:
            return _Candidates([], [], [], {}, timings)
        found_regions = regions.find_regions(parsed.embed_text)
        keyword_query = self._with_region_terms(parsed, found_regions)
        notes = (regions.note(found_regions),) if found_regions else ()
        if mode == "keyword":
            started = time.perf_counter()
            keyword = self._keyword_leg(generation, keyword_query, fetch, filters)[0]
            timings["keyword"] = time.perf_counter() - started
            fused = self._lift_region(generation, keyword, found_regions)
            return _Candidates(fused, keyword, [], {}, timings, notes, len(keyword) < fetch)
        # A boolean query (NOT, AND, a required term) limits the semantic leg to the articles
        # it matches, so meaning never brings back what the words excluded.
        allowed = self._allowed_passages(generation, filters, self._required(generation, parsed))
        if mode == "semantic":
            started = time.perf_counter()
            vector = self._query_vector(parsed)
            semantic, best = self._semantic_leg(generation, parsed, fetch, allowed, vector)
            timings["semantic"] = time.perf_counter() - started
        elif generation.one_connection:
            # A PostgreSQL store reads through one connection per search (one snapshot), which
            # runs one statement at a time: only the query's embedding, the costly part, is made
            # in the worker thread while this one runs the keyword leg's SQL.
            encoding = self._worker().submit(_timed, self._query_vector, parsed)
            started = time.perf_counter()
            keyword, keyword_scores = self._keyword_leg(generation, keyword_query, fetch, filters, feedback=True)
            timings["keyword"] = time.perf_counter() - started
            vector, encoded = encoding.result()
            started = time.perf_counter()
            semantic, best = self._semantic_leg(generation, parsed, fetch, allowed, vector)
            timings["semantic"] = encoded + time.perf_counter() - started
        else:
            # A query of a few words runs both legs in this thread, one after the other: each leg
            # is then mostly Python holding the GIL, and a worker thread only took turns with this
            # one at it, for more CPU and no less wall time. A long query's embedding (the model
            # lets go of the GIL) overlaps its long keyword leg: its semantic leg runs in a
            # worker thread while this one runs the keyword leg.
            semantic_leg = (self._embedded_semantic_leg, generation, parsed, fetch, allowed)
            pending = None
            if len(parsed.embed_text.split()) >= PARALLEL_LEGS_WORDS:
                pending = self._worker().submit(_timed, *semantic_leg)
            else:
                (vector, (semantic, best)), timings["semantic"] = _timed(*semantic_leg)
            started = time.perf_counter()
            keyword, keyword_scores = self._keyword_leg(generation, keyword_query, fetch, filters, feedback=True)
            timings["keyword"] = time.perf_counter() - started
            if pending is not None:
                (vector, (semantic, best)), timings["semantic"] = pending.result()
        meaning: dict[str, float] = {}
        if mode == "hybrid":
            # Each leg's candidates scored by the other leg too, so that no candidate gets 0 from
            # a leg only because that leg was not fetched deep enough to return it.
            keyword_scored, semantic_scored, meaning = self._completed(generation, keyword, semantic, vector, keyword_scores)
            fused = self._fuse(keyword_scored, semantic_scored, mode)
        else:
            fused = self._fuse(keyword, semantic, mode)
        words = None
        # On the convex combination's [0, 1] scale, where it was measured (RRF's scores are ~0.03).
        if mode == "hybrid" and self.ranking.coverage_boost > 0.0 and self.ranking.fusion == "convex":
            ids = [doc_id for doc_id, _s in fused]
            words = self._word_matches(generation, parsed, ids)
            counted = words if self.ranking.rare_share is None else words.rare(self.ranking.rare_share)
            fused = boost_by_coverage(fused, counted.coverages(ids), self.ranking.coverage_boost)
        fused = self._lift_region(generation, fused, found_regions)
        complete = len(keyword) < fetch and len(semantic) < fetch
        return _Candidates(fused, keyword, semantic, best, timings, notes, complete, vector, words, meaning)

    # Regions in queries (search/regions.py): two small steps around the legs.
    def _with_region_terms(self, parsed: ParsedQuery, found: Sequence[regions.Region]) -> whoosh_query.Query:
        """The keyword query, with the member countries of the regions it names added as a
        down-weighted group of plain words."""
        return with_extra_words(parsed, regions.expansion_terms(found), self.ranking.region_term_boost)

    def _lift_region(self, generation: StoreView, run: Run, found: Sequence[regions.Region]) -> Run:
        """`run` with the articles about a member country of a named region lifted."""
        if not found or not run:
            return run
        members = generation.docs.articles_in_countries(sorted(regions.region_countries(found)))
        return regions.boost_region(run, members, self.ranking.region_lift)

    @staticmethod
    def _entity_ids(generation: StoreView, filters: Filters | None) -> tuple[set[str] | None, Filters | None]:
        """The ids of the articles passing `filters`' defence-fact part (None: it has none), and
        the rest of `filters`, which the keyword stores apply themselves."""
        if filters is None or not filters.entities_active:
            return None, filters
        ids = generation.docs.filtered_article_ids((), (), None, None, **filters.entity_arguments())
        return ids, filters.without_entities()

    def _keyword_leg(
        self, generation: StoreView, query: whoosh_query.Query, limit: int, filters: Filters | None,
        feedback: bool = False,
    ) -> tuple[Run, Callable[[set[str]], Run]]:
        """The keyword leg's best `limit` articles, and what gives the BM25F scores the leg's
        query (`query`, or its expansion by pseudo-relevance feedback) gives any other articles,
        within the same filters (for `_completed`)."""
        # The keyword stores apply the other filters themselves but do not hold the defence facts:
        # they are given the ids of the articles that pass those (read from the article store),
        # and find the best `limit` among them, so a filtered search still fills k without
        # reading every keyword match.
        entity_ids, filters = self._entity_ids(generation, filters)
        # Equal scores are ordered by id, so the order does not depend on the index's history.
        found = best_first(generation.keyword.search(query, limit, filters, entity_ids))
        # Feedback only inside the hybrid: keyword mode returns exactly the articles with the
        # query's words, while the hybrid admits others through its semantic leg anyway.
        if feedback and self.ranking.feedback is not None:
            expanded = expanded_query(generation.keyword, generation.docs, query, found, self.ranking.feedback)
            if expanded is not None:
                query = expanded
                found = best_first(generation.keyword.search(query, limit, filters, entity_ids))

        def scores_of(ids: set[str]) -> Run:
            return _scored_among(ids, entity_ids, lambda allowed: generation.keyword.search(query, len(allowed), filters, allowed))

        return found, scores_of

    def _completed(
        self, generation: StoreView, keyword: Run, semantic: Run, vector: np.ndarray | None,
        words: Callable[[set[str]], Run],
    ) -> tuple[Run, Run, dict[str, float]]:
        """Both legs with each candidate that only the other leg fetched scored by this one too
        (`words` gives the keyword leg's scores of a set of articles; the semantic leg's is the
        best passage's cosine to `vector`), appended best first; and those cosines.

        Without this a candidate fetched by one leg got 0 from the other, however well that leg
        would have scored it, so the fused order of the candidates depended on how deep the legs
        were fetched: with it, the first page of ten fused from 30 candidates a leg is the first
        ten of a search for a hundred (1,000 a leg) on all but 2 of 343 dev queries
        (docs/tuning.md, D5). The appended entries rank after the leg's own (ties in the fused
        score go to the best rank in any leg)."""
        if not keyword or not semantic or vector is None:
            return keyword, semantic, {}
        fetched_words = {doc_id for doc_id, _score in keyword}
        fetched_meaning = {doc_id for doc_id, _score in semantic}
        lacking_words = {doc_id for doc_id in fetched_meaning if doc_id not in fetched_words}
        if lacking_words:
            keyword = [*keyword, *words(lacking_words)]
        meaning: dict[str, float] = {}
        # With vector feedback the semantic leg scored against a moved vector: its candidates'
        # scores are not cosines to `vector`, so the keyword-only ones are left at 0 then.
        if self.ranking.vector_feedback is None:
            meaning = self._passage_cosines(generation, vector, [d for d in fetched_words if d not in fetched_meaning])
            if meaning:
                semantic = [*semantic, *best_first(meaning.items())]
        return keyword, semantic, meaning

    @staticmethod
    def _passage_cosines(
        generation: StoreView, vector: np.ndarray, ids: Sequence[str],
        passages: Mapping[str, Sequence[StoredPassage]] | None = None,
    ) -> dict[str, float]:
        """The best-passage cosine to `vector` of each of `ids` that has passages (their ids from
        `passages` when they hold them all, else read), from the stored passage vectors."""
        if not ids:
            return {}
        import numpy as np  # loaded already: the semantic leg ran

        from index.storage.vectors import inner_products

        if passages is not None and all(doc_id in passages for doc_id in ids):
            by_article = {doc_id: [p.id for p in passages[doc_id]] for doc_id in ids}
        else:  # only their ids: no passage is made for this
            by_article = generation.docs.passage_ids_by_article(list(ids))
        owned = [(doc_id, by_article[doc_id]) for doc_id in ids if by_article.get(doc_id)]
        if not owned:
            return {}
        # One read and one pass of faiss's kernel for all of them, then each article's best.
        scores = inner_products(generation.vectors.vectors([pid for _doc, pids in owned for pid in pids]), vector)
        starts = np.cumsum([0] + [len(pids) for _doc, pids in owned[:-1]])
        best = np.maximum.reduceat(scores, starts)
        return {doc_id: float(score) for (doc_id, _pids), score in zip(owned, best.tolist(), strict=True)}

    def _fuse(self, keyword: Run, semantic: Run, mode: str) -> Run:
        if mode == "keyword":
            return keyword
        if mode == "semantic":
            return semantic
        if self.ranking.fusion == "convex":
            return convex_fusion(keyword, semantic, self.ranking.weight, self.ranking.scale)
        return reciprocal_rank_fusion([keyword, semantic], self.ranking.rrf_k)

    def _worker(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    from concurrent.futures import ThreadPoolExecutor

                    # One worker per core: with many threads searching at once, a single worker
                    # would queue every semantic leg behind the others.
                    self._pool = ThreadPoolExecutor(
                        max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="accord-semantic"
                    )
        return self._pool

    def _allowed_passages(
        self, generation: StoreView, filters: Filters | None, required: set[str] | None
    ) -> list[int] | None:
        """The passage ids a search may return (None: all), given its filters and the articles
        a boolean query allows."""
        articles: set[str] | None = required
        if filters is not None and filters.active:
            passing = generation.docs.filtered_article_ids(
                filters.countries, filters.sources, filters.since, filters.until, **filters.entity_arguments())
            articles = passing if articles is None else articles & passing
        if articles is None:
            return None
        return generation.docs.passage_ids_of(sorted(articles))

    def _semantic_leg(
        self, generation: StoreView, parsed: ParsedQuery, limit: int, allowed: list[int] | None,
        vector: np.ndarray | None = None,
    ) -> tuple[Run, dict[str, int]]:
        """The semantic leg for `parsed` (embedded now unless its `vector` is given) among
        `allowed` passages. It uses the model, the vectors and the article store but never
        whoosh, so over an index folder it may run in a worker thread while the calling thread
        runs the keyword leg."""
        if allowed is not None and not allowed:
            return [], {}
        if vector is None:
            vector = self._query_vector(parsed)
        found = self._best_passages(generation, vector, limit, allowed)
        if self.ranking.vector_feedback is not None:
            found = vector_feedback_run(
                lambda moved: self._best_passages(generation, moved, limit, allowed),
                generation.vectors.vectors, vector, found, self.ranking.vector_feedback,
            )
        return found

    def _embedded_semantic_leg(
        self, generation: StoreView, parsed: ParsedQuery, limit: int, allowed: list[int] | None
    ) -> tuple[np.ndarray | None, tuple[Run, dict[str, int]]]:
        """The query's embedding and the semantic leg run with it (in the calling thread, or in
        the worker thread for a long query)."""
        if allowed is not None and not allowed:
            return None, ([], {})
        vector = self._query_vector(parsed)
        return vector, self._semantic_leg(generation, parsed, limit, allowed, vector)

    def _query_vector(self, parsed: ParsedQuery) -> np.ndarray:
        """The query's embedding (what the semantic leg searches with)."""
        return embed_queries(self.encoder, [parsed.embed_text or parsed.text])[0]

    def _best_passages(
        self, generation: StoreView, vector: np.ndarray, limit: int, allowed: list[int] | None
    ) -> tuple[Run, dict[str, int]]:
        """Articles scored by their best passage near `vector`, best first, with that passage."""
        return best_passages(generation, vector, limit, allowed)

    def _facets(self, generation: StoreView, candidates: _Candidates) -> Facets:
        """Counts by country, year, source, and defence system, organisation, person and kind of
        cooperation over every candidate of a search."""
        articles = generation.docs.articles([doc_id for doc_id, _ in candidates.fused])
        countries: Counter[str] = Counter()
        years: Counter[str] = Counter()
        sources: Counter[str] = Counter()
        for article in articles.values():
            countries.update(article.countries)
            years[article.date[:4] if article.date else "undated"] += 1
            sources[article.source or "unknown"] += 1

        def ordered(counter: Mapping[str, int]) -> list[tuple[str, int]]:
            return sorted(counter.items(), key=lambda item: (-item[1], item[0]))

        entities = generation.docs.entity_counts(list(articles))
        return Facets(
            len(articles), ordered(countries), ordered(years), ordered(sources),
            systems=ordered(entities.get("system", {})), organisations=ordered(entities.get("organisation", {})),
            people=ordered(entities.get("person", {})), kinds=ordered(entities.get("kind", {})),
        )

    def _hits(
        self,
        generation: StoreView,
        highlight: frozenset[str],
        candidates: _Candidates,
        chosen: Chosen,
        sort: str,
        words: relevance.WordMatches | None = None,
    ) -> list[Hit]:
        """The page's hits (search/hits.py), with each one's cosine to the query."""
        shown = [doc_id for doc_id, _score, _copies in chosen]
        passages = generation.docs.passages_by_article(shown)  # for the snippets and the cosines alike
        cosines = self._cosines(generation, candidates, shown, passages)
        return build_hits(generation, highlight, chosen, sort, keyword=candidates.keyword, semantic=candidates.semantic,
                          best_passage=candidates.best_passage, cosines=cosines, words=words, passages=passages)

    # How well hits match on scales that mean the same for every query (search/relevance.py).
    def _word_matches(self, generation: StoreView, parsed: ParsedQuery, among: Sequence[str]) -> relevance.WordMatches:
        """The query's plain words with their idf and which of the articles `among` contain each
        (one keyword lookup per word: the postings the keyword leg read anyway)."""
        words = relevance.query_words(parsed.embed_text, parsed.highlight, parsed.settings)
        if not words:
            return relevance.WordMatches(())
        found = generation.keyword.term_matches([stem for _word, stem in words], among)
        return relevance.word_matches(words, found, generation.docs.count_articles(), among)

    def _cosines(
        self, generation: StoreView, candidates: _Candidates, ids: Sequence[str],
        passages: Mapping[str, Sequence[StoredPassage]] | None = None,
    ) -> dict[str, float]:
        """The best-passage cosine to the query of each of `ids` (none when the semantic leg did
        not run): the semantic leg's own score where it returned the article, or the one
        `_completed` computed, else computed from the article's passage vectors (its passages
        from `passages` when they hold them, else read)."""
        vector = candidates.vector
        if vector is None:
            return {}
        # With vector feedback the leg scored against a moved vector, not the query's.
        known = candidates.cosines if self.ranking.vector_feedback is None else {}
        cosines = {doc_id: known[doc_id] for doc_id in ids if doc_id in known}
        unknown = [doc_id for doc_id in ids if doc_id not in cosines]
        if unknown:
            cosines.update(self._passage_cosines(generation, vector, unknown, passages))
        return cosines

    def _strength(
        self, generation: StoreView, candidates: _Candidates, hits: Sequence[Hit], words: relevance.WordMatches
    ) -> Strength:
        """The result's label, the same on every page: from the closest article's cosine (the
        semantic leg's first; None in keyword mode) and the best coverage of the query among the
        first STRENGTH_RANKS of the ranking."""
        top = [doc_id for doc_id, _score in candidates.fused[:STRENGTH_RANKS]]
        coverages = [c for c in map(words.coverage, top) if c is not None]
        coverage = max(coverages) if coverages else None
        if candidates.vector is None:
            return relevance.strength(len(candidates.fused), None, coverage, generation.manifest.model)
        shown = [hit.relevance.cosine for hit in hits if hit.relevance is not None and hit.relevance.cosine is not None]
        closest = self._cosines(generation, candidates, [candidates.semantic[0][0]]) if candidates.semantic else {}
        best = max([*closest.values(), *shown], default=0.0)
        return relevance.strength(len(candidates.fused), best, coverage, generation.manifest.model)


def _scored_among(ids: set[str], entity_ids: set[str] | None, score: Callable[[set[str]], Run]) -> Run:
    """`score` of those of `ids` that pass the defence-fact filter (`entity_ids`; None: all),
    best first; nothing when none does (the keyword legs' scores of the other leg's candidates)."""
    allowed = ids if entity_ids is None else ids & entity_ids
    return best_first(score(allowed)) if allowed else []


def _for_queries(encoder: Encoder) -> Encoder:
    """`encoder`, asked to favour the latency of single queries over bulk throughput if it can."""
    encoder.prefer_latency()
    return encoder


def _timed(function, *args):
    """`function(*args)` and the seconds it took (for the semantic leg's timing)."""
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started

