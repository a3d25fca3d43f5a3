"""Saved searches and alerts over HTTP (`search/web/watchlist_api.py`), against a real uvicorn
server on 127.0.0.1 (`search.web.server.Server`) over the seeds built with the fake encoder:
save, list, alerts as new articles are indexed, acknowledge, remove; every error status; the
cross-site write refusals; concurrent saves."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from index.pipeline.builder import build
from search.views.watchlist import Watchlist
from search.web.server import Server
from tests.conftest import SEEDS, HashingEncoder, server_running
from tests.test_serve_browser import free_port

QUERY = "Russia military cooperation"
NEW_ARTICLE = (
    "Russia and Serbia Sign Military Cooperation Agreement\n\n"
    "Russia and Serbia signed a military cooperation agreement in Belgrade. Russia will train Serbian officers,\n"
    "and the military cooperation covers air defence.\n"
)


class Unregistered(HashingEncoder):
    """The fake encoder under a name no server can load: its indexes answer keyword searches only."""

    name = "test/not-registered"


class Running:
    """A server over an index of a folder the test may add articles to."""

    def __init__(self, url: str, folder: Path, index_dir: Path, encoder: HashingEncoder | None) -> None:
        self.url, self.folder, self.index_dir, self.encoder = url, folder, index_dir, encoder

    def add_article(self, name: str, text: str) -> None:
        """Index one more article through the builder, as `accord index` would."""
        (self.folder / name).write_text(text)
        build([self.folder], self.index_dir, encoder=self.encoder)


def run_server(tmp_path: Path, token: str | None = None, model: str = "fake") -> Iterator[Running]:
    """Serve the seeds built with `model`: "fake" (the tests' hashing encoder), "real" (the
    default model) or "unregistered" (one this server cannot load)."""
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    encoder = {"fake": HashingEncoder(), "real": None, "unregistered": Unregistered()}[model]
    build([folder], tmp_path / "index", encoder=encoder)
    port = free_port()
    server = Server(tmp_path / "index", host="127.0.0.1", port=port, token=token,
                    encoder=HashingEncoder() if model == "fake" else None)
    with server_running(server, "accord-serve-watchlist-test"):
        yield Running(f"http://127.0.0.1:{port}", folder, tmp_path / "index", encoder)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    yield from run_server(tmp_path)


@pytest.fixture
def http(running: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.url, timeout=30) as client:
        yield client


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    """An error is JSON {"error": one line} with `status`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"], body
    for word in words:
        assert word in body["error"], body


def test_save_list_alert_acknowledge_and_remove(http: httpx.Client, running: Running) -> None:
    assert http.get("/api/watchlist").json() == {"searches": [], "user": None}
    saved = http.post("/api/watchlist", json={"name": "russia", "query": QUERY, "country": ["russian"], "since": "2000"})
    assert saved.status_code == 201, saved.text
    body = saved.json()
    assert body["name"] == "russia" and body["query"] == QUERY and body["exec"] is None
    assert body["filters"] == {"countries": ["Russia"], "sources": [], "since": "2000-01-01", "until": None,
                               "systems": [], "organisations": [], "people": [], "kinds": []}
    assert body["matching"] == 2  # the two dated seeds articles about Russia: the baseline, not alerts
    listed = http.get("/api/watchlist").json()["searches"]
    assert [s["name"] for s in listed] == ["russia"] and listed[0]["filters"] == body["filters"]

    assert http.get("/api/alerts").json()["alerts"][0]["matches"] == []
    running.add_article("serbia.txt", NEW_ARTICLE.replace("Belgrade.", "Belgrade on 2021-03-04."))
    for _look in range(2):  # looking does not acknowledge: the page shows them until marked as seen
        alerts = http.get("/api/alerts", params={"name": "russia"}).json()["alerts"]
        assert [a["search"]["name"] for a in alerts] == ["russia"]
        assert [m["id"] for m in alerts[0]["matches"]] == ["serbia"]
        assert alerts[0]["matches"][0]["countries"] == ["Russia", "Serbia"] and alerts[0]["since"] is None
    seen = http.post("/api/alerts/russia/seen")
    assert seen.status_code == 200 and [m["id"] for m in seen.json()["alerts"][0]["matches"]] == ["serbia"]
    assert http.get("/api/alerts", params={"name": "russia"}).json()["alerts"][0]["matches"] == []
    since = http.get("/api/alerts", params={"name": "russia", "since": "2000"}).json()["alerts"][0]
    assert [m["id"] for m in since["matches"]] == ["serbia"] and since["since"] == "2000-01-01"

    assert http.delete("/api/watchlist/russia").status_code == 204
    assert http.get("/api/watchlist").json() == {"searches": [], "user": None}
    # What the HTTP API saved is what the CLI's store holds.
    assert Watchlist(running.index_dir).searches() == []


def test_saved_over_http_is_what_the_cli_lists(http: httpx.Client, running: Running) -> None:
    from typer.testing import CliRunner

    from cli import app

    assert http.post("/api/watchlist", json={"name": "iran pact", "query": "military cooperation", "country": ["Iran"]}).status_code == 201
    result = CliRunner().invoke(app, ["watchlist", "list", "--json", "--index", str(running.index_dir)])
    assert result.exit_code == 0, result.output
    saved = json.loads(result.output)
    assert saved["name"] == "iran pact" and saved["filters"]["countries"] == ["Iran"]


