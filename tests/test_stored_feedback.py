"""Feedback from the terms stored at index time: the same expansion terms and weights as whoosh's
Expander over the articles' text (the code it replaces), and indexes from before the stored
terms still get feedback by reading the text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from whoosh import classify
from whoosh import index as whoosh_index

from index.storage.keyword import FEEDBACK_FIELD, KeywordWriter, WhooshKeywordStore, keyword_schema
from index.text.articles import Article
from search.feedback import Feedback, feedback_run, feedback_text
from search.query import parse_query

WORDS = ("serbia belgrade pantsir air defence battery missile treaty wheat harvest kansas farmers "
         "navy frigate submarine exercise joint cooperation ministers agreed signed deal talks").split()


def _article(number: int, rng: random.Random) -> Article:
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60)))
    derived = number % 3 == 0
    title = body[:30] if derived else " ".join(rng.choice(WORDS) for _ in range(3)).title()
    if number % 7 == 0:  # a body that starts with its title, as Cranfield's do
        body = f"{title} {body}"
    return Article(id=f"a{number:03d}", title=title, body=body, date=None, source=None, url=None,
                   path="t.jsonl", title_derived=derived)


def _write(directory: Path, articles: list[Article]) -> None:
    for start in range(0, len(articles), 40):  # one commit each: several segments
        writer = KeywordWriter(directory, title_boost=2.0)
        for article in articles[start : start + 40]:
            writer.add(article)
        writer.commit()
    writer = KeywordWriter(directory, title_boost=2.0)
    writer.delete([articles[5].id, articles[50].id])
    writer.commit()


def _whoosh_expander(directory: Path, texts: list[str], count: int) -> list[tuple[str, float]]:
    """The expansion terms as Accord computed them before the terms were stored."""
    ix = whoosh_index.open_dir(str(directory))
    with ix.searcher() as searcher:
        expander = classify.Expander(searcher.reader(), "body", model=classify.Bo1Model)
        for text in texts:
            expander.add_text(text)
        return [(term, float(weight)) for term, weight in expander.expanded_terms(count)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Article]]:
    rng = random.Random(11)
    articles = [_article(n, rng) for n in range(120)]
    directory = tmp_path_factory.mktemp("kw")
    _write(directory, articles)
    return directory, {a.id: a for a in articles}


def test_stored_terms_give_the_expanders_terms_and_weights(corpus):
    directory, articles = corpus
    store = WhooshKeywordStore(directory)
    rng = random.Random(3)
    ids = [i for i in articles if i not in ("a005", "a050")]
    try:
        for round_ in range(40):
            if round_ == 20:  # from here the store finds documents through its id map
                store.matching(parse_query("navy").keyword)
            top = rng.sample(ids, rng.randint(1, 5))
            count = rng.choice([3, 10, 40])
            expected = _whoosh_expander(directory, [feedback_text(articles[i]) for i in top], count)
            assert store.feedback_terms(top, count) == expected
            assert store.expansion_terms([feedback_text(articles[i]) for i in top], count) == expected
    finally:
        store.close()


def test_a_deleted_or_unknown_article_has_no_stored_terms(corpus):
    directory, _articles = corpus
    store = WhooshKeywordStore(directory)
    try:
        assert store.feedback_terms(["a001", "a005"], 10) is None
        assert store.feedback_terms(["nope"], 10) is None
    finally:
        store.close()


class _Docs:
    """The article store's one method feedback reads, over a dict."""

    def __init__(self, articles: dict[str, Article]) -> None:
        self._articles = articles

    def articles(self, ids):
        return {i: self._articles[i] for i in ids if i in self._articles}


