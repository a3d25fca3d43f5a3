"""The HTTP API's response models: the engine's dataclasses as pydantic models, so the OpenAPI
schema documents them. Field names are those of `accord search --json` (`asdict(hit)`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class LegScoreModel(BaseModel):
    """A hit's place in one leg of the ranker: 1-based rank and that leg's raw score."""

    rank: int
    score: float


class HitModel(BaseModel):
    """One search result (`search.Hit`)."""

    id: str
    title: str
    date: str | None = Field(description="ISO date, or null when the article does not say")
    source: str | None
    countries: list[str]
    url: str | None
    path: str
    score: float
    snippet: str
    highlights: list[tuple[int, int]] = Field(description="[start, end) offsets of query terms in `snippet`")
    keyword: LegScoreModel | None = Field(description="rank and BM25F score in the keyword leg; null if it did not return the hit")
    semantic: LegScoreModel | None = Field(description="rank and cosine in the semantic leg; null if it did not return the hit")
    duplicates: list[str] = Field(description="ids of near-duplicate copies collapsed into this hit")


class FacetsModel(BaseModel):
    """Counts over the whole candidate set of a search (`search.Facets`), most frequent first."""

    total: int
    countries: list[tuple[str, int]]
    years: list[tuple[str, int]]
    sources: list[tuple[str, int]]


class SearchResultModel(BaseModel):
    """What `/api/search` and `/api/similar/{id}` return (`search.SearchResult`)."""

    hits: list[HitModel]
    facets: FacetsModel | None = Field(description="present when facets=true was asked for")
    notes: list[str] = Field(description="how the query was read, when that is not obvious")
    timings: dict[str, float] = Field(description="seconds per step: keyword, semantic, hits, total")
    generation: str = Field(description="the index generation searched")


class ArticleModel(BaseModel):
    """One cleaned article as indexed (`accord show ID --json`)."""

    id: str
    title: str
    body: str
    date: str | None
    source: str | None
    url: str | None
    path: str
    countries: list[str]
    title_derived: bool = False  # True when the input had no title and `title` was made from the body


class MonthsModel(BaseModel):
    """How many of a query's candidates fall in each month, for the page's chart."""

    total: int = Field(description="candidates counted (the set facets count)")
    months: list[tuple[str, int]] = Field(description="[YYYY-MM, count], oldest first, months without any left out")
    undated: int


class StatsModel(BaseModel):
    """What the index holds (`accord stats --json`)."""

    index_dir: str
    model: str
    dim: int
    format_version: int
    generation: str
    articles: int
    passages: int
    sources: list[str]
    created: str
    keyword_fast_path: str = Field(default="on", description="whether the numpy BM25F scorer serves this index, and why not")


class ErrorModel(BaseModel):
    """Every error response: one line saying what was wrong and what to do."""

    error: str


def from_dataclass(model: type[BaseModel], value: Any) -> BaseModel:
    """`value` (an engine dataclass) as `model`, read attribute by attribute (no `asdict` copy)."""
    return model.model_validate(value, from_attributes=True)
