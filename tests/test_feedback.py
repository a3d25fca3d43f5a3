"""Pseudo-relevance feedback on the keyword leg: the pure core (which queries are expanded, RM3's
mix) and the engine's keyword leg with feedback on, on a real index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from whoosh import query as whoosh_query

from index.errors import InvalidArgument
from index.filters import Filters
from index.pipeline.builder import build
from index.storage.keyword import DEFAULT_QUERY_TERM_WEIGHTING, query_term_weight
from search.engine import Engine, RankingConfig
from search.feedback import Feedback, VectorFeedback, as_query, interpolate, plain_terms, rocchio
from search.query import parse_query
from tests.conftest import HashingEncoder


def test_plain_terms_of_an_or_of_words_counts_repeats():
    twice = query_term_weight(2, DEFAULT_QUERY_TERM_WEIGHTING)  # BM25's k3 saturation: more than once, less than twice
    assert plain_terms(parse_query("titles of libraries titles").keyword) == {"titl": twice, "librari": 1.0}
    assert 1.0 < twice < 2.0
    assert plain_terms(parse_query("libya").keyword) == {"libya": 1.0}


@pytest.mark.parametrize(
    "query",
    ['arms "north korea"', "tanks NOT oil", "tanks AND oil", "title:libya deal", "missil*"],
)
def test_only_a_plain_or_of_body_words_is_expanded(query):
    assert plain_terms(parse_query(query).keyword) is None


def test_a_query_the_engine_widened_is_not_expanded():
    widened = whoosh_query.Or([parse_query("arms sales").keyword, whoosh_query.Term("body", "libya", boost=0.5)])
    assert plain_terms(widened) is None


def test_interpolate_mixes_normalised_distributions():
    mixed = interpolate({"a": 2.0, "b": 2.0}, [("b", 1.0), ("c", 3.0)], weight=0.4)
    assert mixed == pytest.approx({"a": 0.3, "b": 0.3 + 0.1, "c": 0.3})
    assert sum(mixed.values()) == pytest.approx(1.0)


def test_interpolate_without_expansion_keeps_the_query():
    assert interpolate({"a": 1.0, "b": 3.0}, [], weight=0.3) == pytest.approx({"a": 0.25, "b": 0.75})
    assert interpolate({"a": 1.0}, [("z", 0.0)], weight=0.3) == pytest.approx({"a": 1.0})
    assert interpolate({"a": 1.0}, [("z", 1.0)], weight=0.0) == pytest.approx({"a": 1.0, "z": 0.0})
    assert interpolate({}, [("z", 1.0)], weight=0.3) == {}


def test_as_query_is_a_stable_or_of_boosted_body_terms():
    assert as_query({"b": 0.5, "a": 0.25}) == whoosh_query.Or(
        [whoosh_query.Term("body", "a", boost=0.25), whoosh_query.Term("body", "b", boost=0.5)]
    )


@pytest.mark.parametrize("bad", [dict(docs=0), dict(terms=0), dict(weight=1.0), dict(weight=-0.1)])
def test_bad_feedback_settings_are_rejected(bad):
    with pytest.raises(InvalidArgument, match="feedback needs"):
        Feedback(**bad)


ARTICLES = [
    {"id": "pantsir", "source": "Alpha", "title": "Pantsir deal",
     "body": "Serbia bought the Pantsir air defence system. Pantsir batteries will guard Belgrade."},
    {"id": "belgrade", "source": "Beta", "title": "Belgrade air defence",
     "body": "Serbia's air defence batteries around Belgrade are to be renewed."},
    {"id": "wheat", "source": "Alpha", "title": "Wheat harvest",
     "body": "Farmers in Kansas brought in a record wheat harvest."},
]


@pytest.fixture
def feedback_index(tmp_path: Path) -> Path:
    source = tmp_path / "articles.jsonl"
    source.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES))
    build([source], tmp_path / "index", encoder=HashingEncoder())
    return tmp_path / "index"


def keyword_ids(index_dir: Path, query: str, feedback: Feedback | None, filters: Filters | None = None) -> list[str]:
    """The articles of the hybrid's keyword leg (where feedback applies), by keyword rank."""
    with Engine.open(index_dir, encoder=HashingEncoder(), ranking=RankingConfig(feedback=feedback)) as engine:
        found = [c for c in engine.candidates(query, "hybrid", filters=filters) if c.keyword is not None]
    return [c.id for c in sorted(found, key=lambda c: c.keyword.rank if c.keyword else 0)]


