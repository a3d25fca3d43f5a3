"""What an operator watches of `accord serve`: /healthz, Prometheus /metrics and the access log,
through the ASGI app in-process (TestClient), on a folder and on a real PostgreSQL store."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from index.pipeline.builder import build
from search.web.app import create_app
from tests.conftest import SEEDS, HashingEncoder, requires
from tests.test_serve_api import LOCAL, assert_error


def _client(index_dir: Path | str, **options) -> TestClient:
    return TestClient(create_app(index_dir, encoder=HashingEncoder(), **options), base_url=LOCAL)


def test_healthz_gives_the_live_generation_of_a_folder(tmp_path: Path) -> None:
    report = build([SEEDS], tmp_path / "ix", encoder=HashingEncoder())
    health = _client(tmp_path / "ix").get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["articles"] == report.articles and body["servers"] == []
    assert body["generation"].startswith("gen-")


def test_healthz_is_a_503_when_there_is_no_index(tmp_path: Path) -> None:
    assert_error(_client(tmp_path / "none").get("/healthz"), 503, "no index at")


def test_metrics_count_requests_by_route_and_time_each_search_leg(tmp_path: Path) -> None:
    build([SEEDS], tmp_path / "ix", encoder=HashingEncoder())
    client = _client(tmp_path / "ix")
    for _ in range(3):
        assert client.get("/api/search", params={"q": "military cooperation"}).status_code == 200
    assert client.get("/api/articles/nothing-here").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    text = client.get("/metrics").text
    assert 'accord_requests_total{route="/api/search",status="200"} 3.0' in text
    # Routes by their template, so ids and stray paths never make new label values.
    assert 'accord_requests_total{route="/api/articles/{article_id:path}",status="404"} 1.0' in text
    assert 'accord_requests_total{route="unmatched",status="404"} 1.0' in text
    assert re.search(r'accord_request_seconds_count\{route="/api/search"\} 3\.0', text)
    for leg in ("keyword", "semantic"):
        assert re.search(rf'accord_search_leg_seconds_count\{{leg="{leg}"\}} 3\.0', text), leg


def test_the_access_log_has_a_line_per_request_even_refused_ones(tmp_path: Path) -> None:
    build([SEEDS], tmp_path / "ix", encoder=HashingEncoder())
    lines: list[str] = []
    client = _client(tmp_path / "ix", access_log=lines.append)
    client.get("/api/stats")
    client.get("/api/search", params={"q": "navy", "offest": "3"})  # refused: an unknown parameter
    assert len(lines) == 2
    assert re.fullmatch(r'\S+ - "GET /api/stats" 200 \d+\.\dms', lines[0])
    assert re.fullmatch(r'\S+ - "GET /api/search\?q=navy&offest=3" 422 \d+\.\dms', lines[1])


@requires("postgres")
def test_healthz_lists_the_primary_and_a_replica_that_is_down(pg_url: str) -> None:
    build([SEEDS], pg_url, encoder=HashingEncoder())
    down = "postgresql://accord@127.0.0.1:9/none"  # nothing listens on port 9
    client = TestClient(create_app(_live(pg_url, [down]), encoder=HashingEncoder()), base_url=LOCAL)
    health = client.get("/healthz")
    assert health.status_code == 200, health.text
    servers = health.json()["servers"]
    assert [(s["role"], s["up"]) for s in servers] == [("primary", True), ("replica", False)]
    assert servers[0]["lag_seconds"] is None and "127.0.0.1:9" in servers[1]["url"] and servers[1]["error"]


def _live(url: str, replicas: list[str]):
    from search.web.live import LiveEngine

    return LiveEngine(url, HashingEncoder(), replicas)
