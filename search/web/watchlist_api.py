"""Saved searches and their alerts over HTTP, thin over `search.views.watchlist`:

- `GET /api/watchlist` lists the saved searches, `POST /api/watchlist` saves one (its current
  matches are its baseline, as `accord watchlist add`), `DELETE /api/watchlist/{name}` forgets one;
- `GET /api/alerts` lists, per saved search, the articles that entered its matches since it was
  last acknowledged. Looking records the current matches (as a watcher's check does) but does
  not acknowledge them, so the page shows them as new until the analyst says they are seen;
- `POST /api/alerts/{name}/seen` acknowledges them, as `accord alerts NAME` does.

Users: on a server with named tokens (`accord serve --tokens-file`), the request's token names
its user (`request.state.user`, set by `security.Guard`). A user lists and checks their own
saved searches and shared ones, removes only their own, and what they save is theirs (shared
when the body says `"shared": true`). Names are per owner: two users may each have "libya"; a
route's `{name}` is a search's `ref` (`OWNER/NAME`, or `NAME` for one's own). Without named
tokens every search is everyone's, as in the CLI. Every write is also logged as an audit line
(`search.web.ops.Observe`).

Writes are safe under concurrent use: the watchlist store runs each change in one SQLite
`BEGIN IMMEDIATE` transaction (see `search.views.watchlist`). Write requests must come from this
server's own page or from a non-browser client (`security.check_write`). No route sets or runs a
saved search's `--exec` command.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from index.errors import InvalidArgument, InvalidParameter
from index.filters import Filters
from search.views.watchlist import Watchlist, add_search, check_alerts, parse_since
from search.web.api import ERRORS, Live, as_json
from search.web.models import (
    AlertModel,
    AlertsModel,
    ErrorModel,
    SavedSearchAddedModel,
    SavedSearchModel,
    SaveSearchModel,
    WatchlistModel,
    from_dataclass,
)

router = APIRouter(prefix="/api", tags=["watchlist"])

MAX_SAVED_SEARCHES = 200  # each check runs every saved search; more would make /api/alerts slow

UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"model": ErrorModel, "description": "no saved search of that name"}}
AMBIGUOUS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorModel, "description": "a plain name several other users' searches have: give OWNER/NAME"}}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, **{status: {"model": ErrorModel, "description": text} for status, text in (
    (403, "a request from another site's page (Origin or Sec-Fetch-Site), or a wrong access token"),
    (415, "the body is not JSON (Content-Type: application/json)"),
)}}
Name = Annotated[str, Path(max_length=200, description=(
    "the saved search's ref: OWNER/NAME, or NAME for your own (or the only one of that name you see)"))]


def current_user(request: Request) -> str | None:
    """The named user who sent `request`; None without named tokens (every search is theirs)."""
    return getattr(request.state, "user", None) or None


User = Annotated[str | None, Depends(current_user)]


@router.get("/watchlist", response_model=WatchlistModel, responses=ERRORS, operation_id="watchlist")
def list_searches(live: Live, user: User) -> Response:
    """The saved searches of the index the user may see (their own and shared ones; all on a
    server without named tokens), by name, as `accord watchlist list --json`."""
    searches = Watchlist(live.index_dir).searches(user)
    return as_json(WatchlistModel(searches=[from_dataclass(SavedSearchModel, saved) for saved in searches], user=user))


@router.post("/watchlist", status_code=201, response_model=SavedSearchAddedModel, operation_id="save_search",
             responses={**WRITE_ERRORS, 409: {"model": ErrorModel, "description": "you have a saved search of that name"}})
def save_search(live: Live, body: SaveSearchModel, user: User) -> Response:
    """Save a query with its filters under a name, as `accord watchlist add`, owned by the
    request's user (shared with every user when `shared`). The articles that match it now are
    its baseline; alerts list those that match later."""
    filters = Filters.parse(body.country, body.source, body.since, body.until, body.system, body.org, body.person, body.kind)
    watchlist = Watchlist(live.index_dir)
    if watchlist.exists and len(watchlist.searches()) >= MAX_SAVED_SEARCHES:
        raise InvalidArgument(f"the watchlist holds {MAX_SAVED_SEARCHES} saved searches, the most a server keeps; remove some first")
    with live.use() as engine:
        saved, found = add_search(engine, body.name, body.query, filters=filters, owner=user or "", shared=body.shared)
    added = SavedSearchAddedModel(**from_dataclass(SavedSearchModel, saved).model_dump(), matching=len(found.matches))
    return Response(added.model_dump_json(), status_code=201, media_type="application/json")


@router.delete("/watchlist/{name:path}", status_code=204, operation_id="remove_search", responses={
    **WRITE_ERRORS, **UNKNOWN, **AMBIGUOUS, 403: {"model": ErrorModel, "description": "another user's shared search, or a refused request"}})
def remove_search(live: Live, name: Name, user: User) -> Response:
    """Forget a saved search and its alerts, as `accord watchlist remove`: only one the user owns."""
    Watchlist(live.index_dir).remove(name, user)
    return Response(status_code=204)


@router.get("/alerts", response_model=AlertsModel, responses={**ERRORS, **UNKNOWN, **AMBIGUOUS}, operation_id="alerts")
def alerts(
    live: Live,
    user: User,
    name: Annotated[list[str], Query(max_length=20, description=(
        "the saved searches to check, by ref (OWNER/NAME, or NAME for your own; repeatable); default: all"))] = [],  # noqa: B006
    since: Annotated[str | None, Query(max_length=40, description=(
        "'last' (default): what entered since the last acknowledgement; or a year, month or date"))] = None,
) -> Response:
    """What newly matches saved searches, best first: articles that entered their matches since
    they were last acknowledged (or since a date) and still match. Nothing is acknowledged."""
    try:
        start = parse_since(since)
    except InvalidArgument:
        # parse_since words its error for the CLI (--since); this is the query parameter.
        raise InvalidParameter(
            f"{{since}} {InvalidParameter.literal(repr(since))}: use 'last', a year (2026), a month (2026-11) or a date (2026-11-30)",
            since="since") from None
    with live.use() as engine:
        found = check_alerts(engine, name, since=start, acknowledge=False, user=user)
    return as_json(AlertsModel(alerts=[from_dataclass(AlertModel, alert) for alert in found]))


@router.post("/alerts/{name:path}/seen", response_model=AlertsModel, responses={**WRITE_ERRORS, **UNKNOWN, **AMBIGUOUS},
             operation_id="mark_seen")
def acknowledge(live: Live, name: Name, user: User) -> Response:
    """Mark a saved search's new matches as seen, as `accord alerts NAME` does; answers what was
    acknowledged. The next `GET /api/alerts` lists only what enters after this."""
    with live.use() as engine:
        found = check_alerts(engine, [name], acknowledge=True, user=user)
    return as_json(AlertsModel(alerts=[from_dataclass(AlertModel, alert) for alert in found]))
