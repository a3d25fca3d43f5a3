"""The array BM25F scorer must give exactly whoosh's results: same ids, order and scores.

The index is small, so the scorer's size threshold is lowered for these tests; it has three
segments and deleted documents, the cases where whoosh's bookkeeping is easiest to get wrong.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from index.filters import Filters
from index.storage import keyword_arrays
from index.storage.keyword import KeywordWriter, WhooshKeywordStore
from index.text.articles import Article
from search.engine import RankingConfig
from search.query import parse_query

# The production BM25F parameters: the scorer must agree with whoosh where it is used.
K1, B = RankingConfig().bm25_k1, RankingConfig().bm25_b


def q(text: str):
    return parse_query(text).keyword

WORDS = ("arms deal treaty navy missile army libya russia egypt cooperation exercise tank "
         "frigate drone sanctions export border talks summit pact defence").split()
COUNTRIES = ("Russia", "Egypt", "Libya", "India")


def _article(number: int, rng: random.Random) -> Article:
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40)))
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 5)))
    return Article(
        id=f"a{number:04d}", title=title or body[:20], body=body, date=f"20{10 + number % 12}-01-01",
        source=rng.choice(("Xinhua", "Sputnik", None)), url=None, path=f"f{number}.txt",
        countries=tuple(sorted(rng.sample(COUNTRIES, rng.randint(0, 2)))),
    )


def write_three_segments(directory: Path) -> Path:
    """A keyword index of 360 random articles in three segments, with 22 of them deleted."""
    rng = random.Random(7)
    # One commit each, each batch under a quarter of the last, so the size-tiered policy
    # (keyword.merge_policy) keeps three segments.
    for start, end in ((0, 290), (290, 350), (350, 360)):
        writer = KeywordWriter(directory, title_boost=2.0)
        for number in range(start, end):
            writer.add(_article(number, rng))
        writer.commit()
    writer = KeywordWriter(directory, title_boost=2.0)
    writer.delete(f"a{n:04d}" for n in range(0, 360, 17))  # 22 of 360: under the merge threshold
    writer.commit()
    return directory


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_three_segments(tmp_path_factory.mktemp("keyword"))


@pytest.fixture
def stores(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[WhooshKeywordStore, WhooshKeywordStore]:
    """(array scorer on, whoosh only) over the same index."""
    monkeypatch.setattr(keyword_arrays, "MIN_DOCUMENTS", 0)
    arrays, plain = WhooshKeywordStore(index_dir, K1, B), WhooshKeywordStore(index_dir, K1, B)
    assert arrays.fast_path == keyword_arrays.FAST_PATH_ON
    plain._searcher()[1].enabled = False
    yield arrays, plain
    arrays.close()
    plain.close()


def _queries(count: int) -> list[str]:
    rng = random.Random(11)
    queries = []
    for _ in range(count):
        words = [rng.choice(WORDS + ["absentword"]) for _ in range(rng.randint(1, 7))]
        if rng.random() < 0.3:
            words[0] = f"title:{words[0]}"
        queries.append(" ".join(words))
    return queries


def test_the_index_has_segments_and_deletions(stores: tuple[WhooshKeywordStore, WhooshKeywordStore]) -> None:
    reader = stores[0]._searcher()[0].reader()
    assert len(reader.leaf_readers()) == 3
    assert reader.doc_count_all() - reader.doc_count() == 22


def test_plain_or_queries_score_exactly_as_whoosh(stores: tuple[WhooshKeywordStore, WhooshKeywordStore]) -> None:
    arrays, plain = stores
    for query in _queries(150):
        assert arrays._searcher()[1].supports(q(query)), query
        for limit in (5, 100):
            assert arrays.search(q(query), limit) == plain.search(q(query), limit), query


@pytest.mark.parametrize("filters", [
    Filters(countries=("Russia",)),
    Filters(sources=("xinhua",), since="2015-01-01"),
    Filters(countries=("Libya", "Egypt"), until="2016-12-31"),
])
def test_filters_keep_the_same_documents(stores: tuple[WhooshKeywordStore, WhooshKeywordStore], filters: Filters) -> None:
    arrays, plain = stores
    for query in _queries(40):
        assert arrays.search(q(query), 20, filters) == plain.search(q(query), 20, filters), query


def test_a_query_asked_again_among_a_few_articles_is_not_summed_again(
    stores: tuple[WhooshKeywordStore, WhooshKeywordStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine's completion asks the keyword leg's query again among the semantic leg's
    # candidates: their scores are picked out of the ones the leg's search summed.
    arrays, plain = stores
    summed: list[int] = []
    score = keyword_arrays.ArrayBM25F._score
    monkeypatch.setattr(keyword_arrays.ArrayBM25F, "_score", lambda self, query, reader: summed.append(1) or score(self, query, reader))
    rng = random.Random(9)
    ids = [f"a{n:04d}" for n in range(365)]  # deleted ones and a few not in the index among them
    russia = Filters(countries=("Russia",))
    for text in _queries(40):
        query = q(text)
        assert arrays.search(query, 10) == plain.search(query, 10), text
        before = len(summed)
        allowed = set(rng.sample(ids, 30))
        assert arrays.search(query, 30, None, allowed) == plain.search(query, 30, None, allowed), text
        assert arrays.search(query, 3, russia, allowed) == plain.search(query, 3, russia, allowed), text
        assert len(summed) == before, text
        equal = q(text)  # an equal query, not the same one: summed afresh
        assert arrays.search(equal, 30, None, allowed) == plain.search(equal, 30, None, allowed), text
        assert len(summed) > before, text


def test_more_like_this_scores_exactly_as_whoosh(stores: tuple[WhooshKeywordStore, WhooshKeywordStore]) -> None:
    arrays, plain = stores
    text = "arms deal with egypt: frigate and missile export, navy exercise"
    assert arrays.similar(text, 30) == plain.similar(text, 30) != []


def test_other_queries_go_through_whoosh(stores: tuple[WhooshKeywordStore, WhooshKeywordStore]) -> None:
    arrays, plain = stores
    for query in ('"arms deal"', "arms AND navy", "arms NOT navy", "defen*"):
        assert not arrays._searcher()[1].supports(q(query)), query
        assert arrays.search(q(query), 50) == plain.search(q(query), 50)


def test_a_changed_whoosh_switches_the_scorer_off_and_says_so_once(
    stores: tuple[WhooshKeywordStore, WhooshKeywordStore], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    arrays, plain = stores

    def gone(_matcher):
        raise AttributeError("'W3LeafMatcher' object has no attribute '_read_ids'")

    monkeypatch.setattr(keyword_arrays, "_postings", gone)
    monkeypatch.setattr(keyword_arrays, "_warned", keyword_arrays.threading.Event())
    with caplog.at_level("WARNING", logger="accord"):
        assert arrays.search(q("arms deal"), 10) == plain.search(q("arms deal"), 10) != []
        assert arrays.search(q("navy treaty"), 10) == plain.search(q("navy treaty"), 10)
    assert not arrays._searcher()[1].enabled
    assert arrays.fast_path.startswith("off: whoosh's postings are not as expected")
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "fast keyword scoring is off" in caplog.records[0].message


def test_missing_whoosh_internals_are_found_at_open(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from whoosh.codec import whoosh3

    monkeypatch.setattr(keyword_arrays, "MIN_DOCUMENTS", 0)
    monkeypatch.delattr(whoosh3.W3LeafMatcher, "_next_block")
    store = WhooshKeywordStore(index_dir, K1, B)
    try:
        assert store.fast_path.startswith("off: whoosh lacks W3LeafMatcher._next_block")
        assert not store._searcher()[1].enabled
    finally:
        store.close()


def test_each_thread_searches_through_its_own_searcher(stores: tuple[WhooshKeywordStore, WhooshKeywordStore]) -> None:
    import threading

    arrays, _plain = stores
    mine = arrays._searcher()[0]
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(arrays._searcher()[0]))
    thread.start()
    thread.join()
    assert theirs and theirs[0] is not mine and arrays._searcher()[0] is mine


def test_small_indexes_are_left_to_whoosh_until_numpy_is_loaded(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy  # noqa: F401  (what a warm engine's semantic leg has loaded)

    store = WhooshKeywordStore(index_dir)
    try:
        assert keyword_arrays.MIN_DOCUMENTS > 360 and store.fast_path == keyword_arrays.FAST_PATH_SMALL
        scorer = store._searcher()[1]
        assert scorer.supports(q("arms"))
        with monkeypatch.context() as cold:  # a cold keyword-only process has not imported it
            cold.delitem(sys.modules, "numpy")
            assert not scorer.supports(q("arms")) and scorer.term_documents(q("arms")) is None
    finally:
        store.close()


def test_a_small_postings_cache_still_scores_exactly_as_whoosh(
    stores: tuple[WhooshKeywordStore, WhooshKeywordStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyword_arrays, "CACHED_POSTINGS", 40)  # evicts after every few terms
    arrays, plain = stores
    scorer = arrays._searcher()[1]
    for query in _queries(40) * 2:  # the second round finds some terms cached, most evicted
        assert arrays.search(q(query), 100) == plain.search(q(query), 100), query
        assert len(scorer.held) == 1 or scorer.held.postings <= 40


def test_one_words_matches_come_from_the_kept_postings(stores: tuple[WhooshKeywordStore, WhooshKeywordStore]) -> None:
    from whoosh import query as whoosh_query

    arrays, plain = stores
    for word in [*WORDS, "absent"]:
        term = whoosh_query.Term("body", parse_query(word).keyword.text if word != "absent" else word)
        assert arrays._searcher()[1].term_documents(term) is not None
        assert arrays.matching(term) == plain.matching(term), word
    assert plain._searcher()[1].term_documents(whoosh_query.Term("body", "navi")) is None  # scorer off


def test_terms_of_fields_without_lengths_are_left_to_whoosh(stores: tuple[WhooshKeywordStore, WhooshKeywordStore]) -> None:
    from whoosh import query as whoosh_query

    arrays, plain = stores
    for query in (whoosh_query.Term("source", "xinhua"), whoosh_query.Or([q("navy"), whoosh_query.Term("source", "sputnik")])):
        assert not arrays._searcher()[1].supports(query)
        assert arrays.search(query, 100) == plain.search(query, 100)


def test_a_limit_that_cuts_through_equal_scores_keeps_whooshs_documents(
    stores: tuple[WhooshKeywordStore, WhooshKeywordStore],
) -> None:
    # One word: documents with the same count and length score the same, so limits fall inside
    # runs of equal scores, which whoosh orders by document number.
    arrays, plain = stores
    cut_in_ties = 0
    for word in WORDS[:8]:
        every = plain.search(q(word), 1000)
        for limit in range(1, 40):
            assert arrays.search(q(word), limit) == every[:limit] == plain.search(q(word), limit), (word, limit)
            cut_in_ties += limit < len(every) and every[limit - 1][1] == every[limit][1]
    assert cut_in_ties > 10


def test_blocks_are_read_without_unpickling_their_positions(
    stores: tuple[WhooshKeywordStore, WhooshKeywordStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scorer reads a block's ids and weights alone (keyword_arrays._ids_and_weights), not
    # through whoosh's `_read_data`, which unpickles every posting's positions too.
    from whoosh.codec import whoosh3

    arrays, plain = stores
    expected = {query: plain.search(q(query), 100) for query in _queries(60)}
    decoded: list[object] = []
    read_data = whoosh3.W3LeafMatcher._read_data
    monkeypatch.setattr(whoosh3.W3LeafMatcher, "_read_data", lambda matcher: decoded.append(matcher) or read_data(matcher))
    for query, hits in expected.items():
        assert arrays.search(q(query), 100) == hits, query
    # Every segment has deletions, where whoosh's FilterMatcher decodes a first block whole.
    assert arrays._searcher()[1].held.postings > 1000 and decoded == []


def test_each_blocks_ids_and_weights_are_those_whoosh_unpickles(index_dir: Path) -> None:
    from whoosh import index as whoosh_index
    from whoosh.codec.whoosh3 import W3LeafMatcher
    from whoosh.matching.wrappers import FilterMatcher

    sizes: set[bool] = set()
    kinds: set[str] = set()
    with whoosh_index.open_dir(str(index_dir)).reader() as reader:
        for segment, _base in reader.leaf_readers():
            for field in ("title", "body"):
                for text in segment.lexicon(field):
                    matcher = segment.postings(field, text)
                    matcher = matcher.child if isinstance(matcher, FilterMatcher) else matcher
                    while isinstance(matcher, W3LeafMatcher) and matcher.is_active():
                        fast = keyword_arrays._ids_and_weights(matcher)
                        matcher._read_data()
                        assert fast == (matcher._data[0], matcher._data[1]), (field, text)
                        sizes.add(len(fast[0]) > 3)
                        kinds.add(type(fast[1]).__name__)
                        matcher._next_block()
    # Blocks of up to three postings and of more (their values' tuple opens differently), with
    # weights all 1.0 (None), all the same (a float) and varied (a tuple).
    assert sizes == {True, False} and kinds == {"NoneType", "float", "tuple"}


@pytest.mark.parametrize(("values", "whole"), [
    ([b"\x05\x06"] * 3, False),
    ([b"%c" % n for n in range(1, 200)], False),  # two blocks
    # whoosh keeps no empty value, so these blocks' values tuples are shorter than their ids:
    ([b"\x01"] + [b""] * 9, True),  # a tuple of one value, where one of ten was expected
    ([b""] * 5, True),  # no value at all
    ([b"", b"\x01"], False),
])
def test_a_block_laid_out_otherwise_is_read_through_whoosh(values: list[bytes], whole: bool) -> None:
    # Postings blocks written by whoosh's own postings writer, in a whoosh file in memory.
    from whoosh.codec.whoosh3 import W3Codec, W3TermInfo
    from whoosh.filedb.filestore import RamStorage
    from whoosh.formats import Positions

    storage = RamStorage()
    codec, form = W3Codec(), Positions()
    out = storage.create_file("postings")
    writer = codec.postings_writer(out)
    writer.start_postings(form, W3TermInfo())
    for number, value in enumerate(values):
        writer.add_posting(3 * number, float(1 + number % 4), value)
    info = writer.finish_postings()
    out.close()
    postings = storage.open_file("postings")
    try:
        assert (keyword_arrays._ids_and_weights(codec.postings_reader(postings, info, form)) is None) == whole
        ids, weights = keyword_arrays._postings(codec.postings_reader(postings, info, form))
        assert ids.tolist() == [3 * number for number in range(len(values))]
        assert weights.tolist() == [float(1 + number % 4) for number in range(len(values))]
    finally:
        postings.close()


def test_held_postings_are_what_each_terms_first_search_decodes(
    stores: tuple[WhooshKeywordStore, WhooshKeywordStore],
) -> None:
    import numpy as np

    arrays, plain = stores
    arrays.hold()
    scorer = arrays._searcher()[1]
    held = 0
    for reader, _base in scorer._searcher.reader().leaf_readers():  # three segments, each with deletions
        for text in reader.lexicon("body"):
            term = reader.schema["body"].from_bytes(text)
            found = scorer.held.get((keyword_arrays._segment_key(reader), "body", term))
            ids, leaf = scorer._leaf_scores("body", text, reader)  # as a search decodes it
            assert found is not None and np.array_equal(found[0], ids), term
            assert found[1].tobytes() == leaf.tobytes(), term  # the same bits
            held += 1
    assert held == len(scorer.held) > 3 * len(WORDS) - 10
    for query in _queries(60):
        assert arrays.search(q(query), 100) == plain.search(q(query), 100), query


def test_hold_keeps_the_terms_of_most_documents_within_the_budget(
    stores: tuple[WhooshKeywordStore, WhooshKeywordStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyword_arrays, "CACHED_POSTINGS", 1000)
    arrays, plain = stores
    arrays.hold()
    scorer = arrays._searcher()[1]
    counts = {(keyword_arrays._segment_key(reader), text): info.doc_frequency()
              for reader, _base in scorer._searcher.reader().leaf_readers()
              for text, info in reader.iter_field("body")}
    kept = {(segment, reader_text) for segment, _field, reader_text in scorer.held._terms}
    kept_counts = [counts[segment, text.encode()] for segment, text in kept]
    left = [count for key, count in counts.items() if (key[0], key[1].decode()) not in kept]
    assert 0 < scorer.held.postings <= 1000 and left
    assert min(kept_counts) >= max(left)  # what fit, most documents first
    for query in _queries(40):
        assert arrays.search(q(query), 100) == plain.search(q(query), 100), query


def test_what_one_thread_decodes_serves_the_others(
    stores: tuple[WhooshKeywordStore, WhooshKeywordStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    arrays, plain = stores
    queries = _queries(30)
    expected = [plain.search(q(query), 50) for query in queries]
    assert [arrays.search(q(query), 50) for query in queries] == expected  # this thread decodes them
    decoded: list[bytes] = []
    leaf_scores = keyword_arrays.ArrayBM25F._leaf_scores

    def spied(scorer, field, text, reader):
        found = leaf_scores(scorer, field, text, reader)
        if found is not None:
            decoded.append(text)
        return found

    monkeypatch.setattr(keyword_arrays.ArrayBM25F, "_leaf_scores", spied)
    answers: list[list] = []
    threads = [threading.Thread(target=lambda: answers.append([arrays.search(q(query), 50) for query in queries]))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [expected] * 4 and decoded == []


def test_searches_while_another_thread_holds_and_evicts_score_as_whoosh(
    stores: tuple[WhooshKeywordStore, WhooshKeywordStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.setattr(keyword_arrays, "CACHED_POSTINGS", 300)  # every hold and search evicts
    arrays, plain = stores
    queries = _queries(40)
    expected = [plain.search(q(query), 50) for query in queries]
    answers: list[list] = []
    errors: list[BaseException] = []

    def search() -> None:
        try:
            answers.append([arrays.search(q(query), 50) for query in queries])
        except BaseException as err:  # reported below, not lost in the thread
            errors.append(err)

    def hold() -> None:
        try:
            for _ in range(5):
                arrays.hold()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=search) for _ in range(3)] + [threading.Thread(target=hold)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and answers == [expected] * 3
    held = arrays._searcher()[1].held
    assert held.postings <= 300 or len(held) == 1
