"""The JSON API under `/api/`: search (paged, and exported as CSV or JSON), similar, articles,
the newest articles, months and stats, all read-only.

Every route opens the shared index through `live_engine` (a FastAPI dependency) and holds its
engine only for the call: `with live.use() as engine: ...`. Routers of other views (timelines,
pairs) are written the same way and passed to `create_app(routers=...)`.

Rules every route follows (the app adds `known_parameters` to each):
- a query parameter the route does not declare is refused (422 naming it), so a misspelt
  `offest=10` is an error rather than a silently ignored first page;
- errors name the API's parameters (`country`, `since`), never the CLI's flags;
- an article's `path` is relative to the source folder it was indexed from, unless the request
  comes from this machine (loopback), which may see where its files are (`shown_path`).
"""

from __future__ import annotations

import difflib
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from index.filters import Filters
from search.engine import SearchResult
from search.output_safety import HIT_COLUMNS, hit_rows, write_csv
from search.web.live import LiveEngine
from search.web.models import (
    ArticleModel,
    BriefModel,
    ErrorModel,
    MonthsModel,
    NewestModel,
    SearchResultModel,
    StatsModel,
    from_dataclass,
)
from search.web.security import MAX_EXPORT, MAX_K, MAX_OFFSET, MAX_QUERY_CHARS, is_loopback

router = APIRouter(prefix="/api", tags=["search"])

# What each route may answer besides 200, for the OpenAPI schema.
ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorModel, "description": text} for status, text in (
    (400, "malformed query, unknown country, unreadable date or other bad argument"),
    (401, "this server needs an access token and none was sent"),
    (403, "wrong access token (or, without one, a Host that is not this machine)"),
    (422, "a parameter out of its limits (k, offset, query length), of the wrong type, or one the route does not take"),
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


async def known_parameters(request: Request) -> None:
    """Refuse (422) a query parameter the route does not declare; FastAPI would ignore it.
    (async: it only reads the request, so it runs on the event loop, not in a worker thread.)

    A dependency of every route of the app. Routes left out of the schema (the page, `/docs`)
    take any parameters: the page keeps its own state in its address.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    declared = declared_parameters(route)
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            takes = ", ".join(declared) or "none"
            raise RequestValidationError([{
                "loc": ("query", name), "type": "extra_forbidden",
                "msg": f"unknown query parameter; {hint}{route.path} takes: {takes}",
            }])


def declared_parameters(route: APIRoute) -> tuple[str, ...]:
    """The query parameters `route` declares, its dependencies' included, in declaration order."""
    def walk(dependant) -> list[str]:
        inner = [name for sub in dependant.dependencies for name in walk(sub)]
        return inner + [field.alias for field in dependant.query_params]

    return tuple(dict.fromkeys(walk(route.dependant)))


def from_loopback(request: Request) -> bool:
    """True when the request comes from this machine (its TCP peer is a loopback address)."""
    return request.client is not None and is_loopback(request.client.host)


def shown_path(path: str, sources: Sequence[str], local: bool) -> str:
    """An article's `path` as the API shows it: whole for a request from this machine; else
    relative to the source folder it was indexed from (`corpus/gulf/navy.txt` from source
    `corpus` shows as `gulf/navy.txt`; a line of a .jsonl source keeps its `:N`), or the file's
    name when no source holds it, so a remote client never learns this machine's folders."""
    if local:
        return path
    holding = [source for source in sources if path.startswith(source.rstrip("/") + "/") or path == source
               or path.startswith(source + ":")]
    if not holding:
        return PurePosixPath(path).name
    source = max(holding, key=len)
    if path.startswith(source.rstrip("/") + "/"):
        return path[len(source.rstrip("/")) + 1:]
    return PurePosixPath(source).name + path[len(source):]  # the source was the file itself


def with_shown_paths(result: SearchResult, sources: Sequence[str], local: bool) -> SearchResult:
    """`result` with each hit's path as `shown_path` gives it."""
    return replace(result, hits=tuple(replace(hit, path=shown_path(hit.path, sources, local)) for hit in result.hits))


Live = Annotated[LiveEngine, Depends(live_engine)]
Query_ = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description=(
    'Words, "phrases", field:word (title, body, source, date, countries), AND/OR/NOT, as `accord search`.'))]
K = Annotated[int, Query(ge=1, le=MAX_K, description="number of hits")]
ModeParam = Annotated[Literal["hybrid", "keyword", "semantic"], Query(description="hybrid fuses keyword and semantic ranks")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=(
    "hits to skip before the first one returned: offset=10 with k=10 is the second page"))]
