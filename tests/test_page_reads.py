"""What a page of hits reads from the stores in one call each: the passages of its articles, the
near-duplicate groups of its candidates (held in memory by a reader from its second search on),
and for each query word how many articles hold it and which of the candidates do. Right
across article-store segments, removed rows and keyword segments with deletions; the same from
a PostgreSQL store."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from whoosh import query as whoosh_query

from index.pipeline.builder import build
from index.storage import keyword_arrays
from index.storage.docstore import DocStore, generation_docstore
from index.storage.keyword import WhooshKeywordStore
from index.storage.segments import read_segments
from search.engine import Engine, RankingConfig
from tests.conftest import SEEDS, HashingEncoder, requires
from tests.test_keyword_arrays import WORDS, write_three_segments
from tests.test_store_segments import COPY_BODY, _base, _live, _update


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict], list[int]]:
    """An index updated twice (a copy joins the duplicate pair, then one of the pair goes, so a
    newer segment removes a grouped row of an older one), the same articles built from nothing,
    and the passage ids of the article removed."""
    root = tmp_path_factory.mktemp("segmented")
    source, index_dir = root / "src", root / "ix"
    records = _base(source)
    build([source], index_dir, encoder=HashingEncoder())
    _update(source, records, index_dir, seed=1, copy=True)
    docs = generation_docstore(_live(index_dir))
    try:
        removed = docs.passage_ids_of(["a001"])
    finally:
        docs.close()
    del records["a001"]
    _update(source, records, index_dir, seed=2)
    segments = read_segments(_live(index_dir))
    assert segments is not None and len(segments.docs) >= 2
    scratch = root / "scratch"
    build([source], scratch, encoder=HashingEncoder())
    return index_dir, scratch, records, removed


def test_the_passages_of_many_articles_are_those_of_each(segmented) -> None:
    index_dir, _scratch, records, _removed = segmented
    docs = generation_docstore(_live(index_dir))
    try:
        ids = sorted(records)
        found = docs.passages_by_article([*ids, "a001", "never-indexed"])
        assert set(found) == set(ids)  # the removed and the unknown id are left out
        assert found == {article_id: docs.passages_of(article_id) for article_id in ids}
    finally:
        docs.close()


def test_a_readers_held_groups_are_the_stored_groups_across_segments(segmented) -> None:
    index_dir, scratch, records, _removed = segmented
    ids = [*sorted(records), "a001", "never-indexed"]
    copies = sorted(a for a, r in records.items() if r["body"] == COPY_BODY)
    assert len(copies) == 2 and "a001" not in copies
    answers = []
    for folder in (index_dir, scratch):
        docs = generation_docstore(_live(folder))
        try:
            # Read one by one from the rows until as many were read as the store has articles,
            # then held: each answer must be the same either way.
            by_rows = {}
            for article_id in ids[: docs.count_articles() - 1]:
                by_rows.update(docs.duplicate_groups([article_id]))
            members_by_rows = docs.group_members(copies)
            assert docs._groups._value is None
            held = docs.duplicate_groups(ids)
            assert docs._groups._value is not None
            assert held == {**by_rows, **held} and docs.group_members(copies) == members_by_rows
            answers.append((held, members_by_rows))
        finally:
            docs.close()
    assert answers[0] == answers[1]  # the updated segments hold what a build from nothing does
    groups, members = answers[0]
    assert groups["never-indexed"] == "never-indexed" and groups["a001"] == "a001"
    assert groups[copies[0]] == groups[copies[1]] and members == {groups[copies[0]]: copies}
    assert sum(group == article_id for article_id, group in groups.items()) == len(ids) - 1


@pytest.fixture
def docs(segmented) -> Iterator[DocStore]:
    """A new reader of the updated index's live generation (it holds nothing yet), closed after."""
    docs = generation_docstore(_live(segmented[0]))
    yield docs
    docs.close()


def test_a_readers_held_passage_owners_are_the_stored_ones_across_segments(segmented, docs) -> None:
    _index_dir, _scratch, records, removed = segmented
    stored = docs.passage_ids_of(sorted(records))
    assert removed and not set(removed) & set(stored)
    asked = [*removed, 0, -1, max(stored) + 1000, *stored]
    assert docs.count_passages() == len(stored)
    by_rows = docs.passage_articles(asked[: len(stored) - 1])  # fewer than it holds: from the rows
    assert docs._owners._value is None
    held = docs.passage_articles(asked)  # as many read as it holds: held from here on
    assert docs._owners._value is not None
    assert held == {**by_rows, **held} and set(held) == set(stored)
    assert held == {p.id: article_id for article_id, passages in docs.passages_by_article(sorted(records)).items()
                    for p in passages}


