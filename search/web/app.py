"""The ASGI application: the JSON API, the analysts' page at `/`, and the API docs at `/docs`.
The API reads the index; its only writes are saved searches (`watchlist_api`).

    app = create_app("~/.local/share/accord/index", token=None)

Everything the page needs (its script, styles, Chart.js, Swagger UI) is served from `/static/`
by this app: nothing comes from another origin, and the Content-Security-Policy says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from index.embedding.encoder import Encoder
from index.errors import (
    AccordError,
    ArticleNotFound,
    IndexIncompatible,
    IndexNotFound,
    InvalidArgument,
    QuerySyntaxError,
    SavedSearchExists,
    SavedSearchNotFound,
    SavedSearchNotOwned,
    StoreAccessDenied,
    StoreUnavailable,
    WatchlistUnavailable,
)
from search.web import api, ops, views_api, watchlist_api
from search.web.live import LiveEngine
from search.web.ops import AccessLog, Metrics, Observe
from search.web.security import Guard, Tokens, error

STATIC = Path(__file__).resolve().parent / "static"

# Accord's errors and the HTTP status each one is (the first that fits: subclasses first).
STATUS = {
    SavedSearchExists: 409,
    SavedSearchNotFound: 404,
    SavedSearchNotOwned: 403,  # another user's shared search: visible, not theirs to remove
    QuerySyntaxError: 400,
    InvalidArgument: 400,
    ArticleNotFound: 404,
    IndexNotFound: 503,
    IndexIncompatible: 503,
    StoreUnavailable: 503,  # the database cannot be reached
    WatchlistUnavailable: 503,  # the watchlist file cannot be read or written (a full disk)
    StoreAccessDenied: 403,  # the server's role may not do this (a read-only role saving a search)
}


def create_app(
    index_dir: Path | str | LiveEngine,
    *,
    token: str | Tokens | None = None,
    encoder: Encoder | None = None,
    routers: Sequence[APIRouter] = (),
    access_log: AccessLog | None = None,
) -> FastAPI:
    """The web app over the index at `index_dir` (or over an already open `LiveEngine`).

    `token`: when set, every request must carry it; named tokens (`security.load_tokens`) also
    say which user sent it, whose saved searches the watchlist routes show (see `search.web.security`). `encoder`: the
    query encoder (default: the index's model). `routers`: more API routes (other views) to
    include; their routes reach the index through `Depends(search.web.api.live_engine)`.
    `access_log`: called with one line per request (search.web.ops); /healthz and /metrics are
    always served.
    The index is opened on the first request; nothing here writes to it (saved searches go
    to the watchlist store beside it, `INDEX_DIR/watchlist.sqlite`).
    """
    live = index_dir if isinstance(index_dir, LiveEngine) else LiveEngine(index_dir, encoder)
    app = FastAPI(
        title="Accord",
        summary="Hybrid keyword + semantic search over defense-cooperation news.",
        version="0.1.0",
        docs_url=None,  # FastAPI's own /docs loads Swagger UI from a CDN and runs an inline script
        redoc_url=None,
        openapi_url="/openapi.json",
        # Every route refuses query parameters it does not declare (FastAPI ignores them).
        dependencies=[Depends(api.known_parameters)],
        # Operation ids for generated clients: the route's own (search, similar, ...), else its
        # function's name, never FastAPI's default (search_api_search_get).
        generate_unique_id_function=_operation_id,
    )
    app.state.live = live
    app.state.metrics = Metrics()
    app.add_middleware(Guard, token=token)
    # Outside the Guard, so requests it refuses are counted and logged too.
    app.add_middleware(Observe, metrics=app.state.metrics, access_log=access_log)
    _add_error_handlers(app)
    app.include_router(api.router)
    app.include_router(views_api.router)
    app.include_router(watchlist_api.router)
    app.include_router(ops.router)
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def page() -> FileResponse:
        # The page reads its query and filters from the address itself (static HTML, no templates).
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})

    return app


def _operation_id(route: APIRoute) -> str:
    return route.operation_id or route.name


def _add_error_handlers(app: FastAPI) -> None:
    """Every error is JSON {"error": "one line"} with its status; no traceback leaves the server
    (an unexpected exception is turned into a 500 by `security.Guard`)."""

    @app.exception_handler(AccordError)
    async def accord_error(_request: Request, err: AccordError) -> Response:
        status = next((code for kind, code in STATUS.items() if isinstance(err, kind)), 500)
        return error(status, str(err))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> Response:
        first = err.errors()[0] if err.errors() else {}
        loc = list(first.get("loc", ()))
        if loc and loc[0] in ("query", "path", "body", "header", "cookie"):
            loc = loc[1:]  # where the value came from; the rest names it (a body field may be called "query")
        where = ".".join(str(part) for part in loc)
        return error(422, f"{where or 'request'}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code == 404:
            return error(404, f"nothing at {request.url.path}; the API is under /api/ (see /docs)")
        if err.status_code == 405:
            allow = ", ".join(_allowed_methods(request))
            return error(405, f"{request.method} is not allowed here (allowed: {allow}); see /docs", {"Allow": allow})
        return error(err.status_code, str(err.detail))


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route answers at this request's path. (Each method of a path is its
    own route, so the 405 Starlette raises names only the first route's.)"""
    return [method for method in ("GET", "HEAD", "POST", "DELETE")
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in request.app.router.routes)]
