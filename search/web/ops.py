"""What an operator watches of `accord serve`: `/healthz`, Prometheus `/metrics` and the access log.

- `/healthz` opens (or refreshes) the index and asks each database server behind it: 200 with
  the generation, counts and servers when the store answers, 503 when it does not. A replica
  that is down or lagging is reported, not an error: searches go to the primary meanwhile.
- `/metrics` is the Prometheus text format (prometheus_client) of one registry per app:
  requests by route and status, request latency by route, and the time of each search leg
  (keyword, semantic, fusion, hits) as the Engine reports it in `SearchResult.timings`.
- `Observe`, an ASGI middleware, counts and times every request and writes one access-log line
  per request (`ADDRESS USER "METHOD PATH" STATUS MILLISECONDS`; USER is `-` without a named
  token) to a callable, and for every write to the API (any method but GET, HEAD, OPTIONS, refused
  or not) an audit line, `audit: USER METHOD PATH STATUS`; `accord serve` prints them on stderr. The query string is logged (it is what was searched); tokens travel in
  headers and are never logged.

Everything here is safe to share between the server's threads: prometheus_client's metrics
lock their own updates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.errors import AccordError
from search.web.api import Live
from search.web.security import SAFE_METHODS, error

AccessLog = Callable[[str], None]

# Latency buckets in seconds: a warm keyword search is milliseconds, a cold hybrid one seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The app's Prometheus metrics, in a registry of its own (two apps in one process, as in the
    tests, never share counts)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("accord_requests", "HTTP requests answered, by route and status",
                                ("route", "status"), registry=self.registry)
        self.latency = Histogram("accord_request_seconds", "Time to answer an HTTP request, by route",
                                 ("route",), buckets=BUCKETS, registry=self.registry)
        self.legs = Histogram("accord_search_leg_seconds", "Time of each leg of a search (the Engine's timings)",
                              ("leg",), buckets=BUCKETS, registry=self.registry)

    def record_search(self, timings: dict[str, float]) -> None:
        """Add one search's leg timings (`SearchResult.timings`)."""
        for leg, seconds in timings.items():
            if leg != "total":
                self.legs.labels(leg).observe(seconds)


class Observe:
    """ASGI middleware: every HTTP request counted, timed and written to the access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: AccessLog | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what a request that ends without a response counts as

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            # The route's template (/api/article/{article_id}), never the path itself: label values
            # must stay few, whatever ids and words clients send.
            name = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/") else "unmatched")
            self.metrics.requests.labels(name, str(status)).inc()
            self.metrics.latency.labels(name).observe(seconds)
            if self.access_log is not None:
                client = scope.get("client") or ("-", 0)
                query = scope.get("query_string", b"").decode("latin-1")
                target = scope["path"] + (f"?{query}" if query else "")
                # The Guard names the token's user in the request's state; '-' when none does.
                user = (scope.get("state") or {}).get("user") or "-"
                self.access_log(f'{client[0]} {user} "{scope["method"]} {target}" {status} {seconds * 1000:.1f}ms')
                if scope["method"] not in SAFE_METHODS and scope["path"].startswith("/api/"):
                    self.access_log(f"audit: {user} {scope['method']} {scope['path']} {status}")


router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="health", summary="Whether the index and its database servers answer")
def health(live: Live) -> Response:
    """200 with the live generation, its counts and each database server (role, up, replica
    lag in seconds) when the index answers; 503 with the reason when it does not."""
    try:
        with live.use() as engine:
            manifest = engine.manifest
            servers = [asdict(server) for server in engine.servers()]
    except AccordError as err:
        return error(503, str(err))
    body = {
        "status": "ok",
        "store": live.location,
        "generation": manifest.generation,
        "articles": manifest.articles,
        "passages": manifest.passages,
        "servers": servers,
    }
    return JSONResponse(body)


@router.get("/metrics", operation_id="metrics", summary="Prometheus metrics of this server")
def metrics(request: Request) -> Response:
    """Requests by route and status, request latency by route and search legs' times, in the
    Prometheus text format."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
