"""pg_textsearch as the PostgreSQL keyword leg's candidate generator (index/storage/postgres/
textsearch.py), on the tests' real PostgreSQL, which preloads the extension that
tests/install_pg_textsearch.py installed into the embedded server.

The contract: with ACCORD_PG_TEXTSEARCH=on (off by default), writers give the store the index
and, where the store has it, plain queries score only the index's best CANDIDATES articles, with
the exact SQL BM25F scores; the ranking equals the full one whenever the exact top hits are among
the candidates; other queries, a server without the extension and the switch off run the full
SQL."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from index.filters import Filters
from index.pipeline.builder import build
from index.storage.postgres import textsearch
from index.storage.postgres.connection import connect
from index.storage.postgres.keyword import FAST_PATH_SQL, FAST_PATH_TEXTSEARCH, PgKeywordStore
from index.storage.postgres.local_server import TEXTSEARCH_LIBRARY, LocalPostgres
from index.storage.postgres.schema import migrate
from index.text.articles import Article
from search.engine import Engine
from search.query import parse_query, with_extra_words
from tests.conftest import HashingEncoder, requires
from tests.test_postgres_keyword import K1, B, Pair, _synthetic

if TYPE_CHECKING:
    import psycopg

pytestmark = requires("postgres")

PLAIN = ["arms", "arms deal", "navy treaty talks", "missile defence cooperation", "Libya arms deal navy",
         "joint exercise item3", "tab", "deal item1 item2 talks"]


def test_the_tests_server_has_pg_textsearch(postgres_server):
    """The README's test command installs it; without it the tests below would test nothing."""
    assert (postgres_server.bin_dir.parent / TEXTSEARCH_LIBRARY).exists(), "run: .venv/bin/python tests/install_pg_textsearch.py"


@pytest.fixture
def indexed_pair(pg_url, tmp_path, monkeypatch):
    """The synthetic corpus (and an article naming a ticker in angle brackets) in whoosh and in
    a store with its pg_textsearch index; the stores: `pair.pg` (candidates) and `exact`."""
    monkeypatch.setenv(textsearch.SWITCH, "on")
    with connect(pg_url) as conn:
        migrate(conn)
        with conn.transaction():
            assert textsearch.ensure_index(conn) == "created"
        pair = Pair(tmp_path / "kw", conn)
        pair.pg = PgKeywordStore(conn, K1, B)
        ticker = Article(id="ticker", title="TANDY BRANDS <TAB> SELLS UNIT", body="Tandy Brands Inc said it sold a division.",
                         date="2016-01-01", source="Reuters", url=None, path="t.txt", countries=())
        pair.add([*_synthetic(), ticker])
        yield pair, PgKeywordStore(conn, K1, B, detect_textsearch=False)