def test_an_index_without_stored_terms_reads_the_text_and_ranks_the_same(corpus, tmp_path):
    directory, articles = corpus
    old = tmp_path / "old"
    old.mkdir()
    schema = keyword_schema(2.0)
    schema.remove(FEEDBACK_FIELD)
    whoosh_index.create_in(str(old), schema)  # as an index written before the field existed
    _write(old, list(articles.values()))
    new_store, old_store = WhooshKeywordStore(directory), WhooshKeywordStore(old)
    try:
        assert old_store.feedback_terms(["a001"], 10) is None
        query = parse_query("pantsir missile treaty").keyword
        first_new, first_old = new_store.search(query, 20), old_store.search(query, 20)
        assert first_new == first_old and first_new
        docs = _Docs(articles)
        ran = [feedback_run(store, docs, query, first, 20, None, Feedback()) for store, first in
               ((new_store, first_new), (old_store, first_old))]
        assert ran[0] == ran[1]
        assert ran[0] != first_new  # feedback did widen the query
    finally:
        new_store.close()
        old_store.close()


def test_an_articles_stored_terms_are_read_once_by_all_threads(corpus, monkeypatch):
    import threading

    from index.storage import keyword

    directory, articles = corpus
    unpacked = keyword._unpacked
    read: list[bytes] = []
    monkeypatch.setattr(keyword, "_unpacked", lambda packed: read.append(packed) or unpacked(packed))
    rng = random.Random(4)
    ids = sorted(i for i in articles if i not in ("a005", "a050"))[:12]
    cases = [rng.sample(ids, rng.randint(1, 5)) for _ in range(30)]
    expected = [_whoosh_expander(directory, [feedback_text(articles[i]) for i in top], 10) for top in cases]
    store = WhooshKeywordStore(directory)
    found: list[bool] = []
    start = threading.Barrier(3)

    def work() -> None:
        start.wait()
        found.extend(store.feedback_terms(top, 10) == terms for top, terms in zip(cases, expected, strict=True))

    try:
        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert found == [True] * 90
        # Each article's terms read once (or once by each thread that met it first at once).
        assert len({*read}) == len({i for top in cases for i in top}) and len(read) <= 3 * len({*read})
        before = len(read)
        assert store.feedback_terms(cases[0], 10) == expected[0] and len(read) == before
    finally:
        store.close()


def test_a_held_lexicon_gives_the_expanders_weights_without_a_lookup_per_term(corpus, monkeypatch):
    directory, articles = corpus  # several segments, with deletions: frequencies summed over them
    store = WhooshKeywordStore(directory)
    looked_up: list[str] = []
    frequencies = store._frequencies
    monkeypatch.setattr(store, "_frequencies", lambda terms: looked_up.extend(terms) or frequencies(terms))
    rng = random.Random(5)
    ids = [i for i in articles if i not in ("a005", "a050")]
    try:
        store.hold()
        for _ in range(20):
            top = rng.sample(ids, rng.randint(1, 5))
            expected = _whoosh_expander(directory, [feedback_text(articles[i]) for i in top], 10)
            assert store.feedback_terms(top, 10) == expected
        assert looked_up == []
    finally:
        store.close()


def test_a_warm_store_holds_its_articles_feedback_terms_prepared(corpus, monkeypatch):
    from index.storage import keyword, keyword_feedback

    directory, articles = corpus
    unpacked = keyword._unpacked
    read: list[bytes] = []
    monkeypatch.setattr(keyword, "_unpacked", lambda packed: read.append(packed) or unpacked(packed))
    live = [i for i in articles if i not in ("a005", "a050")]
    for budget in (keyword_feedback.HELD_TERMS, 300):  # every article's terms; only the first few
        monkeypatch.setattr(keyword_feedback, "HELD_TERMS", budget)
        store = WhooshKeywordStore(directory)
        try:
            read.clear()
            store.hold()
            held, read_at_hold = len(store._expansion._held), len(read)
            read.clear()
            rng = random.Random(6)
            for _ in range(30):
                top = rng.sample(live, rng.randint(1, 5))
                expected = _whoosh_expander(directory, [feedback_text(articles[i]) for i in top], 10)
                assert store.feedback_terms(top, 10) == expected
            if budget == 300:
                assert 0 < held < len(live) and read, "the budget held them all: it no longer tests the rest"
            else:
                assert held == read_at_hold == len(live) and read == []  # each live article's read once, at warm-up
        finally:
            store.close()
