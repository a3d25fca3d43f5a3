"""The keyword leg's analysis and weighting: Snowball stems, English stop words, Lucene's idf and
repeated query words counted, saturated (the causes of its gap to plain BM25 on CISI and
Cranfield)."""

from __future__ import annotations

import math

import pytest
from whoosh import query as whoosh_query

from index.storage.keyword import KeywordWriter, WhooshKeywordStore, keyword_analyzer
from index.text.articles import Article
from search.query import parse_query


def article(article_id: str, body: str, title: str = "") -> Article:
    return Article(article_id, title or body[:20], body, None, None, None, f"{article_id}.txt", title_derived=not title)


@pytest.fixture
def store(tmp_path):
    articles = [
        article("titles", "Descriptive titles help readers; titles of papers matter."),
        article("retrieval", "Automatic retrieval systems retrieve papers for readers."),
        article("both", "Retrieval by titles in library catalogues."),
        article("other", "Papers on wheat harvests for readers."),
    ]
    writer = KeywordWriter(tmp_path / "kw", title_boost=2.0)
    for one in articles:
        writer.add(one)
    writer.commit()
    with_store = WhooshKeywordStore(tmp_path / "kw", bm25_k1=1.5, bm25_b=0.75)
    yield with_store
    with_store.close()


def parse_q(text: str):
    return parse_query(text).keyword


def search(store: WhooshKeywordStore, text: str, limit: int):
    return store.search(parse_q(text), limit)


def test_analyzer_uses_snowball_and_the_english_stop_list():
    tokens = [t.text for t in keyword_analyzer()("What problems are there which generously cooperating states have?")]
    assert tokens == ["problem", "generous", "cooper", "state"]  # Porter would give "gener"


def test_repeated_query_words_count(store):
    parsed = parse_q("titles retrieval titles titles")
    boosts = {(t.fieldname, t.text): t.boost for t in parsed.subqueries}
    # Saturated, not 3 (tests/test_query_weighting.py): more than once, less than the count.
    assert 1.0 < boosts[("body", "titl")] < 3.0 and boosts[("body", "retriev")] == 1.0
    # The same two words, so without counting both queries would rank alike.
    ranked = [doc for doc, _s in search(store, "titles retrieval titles titles", 10)]
    assert ranked.index("titles") < ranked.index("retrieval")
    ranked = [doc for doc, _s in search(store, "retrieval retrieval retrieval titles", 10)]
    assert ranked.index("retrieval") < ranked.index("titles")


def test_structured_queries_are_left_as_whoosh_reads_them(store):
    parsed = parse_q('"descriptive titles" titles')
    assert not any(getattr(t, "boost", 1.0) > 1.0 for t in parsed.leaves())


def test_a_word_in_every_article_adds_almost_nothing(store):
    # "readers" is in three of four articles: Lucene's idf gives it log(1 + 1.5/3.5), whoosh's
    # own would give log(4/4) + 1 = 1, as much as a rare word gets from the length part.
    scores = dict(search(store, "papers", 10))
    idf = math.log(1 + (4 - 3 + 0.5) / (3 + 0.5))
    assert 0 < max(scores.values()) < 1.5 * idf * 2.5
    assert search(store, "what is there", 10) == []  # only stop words: nothing to find
    assert parse_q("what is there") is whoosh_query.NullQuery