def _index_scans(conn: psycopg.Connection) -> int:
    """How many times the pg_textsearch index was scanned (this session's counts flushed first:
    a backend reports them when it goes idle, at most once a second unless forced)."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.commit()
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'articles_bm25'").fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def test_a_store_with_the_index_says_so_and_uses_it_only_when_switched_on(indexed_pair, monkeypatch):
    pair, exact = indexed_pair
    assert pair.pg.fast_path == FAST_PATH_TEXTSEARCH
    assert exact.fast_path.startswith(FAST_PATH_SQL) and "not used without ACCORD_PG_TEXTSEARCH=on" in exact.fast_path
    for setting in ("off", ""):
        monkeypatch.setenv(textsearch.SWITCH, setting)
        assert PgKeywordStore(pair.conn, K1, B).fast_path == exact.fast_path


def test_plain_queries_score_the_candidates_exactly(indexed_pair, monkeypatch):
    """With fewer candidates than matches (so the index narrows), every hit has its exact score,
    the hits are the exact ranking of the candidates, and where the exact top 3 are candidates
    the top 3 are the exact ones."""
    pair, exact = indexed_pair
    monkeypatch.setattr(textsearch, "CANDIDATES", 12)
    narrowed = agreed = 0
    for text in PLAIN:
        for tree in (parse_query(text).keyword, with_extra_words(parse_query(text), "Libya Egypt", 0.3)):
            full = dict(exact.search(tree, 500))
            terms = textsearch.plain_terms(tree)
            assert terms is not None, text
            sql, params = textsearch.candidates_sql(terms, 12, "accord")
            proposed = {row[0] for row in pair.conn.execute(sql, params)}
            got = pair.pg.search(tree, 3)
            if len(proposed) < 12:  # the index matched fewer: the full SQL ran
                assert got == exact.search(tree, 3), text
                continue
            narrowed += 1
            assert {i for i, _ in got} <= proposed, text
            assert [s for _, s in got] == pytest.approx([full[i] for i, _ in got], abs=1e-9), text
            best = sorted(((full[i], i) for i in proposed if i in full), key=lambda x: -x[0])[:3]
            assert [s for _, s in got] == pytest.approx([s for s, _ in best], abs=1e-9), text
            top = [i for i, _ in exact.search(tree, 3)]
            if set(top) <= proposed:
                agreed += 1
                assert [i for i, _ in got] == top, text
    assert narrowed >= 6 and agreed >= 6, (narrowed, agreed)


def test_the_index_reads_tickers_in_angle_brackets_as_whoosh_does(indexed_pair):
    pair, _exact = indexed_pair
    sql, params = textsearch.candidates_sql(["tab"], 5, "accord")
    assert [row[0] for row in pair.conn.execute(sql, params)] == ["ticker"]
    assert pair.pg.search(parse_query("tab").keyword, 5)[0][0] == "ticker"


def test_only_plain_queries_use_the_index(indexed_pair, monkeypatch):
    pair, exact = indexed_pair
    monkeypatch.setattr(textsearch, "CANDIDATES", 5)
    conn = pair.conn
    before = _index_scans(conn)
    pair.pg.search(parse_query("arms deal navy").keyword, 3)
    after_plain = _index_scans(conn)
    for text in ["arms AND navy", '"arms deal"', "title:arms", "arm*", "arms NOT navy"]:
        pair.assert_same(parse_query(text).keyword)  # equal to whoosh, as without the index
        assert textsearch.plain_terms(parse_query(text).keyword) is None, text
    exact.search(parse_query("arms deal navy").keyword, 3)
    assert after_plain == before + 1
    assert _index_scans(conn) == after_plain


def test_filters_narrow_the_candidates_too(indexed_pair, monkeypatch):
    pair, exact = indexed_pair
    monkeypatch.setattr(textsearch, "CANDIDATES", 6)
    for f in [Filters(countries=("Libya",)), Filters(sources=("reuters",)), Filters(since="2015-01-01")]:
        for text in ["arms deal", "navy treaty talks"]:
            tree = parse_query(text).keyword
            got = pair.pg.search(tree, 3, f)
            allowed = dict(exact.search(tree, 500, f))
            assert got and all(i in allowed for i, _ in got), (text, f)
            assert [s for _, s in got] == pytest.approx([allowed[i] for i, _ in got], abs=1e-9)


def test_updates_reach_the_index(indexed_pair, monkeypatch):
    pair, exact = indexed_pair
    monkeypatch.setattr(textsearch, "CANDIDATES", 3)
    articles = _synthetic()
    gone = [a.id for a in articles[:30]]
    fresh = [replace(articles[40], id="fresh", body="zanzibar frigate zanzibar frigate deal")]
    pair.add(fresh, delete=gone)
    tree = parse_query("arms deal navy").keyword
    assert not {i for i, _ in pair.pg.search(tree, 50)} & set(gone)
    assert pair.pg.search(parse_query("zanzibar frigate deal").keyword, 1)[0][0] == "fresh"
    assert pair.pg.search(tree, 3) == exact.search(tree, 3) or len(exact.search(tree, 500)) > 3


def test_by_default_a_build_makes_no_index_and_searches_run_sql(pg_url, corpus_dir, monkeypatch):
    monkeypatch.delenv(textsearch.SWITCH, raising=False)
    encoder = HashingEncoder()
    build([corpus_dir], pg_url, encoder=encoder)
    with connect(pg_url) as conn:
        assert not textsearch.index_present(conn)
    with Engine.open(pg_url, encoder=encoder) as engine:
        status = engine.stats().keyword_fast_path
        assert status.startswith(FAST_PATH_SQL) and "not used without ACCORD_PG_TEXTSEARCH=on" in status


def test_an_engine_on_a_store_built_with_the_switch_uses_it(pg_url, corpus_dir, monkeypatch):
    monkeypatch.setenv(textsearch.SWITCH, "on")
    encoder = HashingEncoder()
    build([corpus_dir], pg_url, encoder=encoder)
    monkeypatch.setattr(textsearch, "CANDIDATES", 2)
    with Engine.open(pg_url, encoder=encoder) as engine:
        assert engine.stats().keyword_fast_path == FAST_PATH_TEXTSEARCH
        on = [h.id for h in engine.search("military cooperation Libya", mode="keyword").hits]
    monkeypatch.setenv(textsearch.SWITCH, "off")
    with Engine.open(pg_url, encoder=encoder) as engine:
        assert "not used without ACCORD_PG_TEXTSEARCH=on" in engine.stats().keyword_fast_path
        off = [h.id for h in engine.search("military cooperation Libya", mode="keyword").hits]
    assert on and on[0] == off[0]


def test_a_replica_answers_from_its_copy_of_the_index(postgres_server, tmp_path, corpus_dir, monkeypatch):
    monkeypatch.setenv(textsearch.SWITCH, "on")
    postgres_server.sql("CREATE DATABASE ts_replicated OWNER accord")
    url = postgres_server.url(database="ts_replicated")
    encoder = HashingEncoder()
    try:
        build([corpus_dir], url, encoder=encoder)
        with postgres_server.replica() as replica:
            postgres_server.wait_for_replicas()
            monkeypatch.setattr(textsearch, "CANDIDATES", 2)
            with Engine.open(replica.url(database="ts_replicated"), encoder=encoder) as there, \
                    Engine.open(url, encoder=encoder) as here:
                assert there.stats().keyword_fast_path == FAST_PATH_TEXTSEARCH
                for text in ["military cooperation Libya", "joint naval exercise", "arms deal"]:
                    assert [h.id for h in there.search(text, mode="keyword").hits] == \
                           [h.id for h in here.search(text, mode="keyword").hits]
    finally:
        postgres_server.sql("DROP DATABASE IF EXISTS ts_replicated WITH (FORCE)")


def test_a_server_that_does_not_preload_it_keeps_the_sql_ranking(tmp_path, corpus_dir, monkeypatch):
    monkeypatch.setenv(textsearch.SWITCH, "on")
    with LocalPostgres.start(settings={"shared_preload_libraries": "''"}) as server:
        url = server.url()
        encoder = HashingEncoder()
        build([corpus_dir], url, encoder=encoder)
        with connect(url) as conn:
            assert not textsearch.index_present(conn)
            assert "shared_preload_libraries" in textsearch.ensure_index(conn)
        with Engine.open(url, encoder=encoder) as engine:
            status = engine.stats().keyword_fast_path
            assert status.startswith(FAST_PATH_SQL) and "no index" in status
            assert engine.search("military cooperation Libya", mode="keyword").hits


def test_the_installer_marks_only_the_newer_glibc_need_weak():
    """tests/install_pg_textsearch.py's ELF edit, read back from the library it installed: where
    this glibc lacks GLIBC_2.38, that need (and only it) is weak. (That the server loads the
    library, its two C23 functions rebound, the other tests show.)"""
    sys.path.insert(0, str(Path(__file__).parent))
    import install_pg_textsearch as installer

    library = installer.pginstall() / TEXTSEARCH_LIBRARY
    needs = installer.version_needs(library)
    assert "GLIBC_2.2.5" in needs and not needs["GLIBC_2.2.5"] & installer.VER_FLG_WEAK
    if installer.glibc_has(installer.NEWER_GLIBC):
        assert not any(flags & installer.VER_FLG_WEAK for flags in needs.values())
        return
    assert needs[installer.NEWER_GLIBC] & installer.VER_FLG_WEAK
    assert [n for n, flags in needs.items() if flags & installer.VER_FLG_WEAK] == [installer.NEWER_GLIBC]


def test_a_read_only_role_searches_through_the_index(pg_url, postgres_server, corpus_dir, monkeypatch):
    """The reader's search_path does not hold the extension's schema: searches name it."""
    monkeypatch.setenv(textsearch.SWITCH, "on")
    encoder = HashingEncoder()
    build([corpus_dir], pg_url, encoder=encoder)
    database = pg_url.rsplit("/", 1)[1]
    postgres_server.sql(
        "DO $$ BEGIN CREATE ROLE ts_reader LOGIN PASSWORD 'tsreaderpw'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    )
    postgres_server.sql("GRANT USAGE ON SCHEMA accord TO ts_reader", "GRANT SELECT ON ALL TABLES IN SCHEMA accord TO ts_reader",
                        database=database)
    monkeypatch.setattr(textsearch, "CANDIDATES", 2)
    reader = postgres_server.url(database=database, role="ts_reader", password="tsreaderpw")
    with Engine.open(reader, encoder=encoder) as there, Engine.open(pg_url, encoder=encoder) as here:
        assert there.stats().keyword_fast_path == FAST_PATH_TEXTSEARCH
        for text in ["military cooperation Libya", "arms deal"]:
            got = [h.id for h in there.search(text, mode="keyword").hits]
            assert got and got == [h.id for h in here.search(text, mode="keyword").hits]
