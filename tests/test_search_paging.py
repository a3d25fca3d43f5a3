"""Pages of a search through the Engine, the CLI and the HTTP API, on a small corpus built with
the fake encoder: page 2 continues page 1 without overlap, the pages together are one larger
search, `total` counts the collapsed candidate list; and the API's rules around it: unknown query
parameters refused, errors in the API's words, short operation ids, paths shown relative to their
source folder to other machines, and the export of a result set as CSV or JSON."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from index.errors import InvalidArgument, InvalidParameter
from index.filters import Filters
from index.pipeline.builder import build
from search.engine import Engine, RankingConfig
from search.web.api import shown_path
from search.web.app import create_app
from search.web.security import MAX_OFFSET
from tests.conftest import HashingEncoder

LOCAL = "http://127.0.0.1:8765"
QUERY = "defence cooperation navy"
WORDS = ["navy", "army", "air force", "missiles", "training", "exercise", "treaty", "helicopters"]
COUNTRIES = ["Iran", "Russia", "India", "France", "Egypt", "Brazil", "Japan"]


def article(i: int) -> str:
    """Article i: all share the query's words in different amounts, so every mode ranks them all."""
    words = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(1 + i % 4))
    return (
        f"Defence cooperation report {i}: {words}\n"
        f"{COUNTRIES[i % len(COUNTRIES)]} and its partner signed defence cooperation number {i}. "
        f"The agreement covers {words} and {'navy ' * (i % 3)}visits over {i + 2} years. "
        f"Officials said report {i} was the {i}th step of the cooperation, with talks on {words}.\n"
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("paging") / "corpus"
    (folder / "deep").mkdir(parents=True)
    for i in range(14):
        (folder / f"a{i:02d}.txt").write_text(article(i))
    (folder / "deep" / "copy03.txt").write_text(article(3))  # a near-duplicate, collapsed into a03
    (folder / "extra.jsonl").write_text(
        '{"id": "j1", "title": "=HYPERLINK(\\"http://evil\\") defence cooperation navy", '
        '"body": "A defence cooperation deal for the navy, signed in Cairo by Egypt."}\n')
    return folder


@pytest.fixture(scope="module")
def index_dir(corpus: Path) -> Path:
    index_dir = corpus.parent / "index"
    build([corpus], index_dir, encoder=HashingEncoder())
    return index_dir


class DenseEncoder(HashingEncoder):
    """The fake encoder's vectors turned by a fixed rotation: every number nonzero, as a real
    model's are, so sums of their products round as real ones do (the bag of words' are exact)."""

    ROTATION = np.linalg.qr(np.random.default_rng(7).standard_normal((HashingEncoder.dim, HashingEncoder.dim)))[0]

    def encode(self, texts):
        return (super().encode(texts) @ self.ROTATION).astype(np.float32)


@pytest.fixture(scope="module")
def dense_index_dir(corpus: Path) -> Path:
    index_dir = corpus.parent / "dense-index"
    build([corpus], index_dir, encoder=DenseEncoder())
    return index_dir


@pytest.fixture(scope="module")
def engine(index_dir: Path):
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        yield engine


@pytest.fixture(scope="module")
def client(index_dir: Path) -> TestClient:
    return TestClient(create_app(index_dir, encoder=HashingEncoder()), base_url=LOCAL)


def ids(result) -> list[str]:
    return [hit.id for hit in result]


# ---- the engine ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
@pytest.mark.parametrize("collapse", [True, False])
def test_pages_continue_one_ranking_and_together_are_one_larger_search(engine, mode, collapse):
    whole = engine.search(QUERY, k=12, mode=mode, collapse=collapse)
    pages = [engine.search(QUERY, k=4, mode=mode, collapse=collapse, offset=offset) for offset in (0, 4, 8)]
    assert [page.offset for page in pages] == [0, 4, 8]
    assert len(set(ids(pages[0])) & set(ids(pages[1]))) == 0
    assert sum((ids(page) for page in pages), []) == ids(whole)
    assert [hit.score for page in pages for hit in page] == [hit.score for hit in whole]
    assert all(page.total == whole.total for page in pages) and whole.complete
    # The total is every hit the ranker lists: asking for all of them gives exactly that many.
    everything = engine.search(QUERY, k=100, mode=mode, collapse=collapse)
    assert len(everything) == everything.total == whole.total
    past = engine.search(QUERY, k=4, mode=mode, collapse=collapse, offset=whole.total)
    assert ids(past) == [] and past.total == whole.total


def test_collapse_counts_a_story_once(engine):
    collapsed = engine.search(QUERY, k=100, mode="keyword")
    apart = engine.search(QUERY, k=100, mode="keyword", collapse=False)
    assert apart.total == collapsed.total + 1
    assert "deep/copy03" not in ids(collapsed) and "deep/copy03" in ids(apart)


def test_date_sort_orders_each_page_and_the_pages_follow_relevance(engine):
    by_relevance = [set(ids(engine.search(QUERY, k=5, offset=offset))) for offset in (0, 5)]
    by_date = [set(ids(engine.search(QUERY, k=5, offset=offset, sort="date"))) for offset in (0, 5)]
    assert by_date == by_relevance


def test_a_list_cut_short_says_so_and_deeper_pages_continue_it(index_dir):
    # Each leg fetches 3 candidates per 3-hit page: the keyword list is cut, so total is a lower bound.
    small = RankingConfig(fetch_factor=1, min_fetch=3)
    with Engine.open(index_dir, encoder=HashingEncoder(), ranking=small) as engine:
        first = engine.search(QUERY, k=3, mode="keyword")
        assert not first.complete and first.total == 3
        second = engine.search(QUERY, k=3, mode="keyword", offset=3)
        assert second.total >= 6 and len(second) == 3
        whole = engine.search(QUERY, k=6, mode="keyword")
        assert ids(first) + ids(second) == ids(whole)


@pytest.mark.parametrize("encoder", [HashingEncoder, DenseEncoder])
def test_a_hit_scores_the_same_whatever_the_depth_its_legs_were_fetched_to(index_dir, dense_index_dir, encoder):
    # Each leg fetches 5 candidates for a 5-hit page, and 100 (every article) in the deep search.
    # A candidate only one leg fetched is scored by the other too, and each leg is divided by its
    # best score, which both depths share: so every hit of the page scores what it scores in the
    # deep search. (Before, a candidate got 0 from the leg that had not fetched it, and min-max
    # scaling moved every score with the depth.)
    shallow = RankingConfig(fetch_factor=1, min_fetch=5)
    folder = dense_index_dir if encoder is DenseEncoder else index_dir
    with Engine.open(folder, encoder=encoder(), ranking=shallow) as engine, \
         Engine.open(folder, encoder=encoder(), ranking=RankingConfig(min_fetch=100)) as deep_engine:
        completed = 0
        for query in (QUERY, "army helicopters", "treaty with Egypt"):
            page = engine.search(query, k=5, collapse=False)
            deep_hits = {hit.id: hit for hit in deep_engine.search(query, k=15, collapse=False)}
            deep = {hit_id: hit.score for hit_id, hit in deep_hits.items()}
            if query == QUERY:
                assert any(hit.keyword is None or hit.semantic is None for hit in page), \
                    "every hit was fetched by both legs: the corpus no longer tests the completion"
            # The very floats: a completed candidate's cosine is computed by the kernel of the
            # semantic leg's exact search (index.storage.vectors.inner_products), not by numpy.
            assert {hit.id: hit.score for hit in page} == {hit.id: deep[hit.id] for hit in page}
            for hit in page:
                if hit.semantic is None and deep_hits[hit.id].semantic is not None:
                    assert hit.relevance.cosine == deep_hits[hit.id].semantic.score
                    completed += 1
            similar = engine.similar("a01", k=5, collapse=False)
            deep_similar = {hit.id: hit.score for hit in deep_engine.similar("a01", k=14, collapse=False)}
            assert {h.id: h.score for h in similar} == {h.id: deep_similar[h.id] for h in similar}
        assert completed


def test_bad_offsets_are_refused(engine):
    with pytest.raises(InvalidArgument, match="offset"):
        engine.search(QUERY, offset=-1)
    with pytest.raises(InvalidArgument, match="offset"):
        engine.similar("a01", offset=-1)


def test_similar_pages_like_search(engine):
    whole = engine.similar("a01", k=6)
    pages = [engine.similar("a01", k=3, offset=offset) for offset in (0, 3)]
    assert ids(pages[0]) + ids(pages[1]) == ids(whole) and pages[1].total == whole.total


# ---- the CLI -------------------------------------------------------------------------------------


def run(*args: str):
    from cli import app

    result = CliRunner().invoke(app, list(args))
    print(result.output)
    return result


def test_cli_pages_with_k_as_the_page_size(index_dir, engine):
    total = engine.search(QUERY, k=1).total
    second = run("search", QUERY, "--index", str(index_dir), "--k", "3", "--page", "2")
    assert second.exit_code == 0
    lines = second.output.splitlines()
    ranks = [line.split(".")[0].strip() for line in lines if line[:3].strip().rstrip(".").isdigit()]
    assert ranks == ["4", "5", "6"]
    assert lines[-1] == f"hits 4-6 of {total}"
    expected = [hit.title for hit in engine.search(QUERY, k=3, offset=3)]
    assert [line[4:] for line in lines if line[:3].strip().rstrip(".").isdigit()] == expected
    assert run("search", QUERY, "--index", str(index_dir), "--page", "0").exit_code == 2


def test_cli_words_filter_errors_as_its_flags(index_dir):
    result = run("search", "navy", "--index", str(index_dir), "--country", "Narnia")
    assert result.exit_code == 1
    assert "accord: error: --country 'Narnia' is not a country Accord knows" in result.output
    result = run("search", "navy", "--index", str(index_dir), "--since", "2020", "--until", "2019")
    assert "accord: error: --since 2020 is after --until 2019" in result.output


# ---- the API -------------------------------------------------------------------------------------


def test_api_pages_follow_their_links_to_the_end(client):
    seen: list[str] = []
    url = f"/api/search?q={QUERY.replace(' ', '+')}&k=4&mode=keyword"
    bodies = []
    while url is not None:
        body = client.get(url).json()
        bodies.append(body)
        seen += [hit["id"] for hit in body["hits"]]
        url = body["next"]
    whole = client.get("/api/search", params={"q": QUERY, "k": 100, "mode": "keyword"}).json()
    assert seen == [hit["id"] for hit in whole["hits"]] and len(seen) == len(set(seen)) == whole["total"]
    first, second, last = bodies[0], bodies[1], bodies[-1]
    assert (first["offset"], first["k"], first["previous_offset"], first["previous"], first["next_offset"]) == (0, 4, None, None, 4)
    assert second["previous_offset"] == 0 and "offset=0" in second["previous"] and "mode=keyword" in second["previous"]
    assert last["next_offset"] is None and last["complete"] is True


@pytest.mark.parametrize(("params", "words"), [
    ({"q": "navy", "offset": -1}, ["offset"]),
    ({"q": "navy", "offset": MAX_OFFSET + 1}, ["offset", str(MAX_OFFSET)]),
])
def test_api_offsets_out_of_limits_are_422(client, params, words):
    response = client.get("/api/search", params=params)
    assert response.status_code == 422 and all(word in response.json()["error"] for word in words)


@pytest.mark.parametrize("url", [
    "/api/search?q=x&offest=10", "/api/similar/a01?offest=10", "/api/articles/a01?offest=1",
    "/api/stats?offest=1", "/api/timeline?q=x&offest=1", "/api/pairs?q=x&offest=1",
    "/api/watchlist?offest=1", "/api/alerts?offest=1", "/api/search/export?q=x&offest=1",
])
def test_api_refuses_query_parameters_a_route_does_not_take(client, url):
    response = client.get(url)
    assert response.status_code == 422 and list(response.json()) == ["error"]
    message = response.json()["error"]
    assert message.startswith("offest: unknown query parameter") and "\n" not in message
    if "search?" in url:
        assert "did you mean offset?" in message


def test_api_unknown_parameter_on_a_write_and_the_page_takes_any(client):
    assert client.post("/api/watchlist?dry=1", json={"name": "n", "query": "navy"}).status_code == 422
    assert client.get("/?q=navy&page=2&k=3&anything=1").status_code == 200


@pytest.mark.parametrize(("url", "expected"), [
    ("/api/search?q=navy&country=Narnia", "country 'Narnia' is not a country Accord knows; try its English name"),
    ("/api/search?q=navy&since=2020&until=2019", "since 2020 is after until 2019"),
    ("/api/search?q=navy&since=someday", "since 'someday' is not a date"),
    ("/api/timeline?q=navy&until=someday", "until 'someday' is not a date"),
    ("/api/alerts?since=soon", "since 'soon': use 'last', a year"),
])
def test_api_errors_name_query_parameters_not_cli_flags(client, url, expected):
    response = client.get(url)
    assert response.status_code == 400
    assert response.json()["error"].startswith(expected) and "--" not in response.json()["error"]


def test_invalid_parameter_is_worded_per_surface():
    with pytest.raises(InvalidParameter) as caught:
        Filters.parse(["Narnia {x}"])
    assert str(caught.value).startswith("country 'Narnia {x}' is not")
    assert caught.value.worded(lambda name: "--" + name).startswith("--country 'Narnia {x}' is not")


def test_operation_ids_are_short_names_for_generated_clients(client):
    schema = client.get("/openapi.json").json()
    found = {(path, method): op["operationId"] for path, ops in schema["paths"].items() for method, op in ops.items()}
    assert found == {
        ("/api/search", "get"): "search", ("/api/search/export", "get"): "export",
        ("/api/similar/{article_id}", "get"): "similar", ("/api/articles/{article_id}", "get"): "article",
        ("/api/months", "get"): "months", ("/api/stats", "get"): "stats", ("/api/newest", "get"): "newest",
        ("/api/timeline", "get"): "timeline", ("/api/pairs", "get"): "pairs",
        ("/api/watchlist", "get"): "watchlist", ("/api/watchlist", "post"): "save_search",
        ("/api/watchlist/{name}", "delete"): "remove_search", ("/api/alerts", "get"): "alerts",
        ("/api/alerts/{name}/seen", "post"): "mark_seen",
        ("/healthz", "get"): "health", ("/metrics", "get"): "metrics",
    }
    page = schema["components"]["schemas"]["SearchResultModel"]["properties"]
    assert {"offset", "k", "total", "complete", "next_offset", "previous_offset", "next", "previous"} <= set(page)
    assert "loopback" in schema["components"]["schemas"]["HitModel"]["properties"]["path"]["description"]


def test_paths_are_relative_to_their_source_unless_the_request_is_local(index_dir, corpus, client):
    remote = {hit["id"]: hit["path"] for hit in client.get("/api/search", params={"q": QUERY, "k": 100, "collapse": "false"}).json()["hits"]}
    assert remote["a01"] == "a01.txt" and remote["deep/copy03"] == "deep/copy03.txt" and remote["j1"] == "extra.jsonl:1"
    assert client.get("/api/articles/deep/copy03").json()["path"] == "deep/copy03.txt"
    assert all(str(corpus.parent) not in path for path in remote.values())
    local = TestClient(create_app(index_dir, encoder=HashingEncoder()), base_url=LOCAL, client=("127.0.0.1", 40000))
    hit = local.get("/api/search", params={"q": QUERY, "k": 1, "mode": "keyword"}).json()["hits"][0]
    assert hit["path"] == str(corpus / f"{hit['id']}.txt")


def test_shown_path_rule():
    sources = ["/data/news", "/data/news/wire", "/data/one.jsonl"]
    assert shown_path("/data/news/wire/x.txt", sources, local=False) == "x.txt"  # the nearest source
    assert shown_path("/data/news/a/b.txt", sources, local=False) == "a/b.txt"
    assert shown_path("/data/one.jsonl:7", sources, local=False) == "one.jsonl:7"
    assert shown_path("/elsewhere/c.txt", sources, local=False) == "c.txt"
    assert shown_path("/data/newsletter/d.txt", sources, local=False) == "d.txt"  # not under /data/news
    assert shown_path("/data/news/a/b.txt", sources, local=True) == "/data/news/a/b.txt"


def test_export_is_the_result_set_as_a_safe_csv_download(client):
    response = client.get("/api/search/export", params={"q": QUERY, "mode": "keyword"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="accord-defence-cooperation-navy.csv"'
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["rank", "id", "title", "date", "source", "countries", "score", "duplicates", "snippet", "url", "path"]
    whole = client.get("/api/search", params={"q": QUERY, "mode": "keyword", "k": 100}).json()
    assert [row[1] for row in rows[1:]] == [hit["id"] for hit in whole["hits"]]
    assert [row[0] for row in rows[1:]] == [str(n) for n in range(1, len(rows))]
    title = next(row[2] for row in rows[1:] if row[1] == "j1")
    assert title.startswith("'=HYPERLINK")  # a spreadsheet reads it as text, not as a formula
    page = client.get("/api/search/export", params={"q": QUERY, "mode": "keyword", "k": 2, "offset": 2, "format": "json"})
    assert page.headers["content-disposition"].endswith('.json"')
    assert [hit["id"] for hit in page.json()["hits"]] == [hit["id"] for hit in whole["hits"][2:4]]
