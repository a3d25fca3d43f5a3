"""The query side: `Engine` owns an index's keyword and vector stores and answers searches.

    with Engine.open("~/.local/share/accord/index") as engine:
        for hit in engine.search("military-technical cooperation Libya", k=10):
            print(hit.title, hit.score, hit.keyword, hit.semantic)

The embedding model is loaded only when a query needs the semantic leg, so keyword searches
start without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from whoosh import index as whoosh_index

from index.articles import Article
from index.docstore import DocStore
from index.encoder import Encoder, encoder_for
from index.errors import ArticleNotFound, IndexIncompatible, InvalidArgument
from index.keyword import KeywordStore, WhooshKeywordStore, check_query_syntax, plain_text
from index.layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE
from index.manifest import Manifest, read_manifest
from index.vectors import LazyVectorStore, VectorStore
from search import snippets
from search.fusion import RRF_K, convex_fusion, reciprocal_rank_fusion

Mode = Literal["hybrid", "keyword", "semantic"]
FusionMethod = Literal["rrf", "convex"]
MODES: tuple[str, ...] = get_args(Mode)
FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)


@dataclass(frozen=True)
class RankingConfig:
    """How the hybrid ranker fuses its legs; the defaults are chosen by `accord eval`."""

    fusion: FusionMethod = "rrf"
    rrf_k: int = RRF_K
    weight: float = 0.5  # keyword share in the convex combination
    fetch_factor: int = 10  # each leg returns fetch_factor * k candidates ...
    min_fetch: int = 100  # ... but never fewer than this


@dataclass(frozen=True)
class LegScore:
    """A hit's place in one leg: 1-based rank and that leg's raw score."""

    rank: int
    score: float


@dataclass(frozen=True)
class Hit:
    """One search result with everything needed to show it and to see why it ranked."""

    id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    path: str
    score: float
    snippet: str
    keyword: LegScore | None
    semantic: LegScore | None


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
        self._encoder = encoder

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
        # Read (and its dimension checked) on the first semantic query: keyword searches never load faiss.
        vectors = LazyVectorStore(generation / VECTORS_FILE, manifest.dim)
        return cls(
            index_dir,
            manifest,
            WhooshKeywordStore(generation / KEYWORD_DIR),
            vectors,
            DocStore(generation / DOCSTORE_FILE),
            encoder,
            ranking,
        )

    def close(self) -> None:
        """Close the stores."""
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
            self._encoder = encoder_for(self.manifest.model)
        return self._encoder

    def search(self, query: str, k: int = 10, mode: Mode = "hybrid") -> list[Hit]:
        """The `k` best articles for `query`, best first.

        Raises QuerySyntaxError for a malformed query and InvalidArgument for a bad k or mode.
        """
        if mode not in MODES:
            raise InvalidArgument(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, not {k}")
        if not query.strip():
            raise InvalidArgument("the query is empty; give some words to search for")
        check_query_syntax(query)
        fetch = max(k * self.ranking.fetch_factor, self.ranking.min_fetch)

        keyword_run = self.keyword_run(query, fetch) if mode != "semantic" else []
        semantic_run, best_rows = self.semantic_run(query, fetch) if mode != "keyword" else ([], {})
        if mode == "keyword":
            fused = keyword_run
        elif mode == "semantic":
            fused = semantic_run
        elif self.ranking.fusion == "convex":
            fused = convex_fusion(keyword_run, semantic_run, self.ranking.weight)
        else:
            fused = reciprocal_rank_fusion([keyword_run, semantic_run], self.ranking.rrf_k)
        return self._hits(query, fused[:k], keyword_run, semantic_run, best_rows)

    def keyword_run(self, query: str, limit: int) -> list[tuple[str, float]]:
        """The keyword leg alone: article ids with BM25F scores, best first."""
        # Equal scores are ordered by id, so the order does not depend on the index's history.
        return sorted(self._keyword.search(query, limit), key=lambda hit: (-hit[1], hit[0]))

    def semantic_run(self, query: str, limit: int) -> tuple[list[tuple[str, float]], dict[str, int]]:
        """The semantic leg alone: article ids scored by their best passage, best first.

        Also returns each article's best passage row, for its snippet.
        """
        text = plain_text(query) or query
        vector = self.encoder.encode([text])[0]
        total = len(self._vectors)
        want = limit * 4  # articles have several passages; fetch enough to reach `limit` articles
        while True:
            rows = self._vectors.search(vector, min(want, total))
            passages = self._docs.passages_by_id([row for row, _ in rows])
            best: dict[str, tuple[float, int]] = {}
            for row, score in rows:
                article_id = passages[row].article_id
                if article_id not in best:  # rows come best first
                    best[article_id] = (score, row)
            if len(best) >= limit or want >= total:
                break
            want *= 4
        run = sorted(((article_id, score) for article_id, (score, _row) in best.items()), key=lambda hit: (-hit[1], hit[0]))
        run = run[:limit]
        return run, {article_id: row for article_id, (_score, row) in best.items()}

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

    def _hits(
        self,
        query: str,
        fused: list[tuple[str, float]],
        keyword_run: list[tuple[str, float]],
        semantic_run: list[tuple[str, float]],
        best_rows: dict[str, int],
    ) -> list[Hit]:
        keyword_legs = _legs(keyword_run)
        semantic_legs = _legs(semantic_run)
        articles = self._docs.articles([doc_id for doc_id, _ in fused])
        query_terms = snippets.terms(plain_text(query))
        hits = []
        for doc_id, score in fused:
            article = articles[doc_id]
            hits.append(
                Hit(
                    id=article.id,
                    title=article.title,
                    date=article.date,
                    source=article.source,
                    url=article.url,
                    path=article.path,
                    score=score,
                    snippet=self._snippet(article, query_terms, best_rows.get(doc_id)),
                    keyword=keyword_legs.get(doc_id),
                    semantic=semantic_legs.get(doc_id),
                )
            )
        return hits

    def _snippet(self, article: Article, query_terms: set[str], best_row: int | None) -> str:
        passages = self._docs.passages_of(article.id)
        texts = [article.body[p.start : p.end] for p in passages]
        if not texts:
            return ""
        rows = [p.id for p in passages]
        chosen = rows.index(best_row) if best_row in rows else snippets.best_passage(texts, query_terms)
        return snippets.window(texts[chosen], query_terms)


def _legs(run: list[tuple[str, float]]) -> dict[str, LegScore]:
    return {doc_id: LegScore(rank, score) for rank, (doc_id, score) in enumerate(run, start=1)}
