"""The HTTP API's response models: the engine's dataclasses as pydantic models, so the OpenAPI
schema documents them. Field names are those of `accord search --json` (`asdict(hit)`)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model

from index.text.articles import Article
from search.engine import IndexStats


def model_of(cls: type, doc: str, **descriptions: str) -> type[BaseModel]:
    """A response model with the fields of the dataclass `cls` (one list of fields, not two)."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        default = ... if f.default is dataclasses.MISSING else f.default
        fields[f.name] = (hints[f.name], Field(default, description=descriptions.get(f.name)))
    return create_model(cls.__name__ + "Model", __doc__=doc, **fields)


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


ArticleModel = model_of(
    Article,
    "One cleaned article as indexed (`accord show ID --json`).",
    title_derived="true when the input had no title and `title` was made from the body",
)


class MonthsModel(BaseModel):
    """How many of a query's candidates fall in each month, for the page's chart."""

    total: int = Field(description="candidates counted (the set facets count)")
    months: list[tuple[str, int]] = Field(description="[YYYY-MM, count], oldest first, months without any left out")
    undated: int


StatsModel = model_of(
    IndexStats,
    "What the index holds (`accord stats --json`).",
    keyword_fast_path=("how the keyword leg runs: on a folder, whether the numpy BM25F scorer serves it and why not; "
                       "on PostgreSQL, sql-bm25 or pg_textsearch candidates with sql-bm25 scores, and why not the index"),
)


class FiltersModel(BaseModel):
    """The filters of a saved search, normalised as search applies them (`Filters`)."""

    countries: list[str] = Field(description="canonical country names; an article must be about all of them")
    sources: list[str] = Field(description="outlets; an article may come from any of them")
    since: str | None = Field(description="ISO date of the earliest article date, or null")
    until: str | None = Field(description="ISO date of the latest article date, or null")


class SaveSearchModel(BaseModel):
    """What `POST /api/watchlist` takes: a name, a query and its filters, as `accord watchlist add`.

    There is no `exec`: a command to run on new matches can be set only from the CLI, so a
    request over HTTP never chooses a program to run on this machine.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="a name to refer to the saved search by")
    query: str = Field(min_length=1, max_length=500, description="the query to follow, as for /api/search")
    country: list[str] = Field(default=[], max_length=20, description="country filters, as for /api/search")
    source: list[str] = Field(default=[], max_length=20, description="source filters, as for /api/search")
    since: str | None = Field(default=None, max_length=40, description="a year, month or date")
    until: str | None = Field(default=None, max_length=40, description="a year, month or date")


class SavedSearchModel(BaseModel):
    """One saved search (`search.views.watchlist.SavedSearch`)."""

    name: str
    query: str
    filters: FiltersModel
    exec: str | None = Field(description="the command told of new matches (set from the CLI only), or null")
    created: str = Field(description="UTC time it was saved (ISO 8601)")
    checked: str | None = Field(description="UTC time its alerts were last acknowledged (ISO 8601)")


class SavedSearchAddedModel(SavedSearchModel):
    """A search just saved, with how many articles match it now (its baseline, not alerts)."""

    matching: int


class WatchlistModel(BaseModel):
    """Every saved search of the index, by name."""

    searches: list[SavedSearchModel]


class MatchModel(BaseModel):
    """One article of a match set (`search.views.matches.Match`): above the relevance cut-off."""

    id: str
    rank: int = Field(description="1-based among the matches, in the hybrid ranker's order")
    score: float
    cosine: float = Field(description="the best passage's cosine similarity, which the cut-off tests")
    title: str
    date: str | None
    source: str | None
    countries: list[str]
    url: str | None
    keyword: LegScoreModel | None
    semantic: LegScoreModel | None
    duplicates: list[str]


class AlertModel(BaseModel):
    """The articles that entered a saved search's matches and were not yet acknowledged
    (`search.views.watchlist.Alert`)."""

    search: SavedSearchModel = Field(description="the saved search; `checked` is the acknowledgement before this call")
    matches: list[MatchModel] = Field(description="the new matches, best first")
    checked: str = Field(description="UTC time of this check")
    since: str | None = Field(description="null: since the last acknowledgement; else the ISO date asked for")


class AlertsModel(BaseModel):
    """The alerts of the saved searches asked for, by name."""

    alerts: list[AlertModel]


class ErrorModel(BaseModel):
    """Every error response: one line saying what was wrong and what to do."""

    error: str


Model = TypeVar("Model", bound=BaseModel)


def from_dataclass(model: type[Model], value: Any) -> Model:
    """`value` (an engine dataclass) as `model`, read attribute by attribute (no `asdict` copy)."""
    return model.model_validate(value, from_attributes=True)