FEEDBACK = Feedback(docs=1, terms=8, weight=0.5)


def test_feedback_finds_an_article_that_shares_the_best_hits_words(feedback_index):
    assert keyword_ids(feedback_index, "pantsir", None) == ["pantsir"]
    # "belgrade" never says Pantsir but shares Serbia, air defence, batteries and Belgrade.
    assert keyword_ids(feedback_index, "pantsir", FEEDBACK) == ["pantsir", "belgrade"]


def test_feedback_is_on_by_default_in_the_hybrid_only(feedback_index):
    assert RankingConfig().feedback == Feedback(docs=5, terms=10, weight=0.2)
    with Engine.open(feedback_index, encoder=HashingEncoder()) as engine:
        hybrid = {hit.id: hit for hit in engine.search("pantsir")}
        assert hybrid["belgrade"].keyword is not None  # found by the keyword leg through feedback
        # Keyword mode returns exactly the articles with the query's words.
        assert [hit.id for hit in engine.search("pantsir", mode="keyword")] == ["pantsir"]


def test_feedback_keeps_the_filters(feedback_index):
    alpha = Filters.parse(sources=["Alpha"])
    assert keyword_ids(feedback_index, "pantsir", FEEDBACK, alpha) == ["pantsir"]


@pytest.mark.parametrize("query", ['"air defence" pantsir', "pantsir NOT wheat", "title:pantsir"])
def test_feedback_leaves_structured_queries_alone(feedback_index, query):
    off = RankingConfig(feedback=None)
    assert keyword_ids(feedback_index, query, FEEDBACK) == keyword_ids(feedback_index, query, None)
    with Engine.open(feedback_index, encoder=HashingEncoder(), ranking=off) as plain, Engine.open(
        feedback_index, encoder=HashingEncoder(), ranking=RankingConfig(feedback=FEEDBACK)
    ) as expanded:
        scores = [[(c.id, c.keyword) for c in e.candidates(query, "hybrid")] for e in (plain, expanded)]
        assert scores[0] == scores[1]


def test_feedback_with_nothing_found_finds_nothing(feedback_index):
    assert keyword_ids(feedback_index, "submarine", FEEDBACK) == []


def test_rocchio_moves_the_query_towards_the_feedback_mean():
    import numpy as np

    moved = rocchio(np.array([1.0, 0.0]), np.array([[0.0, 1.0], [0.0, 0.6]]), weight=0.5)
    assert moved == pytest.approx(np.array([0.5, 0.4]) / np.linalg.norm([0.5, 0.4]))
    assert rocchio(np.array([1.0, 0.0]), np.zeros((0, 2)), weight=0.5) == pytest.approx([1.0, 0.0])


@pytest.mark.parametrize("bad", [dict(docs=0), dict(weight=1.0), dict(weight=-0.5)])
def test_bad_vector_feedback_settings_are_rejected(bad):
    with pytest.raises(InvalidArgument, match="vector feedback needs"):
        VectorFeedback(**bad)


def test_vector_feedback_lifts_what_the_best_hit_resembles(feedback_index):
    def scores(vector_feedback):
        ranking = RankingConfig(vector_feedback=vector_feedback)
        with Engine.open(feedback_index, encoder=HashingEncoder(), ranking=ranking) as engine:
            run, _best = engine.semantic_run("pantsir", 10)
        return dict(run)

    plain = scores(None)
    moved = scores(VectorFeedback(docs=1, weight=0.5))
    # The hashing encoder's "pantsir" shares no word with the Belgrade article; the Pantsir
    # article's passage does, so feedback moves the query towards it.
    assert plain["belgrade"] == pytest.approx(0.0, abs=1e-6)
    assert moved["belgrade"] > 0.1
    assert max(moved, key=moved.get) == "pantsir"
    assert moved["belgrade"] > moved["wheat"] + 0.1  # wheat shares only function words with it
