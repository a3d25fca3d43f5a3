"""`accord serve`'s HTTP API through FastAPI's TestClient (the ASGI app in-process), on a tiny
index built with the fake encoder: every endpoint, every error status, the security headers,
the token, the refusal to bind other addresses without one, and the shared engine following
new index generations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from index.errors import IndexNotFound, InvalidArgument
from index.pipeline.builder import build
from index.storage.layout import LEASES_DIR
from search.engine import Engine, Hit
from search.web.api import live_engine
from search.web.app import create_app
from search.web.live import LiveEngine
from search.web.security import MAX_K, MAX_QUERY_CHARS, check_bind, is_loopback, load_token, token_matches
from tests.conftest import HashingEncoder

REPO = Path(__file__).resolve().parent.parent
LOCAL = "http://127.0.0.1:8765"
TOKEN = "s3cret-token-for-tests-0123456789"
XSS_TITLE = "Arms deal <script>window.xssFired=1</script> signed"
XSS_BODY = (
    'The ministry of Quuxland signed an arms deal. <img src=x onerror="window.xssFired=2"> '
    "Officials said the deal covers helicopters.\nA second sentence about helicopters and Quuxland.\n"
)


@pytest.fixture
def index_dir(tmp_path: Path, corpus_dir: Path, encoder: HashingEncoder) -> Path:
    """The conftest corpus plus an article carrying markup, and one in a subfolder (an id with '/')."""
    (corpus_dir / "xss.txt").write_text(f"{XSS_TITLE}\n{XSS_BODY}")
    (corpus_dir / "gulf").mkdir()
    (corpus_dir / "gulf" / "navy.txt").write_text(
        "Oman and Iran navies drill in the Gulf\nOman and Iran held a naval drill near Hormuz. Iran sent two frigates.\n")
    index_dir = tmp_path / "index"
    build([corpus_dir], index_dir, encoder=encoder)
    return index_dir


@pytest.fixture
def client(index_dir: Path, encoder: HashingEncoder) -> TestClient:
    return TestClient(create_app(index_dir, encoder=encoder), base_url=LOCAL)


def assert_error(response, status: int, *words: str) -> None:
    """An error is JSON {"error": one line} with `status`, no traceback, and the security headers."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    for word in words:
        assert word in body["error"]
    assert "script-src 'self'" in response.headers["content-security-policy"]


# ---- endpoints ---------------------------------------------------------------------------------


def test_search_returns_the_engines_hits_with_the_cli_json_field_names(index_dir, encoder):
    # From this machine (a loopback peer) paths are whole, as the CLI prints them.
    client = TestClient(create_app(index_dir, encoder=encoder), base_url=LOCAL, client=("127.0.0.1", 50000))
    response = client.get("/api/search", params={"q": "military cooperation Libya", "k": 3})
    assert response.status_code == 200
    body = response.json()
    with Engine.open(index_dir, encoder=encoder) as engine:
        expected = engine.search("military cooperation Libya", k=3)
    # What `accord search --json` prints for each hit: json.dumps(asdict(hit)).
    assert body["hits"] == [json.loads(json.dumps(asdict(hit))) for hit in expected]
    assert list(body["hits"][0]) == [f.name for f in fields(Hit)]
    assert body["hits"][0]["id"] == "libya"
    assert body["facets"] is None and body["generation"] == expected.generation
    assert set(body["timings"]) == {"keyword", "semantic", "hits", "total"}


def test_search_options_filters_and_facets(client):
    body = client.get("/api/search", params={"q": "military navy", "country": "iranian", "facets": "true"}).json()
    assert {hit["id"] for hit in body["hits"]} == {"iran", "gulf/navy"}
    assert all("Iran" in hit["countries"] for hit in body["hits"])
    assert body["facets"]["total"] == 2 and ["Iran", 2] in body["facets"]["countries"]

    both = client.get("/api/search", params=[("q", "navy drill"), ("country", "Iran"), ("country", "Oman")]).json()
    assert [hit["id"] for hit in both["hits"]] == ["gulf/navy"]
    dated = client.get("/api/search", params={"q": "military cooperation", "since": "2012", "until": "2012-12"}).json()
    assert [hit["id"] for hit in dated["hits"]] == ["libya"]
    source = client.get("/api/search", params={"q": "military cooperation", "source": "xinhua", "mode": "keyword"}).json()
    assert [hit["id"] for hit in source["hits"]] == ["libya"]
    newest = client.get("/api/search", params={"q": "navies exercise cooperation", "sort": "date", "mode": "keyword"}).json()
    dates = [hit["date"] for hit in newest["hits"] if hit["date"]]
    assert dates == sorted(dates, reverse=True) and len(dates) >= 2
    one = client.get("/api/search", params={"q": "military", "k": 1, "mode": "semantic", "collapse": "false"}).json()
    assert len(one["hits"]) == 1 and one["hits"][0]["keyword"] is None


