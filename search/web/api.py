"""The JSON API under `/api/`: search, similar, articles, months and stats, all read-only.

Every route opens the shared index through `live_engine` (a FastAPI dependency) and holds its
engine only for the call: `with live.use() as engine: ...`. Routers of other views (timelines,
pairs) are written the same way and passed to `create_app(routers=...)`.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from index.storage.filters import Filters
from search.web.live import LiveEngine
from search.web.models import (
    ArticleModel,
    ErrorModel,
    MonthsModel,
    SearchResultModel,
    StatsModel,
    from_dataclass,
)
from search.web.security import MAX_K, MAX_QUERY_CHARS

router = APIRouter(prefix="/api", tags=["search"])

# What each route may answer besides 200, for the OpenAPI schema.
ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorModel, "description": text} for status, text in (
    (400, "malformed query, unknown country, unreadable date or other bad argument"),
    (401, "this server needs an access token and none was sent"),
    (403, "wrong access token (or, without one, a Host that is not this machine)"),
    (422, "a parameter out of its limits (k, query length) or of the wrong type"),
    (503, "the index cannot be opened"),
)}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorModel, "description": "no article with that id"}}


def as_json(model: BaseModel) -> Response:
    """`model` serialised once by pydantic. Routes return it rather than the model because FastAPI
    would validate a returned model against `response_model` a second time; `response_model`
    still documents the shape."""
    return Response(model.model_dump_json(), media_type="application/json")


def live_engine(request: Request) -> LiveEngine:
    """The server's shared index (a dependency for routes: `live: LiveEngine = Depends(live_engine)`)."""
    return request.app.state.live


Live = Annotated[LiveEngine, Depends(live_engine)]
Query_ = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description=(
    'Words, "phrases", field:word (title, body, source, date, countries), AND/OR/NOT, as `accord search`.'))]
K = Annotated[int, Query(ge=1, le=MAX_K, description="number of hits")]
ModeParam = Annotated[Literal["hybrid", "keyword", "semantic"], Query(description="hybrid fuses keyword and semantic ranks")]
Country = Annotated[list[str], Query(max_length=20, description="only articles about this country (repeatable: all must match)")]
Source = Annotated[list[str], Query(max_length=20, description="only articles from this outlet (repeatable: any may match)")]
Since = Annotated[str | None, Query(max_length=40, description="only articles dated on or after: 2019, 2019-05 or 2019-05-31")]
Until = Annotated[str | None, Query(max_length=40, description="only articles dated on or before: a year, month or date")]
Collapse = Annotated[bool, Query(description="collapse near-duplicate copies into one hit that lists them")]
ArticleId = Annotated[str, Path(max_length=400, description="the article's id, as search returns it")]


@router.get("/search", response_model=SearchResultModel, responses=ERRORS)
def search(
    live: Live,
    q: Query_,
    k: K = 10,
    mode: ModeParam = "hybrid",
    country: Country = [],  # noqa: B006 - FastAPI copies defaults per request
    source: Source = [],  # noqa: B006
    since: Since = None,
    until: Until = None,
    sort: Annotated[Literal["relevance", "date"], Query(description="relevance, or date (newest first among the relevant candidates)")] = "relevance",
    facets: Annotated[bool, Query(description="also count the candidates by country, year and source")] = False,
    collapse: Collapse = True,
    strict: Annotated[bool, Query(description="a malformed query is an error (400) instead of being read as plain words")] = False,
) -> Response:
    """The k best articles for q, as `accord search --json` gives them (same field names)."""
    filters = Filters.parse(country, source, since, until)
    with live.use() as engine:
        result = engine.search(q, k=k, mode=mode, filters=filters, sort=sort, collapse=collapse, facets=facets, strict=strict)
    return as_json(from_dataclass(SearchResultModel, result))


@router.get("/similar/{article_id:path}", response_model=SearchResultModel, responses={**ERRORS, **NOT_FOUND})
def similar(
    live: Live,
    article_id: ArticleId,
    k: K = 10,
    country: Country = [],  # noqa: B006
    source: Source = [],  # noqa: B006
    since: Since = None,
    until: Until = None,
    collapse: Collapse = True,
) -> Response:
    """Articles most like this one (more-like-this), itself and its copies left out, as `accord similar`."""
    filters = Filters.parse(country, source, since, until)
    with live.use() as engine:
        result = engine.similar(article_id, k=k, filters=filters, collapse=collapse)
    return as_json(from_dataclass(SearchResultModel, result))


@router.get("/articles/{article_id:path}", response_model=ArticleModel, responses={**ERRORS, **NOT_FOUND})
def article(live: Live, article_id: ArticleId) -> Response:
    """One cleaned article as indexed, as `accord show ID --json`."""
    with live.use() as engine:
        found = engine.article(article_id)
    return as_json(from_dataclass(ArticleModel, found))


@router.get("/months", response_model=MonthsModel, responses=ERRORS)
def months(
    live: Live,
    q: Query_,
    k: K = 10,
    mode: ModeParam = "hybrid",
    country: Country = [],  # noqa: B006
    source: Source = [],  # noqa: B006
    since: Since = None,
    until: Until = None,
) -> Response:
    """Matching articles per month: the candidates a search for q with these k and filters ranks
    (the set its facets count), by publication month."""
    filters = Filters.parse(country, source, since, until)
    with live.use() as engine:
        limit = max(k * engine.ranking.fetch_factor, engine.ranking.min_fetch)
        ids = [candidate.id for candidate in engine.candidates(q, mode, filters=filters, limit=limit)]
        dates = [article.date for article in engine.articles(ids).values()]
    counts = Counter(date[:7] for date in dates if date)
    return as_json(MonthsModel(total=len(dates), months=sorted(counts.items()), undated=sum(1 for d in dates if not d)))


@router.get("/stats", response_model=StatsModel, responses=ERRORS)
def stats(live: Live) -> Response:
    """What the index holds: articles, passages, model, generation, sources."""
    with live.use() as engine:
        return as_json(from_dataclass(StatsModel, engine.stats()))


__all__ = ["ERRORS", "NOT_FOUND", "as_json", "live_engine", "router"]