Country = Annotated[list[str], Query(max_length=20, description="only articles about this country (repeatable: all must match)")]
Source = Annotated[list[str], Query(max_length=20, description="only articles from this outlet (repeatable: any may match)")]
Since = Annotated[str | None, Query(max_length=40, description="only articles dated on or after: 2019, 2019-05 or 2019-05-31")]
Until = Annotated[str | None, Query(max_length=40, description="only articles dated on or before: a year, month or date")]
Collapse = Annotated[bool, Query(description="collapse near-duplicate copies into one hit that lists them")]
# Defence-fact filters (docs/entities.md), as `accord search --system/--org/--person/--kind`.
System = Annotated[list[str], Query(max_length=20, description=(
    "only articles naming this weapon system, by any alias: S-400, SA-21 (repeatable: all must match)"))]
Org = Annotated[list[str], Query(max_length=20, description=(
    "only articles naming this defence organisation: Rosoboronexport, Pentagon (repeatable: all must match)"))]
Person = Annotated[list[str], Query(max_length=20, description=(
    "only articles naming this person, by full name or surname (repeatable: all must match)"))]
Kind = Annotated[list[str], Query(max_length=20, description=(
    "only articles reporting this kind of cooperation: arms_sale, agreement, exercise, training, coproduction, "
    "military_aid, visit_talks, sanctions (repeatable: all must match)"))]
ArticleId = Annotated[str, Path(max_length=400, description="the article's id, as search returns it")]


@dataclass(frozen=True)
class SearchOptions:
    """What a search asks besides its page: the query, ranking and filters (shared by
    `/api/search` and its export)."""

    q: str
    mode: Literal["hybrid", "keyword", "semantic"]
    filters: Filters
    sort: Literal["relevance", "date"]
    collapse: bool
    strict: bool


def search_options(
    q: Query_,
    mode: ModeParam = "hybrid",
    country: Country = [],  # noqa: B006 - FastAPI copies defaults per request
    source: Source = [],  # noqa: B006
    since: Since = None,
    until: Until = None,
    sort: Annotated[Literal["relevance", "date"], Query(description=(
        "relevance, or date: each page's hits newest first (pages still follow relevance)"))] = "relevance",
    collapse: Collapse = True,
    strict: Annotated[bool, Query(description="a malformed query is an error (400) instead of being read as plain words")] = False,
    system: System = [],  # noqa: B006
    org: Org = [],  # noqa: B006
    person: Person = [],  # noqa: B006
    kind: Kind = [],  # noqa: B006
) -> SearchOptions:
    """The search options of a request (a dependency); raises InvalidParameter for a bad filter."""
    filters = Filters.parse(country, source, since, until, system, org, person, kind)
    return SearchOptions(q, mode, filters, sort, collapse, strict)


Options = Annotated[SearchOptions, Depends(search_options)]


def run_search(live: LiveEngine, request: Request, options: SearchOptions, k: int, offset: int, facets: bool) -> SearchResult:
    """One page of a search, with paths as this request may see them."""
    with live.use() as engine:
        result = engine.search(options.q, k=k, mode=options.mode, filters=options.filters, sort=options.sort,
                               collapse=options.collapse, facets=facets, strict=options.strict, offset=offset)
        sources = engine.manifest.sources
    request.app.state.metrics.record_search(result.timings)
    return with_shown_paths(result, sources, from_loopback(request))


def paged(request: Request, result: SearchResult, k: int) -> SearchResultModel:
    """`result` as the API returns it: with `k` and the offsets and links of the pages around it."""
    end = result.offset + k
    more = end < result.total or (not result.complete and len(result.hits) == k)
    next_offset = end if more and end <= MAX_OFFSET else None
    previous_offset = max(0, result.offset - k) if result.offset > 0 else None

    def link(offset: int | None) -> str | None:
        if offset is None:
            return None
        url = request.url.include_query_params(offset=offset)
        return f"{url.path}?{url.query}"

    return from_dataclass(SearchResultModel, result).model_copy(update={
        "k": k, "next_offset": next_offset, "previous_offset": previous_offset,
        "next": link(next_offset), "previous": link(previous_offset),
    })


@router.get("/search", response_model=SearchResultModel, responses=ERRORS, operation_id="search")
def search(
    request: Request,
    live: Live,
    options: Options,
    k: K = 10,
    offset: Offset = 0,
    facets: Annotated[bool, Query(description="also count the candidates by country, year, source, system, organisation, person and kind")] = False,
) -> Response:
    """One page of the best articles for q: hits offset+1 to offset+k, as `accord search --json
    --page` gives them (same field names), with `total` (the hits the ranker lists for this query
    and filters, after collapsing copies; a lower bound unless `complete`) and the offsets and
    links of the next and previous pages (null at either end)."""
    result = run_search(live, request, options, k, offset, facets)
    return as_json(paged(request, result, k))


@router.get("/search/export", response_model=SearchResultModel, operation_id="export", responses={
    **ERRORS, 200: {"description": "the hits as a CSV file (format=csv, columns as `accord search --format csv`) "
                                  "or as the JSON of /api/search (format=json), to download",
                    "content": {"text/csv": {"schema": {"type": "string"}}}}})