def test_a_readers_held_passages_are_the_rows_it_would_read_across_segments(segmented, docs) -> None:
    _index_dir, _scratch, records, removed = segmented
    asked = [*sorted(records, reverse=True), "a001", "never-indexed", sorted(records)[0]]
    from_rows = docs.passages_by_article(asked)
    assert docs._owners._value is None  # not held yet: read from SQLite
    docs.passage_articles(docs.passage_ids_of(sorted(records)))  # as many as it holds: held from here on
    assert docs._owners._value is not None
    statements: list[str] = []
    docs._db.set_trace_callback(statements.append)
    held = docs.passages_by_article(asked)
    assert statements == []  # from memory, no SQL
    assert held == from_rows and list(held) == list(from_rows) == sorted(records)
    assert not {p.id for passages in held.values() for p in passages} & set(removed)
    assert all(p.start < p.end for passages in held.values() for p in passages)
    assert docs.passages_by_article([]) == {} and docs.passages_by_article(["a001"]) == {}


def test_a_readers_passage_ids_by_article_are_its_passages_ids_from_rows_and_held(segmented, docs) -> None:
    # What the engine's completion reads (the ids of ~20 candidates' passages, for their vectors).
    _index_dir, _scratch, records, removed = segmented
    asked = [*sorted(records, reverse=True), "a001", "never-indexed", sorted(records)[0]]
    expected = {article_id: [p.id for p in passages] for article_id, passages in docs.passages_by_article(asked).items()}
    from_rows = docs.passage_ids_by_article(asked)
    assert docs._owners._value is None  # not held yet: read from SQLite
    docs.passage_articles(docs.passage_ids_of(sorted(records)))  # held from here on
    statements: list[str] = []
    docs._db.set_trace_callback(statements.append)
    held = docs.passage_ids_by_article(asked)
    assert statements == []  # from memory, no SQL
    assert held == from_rows == expected and list(held) == sorted(records)
    assert not {pid for pids in held.values() for pid in pids} & set(removed)
    assert docs.passage_ids_by_article([]) == {}


def test_a_reader_told_to_hold_answers_from_memory_what_it_read_from_rows(segmented, docs) -> None:
    _index_dir, _scratch, records, removed = segmented
    ids = sorted(records)
    asked = [ids[0], ids[-1], "a001", "never-indexed"]  # too few to make the reader hold them
    passage_ids = [*removed, *docs.passage_ids_of(ids[:2]), -1]

    def reads() -> tuple:
        groups = docs.duplicate_groups(asked)
        return (docs.passage_articles(passage_ids), groups, docs.passages_by_article(asked),
                docs.group_members(sorted(set(groups.values()))), docs.articles(asked), docs.article(ids[1]))

    from_rows = reads()
    assert docs._groups._value is None and docs._owners._value is None and docs._articles._value is None
    docs.hold()
    statements: list[str] = []
    docs._db.set_trace_callback(statements.append)
    held = reads()
    assert statements == []  # all from memory
    assert held == from_rows
    docs.hold()  # a second call keeps what it holds
    assert statements == []


def test_a_readers_held_articles_are_the_stored_ones_across_segments(segmented, docs) -> None:
    _index_dir, _scratch, records, _removed = segmented
    ids = sorted(records)
    asked = [*reversed(ids), "a001", "never-indexed", ids[0]]  # a removed, an unknown and a repeated id
    from_rows = docs.articles(asked[: len(ids) - 1])  # fewer than it holds: from the rows
    assert docs._articles._value is None
    from_rows.update(docs.articles(asked))  # as many read as it holds: held from here on
    assert docs._articles._value is not None and docs._articles._value.by_id is not None
    statements: list[str] = []
    docs._db.set_trace_callback(statements.append)
    held = docs.articles(asked)
    assert statements == []  # from memory, no SQL
    assert held == from_rows and set(held) == set(ids)
    assert {article_id: article.body for article_id, article in held.items()} == {
        article_id: record["body"].strip() for article_id, record in records.items()}
    assert docs.article(ids[0]) == held[ids[0]] and docs.article("a001") is None and statements == []


