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


PATH_RULE = ("the article's file: relative to the source folder it was indexed from (a .jsonl line as FILE:N), or "
             "the file's name alone when no source holds it; the whole path only for requests from this machine (loopback)")


class LegScoreModel(BaseModel):
    """A hit's place in one leg of the ranker: 1-based rank and that leg's raw score."""

    rank: int
    score: float


class RelevanceModel(BaseModel):
    """How well a hit matches the query on scales that mean the same for every query
    (`search.relevance.Relevance`), unlike `score`, which is scaled within each query."""

    cosine: float | None = Field(description=(
        "cosine similarity of the hit's best passage to the query (the embedding model's scale); null in keyword mode"))
    words: list[str] = Field(description="the query's words the article contains (stop words left out)")
    missing: list[str] = Field(description="the query's words the article lacks")
    coverage: float | None = Field(description=(
        "share of the query's weight in `words`, 0 to 1, each word weighted by its idf (rare words count most); "
        "null when the query has no plain words"))


class StrengthModel(BaseModel):
    """How well the whole result matches its query (`search.relevance.Strength`)."""

    label: str = Field(description=(
        "good; weak (nothing in the index matches the query well: the closest article's cosine is under `min_cosine` "
        "and no hit near the top has `min_coverage` of the query's weight); none (no hits)"))
    cosine: float | None = Field(description=(
        "best-passage cosine of the closest article in the index (within the filters); null in keyword mode"))
    coverage: float | None = Field(description=(
        "the largest share of the query's weight any of the first 10 ranked hits carries; null without plain words"))
    min_cosine: float = Field(description="the model's calibrated weak-match cosine (docs/relevance.md)")
    min_coverage: float = Field(description="the coverage that makes a hit a match whatever its cosine")
    note: str = Field(description="the label in words; a weak result also has it in `notes`")


class HitModel(BaseModel):
    """One search result (`search.Hit`)."""

    id: str
    title: str
    date: str | None = Field(description="ISO date, or null when the article does not say")
    source: str | None
    countries: list[str]
    url: str | None
    path: str = Field(description=PATH_RULE)
    score: float = Field(description="the fused score, scaled within this query: its best hit scores about 1.0 however poor")
    snippet: str
    highlights: list[tuple[int, int]] = Field(description="[start, end) offsets of query terms in `snippet`")
    keyword: LegScoreModel | None = Field(description="rank and BM25F score in the keyword leg; null if it did not return the hit")
    semantic: LegScoreModel | None = Field(description="rank and cosine in the semantic leg; null if it did not return the hit")
    duplicates: list[str] = Field(description="ids of near-duplicate copies collapsed into this hit")
    relevance: RelevanceModel | None = Field(None, description="how well the hit matches on absolute scales; null for similar")


class FacetsModel(BaseModel):
    """Counts over the whole candidate set of a search (`search.Facets`), most frequent first."""

    total: int
    countries: list[tuple[str, int]]
    years: list[tuple[str, int]]
    sources: list[tuple[str, int]]
    systems: list[tuple[str, int]] = Field(description="weapon systems named in the candidates' defence facts (filter: system)")
    organisations: list[tuple[str, int]] = Field(description="organisations named in the candidates' defence facts (filter: org)")
    people: list[tuple[str, int]] = Field(description="people named in the candidates' defence facts (filter: person)")
    kinds: list[tuple[str, int]] = Field(description="kinds of cooperation in the candidates' defence facts (filter: kind)")


class SearchResultModel(BaseModel):
    """What `/api/search` and `/api/similar/{id}` return (`search.SearchResult`): one page of hits."""

    hits: list[HitModel] = Field(description="hits offset+1 to offset+k, best first (with sort=date, this page newest first)")
    facets: FacetsModel | None = Field(description="present when facets=true was asked for")
    notes: list[str] = Field(description="how the query was read, when that is not obvious")
    timings: dict[str, float] = Field(description="seconds per step: keyword, semantic, hits, total")
    generation: str = Field(description="the index generation searched")
    offset: int = Field(0, description="hits skipped before this page")
    total: int = Field(0, description=(
        "the hits the ranker lists for this query and filters: its fused candidate list after near-duplicates "
        "are collapsed; exact when `complete`, else a lower bound (hybrid and semantic ranking reach every "
        "article, so over a large index they list as many as were fetched)"))
    complete: bool = Field(True, description="true when no leg of the ranker was cut short, so `total` is exact")
    strength: StrengthModel | None = Field(None, description=(
        "whether anything matches the query well (label good, weak or none); null for similar"))
    k: int = Field(0, description="the page size asked for")
    next_offset: int | None = Field(None, description="offset of the next page, or null on the last page")
    previous_offset: int | None = Field(None, description="offset of the previous page, or null on the first")
    next: str | None = Field(None, description="this request's path and query for the next page, or null")
    previous: str | None = Field(None, description="this request's path and query for the previous page, or null")


ArticleModel = model_of(
    Article,
    "One cleaned article as indexed (`accord show ID --json`).",
    title_derived="true when the input had no title and `title` was made from the body",
    path=PATH_RULE,
)


class BriefModel(BaseModel):
    """An article as a list shows it: no body."""

    id: str
    title: str
    date: str | None
    source: str | None
    countries: list[str]


class NewestModel(BaseModel):
    """The most recently dated articles of the index, newest first."""

    articles: list[BriefModel]


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
    systems: list[str] = Field(default=[], description="weapon systems (gazetteer names); an article must name all")
    organisations: list[str] = Field(default=[], description="defence organisations (gazetteer names); all must be named")
    people: list[str] = Field(default=[], description="people (a full name or a surname); all must be named")
    kinds: list[str] = Field(default=[], description="kinds of defence cooperation; the article must report all")


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
    system: list[str] = Field(default=[], max_length=20, description="weapon-system filters, as for /api/search")
    org: list[str] = Field(default=[], max_length=20, description="organisation filters, as for /api/search")
    person: list[str] = Field(default=[], max_length=20, description="person filters, as for /api/search")
    kind: list[str] = Field(default=[], max_length=20, description="kind-of-cooperation filters, as for /api/search")
    shared: bool = Field(default=False, description=(
        "share it with the team: every user of this server sees it (only you can remove it); the page's "
        "'share with the team' box"))


class SavedSearchModel(BaseModel):
    """One saved search (`search.views.watchlist.SavedSearch`)."""

    name: str
    query: str
    filters: FiltersModel
    exec: str | None = Field(description="the command told of new matches (set from the CLI only), or null")
    created: str = Field(description="UTC time it was saved (ISO 8601)")
    checked: str | None = Field(description="UTC time its alerts were last acknowledged (ISO 8601)")
    owner: str = Field(default="", description="the server user who saved it ('' for none: the CLI or a single-token server)")
    shared: bool = Field(default=False, description="every user of this server sees it")
    ref: str = Field(default="", description=(
        "how to name it in /api/watchlist/{name} and /api/alerts: OWNER/NAME for a user's search (names are per "
        "owner: two users may each have 'libya'), NAME for one without an owner; a plain NAME means your own"))


class SavedSearchAddedModel(SavedSearchModel):
    """A search just saved, with how many articles match it now (its baseline, not alerts)."""

    matching: int


class WatchlistModel(BaseModel):
    """The saved searches of the index the user may see (their own and shared ones), by name."""

    searches: list[SavedSearchModel]
    user: str | None = Field(default=None, description=(
        "the user this list is for (your token's name), who may remove only the searches they own; null on a "
        "server without named tokens, where every search is everyone's"))


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