def export(
    request: Request,
    live: Live,
    options: Options,
    k: Annotated[int, Query(ge=1, le=MAX_EXPORT, description="number of hits to export")] = MAX_EXPORT,
    offset: Offset = 0,
    format: Annotated[Literal["csv", "json"], Query(description="csv (a spreadsheet) or json (as /api/search)")] = "csv",  # noqa: A002
) -> Response:
    """A search's hits as a file to download (`Content-Disposition: attachment`): by default its
    first 1000, as the page's Export link asks. CSV cells are made safe for spreadsheets (a cell
    that would start a formula is prefixed with ')."""
    result = run_search(live, request, options, k, offset, False)
    name = re.sub(r"[^a-z0-9]+", "-", options.q.lower()).strip("-")[:40] or "search"
    disposition = {"Content-Disposition": f'attachment; filename="accord-{name}.{format}"'}
    if format == "json":
        return Response(paged(request, result, k).model_dump_json(), media_type="application/json", headers=disposition)
    out = io.StringIO()
    write_csv(out, HIT_COLUMNS, hit_rows(result.hits, result.offset + 1))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=disposition)


@router.get("/similar/{article_id:path}", response_model=SearchResultModel, responses={**ERRORS, **NOT_FOUND},
            operation_id="similar")
def similar(
    request: Request,
    live: Live,
    article_id: ArticleId,
    k: K = 10,
    offset: Offset = 0,
    country: Country = [],  # noqa: B006
    source: Source = [],  # noqa: B006
    since: Since = None,
    until: Until = None,
    collapse: Collapse = True,
    system: System = [],  # noqa: B006
    org: Org = [],  # noqa: B006
    person: Person = [],  # noqa: B006
    kind: Kind = [],  # noqa: B006
) -> Response:
    """Articles most like this one (more-like-this), itself and its copies left out, as `accord
    similar`; paged as /api/search is."""
    filters = Filters.parse(country, source, since, until, system, org, person, kind)
    with live.use() as engine:
        result = engine.similar(article_id, k=k, filters=filters, collapse=collapse, offset=offset)
        sources = engine.manifest.sources
    return as_json(paged(request, with_shown_paths(result, sources, from_loopback(request)), k))


@router.get("/articles/{article_id:path}", response_model=ArticleModel, responses={**ERRORS, **NOT_FOUND},
            operation_id="article")
def article(request: Request, live: Live, article_id: ArticleId) -> Response:
    """One cleaned article as indexed, as `accord show ID --json` (its path as hits show theirs)."""
    with live.use() as engine:
        found = engine.article(article_id)
        sources = engine.manifest.sources
    shown = replace(found, path=shown_path(found.path, sources, from_loopback(request)))
    return as_json(from_dataclass(ArticleModel, shown))


@router.get("/months", response_model=MonthsModel, responses=ERRORS, operation_id="months")
def months(
    live: Live,
    q: Query_,
    k: K = 10,
    mode: ModeParam = "hybrid",
    country: Country = [],  # noqa: B006
    source: Source = [],  # noqa: B006
    since: Since = None,
    until: Until = None,
    system: System = [],  # noqa: B006
    org: Org = [],  # noqa: B006
    person: Person = [],  # noqa: B006
    kind: Kind = [],  # noqa: B006
) -> Response:
    """Matching articles per month: the candidates a search for q with these k and filters ranks
    (the set its facets count), by publication month."""
    filters = Filters.parse(country, source, since, until, system, org, person, kind)
    with live.use() as engine:
        limit = engine.counted_candidates(k)
        ids = [candidate.id for candidate in engine.candidates(q, mode, filters=filters, limit=limit)]
        dates = [article.date for article in engine.articles(ids).values()]
    counts = Counter(date[:7] for date in dates if date)
    return as_json(MonthsModel(total=len(dates), months=sorted(counts.items()), undated=sum(1 for d in dates if not d)))


@router.get("/newest", response_model=NewestModel, responses=ERRORS, operation_id="newest")
def newest(live: Live, k: Annotated[int, Query(ge=1, le=50, description="number of articles")] = 10) -> Response:
    """The k most recently dated articles of the index, newest first (for the start page)."""
    with live.use() as engine:
        found = engine.newest(k)
    return as_json(NewestModel(articles=[from_dataclass(BriefModel, article) for article in found]))


@router.get("/stats", response_model=StatsModel, responses=ERRORS, operation_id="stats")
def stats(live: Live) -> Response:
    """What the index holds: articles, passages, model, generation, sources."""
    with live.use() as engine:
        return as_json(from_dataclass(StatsModel, engine.stats()))


__all__ = ["ERRORS", "NOT_FOUND", "as_json", "known_parameters", "live_engine", "router", "shown_path"]