def test_write_errors(http: httpx.Client) -> None:
    assert http.post("/api/watchlist", json={"name": "taken", "query": QUERY}).status_code == 201
    assert_error(http.post("/api/watchlist", json={"name": "taken", "query": "navy"}), 409, "taken", "exists")
    assert_error(http.post("/api/watchlist", json={"name": "x", "query": QUERY, "exec": "touch /tmp/owned"}), 422, "exec", "not permitted")
    assert_error(http.post("/api/watchlist", json={"name": "x"}), 422, "query")
    assert_error(http.post("/api/watchlist", json={"name": "x" * 101, "query": QUERY}), 422, "name")
    assert_error(http.post("/api/watchlist", json={"name": "  ", "query": QUERY}), 400, "watchlist name")
    assert_error(http.post("/api/watchlist", json={"name": "x", "query": QUERY, "country": ["Atlantis"]}), 400, "Atlantis")
    assert_error(http.post("/api/watchlist", json={"name": "x", "query": QUERY, "since": "someday"}), 400, "someday")
    assert_error(http.post("/api/watchlist", content=b"{not json", headers={"Content-Type": "application/json"}), 422)
    assert_error(http.post("/api/watchlist", content=b"name=x&query=y",
                           headers={"Content-Type": "application/x-www-form-urlencoded"}), 415, "JSON")
    assert_error(http.post("/api/watchlist", content=b"x" * 20000, headers={"Content-Type": "application/json"}), 413)
    assert_error(http.delete("/api/watchlist/nobody"), 404, "nobody", "taken")
    assert_error(http.post("/api/alerts/nobody/seen"), 404, "nobody")
    assert_error(http.get("/api/alerts", params={"name": "nobody"}), 404, "nobody")
    assert_error(http.get("/api/alerts", params={"since": "someday"}), 400, "someday")
    wrong = http.put("/api/watchlist", json={})
    assert_error(wrong, 405, "GET, POST")
    assert wrong.headers["allow"] == "GET, POST"
    assert [s["name"] for s in http.get("/api/watchlist").json()["searches"]] == ["taken"]


def test_writes_from_another_sites_page_are_refused(http: httpx.Client, running: Running) -> None:
    body = {"name": "csrf", "query": QUERY}
    assert_error(http.post("/api/watchlist", json=body, headers={"Origin": "http://evil.example"}), 403, "evil.example")
    assert_error(http.post("/api/watchlist", json=body, headers={"Sec-Fetch-Site": "cross-site"}), 403, "another site")
    assert_error(http.delete("/api/watchlist/csrf", headers={"Origin": "http://127.0.0.1:1"}), 403)
    assert_error(http.post("/api/alerts/csrf/seen", headers={"Sec-Fetch-Site": "same-site"}), 403)
    assert http.get("/api/watchlist").json() == {"searches": [], "user": None}
    assert_error(http.post("/api/watchlist", json=body, headers={"Origin": "null"}), 403)  # a sandboxed page
    assert http.get("/api/watchlist").json() == {"searches": [], "user": None}
    # This server's own page (same origin) may write; behind a TLS proxy its page is https.
    same = http.post("/api/watchlist", json=body, headers={"Origin": running.url, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 201, same.text
    proxied = http.post("/api/watchlist", json={**body, "name": "tls"}, headers={"Origin": running.url.replace("http:", "https:")})
    assert proxied.status_code == 201, proxied.text
    older = http.delete("/api/watchlist/tls", headers={"Origin": running.url})  # no Sec-Fetch-Site: an older browser
    assert older.status_code == 204, older.text


def test_concurrent_saves_of_one_name_keep_one(http: httpx.Client, running: Running) -> None:
    def save(name: str) -> int:
        with httpx.Client(base_url=running.url, timeout=60) as client:
            return client.post("/api/watchlist", json={"name": name, "query": QUERY}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        same = list(pool.map(save, ["same"] * 8))
        distinct = list(pool.map(save, [f"search {n}" for n in range(8)]))
    assert sorted(same) == [201] + [409] * 7
    assert distinct == [201] * 8
    names = [s["name"] for s in http.get("/api/watchlist").json()["searches"]]
    assert names == ["same"] + [f"search {n}" for n in range(8)]


def test_the_routes_are_in_the_openapi_schema(http: httpx.Client) -> None:
    schema = http.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/watchlist"]) == {"get", "post"}
    assert set(paths["/api/watchlist/{name}"]) == {"delete"}
    assert set(paths["/api/alerts"]) == {"get"} and set(paths["/api/alerts/{name}/seen"]) == {"post"}
    assert {"201", "409", "415", "403"} <= set(paths["/api/watchlist"]["post"]["responses"])
    body = schema["components"]["schemas"]["SaveSearchModel"]
    assert set(body["properties"]) == {"name", "query", "country", "source", "since", "until", "shared",
                                       "system", "org", "person", "kind"}  # no exec
    assert body.get("additionalProperties") is False


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Running]:
    yield from run_server(tmp_path, token="s3cret-token-for-tests-0123456789")


def test_with_a_token_writes_need_it(guarded: Running) -> None:
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        assert_error(client.post("/api/watchlist", json={"name": "x", "query": QUERY}), 401)
        headers = {"Authorization": "Bearer s3cret-token-for-tests-0123456789"}
        assert client.post("/api/watchlist", json={"name": "x", "query": QUERY}, headers=headers).status_code == 201