def test_similar_leaves_the_article_out_and_takes_filters(client):
    body = client.get("/api/similar/libya", params={"k": 3}).json()
    assert body["hits"] and "libya" not in [hit["id"] for hit in body["hits"]]
    filtered = client.get("/api/similar/libya", params={"country": "Iran"}).json()
    assert filtered["hits"] and all("Iran" in hit["countries"] for hit in filtered["hits"])
    assert client.get("/api/similar/gulf/navy").status_code == 200  # ids with a slash


def test_article_by_id_is_the_cleaned_article(client, index_dir, encoder):
    body = client.get("/api/articles/gulf/navy").json()
    with Engine.open(index_dir, encoder=encoder) as engine:
        expected = json.loads(json.dumps(asdict(engine.article("gulf/navy"))))
    # The test client is not a loopback peer: the path is shown under its source folder.
    assert body == {**expected, "path": "gulf/navy.txt"}
    assert body["title"] == "Oman and Iran navies drill in the Gulf"


def test_months_count_the_candidates_by_month(client):
    body = client.get("/api/months", params={"q": "navies exercise military cooperation", "mode": "keyword"}).json()
    assert ["2012-08", 1] in body["months"] and ["2021-05", 1] in body["months"]
    assert body["total"] == sum(count for _month, count in body["months"]) + body["undated"]
    assert [month for month, _ in body["months"]] == sorted(month for month, _ in body["months"])


def test_stats(client, index_dir):
    body = client.get("/api/stats").json()
    assert body["articles"] == 6 and body["model"] == "test/hashing-bag-of-words"
    assert body["generation"] == "gen-000001" and body["index_dir"] == str(index_dir)


def test_openapi_schema_and_docs_are_served_locally(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/similar/{article_id}", "/api/articles/{article_id}", "/api/months", "/api/stats"} <= set(schema["paths"])
    hit = schema["components"]["schemas"]["HitModel"]["properties"]
    assert list(hit) == [f.name for f in fields(Hit)]
    search_params = {p["name"] for p in schema["paths"]["/api/search"]["get"]["parameters"]}
    assert search_params == {"q", "k", "offset", "mode", "country", "source", "since", "until", "sort", "facets", "collapse", "strict",
                            "system", "org", "person", "kind"}
    docs = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "http" not in docs.replace("http-equiv", "")
    for asset in ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css",
                  "/static/vendor/chartjs/chart.umd.min.js", "/static/app.js", "/static/app.css", "/static/docs.js"):
        assert client.get(asset).status_code == 200, asset


