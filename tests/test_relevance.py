"""The relevance signal that means the same across queries (search/relevance.py): each hit's
best-passage cosine and query-word coverage, and the result's weak-match label, in the engine,
the CLI and the API. Over the seeds with the fake encoder: an unrelated query ("chocolate cake
baking") must be labelled weak, an on-topic one not."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli import app
from index.pipeline.builder import build
from search import relevance
from search.engine import Engine, RankingConfig
from search.feedback import VectorFeedback
from search.web.app import create_app
from tests.conftest import FAKE_MODEL, SEEDS, HashingEncoder

UNRELATED = "chocolate cake baking"
ON_TOPIC = "military-technical cooperation Libya"
LIBYA = "004_8790f98fbe18f818"
runner = CliRunner()


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("relevance") / "index"
    build([SEEDS], index_dir, encoder=HashingEncoder())
    return index_dir


@pytest.fixture
def engine(seeds_index: Path):
    with Engine.open(seeds_index, encoder=HashingEncoder()) as opened:
        yield opened


def test_rare_words_weigh_more_in_coverage():
    words = relevance.word_matches([("trident", "trident"), ("nuclear", "nuclear")],
                                   [(1, {"a"}), (4, {"a", "b", "c", "d"})], total=10)
    rare, common = relevance.idf(1, 10), relevance.idf(4, 10)
    assert rare > common
    only_common = words.relevance("b", 0.3)
    assert only_common.words == ("nuclear",) and only_common.missing == ("trident",)
    assert math.isclose(only_common.coverage, common / (rare + common))
    assert words.relevance("a", None).coverage == 1.0 and words.relevance("z", None).coverage == 0.0
    assert relevance.WordMatches(()).relevance("a", 0.5).coverage is None


def test_query_words_are_the_searched_words_as_typed():
    assert relevance.query_words("The Military-Technical talks", frozenset({"militari", "technic", "talk"})) == [
        ("military", "militari"), ("technical", "technic"), ("talks", "talk")]


def test_strength_is_weak_when_neither_meaning_nor_words_match():
    cut, share = relevance.weak_cosine(FAKE_MODEL), relevance.WEAK_COVERAGE
    assert cut == relevance.WEAK_COSINE
    assert relevance.strength(3, cut - 0.01, share - 0.01, FAKE_MODEL).label == "weak"
    assert relevance.strength(3, cut - 0.01, None, FAKE_MODEL).label == "weak"
    assert relevance.strength(3, cut, 0.0, FAKE_MODEL).label == "good"  # close in meaning
    assert relevance.strength(3, 0.0, share, FAKE_MODEL).label == "good"  # has the query's heavy words
    assert relevance.strength(0, 0.0, None, FAKE_MODEL).label == "none"
    keyword_share = relevance.KEYWORD_WEAK_COVERAGE  # keyword mode: coverage alone
    assert relevance.strength(3, None, keyword_share - 0.01, FAKE_MODEL).label == "weak"
    assert relevance.strength(3, None, keyword_share, FAKE_MODEL).label == "good"
    assert relevance.strength(3, None, 1.0, FAKE_MODEL).label == "good"


def test_an_unrelated_query_is_labelled_weak_and_an_on_topic_one_is_not(engine):
    weak = engine.search(UNRELATED)
    assert weak.hits, "a ranked list always has hits"
    assert weak.strength is not None and weak.strength.label == "weak"
    assert weak.strength.cosine < relevance.WEAK_COSINE and weak.strength.coverage == 0.0
    assert weak.strength.note.startswith("weak match") and weak.strength.note in weak.notes

    good = engine.search(ON_TOPIC)
    assert good.strength is not None and good.strength.label == "good"
    assert good.strength.cosine >= relevance.WEAK_COSINE and good.strength.coverage == 1.0
    assert not any(note.startswith("weak match") for note in good.notes)


def test_each_hit_has_its_cosine_and_words(engine):
    result = engine.search(ON_TOPIC, k=5)
    libya = next(hit for hit in result if hit.id == LIBYA)
    assert libya.relevance.words == ("military", "technical", "cooperation", "libya")
    assert libya.relevance.missing == () and libya.relevance.coverage == 1.0
    for hit in result:
        found = hit.relevance
        assert found is not None and found.cosine is not None
        if hit.semantic is not None:
            assert found.cosine == pytest.approx(hit.semantic.score)
    # The best-passage cosine is the same whatever else the query ranks: the same article, the
    # same query, another page.
    second = engine.search(ON_TOPIC, k=1, offset=next(i for i, h in enumerate(result) if h.id == LIBYA))
    assert second[0].relevance.cosine == pytest.approx(libya.relevance.cosine)
    assert second.strength == result.strength


def test_a_hit_the_semantic_leg_did_not_score_gets_its_cosine_from_its_passages(engine, seeds_index):
    every, _best = engine.semantic_run(ON_TOPIC, limit=100)
    cosine_of = dict(every)
    # With vector feedback the semantic leg scores against a moved vector, so every hit's cosine
    # to the query itself is computed from its passage vectors; and with legs cut at 1
    # candidate, some hits come from the keyword leg alone.
    ranking = RankingConfig(fetch_factor=1, min_fetch=1, vector_feedback=VectorFeedback(docs=1, weight=0.5))
    with Engine.open(seeds_index, encoder=HashingEncoder(), ranking=ranking) as moved:
        result = moved.search(ON_TOPIC, k=2, collapse=False)
    assert len(result) == 2
    for hit in result:
        assert hit.relevance.cosine == pytest.approx(cosine_of[hit.id], abs=1e-5)


def test_keyword_mode_has_coverage_and_no_cosine(engine):
    keyword = engine.search(ON_TOPIC, mode="keyword")  # keyword mode never loads the model
    assert all(hit.relevance.cosine is None for hit in keyword)
    assert keyword.strength.cosine is None and keyword[0].id == LIBYA and keyword.strength.label == "good"


def test_keyword_mode_labels_a_query_whose_heavy_words_are_missing_weak(engine):
    # "nuclear" is in one seed; "Trident" and "deterrent" in none: the best hit carries little of
    # the query's weight.
    result = engine.search("Trident nuclear deterrent", mode="keyword")
    assert result.hits and result.strength.label == "weak"
    assert result[0].relevance.missing == ("trident", "deterrent")


def test_cli_says_weak_match_and_explains_the_cosine(seeds_index):
    table = runner.invoke(app, ["search", UNRELATED, "--index", str(seeds_index), "--explain"])
    assert table.exit_code == 0, table.output
    assert "note: weak match — " in table.output
    assert "cosine 0." in table.output and "of the query's weight" in table.output

    good = runner.invoke(app, ["search", ON_TOPIC, "--index", str(seeds_index)])
    assert good.exit_code == 0 and "weak match" not in good.output

    as_json = runner.invoke(app, ["search", UNRELATED, "--index", str(seeds_index), "--json"])
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert lines[-1]["notes"][0].startswith("weak match")
    hit = lines[0]
    assert set(hit["relevance"]) == {"cosine", "words", "missing", "coverage"} and hit["relevance"]["cosine"] < 0.4


def test_api_has_the_label_and_documents_it(seeds_index):
    client = TestClient(create_app(seeds_index, encoder=HashingEncoder()), base_url="http://127.0.0.1:8765")
    weak = client.get("/api/search", params={"q": UNRELATED}).json()
    assert weak["strength"]["label"] == "weak" and weak["strength"]["note"] in weak["notes"]
    assert weak["hits"][0]["relevance"]["cosine"] < weak["strength"]["min_cosine"]
    good = client.get("/api/search", params={"q": ON_TOPIC}).json()
    assert good["strength"]["label"] == "good"
    assert all(hit["relevance"]["cosine"] is not None for hit in good["hits"])

    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"label", "cosine", "coverage", "min_cosine", "min_coverage", "note"} <= set(schema["StrengthModel"]["properties"])
    assert all(field.get("description") for field in schema["RelevanceModel"]["properties"].values())
    assert "strength" in schema["SearchResultModel"]["properties"] and "relevance" in schema["HitModel"]["properties"]