def test_threads_read_the_same_articles_while_one_makes_the_reader_hold_them(segmented, docs) -> None:
    import threading

    from index.storage import docstore as docstore_module

    index_dir, _scratch, records, _removed = segmented
    ids = [*sorted(records), "a001", "never-indexed"]
    other = generation_docstore(_live(index_dir))
    try:
        other._articles._value = docstore_module._Articles(None)  # read from SQLite, never held
        expected = other.articles(ids)
    finally:
        other.close()
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(60):  # together they read past the store's count: it holds them mid-way
                asked = rng.sample(ids, 3)
                assert docs.articles(asked) == {a: expected[a] for a in asked if a in expected}
                assert docs.article(asked[0]) == expected.get(asked[0])
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    def holder() -> None:
        start.wait()
        docs.hold()

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(4)] + [threading.Thread(target=holder)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert docs._articles._value is not None and docs._articles._value.by_id is not None


def test_articles_over_the_budget_are_read_from_the_rows(segmented, docs, monkeypatch) -> None:
    from index.storage import docstore as docstore_module

    index_dir, _scratch, records, _removed = segmented
    ids = sorted(records)
    other = generation_docstore(_live(index_dir))  # reading every article makes a reader keep them
    try:
        text = sum(len(a.title) + len(a.body) for a in other.articles(ids).values())
    finally:
        other.close()
    monkeypatch.setattr(docstore_module, "HELD_ARTICLE_CHARS", text - 1)
    docs.hold()
    assert docs._articles._value is not None and docs._articles._value.by_id is None  # over by one character
    statements: list[str] = []
    docs._db.set_trace_callback(statements.append)
    found = docs.articles([*ids, "a001"])
    assert statements and set(found) == set(ids)  # read from SQLite, as before
    assert all(found[article_id].body == records[article_id]["body"].strip() for article_id in ids)


def test_searches_collapse_copies_alike_from_the_first_search_on(segmented) -> None:
    index_dir, _scratch, _records, _removed = segmented
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        pages = [engine.search("navy treaty missile export radar", k=5) for _ in range(3)]
    assert pages[0].hits == pages[1].hits == pages[2].hits
    assert any(hit.duplicates for hit in pages[0].hits)
    assert pages[0].total == pages[1].total == pages[2].total


@pytest.fixture(scope="module")
def keyword_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three keyword segments and deleted documents, as tests/test_keyword_arrays.py builds them."""
    return write_three_segments(tmp_path_factory.mktemp("keyword"))


def test_word_matches_count_and_find_the_articles_asked_about(keyword_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(keyword_arrays, "MIN_DOCUMENTS", 0)
    ranking = RankingConfig()
    arrays = WhooshKeywordStore(keyword_dir, ranking.bm25_k1, ranking.bm25_b)
    plain = WhooshKeywordStore(keyword_dir, ranking.bm25_k1, ranking.bm25_b)
    plain._searcher()[1].enabled = False  # whoosh's postings, as when numpy is not loaded
    try:
        rng = random.Random(3)
        terms = [term for word in WORDS for term in {t.text for t in arrays._schema["body"].analyzer(word)}]
        terms.append("absentword")
        for _ in range(20):
            # Live, deleted (every 17th) and never indexed articles, some asked twice.
            among = [f"a{rng.randrange(380):04d}" for _ in range(rng.randint(0, 60))]
            asked = rng.sample(terms, 5)
            truth = []
            for term in asked:
                holding = arrays.matching(whoosh_query.Term("body", term))
                truth.append((len(holding), holding & set(among)))
            assert arrays.term_matches(asked, among) == truth
            assert plain.term_matches(asked, among) == truth
        assert arrays._searcher()[1].term_documents(whoosh_query.Term("body", "navi")) is not None
    finally:
        arrays.close()
        plain.close()


@requires("postgres")
def test_a_postgresql_store_reads_a_page_as_a_folder_does(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "src"
    shutil.copytree(SEEDS, source)
    seed = sorted(source.iterdir())[0]
    shutil.copy(seed, source / f"copy-{seed.name}")  # a near-duplicate group
    local = tmp_path / "local"
    build([source], local, encoder=HashingEncoder())
    build([source], pg_url, encoder=HashingEncoder())
    answers = []
    for where in (local, pg_url):
        with Engine.open(where, encoder=HashingEncoder()) as engine, engine.view() as view:
            ids = sorted(view.docs.filtered_article_ids())
            assert len(ids) == 6
            asked = [*ids, "never-indexed"]
            passages = view.docs.passages_by_article(asked)
            assert passages == {article_id: view.docs.passages_of(article_id) for article_id in ids}
            terms = ["militari", "cooper", "libya", "absentword"]
            answers.append((passages, view.docs.duplicate_groups(asked), view.keyword.term_matches(terms, asked[::2])))
    assert answers[0] == answers[1]
    for where in (local, pg_url):
        with Engine.open(where, encoder=HashingEncoder()) as engine:
            engine.warm()  # the folder's reader holds its groups and passages; the database's keeps none
            with engine.view() as view:
                assert view.docs.passages_by_article(asked) == answers[0][0]
                assert view.docs.duplicate_groups(asked) == answers[0][1]
    groups = answers[0][1]
    assert groups["never-indexed"] == "never-indexed" and len(set(groups.values())) == 6
    assert answers[0][2][0][0] >= 1 and answers[0][2][3] == (0, set())