def test_the_page_has_no_inline_script_and_builds_no_html_from_text(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert html.count("<script") == html.count('<script src="/static/') == 2
    assert " on" not in html.replace("\n", " ").split("<body>")[1].split("=")[0] or "onclick" not in html
    assert "style=" not in html and "://" not in html  # no inline styles, nothing from another origin
    script = (REPO / "search" / "web" / "static" / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink


# ---- escaping and headers ----------------------------------------------------------------------


def test_markup_in_an_article_is_data_in_json_never_html(client):
    body = client.get("/api/articles/xss")
    assert body.headers["content-type"] == "application/json"
    assert body.headers["x-content-type-options"] == "nosniff"
    assert body.json()["title"] == XSS_TITLE and '<img src=x onerror="window.xssFired=2">' in body.json()["body"]
    hits = client.get("/api/search", params={"q": "Quuxland helicopters"}).json()["hits"]
    assert hits[0]["id"] == "xss" and hits[0]["title"] == XSS_TITLE


@pytest.mark.parametrize("path", ["/", "/docs", "/openapi.json", "/api/stats", "/static/app.js", "/api/articles/nope", "/nothing"])
def test_every_response_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer" and headers["x-content-type-options"] == "nosniff"


# ---- errors ------------------------------------------------------------------------------------


def test_a_malformed_query_is_read_as_words_unless_strict(client):
    lenient = client.get("/api/search", params={"q": 'Libya "military', "mode": "keyword"})
    assert lenient.status_code == 200 and lenient.json()["hits"][0]["id"] == "libya" and lenient.json()["notes"]
    assert_error(client.get("/api/search", params={"q": 'Libya "military', "strict": "true"}), 400, "quote")


@pytest.mark.parametrize(("params", "words"), [
    ({"q": "   "}, ["empty"]),
    ({"q": "navy", "country": "Narnia"}, ["Narnia", "not a country"]),
    ({"q": "navy", "since": "yesterday-ish"}, ["not a date"]),
    ({"q": "navy", "since": "2020", "until": "2019"}, ["after"]),
])
def test_bad_queries_and_filters_are_400(client, params, words):
    assert_error(client.get("/api/search", params=params), 400, *words)


@pytest.mark.parametrize(("params", "words"), [
    ({}, ["q"]),
    ({"q": "navy", "k": 0}, ["k"]),
    ({"q": "navy", "k": MAX_K + 1}, ["k", str(MAX_K)]),
    ({"q": "navy", "k": "ten"}, ["k"]),
    ({"q": "x" * (MAX_QUERY_CHARS + 1)}, ["q", str(MAX_QUERY_CHARS)]),
    ({"q": "navy", "mode": "fuzzy"}, ["mode"]),
    ({"q": "navy", "sort": "random"}, ["sort"]),
    ({"q": "navy", "country": ["Iran"] * 21}, ["country", "20"]),
])
def test_parameters_out_of_their_limits_are_422(client, params, words):
    assert_error(client.get("/api/search", params=params), 422, *words)


def test_not_found_and_wrong_method(client):
    assert_error(client.get("/api/articles/no-such-id"), 404, "no-such-id")
    assert_error(client.get("/api/similar/no-such-id"), 404, "no-such-id")
    assert_error(client.get("/api/nothing"), 404, "/api/nothing")
    assert_error(client.get("/static/missing.js"), 404)
    response = client.post("/api/search", params={"q": "navy"})
    assert_error(response, 405, "allowed: GET)")
    assert response.headers["allow"] == "GET"


def test_oversized_requests_are_refused(client):
    assert_error(client.get("/api/search", params={"q": "navy " * 2000}), 414)
    assert_error(client.request("GET", "/api/search?q=navy", content=b"x" * 20000), 413)
    assert_error(client.request("GET", "/api/search?q=navy", headers={"Content-Length": "abc"}), 413)


def test_a_missing_index_is_503(tmp_path):
    client = TestClient(create_app(tmp_path / "none"), base_url=LOCAL)
    assert_error(client.get("/api/stats"), 503, "accord index")


def test_an_unexpected_exception_is_a_json_500_without_traceback(client, index_dir, encoder):
    broken = APIRouter()

    @broken.get("/api/broken")
    def fail() -> None:
        raise RuntimeError("secret internal detail\nline two")

    client = TestClient(create_app(index_dir, encoder=encoder, routers=[broken]), base_url=LOCAL, raise_server_exceptions=False)
    response = client.get("/api/broken")
    assert_error(response, 500, "RuntimeError")
    assert "secret" not in response.text


def test_extra_routers_reach_the_shared_index(index_dir, encoder):
    views = APIRouter(prefix="/api/views")

    @views.get("/count")
    def count(live: Annotated[LiveEngine, Depends(live_engine)]) -> dict:
        with live.use() as engine:
            return {"articles": engine.stats().articles}

    client = TestClient(create_app(index_dir, encoder=encoder, routers=[views]), base_url=LOCAL)
    assert client.get("/api/views/count").json() == {"articles": 6}


# ---- access --------------------------------------------------------------------------------------


def test_without_a_token_only_local_host_names_are_answered(client, index_dir, encoder):
    for host in ("localhost:8765", "127.0.0.1", "[::1]:8765"):
        assert client.get("/api/stats", headers={"Host": host}).status_code == 200, host
    # A page elsewhere that points its own DNS name at 127.0.0.1 (DNS rebinding) is refused.
    assert_error(client.get("/api/stats", headers={"Host": "evil.example:8765"}), 403, "evil.example")


@pytest.fixture
def guarded(index_dir: Path, encoder: HashingEncoder) -> TestClient:
    return TestClient(create_app(index_dir, encoder=encoder, token=TOKEN), base_url="http://192.0.2.10:8765")


@pytest.mark.parametrize("path", ["/", "/docs", "/openapi.json", "/static/app.js", "/api/stats", "/api/search?q=navy", "/nothing"])
def test_with_a_token_every_path_needs_it(guarded, path):
    assert_error(guarded.get(path), 401, "access token")
    assert guarded.get(path).headers["www-authenticate"] == "Bearer"
    assert_error(guarded.get(path, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"}), 403, "wrong")
    assert_error(guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}extra"}), 403, "wrong")
    assert_error(guarded.get(path, headers={"Authorization": "Bearer ünïcode-0123456789abcdef".encode()}), 403, "wrong")
    assert guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code in (200, 404)
    guarded.cookies.set("accord_token", TOKEN[:-1])
    assert_error(guarded.get(path), 403, "wrong")
    guarded.cookies.set("accord_token", TOKEN)
    assert guarded.get(path).status_code in (200, 404)


def test_a_browser_trades_the_token_in_the_address_for_a_cookie(guarded):
    response = guarded.get(f"/?q=navy&token={TOKEN}&country=Iran", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?q=navy&country=Iran"  # the token leaves the address
    cookie = response.headers["set-cookie"]
    assert "accord_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert guarded.get("/api/stats").status_code == 200  # the client keeps the cookie
    assert guarded.get("/?q=navy").status_code == 200
    fresh = TestClient(guarded.app, base_url="http://192.0.2.10:8765")
    assert_error(fresh.get(f"/?token={TOKEN[:-1]}x", follow_redirects=False), 403, "wrong")
    assert_error(fresh.get(f"/api/stats?token={TOKEN}"), 401)  # the API takes no token in its address


def test_token_comparison():
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN[:-1], TOKEN) and not token_matches(TOKEN + "x", TOKEN)
    assert not token_matches(None, TOKEN) and not token_matches("", TOKEN) and not token_matches("ü" * 30, TOKEN)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses_need_no_token(host):
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.org", "myhost"])
def test_other_addresses_are_refused_without_a_token(host):
    assert not is_loopback(host)
    with pytest.raises(InvalidArgument, match="--token-file FILE or \\$ACCORD_TOKEN"):
        check_bind(host, None)
    check_bind(host, TOKEN)  # with one, it may listen


def test_token_from_file_or_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("ACCORD_TOKEN", raising=False)
    assert load_token(None) is None
    monkeypatch.setenv("ACCORD_TOKEN", TOKEN)
    assert load_token(None) == TOKEN
    token_file = tmp_path / "token"
    token_file.write_text("from-the-file-0123456789\nignored\n")
    assert load_token(token_file) == "from-the-file-0123456789"  # the file wins over the environment
    token_file.write_text("short\n")
    with pytest.raises(InvalidArgument, match="at least 16"):
        load_token(token_file)
    with pytest.raises(InvalidArgument, match="cannot read"):
        load_token(tmp_path / "missing")
    monkeypatch.setenv("ACCORD_TOKEN", "short")
    with pytest.raises(InvalidArgument, match="ACCORD_TOKEN"):
        load_token(None)


def test_cli_refuses_a_public_address_without_a_token(index_dir):
    from cli import app

    env = {k: v for k, v in os.environ.items() if k != "ACCORD_TOKEN"}
    result = CliRunner().invoke(app, ["serve", "--index", str(index_dir), "--host", "0.0.0.0", "--port", "1"], env=env)
    print(result.output)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "accord: error: --host 0.0.0.0 is reachable from other machines: give an access token with "
        "--token-file FILE or $ACCORD_TOKEN, or bind 127.0.0.1"
    ]


def test_cli_serve_fails_in_one_line_without_an_index(tmp_path):
    from cli import app

    result = CliRunner().invoke(app, ["serve", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1 and result.output.startswith("accord: error: ") and len(result.output.splitlines()) == 1


def test_help_imports_no_web_stack():
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom cli import app\n"
        "r = CliRunner().invoke(app, ['serve', '--help'])\nassert r.exit_code == 0 and '--token-file' in r.output\n"
        "print([m for m in ('fastapi', 'starlette', 'uvicorn') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- the shared engine and index generations -----------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and time of every file of the index, but the readers' lease files: the Engine takes a
    shared lock on the generation it reads (`locks/`, index/storage/directory.py), which is how a
    reader tells writers, not a change to the index."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.relative_to(folder).parts[0] != LEASES_DIR}


def test_no_endpoint_writes_to_the_index(client, index_dir):
    before = snapshot(index_dir)
    for path in ("/api/search?q=navy&facets=true", "/api/similar/libya", "/api/articles/libya", "/api/months?q=navy",
                 "/api/stats", "/", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    assert snapshot(index_dir) == before


def test_the_api_serves_each_new_generation(client, corpus_dir, index_dir, encoder):
    first = client.get("/api/search", params={"q": "submarine", "mode": "keyword"}).json()
    assert first["hits"] == [] and first["generation"] == "gen-000001"
    (corpus_dir / "sub.txt").write_text("Submarine deal\nA submarine deal was signed by Norway.\n")
    build([corpus_dir], index_dir, encoder=encoder)
    second = client.get("/api/search", params={"q": "submarine", "mode": "keyword"}).json()
    assert [hit["id"] for hit in second["hits"]] == ["sub"] and second["generation"] == "gen-000002"
    assert client.get("/api/stats").json()["articles"] == 7


def test_the_shared_engine_follows_new_generations(corpus_dir, index_dir, encoder):
    live = LiveEngine(index_dir, encoder)
    with live.use() as engine:
        assert engine.manifest.generation == "gen-000001"
    (corpus_dir / "sub.txt").write_text("Submarine deal\nA submarine deal was signed by Norway.\n")
    build([corpus_dir], index_dir, encoder=encoder)
    with live.use() as again:
        assert again is engine  # one Engine, refreshed onto the new generation
        assert again.manifest.generation == "gen-000002"
        assert [h.id for h in again.search("submarine", mode="keyword")] == ["sub"]
    live.close()


def test_the_shared_engine_holds_each_generations_tables_before_its_searches(corpus_dir, index_dir, encoder, monkeypatch):
    from index.storage.keyword_arrays import ArrayBM25F

    decoded: list[bytes] = []  # the indexed terms whose postings a search reads from whoosh's files
    leaf_scores = ArrayBM25F._leaf_scores

    def spied(scorer, field, text, reader):
        found = leaf_scores(scorer, field, text, reader)
        if found is not None:
            decoded.append(text)
        return found

    monkeypatch.setattr(ArrayBM25F, "_leaf_scores", spied)

    def sql_of_a_search(engine) -> list[str]:
        with engine.view() as view:
            statements: list[str] = []
            view.docs._db.set_trace_callback(statements.append)  # this thread's connection, as the search's
            try:
                engine.search("missile deal with the Russian navy")
            finally:
                view.docs._db.set_trace_callback(None)
        return statements

    live = LiveEngine(index_dir, encoder)
    engine = live.open()
    # Warmed at start: the first search maps its passages to articles and collapses its page
    # from memory, and scores with postings decoded already, where an engine opened plainly
    # reads them from the article store and the keyword index.
    assert not [s for s in sql_of_a_search(engine) if "FROM passages" in s or "dup_group" in s]
    assert decoded == []
    with Engine.open(index_dir, encoder=encoder) as plain:
        assert [s for s in sql_of_a_search(plain) if "FROM passages" in s]
        assert decoded
    (corpus_dir / "sub.txt").write_text("Submarine deal\nA submarine deal was signed by Norway.\n")
    build([corpus_dir], index_dir, encoder=encoder)
    with live.use() as again:
        assert again.manifest.generation == "gen-000002"
    assert live.settled(timeout=60)  # read in beside the requests
    with live.use() as again:
        assert not [s for s in sql_of_a_search(again) if "FROM passages" in s or "dup_group" in s]
    live.close()


def test_a_generation_not_read_in_ahead_is_still_searched_and_the_server_says_why(
    corpus_dir, index_dir, encoder, monkeypatch, caplog
):
    live = LiveEngine(index_dir, encoder)
    live.open()

    def failing(engine):
        raise OSError("the disk went away")

    monkeypatch.setattr(Engine, "warm", failing)
    (corpus_dir / "sub.txt").write_text("Submarine deal\nA submarine deal was signed by Norway.\n")
    build([corpus_dir], index_dir, encoder=encoder)
    with caplog.at_level("WARNING", logger="accord"):
        with live.use() as again:
            assert again.search("submarine deal Norway").hits[0].id == "sub"
        assert live.settled(timeout=60)
    assert [r.message for r in caplog.records] == [
        "accord: warning: could not read the new generation in ahead of its searches: the disk went away"]
    with live.use() as again:
        assert again.search("submarine deal Norway").hits[0].id == "sub"
    live.close()


def test_generations_published_while_one_is_read_in_are_read_in_after_it_by_the_same_thread(
    corpus_dir, index_dir, encoder, monkeypatch
):
    import threading

    live = LiveEngine(index_dir, encoder)
    live.open()
    release, started = threading.Event(), threading.Event()
    warmed: list[tuple[str, str]] = []  # (generation read in, thread that read it)
    running: list[int] = []
    most_at_once = []
    warm = Engine.warm

    def slow_warm(engine):
        running.append(1)
        most_at_once.append(len(running))
        with engine.view() as view:
            generation = view.manifest.generation
        started.set()
        assert release.wait(60)
        warm(engine)
        warmed.append((generation, threading.current_thread().name))
        running.pop()

    monkeypatch.setattr(Engine, "warm", slow_warm)
    for number, name in enumerate(("sub", "tank"), start=2):
        (corpus_dir / f"{name}.txt").write_text(f"{name.title()} deal\nA {name} deal was signed by Norway.\n")
        build([corpus_dir], index_dir, encoder=encoder)
        with live.use() as engine:
            assert engine.manifest.generation == f"gen-00000{number}"
        assert started.wait(60)  # the first is being read in while the second is published
    release.set()
    assert live.settled(timeout=60)
    assert [generation for generation, _thread in warmed] == ["gen-000002", "gen-000003"]
    assert len({thread for _generation, thread in warmed}) == 1 and max(most_at_once) == 1
    live.close()


def test_live_engine_reports_a_missing_index(tmp_path):
    with pytest.raises(IndexNotFound):
        LiveEngine(tmp_path / "none").open()


def test_an_index_of_a_model_this_server_lacks_still_answers_keyword_searches(tmp_path, corpus_dir):
    class Unregistered(HashingEncoder):
        name = "test/not-registered"

    build([corpus_dir], tmp_path / "other", encoder=Unregistered())
    client = TestClient(create_app(tmp_path / "other"), base_url=LOCAL)
    assert client.get("/api/search", params={"q": "Libya", "mode": "keyword"}).json()["hits"][0]["id"] == "libya"
    assert_error(client.get("/api/search", params={"q": "Libya"}), 503, "test/not-registered", "not available")
    assert client.head("/").status_code == 200


def test_cli_serve_watch_of_a_missing_folder_fails_in_one_line(tmp_path):
    from cli import app

    result = CliRunner().invoke(app, ["serve", "--index", str(tmp_path / "index"), "--watch", str(tmp_path / "nowhere")])
    print(result.output)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith("accord: error: ") and "nowhere" in result.output
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_timeline_and_pairs_answer_as_the_python_views_do(client: TestClient, index_dir: Path, encoder) -> None:
    import dataclasses

    from search.engine import Engine
    from search.views.pairs import pairs
    from search.views.timeline import timeline

    with Engine.open(index_dir, encoder=encoder) as engine:
        expected_timeline = json.loads(json.dumps(dataclasses.asdict(timeline(engine, "military cooperation", by="year"))))
        expected_pairs = json.loads(json.dumps(dataclasses.asdict(pairs(engine, "military cooperation"))))
    got = client.get("/api/timeline", params={"q": "military cooperation", "by": "year"})
    assert got.status_code == 200 and got.json() == expected_timeline
    got = client.get("/api/pairs", params={"q": "military cooperation"})
    assert got.status_code == 200 and got.json() == expected_pairs
    schema = client.get("/openapi.json").json()
    assert "/api/timeline" in schema["paths"] and "/api/pairs" in schema["paths"]


def test_views_reject_bad_arguments_with_one_line(client: TestClient) -> None:
    assert_error(client.get("/api/timeline", params={"q": "arms", "by": "week"}), 422)
    assert_error(client.get("/api/pairs", params={"q": "arms", "country": "Atlantis"}), 400, "Atlantis")
    assert_error(client.get("/api/timeline", params={"q": "arms", "since": "someday"}), 400, "someday")
