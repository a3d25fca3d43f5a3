"""The analyst views over HTTP: `/api/timeline` and `/api/pairs`, the JSON of `accord timeline
--json` and `accord pairs --json`. Read-only, on the server's shared index like every route."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import TypeAdapter

from index.filters import Filters
from search.views.matches import DEFAULT_TOP, MAX_TOP, CutOff
from search.views.pairs import Pairs, pairs
from search.views.timeline import Timeline, timeline
from search.web.api import ERRORS, Country, Kind, Live, Org, Person, Query_, Since, Source, System, Until

router = APIRouter(prefix="/api", tags=["views"])
Top = Annotated[int, Query(ge=1, le=MAX_TOP, description=(
    "count among the first `top` hits of the result list /api/search gives for q and these filters "
    "(those that match the query: best-passage cosine at the model's weak-match line, or half the query's weight in "
    "their words); the first top/10 pages of ten"))]
_TIMELINE = TypeAdapter(Timeline)
_PAIRS = TypeAdapter(Pairs)


@router.get("/timeline", response_model=Timeline, responses=ERRORS, operation_id="timeline")
def timeline_route(
    live: Live,
    q: Query_,
    by: Annotated[Literal["month", "year"], Query(description="count matches per month or per year")] = "month",
    split: Annotated[Literal["kind"] | None, Query(description=(
        "kind: also count the matches per kind of defence cooperation (`kinds`: a row per kind, "
        "`none` for matches with none)"))] = None,
    country: Country = [],  # noqa: B006 - FastAPI copies defaults per request
    source: Source = [],  # noqa: B006
    since: Since = None,
    until: Until = None,
    system: System = [],  # noqa: B006
    org: Org = [],  # noqa: B006
    person: Person = [],  # noqa: B006
    kind: Kind = [],  # noqa: B006
    top: Top = DEFAULT_TOP,
) -> Response:
    """Matching articles of q per period, as `accord timeline`: the hits among the first `top` of
    the result list that match the query (the rule is in `cutoff`); undated matches are counted
    apart. With split=kind, also per kind of cooperation."""
    filters = Filters.parse(country, source, since, until, system, org, person, kind)
    with live.use() as engine:
        found = timeline(engine, q, by=by, filters=filters, cutoff=CutOff(top=top), split=split)
    return Response(_TIMELINE.dump_json(found), media_type="application/json")


@router.get("/pairs", response_model=Pairs, responses=ERRORS, operation_id="pairs")
def pairs_route(
    live: Live,
    q: Query_,
    country: Country = [],  # noqa: B006
    source: Source = [],  # noqa: B006
    since: Since = None,
    until: Until = None,
    system: System = [],  # noqa: B006
    org: Org = [],  # noqa: B006
    person: Person = [],  # noqa: B006
    kind: Kind = [],  # noqa: B006
    top: Top = DEFAULT_TOP,
) -> Response:
    """Country pairs that co-occur in the matching articles of q (as for /api/timeline), with
    counts, first and last date and the best example; with country, only pairs that include it."""
    filters = Filters.parse(country, source, since, until, system, org, person, kind)
    with live.use() as engine:
        found = pairs(engine, q, filters=filters, cutoff=CutOff(top=top))
    return Response(_PAIRS.dump_json(found), media_type="application/json")
