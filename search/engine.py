"""The query side: `Engine` owns an index's keyword and vector stores and answers searches.

    with Engine.open("~/.local/share/accord/index") as engine:
        for hit in engine.search("military-technical cooperation Libya", k=10):
            print(hit.title, hit.score, hit.keyword, hit.semantic)

A search runs each leg it needs (over-fetching candidates, filters applied inside each leg),
fuses them, optionally re-sorts by date, collapses near-duplicates and builds hits. The embedding
model is loaded only when a query needs the semantic leg, so keyword searches never import torch.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from whoosh import index as whoosh_index

from index.text.articles import Article
from index.storage.docstore import DocStore
from index.embedding.encoder import Encoder, encoder_for
from index.errors import ArticleNotFound, IndexIncompatible, InvalidArgument
from index.storage.filters import Filters
from index.storage.keyword import KeywordStore, WhooshKeywordStore, check_query_syntax, plain_text
from index.storage.layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE
from index.storage.manifest import Manifest, read_manifest
from index.storage.vectors import LazyVectorStore, VectorStore
from search import regions, snippets
from search.fusion import RRF_K, convex_fusion, reciprocal_rank_fusion

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np  # imported where used: a keyword search never needs numpy

Mode = Literal["hybrid", "keyword", "semantic"]
FusionMethod = Literal["rrf", "convex"]
Sort = Literal["relevance", "date"]
MODES: tuple[str, ...] = get_args(Mode)
FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)
SORTS: tuple[str, ...] = get_args(Sort)
Run = list[tuple[str, float]]


@dataclass(frozen=True)
class RankingConfig:
    """How the hybrid ranker fuses its legs; the defaults are chosen by `accord eval`."""

    # Chosen on TIME dev, CISI and Cranfield together (docs/tuning.md, B and F tables): convex
    # min-max fusion at keyword weight 0.3 is at least the better leg on all three and within
    # 0.004 of the best mean; BM25 k1=2.0 beats 1.2 on all three.
    fusion: FusionMethod = "convex"
    rrf_k: int = RRF_K
    weight: float = 0.3  # keyword share in the convex combination
    fetch_factor: int = 10  # each leg returns fetch_factor * k candidates ...
    min_fetch: int = 100  # ... but never fewer than this
    bm25_k1: float = 2.0  # BM25F term-frequency saturation
    bm25_b: float = 0.75  # BM25F length normalisation
    # A region named in a query ("North Africa") also searches for its member countries at this
    # keyword weight, and lifts articles about them by this share of the top fused score: a soft
    # filter. Set on the seeds ("arms sales to North Africa": the Libya article needs a share
    # over 0.4 to pass the Iran one, which says "arms sales"); no dev query names a region.
    region_term_boost: float = 0.5
    region_lift: float = 0.5


@dataclass(frozen=True)
class LegScore:
    """A hit's place in one leg: 1-based rank and that leg's raw score."""

    rank: int
    score: float


@dataclass(frozen=True)
class Hit:
    """One search result with everything needed to show it and to see why it ranked.

    `highlights` are [start, end) offsets of query terms in `snippet`; `duplicates` are the ids
    of near-duplicate copies collapsed into this hit.
    """

    id: str
    title: str
    date: str | None
    source: str | None
    countries: tuple[str, ...]
    url: str | None
    path: str
    score: float
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    keyword: LegScore | None
    semantic: LegScore | None
    duplicates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facets:
    """Counts over the whole candidate set of a search (every article either leg returned after
    filtering, not just the page), most frequent first."""

    total: int
    countries: list[tuple[str, int]]
    years: list[tuple[str, int]]
    sources: list[tuple[str, int]]


@dataclass(frozen=True)
class Candidate:
    """One article of a ranked candidate list: its fused score and its place in each leg."""

    id: str
    score: float
    keyword: LegScore | None
    semantic: LegScore | None


@dataclass(frozen=True)
class SearchResult:
    """What one search returns: the hits, the facets when asked for, and how long each step took.

    It is a sequence of its hits (`for hit in result`, `result[0]`, `len(result)`), so code
    that only wants the hits can ignore the rest. `notes` say how the query was read when that
    is not obvious (for example a malformed query read as plain words). `timings` are seconds
    per step: `keyword`, `semantic` (each leg, 0.0 when it did not run), `hits` (collapsing,
    loading and snippets) and `total`. `generation` names the index generation searched.
    """

    hits: tuple[Hit, ...]
    facets: Facets | None = None
    notes: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    generation: str = ""

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, index: int) -> Hit:
        return self.hits[index]


@dataclass(frozen=True)
class IndexStats:
    """What an index holds."""

    index_dir: str
    model: str
    dim: int
    format_version: int
    generation: str
    articles: int
    passages: int
    sources: list[str]
    created: str


@dataclass(frozen=True)
class _Candidates:
    fused: Run
    keyword: Run
    semantic: Run
    best_passage: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


class Engine:
    """An open index: searches it in keyword, semantic or hybrid mode."""

    def __init__(
        self,
        index_dir: Path,
        manifest: Manifest,
        keyword: KeywordStore,
        vectors: VectorStore,
        docs: DocStore,
        encoder: Encoder | None = None,
        ranking: RankingConfig | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self.ranking = ranking or RankingConfig()
        self._keyword = keyword
        self._vectors = vectors
        self._docs = docs
        self._encoder = _for_queries(encoder) if encoder is not None else None
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def open(
        cls,
        index_dir: Path | str,
        encoder: Encoder | None = None,
        ranking: RankingConfig | None = None,
    ) -> Engine:
        """Open the index at `index_dir`.

        Raises IndexNotFound when there is none, IndexIncompatible when it was built by another
        format version or with a model other than `encoder`'s.
        """
        index_dir = Path(index_dir).expanduser()
        for attempt in range(3):
            manifest = read_manifest(index_dir)
            if encoder is not None and encoder.name != manifest.model:
                raise IndexIncompatible(
                    f"{index_dir} was built with {manifest.model}, not {encoder.name}; "
                    "rebuild it with 'accord index --rebuild'"
                )
            try:
                return cls._open_generation(index_dir, manifest, encoder, ranking)
            except (FileNotFoundError, whoosh_index.EmptyIndexError):
                # Two updates finished between reading the manifest and opening its
                # generation, and the second removed it: read the manifest again.
                if attempt == 2 or read_manifest(index_dir).generation == manifest.generation:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _open_generation(
        cls, index_dir: Path, manifest: Manifest, encoder: Encoder | None, ranking: RankingConfig | None
    ) -> Engine:
        generation = index_dir / manifest.generation
        ranking = ranking or RankingConfig()
        # Read (and its dimension checked) on the first semantic query: keyword searches never load faiss.
        vectors = LazyVectorStore(generation / VECTORS_FILE, manifest.dim)
        return cls(
            index_dir,
            manifest,
            WhooshKeywordStore(generation / KEYWORD_DIR, ranking.bm25_k1, ranking.bm25_b),
            vectors,
            DocStore(generation / DOCSTORE_FILE),
            encoder,
            ranking,
        )

    def close(self) -> None:
        """Close the stores (and the worker thread of hybrid searches)."""
        if self._pool is not None:
            self._pool.shutdown()
        self._keyword.close()
        self._docs.close()
        close_vectors = getattr(self._vectors, "close", None)
        if close_vectors is not None:
            close_vectors()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def encoder(self) -> Encoder:
        """The index's embedding model, loaded on first use."""
        if self._encoder is None:
            self._encoder = _for_queries(encoder_for(self.manifest.model))
        return self._encoder

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
    ) -> SearchResult:
        """The `k` best articles for `query`, best first (or newest first with sort="date").

        Filters apply inside both legs before fusion, so k hits come back when k exist.
        Near-duplicates are collapsed into one hit listing its copies unless `collapse` is False.
        With `facets=True` the result also counts the candidates by country, year and source.
        Raises QuerySyntaxError for a malformed query and InvalidArgument for a bad k, mode or sort.
        """
        started = time.perf_counter()
        self._check_arguments(query, k, mode, sort)
        candidates = self._candidates(query, mode, filters, self._fetch(k))
        counted = self._facets(candidates) if facets else None
        hits_started = time.perf_counter()
        hits = self._hits(query, candidates, k, sort, collapse)
        timings = dict(candidates.timings, hits=time.perf_counter() - hits_started)
        timings["total"] = time.perf_counter() - started
        return SearchResult(
            tuple(hits), counted, notes=candidates.notes, timings=timings, generation=self.manifest.generation
        )

    def candidates(
        self, query: str, mode: Mode = "hybrid", *, filters: Filters | None = None, limit: int = 100
    ) -> list[Candidate]:
        """The ranked candidate list a search fuses, best first, before collapsing and paging.

        Each leg is asked for `limit` articles, so up to 2 * `limit` come back in hybrid mode.
        For views that count or chart matches (no snippets are made, no articles loaded).
        """
        self._check_arguments(query, 1, mode, "relevance")
        if limit < 1:
            raise InvalidArgument(f"limit must be at least 1, not {limit}")
        found = self._candidates(query, mode, filters, limit)
        keyword_legs, semantic_legs = _legs(found.keyword), _legs(found.semantic)
        return [
            Candidate(doc_id, score, keyword_legs.get(doc_id), semantic_legs.get(doc_id))
            for doc_id, score in found.fused
        ]

    def _facets(self, candidates: _Candidates) -> Facets:
        """Counts by country, year and source over every candidate of a search."""
        articles = self._docs.articles([doc_id for doc_id, _ in candidates.fused])
        countries: Counter[str] = Counter()
        years: Counter[str] = Counter()
        sources: Counter[str] = Counter()
        for article in articles.values():
            countries.update(article.countries)
            years[article.date[:4] if article.date else "undated"] += 1
            sources[article.source or "unknown"] += 1

        def ordered(counter: Counter[str]) -> list[tuple[str, int]]:
            return sorted(counter.items(), key=lambda item: (-item[1], item[0]))

        return Facets(len(articles), ordered(countries), ordered(years), ordered(sources))

    def similar(
        self, article_id: str, k: int = 10, *, filters: Filters | None = None, collapse: bool = True
    ) -> SearchResult:
        """Articles most like `article_id` (more-like-this), through the same fusion as search.

        The keyword leg searches the article's most distinctive terms, the semantic leg the mean
        of its passage vectors. The article itself and its near-duplicates are left out.
        """
        started = time.perf_counter()
        article = self.article(article_id)
        fetch = self._fetch(k)
        keyword = self._keyword.similar(f"{article.title}\n{article.body}", fetch + 1, filters)
        import numpy as np

        passages = self._docs.passages_of(article_id)
        mean = self._vectors.vectors([p.id for p in passages]).mean(axis=0)
        semantic, best = self._semantic(mean / (np.linalg.norm(mean) or 1.0), fetch + 1, filters)
        group = self._docs.duplicate_groups([article_id])[article_id]
        same = {article_id, *self._docs.group_members([group]).get(group, [])}
        keyword = [(d, s) for d, s in keyword if d not in same]
        semantic = [(d, s) for d, s in semantic if d not in same]
        candidates = _Candidates(self._fuse(keyword, semantic, "hybrid"), keyword, semantic, best)
        hits = self._hits(article.title, candidates, k, "relevance", collapse)
        timings = {"total": time.perf_counter() - started}
        return SearchResult(tuple(hits), timings=timings, generation=self.manifest.generation)

    def articles(self, article_ids: Sequence[str]) -> dict[str, Article]:
        """The cleaned articles with these ids (ids not in the index are left out)."""
        return self._docs.articles(list(article_ids))

    def keyword_run(self, query: str, limit: int, filters: Filters | None = None) -> Run:
        """The keyword leg alone: article ids with BM25F scores, best first."""
        # Equal scores are ordered by id, so the order does not depend on the index's history.
        return sorted(self._keyword.search(query, limit, filters), key=lambda hit: (-hit[1], hit[0]))

    def semantic_run(self, query: str, limit: int, filters: Filters | None = None) -> tuple[Run, dict[str, int]]:
        """The semantic leg alone: article ids scored by their best passage, best first.

        Also returns each article's best passage id, for its snippet.
        """
        return self._semantic_for_query(query, limit, self._allowed_passages(filters))

    def article(self, article_id: str) -> Article:
        """The cleaned article with this id; raises ArticleNotFound."""
        article = self._docs.article(article_id)
        if article is None:
            raise ArticleNotFound(f"no article with id {article_id!r} in {self.index_dir}")
        return article

    def stats(self) -> IndexStats:
        """Counts and description of the open index."""
        m = self.manifest
        return IndexStats(
            index_dir=str(self.index_dir),
            model=m.model,
            dim=m.dim,
            format_version=m.format_version,
            generation=m.generation,
            articles=self._docs.count_articles(),
            passages=self._docs.count_passages(),
            sources=list(m.sources),
            created=m.created,
        )

    def _check_arguments(self, query: str, k: int, mode: str, sort: str) -> None:
        if mode not in MODES:
            raise InvalidArgument(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if sort not in SORTS:
            raise InvalidArgument(f"sort {sort!r} is not one of {', '.join(SORTS)}")
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, not {k}")
        if not query.strip():
            raise InvalidArgument("the query is empty; give some words to search for")
        check_query_syntax(query)

    def _fetch(self, k: int) -> int:
        return max(k * self.ranking.fetch_factor, self.ranking.min_fetch)

    def _candidates(self, query: str, mode: str, filters: Filters | None, fetch: int) -> _Candidates:
        timings = {"keyword": 0.0, "semantic": 0.0}
        found_regions = regions.find_regions(query)
        keyword_query = self._with_region_terms(query, found_regions)
        if mode == "hybrid":
            # The semantic leg runs in a second thread while this one runs the keyword leg: the
            # model, faiss and SQLite release the GIL, so it costs little on top of the keyword leg.
            allowed = self._allowed_passages(filters)
            pending = self._worker().submit(_timed, self._semantic_for_query, query, fetch, allowed)
            started = time.perf_counter()
            keyword = self.keyword_run(keyword_query, fetch, filters)
            timings["keyword"] = time.perf_counter() - started
            (semantic, best), timings["semantic"] = pending.result()
        else:
            keyword, semantic, best = [], [], {}
            started = time.perf_counter()
            if mode == "keyword":
                keyword = self.keyword_run(keyword_query, fetch, filters)
            else:
                semantic, best = self.semantic_run(query, fetch, filters)
            timings[mode] = time.perf_counter() - started
        fused = self._lift_region(self._fuse(keyword, semantic, mode), found_regions)
        notes = (regions.note(found_regions),) if found_regions else ()
        return _Candidates(fused, keyword, semantic, best, timings, notes)

    # Regions in queries (search/regions.py): two small steps around the legs, kept apart so
    # they can move with the query parsing.
    def _with_region_terms(self, query: str, found: Sequence[regions.Region]) -> str:
        """The keyword query, with the member countries of the regions it names added as a
        down-weighted group of plain words."""
        terms = regions.expansion_terms(found)
        if not terms:
            return query
        if not any(c.islower() for c in query):
            query = query.lower()  # still read as plain words once mixed-case names are added
        return f"{query} ({terms})^{self.ranking.region_term_boost}"

    def _lift_region(self, run: Run, found: Sequence[regions.Region]) -> Run:
        """`run` with the articles about a member country of a named region lifted."""
        if not found or not run:
            return run
        members = self._docs.articles_in_countries(sorted(regions.region_countries(found)))
        return regions.boost_region(run, members, self.ranking.region_lift)

    def _fuse(self, keyword: Run, semantic: Run, mode: str) -> Run:
        if mode == "keyword":
            return keyword
        if mode == "semantic":
            return semantic
        if self.ranking.fusion == "convex":
            return convex_fusion(keyword, semantic, self.ranking.weight)
        return reciprocal_rank_fusion([keyword, semantic], self.ranking.rrf_k)

    def _worker(self) -> ThreadPoolExecutor:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accord-semantic")
        return self._pool

    def _allowed_passages(self, filters: Filters | None) -> list[int] | None:
        """The passage ids a filtered search may return (None: all)."""
        if filters is None or not filters.active:
            return None
        article_ids = self._docs.filtered_article_ids(filters.countries, filters.sources, filters.since, filters.until)
        return self._docs.passage_ids_of(sorted(article_ids))

    def _semantic_for_query(self, query: str, limit: int, allowed: list[int] | None) -> tuple[Run, dict[str, int]]:
        """The semantic leg for `query` among `allowed` passages. It uses the model, the vectors
        and the article store but never whoosh, so it may run in the worker thread while the
        calling thread runs the keyword leg (which touches nothing else)."""
        vector = self.encoder.encode([plain_text(query) or query])[0]
        return self._best_passages(vector, limit, allowed)

    def _semantic(self, vector: np.ndarray, limit: int, filters: Filters | None) -> tuple[Run, dict[str, int]]:
        return self._best_passages(vector, limit, self._allowed_passages(filters))

    def _best_passages(self, vector: np.ndarray, limit: int, allowed: list[int] | None) -> tuple[Run, dict[str, int]]:
        """Articles scored by their best passage near `vector`, best first, with that passage."""
        total = len(self._vectors) if allowed is None else len(allowed)
        want = limit * 4  # articles have several passages; fetch enough to reach `limit` articles
        while True:
            found = self._vectors.search(vector, min(want, total), allowed)
            article_of = self._docs.passage_articles([pid for pid, _ in found])
            best: dict[str, tuple[float, int]] = {}
            for pid, score in found:
                article_id = article_of[pid]
                if article_id not in best:  # passages come best first
                    best[article_id] = (score, pid)
            if len(best) >= limit or want >= total:
                break
            want *= 4
        run = sorted(((a, score) for a, (score, _pid) in best.items()), key=lambda hit: (-hit[1], hit[0]))
        return run[:limit], {a: pid for a, (_score, pid) in best.items()}

    def _hits(self, query: str, candidates: _Candidates, k: int, sort: str, collapse: bool) -> list[Hit]:
        fused = candidates.fused
        if sort == "date":
            # Newest first; undated articles last; relevance breaks ties.
            dates = self._docs.dates([doc_id for doc_id, _ in fused])
            position = {doc_id: i for i, (doc_id, _s) in enumerate(fused)}
            fused = sorted(fused, key=lambda h: (dates[h[0]] or "", -position[h[0]]), reverse=True)
        chosen: list[tuple[str, float, tuple[str, ...]]] = []
        if collapse:
            groups = self._docs.duplicate_groups([doc_id for doc_id, _ in fused])
            members = self._docs.group_members(sorted(set(groups.values())))
            seen: set[str] = set()
            for doc_id, score in fused:
                group = groups[doc_id]
                if group in seen:
                    continue
                seen.add(group)
                copies = tuple(m for m in members.get(group, []) if m != doc_id)
                chosen.append((doc_id, score, copies))
                if len(chosen) == k:
                    break
        else:
            chosen = [(doc_id, score, ()) for doc_id, score in fused[:k]]

        # Whole articles (bodies and all) only for the hits shown, not for every candidate.
        articles = self._docs.articles([doc_id for doc_id, _score, _copies in chosen])
        keyword_legs, semantic_legs = _legs(candidates.keyword), _legs(candidates.semantic)
        query_terms = snippets.terms(plain_text(query))
        hits = []
        for doc_id, score, copies in chosen:
            article = articles[doc_id]
            snippet = self._snippet(article, query_terms, candidates.best_passage.get(doc_id))
            hits.append(
                Hit(
                    id=article.id,
                    title=article.title,
                    date=article.date,
                    source=article.source,
                    countries=article.countries,
                    url=article.url,
                    path=article.path,
                    score=score,
                    snippet=snippet.text,
                    highlights=snippet.highlights,
                    keyword=keyword_legs.get(doc_id),
                    semantic=semantic_legs.get(doc_id),
                    duplicates=copies,
                )
            )
        return hits

    def _snippet(self, article: Article, query_terms: set[str], best_passage: int | None) -> snippets.Snippet:
        passages = self._docs.passages_of(article.id)
        texts = [article.body[p.start : p.end] for p in passages]
        if not texts:
            return snippets.Snippet("", ())
        ids = [p.id for p in passages]
        chosen = ids.index(best_passage) if best_passage in ids else snippets.best_passage(texts, query_terms)
        return snippets.make_snippet(texts[chosen], query_terms)


def _for_queries(encoder: Encoder) -> Encoder:
    """`encoder`, asked to favour the latency of single queries over bulk throughput if it can."""
    prefer_latency = getattr(encoder, "prefer_latency", None)
    if prefer_latency is not None:
        prefer_latency()
    return encoder


def _timed(function, *args):
    """`function(*args)` and the seconds it took (for a leg run in the worker thread)."""
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def _legs(run: Run) -> dict[str, LegScore]:
    return {doc_id: LegScore(rank, score) for rank, (doc_id, score) in enumerate(run, start=1)}
