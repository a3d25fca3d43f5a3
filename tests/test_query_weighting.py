"""Repeated query words weigh less than their count: BM25's k3 saturation by default, with
linear, once and 1 + log(c) selectable for tuning runs on one index."""

from __future__ import annotations

import math
import threading

import pytest

from index.errors import InvalidArgument
from index.storage.keyword import (
    BM25_K3,
    DEFAULT_QUERY_TERM_WEIGHTING,
    KeywordWriter,
    WhooshKeywordStore,
    query_term_weight,
    query_term_weighting,
)
from index.text.articles import Article
from search.query import parse_query


def article(article_id: str, body: str) -> Article:
    return Article(article_id, body[:20], body, None, None, None, f"{article_id}.txt", title_derived=True)


@pytest.fixture
def store(tmp_path):
    """One article about the rare word, four that say the ordinary one once, two about neither."""
    articles = [
        article("hovercraft", "Hovercraft trials on the river near the harbour."),
        article("wings", "Aircraft design notes on wings near the harbour."),
        *[article(f"report{n}", f"Aircraft report number {n} on budgets and fleets.") for n in range(4)],
        *[article(f"budget{n}", f"Budget report number {n} on harbours.") for n in range(2)],
    ]
    writer = KeywordWriter(tmp_path / "kw", title_boost=2.0)
    for one in articles:
        writer.add(one)
    writer.commit()
    opened = WhooshKeywordStore(tmp_path / "kw", bm25_k1=2.0, bm25_b=0.75)
    yield opened
    opened.close()


def boosts(text: str) -> dict[str, float]:
    return {t.text: t.boost for t in parse_query(text).keyword.subqueries}


def test_weights_of_each_weighting():
    assert [query_term_weight(c, "linear") for c in (1, 2, 4)] == [1.0, 2.0, 4.0]
    assert [query_term_weight(c, "once") for c in (1, 2, 4)] == [1.0, 1.0, 1.0]
    assert query_term_weight(4, "log") == pytest.approx(1 + math.log(4))
    assert query_term_weight(4, "k3") == pytest.approx((BM25_K3 + 1) * 4 / (BM25_K3 + 4))
    assert query_term_weight(4, "k3=7") == pytest.approx(8 * 4 / 11)
    assert all(query_term_weight(1, w) == 1.0 for w in ("linear", "once", "log", "k3", "k3=0.5"))
    assert query_term_weight(10**6, "k3=7") < 8.0  # bounded by k3 + 1


@pytest.mark.parametrize("bad", ["square", "k3=0", "k3=-1", "k3=x", "k3=inf", "linear=2", ""])
def test_unknown_weightings_are_clear_errors(bad):
    with pytest.raises(InvalidArgument, match="query term weighting"):
        query_term_weight(2, bad)
    with pytest.raises(InvalidArgument, match="use one of k3, log, linear, once"), query_term_weighting(bad):
        pass


def test_the_default_saturates():
    assert (DEFAULT_QUERY_TERM_WEIGHTING, BM25_K3) == ("k3", 1.2)
    got = boosts("titles retrieval titles titles")
    assert got == {"titl": pytest.approx(2.2 * 3 / 4.2), "retriev": 1.0}


def test_a_context_changes_the_weighting_for_its_own_thread_only():
    text = "arms arms arms navy"
    with query_term_weighting("linear"):
        assert boosts(text) == {"arm": 3.0, "navi": 1.0}
        seen: list[dict[str, float]] = []
        other = threading.Thread(target=lambda: seen.append(boosts(text)))
        other.start()
        other.join()
        with query_term_weighting("once"):
            assert boosts(text) == {"arm": 1.0, "navi": 1.0}
        assert boosts(text) == {"arm": 3.0, "navi": 1.0}
    assert seen == [boosts(text)] and boosts(text)["arm"] == pytest.approx(query_term_weight(3, "k3"))


def test_an_ordinary_word_said_four_times_no_longer_outweighs_the_rare_one(store):
    # The held-out failure of counting: the request is about hovercraft, and says "aircraft"
    # four times in passing.
    text = "aircraft aircraft hovercraft aircraft aircraft"
    assert store.search(parse_query(text).keyword, 1)[0][0] == "hovercraft"
    with query_term_weighting("log"):
        assert store.search(parse_query(text).keyword, 1)[0][0] == "hovercraft"
    with query_term_weighting("linear"):
        assert store.search(parse_query(text).keyword, 1)[0][0] != "hovercraft"


def test_a_repeat_still_counts_for_more_than_once(store):
    # "aircraft" twice: articles with it rise against "hovercraft" compared with saying it once.
    once = dict(store.search(parse_query("aircraft hovercraft").keyword, 10))
    twice = dict(store.search(parse_query("aircraft hovercraft aircraft").keyword, 10))
    assert twice["wings"] / twice["hovercraft"] > once["wings"] / once["hovercraft"]
    assert twice["hovercraft"] == pytest.approx(once["hovercraft"])
