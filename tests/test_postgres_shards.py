"""Keyword search across two shard servers behind postgres_fdw ranks as one server does, because
the coordinator sends global BM25 statistics with each query; with each shard's own statistics
it would not."""

from __future__ import annotations

import pytest
from whoosh import query as Q

from index.storage.filters import Filters
from index.storage.postgres.connection import connect
from index.storage.postgres.keyword import PgKeywordStore, PgKeywordWriter
from index.storage.postgres.local_server import LocalPostgres
from index.storage.postgres.schema import migrate
from index.storage.postgres.shards import create_coordinator, refresh_statistics
from search.query import parse_query
from tests.test_postgres_keyword import (
    K1,
    QUERIES,
    TITLE_BOOST,
    B,
    _insert_articles,
    _seeds,
    _synthetic,
    _trees,
    assert_same_hits,
)


def _write(url: str, articles) -> None:
    with connect(url) as conn:
        migrate(conn)
        with conn.transaction():
            _insert_articles(conn, articles)
            writer = PgKeywordWriter(conn, TITLE_BOOST)
            for article in articles:
                writer.add(article)
            writer.commit()


@pytest.fixture(scope="module")
def shard_servers():
    servers = [LocalPostgres.start(), LocalPostgres.start()]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_two_shards_rank_as_one_server(shard_servers, postgres_server, pg_url):
    articles = _synthetic() + _seeds()
    _write(pg_url, articles)  # one server holding everything
    shard_urls = [s.url() for s in shard_servers]
    for i, url in enumerate(shard_urls):  # round-robin: article j on shard j mod 2
        _write(url, articles[i::2])
    postgres_server.sql("CREATE DATABASE coordinator OWNER accord")
    try:
        with connect(pg_url, autocommit=True) as one, connect(postgres_server.url(database="coordinator"), autocommit=True) as coord:
            create_coordinator(coord, shard_urls)
            refresh_statistics(coord)
            single, sharded = PgKeywordStore(one, K1, B), PgKeywordStore(coord, K1, B)
            compared = 0
            for text in QUERIES + ["military cooperation Libya", '"military cooperation"']:
                for tree in _trees(text):
                    for filters in (None, Filters(countries=("Libya",)), Filters(since="2012-01-01", sources=("Reuters",))):
                        expected = single.search(tree, 50, filters)
                        got = sharded.search(tree, 50, filters)
                        assert_same_hits(got, expected, 1e-9)
                        compared += bool(expected)
                    assert sharded.matching(tree) == single.matching(tree)
            assert compared > 50
            text = articles[1].title + " " + articles[1].body
            assert_same_hits(sharded.similar(text, 10), single.similar(text, 10), 1e-9)
            # The term's WHERE clause runs on the shards (pushed down), one remote scan per shard.
            plan = "\n".join(r[0] for r in coord.execute(
                "EXPLAIN VERBOSE SELECT docnum, weight FROM accord.kw_postings WHERE field = 'body' AND term = 'arm'"))
            assert plan.count("Remote SQL") == 2 and plan.count("((term = 'arm'))") == 2, plan
            # A shard's own statistics score its articles differently from the global ones.
            with connect(shard_urls[0], autocommit=True) as shard:
                local = dict(PgKeywordStore(shard, K1, B).search(parse_query("arms navy libya").keyword, 100))
            overall = dict(single.search(parse_query("arms navy libya").keyword, 200))
            assert any(abs(local[i] - overall[i]) > 1e-3 for i in local)
    finally:
        postgres_server.sql("DROP DATABASE IF EXISTS coordinator WITH (FORCE)")


def test_statistics_follow_the_shards_after_refresh(shard_servers, postgres_server, pg_url):
    articles = _synthetic()
    shard_urls = [s.url(database="second") for s in shard_servers]
    for server in shard_servers:
        server.sql("CREATE DATABASE second OWNER accord")
    _write(shard_urls[0], articles[:30])
    _write(shard_urls[1], articles[30:40])
    postgres_server.sql("CREATE DATABASE coordinator2 OWNER accord")
    try:
        with connect(postgres_server.url(database="coordinator2"), autocommit=True) as coord:
            create_coordinator(coord, shard_urls)
            refresh_statistics(coord)
            before = dict(PgKeywordStore(coord, K1, B).search(Q.Term("body", "navi"), 100))
            with connect(shard_urls[1]) as shard, shard.transaction():
                writer = PgKeywordWriter(shard, TITLE_BOOST)
                for article in articles[40:]:
                    writer.add(article)
                writer.commit()
            refresh_statistics(coord)
            after = dict(PgKeywordStore(coord, K1, B).search(Q.Term("body", "navi"), 100))
            assert set(before) < set(after)
            assert coord.execute("SELECT max(docs) FROM accord.kw_fields").fetchone()[0] == len(articles)
    finally:
        postgres_server.sql("DROP DATABASE IF EXISTS coordinator2 WITH (FORCE)")
